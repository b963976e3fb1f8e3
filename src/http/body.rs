//! Reading a request body: how long is it, and where does the next request
//! begin?
//!
//! On a persistent connection the body's end is the next request's start, so
//! the server must know the length exactly (RFC 9112 §6.3). A request says it
//! in one of two ways:
//!
//! - `Content-Length: 42`: the body is the next 42 bytes;
//! - `Transfer-Encoding: chunked`: the body comes in pieces, each preceded by
//!   its size in hex, ended by a piece of size 0 (RFC 9112 §7.1).
//!
//! A request with neither has no body. A request with both is refused: the
//! two could disagree, and a proxy and a server that each believed a
//! different one would see different requests in the same bytes (request
//! smuggling, RFC 9112 §6.3 and §11.2).

use std::io::{BufRead, Read};

use super::error::HttpError;
use super::head::{parse_field, read_line, trim_eol, trim_ows, Limits, Version};
use super::request::RequestHead;

/// Longest chunk-size line accepted (size, extensions, CRLF).
const MAX_CHUNK_LINE: usize = 1024;
/// Most trailer fields accepted after the last chunk (they are read and dropped).
const MAX_TRAILERS: usize = 32;

/// How the body of a request is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// No body at all.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
}

/// Decides how the body of `head` is delimited, or why it cannot be read.
pub fn body_kind(head: &RequestHead, limits: &Limits) -> Result<BodyKind, HttpError> {
    let has_te = head.headers.count("transfer-encoding") > 0;
    let has_cl = head.headers.count("content-length") > 0;
    if has_te {
        if has_cl {
            return Err(HttpError::BadRequest("both Transfer-Encoding and Content-Length"));
        }
        if head.version == Version::Http10 {
            // Chunked coding does not exist in HTTP/1.0 (RFC 9112 §6.1).
            return Err(HttpError::BadRequest("Transfer-Encoding in an HTTP/1.0 request"));
        }
        let codings: Vec<&str> = head.headers.tokens("transfer-encoding").collect();
        let chunked = |c: &str| c.eq_ignore_ascii_case("chunked");
        // Without chunked as the last coding the body has no knowable end:
        // a MUST-400 (RFC 9112 §6.3, item 4); chunked twice is forbidden
        // (§6.1).
        if !codings.last().is_some_and(|c| chunked(c)) {
            return Err(HttpError::BadRequest("Transfer-Encoding does not end with chunked"));
        }
        if codings.iter().filter(|c| chunked(c)).count() > 1 {
            return Err(HttpError::BadRequest("chunked applied more than once"));
        }
        return if codings.len() == 1 {
            Ok(BodyKind::Chunked)
        } else {
            // gzip, deflate, compress... under the chunks: decoding them is
            // not implemented.
            Err(HttpError::NotImplemented("transfer codings other than chunked"))
        };
    }
    if has_cl {
        // Every value (and every element of a comma list) must be the same
        // decimal number (RFC 9112 §6.3, item 5).
        let mut length = None;
        for value in head.headers.tokens("content-length") {
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HttpError::BadRequest("Content-Length is not a number"));
            }
            // `1*DIGIT`: leading zeros are allowed, and a number too big for
            // a u64 is certainly over the body limit.
            let digits = value.trim_start_matches('0');
            if digits.len() > 19 {
                return Err(HttpError::BodyTooLarge);
            }
            let n: u64 = if digits.is_empty() {
                0
            } else {
                digits.parse().map_err(|_| HttpError::BodyTooLarge)?
            };
            if length.is_some_and(|l| l != n) {
                return Err(HttpError::BadRequest("conflicting Content-Length values"));
            }
            length = Some(n);
        }
        let n = length.ok_or(HttpError::BadRequest("empty Content-Length"))?;
        if n > limits.max_body as u64 {
            return Err(HttpError::BodyTooLarge);
        }
        return Ok(if n == 0 { BodyKind::None } else { BodyKind::Length(n) });
    }
    Ok(BodyKind::None)
}

/// Reads a body of the given kind, enforcing `limits.max_body`.
pub fn read_body<R: BufRead>(reader: &mut R, kind: BodyKind, limits: &Limits) -> Result<Vec<u8>, HttpError> {
    match kind {
        BodyKind::None => Ok(Vec::new()),
        BodyKind::Length(n) => {
            // n <= max_body was checked in body_kind.
            let mut body = Vec::with_capacity(n.min(64 * 1024) as usize);
            let got = reader.take(n).read_to_end(&mut body).map_err(HttpError::from_io)?;
            if (got as u64) < n {
                return Err(HttpError::Incomplete);
            }
            Ok(body)
        }
        BodyKind::Chunked => read_chunked(reader, limits),
    }
}

/// Decodes `chunked` (RFC 9112 §7.1): `size-in-hex [;ext] CRLF data CRLF`
/// repeated, then `0 CRLF`, optional trailer fields, and an empty line.
fn read_chunked<R: BufRead>(reader: &mut R, limits: &Limits) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = read_line(reader, &mut line, MAX_CHUNK_LINE)
            .map_err(|e| e.or_too_long(HttpError::BadRequest("chunk size line too long")))?;
        if n == 0 {
            return Err(HttpError::Incomplete);
        }
        let size_field = trim_eol(&line);
        let size_hex = size_field.split(|&b| b == b';').next().unwrap_or_default();
        let size_hex = trim_ows(size_hex);
        if size_hex.is_empty() || !size_hex.iter().all(u8::is_ascii_hexdigit) {
            return Err(HttpError::BadRequest("chunk size is not hexadecimal"));
        }
        // Leading zeros are allowed (`1*HEXDIG`); past 15 significant
        // digits the size is far over any body limit.
        let first = size_hex.iter().position(|&b| b != b'0').unwrap_or(size_hex.len());
        let significant = &size_hex[first..];
        if significant.len() > 15 {
            return Err(HttpError::BodyTooLarge);
        }
        let size = if significant.is_empty() {
            0
        } else {
            u64::from_str_radix(std::str::from_utf8(significant).unwrap_or("x"), 16)
                .map_err(|_| HttpError::BadRequest("chunk size is not hexadecimal"))?
        };
        if size == 0 {
            break;
        }
        if body.len() as u64 + size > limits.max_body as u64 {
            return Err(HttpError::BodyTooLarge);
        }
        let got = reader.take(size).read_to_end(&mut body).map_err(HttpError::from_io)?;
        if (got as u64) < size {
            return Err(HttpError::Incomplete);
        }
        line.clear();
        read_line(reader, &mut line, 2).map_err(|e| e.or_too_long(HttpError::BadRequest("chunk data too long")))?;
        if trim_eol(&line) != b"" || line.is_empty() {
            return Err(HttpError::BadRequest("chunk data not followed by CRLF"));
        }
    }
    // Trailer section: fields until an empty line, each with the syntax
    // of a header field (RFC 9112 §7.1.2), then discarded.
    for _ in 0..=MAX_TRAILERS {
        line.clear();
        let n = read_line(reader, &mut line, limits.max_header_line)
            .map_err(|e| e.or_too_long(HttpError::HeadersTooLarge))?;
        if n == 0 {
            return Err(HttpError::Incomplete);
        }
        let field = trim_eol(&line);
        if field.is_empty() {
            return Ok(body);
        }
        parse_field(field)?;
    }
    Err(HttpError::HeadersTooLarge)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::read_head;

    fn body_of(raw: &[u8], limits: &Limits) -> Result<Vec<u8>, HttpError> {
        let mut reader = raw;
        let head = read_head(&mut reader, limits)?.unwrap();
        let kind = body_kind(&head, limits)?;
        read_body(&mut reader, kind, limits)
    }

    #[test]
    fn content_length_bodies_stop_at_the_length() {
        let raw = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /next";
        let mut reader = &raw[..];
        let limits = Limits::default();
        let head = read_head(&mut reader, &limits).unwrap().unwrap();
        let body = read_body(&mut reader, body_kind(&head, &limits).unwrap(), &limits).unwrap();
        assert_eq!(body, b"hello");
        assert_eq!(reader, b"GET /next", "the next request starts right after the body");
    }

    #[test]
    fn chunked_bodies_are_decoded_and_trailers_skipped() {
        let raw = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: 1\r\n\r\n";
        assert_eq!(
            body_of(raw, &Limits::default()).unwrap(),
            b"Wikipedia in\r\n\r\nchunks."
        );
    }

    #[test]
    fn malformed_or_ambiguous_bodies_are_400() {
        let limits = Limits::default();
        for raw in [
            &b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n",
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ] {
            assert_eq!(
                body_of(raw, &limits).unwrap_err().status(),
                400,
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
        let same_twice = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2, 2\r\n\r\nok";
        assert_eq!(body_of(same_twice, &limits).unwrap(), b"ok");
    }

    #[test]
    fn unknown_transfer_codings_are_501() {
        let raw = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
        assert_eq!(body_of(raw, &Limits::default()).unwrap_err().status(), 501);
    }

    #[test]
    fn transfer_codings_not_ending_in_one_chunked_are_400() {
        for te in ["gzip", "chunked, gzip", "chunked, chunked", "identity", ""] {
            let raw = format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {te}\r\n\r\n");
            assert_eq!(
                body_of(raw.as_bytes(), &Limits::default()).unwrap_err().status(),
                400,
                "{te:?}"
            );
        }
    }

    #[test]
    fn bodies_over_the_limit_are_413_before_or_while_reading() {
        let limits = Limits {
            max_body: 8,
            ..Limits::default()
        };
        let declared = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000\r\n\r\n";
        assert_eq!(body_of(declared, &limits), Err(HttpError::BodyTooLarge));
        let chunked =
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n";
        assert_eq!(body_of(chunked, &limits), Err(HttpError::BodyTooLarge));
    }

    #[test]
    fn leading_zeros_are_allowed_in_lengths_and_chunk_sizes() {
        let limits = Limits::default();
        let length = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 000000000000000000000003\r\n\r\nabc";
        assert_eq!(body_of(length, &limits).unwrap(), b"abc");
        let chunked = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
00000000000000000003\r\nabc\r\n00000000000000000000\r\n\r\n";
        assert_eq!(body_of(chunked, &limits).unwrap(), b"abc");
    }

    #[test]
    fn sizes_too_big_for_a_u64_are_413_not_400() {
        let limits = Limits::default();
        let length = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n";
        assert_eq!(body_of(length, &limits), Err(HttpError::BodyTooLarge));
        let chunked = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\nx";
        assert_eq!(body_of(chunked, &limits), Err(HttpError::BodyTooLarge));
    }

    #[test]
    fn trailer_fields_must_be_fields() {
        let limits = Limits::default();
        let ok = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX-Sum: 1\r\n\r\n";
        assert_eq!(body_of(ok, &limits).unwrap(), b"x");
        for trailer in [&b"\x00\x01garbage"[..], b"No colon", b"Bad Name: 1", b" folded"] {
            let mut raw = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n".to_vec();
            raw.extend_from_slice(trailer);
            raw.extend_from_slice(b"\r\n\r\n");
            assert_eq!(
                body_of(&raw, &limits).unwrap_err().status(),
                400,
                "{}",
                String::from_utf8_lossy(trailer)
            );
        }
    }

    #[test]
    fn a_body_cut_short_is_incomplete() {
        let raw = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nshort";
        assert_eq!(body_of(raw, &Limits::default()), Err(HttpError::Incomplete));
    }
}
