//! Bits in and out, least significant bit first (RFC 1951 §3.1.1).
//!
//! DEFLATE packs its fields starting at the lowest bit of each byte: a
//! 3-bit block header takes bits 0-2 of the first byte, the next field
//! starts at bit 3, and a field may run on into the next byte. Numbers
//! (lengths, extra bits) are stored low bit first, so they read back as
//! plain integers. Huffman codes are the exception: they are sent starting
//! with their *most* significant bit, which is why the code tables in
//! [`huffman`](super::huffman) hold bit-reversed codes.
//!
//! Both ends keep a 64-bit accumulator, so most fields cost one shift and
//! one mask rather than a loop over bits.

/// Reads bit fields from a byte slice, optionally followed by a few more
/// bytes (the `00 00 ff ff` tail RFC 7692 §7.2.2 appends to a message)
/// without copying the input to join them.
///
/// Reading past the end yields zero bits and marks the reader as
/// [overrun](BitReader::overrun); the decoder checks that after each symbol,
/// so a truncated stream is an error, never an endless loop.
#[derive(Debug)]
pub struct BitReader<'a> {
    data: &'a [u8],
    tail: &'a [u8],
    /// Next byte to load, counted over `data` then `tail`; it runs past
    /// their end when zero bytes have been loaded in their place.
    pos: usize,
    /// Loaded bits not yet consumed, the next one in bit 0.
    buf: u64,
    /// How many bits of `buf` are loaded (56 to 63 after a refill).
    count: u32,
}

impl<'a> BitReader<'a> {
    /// Reads `data`.
    pub fn new(data: &'a [u8]) -> BitReader<'a> {
        BitReader::with_tail(data, &[])
    }

    /// Reads `data` and then `tail`.
    pub fn with_tail(data: &'a [u8], tail: &'a [u8]) -> BitReader<'a> {
        BitReader {
            data,
            tail,
            pos: 0,
            buf: 0,
            count: 0,
        }
    }

    fn total_bytes(&self) -> usize {
        self.data.len() + self.tail.len()
    }

    /// Bits consumed so far, padding included.
    pub fn consumed_bits(&self) -> usize {
        self.pos * 8 - self.count as usize
    }

    /// Whether more bits were consumed than the input holds.
    #[inline(always)]
    pub fn overrun(&self) -> bool {
        self.consumed_bits() > self.total_bytes() * 8
    }

    /// Input bits not consumed yet.
    pub fn bits_left(&self) -> usize {
        (self.total_bytes() * 8).saturating_sub(self.consumed_bits())
    }

    /// Tops the accumulator up to at least 56 bits: eight bytes at once
    /// while the input has them, then byte by byte, then zeros.
    #[inline(always)]
    pub fn refill(&mut self) {
        if let Some(chunk) = self.data.get(self.pos..self.pos + 8) {
            let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
            // Load all eight bytes, count only the whole bytes that fit; the
            // rest are loaded again, unchanged, by the next refill.
            self.buf |= word << self.count;
            self.pos += (63 - self.count as usize) >> 3;
            self.count |= 56;
        } else {
            self.refill_slowly();
        }
    }

    fn refill_slowly(&mut self) {
        while self.count < 56 {
            let byte = match self.data.get(self.pos) {
                Some(&b) => b,
                None => self.tail.get(self.pos - self.data.len()).copied().unwrap_or(0),
            };
            self.buf |= (byte as u64) << self.count;
            self.pos += 1;
            self.count += 8;
        }
    }

    /// The loaded bits, the next one in bit 0 (call [`refill`](Self::refill) first).
    #[inline(always)]
    pub fn peek(&self) -> u64 {
        self.buf
    }

    /// Drops `n` bits (at most the loaded count).
    #[inline(always)]
    pub fn consume(&mut self, n: u32) {
        debug_assert!(n <= self.count);
        self.buf >>= n;
        self.count -= n;
    }

    /// Takes an `n`-bit number (n at most 32) from the loaded bits.
    #[inline(always)]
    pub fn take(&mut self, n: u32) -> u32 {
        let value = (self.buf & ((1u64 << n) - 1)) as u32;
        self.consume(n);
        value
    }

    /// Refills, then takes an `n`-bit number; `None` past the end.
    pub fn bits(&mut self, n: u32) -> Option<u32> {
        self.refill();
        let value = self.take(n);
        (!self.overrun()).then_some(value)
    }

    /// Skips to the next byte boundary (§3.2.4: stored blocks start on one).
    pub fn align(&mut self) {
        self.consume(self.count % 8);
    }

    /// After [`align`](Self::align): the next `n` whole bytes, as a part of
    /// `data` and a part of `tail`, or `None` if the input is shorter.
    pub fn bytes(&mut self, n: usize) -> Option<(&'a [u8], &'a [u8])> {
        debug_assert_eq!(self.count % 8, 0);
        // Give back the loaded, unconsumed bytes and read straight from the input.
        self.pos -= (self.count / 8) as usize;
        self.buf = 0;
        self.count = 0;
        let end = self.pos.checked_add(n).filter(|&e| e <= self.total_bytes())?;
        let split = self.data.len();
        let head = &self.data[self.pos.min(split)..end.min(split)];
        let tail = &self.tail[self.pos.max(split) - split..end.max(split) - split];
        self.pos = end;
        Some((head, tail))
    }
}

/// Writes bit fields into a byte vector, least significant bit first.
#[derive(Debug)]
pub struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    /// Bits not yet written out, the first in bit 0.
    acc: u64,
    /// How many bits of `acc` are used (below 32 between calls).
    count: u32,
    /// Bytes in `out` when this writer started.
    start: usize,
}

impl<'a> BitWriter<'a> {
    /// Appends to `out`.
    pub fn new(out: &'a mut Vec<u8>) -> BitWriter<'a> {
        let start = out.len();
        BitWriter {
            out,
            acc: 0,
            count: 0,
            start,
        }
    }

    /// Writes the low `n` bits of `bits` (n at most 32).
    #[inline(always)]
    pub fn put(&mut self, bits: u32, n: u32) {
        debug_assert!(n <= 32 && (n == 32 || bits >> n == 0));
        self.acc |= (bits as u64) << self.count;
        self.count += n;
        if self.count >= 32 {
            self.out.extend_from_slice(&(self.acc as u32).to_le_bytes());
            self.acc >>= 32;
            self.count -= 32;
        }
    }

    /// Bits written so far.
    pub fn bit_len(&self) -> usize {
        (self.out.len() - self.start) * 8 + self.count as usize
    }

    /// Pads with zero bits to the next byte boundary and writes out every
    /// whole byte.
    pub fn align(&mut self) {
        let bytes = self.count.div_ceil(8);
        self.out.extend_from_slice(&self.acc.to_le_bytes()[..bytes as usize]);
        self.acc = 0;
        self.count = 0;
    }

    /// After [`align`](Self::align): copies bytes as they are.
    pub fn bytes(&mut self, bytes: &[u8]) {
        debug_assert_eq!(self.count, 0);
        self.out.extend_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_packed_from_the_lowest_bit_of_each_byte() {
        let mut out = Vec::new();
        let mut w = BitWriter::new(&mut out);
        w.put(0b1, 1); // BFINAL
        w.put(0b01, 2); // BTYPE, fixed
        w.put(0b10110, 5);
        w.put(0x1ff, 9); // runs into the next two bytes
        w.align();
        assert_eq!(out, [0b1011_0011, 0xff, 0x01]);

        let mut r = BitReader::new(&out);
        assert_eq!(r.bits(1), Some(1));
        assert_eq!(r.bits(2), Some(1));
        assert_eq!(r.bits(5), Some(0b10110));
        assert_eq!(r.bits(9), Some(0x1ff));
    }

    #[test]
    fn reading_past_the_end_is_reported_not_invented() {
        let mut r = BitReader::new(&[0xff]);
        assert_eq!(r.bits(8), Some(0xff));
        assert_eq!(r.bits_left(), 0);
        assert_eq!(r.bits(1), None);
        assert!(r.overrun());
    }

    #[test]
    fn the_tail_reads_as_if_appended_and_whole_bytes_come_from_both_parts() {
        let data = [0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        let mut r = BitReader::with_tail(&data, &[0xaa, 0xbb]);
        assert_eq!(r.bits(3), Some(0));
        r.align();
        let (a, b) = r.bytes(12).unwrap();
        assert_eq!(a, &data[1..]);
        assert_eq!(b, &[0xaa, 0xbb]);
        assert_eq!(r.bits_left(), 0);
        assert!(r.bytes(1).is_none());
    }
}
