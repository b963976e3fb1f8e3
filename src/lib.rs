//! # wirelab
//!
//! TCP, HTTP and WebSocket built from the socket up, on `std::net`, one
//! thread per connection. Read the code, run the examples, run the tests:
//! each test's name states a fact about the protocols, and the docs in
//! `docs/` follow the five study notes the project started from.
//!
//! The modules follow the network stack, bottom up:
//!
//! | layer | module | what it shows | example |
//! |---|---|---|---|
//! | transport | [`server`] | the accept loop every server here shares: a thread per connection, cap, timeouts, shutdown | every server |
//! | transport | [`socket`] | a socket's end of life: deadlines, the lingering close, last words | every server |
//! | memory | [`budget`] | one budget, shared by a server's connections, for the bytes peers make it hold | `ws_echo` |
//! | transport | [`tcp`] | TCP's handshake, states, byte stream, full duplex | `tcp_echo`, `tcp_handshake`, `duplex`, `stream_vs_message` |
//! | transport | [`udp`] | datagrams, no connection | `udp_echo` |
//! | application | [`http`] | HTTP/1.1: parser with limits, keep-alive, router | `http_server` |
//! | application | [`websocket`] | RFC 6455 by hand: handshake, frames, masking, close, split halves | `ws_echo`, `ws_client`, `frame_anatomy` |
//! | application | [`deflate`] | DEFLATE (RFC 1951) by hand, for permessage-deflate: LZ77, Huffman codes, bounded inflate, sync flush | `deflate_demo`, `deflate_bench` |
//! | application | [`broadcast`] | the hub thread: encode once, write to every socket itself, flow control, keepalive | `ws_broadcast`, `broadcast_load` |
//! | budgets | [`limits`] | every server's limits and worst-case memory, in one place | every example |
//! | demos | [`app`] | JSON, the event log and polling, a REST resource, the chat and the ticker (pages compiled in) | `chat`, `ticker`, `http_server`, `push_vs_poll` |
//! | aids | [`observe`], [`random`] | hex dumps, timelines, byte-counting relay; OS randomness, masking keys, a seeded generator | `duplex`, `push_vs_poll`, `frame_anatomy` |
//! | hostile | [`fuzz`] | deterministic fuzzing of every parser a peer can reach | `fuzz` |
//!
//! Each layer uses only the layers below it, and each folder opens with a
//! map. `docs/architecture.md` follows one chat message through every
//! layer and lists where each concept lives; `docs/README.md` maps each
//! claim of the notes to its module, example and test.
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
