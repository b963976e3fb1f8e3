//! The constant tables of RFC 1951: what the 286 literal/length symbols
//! and the 30 distance symbols stand for (§3.2.5), the fixed code (§3.2.6)
//! and the order of the code length code (§3.2.7).
//!
//! A length of 3 to 258 bytes is sent as one of 29 symbols (257-285) plus a
//! few *extra bits* read as a plain number; a distance of 1 to 32 768 is one
//! of 30 symbols plus up to 13 extra bits. Short lengths and distances, the
//! common ones, get symbols of their own; long ones share a symbol and are
//! told apart by the extra bits.

/// Shortest match worth a length/distance pair (§3.2.5: lengths start at 3).
pub const MIN_MATCH: usize = 3;
/// Longest match (§3.2.5: length symbol 285 means 258).
pub const MAX_MATCH: usize = 258;
/// Largest window, and so the largest distance: 32 KiB (§2, §3.2.5).
pub const MAX_WINDOW: usize = 1 << 15;

/// The size of the LZ77 window as a power of two: 2^8 = 256 bytes to
/// 2^15 = 32 KiB. RFC 1951 allows any window up to 32 KiB (§2); RFC 7692
/// §7.1.2 lets the two ends of a WebSocket agree on a smaller one, 8 to 15
/// bits, with `server_max_window_bits` and `client_max_window_bits`. A
/// smaller window means less memory per connection and matches found only
/// in the more recent bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WindowBits(u8);

impl WindowBits {
    /// The smallest window RFC 7692 allows: 256 bytes.
    pub const MIN: WindowBits = WindowBits(8);
    /// The largest window DEFLATE allows: 32 KiB.
    pub const MAX: WindowBits = WindowBits(15);

    /// `bits` if it is 8 to 15.
    pub const fn new(bits: u8) -> Option<WindowBits> {
        if bits >= 8 && bits <= 15 {
            Some(WindowBits(bits))
        } else {
            None
        }
    }

    /// The number of bits, 8 to 15.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// The window in bytes, which is also the largest distance allowed.
    pub const fn size(self) -> usize {
        1 << self.0
    }
}

impl Default for WindowBits {
    /// 15 bits, 32 KiB: what every peer accepts when nothing is negotiated.
    fn default() -> Self {
        WindowBits::MAX
    }
}

/// Literal/length symbols a stream may use: 0-255 literals, 256 end of
/// block, 257-285 lengths (§3.2.5). The fixed code also assigns codes to 286
/// and 287, which "will never actually occur in the compressed data".
pub const LITLEN_SYMBOLS: usize = 286;
/// Distance symbols a stream may use (§3.2.5); the fixed code's 30 and 31
/// never occur either.
pub const DIST_SYMBOLS: usize = 30;
/// The end-of-block symbol (§3.2.5).
pub const END_OF_BLOCK: usize = 256;
/// Symbols of the code length code: lengths 0-15 and the repeat codes
/// 16, 17, 18 (§3.2.7).
pub const CODE_LENGTH_SYMBOLS: usize = 19;

/// The order in which a dynamic block header lists the code length code's
/// own lengths (§3.2.7): the ones most often unused come last, so they can
/// be left out (HCLEN).
pub const CODE_LENGTH_ORDER: [usize; CODE_LENGTH_SYMBOLS] =
    [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/// Smallest length of each length symbol 257-285 (§3.2.5).
pub const LENGTH_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258,
];
/// Extra bits after each length symbol 257-285 (§3.2.5).
pub const LENGTH_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
/// Smallest distance of each distance symbol 0-29 (§3.2.5).
pub const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
    8193, 12289, 16385, 24577,
];
/// Extra bits after each distance symbol 0-29 (§3.2.5).
pub const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
];

/// Code lengths of the fixed literal/length code (§3.2.6): 8 bits for
/// 0-143, 9 for 144-255, 7 for 256-279, 8 for 280-287.
pub fn fixed_litlen_lengths() -> [u8; 288] {
    let mut lengths = [8u8; 288];
    lengths[144..256].fill(9);
    lengths[256..280].fill(7);
    lengths
}

/// Code lengths of the fixed distance code (§3.2.6): 5 bits for all 32
/// codes, of which 30 and 31 are never valid.
pub fn fixed_dist_lengths() -> [u8; 32] {
    [5; 32]
}

/// The length symbol's index (0-28, for symbols 257-285) of each match
/// length minus 3.
const LENGTH_INDEX: [u8; 256] = length_index();

const fn length_index() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut code = 0;
    while code < 29 {
        let base = LENGTH_BASE[code] as usize - MIN_MATCH;
        let mut i = 0;
        while i < 1 << LENGTH_EXTRA[code] && base + i < 256 {
            table[base + i] = code as u8;
            i += 1;
        }
        code += 1;
    }
    // 258 is symbol 285, not 284 with all extra bits set (§3.2.5).
    table[255] = 28;
    table
}

/// A length (3-258) as its symbol (257-285), extra bit count and extra value.
pub fn length_symbol(length: usize) -> (usize, u32, u32) {
    debug_assert!((MIN_MATCH..=MAX_MATCH).contains(&length));
    let index = LENGTH_INDEX[length - MIN_MATCH] as usize;
    (
        257 + index,
        LENGTH_EXTRA[index] as u32,
        (length - LENGTH_BASE[index] as usize) as u32,
    )
}

/// A distance (1-32768) as its symbol (0-29), extra bit count and extra value.
///
/// Distance symbols come in pairs per power of two: 4 and 5 cover 5-8, 6 and
/// 7 cover 9-16, and so on, so the symbol is twice the position of the top
/// bit of `distance - 1`, plus the bit below it.
pub fn dist_symbol(distance: usize) -> (usize, u32, u32) {
    debug_assert!((1..=MAX_WINDOW).contains(&distance));
    let d = (distance - 1) as u32;
    let symbol = if d < 4 {
        d as usize
    } else {
        let top = 31 - d.leading_zeros();
        (2 * top + ((d >> (top - 1)) & 1)) as usize
    };
    (
        symbol,
        DIST_EXTRA[symbol] as u32,
        distance as u32 - DIST_BASE[symbol] as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_length_maps_to_the_symbol_whose_range_holds_it() {
        for length in MIN_MATCH..=MAX_MATCH {
            let (symbol, extra_bits, extra) = length_symbol(length);
            let i = symbol - 257;
            assert_eq!(LENGTH_BASE[i] as usize + extra as usize, length);
            assert_eq!(LENGTH_EXTRA[i] as u32, extra_bits);
            assert!(extra < 1 << extra_bits);
        }
        assert_eq!(length_symbol(258).0, 285);
        assert_eq!(length_symbol(257), (284, 5, 30));
    }

    #[test]
    fn every_distance_maps_to_the_symbol_whose_range_holds_it() {
        for distance in 1..=MAX_WINDOW {
            let (symbol, extra_bits, extra) = dist_symbol(distance);
            assert_eq!(DIST_BASE[symbol] as u32 + extra, distance as u32);
            assert_eq!(DIST_EXTRA[symbol] as u32, extra_bits);
            assert!(extra < 1 << extra_bits);
        }
        assert_eq!(dist_symbol(32768).0, 29);
    }
}
