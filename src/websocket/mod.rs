//! WebSocket (RFC 6455) by hand: the opening handshake, frames, masking,
//! fragmentation, ping/pong and the closing handshake.
//!
//! WebSocket is what the notes are about (`000_f4712f4299a15c52.txt` to
//! `004_0c69f9538d9e3a3e.txt`): one HTTP request upgrades a TCP connection
//! into a persistent, full-duplex channel of *messages*. The pieces, in the
//! order a connection meets them:
//!
//! | module | RFC 6455 | what |
//! |---|---|---|
//! | [`handshake`] | §4 | the Upgrade request and the 101 response |
//! | [`frame`] | §5.2, §5.3 | frame header, lengths, masking |
//! | [`protocol`] | §5.4-§5.6, §8 | frames to messages and back, UTF-8, limits |
//! | [`message`] | §5.6, §7.4 | messages and close codes |
//! | [`conn`] | §5.5, §7 | the connection: ping/pong, closing, split halves |
//! | [`client`] | §4.1 | connecting to a `ws://` URL |
//!
//! A server accepts with [`accept`] (or [`upgrade`], when an HTTP server
//! has already read the request); a client connects with [`connect`].
//!
//! ```no_run
//! use wirelab::websocket::{self, Message};
//!
//! let mut ws = websocket::connect("ws://127.0.0.1:9001/").unwrap();
//! ws.send(Message::text("hello")).unwrap();
//! println!("{:?}", ws.read().unwrap());
//! ws.close(None).unwrap();
//! ```

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

pub mod client;
pub mod conn;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod message;
pub mod protocol;
pub mod utf8;

pub use client::{connect, connect_with, ClientConfig};
pub use conn::{Reader, WebSocket, Writer};
pub use error::{Error, ProtocolError, Result};
pub use frame::OpCode;
pub use handshake::{HandshakeError, HandshakeOptions};
pub use message::{CloseCode, CloseFrame, Message};

use crate::http::serve::DeadlineStream;
use crate::http::{self, Limits, RequestHead};

/// Which end of the connection we are. It decides who masks (§5.1) and who
/// closes TCP first (§7.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Accepted the connection; sends unmasked frames, requires masked ones.
    Server,
    /// Opened the connection; masks every frame it sends.
    Client,
}

/// Default largest frame: 16 MiB, as large as the biggest Autobahn case.
pub const DEFAULT_MAX_FRAME: usize = 16 << 20;
/// Default largest message: 64 MiB.
pub const DEFAULT_MAX_MESSAGE: usize = 64 << 20;
/// Default wait for the peer's side of a closing handshake.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Limits and timing of a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Largest frame payload accepted; larger fails with 1009.
    pub max_frame_size: usize,
    /// Largest message accepted, all fragments together; larger fails with 1009.
    pub max_message_size: usize,
    /// How long to wait for the peer to finish closing (its close frame,
    /// or its end of TCP) before closing anyway.
    pub close_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_size: DEFAULT_MAX_FRAME,
            max_message_size: DEFAULT_MAX_MESSAGE,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
        }
    }
}

/// Everything a server needs to accept WebSocket connections.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Limits and timing of accepted connections.
    pub config: Config,
    /// Subprotocols and origin checks.
    pub handshake: HandshakeOptions,
    /// Limits on the handshake request.
    pub limits: Limits,
    /// The whole handshake request must arrive within this time, or the
    /// answer is 408: a client trickling bytes cannot hold a thread.
    pub handshake_timeout: Duration,
}

impl ServerOptions {
    /// Default options, but frames and messages limited to `max` bytes:
    /// for endpoints whose clients send small messages (a chat, a ticker
    /// page), so that anything larger is refused with 1009 instead of
    /// buffered. The default (64 MiB) suits an echo server under
    /// conformance test.
    pub fn with_max_message(max: usize) -> ServerOptions {
        ServerOptions {
            config: Config {
                max_frame_size: max,
                max_message_size: max,
                ..Config::default()
            },
            ..ServerOptions::default()
        }
    }
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            config: Config::default(),
            handshake: HandshakeOptions::default(),
            limits: Limits::default(),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// Reads an opening handshake from a fresh socket and answers it: `101` and
/// a [`WebSocket`], or the HTTP error response that says what was wrong
/// (400, 403, 405, 426, 431...) and the error.
pub fn accept(stream: TcpStream, options: &ServerOptions) -> Result<WebSocket> {
    let socket_timeout = stream.read_timeout()?;
    let mut timed = DeadlineStream::new(stream);
    timed.set_limits(Some(Instant::now() + options.handshake_timeout), socket_timeout);
    let mut reader = BufReader::new(timed);
    let head = match http::read_head(&mut reader, &options.limits) {
        Ok(Some(head)) => head,
        Ok(None) => return Err(Error::Io(std::io::ErrorKind::UnexpectedEof.into())),
        Err(e) => {
            let mut stream = reader.into_inner().into_inner();
            if e.can_respond() {
                let _ = e.to_response().write_to(&mut stream, false);
                crate::server::drain(&mut stream, Duration::from_millis(200));
            }
            return Err(Error::Handshake(HandshakeError::Http(e)));
        }
    };
    let leftover = reader.buffer().to_vec();
    let stream = reader.into_inner().into_inner();
    // Back to the socket's own timeout, which DeadlineStream changed.
    stream.set_read_timeout(socket_timeout)?;
    upgrade(stream, &head, &leftover, options)
}

/// Completes a handshake whose request head was already read (by an HTTP
/// server that routes `/ws` here): checks it, writes the answer, and on
/// success wraps the socket. `leftover` holds bytes read past the head.
pub fn upgrade(
    mut stream: TcpStream,
    head: &RequestHead,
    leftover: &[u8],
    options: &ServerOptions,
) -> Result<WebSocket> {
    match handshake::check_request(head, &options.handshake) {
        Ok(accepted) => {
            stream.write_all(&accepted.response())?;
            log::debug!(
                "{} upgraded to WebSocket{}",
                head.target,
                accepted
                    .protocol
                    .as_deref()
                    .map(|p| format!(" ({p})"))
                    .unwrap_or_default()
            );
            WebSocket::from_upgraded(stream, Role::Server, &options.config, leftover, accepted.protocol)
        }
        Err(e) => {
            log::debug!("handshake refused: {e}");
            if let Some(response) = e.to_response() {
                let head_only = head.method == "HEAD";
                let _ = response.write_to(&mut stream, head_only);
                let _ = stream.shutdown(std::net::Shutdown::Write);
                crate::server::drain(&mut stream, Duration::from_millis(200));
            }
            Err(Error::Handshake(e))
        }
    }
}
