//! The server side of the opening handshake, on a socket: read the
//! request, check it, answer `101` or the HTTP error that says why not.
//!
//! The rules themselves are in [`super::handshake`], pure functions on
//! parsed heads; this file adds the socket: a deadline on the request, the
//! error response and a graceful close for a refused one.
//!
//! Each function takes the socket as `impl Into<Arc<TcpStream>>`: a
//! `TcpStream` of your own (from `TcpListener::accept`), or the
//! `Arc<TcpStream>` a [`crate::server::Server`] handler or an
//! [`crate::http::Upgrade`] is given, which the server shares to shut the
//! connection down. Either way the connection keeps one descriptor: a
//! socket shared by reference is one socket, where `try_clone` would make a
//! second descriptor that holds the connection open until both are closed.

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::config::{Config, Role};
use super::conn::WebSocket;
use super::error::{Error, Result};
use super::extension::{self, Compression};
use super::handshake::{self, HandshakeConfig, HandshakeError};
use crate::http::{self, Limits, RequestHead};
use crate::socket::{answer_and_close, DeadlineStream};

/// Everything a server needs to accept WebSocket connections.
#[derive(Clone, Debug)]
pub struct AcceptConfig {
    /// Limits and timing of accepted connections.
    pub connection: Config,
    /// Subprotocols and origin checks.
    pub handshake: HandshakeConfig,
    /// Limits on the handshake request.
    pub limits: Limits,
    /// The whole handshake request must arrive within this time, or the
    /// answer is 408: a client trickling bytes cannot hold a thread.
    pub handshake_timeout: Duration,
    /// permessage-deflate (RFC 7692): accepted by default, with the
    /// parameters of [`Compression::SERVER`]; [`Compression::OFF`] declines
    /// every offer.
    pub compression: Compression,
}

impl AcceptConfig {
    /// The defaults, but frames and messages limited to `max` bytes:
    /// for endpoints whose clients send small messages (a chat, a ticker
    /// page), so that anything larger is refused with 1009 instead of
    /// buffered. The default (64 MiB) suits an echo server under
    /// conformance test.
    pub fn with_max_message(max: usize) -> AcceptConfig {
        AcceptConfig {
            connection: Config {
                max_frame_size: max,
                max_message_size: max,
                ..Config::default()
            },
            ..AcceptConfig::default()
        }
    }
}

impl Default for AcceptConfig {
    fn default() -> Self {
        AcceptConfig {
            connection: Config::default(),
            handshake: HandshakeConfig::default(),
            limits: Limits::default(),
            handshake_timeout: Duration::from_secs(10),
            compression: Compression::SERVER,
        }
    }
}

/// Accepts a WebSocket connection on a fresh socket with the default
/// settings; see [`accept_with`].
pub fn accept(stream: impl Into<Arc<TcpStream>>) -> Result<WebSocket> {
    accept_with(stream, &AcceptConfig::default())
}

/// Reads an opening handshake from a fresh socket and answers it: `101` and
/// a [`WebSocket`], or the HTTP error response that says what was wrong
/// (400, 403, 405, 426, 431...) and the error.
pub fn accept_with(stream: impl Into<Arc<TcpStream>>, config: &AcceptConfig) -> Result<WebSocket> {
    let stream = stream.into();
    let socket_timeout = stream.read_timeout()?;
    let mut timed = DeadlineStream::new(stream);
    timed.set_limits(Some(Instant::now() + config.handshake_timeout), socket_timeout);
    let mut reader = BufReader::new(timed);
    let head = match http::read_head(&mut reader, &config.limits) {
        Ok(Some(head)) => head,
        Ok(None) => return Err(Error::Io(std::io::ErrorKind::UnexpectedEof.into())),
        Err(e) => {
            if e.can_respond() {
                let _ = answer_and_close(reader.get_ref().get_ref(), &e.to_response().to_bytes(false));
            }
            return Err(Error::Handshake(HandshakeError::Http(e)));
        }
    };
    let leftover = reader.buffer().to_vec();
    let stream = reader.into_inner().into_inner();
    // Back to the socket's own timeout, which DeadlineStream changed.
    stream.set_read_timeout(socket_timeout)?;
    upgrade(stream, &head, &leftover, config)
}

/// Completes a handshake whose request head was already read (by an HTTP
/// server that routes `/ws` here): checks it, writes the answer, and on
/// success wraps the socket. `leftover` holds bytes read past the head.
pub fn upgrade(
    stream: impl Into<Arc<TcpStream>>,
    head: &RequestHead,
    leftover: &[u8],
    config: &AcceptConfig,
) -> Result<WebSocket> {
    let stream = stream.into();
    match handshake::check_request(head, &config.handshake) {
        Ok(accepted) => {
            let deflate = config
                .compression
                .accept(head.headers.get_all("sec-websocket-extensions"));
            let mut response = accepted.response();
            if let Some(params) = &deflate {
                response = extension::with_extension_header(response, &params.response());
            }
            (&*stream).write_all(&response)?;
            log::debug!(
                "{} upgraded to WebSocket{}",
                head.target,
                accepted
                    .protocol
                    .as_deref()
                    .map(|p| format!(" ({p})"))
                    .unwrap_or_default()
            );
            WebSocket::from_negotiated(
                stream,
                Role::Server,
                &config.connection,
                leftover,
                accepted.protocol,
                deflate.as_ref().map(|p| (p, &config.compression)),
            )
        }
        Err(e) => {
            log::debug!("handshake refused: {e}");
            if let Some(response) = e.to_response() {
                let head_only = head.method == "HEAD";
                let _ = answer_and_close(&stream, &response.to_bytes(head_only));
            }
            Err(Error::Handshake(e))
        }
    }
}
