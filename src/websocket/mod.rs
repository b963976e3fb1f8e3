//! WebSocket (RFC 6455) by hand: the opening handshake, frames, masking,
//! fragmentation, ping/pong and the closing handshake.
//!
//! WebSocket is what the five study notes are about: one HTTP request
//! upgrades a TCP connection into a persistent, full-duplex channel of
//! *messages*. The pieces, in the order a connection meets them:
//!
//! | module | RFC 6455 | what |
//! |---|---|---|
//! | [`handshake`] | §4 | the Upgrade request and the 101 response |
//! | [`frame`] | §5.2, §5.3 | frame header, lengths, masking |
//! | [`decode`] | §5.4-§5.6, §8 | bytes to messages: fragments, UTF-8, limits (tested in `decode_tests.rs`) |
//! | [`encode`] | §5.3, §5.6 | messages to bytes, masked by clients |
//! | [`message`] | §5.6, §7.4 | messages and close codes |
//! | [`close`] | §7 | the closing handshake as a state machine, without a socket |
//! | [`conn`] | §5.5, §7 | the connection and its reading half: ping/pong, closing |
//! | [`writer`] | §5.4, §7 | the sending half, shared by threads; pre-encoded frames |
//! | [`extension`] | RFC 7692 §5, §7.1 | negotiating permessage-deflate |
//! | [`client`] | §4.1 | connecting to a `ws://` URL |
//!
//! A server accepts with [`accept`] or [`accept_with`] (or [`upgrade`], when
//! an HTTP server has already read the request); a client connects with
//! [`connect`] or [`connect_with`].
//!
//! ```no_run
//! use wirelab::websocket::{self, Message};
//!
//! let mut ws = websocket::connect("ws://127.0.0.1:9001/").unwrap();
//! ws.send(Message::text("hello")).unwrap();
//! println!("{:?}", ws.read().unwrap());
//! ws.close(None).unwrap();
//! ```

pub mod client;
pub mod close;
pub mod config;
pub mod conn;
pub mod decode;
#[cfg(test)]
mod decode_tests;
pub mod encode;
pub mod error;
pub mod extension;
pub mod frame;
pub mod handshake;
pub mod message;
pub mod server;
pub mod utf8;
pub mod writer;

pub use client::{connect, connect_with, ClientConfig};
pub use config::{Config, Role, DEFAULT_CLOSE_TIMEOUT, DEFAULT_MAX_FRAME, DEFAULT_MAX_MESSAGE};
pub use conn::{Reader, WebSocket, Writer};
pub use error::{Error, ProtocolError, Result};
pub use extension::{Compression, DeflateParams};
pub use frame::OpCode;
pub use handshake::{HandshakeConfig, HandshakeError};
pub use message::{CloseCode, CloseFrame, Message};
pub use server::{accept, accept_with, upgrade, AcceptConfig};
