//! The feed: a simulator thread moves the prices every interval and
//! publishes one tick through the hub; each page subscribes at `/ws` and
//! gets the recent ticks first.

use std::collections::VecDeque;
use std::io;
use std::net::ToSocketAddrs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::market::{step, SYMBOLS};
use crate::app::events::now_ms;
use crate::broadcast::{self, serve_subscriber, Hub, SubscriberConfig};
use crate::deflate::WindowBits;
use crate::http::{HttpConfig, HttpServer, Router, SitePolicy};
use crate::limits::ServerBudget;
use crate::random::XorShift;
use crate::server::ServerHandle;
use crate::websocket;

/// The page.
pub const INDEX_HTML: &str = include_str!("index.html");
/// The page's script.
pub const TICKER_JS: &str = include_str!("ticker.js");

/// Ticks replayed to a new page, so its chart does not start empty.
pub const HISTORY: usize = 120;

/// Ticks summed in one size note (`{"type":"wire",…}`): every 5 s at the
/// default 250 ms interval.
pub const WIRE_EVERY: u64 = 20;

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
            let Ok(mut ws) = websocket::upgrade(
                up.stream,
                &up.head,
                &up.leftover,
                &websocket::AcceptConfig::with_max_message(ServerBudget::ticker().max_message),
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
            // Each pong must arrive whole within the keepalive wait.
            ws.set_message_timeout(Some(config.pong_wait));
            let departure = serve_subscriber(ws, &ticker.hub, &config, greet, |_| {});
            log::info!("{}: ticker page left, {departure}", up.info);
        });
        r
    }

    fn simulate(&self) {
        let mut rng = XorShift::seeded();
        let mut prices: Vec<f64> = SYMBOLS.iter().map(|(_, p)| *p).collect();
        let mut seq = 0u64;
        // JSON bytes, and their size as the hub compresses them for pages
        // with permessage-deflate, since the last size note.
        let (mut bytes, mut deflated) = (0, 0);
        let compression = self.hub.config().compression;
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
            // The page cannot see the wire: every WIRE_EVERY ticks, say what
            // the hub's compressor made of them (the same function and
            // settings, so the same sizes). The note is under the threshold:
            // it goes out as it is.
            bytes += tick.len();
            deflated +=
                broadcast::deflated(tick.as_bytes(), WindowBits::MAX, &compression).map_or(tick.len(), |d| d.len());
            if seq % WIRE_EVERY == 0 {
                self.hub.publish_text(&format!(
                    r#"{{"type":"wire","ticks":{WIRE_EVERY},"bytes":{bytes},"deflated":{deflated}}}"#
                ));
                (bytes, deflated) = (0, 0);
            }
            thread::sleep(self.interval);
        }
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
    // Pages of other sites may not open /ws (Origin), nor may a rebinding
    // name reach it (Host): see crate::http::site.
    let config = HttpConfig {
        site: Some(SitePolicy::same_origin()),
        ..ServerBudget::ticker().http_config()
    };
    let handle = HttpServer::with_config(ticker.router(), config).spawn(addr)?;
    let simulator = Arc::clone(&ticker);
    thread::Builder::new()
        .name("ticker".into())
        .spawn(move || simulator.simulate())?;
    Ok((handle, ticker))
}
