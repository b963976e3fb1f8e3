//! HTTP/1.1 on raw sockets: the request/response protocol under WebSocket.
//!
//! HTTP is text on a TCP connection: the client writes a request, the server
//! writes one response, and only then may the client's next request be
//! answered. That turn-taking is what the notes call half duplex
//! (`001_bc663211a4f1f280.txt`): the *protocol* takes turns even though the
//! TCP connection under it could carry both directions at once. A WebSocket
//! connection begins life as one of these requests (RFC 6455 §4.1), which is
//! why the WebSocket handshake in this crate reuses this parser.
//!
//! - [`request`]: reading a request head with limits (RFC 9112 §2-5).
//! - [`body`]: `Content-Length` and chunked bodies (RFC 9112 §6-7).
//! - [`response`]: writing a response (RFC 9112 §4, §6).
//! - [`router`]: method + path to handler, 404/405/501 (RFC 9110 §9, §15).
//! - [`serve`]: one connection: keep-alive, pipelining, deadlines (RFC 9112 §9).
//!
//! Every peer-controlled size is capped, and every way a request can be
//! wrong is an [`HttpError`] variant that knows its status code.

use std::fmt;
use std::io;

pub mod body;
pub mod request;
pub mod response;
pub mod router;
pub mod serve;

pub use request::{read_head, Limits, RequestHead};
pub use response::{http_date, read_response_head, reason_phrase, Response, ResponseHead};
pub use router::{Request, Router, Upgrade};
pub use serve::{HttpConfig, HttpServer};

/// The HTTP versions this crate speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// HTTP/1.0: one request per connection unless the client asks for
    /// keep-alive.
    Http10,
    /// HTTP/1.1: persistent connections by default, `Host` required.
    Http11,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        })
    }
}

/// Header fields in arrival order. Names compare case-insensitively
/// (RFC 9110 §5.1); a name may repeat.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers {
    fields: Vec<(String, String)>,
}

impl Headers {
    /// An empty header list.
    pub fn new() -> Headers {
        Headers::default()
    }

    /// Number of fields (repeated names counted each time).
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Adds a field at the end, keeping any earlier field of the same name.
    pub fn append(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.fields.push((name.into(), value.into()));
    }

    /// Replaces every field named `name` with one field.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        self.remove(&name);
        self.fields.push((name, value.into()));
    }

    /// Removes every field named `name`.
    pub fn remove(&mut self, name: &str) {
        self.fields.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// The value of the first field named `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The values of every field named `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// How many fields are named `name`.
    pub fn count(&self, name: &str) -> usize {
        self.get_all(name).count()
    }

    /// The comma-separated elements of every field named `name`, trimmed,
    /// empty elements skipped: the list syntax of RFC 9110 §5.6.1, where
    /// `Connection: keep-alive, Upgrade` and two separate `Connection`
    /// lines mean the same thing.
    pub fn tokens<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.get_all(name)
            .flat_map(|v| v.split(','))
            .map(|t| t.trim_matches([' ', '\t']))
            .filter(|t| !t.is_empty())
    }

    /// Whether the list header `name` contains `token`, compared
    /// case-insensitively.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.tokens(name).any(|t| t.eq_ignore_ascii_case(token))
    }

    /// Iterates over `(name, value)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

/// Everything that can be wrong with a request, each variant with the
/// status code that answers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpError {
    /// Malformed syntax; the text says what. 400 Bad Request.
    BadRequest(&'static str),
    /// The connection ended in the middle of a request. Reported as 400,
    /// though usually nobody is left to read the answer.
    Incomplete,
    /// The request did not arrive in time (a stalled or deliberately slow
    /// client). 408 Request Timeout.
    Timeout,
    /// The request line is longer than [`Limits::max_request_line`]. 414.
    UriTooLong,
    /// A header line, the header count or the whole head exceeds its limit.
    /// 431 Request Header Fields Too Large.
    HeadersTooLarge,
    /// The body exceeds [`Limits::max_body`]. 413 Content Too Large.
    BodyTooLarge,
    /// A body was sent without a length this server accepts. 411.
    LengthRequired,
    /// A feature the request needs is not implemented here. 501.
    NotImplemented(&'static str),
    /// An HTTP major version other than 1. 505.
    VersionNotSupported,
    /// The socket failed (reset, broken pipe...). No response is possible.
    Io(io::ErrorKind),
}

impl HttpError {
    /// Maps a socket error: timeouts become [`HttpError::Timeout`], a
    /// premature end [`HttpError::Incomplete`].
    pub fn from_io(e: io::Error) -> HttpError {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => HttpError::Timeout,
            io::ErrorKind::UnexpectedEof => HttpError::Incomplete,
            kind => HttpError::Io(kind),
        }
    }

    /// The status code that answers this error.
    pub fn status(&self) -> u16 {
        match self {
            HttpError::BadRequest(_) | HttpError::Incomplete | HttpError::Io(_) => 400,
            HttpError::Timeout => 408,
            HttpError::LengthRequired => 411,
            HttpError::BodyTooLarge => 413,
            HttpError::UriTooLong => 414,
            HttpError::HeadersTooLarge => 431,
            HttpError::NotImplemented(_) => 501,
            HttpError::VersionNotSupported => 505,
        }
    }

    /// Whether an answer can still reach the peer (not after a socket error).
    pub fn can_respond(&self) -> bool {
        !matches!(self, HttpError::Io(_) | HttpError::Incomplete)
    }

    /// The error as a complete response, with `Connection: close`: after a
    /// broken request the rest of the byte stream cannot be trusted to start
    /// at a request boundary.
    pub fn to_response(&self) -> Response {
        let mut r = Response::text(self.status(), format!("{}\n", self));
        r.headers.set("Connection", "close");
        r
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::BadRequest(why) => write!(f, "bad request: {why}"),
            HttpError::Incomplete => f.write_str("connection closed in the middle of a request"),
            HttpError::Timeout => f.write_str("request not received in time"),
            HttpError::UriTooLong => f.write_str("request line too long"),
            HttpError::HeadersTooLarge => f.write_str("request header fields too large"),
            HttpError::BodyTooLarge => f.write_str("request body too large"),
            HttpError::LengthRequired => f.write_str("a body needs Content-Length"),
            HttpError::NotImplemented(what) => write!(f, "not implemented: {what}"),
            HttpError::VersionNotSupported => f.write_str("only HTTP/1.x is served here"),
            HttpError::Io(kind) => write!(f, "socket error: {kind}"),
        }
    }
}

impl std::error::Error for HttpError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_case_insensitive_and_lists_merge() {
        let mut h = Headers::new();
        h.append("Connection", "keep-alive, Upgrade");
        h.append("connection", " close ");
        assert_eq!(h.get("CONNECTION"), Some("keep-alive, Upgrade"));
        assert_eq!(
            h.tokens("Connection").collect::<Vec<_>>(),
            ["keep-alive", "Upgrade", "close"]
        );
        assert!(h.has_token("connection", "upgrade"));
        assert!(!h.has_token("connection", "upgrade2"));
        h.set("CONNECTION", "x");
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn errors_know_their_status() {
        assert_eq!(HttpError::from_io(io::ErrorKind::WouldBlock.into()).status(), 408);
        assert_eq!(HttpError::HeadersTooLarge.status(), 431);
        assert_eq!(HttpError::VersionNotSupported.status(), 505);
        let r = HttpError::UriTooLong.to_response();
        assert_eq!(r.status, 414);
        assert_eq!(r.headers.get("connection"), Some("close"));
    }
}
