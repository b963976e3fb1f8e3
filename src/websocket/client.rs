//! The client side: connect to a `ws://` URL (RFC 6455 §3, §4.1).
//!
//! What a browser does for `new WebSocket("ws://host:port/path")`, step by
//! step: resolve the host, open a TCP connection (the kernels perform the
//! three-way handshake while `connect` waits), send the Upgrade request with a fresh random
//! key, read the response and check every header the RFC says to check,
//! then speak frames, masking each one.

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::config::{Config, Role};
use super::conn::WebSocket;
use super::error::{Error, Result};
use super::extension::{self, Compression};
use super::handshake::{self, HandshakeError};
use crate::http::{read_response_head, Limits};
use crate::socket::DeadlineStream;

/// Options for [`connect_with`].
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Limits and timing of the connection.
    pub connection: Config,
    /// Subprotocols to offer, in order of preference.
    pub protocols: Vec<String>,
    /// An `Origin` header to send (browsers always do; other clients may).
    pub origin: Option<String>,
    /// Timeout of the TCP connect, and the time the whole handshake
    /// response must arrive within (a server trickling it byte by byte
    /// cannot hold the client longer).
    pub handshake_timeout: Duration,
    /// Write timeout of the connection after the handshake (`None`: block
    /// forever). A write that makes no progress this long, because the
    /// server stopped reading, fails with [`Error::WriteTimeout`] and
    /// closes the connection; without it, a pong or a message to such a
    /// server would block its thread, and every other writer, for good.
    pub write_timeout: Option<Duration>,
    /// permessage-deflate (RFC 7692): offered by default, as browsers do
    /// ([`Compression::CLIENT`]); [`Compression::OFF`] offers nothing.
    pub compression: Compression,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connection: Config::default(),
            protocols: Vec::new(),
            origin: None,
            handshake_timeout: Duration::from_secs(10),
            write_timeout: Some(crate::server::DEFAULT_IO_TIMEOUT),
            compression: Compression::CLIENT,
        }
    }
}

/// The parts of a `ws://` URL (§3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsUrl {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// Port; 80 when the URL has none.
    pub port: u16,
    /// Path and query, at least `/`.
    pub resource: String,
}

impl WsUrl {
    /// Parses `ws://host[:port][/path][?query]`. `wss://` is refused: TLS
    /// is out of this crate's scope (see `docs/known-limitations.md`).
    pub fn parse(url: &str) -> Result<WsUrl, HandshakeError> {
        let rest = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("ws") => rest,
            Some((scheme, _)) if scheme.eq_ignore_ascii_case("wss") => {
                return Err(HandshakeError::Url(
                    "wss:// needs TLS, which wirelab does not implement".into(),
                ))
            }
            _ => return Err(HandshakeError::Url(format!("{url}: expected ws://host[:port]/path"))),
        };
        // §3: fragment identifiers are not allowed.
        if rest.contains('#') {
            return Err(HandshakeError::Url("a ws:// URL cannot have a #fragment".into()));
        }
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, resource) = rest.split_at(split);
        let resource = match resource {
            "" => "/".to_string(),
            r if r.starts_with('?') => format!("/{r}"),
            r => r.to_string(),
        };
        if authority.contains('@') {
            return Err(HandshakeError::Url("user info in a ws:// URL is not supported".into()));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| HandshakeError::Url("unclosed [ in an IPv6 address".into()))?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(HandshakeError::Url("no host".into()));
        }
        let port = match port {
            None => 80,
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| HandshakeError::Url(format!("bad port {p:?}")))?,
        };
        if resource.bytes().any(|b| !b.is_ascii_graphic()) {
            return Err(HandshakeError::Url(
                "the path must be ASCII without spaces (percent-encode it)".into(),
            ));
        }
        Ok(WsUrl {
            host: host.to_string(),
            port,
            resource,
        })
    }

    /// The `Host` header value: the host, with the port unless it is 80.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// Connects to a `ws://` URL with the default settings; see [`connect_with`].
pub fn connect(url: &str) -> Result<WebSocket> {
    connect_with(url, &ClientConfig::default())
}

/// Connects to a `ws://` URL: TCP connect, Upgrade request, validation of
/// the 101 response (§4.1). Fails with [`Error::Handshake`] if the server
/// answers anything else.
pub fn connect_with(url: &str, config: &ClientConfig) -> Result<WebSocket> {
    let url = WsUrl::parse(url)?;
    let addrs: Vec<SocketAddr> = (url.host.as_str(), url.port).to_socket_addrs()?.collect();
    let mut last_error = None;
    let mut stream = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, config.handshake_timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_error = Some(e),
        }
    }
    let Some(stream) = stream else {
        return Err(Error::Io(
            last_error.unwrap_or_else(|| std::io::ErrorKind::NotFound.into()),
        ));
    };
    client_handshake(stream, &url, config)
}

/// Runs the client handshake on an open TCP connection.
pub fn client_handshake(mut stream: TcpStream, url: &WsUrl, config: &ClientConfig) -> Result<WebSocket> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(config.handshake_timeout))?;
    stream.set_write_timeout(Some(config.handshake_timeout))?;
    let key = handshake::generate_key();
    let mut request = handshake::client_request(
        &url.host_header(),
        &url.resource,
        &key,
        &config.protocols,
        config.origin.as_deref(),
    );
    if let Some(offer) = config.compression.offer() {
        request = extension::with_extension_header(request, &offer);
    }
    stream.write_all(&request)?;

    let mut timed = DeadlineStream::new(stream);
    timed.set_limits(Some(Instant::now() + config.handshake_timeout), None);
    let mut reader = BufReader::new(timed);
    let head = read_response_head(&mut reader, &Limits::default()).map_err(HandshakeError::BadResponse)?;
    let protocol = handshake::check_upgrade(&head, &key, &config.protocols)?;
    // §9.1, RFC 7692 §7.1: fail on any extension or parameter not offered.
    let deflate =
        extension::check_response(&head, &config.compression).map_err(HandshakeError::UnrequestedExtension)?;
    let leftover = reader.buffer().to_vec();
    let stream = reader.into_inner().into_inner();
    stream.set_read_timeout(None)?;
    stream.set_write_timeout(config.write_timeout)?;
    log::debug!("connected to ws://{}{}", url.host_header(), url.resource);
    WebSocket::from_negotiated(
        stream,
        Role::Client,
        &config.connection,
        &leftover,
        protocol,
        deflate.as_ref().map(|p| (p, &config.compression)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_urls() {
        let u = WsUrl::parse("ws://127.0.0.1:9001").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.resource.as_str()), ("127.0.0.1", 9001, "/"));
        let u = WsUrl::parse("ws://example.com/chat?room=1").unwrap();
        assert_eq!(
            (u.port, u.resource.as_str(), u.host_header()),
            (80, "/chat?room=1", "example.com".into())
        );
        let u = WsUrl::parse("ws://[::1]:8080?x").unwrap();
        assert_eq!(
            (u.host.as_str(), u.resource.as_str(), u.host_header()),
            ("::1", "/?x", "[::1]:8080".into())
        );
        let u = WsUrl::parse("WS://h").unwrap();
        assert_eq!(u.host, "h");
    }

    #[test]
    fn refuses_what_it_cannot_connect_to() {
        for bad in [
            "wss://example.com/",
            "http://example.com/",
            "ws://",
            "ws://:80/",
            "ws://h:99999/",
            "ws://h/#frag",
            "ws://h/a b",
            "example.com",
        ] {
            assert!(WsUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
