//! Huffman codes as DEFLATE uses them (RFC 1951 §3.2.1, §3.2.2).
//!
//! A *prefix code* gives frequent symbols short bit strings and rare ones
//! long strings, and no string is the start of another, so a reader always
//! knows where a symbol ends. DEFLATE sends only each symbol's code
//! *length*: both ends then derive the same codes by the canonical rule of
//! §3.2.2 (shorter codes first; among equal lengths, in symbol order).
//!
//! Three jobs, one per direction and one shared:
//!
//! - [`code_lengths`]: the encoder's choice of lengths from symbol counts,
//!   the shortest total within a limit (15 bits, or 7 for the code length
//!   code): Huffman's algorithm, or *package-merge* when Huffman's codes
//!   would be too long;
//! - [`canonical_codes`]: lengths to codes (§3.2.2), used by both ends;
//! - [`Decoder`]: a lookup table that decodes a symbol from the next bits
//!   with one or two reads, instead of walking a tree bit by bit.

use super::bits::BitReader;

/// Longest code DEFLATE allows (§3.2.7: lengths are 0-15).
pub const MAX_CODE_BITS: u8 = 15;

/// Reverses the low `n` bits of `code`: Huffman codes are sent from their
/// most significant bit (§3.1.1), everything else from the least.
pub fn reverse(code: u16, n: u8) -> u16 {
    if n == 0 {
        0
    } else {
        code.reverse_bits() >> (16 - n as u32)
    }
}

/// The canonical code of each symbol from its code length, as in §3.2.2
/// (steps 1-3); symbols of length 0 get no code (0 is returned for them).
pub fn canonical_codes(lengths: &[u8]) -> Vec<u16> {
    let mut count = [0u16; 16];
    for &len in lengths {
        count[len as usize] += 1;
    }
    count[0] = 0;
    let mut next = [0u16; 16];
    let mut code = 0u16;
    for bits in 1..16 {
        code = (code + count[bits - 1]) << 1;
        next[bits] = code;
    }
    lengths
        .iter()
        .map(|&len| {
            if len == 0 {
                return 0;
            }
            let c = next[len as usize];
            next[len as usize] += 1;
            c
        })
        .collect()
}

/// Code lengths of at most `limit` bits for symbols seen `freqs` times, with
/// the smallest total `sum(freq * length)`.
///
/// Huffman's algorithm (§3.2.1 cites it) gives the best code with no limit
/// on lengths, and almost always fits in 15 bits. When it does not (a few
/// very rare symbols among frequent ones), *package-merge* finds the best
/// code under the limit instead.
///
/// Symbols with a count of 0 get length 0. At least two symbols always get a
/// code (a symbol is added if only one was seen), so the code is complete:
/// RFC 1951 allows a lone one-bit code, but not every decoder does.
pub fn code_lengths(freqs: &[u32], limit: u8) -> Vec<u8> {
    let mut lengths = vec![0u8; freqs.len()];
    let mut leaves: Vec<(u64, u16)> = freqs
        .iter()
        .enumerate()
        .filter(|(_, &f)| f > 0)
        .map(|(s, &f)| (f as u64, s as u16))
        .collect();
    if leaves.len() < 2 {
        // One code of length 1 each for the seen symbol and a neighbour.
        let seen = leaves.first().map_or(0, |&(_, s)| s as usize);
        let other = if seen == 0 { 1 } else { 0 };
        if freqs.len() >= 2 {
            lengths[seen] = 1;
            lengths[other] = 1;
        }
        return lengths;
    }
    assert!(
        leaves.len() <= 1 << limit,
        "{} symbols cannot fit in {limit} bits",
        leaves.len()
    );
    leaves.sort_unstable();
    if !huffman(&leaves, limit, &mut lengths) {
        package_merge(&leaves, limit, &mut lengths);
    }
    lengths
}

/// Huffman's algorithm: join the two lightest trees until one is left; a
/// symbol's code length is its depth. With the leaves sorted by weight the
/// joined trees come out sorted too, so two queues replace a heap. Returns
/// false, leaving `lengths` alone, if some length would pass `limit`.
fn huffman(leaves: &[(u64, u16)], limit: u8, lengths: &mut [u8]) -> bool {
    const MAX_NODES: usize = 2 * 288 - 1;
    let n = leaves.len();
    let nodes = 2 * n - 1;
    let mut weight = [0u64; MAX_NODES];
    for (w, leaf) in weight.iter_mut().zip(leaves) {
        *w = leaf.0;
    }
    let mut parent = [0u16; MAX_NODES];
    let (mut leaf, mut joined) = (0, n);
    for node in n..nodes {
        let mut lightest = || {
            let take_leaf = leaf < n && (joined >= node || weight[leaf] <= weight[joined]);
            let pick = if take_leaf { &mut leaf } else { &mut joined };
            *pick += 1;
            *pick - 1
        };
        let (a, b) = (lightest(), lightest());
        weight[node] = weight[a] + weight[b];
        parent[a] = node as u16;
        parent[b] = node as u16;
    }
    // Parents come after their children: fill depths from the root down.
    let mut depth = [0u16; MAX_NODES];
    for i in (0..nodes - 1).rev() {
        depth[i] = depth[parent[i] as usize] + 1;
    }
    if depth[..n].iter().any(|&d| d > limit as u16) {
        return false;
    }
    for (i, &(_, symbol)) in leaves.iter().enumerate() {
        lengths[symbol as usize] = depth[i] as u8;
    }
    true
}

/// Package-merge (Larmore and Hirschberg, 1990): the best code lengths of
/// at most `limit` bits. Think of each symbol as coins, one per level 1 to
/// `limit`, each worth the symbol's count; a code is a choice of `2n - 2`
/// coins of least total worth, where a level's coins may be paid in pairs
/// ("packages") from the level below. A symbol's code length is the number
/// of its coins chosen.
fn package_merge(leaves: &[(u64, u16)], limit: u8, lengths: &mut [u8]) {
    let symbols: Vec<(u64, Option<u16>)> = leaves.iter().map(|&(w, s)| (w, Some(s))).collect();
    // levels[0] is the deepest level (`limit`), holding only symbols; each
    // level above merges the symbols with packages of the level below.
    let mut levels: Vec<Vec<(u64, Option<u16>)>> = vec![symbols.clone()];
    for _ in 1..limit {
        let below = levels.last().expect("one level");
        let mut merged = Vec::with_capacity(symbols.len() + below.len() / 2);
        let mut packages = below.chunks_exact(2).map(|p| (p[0].0 + p[1].0, None)).peekable();
        let mut singles = symbols.iter().copied().peekable();
        loop {
            let take_symbol = match (singles.peek(), packages.peek()) {
                (Some(s), Some(p)) => s.0 <= p.0,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            merged.push(if take_symbol { singles.next() } else { packages.next() }.expect("peeked"));
        }
        levels.push(merged);
    }
    // Choose the 2n - 2 cheapest items of the top level; the packages among
    // the first k items of a level are the first 2k items of the level below.
    let mut take = 2 * leaves.len() - 2;
    for level in levels.iter().rev() {
        let mut packages = 0;
        for item in &level[..take] {
            match item.1 {
                Some(symbol) => lengths[symbol as usize] += 1,
                None => packages += 1,
            }
        }
        take = 2 * packages;
    }
}

/// Why a set of code lengths is not a usable prefix code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeError {
    /// More codes of some lengths than bit strings of those lengths exist.
    Oversubscribed,
    /// Some bit strings are no symbol's code (allowed only for a single code).
    Incomplete,
}

// A decoding table entry is a u32:
//   bits 0-7:   bits to consume (the code length, or the root bits of a link)
//   bits 8-15:  flags below, and in bits 8-11 an extra-bit or sub-table bit count
//   bits 16-31: the value (a literal, a base length or distance, a sub-table
//               offset, or an invalid symbol's number)
/// Flag: a sub-table link; bits 8-11 hold its index bits.
pub const LINK: u32 = 0x8000;
/// Flag: end of block.
pub const END: u32 = 0x4000;
/// Flag: a code that decodes to no usable symbol.
pub const INVALID: u32 = 0x2000;
/// Flag: a base value (length or distance); bits 8-11 hold the extra-bit count.
pub const BASE: u32 = 0x1000;
/// The value of an [`INVALID`] entry that no code reaches at all.
pub const NO_CODE: u32 = 0xffff;

/// An entry meaning `flags` with `value` (code length filled in by the builder).
pub const fn entry(flags: u32, value: u32) -> u32 {
    (value << 16) | flags
}

/// A table that decodes one symbol with one lookup of the next `root` bits,
/// or two for codes longer than `root` (each such prefix links to a
/// sub-table for the remaining bits). Entries say what the symbol means, as
/// [`entry`] values, so the decoding loop needs no second table.
#[derive(Clone, Debug)]
pub struct Decoder {
    table: Vec<u32>,
    root: u32,
}

impl Decoder {
    /// Builds the table for `lengths` (one per symbol), where `meaning(s)` is
    /// the entry for symbol `s`. An incomplete code is an error unless
    /// `single_code_ok` and there is at most one code, of length 1 (§3.2.7
    /// allows that for distances; zlib accepts it for both alphabets).
    pub fn new(
        lengths: &[u8],
        root: u32,
        single_code_ok: bool,
        meaning: impl Fn(usize) -> u32,
    ) -> Result<Self, CodeError> {
        let mut count = [0u16; 16];
        for &len in lengths {
            count[len as usize] += 1;
        }
        count[0] = 0;
        // §3.2.2: each length doubles the bit strings; codes use some up.
        let mut left: i32 = 1;
        for &c in &count[1..] {
            left = left * 2 - c as i32;
            if left < 0 {
                return Err(CodeError::Oversubscribed);
            }
        }
        let codes: u16 = count.iter().sum();
        if left > 0 && !(single_code_ok && codes <= 1 && count[2..].iter().all(|&c| c == 0)) {
            return Err(CodeError::Incomplete);
        }
        // No wider table than the longest code needs.
        let longest = count.iter().rposition(|&c| c > 0).unwrap_or(1) as u32;
        let root = root.min(longest).max(1);

        // The symbols in canonical order: by length, then by symbol (§3.2.2).
        let mut start = [0usize; 16];
        for len in 1..15 {
            start[len + 1] = start[len] + count[len] as usize;
        }
        let mut sorted = [0u16; 320];
        for (symbol, &len) in lengths.iter().enumerate() {
            if len != 0 {
                sorted[start[len as usize]] = symbol as u16;
                start[len as usize] += 1;
            }
        }

        let mut table = vec![entry(INVALID, NO_CODE) | 1; 1 << root];
        let mut remaining = count;
        let mut group: Option<(u32, usize, u32)> = None; // prefix, offset, sub-table bits
        let (mut code, mut code_len) = (0u32, 0u32);
        for &symbol in &sorted[..codes as usize] {
            // Codes of one length are consecutive numbers; the next length
            // continues from the next number, shifted left (§3.2.2).
            let len = lengths[symbol as usize] as u32;
            code <<= len - code_len;
            code_len = len;
            let e = meaning(symbol as usize);
            if len <= root {
                // Every slot whose first `len` bits are this code.
                let mut i = reverse(code as u16, len as u8) as usize;
                while i < table.len() {
                    table[i] = e | len;
                    i += 1 << len;
                }
            } else {
                // Longer codes are grouped by their first `root` bits; each
                // group gets a sub-table just deep enough for it.
                let prefix = code >> (len - root);
                let (offset, sub_bits) = match group {
                    Some((p, offset, bits)) if p == prefix => (offset, bits),
                    _ => {
                        let bits = sub_table_bits(&remaining, len, root);
                        let offset = table.len();
                        table.resize(offset + (1 << bits), entry(INVALID, NO_CODE) | 1);
                        let link = entry(LINK | (bits << 8), offset as u32) | root;
                        table[reverse(prefix as u16, root as u8) as usize] = link;
                        group = Some((prefix, offset, bits));
                        (offset, bits)
                    }
                };
                let rest = len - root;
                let mut i = reverse((code & ((1 << rest) - 1)) as u16, rest as u8) as usize;
                while i < 1 << sub_bits {
                    table[offset + i] = e | rest;
                    i += 1 << rest;
                }
            }
            remaining[len as usize] -= 1;
            code += 1;
        }
        Ok(Decoder { table, root })
    }

    /// Decodes the next symbol from `bits` (refilled by the caller with at
    /// least 15 bits) and consumes its code; returns its entry.
    #[inline(always)]
    pub fn decode(&self, bits: &mut BitReader) -> u32 {
        let peek = bits.peek();
        let mut e = self.table[(peek & ((1 << self.root) - 1)) as usize];
        if e & LINK != 0 {
            let sub_bits = (e >> 8) & 0xf;
            let index = (e >> 16) as usize + ((peek >> self.root) & ((1 << sub_bits) - 1)) as usize;
            bits.consume(self.root);
            e = self.table[index];
        }
        bits.consume(e & 0xff);
        e
    }

    /// Table entries (root table and sub-tables), for memory accounting.
    pub fn entries(&self) -> usize {
        self.table.len()
    }
}

/// Index bits of the sub-table for codes of `len` bits and longer under one
/// root prefix: the prefix leaves `2^(len - root)` slots at length `len`;
/// codes of that length take some, each remaining slot splits into two at
/// the next length, until the codes left fill them.
fn sub_table_bits(remaining: &[u16; 16], len: u32, root: u32) -> u32 {
    let mut bits = len - root;
    let mut slots = 1i32 << bits;
    while root + bits < 15 {
        slots -= remaining[(root + bits) as usize] as i32;
        if slots <= 0 {
            break;
        }
        bits += 1;
        slots <<= 1;
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::bits::BitWriter;

    fn kraft_sum(lengths: &[u8]) -> f64 {
        lengths.iter().filter(|&&l| l > 0).map(|&l| 0.5f64.powi(l as i32)).sum()
    }

    #[test]
    fn canonical_codes_match_the_example_of_section_3_2_2() {
        // ABCDEFGH with lengths (3, 3, 3, 3, 3, 2, 4, 4).
        let codes = canonical_codes(&[3, 3, 3, 3, 3, 2, 4, 4]);
        assert_eq!(codes, [0b010, 0b011, 0b100, 0b101, 0b110, 0b00, 0b1110, 0b1111]);
    }

    #[test]
    fn lengths_respect_the_limit_and_form_a_complete_code() {
        // Fibonacci counts are the worst case: plain Huffman would give the
        // rarest of 30 symbols a 29-bit code.
        let mut fib = vec![1u32, 1];
        while fib.len() < 30 {
            let n = fib.len();
            fib.push(fib[n - 1] + fib[n - 2]);
        }
        for limit in [7u8, 9, 15] {
            let lengths = code_lengths(&fib, limit);
            assert!(lengths.iter().all(|&l| (1..=limit).contains(&l)), "{lengths:?}");
            assert_eq!(kraft_sum(&lengths), 1.0);
        }
    }

    #[test]
    fn the_lengths_cost_no_more_than_any_complete_code_within_the_limit() {
        // Every assignment of lengths 1..=limit to up to 7 symbols, against
        // what code_lengths chooses, Huffman or package-merge alike.
        let mut seed = 12345u64;
        for round in 0..300 {
            let n = 2 + round % 6;
            let freqs: Vec<u32> = (0..n)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    1 + (seed >> 33) as u32 % [3, 50, 1000][round % 3]
                })
                .collect();
            let limit = (usize::BITS - (n - 1).leading_zeros()) as u8 + (round % 2) as u8;
            let cost = |l: &[u8]| l.iter().zip(&freqs).map(|(&l, &f)| l as u64 * f as u64).sum::<u64>();
            let mut best = u64::MAX;
            let mut lengths = vec![1u8; n];
            loop {
                if kraft_sum(&lengths) == 1.0 {
                    best = best.min(cost(&lengths));
                }
                // Next assignment, like an odometer in base `limit`.
                let Some(i) = lengths.iter().position(|&l| l < limit) else {
                    break;
                };
                lengths[i] += 1;
                lengths[..i].fill(1);
            }
            let chosen = code_lengths(&freqs, limit);
            assert!(chosen.iter().all(|&l| l <= limit));
            assert_eq!(cost(&chosen), best, "counts {freqs:?}, limit {limit}");
        }
    }

    #[test]
    fn without_a_binding_limit_the_lengths_are_those_of_huffman() {
        // Counts 1, 1, 2, 4, 8: Huffman gives 4, 4, 3, 2, 1.
        assert_eq!(code_lengths(&[1, 1, 2, 4, 8], 15), [4, 4, 3, 2, 1]);
        // Equal counts: equal lengths.
        assert_eq!(code_lengths(&[5; 8], 15), [3; 8]);
    }

    #[test]
    fn a_single_seen_symbol_still_gets_a_complete_code() {
        assert_eq!(code_lengths(&[0, 0, 7, 0], 15), [1, 0, 1, 0]);
        assert_eq!(code_lengths(&[9, 0], 15), [1, 1]);
        assert_eq!(code_lengths(&[0, 0, 0], 15), [1, 1, 0]);
    }

    #[test]
    fn a_table_decodes_every_symbol_short_and_long_codes_alike() {
        // 20 symbols with lengths up to 12 bits, decoded with a 4-bit root.
        let freqs: Vec<u32> = (0..20).map(|i| 1 << (i / 2)).collect();
        let lengths = code_lengths(&freqs, 12);
        assert!(lengths.iter().any(|&l| l > 4));
        let decoder = Decoder::new(&lengths, 4, false, |s| entry(0, s as u32)).unwrap();
        let codes = canonical_codes(&lengths);
        let mut out = Vec::new();
        let mut w = BitWriter::new(&mut out);
        for s in 0..20 {
            w.put(reverse(codes[s], lengths[s]) as u32, lengths[s] as u32);
        }
        w.align();
        let mut r = BitReader::new(&out);
        for s in 0..20 {
            r.refill();
            assert_eq!(decoder.decode(&mut r) >> 16, s as u32);
        }
    }

    #[test]
    fn oversubscribed_and_incomplete_sets_are_refused() {
        let no_meaning = |s: usize| entry(0, s as u32);
        assert_eq!(
            Decoder::new(&[1, 1, 1], 9, true, no_meaning).unwrap_err(),
            CodeError::Oversubscribed
        );
        assert_eq!(
            Decoder::new(&[1, 2], 9, false, no_meaning).unwrap_err(),
            CodeError::Incomplete
        );
        assert_eq!(
            Decoder::new(&[2, 0], 9, true, no_meaning).unwrap_err(),
            CodeError::Incomplete
        );
        // One code of one bit is allowed where asked; the other bit pattern is no code.
        let one = Decoder::new(&[0, 1], 9, true, no_meaning).unwrap();
        let mut r = BitReader::new(&[0b10]);
        r.refill();
        assert_eq!(one.decode(&mut r) >> 16, 1);
        assert_eq!(one.decode(&mut r), entry(INVALID, NO_CODE) | 1);
    }
}
