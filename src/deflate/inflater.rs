//! The decoder: DEFLATE blocks back to bytes (RFC 1951 §3.2.3-§3.2.7).
//!
//! A stream is a sequence of blocks, each starting with three bits (§3.2.3):
//! BFINAL (is this the last block?) and BTYPE (how it is coded):
//!
//! - `00` stored (§3.2.4): the bytes as they are, up to 65 535 of them;
//! - `01` fixed Huffman codes (§3.2.6): codes every decoder knows;
//! - `10` dynamic Huffman codes (§3.2.7): the block starts with its own codes;
//! - `11` is reserved, an error.
//!
//! A Huffman block is a series of symbols (§3.2.5): a literal byte, the end
//! of the block, or a *length* followed by a *distance*, which means "copy
//! `length` bytes starting `distance` bytes back in the output" (LZ77). The
//! copy may overlap what it writes: distance 1, length 10 repeats the last
//! byte ten times.
//!
//! Nothing the input says can make this code panic, loop forever, read out
//! of bounds or allocate past the caller's limit: every field that can be
//! wrong maps to an [`InflateError`], and every symbol is checked against
//! the end of the input before its output is written.
//!
//! The output buffer is also the window: a distance reaches back into the
//! bytes already written. Between WebSocket messages with *context
//! takeover* (RFC 7692 §7.1.1) the last window of output is kept as
//! `history`, because the next message may refer to it.

use std::sync::OnceLock;

use super::bits::BitReader;
use super::error::{CodeSet, InflateError};
use super::huffman::{entry, Decoder, BASE, END, INVALID};
use super::tables::{
    fixed_dist_lengths, fixed_litlen_lengths, WindowBits, CODE_LENGTH_ORDER, DIST_BASE, DIST_EXTRA, DIST_SYMBOLS,
    END_OF_BLOCK, LENGTH_BASE, LENGTH_EXTRA, LITLEN_SYMBOLS, MAX_MATCH, MAX_WINDOW,
};

/// The four bytes RFC 7692 §7.2.1 strips from the end of each compressed
/// message and §7.2.2 appends again before decompressing: the length fields
/// of an empty stored block (LEN 0, NLEN 0xffff).
pub const MESSAGE_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Inflates a whole raw DEFLATE stream (no zlib or gzip header), which must
/// end with a final block, into at most `max_len` bytes.
///
/// ```
/// use wirelab::deflate::inflate;
///
/// // "Hello" in a fixed-code final block (RFC 7692 §7.2.3.4).
/// let data = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
/// assert_eq!(inflate(&data, 100).unwrap(), b"Hello");
/// assert!(inflate(&data, 4).unwrap_err().is_too_large());
/// ```
pub fn inflate(data: &[u8], max_len: usize) -> Result<Vec<u8>, InflateError> {
    let mut out = Vec::new();
    Decode::new(BitReader::new(data), &mut out, max_len, &[], MAX_WINDOW).run(End::FinalBlock)?;
    Ok(out)
}

/// Inflates the messages of one direction of a WebSocket connection with
/// permessage-deflate (RFC 7692 §7.2.2).
///
/// Each message's payload is inflated as a whole: the `00 00 ff ff` tail is
/// appended (without copying the payload), blocks are decoded until the
/// input is used up, and a final block (BFINAL = 1) does not end the
/// message early (§7.2.3.4 allows it).
///
/// Memory between messages: nothing without context takeover; with it, the
/// last window of output (at most 2^`window_bits` bytes, 32 KiB at 15 bits).
/// While inflating, a few KiB of decoding tables besides the output, which
/// never grows past the caller's limit.
#[derive(Clone, Debug)]
pub struct Inflater {
    window: usize,
    context_takeover: bool,
    history: Vec<u8>,
}

impl Inflater {
    /// An inflater for a peer compressing with a window of `window_bits`,
    /// keeping the last window between messages if `context_takeover`.
    pub fn new(window_bits: WindowBits, context_takeover: bool) -> Inflater {
        Inflater {
            window: window_bits.size(),
            context_takeover,
            history: Vec::new(),
        }
    }

    /// Inflates one message's payload (without the tail), appending at most
    /// `max_len` bytes to `out`.
    ///
    /// After an error the history is as it was before the message. A
    /// message that cannot be inflated leaves the two ends' windows out of
    /// step, so the connection cannot go on anyway.
    pub fn inflate_message(&mut self, payload: &[u8], out: &mut Vec<u8>, max_len: usize) -> Result<(), InflateError> {
        self.inflate_message_granted(payload, out, max_len, max_len, &mut |_| false)
    }

    /// [`Inflater::inflate_message`], but only the first `first` bytes of
    /// output are free: past them, `grant(n)` is asked for `n` more (64 KiB
    /// at a time, or exactly what is missing if that is refused), and
    /// output stops with `TooLarge` when it says no. A server passes its
    /// shared memory budget here, so that the bytes a message inflates to
    /// are taken from the budget as they appear, in one pass.
    pub fn inflate_message_granted(
        &mut self,
        payload: &[u8],
        out: &mut Vec<u8>,
        max_len: usize,
        first: usize,
        grant: &mut dyn FnMut(usize) -> bool,
    ) -> Result<(), InflateError> {
        let start = out.len();
        let mut decode = Decode::new(
            BitReader::with_tail(payload, &MESSAGE_TAIL),
            out,
            max_len,
            &self.history,
            self.window,
        );
        decode.limit = start.saturating_add(first.min(max_len));
        decode.grant = Some(grant);
        decode.run(End::Message {
            payload_len: payload.len(),
        })?;
        if self.context_takeover {
            self.remember(&out[start..]);
        }
        Ok(())
    }

    /// Keeps the last `window` bytes of history followed by `new`.
    fn remember(&mut self, new: &[u8]) {
        if self.history.capacity() < self.window {
            self.history.reserve_exact(self.window - self.history.len());
        }
        if new.len() >= self.window {
            self.history.clear();
            self.history.extend_from_slice(&new[new.len() - self.window..]);
        } else {
            let keep = self.window - new.len();
            if self.history.len() > keep {
                self.history.drain(..self.history.len() - keep);
            }
            self.history.extend_from_slice(new);
        }
    }

    /// Forgets the history and frees its memory: the next message may not
    /// refer to earlier ones.
    pub fn reset(&mut self) {
        self.history = Vec::new();
    }

    /// Bytes this inflater holds between messages.
    pub fn memory(&self) -> usize {
        self.history.capacity()
    }
}

/// When decoding stops.
#[derive(Clone, Copy)]
enum End {
    /// At the end of the final block; nothing may follow.
    FinalBlock,
    /// When the input is used up at a block boundary; `payload_len` is the
    /// length of the input without the appended tail.
    Message { payload_len: usize },
}

/// One run of the decoder over one input.
struct Decode<'a> {
    bits: BitReader<'a>,
    out: &'a mut Vec<u8>,
    /// Length of `out` before this run: the output starts there.
    start: usize,
    /// Length `out` must not pass.
    limit: usize,
    max_len: usize,
    history: &'a [u8],
    window: usize,
    /// Asked for room past `limit` (`Inflater::inflate_message_granted`).
    grant: Option<&'a mut dyn FnMut(usize) -> bool>,
}

impl<'a> Decode<'a> {
    fn new(bits: BitReader<'a>, out: &'a mut Vec<u8>, max_len: usize, history: &'a [u8], window: usize) -> Decode<'a> {
        let start = out.len();
        Decode {
            bits,
            limit: start.saturating_add(max_len),
            start,
            out,
            max_len,
            history,
            window,
            grant: None,
        }
    }

    /// Whether the output may reach `need` bytes: within the limit, or
    /// once the caller has granted more (never past `max_len`).
    fn allow(&mut self, need: usize) -> bool {
        let (limit, hard) = (self.limit, self.start.saturating_add(self.max_len));
        let granted = match self.grant.as_mut() {
            Some(grant) if need > limit && need <= hard => [need.max(limit.saturating_add(64 * 1024)).min(hard), need]
                .into_iter()
                .find(|&new| grant(new - limit)),
            _ => return need <= limit,
        };
        let Some(new) = granted else { return false };
        self.limit = new;
        self.grow(need - self.out.len()); // reserved now, within the new limit
        true
    }

    fn run(&mut self, end: End) -> Result<(), InflateError> {
        loop {
            // §3.2.3: BFINAL, then BTYPE, from the lowest bit.
            let header = self.bits.bits(3).ok_or(InflateError::Truncated)?;
            match header >> 1 {
                0 => self.stored()?,
                1 => {
                    let (litlen, dist) = fixed_decoders();
                    self.codes(litlen, dist)?;
                }
                2 => {
                    let (litlen, dist) = self.dynamic_header()?;
                    self.codes(&litlen, &dist)?;
                }
                _ => return Err(InflateError::ReservedBlockType),
            }
            let last = header & 1 == 1;
            match end {
                End::FinalBlock if last => {
                    self.bits.align();
                    return match self.bits.bits_left() / 8 {
                        0 => Ok(()),
                        bytes => Err(InflateError::TrailingData { bytes }),
                    };
                }
                End::FinalBlock => {}
                End::Message { payload_len } => {
                    // RFC 7692 §7.2.1: a final block is padded to a byte
                    // boundary, and more blocks may follow it.
                    if last {
                        self.bits.align();
                    }
                    // Done when the payload's own bytes are used up (what is
                    // left is the appended tail, or nothing), or only the
                    // padding of its last byte remains.
                    if self.bits.consumed_bits() >= payload_len * 8 || self.bits.bits_left() < 8 {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// §3.2.4: skip to a byte boundary, LEN, NLEN, then LEN bytes as they are.
    fn stored(&mut self) -> Result<(), InflateError> {
        self.bits.align();
        let len = self.bits.bits(16).ok_or(InflateError::Truncated)?;
        let nlen = self.bits.bits(16).ok_or(InflateError::Truncated)?;
        if len != !nlen & 0xffff {
            return Err(InflateError::StoredLengthMismatch {
                len: len as u16,
                nlen: nlen as u16,
            });
        }
        let (head, tail) = self.bits.bytes(len as usize).ok_or(InflateError::Truncated)?;
        self.room(len as usize)?;
        self.out.extend_from_slice(head);
        self.out.extend_from_slice(tail);
        Ok(())
    }

    /// §3.2.7: the code lengths of a dynamic block, themselves Huffman coded.
    fn dynamic_header(&mut self) -> Result<(Decoder, Decoder), InflateError> {
        let truncated = InflateError::Truncated;
        let hlit = self.bits.bits(5).ok_or(truncated.clone())? as usize + 257;
        let hdist = self.bits.bits(5).ok_or(truncated.clone())? as usize + 1;
        let hclen = self.bits.bits(4).ok_or(truncated.clone())? as usize + 4;
        if hlit > LITLEN_SYMBOLS || hdist > DIST_SYMBOLS {
            return Err(InflateError::TooManyCodes {
                litlen: hlit,
                dist: hdist,
            });
        }
        let mut cl_lengths = [0u8; 19];
        for &symbol in &CODE_LENGTH_ORDER[..hclen] {
            cl_lengths[symbol] = self.bits.bits(3).ok_or(truncated.clone())? as u8;
        }
        let cl = Decoder::new(&cl_lengths, 7, false, |s| entry(0, s as u32))
            .map_err(|e| InflateError::from_code(e, CodeSet::CodeLength))?;

        // Literal/length and distance lengths form one sequence; a repeat
        // may run from one into the other.
        let mut lengths = [0u8; LITLEN_SYMBOLS + DIST_SYMBOLS];
        let n = hlit + hdist;
        let mut i = 0;
        while i < n {
            self.bits.refill();
            let symbol = cl.decode(&mut self.bits) >> 16;
            let (value, repeat) = match symbol {
                0..=15 => (symbol as u8, 1),
                16 => {
                    let Some(&previous) = i.checked_sub(1).map(|p| &lengths[p]) else {
                        return Err(InflateError::RepeatWithoutPrevious);
                    };
                    (previous, 3 + self.bits.take(2) as usize)
                }
                17 => (0, 3 + self.bits.take(3) as usize),
                _ => (0, 11 + self.bits.take(7) as usize),
            };
            if self.bits.overrun() {
                return Err(truncated);
            }
            if i + repeat > n {
                return Err(InflateError::RepeatPastEnd);
            }
            lengths[i..i + repeat].fill(value);
            i += repeat;
        }
        if lengths[END_OF_BLOCK] == 0 {
            return Err(InflateError::MissingEndOfBlock);
        }
        let litlen = Decoder::new(&lengths[..hlit], LITLEN_ROOT, true, litlen_meaning)
            .map_err(|e| InflateError::from_code(e, CodeSet::LiteralLength))?;
        let dist = Decoder::new(&lengths[hlit..n], DIST_ROOT, true, dist_meaning)
            .map_err(|e| InflateError::from_code(e, CodeSet::Distance))?;
        Ok((litlen, dist))
    }

    /// §3.2.5: literals, lengths with distances, until end of block.
    fn codes(&mut self, litlen: &Decoder, dist: &Decoder) -> Result<(), InflateError> {
        loop {
            if self.out.capacity() - self.out.len() < MAX_MATCH {
                self.grow(MAX_MATCH);
            }
            // One refill covers the longest symbol: a 15-bit length code, 5
            // extra bits, a 15-bit distance code and 13 extra bits.
            self.bits.refill();
            let e = litlen.decode(&mut self.bits);
            if e & 0xff00 == 0 {
                if self.bits.overrun() {
                    return Err(InflateError::Truncated);
                }
                if self.out.len() >= self.limit && !self.allow(self.out.len() + 1) {
                    return Err(self.too_large());
                }
                self.out.push((e >> 16) as u8);
            } else if e & BASE != 0 {
                let length = (e >> 16) as usize + self.bits.take((e >> 8) & 0xf) as usize;
                let d = dist.decode(&mut self.bits);
                if d & BASE == 0 {
                    return Err(InflateError::invalid(d, CodeSet::Distance));
                }
                let distance = (d >> 16) as usize + self.bits.take((d >> 8) & 0xf) as usize;
                if self.bits.overrun() {
                    return Err(InflateError::Truncated);
                }
                self.copy(distance, length)?;
            } else if self.bits.overrun() {
                return Err(InflateError::Truncated);
            } else if e & END != 0 {
                return Ok(());
            } else {
                return Err(InflateError::invalid(e, CodeSet::LiteralLength));
            }
        }
    }

    /// Appends `length` bytes copied from `distance` bytes back (§3.2.5).
    fn copy(&mut self, distance: usize, length: usize) -> Result<(), InflateError> {
        if distance > self.window {
            return Err(InflateError::DistanceBeyondWindow {
                distance,
                window: self.window,
            });
        }
        let produced = self.out.len() - self.start;
        if distance > produced + self.history.len() {
            return Err(InflateError::DistanceTooFar {
                distance,
                available: produced + self.history.len(),
            });
        }
        if self.out.len() + length > self.limit && !self.allow(self.out.len() + length) {
            return Err(self.too_large());
        }
        let mut length = length;
        if distance > produced {
            // The start lies in the previous messages' history.
            let back = distance - produced;
            let from = &self.history[self.history.len() - back..];
            let n = length.min(back);
            self.out.extend_from_slice(&from[..n]);
            length -= n;
            if length == 0 {
                return Ok(());
            }
            // The rest continues with this message's first bytes.
        }
        let from = self.out.len() - distance;
        if distance >= length {
            self.out.extend_from_within(from..from + length);
        } else if distance == 1 {
            let byte = self.out[from];
            self.out.resize(self.out.len() + length, byte);
        } else {
            // Overlapping: each pass copies everything from `from` to the
            // end, so the repeated pattern doubles until it is long enough.
            while length > 0 {
                let n = length.min(self.out.len() - from);
                self.out.extend_from_within(from..from + n);
                length -= n;
            }
        }
        Ok(())
    }

    /// Makes room for `n` more bytes, or fails without allocating.
    fn room(&mut self, n: usize) -> Result<(), InflateError> {
        if self.out.len() + n > self.limit && !self.allow(self.out.len() + n) {
            return Err(self.too_large());
        }
        self.grow(n);
        Ok(())
    }

    /// Grows the output's capacity by doubling, never past the limit, so a
    /// bomb stops at the limit without a larger allocation first.
    fn grow(&mut self, n: usize) {
        let len = self.out.len();
        let want = (len + n).max(2 * self.out.capacity()).max(1024).min(self.limit);
        if want > self.out.capacity() {
            self.out.reserve_exact(want - len);
        }
    }

    fn too_large(&self) -> InflateError {
        InflateError::TooLarge { limit: self.max_len }
    }
}

/// Root bits of the literal/length table: codes up to 10 bits take one
/// lookup, the rare longer ones two.
const LITLEN_ROOT: u32 = 10;
/// Root bits of the distance table.
const DIST_ROOT: u32 = 8;

/// What each literal/length symbol means (§3.2.5).
fn litlen_meaning(symbol: usize) -> u32 {
    match symbol {
        0..=255 => entry(0, symbol as u32),
        END_OF_BLOCK => entry(END, 0),
        257..=285 => {
            let i = symbol - 257;
            entry(BASE | (LENGTH_EXTRA[i] as u32) << 8, LENGTH_BASE[i] as u32)
        }
        _ => entry(INVALID, symbol as u32),
    }
}

/// What each distance symbol means (§3.2.5).
fn dist_meaning(symbol: usize) -> u32 {
    match symbol {
        0..=29 => entry(BASE | (DIST_EXTRA[symbol] as u32) << 8, DIST_BASE[symbol] as u32),
        _ => entry(INVALID, symbol as u32),
    }
}

/// The fixed codes of §3.2.6, built once.
fn fixed_decoders() -> &'static (Decoder, Decoder) {
    static FIXED: OnceLock<(Decoder, Decoder)> = OnceLock::new();
    FIXED.get_or_init(|| {
        let litlen = Decoder::new(&fixed_litlen_lengths(), LITLEN_ROOT, false, litlen_meaning);
        let dist = Decoder::new(&fixed_dist_lengths(), DIST_ROOT, false, dist_meaning);
        (
            litlen.expect("the fixed code is complete"),
            dist.expect("the fixed code is complete"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::bits::BitWriter;
    use crate::deflate::huffman::reverse;

    fn window(bits: u8) -> WindowBits {
        WindowBits::new(bits).unwrap()
    }

    #[test]
    fn the_examples_of_rfc_7692_section_7_2_3_inflate_to_hello() {
        let mut inflater = Inflater::new(WindowBits::MAX, true);
        for payload in [
            &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00][..], // §7.2.3.1
            &[0xf2, 0x00, 0x11, 0x00, 0x00],                 // §7.2.3.2: refers to the first
            &[0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00], // §7.2.3.3: stored
            &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00], // §7.2.3.4: BFINAL = 1
            &[
                0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
            ], // §7.2.3.5
        ] {
            let mut out = Vec::new();
            inflater.inflate_message(payload, &mut out, 100).unwrap();
            assert_eq!(out, b"Hello", "{payload:02x?}");
        }
        // §7.2.3.6: an empty message is the single byte 0x00.
        let mut out = Vec::new();
        inflater.inflate_message(&[0x00], &mut out, 100).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn a_payload_that_kept_its_tail_still_inflates() {
        // The appended tail then follows a complete stored block: unread.
        let mut out = Vec::new();
        let whole = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00, 0x00, 0xff, 0xff];
        Inflater::new(WindowBits::MAX, false)
            .inflate_message(&whole, &mut out, 100)
            .unwrap();
        assert_eq!(out, b"Hello");
    }

    #[test]
    fn without_context_takeover_a_message_cannot_refer_to_the_previous_one() {
        let mut inflater = Inflater::new(WindowBits::MAX, false);
        let mut out = Vec::new();
        inflater
            .inflate_message(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &mut out, 100)
            .unwrap();
        let err = inflater
            .inflate_message(&[0xf2, 0x00, 0x11, 0x00, 0x00], &mut out, 100)
            .unwrap_err();
        // The second message is "H" and then "ello" from 5 bytes back.
        assert_eq!(
            err,
            InflateError::DistanceTooFar {
                distance: 5,
                available: 1
            }
        );
        assert_eq!(inflater.memory(), 0);
    }

    #[test]
    fn the_history_kept_is_one_window_at_most() {
        let mut inflater = Inflater::new(window(8), true);
        let mut stored = vec![0x00, 0x2c, 0x01, 0xd3, 0xfe]; // a stored block of 300 bytes
        stored.extend((0..300).map(|i| i as u8));
        stored.push(0x00); // the start of the sync flush's empty stored block
        let mut out = Vec::new();
        inflater.inflate_message(&stored, &mut out, 1000).unwrap();
        assert_eq!(inflater.history.len(), 256);
        assert_eq!(inflater.history[..], out[44..]);
    }

    #[test]
    fn length_symbol_284_with_all_extra_bits_means_258_as_in_zlib() {
        let mut data = Vec::new();
        let mut w = BitWriter::new(&mut data);
        w.put(0b011, 3); // BFINAL, fixed
        w.put(reverse(0x30 + b'a' as u16, 8) as u32, 8);
        w.put(reverse(0b1100_0100, 8) as u32, 8); // 284
        w.put(31, 5);
        w.put(0, 5); // distance 1
        w.put(0, 7); // end of block
        w.align();
        assert_eq!(inflate(&data, 1000).unwrap(), [b'a'; 259]);
    }

    #[test]
    fn output_capacity_never_passes_the_limit() {
        // A fixed block: literal 'a', then length 258 distance 1, many times.
        let mut data = Vec::new();
        let mut w = BitWriter::new(&mut data);
        w.put(0b011, 3); // BFINAL, fixed
        w.put(reverse(0x30 + b'a' as u16, 8) as u32, 8);
        for _ in 0..1000 {
            w.put(reverse(0b11000101, 8) as u32, 8); // 285: length 258
            w.put(0, 5); // distance code 0: distance 1
        }
        w.put(0, 7); // end of block
        w.align();
        assert_eq!(inflate(&data, 1 + 258 * 1000).unwrap().len(), 1 + 258 * 1000);
        let mut out = Vec::new();
        let err = Decode::new(BitReader::new(&data), &mut out, 10_000, &[], MAX_WINDOW)
            .run(End::FinalBlock)
            .unwrap_err();
        assert_eq!(err, InflateError::TooLarge { limit: 10_000 });
        assert!(out.capacity() <= 10_000, "capacity {}", out.capacity());
    }
}
