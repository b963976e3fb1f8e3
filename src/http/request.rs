//! Reading an HTTP/1.x request head from a buffered byte stream.
//!
//! An HTTP/1.1 request is text on top of TCP's byte stream (RFC 9112 §2.1):
//!
//! ```text
//! GET /chat HTTP/1.1\r\n          <- request line: method, target, version
//! Host: 127.0.0.1:8080\r\n        <- header fields, one per line
//! Upgrade: websocket\r\n
//! \r\n                            <- an empty line ends the head
//! ```
//!
//! TCP gives no message boundaries, so the parser finds them itself: it reads
//! line by line until the empty line. Every size the peer controls is capped
//! by [`Limits`], and each cap maps to its own status code, so a hostile or
//! broken client gets a precise answer (414, 431, 400...) and the server never
//! buffers more than the limits allow. The parser works on any
//! [`BufRead`], so the tests feed it byte slices without a socket.

use std::fmt;
use std::io::BufRead;

use super::error::HttpError;
use super::head::{is_tchar, parse_version, read_fields, read_line, trim_eol, Limits, Version};
use super::headers::Headers;

/// A parsed request head: request line and header fields (no body).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// The method token, case-sensitive as the RFC says (`GET`, `POST`...).
    pub method: String,
    /// The request target as sent: usually origin-form, `/path?query`.
    pub target: String,
    /// The protocol version from the request line.
    pub version: Version,
    /// The header fields, in arrival order.
    pub headers: Headers,
    /// Bytes the head occupied on the wire, CRLFs included.
    pub wire_len: usize,
}

impl RequestHead {
    /// The target in origin form, `/path?query`: the target itself, or,
    /// for the absolute form `http://host/path?query` (which a server MUST
    /// accept, RFC 9112 §3.2.2), the part after the authority. Empty for
    /// `*` (the asterisk form of `OPTIONS *`, §3.2.4).
    pub fn origin(&self) -> &str {
        match self.target.find("://") {
            Some(i) if !self.target.starts_with('/') => {
                let rest = &self.target[i + 3..];
                rest.find(['/', '?']).map_or("", |j| &rest[j..])
            }
            _ if self.target == "*" => "",
            _ => &self.target,
        }
    }

    /// The path part of the target (before `?`), in origin form: `/` when an
    /// absolute-form target has no path.
    pub fn path(&self) -> &str {
        let origin = self.origin();
        let path = origin.split_once('?').map_or(origin, |(p, _)| p);
        if path.is_empty() && self.target != "*" {
            "/"
        } else {
            path
        }
    }

    /// The query part of the target (after `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.origin().split_once('?').map(|(_, q)| q)
    }

    /// Whether the client asked to keep the connection open after this
    /// exchange: HTTP/1.1 is persistent unless `Connection: close`; HTTP/1.0
    /// closes unless `Connection: keep-alive` (RFC 9112 §9.3).
    pub fn keep_alive(&self) -> bool {
        if self.headers.has_token("connection", "close") {
            return false;
        }
        match self.version {
            Version::Http10 => self.headers.has_token("connection", "keep-alive"),
            Version::Http11 => true,
        }
    }
}

impl fmt::Display for RequestHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.method, self.target, self.version)
    }
}

/// Reads one request head from `reader`, enforcing `limits`.
///
/// Returns `Ok(None)` when the stream ends cleanly before the first byte of
/// a request: the normal end of a keep-alive connection. Leaves the reader
/// positioned at the first byte after the head (the body, or the next
/// pipelined request, or WebSocket frames after an Upgrade).
pub fn read_head<R: BufRead>(reader: &mut R, limits: &Limits) -> Result<Option<RequestHead>, HttpError> {
    let mut total = 0usize;
    let mut line = Vec::new();

    // RFC 9112 §2.2: a server SHOULD ignore at least one empty line received
    // before the request line. Ignore a few, not an endless stream of them.
    let mut empty_lines = 0;
    loop {
        line.clear();
        let n =
            read_line(reader, &mut line, limits.max_request_line).map_err(|e| e.or_too_long(HttpError::UriTooLong))?;
        if n == 0 {
            return if total == 0 {
                Ok(None)
            } else {
                Err(HttpError::Incomplete)
            };
        }
        total += n;
        if !trim_eol(&line).is_empty() {
            break;
        }
        empty_lines += 1;
        if empty_lines > 4 {
            return Err(HttpError::BadRequest("empty lines instead of a request line"));
        }
    }
    let (method, target, version) = parse_request_line(trim_eol(&line))?;

    let headers = read_fields(reader, limits, &mut total)?;
    Ok(Some(RequestHead {
        method,
        target,
        version,
        headers,
        wire_len: total,
    }))
}

/// `method SP request-target SP HTTP-version` (RFC 9112 §3).
fn parse_request_line(line: &[u8]) -> Result<(String, String, Version), HttpError> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::BadRequest("request line is not `METHOD TARGET HTTP/x.y`"));
    };
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(HttpError::BadRequest("method is not a token"));
    }
    if target.is_empty() || !target.iter().all(|&b| b.is_ascii_graphic()) {
        return Err(HttpError::BadRequest("request target contains spaces or control bytes"));
    }
    // The version first: the HTTP/2 preface `PRI * HTTP/2.0` is a 505, not
    // a misplaced `*`.
    let version = parse_version(version)?;
    check_target_form(method, target)?;
    // Every byte checked above is ASCII.
    Ok((
        String::from_utf8_lossy(method).into_owned(),
        String::from_utf8_lossy(target).into_owned(),
        version,
    ))
}

/// The four forms of request target (RFC 9112 §3.2), each allowed only
/// where the RFC puts it: origin form `/path?query` for every method,
/// absolute form `scheme://authority/path` for every method, authority form
/// `host:port` only for `CONNECT`, asterisk form `*` only for `OPTIONS`.
/// Anything else (`GET hello`, `GET *`, a fragment) is a 400.
fn check_target_form(method: &[u8], target: &[u8]) -> Result<(), HttpError> {
    if target.contains(&b'#') {
        return Err(HttpError::BadRequest("a fragment (#) is not part of a request target"));
    }
    let ok = match target {
        [b'/', ..] => true,
        b"*" => method == b"OPTIONS",
        _ if method == b"CONNECT" => !target.contains(&b'/'),
        _ => is_absolute_form(target),
    };
    if ok {
        Ok(())
    } else {
        Err(HttpError::BadRequest(
            "request target is not a path, an absolute URI, or * for OPTIONS",
        ))
    }
}

/// `scheme "://" authority [path-abempty] ["?" query]`: a scheme of letters,
/// digits, `+`, `-` and `.` starting with a letter, and a non-empty authority.
fn is_absolute_form(target: &[u8]) -> bool {
    let Some(colon) = target.windows(3).position(|w| w == b"://") else {
        return false;
    };
    let scheme = &target[..colon];
    let authority_len = target[colon + 3..]
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(target.len() - colon - 3);
    scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme.iter().all(|&b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        && authority_len > 0
}

/// Whether `value` is a valid `Host` field value (RFC 9112 §3.2, RFC 3986
/// §3.2.2): `uri-host [":" port]`, where the host is a name or IPv4
/// address (unreserved, percent-encoded and sub-delimiter characters) or
/// an IP literal in brackets. Empty is allowed: the target had no
/// authority. Spaces, `@`, `/` and a second port are not; a server MUST
/// answer an invalid `Host` with 400.
pub fn valid_host(value: &str) -> bool {
    let b = value.as_bytes();
    let (host, port) = if b.first() == Some(&b'[') {
        let Some(end) = b.iter().position(|&c| c == b']') else {
            return false;
        };
        let literal = &b[1..end];
        if literal.is_empty() || !literal.iter().all(|&c| c.is_ascii_hexdigit() || b":.vV".contains(&c)) {
            return false;
        }
        match &b[end + 1..] {
            [] => (&b[..0], None),
            [b':', port @ ..] => (&b[..0], Some(port)),
            _ => return false,
        }
    } else {
        match b.iter().position(|&c| c == b':') {
            Some(i) => (&b[..i], Some(&b[i + 1..])),
            None => (b, None),
        }
    };
    let host_ok = host
        .iter()
        .all(|&c| c.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&c));
    let port_ok = port.map_or(true, |p| p.len() <= 5 && p.iter().all(u8::is_ascii_digit));
    host_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Option<RequestHead>, HttpError> {
        read_head(&mut &bytes[..], &Limits::default())
    }

    #[test]
    fn parses_a_websocket_upgrade_request() {
        let raw =
            b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection:  Upgrade \r\n\r\n";
        let head = parse(raw).unwrap().unwrap();
        assert_eq!(head.method, "GET");
        assert_eq!(head.path(), "/chat");
        assert_eq!(head.query(), Some("room=1"));
        assert_eq!(head.version, Version::Http11);
        assert_eq!(head.headers.get("connection"), Some("Upgrade"));
        assert_eq!(head.wire_len, raw.len());
    }

    #[test]
    fn leaves_the_bytes_after_the_head_unread() {
        let raw = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n\x81\x80rest";
        let mut reader = &raw[..];
        parse_from(&mut reader);
        assert_eq!(reader, b"\x81\x80rest");
    }

    fn parse_from(reader: &mut &[u8]) {
        read_head(reader, &Limits::default()).unwrap().unwrap();
    }

    #[test]
    fn accepts_bare_lf_and_leading_empty_lines() {
        let head = parse(b"\r\nGET / HTTP/1.0\nHost: a\n\n").unwrap().unwrap();
        assert_eq!(head.version, Version::Http10);
    }

    #[test]
    fn clean_eof_before_a_request_is_not_an_error() {
        assert_eq!(parse(b"").unwrap(), None);
    }

    #[test]
    fn eof_inside_a_head_is_incomplete() {
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: a\r\n"), Err(HttpError::Incomplete));
        assert_eq!(parse(b"GET / HT"), Err(HttpError::Incomplete));
    }

    fn each_is_400(requests: &[&[u8]]) {
        for raw in requests {
            let status = parse(raw).unwrap_err().status();
            assert_eq!(status, 400, "{:?}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn malformed_request_lines_are_400() {
        each_is_400(&[
            &b"GET /\r\n\r\n"[..],
            b"GET  / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1 extra\r\n\r\n",
            b"G(T / HTTP/1.1\r\n\r\n",
            b"GET /a\x01b HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1\r\n\r\n",
            b"GET / http/1.1\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        ]);
    }

    #[test]
    fn the_absolute_form_is_accepted_and_routed_by_its_path() {
        let head = parse(b"GET http://example.com:8000/api/x?since=1 HTTP/1.1\r\nHost: example.com\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!((head.path(), head.query()), ("/api/x", Some("since=1")));
        let bare = parse(b"GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!((bare.path(), bare.query()), ("/", None));
        let query_only = parse(b"GET http://a?x=1 HTTP/1.1\r\nHost: a\r\n\r\n").unwrap().unwrap();
        assert_eq!((query_only.path(), query_only.query()), ("/", Some("x=1")));
        // An origin-form path may itself contain "://".
        let origin = parse(b"GET /r?u=http://x/y HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!((origin.path(), origin.query()), ("/r", Some("u=http://x/y")));
    }

    #[test]
    fn each_target_form_is_allowed_only_where_the_rfc_puts_it() {
        let line = |l: &str| parse(format!("{l}\r\nHost: a\r\n\r\n").as_bytes()).map(|h| h.unwrap().path().to_string());
        assert_eq!(line("OPTIONS * HTTP/1.1").unwrap(), "");
        assert!(line("CONNECT example.com:443 HTTP/1.1").is_ok());
        for bad in [
            "GET * HTTP/1.1",
            "GET hello HTTP/1.1",
            "GET example.com:80 HTTP/1.1",
            "GET ://x/ HTTP/1.1",
            "GET http:/// HTTP/1.1",
            "GET 1http://x/ HTTP/1.1",
            "GET /a#frag HTTP/1.1",
        ] {
            assert_eq!(line(bad).unwrap_err().status(), 400, "{bad}");
        }
    }

    #[test]
    fn host_values_are_checked() {
        for good in [
            "",
            "a",
            "example.com:8080",
            "127.0.0.1",
            "[::1]:80",
            "[v1.fe]",
            "a-b_c~d",
        ] {
            assert!(valid_host(good), "{good:?}");
        }
        for bad in [
            "a, b", "a b", "a:80:80", "a:port", "user@a", "a/b", "[::1", "[]", "[::1]x", "a:123456",
        ] {
            assert!(!valid_host(bad), "{bad:?}");
        }
    }

    #[test]
    fn other_major_versions_are_505() {
        assert_eq!(parse(b"GET / HTTP/2.0\r\n\r\n"), Err(HttpError::VersionNotSupported));
        // The HTTP/2 connection preface, from a client with prior knowledge.
        assert_eq!(
            parse(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            Err(HttpError::VersionNotSupported)
        );
    }

    #[test]
    fn malformed_header_lines_are_400() {
        each_is_400(&[
            &b"GET / HTTP/1.1\r\nHost a\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
            b"GET / HTTP/1.1\r\n: a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n",
        ]);
    }

    #[test]
    fn a_long_request_line_is_414_without_reading_it_all() {
        let mut raw = b"GET /".to_vec();
        raw.extend(std::iter::repeat(b'a').take(1 << 20));
        let mut reader = &raw[..];
        let err = read_head(&mut reader, &Limits::default()).unwrap_err();
        assert_eq!(err, HttpError::UriTooLong);
        assert!(reader.len() > (1 << 20) - 16 * 1024, "stopped reading near the limit");
    }

    #[test]
    fn too_many_or_too_long_headers_are_431() {
        let limits = Limits::default();
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=limits.max_headers {
            many.extend(format!("X-{i}: y\r\n").bytes());
        }
        many.extend(b"\r\n");
        assert_eq!(parse(&many), Err(HttpError::HeadersTooLarge));

        let mut long = b"GET / HTTP/1.1\r\nX: ".to_vec();
        long.extend(std::iter::repeat(b'a').take(limits.max_header_line));
        long.extend(b"\r\n\r\n");
        assert_eq!(parse(&long), Err(HttpError::HeadersTooLarge));

        let small = Limits {
            max_head_bytes: 50,
            ..limits
        };
        let big_total = b"GET / HTTP/1.1\r\nA: 0123456789\r\nB: 0123456789\r\nC: 0123456789\r\n\r\n";
        assert_eq!(read_head(&mut &big_total[..], &small), Err(HttpError::HeadersTooLarge));
    }

    #[test]
    fn keep_alive_follows_the_version_defaults() {
        let h = |raw: &[u8]| parse(raw).unwrap().unwrap().keep_alive();
        assert!(h(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(!h(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
        assert!(!h(b"GET / HTTP/1.0\r\n\r\n"));
        assert!(h(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    }
}
