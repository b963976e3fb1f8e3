//! Turning a valid input into a hostile one, and handing bytes to a parser
//! the way a network does: in pieces of any size, with pauses.
//!
//! A purely random byte string is refused by the first check it meets and
//! teaches nothing. These mutations start from an input that is valid (or
//! nearly), so most cases get deep into the parser before they go wrong.

use std::io::{self, Read};

use crate::random::XorShift;

/// Values that sit on the edges parsers care about: lengths that switch
/// encodings (125/126/127, 0xFFFF), sign and top bits, separators.
const INTERESTING: [u8; 16] = [
    0x00, 0x01, 0x7E, 0x7F, 0x80, 0x81, 0xFE, 0xFF, b'\r', b'\n', b' ', b':', b'"', b'\\', b'0', b'9',
];

/// Applies one to four random mutations to `input`: flipped bits,
/// interesting bytes, insertions, deletions, duplicated or swapped runs,
/// truncation. Never grows `input` past `max_len`.
pub fn mutate(rng: &mut XorShift, input: &mut Vec<u8>, max_len: usize) {
    for _ in 0..1 + rng.below(4) {
        mutate_once(rng, input, max_len);
    }
}

fn mutate_once(rng: &mut XorShift, input: &mut Vec<u8>, max_len: usize) {
    let len = input.len();
    let at = rng.below(len + 1);
    match rng.below(9) {
        0 if len > 0 => input[at.min(len - 1)] ^= 1 << rng.below(8),
        1 if len > 0 => input[at.min(len - 1)] = *rng.pick(&INTERESTING),
        2 if len > 0 => input[at.min(len - 1)] = rng.next_u64() as u8,
        3 if len < max_len => input.insert(at, *rng.pick(&INTERESTING)),
        4 if len > 0 => {
            let end = (at + 1 + rng.below(16)).min(len);
            input.drain(at.min(len - 1)..end);
        }
        5 if len > 0 => {
            // Duplicate a run: repeated headers, repeated frames.
            let start = rng.below(len);
            let end = (start + 1 + rng.below(64)).min(len);
            let run: Vec<u8> = input[start..end].to_vec();
            if len + run.len() <= max_len {
                let at = rng.below(len + 1);
                input.splice(at..at, run);
            }
        }
        6 if len > 1 => {
            let (a, b) = (rng.below(len), rng.below(len));
            input.swap(a, b);
        }
        7 => input.truncate(at),
        _ if len < max_len => {
            // A few random bytes anywhere.
            let n = (1 + rng.below(8)).min(max_len - len);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            input.splice(at..at, bytes);
        }
        _ => {}
    }
}

/// A reader that hands out its bytes in random pieces and, if asked,
/// sometimes fails with `WouldBlock` instead (what a socket's read timeout
/// does between two arrivals). A parser must give the same answer however
/// the bytes are cut.
#[derive(Debug)]
pub struct Pieces<'a> {
    data: &'a [u8],
    rng: XorShift,
    largest: usize,
    stalls: bool,
}

impl<'a> Pieces<'a> {
    /// Hands out `data` in pieces of 1 to `largest` bytes, with pauses if
    /// `stalls`; the cuts follow `seed`.
    pub fn new(data: &'a [u8], seed: u64, largest: usize, stalls: bool) -> Pieces<'a> {
        Pieces {
            data,
            rng: XorShift::new(seed),
            largest: largest.max(1),
            stalls,
        }
    }

    /// Bytes not yet handed out.
    pub fn remaining(&self) -> usize {
        self.data.len()
    }
}

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.stalls && self.rng.one_in(6) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = (1 + self.rng.below(self.largest)).min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_are_deterministic_and_bounded() {
        let run = |seed| {
            let mut rng = XorShift::new(seed);
            let mut input = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n".to_vec();
            for _ in 0..200 {
                mutate(&mut rng, &mut input, 64);
                assert!(input.len() <= 64);
            }
            input
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }

    #[test]
    fn pieces_hand_out_every_byte_in_order() {
        let data: Vec<u8> = (0..=255).collect();
        let mut out = Vec::new();
        let mut pieces = Pieces::new(&data, 9, 7, true);
        let mut buf = [0u8; 16];
        loop {
            match pieces.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => assert_eq!(e.kind(), io::ErrorKind::WouldBlock),
            }
        }
        assert_eq!(out, data);
    }
}
