//! Every server's limits and memory budget, stated in one place.
//!
//! Each per-connection allowance looks harmless alone and is ruinous
//! multiplied by the number of connections. So each server here states
//! them together, chosen for its use, and the arithmetic that bounds what
//! a peer can make it hold:
//!
//! ```text
//! worst case = connections x (thread stack + buffers a connection keeps)
//!            + spare threads waiting in accept x thread stack
//!            + the budget for unfinished messages (shared by all)
//! ```
//!
//! | server | messages | unfinished budget | request body | per address | descriptors each |
//! |---|---|---|---|---|---|
//! | [`ServerBudget::echo`] (`ws_echo`, Autobahn) | 64 MiB (frames 16 MiB) | 256 MiB | — | no limit | 1 |
//! | [`ServerBudget::http`] (`http_server`) | — | — | 64 KiB | 64 | 1 |
//! | [`ServerBudget::chat`] (`chat`) | 16 KiB | not needed | 64 KiB | 64 | 1 |
//! | [`ServerBudget::ticker`] (`ticker`) | 4 KiB | not needed | — | 64 | 1 |
//! | [`ServerBudget::broadcast`] (`ws_broadcast`) | 64 KiB | not needed | — | no limit | 1 |
//!
//! Messages up to [`MessageBudget::FREE`] never draw on the unfinished
//! budget, so a server whose messages are smaller needs none. The
//! connection cap is what the descriptor limit allows once the threads
//! waiting in `accept` have theirs ([`ServerConfig::connection_cap`]), at
//! most 8,192. Those threads (at most [`DEFAULT_SPARE_THREADS`] + 1) serve
//! no connection but keep their stacks. A connection's one descriptor is
//! its socket, which the server's table, the HTTP loop and the WebSocket
//! share (an `Arc<TcpStream>`, never a copy). `docs/security.md`
//! lists every limit with what it defends and the measured cost of the
//! attack it stops.

use std::fmt;
use std::time::Duration;

use crate::broadcast::RELAY_MAX_MESSAGE;
use crate::budget::MessageBudget;
use crate::http::{HttpConfig, Limits};
use crate::server::{
    soft_fd_limit, ServerConfig, DEFAULT_FDS_PER_CONNECTION, DEFAULT_MAX_CONNECTIONS, DEFAULT_SPARE_THREADS,
    DEFAULT_STACK_SIZE,
};
use crate::websocket::{AcceptConfig, Config};

/// The chat's largest WebSocket message: a `say` of 2,000 characters of
/// four bytes each is about 8 KiB of JSON.
pub const CHAT_MAX_MESSAGE: usize = 16 * 1024;

/// Buffers a server's WebSocket connection keeps between messages: the
/// decoder's read buffer (16 KiB) and a control frame's payload (125
/// bytes, in the decoder and in the encoder, which writes a data frame's
/// payload from where the application holds it), plus what any message
/// may hold without the budget.
const WEBSOCKET_KEEPS: usize = 16 * 1024 + 2 * 125 + MessageBudget::FREE;

/// Buffers an HTTP connection keeps: its read buffer (8 KiB), a request
/// head at its limit, a body at its limit.
fn http_keeps(head: usize, body: usize) -> usize {
    8 * 1024 + head + body
}

/// One server's limits, with what they add up to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerBudget {
    /// The server, as its example is called.
    pub name: &'static str,
    /// Connections wanted at most (lowered to what descriptors allow).
    pub max_connections: usize,
    /// Connections from one address at most.
    pub max_per_peer: usize,
    /// Descriptors a connection holds.
    pub fds_per_connection: usize,
    /// Largest WebSocket message and frame (0: no WebSocket).
    pub max_message: usize,
    /// Largest WebSocket frame.
    pub max_frame: usize,
    /// Bytes all unfinished messages together may hold beyond
    /// [`MessageBudget::FREE`] each (0: no budget needed).
    pub unfinished: usize,
    /// Largest HTTP request head (0: no HTTP beyond the handshake).
    pub max_head: usize,
    /// Largest HTTP request body.
    pub max_body: usize,
    /// A WebSocket message must arrive whole within this time after the
    /// wait for it began; longer silence is idleness.
    pub message_timeout: Duration,
}

impl ServerBudget {
    /// The WebSocket echo server that Autobahn tests: messages up to
    /// 64 MiB (the suite sends 16 MiB), but all unfinished ones, and the
    /// large ones whose echo a client has not taken yet
    /// (`crate::app::echo`), together at most 256 MiB; a connection idle
    /// five minutes is closed.
    pub fn echo() -> ServerBudget {
        ServerBudget {
            name: "ws_echo",
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_per_peer: usize::MAX,
            fds_per_connection: DEFAULT_FDS_PER_CONNECTION,
            max_message: 64 << 20,
            max_frame: 16 << 20,
            unfinished: 256 << 20,
            max_head: 64 * 1024,
            max_body: 0,
            message_timeout: Duration::from_secs(300),
        }
    }

    /// The HTTP server and its REST resource: bodies are short texts.
    pub fn http() -> ServerBudget {
        ServerBudget {
            name: "http_server",
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_per_peer: 64,
            fds_per_connection: DEFAULT_FDS_PER_CONNECTION,
            max_message: 0,
            max_frame: 0,
            unfinished: 0,
            max_head: 64 * 1024,
            max_body: 64 * 1024,
            message_timeout: Duration::ZERO,
        }
    }

    /// The chat: messages are at most 2,000 characters.
    pub fn chat() -> ServerBudget {
        ServerBudget {
            name: "chat",
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_per_peer: 64,
            fds_per_connection: DEFAULT_FDS_PER_CONNECTION,
            max_message: CHAT_MAX_MESSAGE,
            max_frame: CHAT_MAX_MESSAGE,
            unfinished: 0,
            max_head: 64 * 1024,
            max_body: 64 * 1024,
            message_timeout: crate::broadcast::PONG_WAIT,
        }
    }

    /// The ticker: its pages send nothing but pongs.
    pub fn ticker() -> ServerBudget {
        ServerBudget {
            name: "ticker",
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_per_peer: 64,
            fds_per_connection: DEFAULT_FDS_PER_CONNECTION,
            max_message: 4096,
            max_frame: 4096,
            unfinished: 0,
            max_head: 64 * 1024,
            max_body: 0,
            message_timeout: crate::broadcast::PONG_WAIT,
        }
    }

    /// The broadcast relay: every text message goes to everyone, so it is
    /// a chat's line or a ticker's quote, not a file: messages up to
    /// [`RELAY_MAX_MESSAGE`] (64 KiB), no budget for unfinished ones
    /// needed; any number of connections per address, since
    /// `broadcast_load` opens them all from one; a message (or pong) must
    /// arrive whole within the keepalive wait. [`spawn_relay`] applies the
    /// message limits; this states them with the rest.
    ///
    /// [`spawn_relay`]: crate::broadcast::spawn_relay
    pub fn broadcast() -> ServerBudget {
        ServerBudget {
            name: "ws_broadcast",
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_per_peer: usize::MAX,
            fds_per_connection: DEFAULT_FDS_PER_CONNECTION,
            max_message: RELAY_MAX_MESSAGE,
            max_frame: RELAY_MAX_MESSAGE,
            unfinished: 0,
            max_head: 64 * 1024,
            max_body: 0,
            message_timeout: crate::broadcast::PONG_WAIT,
        }
    }

    /// The accept loop's settings.
    pub fn server_config(&self) -> ServerConfig {
        ServerConfig {
            name: self.name.replace('_', "-"),
            max_connections: self.max_connections,
            max_per_peer: self.max_per_peer,
            fds_per_connection: self.fds_per_connection,
            ..ServerConfig::default()
        }
    }

    /// The HTTP server's settings (no site policy: that is the
    /// application's choice).
    pub fn http_config(&self) -> HttpConfig {
        HttpConfig {
            limits: Limits {
                max_head_bytes: self.max_head,
                max_body: self.max_body,
                ..Limits::default()
            },
            server: self.server_config(),
            ..HttpConfig::default()
        }
    }

    /// The WebSocket handshake's and connections' settings, with a new
    /// budget for unfinished messages: call it once per server, so that
    /// every connection shares the one budget.
    pub fn accept_config(&self) -> AcceptConfig {
        AcceptConfig {
            connection: Config {
                max_frame_size: self.max_frame,
                max_message_size: self.max_message,
                budget: (self.unfinished > 0).then(|| MessageBudget::new(self.unfinished)),
                ..Config::default()
            },
            limits: Limits {
                max_head_bytes: self.max_head,
                ..Limits::default()
            },
            ..AcceptConfig::default()
        }
    }

    /// The connection cap in force under this process's descriptor limit.
    pub fn connections(&self) -> usize {
        self.server_config().connection_cap(soft_fd_limit())
    }

    /// The most one connection keeps: its thread's stack and its buffers.
    pub fn per_connection(&self) -> usize {
        let websocket = if self.max_message > 0 {
            WEBSOCKET_KEEPS.min(16 * 1024 + 2 * 125 + self.max_message)
        } else {
            0
        };
        let http = http_keeps(self.max_head, self.max_body);
        DEFAULT_STACK_SIZE + websocket.max(http)
    }

    /// The stacks of the threads that wait in `accept` between connections
    /// (spare threads, and the one that always waits).
    pub fn waiting_threads(&self) -> usize {
        (DEFAULT_SPARE_THREADS + 1) * DEFAULT_STACK_SIZE
    }

    /// What a peer can make this server hold at most, with `connections`
    /// connections: every connection's share, the threads waiting in
    /// `accept`, and the unfinished budget.
    pub fn worst_case(&self, connections: usize) -> u64 {
        connections as u64 * self.per_connection() as u64 + self.waiting_threads() as u64 + self.unfinished as u64
    }
}

impl fmt::Display for ServerBudget {
    /// One line for a server to print at start-up.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cap = self.connections();
        write!(
            f,
            "{}: at most {cap} connections ({} per address), {} KiB each at most{}: {} MiB in the worst case",
            self.name,
            if self.max_per_peer == usize::MAX {
                "any number".to_string()
            } else {
                self.max_per_peer.to_string()
            },
            self.per_connection() / 1024,
            if self.unfinished > 0 {
                format!(", plus {} MiB for unfinished messages", self.unfinished >> 20)
            } else {
                String::new()
            },
            self.worst_case(cap) >> 20
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_server_states_a_finite_worst_case_chosen_for_its_use() {
        for budget in [
            ServerBudget::echo(),
            ServerBudget::http(),
            ServerBudget::chat(),
            ServerBudget::ticker(),
            ServerBudget::broadcast(),
        ] {
            let worst = budget.worst_case(budget.max_connections);
            // At the full cap of 8,192 connections: a few GiB, not the
            // 512 GB that 64 MiB messages times 8,192 would be.
            assert!(worst < 4 << 30, "{budget}: {worst}");
            assert!(budget.to_string().starts_with(budget.name));
        }
        assert!(ServerBudget::chat().max_message <= 16 * 1024);
        assert!(ServerBudget::echo().accept_config().connection.budget.is_some());
        assert!(ServerBudget::chat().accept_config().connection.budget.is_none());
    }
}
