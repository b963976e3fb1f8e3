//! What requests and responses share: the version, the size limits, and
//! reading a head's lines and header fields (RFC 9112 §2, §5).
//!
//! A head is text lines on TCP's byte stream, ended by an empty line. Both
//! [`super::request`] and [`super::response`] read theirs with the functions
//! here, so a line is never longer than its limit, a bare LF is accepted as
//! CRLF (§2.2), and a malformed field is a 400, in both directions.

use std::fmt;
use std::io::{self, BufRead};

use super::error::HttpError;
use super::headers::Headers;

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

/// Caps on what a peer may make the parser read or store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line, CRLF included; longer gets 414 URI Too Long.
    pub max_request_line: usize,
    /// Longest header line, CRLF included; longer gets 431.
    pub max_header_line: usize,
    /// Most header fields; more gets 431.
    pub max_headers: usize,
    /// Most bytes in the whole head (request line + headers); more gets 431.
    pub max_head_bytes: usize,
    /// Largest request body; larger gets 413 Content Too Large.
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line: 8 * 1024,
            max_header_line: 8 * 1024,
            max_headers: 100,
            max_head_bytes: 64 * 1024,
            max_body: 1024 * 1024,
        }
    }
}

/// Reads header fields up to and including the empty line that ends a head
/// (requests and responses alike). `total` counts the head's bytes so far
/// and is kept within `limits.max_head_bytes`.
pub(crate) fn read_fields<R: BufRead>(
    reader: &mut R,
    limits: &Limits,
    total: &mut usize,
) -> Result<Headers, HttpError> {
    let mut headers = Headers::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        let budget = limits.max_header_line.min(limits.max_head_bytes.saturating_sub(*total));
        let n = read_line(reader, &mut line, budget).map_err(|e| e.or_too_long(HttpError::HeadersTooLarge))?;
        if n == 0 {
            return Err(HttpError::Incomplete);
        }
        *total += n;
        let field = trim_eol(&line);
        if field.is_empty() {
            return Ok(headers);
        }
        if headers.len() == limits.max_headers {
            return Err(HttpError::HeadersTooLarge);
        }
        let (name, value) = parse_field(field)?;
        headers.append(name, value);
    }
}

/// Why [`read_line`] stopped.
pub(crate) enum LineError {
    Io(io::Error),
    TooLong,
}

impl LineError {
    pub(crate) fn or_too_long(self, too_long: HttpError) -> HttpError {
        match self {
            LineError::TooLong => too_long,
            LineError::Io(e) => HttpError::from_io(e),
        }
    }
}

/// Appends one line, LF included, to `out`; reads at most `max` bytes.
/// Returns the bytes read (0 at end of stream before any byte).
pub(crate) fn read_line<R: BufRead>(reader: &mut R, out: &mut Vec<u8>, max: usize) -> Result<usize, LineError> {
    loop {
        let available = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(LineError::Io(e)),
        };
        if available.is_empty() {
            // End of stream: a clean end only if nothing of the line came.
            return if out.is_empty() {
                Ok(0)
            } else {
                Err(LineError::Io(io::ErrorKind::UnexpectedEof.into()))
            };
        }
        let room = max.saturating_sub(out.len());
        let window = &available[..available.len().min(room)];
        if let Some(i) = window.iter().position(|&b| b == b'\n') {
            out.extend_from_slice(&window[..=i]);
            reader.consume(i + 1);
            return Ok(out.len());
        }
        if window.len() < available.len() || room == 0 {
            return Err(LineError::TooLong);
        }
        let n = window.len();
        out.extend_from_slice(window);
        reader.consume(n);
        if out.len() >= max {
            return Err(LineError::TooLong);
        }
    }
}

/// Strips the line ending: CRLF, or a bare LF, which RFC 9112 §2.2 lets a
/// recipient accept as a line terminator.
pub(crate) fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// `HTTP/DIGIT.DIGIT`; major 1 is served, any other major gets 505.
pub(crate) fn parse_version(v: &[u8]) -> Result<Version, HttpError> {
    match v {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor] if major.is_ascii_digit() && minor.is_ascii_digit() => {
            match (major - b'0', minor - b'0') {
                (1, 0) => Ok(Version::Http10),
                // "HTTP/1.2" would be a later minor version of 1.x: RFC 9110
                // §6.2 says to treat it as the highest minor we support.
                (1, _) => Ok(Version::Http11),
                _ => Err(HttpError::VersionNotSupported),
            }
        }
        _ => Err(HttpError::BadRequest("malformed HTTP version")),
    }
}

/// `field-name ":" OWS field-value OWS` (RFC 9112 §5).
pub(crate) fn parse_field(line: &[u8]) -> Result<(String, String), HttpError> {
    if line[0] == b' ' || line[0] == b'\t' {
        // obs-fold: RFC 9112 §5.2 lets a server reject it with 400.
        return Err(HttpError::BadRequest("obsolete line folding in a header"));
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(HttpError::BadRequest("header line without a colon"))?;
    let name = &line[..colon];
    // No whitespace is allowed between name and colon (§5.1): a classic
    // request-smuggling vector, so it is a 400, not something to trim.
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(HttpError::BadRequest("header name is not a token"));
    }
    let value = trim_ows(&line[colon + 1..]);
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(HttpError::BadRequest("control byte in a header value"));
    }
    Ok((
        String::from_utf8_lossy(name).into_owned(),
        String::from_utf8_lossy(value).into_owned(),
    ))
}

pub(crate) fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// `tchar` from RFC 9110 §5.6.2: the characters allowed in a token.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
