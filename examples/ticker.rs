//! `ticker`: simulated stock prices pushed by the server several times a
//! second, drawn live on a `<canvas>` in the browser.
//!
//! ```text
//! cargo run --example ticker [ADDR] [INTERVAL_MS]    # default 127.0.0.1:8081, 250 ms
//! ```
//!
//! Open the printed address. The page never asks for anything after
//! connecting: every update arrives because the server decided to send it,
//! which is what HTTP alone cannot do (`docs/02-duplex-and-polling.md`). The
//! side panel shows how many updates arrived, how old each one was on
//! arrival, and its size as the page received it; with permessage-deflate
//! agreed (every browser offers it), a size note every 20 ticks gives the
//! stream's compressed size and the page shows the ratio. Open several
//! tabs: the hub encodes (and compresses) each tick once for all of them.
//! Runs until Ctrl-C.

use std::time::Duration;

fn main() {
    wirelab::init_logging();
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8081".to_string());
    let interval = args.next().and_then(|s| s.parse().ok()).unwrap_or(250u64);
    let (server, _ticker) = match wirelab::app::ticker::spawn(&addr, Duration::from_millis(interval.max(10))) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ticker: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "ticker: open http://{}/ ; a tick every {interval} ms over ws://{}/ws",
        server.local_addr(),
        server.local_addr()
    );
    println!(
        "  watch the raw feed: cargo run --example ws_client ws://{}/ws",
        server.local_addr()
    );
    println!("  Ctrl-C to stop");
    server.wait();
}
