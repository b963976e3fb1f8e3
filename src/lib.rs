//! # wirelab
//!
//! TCP, HTTP and WebSocket built from the socket up, on `std::net`, one
//! thread per connection.
//!
//! The crate follows the network stack:
//!
//! | layer | module | what it shows |
//! |---|---|---|
//! | transport | [`server`] | the accept loop every server here shares |
//! | application | [`http`] | request/response on raw sockets |
//! | application | [`websocket`] | RFC 6455 by hand: handshake, frames, close |
//!
//! See `docs/` for the chapters that follow the study notes, and
//! `examples/` for one runnable lesson each.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod broadcast;
pub mod chat;
pub mod entropy;
pub mod http;
pub mod server;
pub mod tcp;
pub mod ticker;
pub mod udp;
pub mod websocket;
pub mod wire;

/// Starts `env_logger` at level `info` unless `RUST_LOG` says otherwise
/// (`RUST_LOG=debug` shows requests and messages, `RUST_LOG=trace` every
/// frame's fields). Every example calls this first.
pub fn init_logging() {
    let env = env_logger::Env::default().default_filter_or("info");
    let _ = env_logger::Builder::from_env(env).format_timestamp_millis().try_init();
}
