//! Writing an HTTP/1.1 response.
//!
//! A response is a status line, header fields, an empty line and the body
//! (RFC 9112 §4, §6). The body's length must be knowable by the client, or it
//! cannot tell where this response ends and the next one begins on a
//! persistent connection; this writer always sends `Content-Length`.
//! The head and an owned body are assembled in one buffer and leave in one
//! write, so a small response travels in one TCP segment. A large body can
//! instead be made of [`Piece`]s that point at data the server already
//! holds (the page compiled into the binary, events kept in a log): they
//! are written from where they are, never copied whole for each client,
//! so a hundred clients that do not read a 12 MB answer hold pointers, not
//! 1.2 GB.

use std::io::{self, BufRead, Write};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::error::HttpError;
use super::head::{parse_version, read_fields, read_line, trim_eol, Limits, Version};
use super::headers::Headers;

/// A piece of a response body that is not copied into the response: bytes
/// compiled into the program, or shared with whatever else holds them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Bytes that live as long as the program (a page compiled in).
    Static(&'static [u8]),
    /// Text shared with its owner (an event in a log): a pointer, not a copy.
    Shared(Arc<str>),
}

impl Piece {
    /// The piece's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Piece::Static(b) => b,
            Piece::Shared(s) => s.as_bytes(),
        }
    }
}

/// A response: status code, header fields and body bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code, e.g. 200.
    pub status: u16,
    /// Header fields; `Content-Length` and `Date` are added when writing.
    pub headers: Headers,
    /// The body. Sent as is (never for `HEAD`, 1xx, 204 or 304).
    pub body: Vec<u8>,
    /// More of the body, after `body`: pieces written from where they are
    /// (see [`Piece`]).
    pub pieces: Vec<Piece>,
}

impl Response {
    /// A response with no headers and an empty body.
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Headers::new(),
            body: Vec::new(),
            pieces: Vec::new(),
        }
    }

    /// A `text/plain; charset=utf-8` response.
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response::new(status).with_body("text/plain; charset=utf-8", body.into().into_bytes())
    }

    /// Sets `Content-Type` and the body.
    pub fn with_body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        self.headers.set("Content-Type", content_type);
        self.body = body.into();
        self
    }

    /// Sets `Content-Type` and a body made of `pieces`, written from where
    /// they are rather than copied (see [`Piece`]).
    pub fn with_pieces(mut self, content_type: &str, pieces: Vec<Piece>) -> Response {
        self.headers.set("Content-Type", content_type);
        self.body = Vec::new();
        self.pieces = pieces;
        self
    }

    /// The body's length: the owned bytes and the pieces.
    pub fn body_len(&self) -> usize {
        self.body.len() + self.pieces.iter().map(|p| p.as_bytes().len()).sum::<usize>()
    }

    /// Adds a header field (builder style).
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.append(name, value);
        self
    }

    /// Whether this status never carries a body (RFC 9110 §6.4.1).
    pub fn bodiless_status(&self) -> bool {
        (100..200).contains(&self.status) || self.status == 204 || self.status == 304
    }

    /// Serializes the response. With `head_only` (the answer to a `HEAD`
    /// request) the headers describe the body, `Content-Length` included,
    /// but the body itself is left out (RFC 9110 §9.3.2).
    pub fn to_bytes(&self, head_only: bool) -> Vec<u8> {
        let mut out = self.head_and_owned_body(head_only);
        if !head_only && !self.bodiless_status() {
            for piece in &self.pieces {
                out.extend_from_slice(piece.as_bytes());
            }
        }
        out
    }

    /// The head and the owned part of the body, in one buffer: what
    /// [`Response::to_bytes`] gives, without the [`Piece`]s, which the
    /// writer sends from where they are.
    pub fn head_and_owned_body(&self, head_only: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + self.body.len());
        // write! into a Vec cannot fail.
        let _ = write!(out, "HTTP/1.1 {} {}\r\n", self.status, reason_phrase(self.status));
        let mut has_date = false;
        for (name, value) in self.headers.iter() {
            if name.eq_ignore_ascii_case("content-length") {
                continue;
            }
            has_date |= name.eq_ignore_ascii_case("date");
            let _ = write!(out, "{name}: {value}\r\n");
        }
        if !has_date {
            let _ = write!(out, "Date: {}\r\n", http_date(SystemTime::now()));
        }
        if !self.bodiless_status() {
            let _ = write!(out, "Content-Length: {}\r\n", self.body_len());
        }
        out.extend_from_slice(b"\r\n");
        if !head_only && !self.bodiless_status() {
            out.extend_from_slice(&self.body);
        }
        out
    }

    /// Writes the response to `w` in a single `write_all`.
    pub fn write_to<W: Write>(&self, w: &mut W, head_only: bool) -> io::Result<()> {
        w.write_all(&self.to_bytes(head_only))?;
        w.flush()
    }
}

impl HttpError {
    /// The error as a complete response, with `Connection: close`: after a
    /// broken request the rest of the byte stream cannot be trusted to start
    /// at a request boundary.
    pub fn to_response(&self) -> Response {
        let mut r = Response::text(self.status(), format!("{}\n", self));
        r.headers.set("Connection", "close");
        r
    }
}

/// A parsed response head, as a client reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    /// The version on the status line.
    pub version: Version,
    /// The status code.
    pub status: u16,
    /// The reason phrase (informative only; clients must not rely on it).
    pub reason: String,
    /// The header fields.
    pub headers: Headers,
}

/// Reads a response head (status line and header fields) with the same
/// limits and line rules as [`super::request::read_head`] uses for requests.
pub fn read_response_head<R: BufRead>(reader: &mut R, limits: &Limits) -> Result<ResponseHead, HttpError> {
    let mut line = Vec::new();
    let mut total =
        read_line(reader, &mut line, limits.max_request_line).map_err(|e| e.or_too_long(HttpError::HeadersTooLarge))?;
    if total == 0 {
        return Err(HttpError::Incomplete);
    }
    // status-line = HTTP-version SP status-code SP [ reason-phrase ]
    let status_line = trim_eol(&line);
    let mut parts = status_line.splitn(3, |&b| b == b' ');
    let version = parse_version(parts.next().unwrap_or_default())?;
    let status = match parts.next() {
        Some(code @ [a, b, c]) if code.iter().all(u8::is_ascii_digit) => {
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
        }
        _ => return Err(HttpError::BadRequest("status code is not three digits")),
    };
    let reason = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let headers = read_fields(reader, limits, &mut total)?;
    Ok(ResponseHead {
        version,
        status,
        reason,
        headers,
    })
}

/// The standard reason phrase for a status code (RFC 9110 §15).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Formats a time as an IMF-fixdate, the form of the `Date` header
/// (RFC 9110 §5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(month - 1) as usize];
    format!(
        "{weekday}, {day:02} {month} {year:04} {:02}:{:02}:{:02} GMT",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31), proleptic
/// Gregorian calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn reads_back_what_it_writes() {
        let r = Response::text(404, "nope").with_header("X-Test", "1");
        let bytes = r.to_bytes(false);
        let mut reader = &bytes[..];
        let head = read_response_head(&mut reader, &Limits::default()).unwrap();
        assert_eq!(head.status, 404);
        assert_eq!(head.reason, "Not Found");
        assert_eq!(head.headers.get("x-test"), Some("1"));
        assert_eq!(reader, b"nope");
    }

    #[test]
    fn malformed_status_lines_are_errors() {
        for raw in [
            &b"HTTP/1.1 20 OK\r\n\r\n"[..],
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"ICY 200 OK\r\n\r\n",
            b"",
        ] {
            assert!(read_response_head(&mut &raw[..], &Limits::default()).is_err());
        }
    }

    #[test]
    fn date_matches_the_rfc_example() {
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(http_date(leap), "Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn head_responses_keep_the_length_but_drop_the_body() {
        let r = Response::text(200, "hello");
        let full = String::from_utf8(r.to_bytes(false)).unwrap();
        let head = String::from_utf8(r.to_bytes(true)).unwrap();
        assert!(full.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(full.ends_with("\r\n\r\nhello"));
        assert!(head.contains("Content-Length: 5\r\n"));
        assert!(head.ends_with("\r\n\r\n"));
    }

    #[test]
    fn no_content_has_no_length_and_no_body() {
        let r = Response::new(204).with_body("text/plain", "ignored");
        let bytes = String::from_utf8(r.to_bytes(false)).unwrap();
        assert!(!bytes.contains("Content-Length"));
        assert!(bytes.ends_with("\r\n\r\n"));
    }
}
