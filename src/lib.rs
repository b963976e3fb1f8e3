//! # wirelab
//!
//! TCP, HTTP and WebSocket built from the socket up, on `std::net`, one
//! thread per connection. Read the code, run the examples, run the tests:
//! each test's name states a fact about the protocols, and the docs in
//! `docs/` follow the five study notes the project started from.
//!
//! ## Where each module is explained
//!
//! The modules follow the network stack, bottom up. The docs that come
//! with the crate explain each one: in the chapters, where it shows one of
//! the notes' claims (chapters 0 to 4, from `docs/00-tcp-and-websocket.md`
//! to `docs/04-sockets-and-long-connections.md`: 0 TCP and WebSocket, 1 why
//! WebSocket when there is HTTP, 2 polling, push and duplex, 3 the layers
//! and their handshakes, 4 sockets and long connections), and in full in
//! its reference chapter (`docs/NAME.md`). `docs/README.md` carries the
//! same table, and maps every claim of the notes to the test or example
//! that shows it.
//!
//! | module | what it shows | examples | chapters | reference |
//! |---|---|---|---|---|
//! | [`server`] | the accept loop every server shares: a thread per connection, a cap with a real refusal, timeouts, shutdown | every server | 0, 3, 4 | architecture, security, performance |
//! | [`socket`] | a socket's end of life: deadlines over a whole exchange, the lingering close | every server | 3 | http, security |
//! | [`budget`] | one memory budget, shared by a server's connections | `ws_echo` | — | security |
//! | [`tcp`] | TCP's handshake and states, the byte stream, full duplex | `tcp_echo`, `tcp_handshake`, `duplex`, `stream_vs_message` | 0, 2, 3 | architecture |
//! | [`udp`] | datagrams, no connection | `udp_echo` | 2, 3 | — |
//! | [`http`] | HTTP/1.1: parser with limits, keep-alive, pipelining, router | `http_server` | 0, 1, 3, 4 | http, handshake |
//! | [`websocket`] | RFC 6455 by hand: handshake, frames, masking, close, split halves; permessage-deflate (RFC 7692) | `ws_echo`, `ws_client`, `frame_anatomy` | 0, 1, 2, 3 | handshake, frames, compression |
//! | [`deflate`] | DEFLATE (RFC 1951) by hand, for permessage-deflate | `deflate_demo`, `deflate_bench` | 0 | compression |
//! | [`broadcast`] | the hub thread: encode (and compress) once, write to every socket itself, flow control, keepalive | `ws_broadcast`, `broadcast_load` | 0, 1, 4 | broadcast, performance |
//! | [`limits`] | every server's limits and worst-case memory, in one place | every server | — | security |
//! | [`app`] | JSON, the event log and polling, a REST resource, the chat and the ticker | `chat`, `ticker`, `http_server`, `push_vs_poll` | 0, 1, 2 | broadcast, http |
//! | [`observe`] | hex dumps, timelines, a byte-counting relay | `duplex`, `push_vs_poll` | 0, 2 | architecture |
//! | [`random`] | OS randomness, masking keys, a seeded generator | `frame_anatomy`, `ws_client` | 3 | handshake, frames |
//! | [`fuzz`] | deterministic fuzzing of every parser a peer can reach | `fuzz` | — | security |
//!
//! Each layer uses only the layers below it, and each folder opens with a
//! map. `docs/architecture.md` follows one chat message through every
//! layer and lists where each concept lives.
//!
//! Conventions: protocol logic works on byte slices and `impl Read` so it
//! is testable without sockets; peer input never panics, never grows a
//! buffer without a limit and never blocks forever; logging goes through
//! [`log`] (`info` lifecycle, `debug` requests and messages, `trace` every
//! frame's fields).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod app;
pub mod broadcast;
pub mod budget;
pub mod deflate;
pub mod fuzz;
pub mod http;
pub mod limits;
pub mod observe;
pub mod random;
pub mod server;
pub mod socket;
pub mod tcp;
pub mod udp;
pub mod websocket;

/// Starts `env_logger` at level `info` unless `RUST_LOG` says otherwise
/// (`RUST_LOG=debug` shows requests and messages, `RUST_LOG=trace` every
/// frame's fields). Every example calls this first.
pub fn init_logging() {
    let env = env_logger::Env::default().default_filter_or("info");
    let _ = env_logger::Builder::from_env(env).format_timestamp_millis().try_init();
}
