//! `ws_echo`: a WebSocket echo server, the core that Autobahn tests.
//!
//! ```text
//! cargo run --release --example ws_echo [ADDR]      # default 127.0.0.1:9001
//! ```
//!
//! Every accepted connection gets its own thread (see `src/server/`),
//! which reads the HTTP Upgrade request from the raw socket, answers
//! `101 Switching Protocols`, then echoes every text and binary message
//! back until the client closes (`src/app/echo.rs`). Pings are answered by the library.
//! permessage-deflate is accepted when a client offers it (every browser
//! does): messages of 64 bytes and more go back compressed.
//! `RUST_LOG=trace` prints every frame's fields. Runs until Ctrl-C.
//!
//! Try it: `cargo run --example ws_client ws://127.0.0.1:9001`, or from a
//! browser's console: `ws = new WebSocket("ws://127.0.0.1:9001");
//! ws.onmessage = e => console.log(e.data); ws.send("hi")`.

use wirelab::app::echo::serve_echo;
use wirelab::deflate::Level;
use wirelab::limits::ServerBudget;
use wirelab::server::Server;

fn main() {
    wirelab::init_logging();
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9001".to_string());
    // Messages up to 64 MiB, all unfinished ones (and large ones waiting
    // for the client to take their echo) together at most 256 MiB,
    // the cap that descriptors allow: src/limits.rs.
    let budget = ServerBudget::echo();
    let server = match Server::bind(&addr, budget.server_config()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ws_echo: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    let local = server.local_addr();
    println!("ws_echo: WebSocket echo server on ws://{local}/");
    println!("  try: cargo run --example ws_client ws://{local}/");
    println!("  or:  RUST_LOG=trace cargo run --example ws_echo   (every frame's fields)");
    println!("  {budget}");
    println!("  Ctrl-C to stop");

    // A connection silent this long is closed with 1001 (going away): a
    // wait for a whole message, not for each read. src/app/echo.rs.
    let idle = budget.message_timeout;
    let mut options = budget.accept_config();
    // permessage-deflate (RFC 7692) with the server's defaults, but the
    // fastest level: an echo server under conformance test sends back
    // hundreds of megabytes, and effort buys little on that data.
    options.compression.level = Level::FASTEST;
    server.run(move |stream, info| serve_echo(stream, &info, &options, idle));
}
