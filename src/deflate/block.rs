//! Writing one block, in whichever of the three forms is smallest
//! (RFC 1951 §3.2.3-§3.2.7).
//!
//! The encoder knows every symbol of a block before writing it, so it can
//! count the exact size of each form and pick the smallest:
//!
//! - *stored* (§3.2.4): 3 header bits, padding to a byte, LEN and NLEN,
//!   then the bytes; the right choice for data that does not compress
//!   (random or already compressed bytes), which it grows by 5 bytes per
//!   65 535;
//! - *fixed* (§3.2.6): the predefined codes, no table to send; best for
//!   short blocks, where a table would cost more than it saves;
//! - *dynamic* (§3.2.7): codes built for this block's symbol counts
//!   ([`code_lengths`]), sent first as a list of code lengths, which is
//!   itself run-length coded and Huffman coded with a third, small code.

use std::sync::OnceLock;

use super::bits::BitWriter;
use super::huffman::{canonical_codes, code_lengths, reverse, MAX_CODE_BITS};
use super::tables::{
    dist_symbol, fixed_dist_lengths, fixed_litlen_lengths, length_symbol, CODE_LENGTH_ORDER, CODE_LENGTH_SYMBOLS,
    DIST_EXTRA, DIST_SYMBOLS, END_OF_BLOCK, LENGTH_EXTRA,
};
use super::tokens::{Token, Tokens};

/// Most bytes one stored block can hold: LEN is 16 bits (§3.2.4).
pub const MAX_STORED: usize = 65_535;

/// The three forms of a block (BTYPE, §3.2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockType {
    /// BTYPE 00: the bytes as they are.
    Stored,
    /// BTYPE 01: the fixed Huffman codes.
    Fixed,
    /// BTYPE 10: Huffman codes sent with the block.
    Dynamic,
}

/// A Huffman code ready for writing: each symbol's bit-reversed code and
/// its length.
#[derive(Clone, Debug)]
struct Code {
    codes: Vec<u16>,
    lengths: Vec<u8>,
}

impl Code {
    fn new(lengths: Vec<u8>) -> Code {
        let codes = canonical_codes(&lengths)
            .iter()
            .zip(&lengths)
            .map(|(&code, &len)| reverse(code, len))
            .collect();
        Code { codes, lengths }
    }

    #[inline(always)]
    fn put(&self, w: &mut BitWriter, symbol: usize) {
        w.put(self.codes[symbol] as u32, self.lengths[symbol] as u32);
    }
}

/// The fixed codes of §3.2.6, built once.
fn fixed_codes() -> &'static (Code, Code) {
    static FIXED: OnceLock<(Code, Code)> = OnceLock::new();
    FIXED.get_or_init(|| {
        (
            Code::new(fixed_litlen_lengths().to_vec()),
            Code::new(fixed_dist_lengths()[..DIST_SYMBOLS].to_vec()),
        )
    })
}

/// The sizes of a block in each form, and the dynamic codes: what the
/// encoder decides with, and what `examples/deflate_demo.rs` shows.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The smallest form (stored wins ties, then fixed).
    pub kind: BlockType,
    /// Bits as stored blocks, header and padding included.
    pub stored_bits: usize,
    /// Bits with the fixed codes, header included.
    pub fixed_bits: usize,
    /// Bits with dynamic codes, header and code tables included.
    pub dynamic_bits: usize,
    /// Of `dynamic_bits`, the bits of the code tables.
    pub table_bits: usize,
    /// Dynamic code length of each literal/length symbol (0: unused).
    pub litlen_lengths: Vec<u8>,
    /// Dynamic code length of each distance symbol (0: unused).
    pub dist_lengths: Vec<u8>,
    /// Code length of each code length symbol 0-18.
    pub code_length_lengths: Vec<u8>,
    /// The code lengths as sent: (symbol 0-18, extra bits value).
    run_lengths: Vec<(u8, u8)>,
    hlit: usize,
    hdist: usize,
    hclen: usize,
}

impl Plan {
    /// Plans a block of `tokens` standing for `raw_len` bytes, to be written
    /// starting at bit `bit_pos` of the output (that decides the padding
    /// of a stored block).
    pub fn new(tokens: &Tokens, raw_len: usize, bit_pos: usize) -> Plan {
        let litlen_lengths = code_lengths(&tokens.litlen_freq, MAX_CODE_BITS);
        let dist_lengths = code_lengths(&tokens.dist_freq, MAX_CODE_BITS);
        let hlit = last_used(&litlen_lengths).max(257);
        let hdist = last_used(&dist_lengths).max(1);
        let all: Vec<u8> = litlen_lengths[..hlit]
            .iter()
            .chain(&dist_lengths[..hdist])
            .copied()
            .collect();
        let run_lengths = run_lengths(&all);
        let mut cl_freq = [0u32; CODE_LENGTH_SYMBOLS];
        for &(symbol, _) in &run_lengths {
            cl_freq[symbol as usize] += 1;
        }
        let code_length_lengths = code_lengths(&cl_freq, 7);
        let hclen = CODE_LENGTH_ORDER
            .iter()
            .rposition(|&s| code_length_lengths[s] != 0)
            .map_or(4, |i| (i + 1).max(4));
        let table_bits = 5
            + 5
            + 4
            + 3 * hclen
            + run_lengths
                .iter()
                .map(|&(s, _)| code_length_lengths[s as usize] as usize + repeat_extra_bits(s) as usize)
                .sum::<usize>();

        let (fixed_litlen, fixed_dist) = fixed_codes();
        let fixed_bits = 3 + data_bits(tokens, &fixed_litlen.lengths, &fixed_dist.lengths);
        let dynamic_bits = 3 + table_bits + data_bits(tokens, &litlen_lengths, &dist_lengths);
        let stored_bits = stored_bits(bit_pos, raw_len);
        let kind = if stored_bits <= fixed_bits.min(dynamic_bits) {
            BlockType::Stored
        } else if fixed_bits <= dynamic_bits {
            BlockType::Fixed
        } else {
            BlockType::Dynamic
        };
        Plan {
            kind,
            stored_bits,
            fixed_bits,
            dynamic_bits,
            table_bits,
            litlen_lengths,
            dist_lengths,
            code_length_lengths,
            run_lengths,
            hlit,
            hdist,
            hclen,
        }
    }
}

/// One past the last symbol with a code.
fn last_used(lengths: &[u8]) -> usize {
    lengths.iter().rposition(|&l| l != 0).map_or(0, |i| i + 1)
}

/// Extra bits after code length symbols 16, 17 and 18 (§3.2.7).
fn repeat_extra_bits(symbol: u8) -> u32 {
    match symbol {
        16 => 2,
        17 => 3,
        18 => 7,
        _ => 0,
    }
}

/// Bits of the block's symbols and their extra bits under the given code
/// lengths, end of block included (it is counted in `litlen_freq`).
fn data_bits(tokens: &Tokens, litlen_lengths: &[u8], dist_lengths: &[u8]) -> usize {
    let mut bits = 0;
    for (symbol, &freq) in tokens.litlen_freq.iter().enumerate() {
        let extra = if symbol > END_OF_BLOCK {
            LENGTH_EXTRA[symbol - 257]
        } else {
            0
        };
        bits += freq as usize * (litlen_lengths[symbol] as usize + extra as usize);
    }
    for (symbol, &freq) in tokens.dist_freq.iter().enumerate() {
        bits += freq as usize * (dist_lengths[symbol] as usize + DIST_EXTRA[symbol] as usize);
    }
    bits
}

/// Bits to store `len` bytes starting at bit `bit_pos`: one block per
/// 65 535 bytes, each with its header, padding, LEN and NLEN.
fn stored_bits(bit_pos: usize, len: usize) -> usize {
    let blocks = len.div_ceil(MAX_STORED).max(1);
    let first_padding = (8 - (bit_pos + 3) % 8) % 8;
    first_padding + blocks * 3 + (blocks - 1) * 5 + blocks * 32 + 8 * len
}

/// Run-length codes for a sequence of code lengths (§3.2.7): 16 repeats
/// the previous length 3-6 times, 17 writes 3-10 zeros, 18 writes 11-138.
fn run_lengths(lengths: &[u8]) -> Vec<(u8, u8)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lengths.len() {
        let len = lengths[i];
        let mut run = lengths[i..].iter().take_while(|&&l| l == len).count();
        i += run;
        if len == 0 {
            while run >= 11 {
                let n = run.min(138);
                out.push((18, (n - 11) as u8));
                run -= n;
            }
            if run >= 3 {
                out.push((17, (run - 3) as u8));
                run = 0;
            }
        } else {
            out.push((len, 0));
            run -= 1;
            while run >= 3 {
                let n = run.min(6);
                out.push((16, (n - 3) as u8));
                run -= n;
            }
        }
        out.extend(std::iter::repeat((len, 0)).take(run));
    }
    out
}

/// Writes `tokens` (standing for the bytes `raw`) as one block in the form
/// `plan` chose; `last` sets BFINAL.
pub fn write(w: &mut BitWriter, plan: &Plan, tokens: &Tokens, raw: &[u8], last: bool) {
    match plan.kind {
        BlockType::Stored => write_stored(w, raw, last),
        BlockType::Fixed => {
            w.put(last as u32 | 0b01 << 1, 3);
            let (litlen, dist) = fixed_codes();
            write_tokens(w, tokens, litlen, dist);
        }
        BlockType::Dynamic => {
            w.put(last as u32 | 0b10 << 1, 3);
            w.put((plan.hlit - 257) as u32, 5);
            w.put((plan.hdist - 1) as u32, 5);
            w.put((plan.hclen - 4) as u32, 4);
            for &symbol in &CODE_LENGTH_ORDER[..plan.hclen] {
                w.put(plan.code_length_lengths[symbol] as u32, 3);
            }
            let cl = Code::new(plan.code_length_lengths.clone());
            for &(symbol, extra) in &plan.run_lengths {
                cl.put(w, symbol as usize);
                w.put(extra as u32, repeat_extra_bits(symbol));
            }
            let litlen = Code::new(plan.litlen_lengths.clone());
            let dist = Code::new(plan.dist_lengths.clone());
            write_tokens(w, tokens, &litlen, &dist);
        }
    }
}

/// §3.2.5: each literal, or length code + extra bits + distance code +
/// extra bits, then end of block.
fn write_tokens(w: &mut BitWriter, tokens: &Tokens, litlen: &Code, dist: &Code) {
    for token in tokens.iter() {
        match token {
            Token::Literal(byte) => litlen.put(w, byte as usize),
            Token::Match { length, distance } => {
                let (symbol, bits, extra) = length_symbol(length as usize);
                litlen.put(w, symbol);
                w.put(extra, bits);
                let (symbol, bits, extra) = dist_symbol(distance as usize);
                dist.put(w, symbol);
                w.put(extra, bits);
            }
        }
    }
    litlen.put(w, END_OF_BLOCK);
}

/// §3.2.4: `raw` as stored blocks of at most 65 535 bytes; BFINAL on the
/// last one if `last`. Empty `raw` makes one empty block.
pub fn write_stored(w: &mut BitWriter, raw: &[u8], last: bool) {
    let mut chunks = raw.chunks(MAX_STORED).peekable();
    if chunks.peek().is_none() {
        write_stored_chunk(w, &[], last);
    }
    while let Some(chunk) = chunks.next() {
        write_stored_chunk(w, chunk, last && chunks.peek().is_none());
    }
}

fn write_stored_chunk(w: &mut BitWriter, chunk: &[u8], last: bool) {
    w.put(last as u32, 3); // BTYPE 00
    w.align();
    let len = chunk.len() as u16;
    w.put(len as u32 | (!len as u32) << 16, 32);
    w.bytes(chunk);
}

/// An empty final block with the fixed codes: 3 header bits and the 7-bit
/// end-of-block code, two bytes `03 00` once padded.
pub fn write_empty_final(w: &mut BitWriter) {
    w.put(0b011, 3);
    fixed_codes().0.put(w, END_OF_BLOCK);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::inflater::inflate;

    fn tokens_of(data: &[u8]) -> Tokens {
        let mut tokens = Tokens::with_capacity(data.len());
        for t in crate::deflate::lz77::parse(data, Default::default(), Default::default()) {
            tokens.push(t);
        }
        tokens
    }

    fn written(data: &[u8], kind: Option<BlockType>) -> (Plan, Vec<u8>) {
        let tokens = tokens_of(data);
        let mut plan = Plan::new(&tokens, data.len(), 0);
        if let Some(kind) = kind {
            plan.kind = kind;
        }
        let mut out = Vec::new();
        let mut w = BitWriter::new(&mut out);
        write(&mut w, &plan, &tokens, data, true);
        w.align();
        (plan, out)
    }

    #[test]
    fn each_form_decodes_and_has_the_size_that_was_planned() {
        let text = b"permessage-deflate compresses each message; a message may refer to the previous ones.".repeat(5);
        for kind in [BlockType::Stored, BlockType::Fixed, BlockType::Dynamic] {
            let (plan, out) = written(&text, Some(kind));
            let bits = match kind {
                BlockType::Stored => plan.stored_bits,
                BlockType::Fixed => plan.fixed_bits,
                BlockType::Dynamic => plan.dynamic_bits,
            };
            assert_eq!(out.len(), bits.div_ceil(8), "{kind:?}");
            assert_eq!(inflate(&out, 1 << 20).unwrap(), text, "{kind:?}");
        }
    }

    #[test]
    fn short_text_gets_fixed_codes_long_text_dynamic_random_bytes_stored() {
        assert_eq!(written(b"Hello", None).0.kind, BlockType::Fixed);
        let words: Vec<u8> = (0..4000u32)
            .flat_map(|i| format!("{} ", i * 7919 % 1000).into_bytes())
            .collect();
        assert_eq!(written(&words, None).0.kind, BlockType::Dynamic);
        let mut x = 7u64;
        let random: Vec<u8> = (0..3000)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (x >> 56) as u8
            })
            .collect();
        assert_eq!(written(&random, None).0.kind, BlockType::Stored);
    }

    #[test]
    fn runs_of_code_lengths_use_the_repeat_codes() {
        let mut lengths = vec![8u8; 10];
        lengths.extend([0; 150]);
        lengths.extend([5, 5, 0, 0, 0]);
        let rle = run_lengths(&lengths);
        assert_eq!(
            rle,
            [(8, 0), (16, 3), (16, 0), (18, 127), (18, 1), (5, 0), (5, 0), (17, 0)]
        );
        // Expanding gives the lengths back.
        let mut back: Vec<u8> = Vec::new();
        for (s, extra) in rle {
            match s {
                16 => back.extend(std::iter::repeat(*back.last().unwrap()).take(3 + extra as usize)),
                17 => back.extend(std::iter::repeat(0).take(3 + extra as usize)),
                18 => back.extend(std::iter::repeat(0).take(11 + extra as usize)),
                l => back.push(l),
            }
        }
        assert_eq!(back, lengths);
    }

    #[test]
    fn stored_size_counts_a_header_per_65535_bytes() {
        assert_eq!(stored_bits(0, 0), 3 + 5 + 32);
        assert_eq!(stored_bits(5, 10), 3 + 32 + 80, "no padding needed after bit 8");
        assert_eq!(stored_bits(0, 65_536), 2 * 40 + 8 * 65_536);
    }
}
