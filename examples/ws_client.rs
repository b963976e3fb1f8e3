//! `ws_client`: a tiny command-line WebSocket client, like a small websocat.
//!
//! ```text
//! cargo run --example ws_client [URL]       # default ws://127.0.0.1:9001/
//! ```
//!
//! It connects (TCP, then the HTTP Upgrade with a fresh random key, then a
//! check of the server's `Sec-WebSocket-Accept`), and then runs both
//! directions of the connection at once, which is the point of full duplex:
//!
//! - a reader thread prints every message as it arrives, whenever it arrives;
//! - the main thread reads lines from stdin and sends each as a text message.
//!
//! Lines starting with `/` are commands: `/ping [text]` sends a ping (the
//! pong shows up as it returns), `/binary TEXT` sends the text's bytes as a
//! binary message, `/close [CODE [REASON]]` starts the closing handshake.
//! End of input (Ctrl-D) closes with 1000. `RUST_LOG=trace` shows each
//! frame's fields, masking key included.
//!
//! Try it against `ws_echo` (port 9001) or `ws_broadcast` (port 9002, start
//! two clients and type in one).

use std::io::{self, BufRead};
use std::thread;

use wirelab::websocket::{self, CloseCode, CloseFrame, Error, Message};

fn main() {
    wirelab::init_logging();
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001/".to_string());
    let ws = match websocket::connect(&url) {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("ws_client: cannot connect to {url}: {e}");
            eprintln!("  is a server running? try: cargo run --example ws_echo");
            std::process::exit(1);
        }
    };
    eprintln!("ws_client: connected to {url}");
    eprintln!("  type a line to send it; /ping, /binary TEXT, /close [CODE [REASON]]; Ctrl-D to close");

    let (mut reader, writer) = ws.split();
    let printer = thread::spawn(move || loop {
        match reader.read() {
            Ok(Message::Text(t)) => println!("< {t}"),
            Ok(Message::Binary(b)) => println!("< [{} bytes binary] {:02x?}", b.len(), &b[..b.len().min(32)]),
            Ok(Message::Ping(p)) => eprintln!("< ping {:?} (answered)", String::from_utf8_lossy(&p)),
            Ok(Message::Pong(p)) => eprintln!("< pong {:?}", String::from_utf8_lossy(&p)),
            Ok(Message::Close(f)) => {
                eprintln!("< close {}", f.map_or("(no status)".to_string(), |f| f.to_string()));
                return;
            }
            Err(Error::ConnectionClosed) => return,
            Err(e) => {
                eprintln!("ws_client: {e}");
                return;
            }
        }
    });

    for line in io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let sent = if let Some(rest) = line.strip_prefix("/ping") {
            writer.ping(rest.trim().as_bytes())
        } else if let Some(rest) = line.strip_prefix("/binary ") {
            writer.send_binary(rest.as_bytes())
        } else if let Some(rest) = line.strip_prefix("/close") {
            let mut parts = rest.trim().splitn(2, ' ');
            let code = parts.next().and_then(|c| c.parse().ok()).map(CloseCode);
            let frame = code.map(|c| CloseFrame::new(c, parts.next().unwrap_or("")));
            writer.close(frame)
        } else {
            writer.send_text(&line)
        };
        match sent {
            Ok(()) => {}
            Err(e @ (Error::AlreadyClosing | Error::ConnectionClosed)) => {
                eprintln!("ws_client: {e}");
                break;
            }
            Err(e) => eprintln!("ws_client: {e}"),
        }
    }
    // End of input: close politely (if not already closing) and wait for
    // the reader to see the server's close frame.
    let _ = writer.close(Some(CloseFrame::new(CloseCode::NORMAL, "bye")));
    let _ = printer.join();
}
