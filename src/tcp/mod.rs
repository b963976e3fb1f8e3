//! TCP as `std::net` shows it: a reliable, ordered, full-duplex byte stream
//! between two sockets, set up by the kernel's three-way handshake.
//!
//! Mirrors the TCP parts of the notes "TCP与WebSocket的区别", "WebSocket示例"
//! and "HTTP、TCP与UDP、Socket与Websocket之间的联系与区别"; RFC 9293.
//! What each claim looks like from user space, and where it is shown:
//!
//! | claim | shown by |
//! |---|---|
//! | connection-oriented: a three-way handshake before data | `examples/tcp_handshake.rs`; `connect_returns_before_accept_is_called` in `tests/transport.rs` (the *kernel* handshakes; `accept` only takes a finished connection from the backlog) |
//! | each end has a state (LISTEN, ESTABLISHED, FIN-WAIT, CLOSE-WAIT, TIME-WAIT) | [`states`]; `socket_states_follow_the_close_sequence` (Linux) |
//! | a byte stream, not messages | `examples/stream_vs_message.rs`; `two_writes_can_arrive_as_one_read`, `one_write_can_arrive_as_several_reads` |
//! | full duplex: both directions at once, independently | `examples/duplex.rs`; `both_directions_flow_at_the_same_time`, `half_close_leaves_the_other_direction_open` |
//! | reliable and ordered | every test here: what one side writes, the other reads, in order |
//!
//! Two of the notes' claims are imprecise. TCP's header is *at least* 20
//! bytes (options, such as timestamps, add up to 40 more, RFC 9293 §3.1),
//! not exactly 20. And the handshake's segments *may* carry data (RFC 9293
//! §3.5 allows it; TCP Fast Open, RFC 7413, uses it), though with plain
//! `connect`/`accept` they do not.
//!
//! | module | what |
//! |---|---|
//! | [`states`] | TCP states as Linux reports them (`/proc/net/tcp`) |
//! | [`echo`](mod@echo) | the echo server: a fixed buffer, no parsing, half-close |

pub mod echo;
pub mod states;

pub use echo::{echo, spawn_echo, ECHO_BUFFER};
