//! Incremental UTF-8 validation: fail at the first bad byte, even when a
//! text message arrives in many frames and a frame arrives in many reads.
//!
//! RFC 6455 §8.1: when an endpoint finds that a text message's bytes are not
//! valid UTF-8 it MUST fail the connection (close code 1007). Checking only
//! once the whole message is in would be allowed but slow to react: a
//! hostile peer could stream megabytes of garbage first. Here each piece is
//! checked as it arrives. The one subtlety is a code point split across two
//! pieces: its first bytes are a valid *prefix*, kept aside until the rest
//! arrives. `std::str::from_utf8` tells the two cases apart: an error with
//! `error_len() == None` means "valid so far, but cut off".

use std::str;

/// Validates a byte stream piece by piece.
#[derive(Clone, Debug, Default)]
pub struct Utf8Validator {
    /// The first bytes of a code point cut off at the end of the last piece.
    pending: [u8; 4],
    pending_len: usize,
}

/// The bytes seen so far cannot be the start of valid UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidUtf8;

impl Utf8Validator {
    /// A validator at the start of a message.
    pub fn new() -> Utf8Validator {
        Utf8Validator::default()
    }

    /// Checks the next piece of the stream.
    pub fn feed(&mut self, mut input: &[u8]) -> Result<(), InvalidUtf8> {
        if self.pending_len > 0 {
            // Complete the cut-off code point first.
            let width = utf8_width(self.pending[0]);
            let need = width - self.pending_len;
            let take = need.min(input.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&input[..take]);
            self.pending_len += take;
            input = &input[take..];
            match str::from_utf8(&self.pending[..self.pending_len]) {
                Ok(_) => self.pending_len = 0,
                Err(e) if e.error_len().is_none() => return Ok(()), // still a valid prefix; input used up
                Err(_) => return Err(InvalidUtf8),
            }
        }
        match str::from_utf8(input) {
            Ok(_) => Ok(()),
            Err(e) => match e.error_len() {
                Some(_) => Err(InvalidUtf8),
                None => {
                    let tail = &input[e.valid_up_to()..];
                    self.pending[..tail.len()].copy_from_slice(tail);
                    self.pending_len = tail.len();
                    Ok(())
                }
            },
        }
    }

    /// Checks that the stream did not end inside a code point.
    pub fn finish(&self) -> Result<(), InvalidUtf8> {
        if self.pending_len == 0 {
            Ok(())
        } else {
            Err(InvalidUtf8)
        }
    }

    /// Whether the stream seen so far ends between code points.
    pub fn is_complete(&self) -> bool {
        self.pending_len == 0
    }
}

/// Width of a code point from its first byte. Only called on the first byte
/// of a valid prefix, which is a lead byte of 2, 3 or 4.
fn utf8_width(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate_in_pieces(bytes: &[u8], piece: usize) -> Result<(), InvalidUtf8> {
        let mut v = Utf8Validator::new();
        for chunk in bytes.chunks(piece.max(1)) {
            v.feed(chunk)?;
        }
        v.finish()
    }

    #[test]
    fn agrees_with_std_for_every_split() {
        let samples: &[&[u8]] = &[
            "κόσμε".as_bytes(),
            "Hello-µ@ßöäüàá-UTF-8!!".as_bytes(),
            "\u{10FFFF}\u{FFFF}\u{0800}\u{0080}".as_bytes(),
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
            b"\xf4\x90\x80\x80",
            b"\xc0\xaf",
            b"\xe0\x80\xaf",
            b"\xed\xa0\x80",
            b"\xf0\x9f\x98",
            b"\x80",
            b"abc\xfe",
        ];
        for s in samples {
            let expected = str::from_utf8(s).is_ok();
            for piece in 1..=s.len() {
                assert_eq!(
                    validate_in_pieces(s, piece).is_ok(),
                    expected,
                    "{s:?} in pieces of {piece}"
                );
            }
        }
    }

    #[test]
    fn fails_at_the_first_bad_byte_not_at_the_end() {
        // Autobahn 6.4.x: the invalid sequence arrives, the rest follows
        // later. The error must be visible as soon as the bad byte is.
        let mut v = Utf8Validator::new();
        v.feed("κόσμε".as_bytes()).unwrap();
        assert_eq!(v.feed(b"\xf4"), Ok(()), "F4 can start a valid code point");
        assert_eq!(v.feed(b"\x90"), Err(InvalidUtf8), "F4 90 is above U+10FFFF");
    }

    #[test]
    fn an_unfinished_code_point_at_the_end_is_invalid() {
        let mut v = Utf8Validator::new();
        v.feed(b"ok\xe2\x82").unwrap();
        assert!(!v.is_complete());
        assert_eq!(v.finish(), Err(InvalidUtf8));
        v.feed(b"\xac").unwrap();
        assert_eq!(v.finish(), Ok(()));
    }
}
