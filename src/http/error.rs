//! Everything that can be wrong with a request, each with its status code.

use std::fmt;
use std::io;

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
    /// The request line is longer than [`Limits::max_request_line`](super::head::Limits::max_request_line). 414.
    UriTooLong,
    /// A header line, the header count or the whole head exceeds its limit.
    /// 431 Request Header Fields Too Large.
    HeadersTooLarge,
    /// The body exceeds [`Limits::max_body`](super::head::Limits::max_body). 413 Content Too Large.
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
    fn errors_know_their_status() {
        assert_eq!(HttpError::from_io(io::ErrorKind::WouldBlock.into()).status(), 408);
        assert_eq!(HttpError::HeadersTooLarge.status(), 431);
        assert_eq!(HttpError::VersionNotSupported.status(), 505);
        let r = HttpError::UriTooLong.to_response();
        assert_eq!(r.status, 414);
        assert_eq!(r.headers.get("connection"), Some("close"));
    }
}
