//! `ws_broadcast`: the hub alone. Every text message any client sends goes
//! out, verbatim, to every connected client, the sender included.
//!
//! ```text
//! cargo run --release --example ws_broadcast [ADDR] [MAX_CONNECTIONS]   # default 127.0.0.1:9002, any path
//! ```
//!
//! Read `src/broadcast/` alongside: one reader thread per connection
//! publishes to the hub thread, which joins the messages waiting into one
//! batch of frames, encoded once, and writes the same bytes to every socket
//! itself. A socket with no room gets a writer thread of its own until it
//! has caught up; a client that stops reading is dropped with close code
//! 1008 and cannot hold the others up for more than `ROOM_WAIT` (5 s). The
//! hub pings idle clients every 54 s; they are dropped after 60 s of silence.
//! A message may be at most 64 KiB and must arrive whole within those 60 s
//! (`ServerBudget::broadcast` in `src/limits.rs`).
//!
//! Try it: run two `cargo run --example ws_client ws://127.0.0.1:9002/` in
//! two terminals and type in one; or load it with
//! `cargo run --release --example broadcast_load -- paced --url ws://127.0.0.1:9002/`.
//! Runs until Ctrl-C.

use wirelab::broadcast::{spawn_relay, SubscriberConfig};
use wirelab::limits::ServerBudget;

fn main() {
    wirelab::init_logging();
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9002".to_string());
    // Messages up to 64 KiB, each whole within the keepalive wait, the cap
    // that descriptors allow: src/limits.rs.
    let mut budget = ServerBudget::broadcast();
    if let Some(max) = args.next() {
        budget.max_connections = max.parse().unwrap_or_else(|_| {
            eprintln!("ws_broadcast: MAX_CONNECTIONS must be a number, not {max}");
            std::process::exit(2);
        });
    }
    let (server, _hub) = match spawn_relay(&addr, budget.server_config(), SubscriberConfig::default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ws_broadcast: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    let url = format!("ws://{}/", server.local_addr());
    println!("ws_broadcast: every text message goes to everyone, on {url} (any path)");
    println!("  try, in two terminals: cargo run --example ws_client {url}");
    println!("  browser console: ws = new WebSocket(\"{url}\"); ws.onmessage = e => console.log(e.data); ws.onopen = () => ws.send(\"hi all\")");
    println!("  load: cargo run --release --example broadcast_load -- paced --url {url}");
    println!("  {budget}");
    println!("  Ctrl-C to stop");
    server.wait();
}
