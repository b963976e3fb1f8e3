//! The WebSocket echo server that Autobahn tests (`examples/ws_echo.rs`):
//! every text and binary message back to its sender.
//!
//! One connection, from the handshake to its end, on the thread that
//! accepted it: read a message, write it back, until the client closes,
//! stays idle too long, or breaks the protocol. Pings are answered by the
//! connection itself.
//!
//! An echo holds each message until the client has taken it back, and a
//! client that never reads makes that as long as the write waits. So a
//! large message keeps its share of the server's budget for unfinished
//! messages ([`MessageBudget::try_hold`]) until its echo is written;
//! without that, clients sending 16 MiB each and never reading made the
//! server hold all of them outside any bound. A message that cannot be
//! held is answered with 1013 (try again later).

use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use crate::budget::MessageBudget;
use crate::server::ConnInfo;
use crate::websocket::{self, AcceptConfig, CloseCode, CloseFrame, Error, Message};

/// Serves one echo connection: the handshake with `options` (its
/// connection limits and shared budget), then every text and binary
/// message back. A connection with no message for `idle` is closed with
/// 1001 (going away); the wait is for a whole message, not for each read.
pub fn serve_echo(stream: Arc<TcpStream>, info: &ConnInfo, options: &AcceptConfig, idle: Duration) {
    let mut ws = match websocket::accept_with(stream, options) {
        Ok(ws) => ws,
        Err(e) => {
            log::info!("{info}: {e}");
            return;
        }
    };
    log::info!("{info}: WebSocket open");
    let _ = ws.set_read_timeout(Some(idle));
    ws.set_message_timeout(Some(idle));
    let budget: Option<&MessageBudget> = options.connection.budget.as_ref();
    let mut echoed = 0u64;
    loop {
        match ws.read() {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                log::debug!("{info}: echo {} bytes", message.len());
                // Held against the budget until the echo is written.
                let held = match budget.map(|b| b.try_hold(message.len())) {
                    Some(None) => {
                        log::info!("{info}: no room to hold a {}-byte echo, closing", message.len());
                        let _ = ws.close(Some(CloseFrame::new(CloseCode::TRY_AGAIN_LATER, "server busy")));
                        break;
                    }
                    held => held,
                };
                let sent = ws.send(message);
                drop(held);
                if let Err(e) = sent {
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
}
