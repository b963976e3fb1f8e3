//! The shared accept loop: one thread per TCP connection.
//!
//! Every server in wirelab (the TCP echo, the HTTP server, the WebSocket echo,
//! the chat) is this loop with a different handler. The loop is the smallest
//! honest shape of a blocking network server:
//!
//! 1. `bind` + `listen` (done by [`std::net::TcpListener::bind`]). From this
//!    moment the *kernel* completes TCP three-way handshakes on our behalf
//!    and queues the finished connections in the listen backlog, whether or
//!    not we call `accept` (see `tests/transport.rs`).
//! 2. `accept` takes one finished connection off that queue. Several threads
//!    wait in `accept` at once; the kernel gives each connection to one.
//! 3. The thread that accepted it admits it or refuses it at once (the
//!    rules below). An admitted connection is served by that thread, for
//!    the connection's whole life, having first started another thread if
//!    none is left waiting in `accept`, so the next client never waits for
//!    this one, not even to be refused.
//! 4. When the connection ends, its thread goes back to step 2 beside the
//!    others, or ends if [`ServerConfig::spare_threads`] threads are
//!    waiting already.
//!
//! So every connection has a thread of its own, yet a thread is started only
//! when all are busy: starting one (a kernel task, a stack, std's signal
//! stack, all undone at the end) costs more than a WebSocket handshake. And
//! no connection is handed between threads, which would cost a wake-up: the
//! kernel's accept queue is the only queue. This is the "leader/followers"
//! pattern; Apache's prefork processes take turns at `accept` the same way.
//! `docs/performance.md` measures what it saves.
//!
//! Around that core sit the things a server facing the open network needs:
//!
//! - a cap on concurrent connections that is *true*: no higher than the
//!   descriptor limit allows ([`descriptor_cap`], after the descriptor each
//!   thread waiting in `accept` holds), since past that limit `accept`
//!   fails and clients wait unanswered in the backlog. A connection costs
//!   one descriptor: the handler and the server's table share one socket
//!   (an `Arc<TcpStream>`) rather than each holding a copy (see [`table`]);
//! - a share per address ([`ServerConfig::max_per_peer`]), and idle
//!   keep-alive connections closed first when the server is full
//!   ([`mark_idle`]), so that nobody can hold the server shut cheaply;
//! - a refusal every turned-away client receives at once, however many
//!   arrive (written by the thread that accepted it, closed gracefully by
//!   [`crate::socket::Lingerer`]);
//! - accept errors (out of descriptors) that back off instead of spinning,
//!   and are logged at a bounded rate;
//! - read and write timeouts, a small thread stack so that thousands of
//!   mostly idle connections fit in memory, `TCP_NODELAY` so small messages
//!   are not held back by Nagle's algorithm, a panic in one connection's
//!   thread that is logged and contained, and a [`ServerHandle`] that stops
//!   accepting and ends every thread.
//!
//! Mirrors the notes' description of sockets as the API between the
//! application and TCP ("HTTP、TCP与UDP、Socket与Websocket之间的联系与区别",
//! "http-socket-websocket").
//!
//! | module | what |
//! |---|---|
//! | [`config`] | `ServerConfig`, the defaults, the cap the descriptor limit allows |
//! | [`table`] | the live connections: per-address share, idle ones evicted first |
//! | [`accept`] | `Server`, `ServerHandle`: start, count, stop |
//! | `turns` | the threads taking turns at `accept`: admit or refuse, serve, back off |
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use wirelab::server::{Server, ServerConfig};
//!
//! // An echo server: each connection gets its own thread running this closure.
//! let server = Server::bind("127.0.0.1:0", ServerConfig::default()).unwrap();
//! println!("listening on {}", server.local_addr());
//! let handle = server.spawn(|stream, _conn| {
//!     // The socket is shared with the server (one descriptor): read and
//!     // write it through a reference.
//!     let mut stream = &*stream;
//!     let mut buf = [0u8; 4096];
//!     while let Ok(n) = stream.read(&mut buf) {
//!         if n == 0 || stream.write_all(&buf[..n]).is_err() {
//!             break;
//!         }
//!     }
//! });
//! handle.shutdown();
//! ```

pub mod accept;
pub mod config;
pub mod table;
mod turns;

pub use accept::{ConnInfo, Server, ServerHandle, ServerStats};
pub use config::{
    descriptor_cap, hard_fd_limit, soft_fd_limit, ServerConfig, DEFAULT_FDS_PER_CONNECTION, DEFAULT_IO_TIMEOUT,
    DEFAULT_JOIN_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_PER_PEER, DEFAULT_PEER_REFUSAL, DEFAULT_REFUSAL,
    DEFAULT_SPARE_THREADS, DEFAULT_STACK_SIZE, FALLBACK_FD_LIMIT, RESERVED_FDS,
};
pub use table::{mark_idle, mark_idle_after};
