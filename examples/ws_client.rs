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
//! End of input (Ctrl-D) closes with 1000. The program ends when the
//! connection does, whoever closes it: exit status 0 after a closing
//! handshake, 1 if the connection broke (no close frame, a protocol
//! violation, a server that does not answer our close within 2 s).
//! `RUST_LOG=trace` shows each frame's fields, masking key included.
//!
//! Try it against `ws_echo` (port 9001) or `ws_broadcast` (port 9002, start
//! two clients and type in one).

use std::io::{self, BufRead};
use std::thread;
use std::time::Duration;

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
    // The reader thread ends the program when the connection ends, even
    // while the main thread is still waiting for a line of input: a server
    // that closes should not go unnoticed until the next Enter.
    thread::spawn(move || loop {
        match reader.read() {
            Ok(Message::Text(t)) => println!("< {t}"),
            Ok(Message::Binary(b)) => println!("< [{} bytes binary] {:02x?}", b.len(), &b[..b.len().min(32)]),
            Ok(Message::Ping(p)) => eprintln!("< ping {:?} (answered)", String::from_utf8_lossy(&p)),
            Ok(Message::Pong(p)) => eprintln!("< pong {:?}", String::from_utf8_lossy(&p)),
            Ok(Message::Close(f)) => {
                eprintln!("< close {}", f.map_or("(no status)".to_string(), |f| f.to_string()));
                std::process::exit(0);
            }
            Err(Error::ConnectionClosed) => std::process::exit(0),
            Err(e) => {
                eprintln!("ws_client: {e}");
                std::process::exit(1);
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
            let frame = match parts.next().filter(|c| !c.is_empty()).map(str::parse) {
                None => None,
                Some(Ok(code)) => Some(CloseFrame::new(CloseCode(code), parts.next().unwrap_or(""))),
                Some(Err(_)) => {
                    eprintln!("ws_client: usage: /close [CODE [REASON]], CODE a number such as 1000");
                    continue;
                }
            };
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
    // End of input: close politely (if not already closing). The reader
    // thread ends the program when the server's close frame arrives; a
    // server that never answers gets 2 s.
    let _ = writer.close(Some(CloseFrame::new(CloseCode::NORMAL, "bye")));
    thread::sleep(CLOSE_WAIT);
    eprintln!("ws_client: no close frame from the server within {CLOSE_WAIT:?}");
    std::process::exit(1);
}

/// How long to wait for the server's answer to our close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
