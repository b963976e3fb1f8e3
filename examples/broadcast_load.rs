//! `broadcast_load`: M clients on the broadcast hub, K messages, measured.
//!
//! ```text
//! cargo run --release --example broadcast_load -- [--clients M] [--messages K] [--size BYTES] [--rate PER_SEC] [--url URL]
//! ```
//!
//! By default it starts its own `ws_broadcast` server in-process (the same
//! code as `examples/ws_broadcast.rs`) on an ephemeral port; with `--url` it
//! loads a server that is already running. It connects M clients (default
//! 200), lets the first one publish K messages (default 200) at a steady
//! rate (default 200 per second), each carrying its send time, and every
//! client (the publisher too) records when each message arrived. It prints
//! deliveries per second and the fan-out latency (publish to arrival,
//! across all clients) at p50, p99 and max. It is a benchmark: it prints
//! figures, it asserts nothing.
//!
//! Each client costs a thread here and two threads on the server, plus
//! about five file descriptors in total when both run in one process: 1,000
//! clients need a `ulimit -n` of about 5,000 (`ulimit -n` shows yours).
//! Exits when done.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use wirelab::broadcast::{spawn_relay, SubscriberConfig};
use wirelab::server::ServerConfig;
use wirelab::websocket::{self, Message};

struct Options {
    clients: usize,
    messages: usize,
    size: usize,
    rate: f64,
    url: Option<String>,
}

fn parse_args() -> Options {
    let mut o = Options {
        clients: 200,
        messages: 200,
        size: 64,
        rate: 200.0,
        url: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--clients" => o.clients = value.parse().expect("--clients N"),
            "--messages" => o.messages = value.parse().expect("--messages K"),
            "--size" => o.size = value.parse().expect("--size BYTES"),
            "--rate" => o.rate = value.parse().expect("--rate PER_SEC"),
            "--url" => o.url = Some(value),
            other => {
                eprintln!("broadcast_load: unknown argument {other}");
                std::process::exit(2);
            }
        }
        i += 2;
    }
    o.clients = o.clients.max(1);
    o.size = o.size.max(24);
    o
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn main() {
    // Only warnings by default: a thousand "joined"/"left" lines would bury
    // the figures. RUST_LOG=info shows them.
    let env = env_logger::Env::default().default_filter_or("warn");
    let _ = env_logger::Builder::from_env(env).try_init();
    let o = parse_args();
    let mut hub = None;
    let mut _server = None;
    let url = match &o.url {
        Some(url) => url.clone(),
        None => {
            let config = ServerConfig {
                max_connections: o.clients + 16,
                ..ServerConfig::default()
            };
            let (server, h) =
                spawn_relay("127.0.0.1:0", config, SubscriberConfig::default()).expect("starting the relay");
            let url = format!("ws://{}/", server.local_addr());
            _server = Some(server);
            hub = Some(h);
            url
        }
    };
    println!(
        "broadcast_load: {} clients, {} messages of {} bytes at {}/s, against {url}{}",
        o.clients,
        o.messages,
        o.size,
        o.rate,
        if hub.is_some() { " (in-process server)" } else { "" }
    );

    // Connect everyone. Each client gets a reader thread that records
    // arrival latencies and reports them when it has seen every message.
    let epoch = Instant::now();
    let (done_tx, done_rx) = mpsc::channel::<Result<Vec<Duration>, String>>();
    let connect_started = Instant::now();
    let mut publisher = None;
    for c in 0..o.clients {
        let ws = match websocket::connect(&url) {
            Ok(ws) => ws,
            Err(e) => {
                eprintln!("broadcast_load: client {c} could not connect: {e}");
                eprintln!("  (out of file descriptors? `ulimit -n` is the limit; each client needs about 5 here)");
                std::process::exit(1);
            }
        };
        let _ = ws.set_read_timeout(Some(Duration::from_secs(30)));
        let (mut reader, writer) = ws.split();
        if c == 0 {
            publisher = Some(writer);
        }
        let done = done_tx.clone();
        let k = o.messages;
        let spawned = thread::Builder::new()
            .name(format!("client-{c}"))
            .stack_size(128 * 1024)
            .spawn(move || {
                let mut latencies = Vec::with_capacity(k);
                while latencies.len() < k {
                    match reader.read() {
                        Ok(Message::Text(t)) => {
                            let sent_ns: u64 = t.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
                            let now_ns = epoch.elapsed().as_nanos() as u64;
                            latencies.push(Duration::from_nanos(now_ns.saturating_sub(sent_ns)));
                        }
                        Ok(_) => {}
                        Err(e) => {
                            let _ = done.send(Err(format!("client {c}: {e} after {} messages", latencies.len())));
                            return;
                        }
                    }
                }
                let _ = done.send(Ok(latencies));
            });
        if let Err(e) = spawned {
            eprintln!("broadcast_load: cannot start client thread {c}: {e}");
            std::process::exit(1);
        }
    }
    drop(done_tx);
    let connected_in = connect_started.elapsed();
    match &hub {
        Some(h) => {
            while h.subscribers() < o.clients {
                thread::sleep(Duration::from_millis(5));
            }
        }
        None => thread::sleep(Duration::from_millis(300)),
    }
    println!("connected {} clients in {connected_in:.2?}", o.clients);

    // Publish at a steady rate from client 0.
    let publisher = publisher.expect("at least one client");
    let padding = "x".repeat(o.size.saturating_sub(24));
    let gap = Duration::from_secs_f64(1.0 / o.rate.max(0.001));
    let publish_started = Instant::now();
    for seq in 0..o.messages {
        let due = publish_started + gap * seq as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        let text = format!("{seq} {} {padding}", epoch.elapsed().as_nanos());
        if let Err(e) = publisher.send_text(&text) {
            eprintln!("broadcast_load: publishing failed: {e}");
            std::process::exit(1);
        }
    }
    let published_in = publish_started.elapsed();

    let mut all = Vec::with_capacity(o.clients * o.messages);
    let mut failures = Vec::new();
    for result in done_rx {
        match result {
            Ok(l) => all.extend(l),
            Err(e) => failures.push(e),
        }
    }
    let finished_in = publish_started.elapsed();
    all.sort();
    let delivered = all.len();
    println!("published {} messages in {published_in:.2?}", o.messages);
    println!(
        "delivered {delivered} of {} in {finished_in:.2?}: {:.0} deliveries/s",
        o.clients * o.messages,
        delivered as f64 / finished_in.as_secs_f64()
    );
    println!(
        "fan-out latency: p50 {:.2?}  p99 {:.2?}  max {:.2?}",
        percentile(&all, 50.0),
        percentile(&all, 99.0),
        all.last().copied().unwrap_or_default()
    );
    if let Some(h) = &hub {
        let s = h.stats();
        println!(
            "hub: {} published, {} frames queued, {} subscribers dropped",
            s.published.load(std::sync::atomic::Ordering::SeqCst),
            s.delivered.load(std::sync::atomic::Ordering::SeqCst),
            s.dropped.load(std::sync::atomic::Ordering::SeqCst)
        );
    }
    for f in failures.iter().take(5) {
        println!("failed: {f}");
    }
    println!("next: try --clients 1000 --rate 50, then --rate 200, and compare p99 (docs/broadcast.md)");
}
