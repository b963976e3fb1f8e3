//! TCP as `std::net` shows it: a reliable, ordered, full-duplex byte stream
//! between two sockets, set up by the kernel's three-way handshake.
//!
//! Mirrors the TCP parts of notes `000_f4712f4299a15c52.txt`,
//! `002_16f43eb7968fc798.txt` and `003_bd157fac5e3bdbfa.txt`; RFC 9293.
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

pub mod states;

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};

use crate::server::{ConnInfo, Server, ServerConfig, ServerHandle};

/// Largest chunk the echo handler reads at once. The echo never holds more
/// than this, whatever the client sends.
pub const ECHO_BUFFER: usize = 16 * 1024;

/// Echoes every byte back until the client closes its sending side (or the
/// connection fails or stays silent past the socket's read timeout); then
/// closes. Handles hostile input by construction: a fixed buffer, no
/// parsing.
pub fn echo(mut stream: TcpStream, info: ConnInfo) -> io::Result<u64> {
    log::info!("{info}: connected (local {}, peer {})", info.local, info.peer);
    let mut buf = vec![0u8; ECHO_BUFFER];
    let mut total = 0u64;
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                log::info!("{info}: {e} after {total} bytes");
                return Err(e);
            }
        };
        stream.write_all(&buf[..n])?;
        total += n as u64;
    }
    log::info!("{info}: client finished sending; echoed {total} bytes, closing");
    Ok(total)
}

/// Starts the echo server of `examples/tcp_echo.rs` on `addr`.
pub fn spawn_echo(addr: impl ToSocketAddrs, config: ServerConfig) -> io::Result<ServerHandle> {
    let server = Server::bind(addr, config)?;
    Ok(server.spawn(|stream, info| {
        let _ = echo(stream, info);
    }))
}
