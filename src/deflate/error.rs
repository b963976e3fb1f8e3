//! What can be wrong with compressed input, each fault its own variant,
//! named after the RFC 1951 rule it breaks.

use std::error::Error;
use std::fmt;

use super::huffman::{CodeError, NO_CODE};

/// Which of a block's three codes a fault was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeSet {
    /// The literal/length code.
    LiteralLength,
    /// The distance code.
    Distance,
    /// The code length code, which codes the other two (§3.2.7).
    CodeLength,
}

impl fmt::Display for CodeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CodeSet::LiteralLength => "literal/length",
            CodeSet::Distance => "distance",
            CodeSet::CodeLength => "code length",
        })
    }
}

/// Why compressed input could not be inflated. Every variant but
/// [`TooLarge`](InflateError::TooLarge) means the input is not valid
/// DEFLATE; `TooLarge` means it may be, but inflates past the caller's
/// limit (a WebSocket endpoint answers that with close code 1009).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InflateError {
    /// The input ends inside a block, or before the final block.
    Truncated,
    /// Block type `11`, which is reserved (§3.2.3).
    ReservedBlockType,
    /// A stored block's NLEN is not the one's complement of its LEN (§3.2.4).
    StoredLengthMismatch {
        /// LEN as read.
        len: u16,
        /// NLEN as read.
        nlen: u16,
    },
    /// HLIT or HDIST announce more codes than there are symbols: at most
    /// 286 literal/length and 30 distance codes (§3.2.7).
    TooManyCodes {
        /// Literal/length codes announced (HLIT + 257).
        litlen: usize,
        /// Distance codes announced (HDIST + 1).
        dist: usize,
    },
    /// The code lengths ask for more codes than bit strings exist.
    Oversubscribed(CodeSet),
    /// The code lengths leave bit strings unused (allowed only for a lone
    /// one-bit code, and never for the code length code).
    Incomplete(CodeSet),
    /// Code length symbol 16 ("repeat the previous length") comes first.
    RepeatWithoutPrevious,
    /// A repeated code length runs past the HLIT + HDIST lengths.
    RepeatPastEnd,
    /// The literal/length code has no code for end of block (256).
    MissingEndOfBlock,
    /// A bit string that is no symbol's code (possible in a lone-code set).
    InvalidCode(CodeSet),
    /// Literal/length symbol 286 or 287, or distance symbol 30 or 31: they
    /// have fixed codes but "will never actually occur" (§3.2.6).
    InvalidSymbol {
        /// The code in which the symbol was found.
        set: CodeSet,
        /// The symbol.
        symbol: u16,
    },
    /// A distance reaching back before the first byte of output (and of
    /// the history kept from earlier messages).
    DistanceTooFar {
        /// The distance.
        distance: usize,
        /// Bytes there were to reach back into.
        available: usize,
    },
    /// A distance larger than the window the stream was agreed to use
    /// (RFC 7692 `*_max_window_bits`).
    DistanceBeyondWindow {
        /// The distance.
        distance: usize,
        /// The window in bytes.
        window: usize,
    },
    /// The output would pass the caller's limit; nothing beyond it was
    /// allocated.
    TooLarge {
        /// The limit, in bytes of output.
        limit: usize,
    },
    /// Bytes follow the final block of a whole stream.
    TrailingData {
        /// How many.
        bytes: usize,
    },
}

impl InflateError {
    /// Whether the input inflates past the limit (rather than being invalid).
    pub fn is_too_large(&self) -> bool {
        matches!(self, InflateError::TooLarge { .. })
    }

    pub(crate) fn from_code(e: CodeError, set: CodeSet) -> InflateError {
        match e {
            CodeError::Oversubscribed => InflateError::Oversubscribed(set),
            CodeError::Incomplete => InflateError::Incomplete(set),
        }
    }

    pub(crate) fn invalid(e: u32, set: CodeSet) -> InflateError {
        match e >> 16 {
            NO_CODE => InflateError::InvalidCode(set),
            symbol => InflateError::InvalidSymbol {
                set,
                symbol: symbol as u16,
            },
        }
    }
}

impl fmt::Display for InflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use InflateError::*;
        match self {
            Truncated => write!(f, "the compressed data ends inside a block"),
            ReservedBlockType => write!(f, "block type 11 is reserved (RFC 1951 §3.2.3)"),
            StoredLengthMismatch { len, nlen } => {
                write!(
                    f,
                    "stored block LEN {len:#06x} and NLEN {nlen:#06x} are not complements"
                )
            }
            TooManyCodes { litlen, dist } => write!(
                f,
                "{litlen} literal/length and {dist} distance codes announced; at most 286 and 30"
            ),
            Oversubscribed(set) => write!(f, "the {set} code lengths are over-subscribed"),
            Incomplete(set) => write!(f, "the {set} code lengths are incomplete"),
            RepeatWithoutPrevious => write!(f, "code length 16 (repeat) with no previous length"),
            RepeatPastEnd => write!(f, "a repeated code length runs past the last code"),
            MissingEndOfBlock => write!(f, "the literal/length code has no end-of-block code"),
            InvalidCode(set) => write!(f, "a bit string that is no {set} code"),
            InvalidSymbol { set, symbol } => write!(f, "{set} symbol {symbol} never occurs in valid data"),
            DistanceTooFar { distance, available } => {
                write!(
                    f,
                    "distance {distance} reaches before the start of the data ({available} bytes)"
                )
            }
            DistanceBeyondWindow { distance, window } => {
                write!(f, "distance {distance} is beyond the {window}-byte window")
            }
            TooLarge { limit } => write!(f, "the data inflates to more than {limit} bytes"),
            TrailingData { bytes } => write!(f, "{bytes} bytes after the final block"),
        }
    }
}

impl Error for InflateError {}
