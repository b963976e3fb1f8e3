//! The TCP echo server of `examples/tcp_echo.rs`: every byte back, until
//! the client stops sending.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};

use crate::server::{ConnInfo, Server, ServerConfig, ServerHandle};

/// Largest chunk the echo handler reads at once. The echo never holds more
/// than this, whatever the client sends.
pub const ECHO_BUFFER: usize = 16 * 1024;

/// Echoes every byte back until the client closes its sending side (or the
/// connection fails or stays silent past the socket's read timeout); then
/// closes. Handles hostile input by construction: a fixed buffer, no
/// parsing. The socket is borrowed: `&TcpStream` reads and writes, so the
/// server's shared socket serves as it is, with no copy of its descriptor.
pub fn echo(mut stream: &TcpStream, info: ConnInfo) -> io::Result<u64> {
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
        let _ = echo(&stream, info);
    }))
}
