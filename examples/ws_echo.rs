//! `ws_echo`: a WebSocket echo server, the core that Autobahn tests.
//!
//! ```text
//! cargo run --release --example ws_echo [ADDR]      # default 127.0.0.1:9001
//! ```
//!
//! Every accepted connection gets its own thread (see `src/server/`),
//! which reads the HTTP Upgrade request from the raw socket, answers
//! `101 Switching Protocols`, then echoes every text and binary message
//! back until the client closes. Pings are answered by the library.
//! permessage-deflate is accepted when a client offers it (every browser
//! does): messages of 64 bytes and more go back compressed.
//! `RUST_LOG=trace` prints every frame's fields. Runs until Ctrl-C.
//!
//! Try it: `cargo run --example ws_client ws://127.0.0.1:9001`, or from a
//! browser's console: `ws = new WebSocket("ws://127.0.0.1:9001");
//! ws.onmessage = e => console.log(e.data); ws.send("hi")`.

use wirelab::deflate::Level;
use wirelab::limits::ServerBudget;
use wirelab::server::Server;
use wirelab::websocket::{self, CloseCode, CloseFrame, Error, Message};

fn main() {
    wirelab::init_logging();
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9001".to_string());
    // Messages up to 64 MiB, all unfinished ones together at most 256 MiB,
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

    // A connection silent this long is closed with 1001 (going away).
    let idle = budget.message_timeout;
    let mut options = budget.accept_config();
    // permessage-deflate (RFC 7692) with the server's defaults, but the
    // fastest level: an echo server under conformance test sends back
    // hundreds of megabytes, and effort buys little on that data.
    options.compression.level = Level::FASTEST;
    server.run(move |stream, info| {
        let mut ws = match websocket::accept_with(stream, &options) {
            Ok(ws) => ws,
            Err(e) => {
                log::info!("{info}: {e}");
                return;
            }
        };
        log::info!("{info}: WebSocket open");
        // Idle: no message for IDLE_TIMEOUT, counted per message, not per
        // read (a peer trickling a byte now and then is not active).
        let _ = ws.set_read_timeout(Some(idle));
        ws.set_message_timeout(Some(idle));
        let mut echoed = 0u64;
        loop {
            match ws.read() {
                Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                    log::debug!("{info}: echo {} bytes", message.len());
                    if let Err(e) = ws.send(message) {
                        log::info!("{info}: send failed: {e}");
                        break;
                    }
                    echoed += 1;
                }
                Ok(Message::Close(frame)) => {
                    let why = frame.map_or("no status".to_string(), |f| f.to_string());
                    log::info!("{info}: closed by client ({why}) after {echoed} messages");
                    break;
                }
                Ok(_) => {} // ping (already answered) or pong
                Err(e) if e.is_timeout() => {
                    log::info!("{info}: idle for {idle:?}, closing");
                    let _ = ws.close(Some(CloseFrame::new(CloseCode::GOING_AWAY, "idle")));
                    break;
                }
                Err(Error::ConnectionClosed) => break,
                Err(e) => {
                    log::info!("{info}: {e}");
                    break;
                }
            }
        }
    });
}
