//! The stock ticker: server push, and nothing but.
//!
//! The notes name stock prices as the textbook case for server push
//! (`000_f4712f4299a15c52.txt`, `002_16f43eb7968fc798.txt`): the data
//! changes on the server's schedule, not the reader's. A simulator thread
//! moves a few prices by a small random step every [`Ticker::interval`] and
//! publishes one JSON text message through the hub (`src/broadcast.rs`); the
//! page (`index.html`, `ticker.js`, compiled in) only listens and draws the
//! prices on a `<canvas>` without any library.
//!
//! Messages, server → page:
//!
//! - on connect: `{"type":"hello","interval_ms":250,"history":[tick, …]}`;
//! - then every interval: `{"type":"tick","seq":812,"t":1732450000000,"quotes":[{"symbol":"ACME","price":101.23,"open":100.0}, …]}`
//!   (`t` in milliseconds since the Unix epoch, for the page's "age on arrival").

use std::collections::VecDeque;
use std::io;
use std::net::ToSocketAddrs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::app::events::now_ms;
use crate::broadcast::{serve_subscriber, Hub, SubscriberConfig};
use crate::http::{HttpConfig, HttpServer, Router};
use crate::server::ServerHandle;
use crate::websocket;

/// The page.
pub const INDEX_HTML: &str = include_str!("index.html");
/// The page's script.
pub const TICKER_JS: &str = include_str!("ticker.js");

/// Ticks replayed to a new page, so its chart does not start empty.
pub const HISTORY: usize = 120;

/// The simulated market.
const SYMBOLS: [(&str, f64); 5] = [
    ("ACME", 101.0),
    ("GLOBEX", 54.5),
    ("INITECH", 12.8),
    ("UMBRELLA", 230.0),
    ("HOOLI", 77.7),
];

/// A running ticker: its hub and recent ticks.
#[derive(Debug)]
pub struct Ticker {
    hub: Hub,
    history: Mutex<VecDeque<String>>,
    interval: Duration,
    stop: AtomicBool,
}

impl Ticker {
    /// The hub (subscriber count, counters).
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Time between two ticks.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Stops the simulator thread after its current tick.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// The page, its script and `/ws`.
    pub fn router(self: &Arc<Self>) -> Router {
        let mut r = Router::new();
        r.asset("/", "text/html; charset=utf-8", INDEX_HTML.as_bytes()).asset(
            "/ticker.js",
            "text/javascript; charset=utf-8",
            TICKER_JS.as_bytes(),
        );
        let ticker = Arc::clone(self);
        let config = SubscriberConfig::default();
        r.upgrade("/ws", move |up| {
            // The page never sends anything but pongs: small limits.
            let Ok(ws) = websocket::upgrade(
                up.stream,
                &up.head,
                &up.leftover,
                &websocket::ServerOptions::with_max_message(4096),
            ) else {
                return;
            };
            let greet = |w: &websocket::Writer| {
                let history: Vec<String> = ticker
                    .history
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .cloned()
                    .collect();
                w.send_text(&format!(
                    r#"{{"type":"hello","interval_ms":{},"history":[{}]}}"#,
                    ticker.interval.as_millis(),
                    history.join(",")
                ))
            };
            let departure = serve_subscriber(ws, &ticker.hub, &config, greet, |_| {});
            log::info!("{}: ticker page left, {departure}", up.info);
        });
        r
    }

    fn simulate(&self) {
        let mut rng = XorShift::seeded();
        let mut prices: Vec<f64> = SYMBOLS.iter().map(|(_, p)| *p).collect();
        let mut seq = 0u64;
        while !self.stop.load(Ordering::SeqCst) {
            seq += 1;
            let quotes: Vec<String> = SYMBOLS
                .iter()
                .zip(prices.iter_mut())
                .map(|((symbol, open), price)| {
                    *price = step(*price, *open, rng.unit());
                    format!(r#"{{"symbol":"{symbol}","price":{:.2},"open":{open:.2}}}"#, price)
                })
                .collect();
            let tick = format!(
                r#"{{"type":"tick","seq":{seq},"t":{},"quotes":[{}]}}"#,
                now_ms(),
                quotes.join(",")
            );
            {
                let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
                history.push_back(tick.clone());
                while history.len() > HISTORY {
                    history.pop_front();
                }
            }
            self.hub.publish_text(&tick);
            thread::sleep(self.interval);
        }
    }
}

/// One tick of a simulated price: a random walk of at most ±0.4 % a step
/// (`unit` uniform in [0, 1)), pulled back towards `open` by 0.1 % of the
/// distance. A plain random walk drifts without bound: after a two-hour
/// class a price could be up or down by half, and the chart would show
/// nothing but that drift.
fn step(price: f64, open: f64, unit: f64) -> f64 {
    price * (1.0 + (unit - 0.5) * 0.008) - (price - open) * 0.001
}

/// A small, fast pseudo-random generator (xorshift64*), seeded from the OS.
/// Plenty for simulated prices; never for keys (see `src/entropy.rs`).
struct XorShift(u64);

impl XorShift {
    fn seeded() -> XorShift {
        let mut seed = [0u8; 8];
        crate::entropy::fill(&mut seed);
        XorShift(u64::from_le_bytes(seed) | 1)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Starts the ticker: the simulator thread and the HTTP server on `addr`.
pub fn spawn(addr: impl ToSocketAddrs, interval: Duration) -> io::Result<(ServerHandle, Arc<Ticker>)> {
    let ticker = Arc::new(Ticker {
        hub: Hub::start(),
        history: Mutex::new(VecDeque::new()),
        interval,
        stop: AtomicBool::new(false),
    });
    let handle = HttpServer::with_config(ticker.router(), HttpConfig::default()).spawn(addr)?;
    let simulator = Arc::clone(&ticker);
    thread::Builder::new()
        .name("ticker".into())
        .spawn(move || simulator.simulate())?;
    Ok((handle, ticker))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_prices_wander_but_stay_near_their_open_for_hours() {
        let mut r = XorShift::seeded();
        let mut price = 100.0;
        let mut furthest: f64 = 0.0;
        // Four hours of ticks at 250 ms.
        for _ in 0..4 * 3600 * 4 {
            price = step(price, 100.0, r.unit());
            furthest = furthest.max((price - 100.0).abs());
        }
        assert!(furthest > 1.0, "it moves: at most {furthest}");
        assert!(furthest < 30.0, "it stays near the open: {furthest}");
    }

    #[test]
    fn the_generator_stays_in_the_unit_interval_and_varies() {
        let mut r = XorShift::seeded();
        let xs: Vec<f64> = (0..1000).map(|_| r.unit()).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((0.4..0.6).contains(&mean), "mean {mean}");
    }
}
