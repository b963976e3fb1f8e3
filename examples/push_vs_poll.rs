//! `push_vs_poll`: one stream of server events, delivered three ways at
//! once (short polling, long polling, WebSocket push), measured.
//!
//! ```text
//! cargo run --release --example push_vs_poll -- [--events N] [--interval-ms MS] [--poll-ms MS]
//! ```
//!
//! This is the notes' central argument ("TCP与WebSocket的区别", "WebSocket示例",
//! "HTTP、TCP与UDP、Socket与Websocket之间的联系与区别"): polling wastes
//! requests and header bytes and adds delay; push does not. Instead of
//! asserting it, this example counts.
//!
//! - One in-process server: the REST/polling API of `http_server` and a
//!   `/ws` endpoint on the broadcast hub. A publisher thread emits N events
//!   (default 40), one at a random moment in each `--interval-ms` (default
//!   100 ms), into both.
//! - Three clients run at the same time, each through its own
//!   [`CountingRelay`](wirelab::observe::CountingRelay), a TCP relay that
//!   counts every byte at the socket in each direction: a short poller
//!   (`GET …/poll?since=N` every `--poll-ms`, default 250 ms), a long poller
//!   (`…&wait=10`, asks again as soon as it is answered), and a WebSocket
//!   client.
//! - "payload" is what the application wanted: the response bodies (polling)
//!   or the frame payloads (WebSocket). Everything else on the wire (request
//!   lines, headers, frame headers, the Upgrade handshake) is "overhead":
//!   counted bytes minus payload bytes.
//! - Latency is publish time to arrival time, both read from one `Instant`
//!   in this one process.
//!
//! It prints the table and exits.

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use wirelab::app::json;
use wirelab::app::messages::MessageApi;
use wirelab::broadcast::{serve_subscriber, Hub, SubscriberConfig};
use wirelab::http::{read_response_head, HttpServer, Limits, Router};
use wirelab::observe::CountingRelay;
use wirelab::websocket::{self, AcceptConfig, Message};

struct Options {
    events: usize,
    interval: Duration,
    poll: Duration,
}

fn parse_args() -> Options {
    let mut o = Options {
        events: 40,
        interval: Duration::from_millis(100),
        poll: Duration::from_millis(250),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).and_then(|v| v.parse::<u64>().ok());
        match (pair[0].as_str(), value) {
            ("--events", Some(v)) => o.events = v.max(1) as usize,
            ("--interval-ms", Some(v)) => o.interval = Duration::from_millis(v),
            ("--poll-ms", Some(v)) => o.poll = Duration::from_millis(v.max(1)),
            _ => {
                eprintln!("usage: push_vs_poll [--events N] [--interval-ms MS] [--poll-ms MS]");
                std::process::exit(2);
            }
        }
    }
    o
}

/// What one client saw.
#[derive(Default)]
struct Tally {
    requests: u64,
    payload: u64,
    latencies: Vec<Duration>,
}

/// Parses the events out of a poll response body, recording latencies.
fn take_events(body: &str, epoch: Instant, seen: &mut u64, tally: &mut Tally) {
    let Ok(v) = json::parse(body) else { return };
    if let Some(last) = v.get("last").and_then(json::Value::as_f64) {
        *seen = last as u64;
    }
    if let Some(json::Value::Array(messages)) = v.get("messages") {
        let now = epoch.elapsed();
        for m in messages {
            let sent = m.get("text").and_then(json::Value::as_str).and_then(sent_at);
            if let Some(sent) = sent {
                tally.latencies.push(now.saturating_sub(sent));
            }
        }
    }
}

/// Events carry `event <seq> <nanoseconds since epoch>`.
fn sent_at(text: &str) -> Option<Duration> {
    text.split(' ').nth(2)?.parse().ok().map(Duration::from_nanos)
}

/// Polls `path` (plus `since`) on one kept-alive connection until `events`
/// events have arrived.
fn poller(addr: SocketAddr, events: usize, wait: Option<u64>, pause: Duration, epoch: Instant) -> Tally {
    let stream = TcpStream::connect(addr).expect("connecting to the relay");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut reader = BufReader::new(stream);
    let mut tally = Tally::default();
    let mut seen = 0u64;
    while tally.latencies.len() < events {
        let query = match wait {
            Some(w) => format!("since={seen}&wait={w}"),
            None => format!("since={seen}"),
        };
        // What a browser would send, minus cookies: a realistic head.
        let request = format!(
            "GET /api/messages/poll?{query} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: push_vs_poll\r\n\
Accept: application/json\r\nAccept-Language: en\r\nCache-Control: no-cache\r\n\r\n"
        );
        reader.get_mut().write_all(request.as_bytes()).unwrap();
        tally.requests += 1;
        let head = read_response_head(&mut reader, &Limits::default()).expect("a response");
        let len: usize = head.headers.get("content-length").map_or(0, |v| v.parse().unwrap_or(0));
        let mut body = vec![0u8; len];
        reader.read_exact(&mut body).unwrap();
        tally.payload += len as u64;
        take_events(&String::from_utf8_lossy(&body), epoch, &mut seen, &mut tally);
        if wait.is_none() {
            thread::sleep(pause);
        }
    }
    tally
}

fn websocket_client(addr: SocketAddr, events: usize, epoch: Instant) -> Tally {
    let mut ws = websocket::connect(&format!("ws://{addr}/ws")).expect("connecting to /ws");
    ws.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut tally = Tally {
        requests: 1, // the Upgrade
        ..Tally::default()
    };
    while tally.latencies.len() < events {
        match ws.read() {
            Ok(Message::Text(t)) => {
                let arrived = epoch.elapsed();
                tally.payload += t.len() as u64;
                let text = json::parse(&t)
                    .ok()
                    .and_then(|v| v.get("text")?.as_str().map(str::to_string));
                if let Some(sent) = text.as_deref().and_then(sent_at) {
                    tally.latencies.push(arrived.saturating_sub(sent));
                }
            }
            Ok(_) => {}
            Err(e) => panic!("WebSocket client: {e}"),
        }
    }
    let _ = ws.close(None);
    tally
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(((p / 100.0) * (sorted.len() - 1) as f64).round() as usize).min(sorted.len() - 1)]
}

fn main() {
    let env = env_logger::Env::default().default_filter_or("warn");
    let _ = env_logger::Builder::from_env(env).try_init();
    let o = parse_args();
    let epoch = Instant::now();

    // The server: polling API + /ws on a hub.
    let api = MessageApi::new();
    let hub = Hub::start();
    let mut router = Router::new();
    api.mount(&mut router);
    let ws_hub = hub.clone();
    router.upgrade("/ws", move |up| {
        if let Ok(ws) = websocket::upgrade(up.stream, &up.head, &up.leftover, &AcceptConfig::default()) {
            serve_subscriber(ws, &ws_hub, &SubscriberConfig::default(), |_| Ok(()), |_| {});
        }
    });
    let server = HttpServer::new(router)
        .spawn("127.0.0.1:0")
        .expect("starting the server");
    let relays: Vec<CountingRelay> = (0..3)
        .map(|_| CountingRelay::start(server.local_addr()).expect("starting a relay"))
        .collect();

    println!(
        "push_vs_poll: {} events, one every {:?}; short poll every {:?}; long poll waits up to 10 s",
        o.events, o.interval, o.poll
    );
    let (n, pause) = (o.events, o.poll);
    let (a0, a1, a2) = (relays[0].addr(), relays[1].addr(), relays[2].addr());
    let short = thread::spawn(move || poller(a0, n, None, pause, epoch));
    let long = thread::spawn(move || poller(a1, n, Some(10), pause, epoch));
    let push = thread::spawn(move || websocket_client(a2, n, epoch));
    // Let every client get going (the WebSocket one joined the hub) first.
    while hub.subscribers() < 1 || api.log().waiting() < 1 {
        thread::sleep(Duration::from_millis(5));
    }

    let publisher = {
        let (api, hub) = (Arc::clone(&api), hub.clone());
        thread::spawn(move || {
            // Each event at a random moment inside its own interval: events
            // do not follow the poller's clock, so a short poll finds each
            // one after a random part of its polling period (half on average).
            let start = Instant::now();
            for seq in 0..n {
                let mut r = [0u8; 4];
                wirelab::random::fill(&mut r);
                let at = o
                    .interval
                    .mul_f64(seq as f64 + f64::from(u32::from_le_bytes(r)) / f64::from(u32::MAX));
                thread::sleep(at.saturating_sub(start.elapsed()));
                // The same JSON object reaches every client: the poll
                // responses wrap it in {"messages":[…]}, the WebSocket sends it as is.
                let text = format!("event {seq} {}", epoch.elapsed().as_nanos());
                let message = api.post(&text);
                hub.publish_text(&message.to_json());
            }
        })
    };
    publisher.join().unwrap();
    let results = [
        ("short polling", short.join().unwrap()),
        ("long polling", long.join().unwrap()),
        ("WebSocket", push.join().unwrap()),
    ];
    // Let the relays see the last bytes (the WebSocket close) before reading.
    thread::sleep(Duration::from_millis(100));

    println!();
    println!(
        "{:<14} {:>8} {:>10} {:>11} {:>10} {:>10} {:>9} {:>11} {:>11}",
        "transport",
        "requests",
        "bytes up",
        "bytes down",
        "payload",
        "overhead",
        "overhead%",
        "latency p50",
        "latency p99"
    );
    for ((name, mut tally), relay) in results.into_iter().zip(&relays) {
        let (up, down) = (relay.counters().up(), relay.counters().down());
        let overhead = (up + down).saturating_sub(tally.payload);
        tally.latencies.sort();
        println!(
            "{name:<14} {:>8} {up:>10} {down:>11} {:>10} {overhead:>10} {:>8.1}% {:>11.1?} {:>11.1?}",
            tally.requests,
            tally.payload,
            100.0 * overhead as f64 / (up + down).max(1) as f64,
            percentile(&tally.latencies, 50.0),
            percentile(&tally.latencies, 99.0),
        );
    }
    println!();
    println!("bytes: counted at the socket by a relay per client; payload: response bodies or frame payloads;");
    println!("overhead: everything else (request/response heads, frame headers, the Upgrade handshake).");
    println!("short polling's payload includes its many empty answers ({{\"messages\":[],…}}).");
    println!(
        "next: --interval-ms 2000 --poll-ms 1000 --events 5 (rare events), or open the chat and switch transports"
    );
    server.shutdown();
}
