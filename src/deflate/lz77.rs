//! Finding repeats: LZ77 with hash chains (RFC 1951 §4).
//!
//! LZ77 replaces a run of bytes that occurred before, within the *window*
//! (the last 2^`window_bits` bytes), by a pair (length, distance): "copy
//! `length` bytes from `distance` back". Finding the longest earlier
//! occurrence by brute force would compare every position with every
//! earlier one. §4 describes the classic shortcut, used here:
//!
//! - hash the bytes at each position: §4 hashes 3, the shortest match;
//!   this encoder hashes 4 in windows over 4 KiB (see [`hashed_bytes`]);
//! - `head[hash]` holds the most recent position with that hash, and
//!   `prev[position]` the one before it: a *chain* through the window,
//!   newest first, of the places where the same bytes may start;
//! - to encode a position, follow its chain for at most `max_chain` steps
//!   and keep the longest match, stopping early at a `nice` length.
//!
//! *Lazy matching* (§4, "lazy evaluation"): before taking a match at a
//! position, look for a longer one at the next position; if there is one,
//! send a literal and take the later match. The [`Level`] decides how far
//! the chains are followed and whether to be lazy.
//!
//! Positions are stored as 16-bit numbers modulo 65 536 and read back as
//! distances, so the tables never need rewriting when the buffer slides:
//! a distance outside the window, or one that does not grow along a
//! chain, ends the search. A stale entry can only ever point at real bytes
//! inside the window, and a match is always checked byte by byte, so the
//! tables are hints and never make the output wrong.

use super::tables::{WindowBits, MAX_MATCH, MIN_MATCH};
use super::tokens::{Token, Tokens, BLOCK_TOKENS};

/// How hard the encoder looks for matches: 0 (no compression, stored
/// blocks only) to 9 (slowest, smallest), as in zlib and gzip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Level(u8);

impl Level {
    /// Stored blocks only: no LZ77, no Huffman coding.
    pub const NONE: Level = Level(0);
    /// Greedy matching along short chains.
    pub const FASTEST: Level = Level(1);
    /// Lazy matching along chains of up to 128 positions.
    pub const DEFAULT: Level = Level(6);
    /// Lazy matching along chains of up to 4 096 positions.
    pub const BEST: Level = Level(9);

    /// Level `n` if it is 0 to 9.
    pub const fn new(n: u8) -> Option<Level> {
        if n <= 9 {
            Some(Level(n))
        } else {
            None
        }
    }

    /// The level, 0 to 9.
    pub const fn get(self) -> u8 {
        self.0
    }

    pub(crate) fn effort(self) -> Effort {
        // (max_chain, nice, lazy, good): lazy 0 means greedy, where `lazy`
        // is instead the longest match whose inner positions are hashed.
        let (max_chain, nice, lazy, good) = match self.0 {
            0 | 1 => (4, 8, 0, 4),
            2 => (8, 16, 0, 5),
            3 => (32, 32, 0, 6),
            4 => (16, 16, 4, 4),
            5 => (32, 32, 16, 8),
            6 => (128, 128, 16, 8),
            7 => (256, 128, 32, 8),
            8 => (1024, 258, 128, 32),
            _ => (4096, 258, 258, 32),
        };
        Effort {
            max_chain,
            nice,
            lazy,
            good,
            greedy: self.0 <= 3,
        }
    }
}

impl Default for Level {
    fn default() -> Self {
        Level::DEFAULT
    }
}

/// Search parameters of a [`Level`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Effort {
    /// Chain steps followed per position.
    max_chain: usize,
    /// A match this long ends the search.
    nice: usize,
    /// Lazy: look one position further only while the match is shorter
    /// than this. Greedy: hash the inner positions of matches up to this long.
    lazy: usize,
    /// Lazy: with a match this long already, follow a quarter of the chain.
    good: usize,
    greedy: bool,
}

/// Bytes hashed to find where a match may start, in a window of
/// `window_bits`. RFC 1951 §4 hashes 3, the shortest match. In a large
/// window a common 3-byte string (`the`, `":"`) has hundreds of places on
/// its chain; hashing 4 keeps only the places where 4 bytes repeat, far
/// fewer, and the search is much faster. Matches of exactly 3 bytes are
/// then found only by chance, and little is lost: a length code, a
/// distance code and its extra bits cost about as much as three
/// Huffman-coded literals. In a window of 4 KiB or less the chains are
/// short anyway, and a short message gains more from its 3-byte matches:
/// there, 3. `docs/compression.md` has the figures.
pub fn hashed_bytes(window_bits: WindowBits) -> usize {
    if window_bits.bits() <= 12 {
        3
    } else {
        4
    }
}

/// Bytes kept after the position being encoded, so a match of the longest
/// length can be checked (and three more bytes hashed) before more input
/// is loaded.
const LOOKAHEAD: usize = MAX_MATCH + MIN_MATCH + 1;

/// The encoder's window and hash chains.
///
/// Memory: a buffer of twice the window plus 262 bytes, and two tables of
/// 16-bit entries: `head` (one per hash value; as many as window positions)
/// and `prev` (one per window position). At 15 window bits: 64.3 + 64 +
/// 64 KiB, about 192 KiB; each bit less halves it.
#[derive(Clone, Debug)]
pub struct Matcher {
    window: usize,
    hash_shift: u32,
    /// Bytes hashed: 3 or 4 ([`hashed_bytes`]).
    hashed: usize,
    /// Input bytes from absolute position `base` on.
    buf: Vec<u8>,
    base: usize,
    /// Nothing before this absolute position may be referred to (the start
    /// of the stream, or of the message without context takeover).
    floor: usize,
    /// Absolute position of the next byte to encode.
    pos: usize,
    head: Vec<u16>,
    prev: Vec<u16>,
}

/// State of lazy matching carried from one position to the next.
#[derive(Default)]
struct Lazy {
    /// A literal or match at `pos - 1` is waiting to be sent.
    pending: bool,
    /// The match found at `pos - 1` (length below 3: none).
    length: usize,
    distance: usize,
}

impl Matcher {
    /// An empty window of `window_bits`.
    pub fn new(window_bits: WindowBits) -> Matcher {
        let window = window_bits.size();
        Matcher {
            window,
            hash_shift: 32 - window_bits.bits() as u32,
            hashed: hashed_bytes(window_bits),
            buf: Vec::with_capacity(2 * window + LOOKAHEAD),
            base: 0,
            floor: 0,
            pos: 0,
            head: vec![0; window],
            prev: vec![0; window],
        }
    }

    /// Bytes allocated.
    pub fn memory(&self) -> usize {
        self.buf.capacity() + 2 * (self.head.capacity() + self.prev.capacity())
    }

    /// The bytes a next message may refer to: up to one window.
    pub fn history(&self) -> &[u8] {
        let from = self.pos.saturating_sub(self.window).max(self.floor).max(self.base);
        &self.buf[from - self.base..self.pos - self.base]
    }

    /// Forgets everything before the current position (no context
    /// takeover). The tables keep their entries; they now point before
    /// `floor` and are ignored.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.base = self.pos;
        self.floor = self.pos;
    }

    /// Loads `history` as if it had just been encoded, so the next input
    /// may refer to it (after the tables were dropped while idle).
    pub fn prime(&mut self, history: &[u8]) {
        self.reset();
        let history = &history[history.len().saturating_sub(self.window)..];
        self.buf.extend_from_slice(history);
        self.floor = self.pos;
        for p in self.pos..self.pos + history.len().saturating_sub(self.hashed - 1) {
            self.insert(p);
        }
        self.pos += history.len();
    }

    /// Runs LZ77 over `data` (all of it), appending tokens to `tokens`;
    /// whenever `tokens` holds a block's worth, `block_full` is called to
    /// write them out and clear them.
    pub(crate) fn parse(
        &mut self,
        data: &[u8],
        level: Level,
        tokens: &mut Tokens,
        block_full: &mut dyn FnMut(&mut Tokens),
    ) {
        let effort = level.effort();
        let mut lazy = Lazy::default();
        let mut loaded = 0;
        loop {
            if self.buf.len() == self.capacity() && loaded < data.len() {
                self.slide();
            }
            let n = (data.len() - loaded).min(self.capacity() - self.buf.len());
            self.buf.extend_from_slice(&data[loaded..loaded + n]);
            loaded += n;
            let last = loaded == data.len();
            let end = self.base + self.buf.len();
            let stop = if last { end } else { end - LOOKAHEAD };
            if effort.greedy {
                self.greedy(stop, &effort, tokens, block_full);
            } else {
                self.lazy(stop, &effort, &mut lazy, tokens, block_full);
            }
            if last {
                break;
            }
        }
        if lazy.pending {
            // Only a literal can be pending at the very end: a match found
            // at `pos - 1` would have let the loop run on.
            tokens.literal(self.byte(self.pos - 1));
        }
        self.rebase();
    }

    fn greedy(&mut self, stop: usize, effort: &Effort, tokens: &mut Tokens, block_full: &mut dyn FnMut(&mut Tokens)) {
        let end = self.base + self.buf.len();
        while self.pos < stop {
            let pos = self.pos;
            let (length, distance) = if pos + self.hashed <= end {
                let candidate = self.insert(pos);
                self.longest(pos, candidate, MIN_MATCH - 1, effort.max_chain, effort.nice)
            } else {
                (0, 0)
            };
            if length >= MIN_MATCH {
                tokens.matched(length, distance);
                if length <= effort.lazy {
                    for p in pos + 1..(pos + length).min(end + 1 - self.hashed) {
                        self.insert(p);
                    }
                }
                self.pos += length;
            } else {
                tokens.literal(self.byte(pos));
                self.pos += 1;
            }
            if tokens.is_full() {
                block_full(tokens);
            }
        }
    }

    fn lazy(
        &mut self,
        stop: usize,
        effort: &Effort,
        lazy: &mut Lazy,
        tokens: &mut Tokens,
        block_full: &mut dyn FnMut(&mut Tokens),
    ) {
        let end = self.base + self.buf.len();
        while self.pos < stop {
            let pos = self.pos;
            let (mut length, mut distance) = (0, 0);
            if pos + self.hashed <= end {
                let candidate = self.insert(pos);
                if lazy.length < effort.lazy {
                    let chain = if lazy.length >= effort.good {
                        effort.max_chain / 4
                    } else {
                        effort.max_chain
                    };
                    let at_least = lazy.length.max(MIN_MATCH - 1);
                    (length, distance) = self.longest(pos, candidate, at_least, chain, effort.nice);
                    if length == MIN_MATCH && distance > TOO_FAR {
                        length = 0; // three literals are likely cheaper
                    }
                }
            }
            if lazy.length >= MIN_MATCH && length <= lazy.length {
                // The match starting at pos - 1 is at least as long: send it.
                let start = pos - 1;
                tokens.matched(lazy.length, lazy.distance);
                let match_end = start + lazy.length;
                for p in pos + 1..match_end.min(end + 1 - self.hashed) {
                    self.insert(p);
                }
                self.pos = match_end;
                *lazy = Lazy::default();
            } else {
                if lazy.pending {
                    tokens.literal(self.byte(pos - 1));
                }
                *lazy = Lazy {
                    pending: true,
                    length,
                    distance,
                };
                self.pos += 1;
            }
            if tokens.is_full() {
                block_full(tokens);
            }
        }
    }

    /// Bytes the buffer holds at most: two windows and the lookahead.
    fn capacity(&self) -> usize {
        2 * self.window + LOOKAHEAD
    }

    fn byte(&self, pos: usize) -> u8 {
        self.buf[pos - self.base]
    }

    #[inline(always)]
    fn hash(&self, pos: usize) -> usize {
        let i = pos - self.base;
        let b = &self.buf[i..i + self.hashed];
        let key = if self.hashed == 4 {
            u32::from_le_bytes([b[0], b[1], b[2], b[3]])
        } else {
            u32::from_le_bytes([b[0], b[1], b[2], 0])
        };
        (key.wrapping_mul(0x9e37_79b1) >> self.hash_shift) as usize
    }

    /// Adds `pos` to its hash chain; returns the previous head of the chain.
    #[inline(always)]
    fn insert(&mut self, pos: usize) -> u16 {
        let h = self.hash(pos);
        let previous = self.head[h];
        self.prev[pos & (self.window - 1)] = previous;
        self.head[h] = pos as u16;
        previous
    }

    /// The longest match for `pos` longer than `at_least`, following the
    /// chain from `candidate`: (length, distance), or (0, 0).
    fn longest(&self, pos: usize, candidate: u16, at_least: usize, chain: usize, nice: usize) -> (usize, usize) {
        let end = self.base + self.buf.len();
        let max = MAX_MATCH.min(end - pos);
        let reach = self.window.min(pos - self.floor.max(self.base));
        let (mut best, mut best_distance) = (at_least, 0);
        if best >= max {
            return (0, 0);
        }
        let nice = nice.min(max);
        let here = pos - self.base;
        let current = &self.buf[here..here + max];
        let mut distance = (pos as u16).wrapping_sub(candidate) as usize;
        let mut previous = 0;
        for _ in 0..chain {
            // Distances grow along a valid chain; anything else is stale.
            if distance <= previous || distance > reach {
                break;
            }
            let earlier = &self.buf[here - distance..here - distance + max];
            // Only a match that agrees on the two bytes ending at `best` can
            // be longer than the best so far: check those first.
            if earlier[best - 1..=best] == current[best - 1..=best] {
                let length = common_prefix(earlier, current);
                if length > best {
                    (best, best_distance) = (length, distance);
                    if length >= nice {
                        break;
                    }
                }
            }
            previous = distance;
            let next = self.prev[(pos - distance) & (self.window - 1)];
            distance = (pos as u16).wrapping_sub(next) as usize;
        }
        if best_distance == 0 {
            (0, 0)
        } else {
            (best, best_distance)
        }
    }

    /// Drops the oldest bytes to make room, keeping one window before `pos`.
    fn slide(&mut self) {
        let keep_from = self.pos - self.window;
        self.buf.drain(..keep_from - self.base);
        self.base = keep_from;
    }

    /// Keeps absolute positions small: tables hold them modulo 65 536 and
    /// index `prev` modulo the window, so subtracting a multiple of 65 536
    /// changes nothing else.
    fn rebase(&mut self) {
        const STEP: usize = 1 << 30;
        if self.pos >= 2 * STEP {
            self.pos -= STEP;
            self.base -= STEP;
            self.floor = self.floor.saturating_sub(STEP);
        }
    }
}

/// A 3-byte match further back than this costs more bits than the three
/// literals it replaces, as a rule.
const TOO_FAR: usize = 4096;

/// How many leading bytes `a` and `b` (of equal length) share, eight at a time.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let mut n = 0;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let x = u64::from_le_bytes(x.try_into().expect("8 bytes"));
        let y = u64::from_le_bytes(y.try_into().expect("8 bytes"));
        if x != y {
            return n + ((x ^ y).trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    n + a[n..].iter().zip(&b[n..]).take_while(|(x, y)| x == y).count()
}

/// The LZ77 parse of `data` on its own, for showing what the encoder sees.
pub fn parse(data: &[u8], window_bits: WindowBits, level: Level) -> Vec<Token> {
    let mut matcher = Matcher::new(window_bits);
    let mut tokens = Tokens::with_capacity(BLOCK_TOKENS);
    let mut all = Vec::new();
    matcher.parse(data, level, &mut tokens, &mut |t: &mut Tokens| {
        all.extend(t.iter());
        t.clear();
    });
    all.extend(tokens.iter());
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expands tokens back into bytes.
    fn expand(tokens: &[Token]) -> Vec<u8> {
        let mut out = Vec::new();
        for t in tokens {
            match *t {
                Token::Literal(b) => out.push(b),
                Token::Match { length, distance } => {
                    for _ in 0..length {
                        out.push(out[out.len() - distance as usize]);
                    }
                }
            }
        }
        out
    }

    #[test]
    fn a_repeat_becomes_one_match_back_to_its_first_occurrence() {
        let tokens = parse(b"Hello, Hello, Hello!", WindowBits::MAX, Level::DEFAULT);
        assert_eq!(tokens.len(), 7 + 1 + 1);
        assert_eq!(
            tokens[7],
            Token::Match {
                length: 12,
                distance: 7
            }
        );
        assert_eq!(expand(&tokens), b"Hello, Hello, Hello!");
    }

    #[test]
    fn lazy_matching_prefers_a_longer_match_one_byte_later() {
        // At "bcdefghij" greedy takes "bcde" from "xbcdez"; lazy sees the
        // 8-byte "cdefghij" one position later and sends "b" as a literal.
        let data = b"xbcdez cdefghij abcdefghij";
        let lazy = parse(data, WindowBits::MAX, Level::DEFAULT);
        let greedy = parse(data, WindowBits::MAX, Level::FASTEST);
        assert_eq!(expand(&lazy), data);
        assert_eq!(expand(&greedy), data);
        assert!(
            lazy.contains(&Token::Match {
                length: 8,
                distance: 11
            }),
            "{lazy:?}"
        );
        assert!(
            greedy.contains(&Token::Match {
                length: 4,
                distance: 16
            }),
            "{greedy:?}"
        );
    }

    #[test]
    fn no_distance_exceeds_the_window_and_every_parse_expands_back() {
        let mut data = Vec::new();
        let mut x = 1u32;
        while data.len() < 200_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            // Words from a small vocabulary: plenty of matches at all distances.
            data.extend_from_slice(format!("w{} ", x % 500).as_bytes());
        }
        for bits in [8, 9, 12, 15] {
            let window = WindowBits::new(bits).unwrap();
            for level in [1, 4, 6, 9] {
                let tokens = parse(&data, window, Level::new(level).unwrap());
                assert!(tokens.iter().all(|t| match *t {
                    Token::Match { distance, .. } => distance as usize <= window.size(),
                    Token::Literal(_) => true,
                }));
                assert_eq!(expand(&tokens), data, "bits {bits} level {level}");
            }
        }
    }

    #[test]
    fn after_a_reset_nothing_refers_to_earlier_input() {
        let mut matcher = Matcher::new(WindowBits::MAX);
        let mut tokens = Tokens::with_capacity(100);
        matcher.parse(b"the same words", Level::DEFAULT, &mut tokens, &mut |_| {});
        matcher.reset();
        tokens.clear();
        matcher.parse(b"the same words", Level::DEFAULT, &mut tokens, &mut |_| {});
        assert!(tokens.iter().all(|t| matches!(t, Token::Literal(_))));
        // With the history kept, the second copy is one match.
        let mut matcher = Matcher::new(WindowBits::MAX);
        matcher.parse(b"the same words", Level::DEFAULT, &mut tokens, &mut |_| {});
        tokens.clear();
        matcher.parse(b"the same words", Level::DEFAULT, &mut tokens, &mut |_| {});
        assert_eq!(
            tokens.iter().collect::<Vec<_>>(),
            [Token::Match {
                length: 14,
                distance: 14
            }]
        );
    }
}
