//! What LZ77 hands to the block writer: tokens, and how often each
//! symbol occurs among them (RFC 1951 §3.2.5).
//!
//! A token is a literal byte or a (length, distance) match. The block
//! writer needs two things from a block's tokens: the tokens themselves,
//! in order, and the count of each literal/length symbol and each distance
//! symbol, from which it builds the block's Huffman codes. Counting as the
//! tokens arrive saves a second pass.

use super::tables::{dist_symbol, length_symbol, DIST_SYMBOLS, END_OF_BLOCK, LITLEN_SYMBOLS};

/// One unit of LZ77 output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Token {
    /// A byte sent as itself.
    Literal(u8),
    /// "Copy `length` bytes from `distance` bytes back."
    Match {
        /// 3 to 258.
        length: u16,
        /// 1 to the window size.
        distance: u16,
    },
}

/// Tokens per block: enough for the Huffman codes to pay for themselves,
/// few enough for the codes to follow changes in the data.
pub const BLOCK_TOKENS: usize = 16 * 1024;

const MATCH_FLAG: u32 = 1 << 31;

/// A block's worth of tokens, and how often each symbol occurs in them
/// (what the Huffman codes are built from).
#[derive(Clone, Debug)]
pub struct Tokens {
    /// A literal is its byte; a match is `MATCH_FLAG | length << 16 | distance`.
    items: Vec<u32>,
    /// Uses of each literal/length symbol (end of block counted once).
    pub(crate) litlen_freq: [u32; LITLEN_SYMBOLS],
    /// Uses of each distance symbol.
    pub(crate) dist_freq: [u32; DIST_SYMBOLS],
    /// Input bytes the tokens stand for.
    pub(crate) raw_len: usize,
}

impl Tokens {
    /// An empty buffer with room for `capacity` tokens.
    pub fn with_capacity(capacity: usize) -> Tokens {
        let mut tokens = Tokens {
            items: Vec::with_capacity(capacity),
            litlen_freq: [0; LITLEN_SYMBOLS],
            dist_freq: [0; DIST_SYMBOLS],
            raw_len: 0,
        };
        tokens.clear();
        tokens
    }

    /// Empties the buffer.
    pub fn clear(&mut self) {
        self.items.clear();
        self.litlen_freq = [0; LITLEN_SYMBOLS];
        self.litlen_freq[END_OF_BLOCK] = 1;
        self.dist_freq = [0; DIST_SYMBOLS];
        self.raw_len = 0;
    }

    /// Appends a token.
    pub fn push(&mut self, token: Token) {
        match token {
            Token::Literal(byte) => self.literal(byte),
            Token::Match { length, distance } => self.matched(length as usize, distance as usize),
        }
    }

    pub(crate) fn literal(&mut self, byte: u8) {
        self.items.push(byte as u32);
        self.litlen_freq[byte as usize] += 1;
        self.raw_len += 1;
    }

    pub(crate) fn matched(&mut self, length: usize, distance: usize) {
        self.items.push(MATCH_FLAG | (length as u32) << 16 | distance as u32);
        self.litlen_freq[length_symbol(length).0] += 1;
        self.dist_freq[dist_symbol(distance).0] += 1;
        self.raw_len += length;
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.items.len() >= BLOCK_TOKENS
    }

    /// The tokens in order.
    pub fn iter(&self) -> impl Iterator<Item = Token> + '_ {
        self.items.iter().map(|&t| {
            if t & MATCH_FLAG == 0 {
                Token::Literal(t as u8)
            } else {
                Token::Match {
                    length: (t >> 16 & 0x1ff) as u16,
                    distance: t as u16,
                }
            }
        })
    }
}
