//! DEFLATE (RFC 1951) by hand: the compression under permessage-deflate
//! (RFC 7692), gzip and PNG.
//!
//! DEFLATE combines two ideas. *LZ77* replaces a repeat of earlier bytes by
//! a (length, distance) pair pointing back at them. *Huffman coding* then
//! writes the literals and pairs with fewer bits for frequent symbols than
//! for rare ones. The output is a series of blocks, each stored as is or
//! Huffman coded with fixed or its own codes, packed into bytes from the
//! lowest bit. `docs/compression.md` walks through the encoder's real
//! output for a chat message.
//!
//! Everything here works on byte slices (sans-I/O): no sockets, no
//! threads, one message in, one message out.
//!
//! | module | RFC 1951 | what |
//! |---|---|---|
//! | [`bits`] | §3.1.1 | bit fields, least significant bit first |
//! | [`tables`] | §3.2.5-§3.2.7 | what the length and distance symbols mean; the fixed code; window sizes |
//! | [`huffman`] | §3.2.1, §3.2.2 | canonical codes from lengths, length-limited codes, decoding tables |
//! | [`inflater`] | §3.2.3-§3.2.7 | the decoder: every block type, bounded output, context takeover |
//! | [`error`] | §3.2.3-§3.2.7 | every way compressed input can be wrong |
//! | [`lz77`] | §4 | the encoder's search for repeats: hash chains, lazy matching |
//! | [`tokens`] | §3.2.5 | LZ77's output, literals and matches, with symbol counts |
//! | [`block`] | §3.2.4-§3.2.7 | writing a block as stored, fixed or dynamic, whichever is smallest |
//! | [`deflater`] | §3.2.3 | the encoder: messages, sync flush, context takeover |
//!
//! ```
//! use wirelab::deflate::{DeflateConfig, Deflater, Inflater, WindowBits};
//!
//! // One direction of a WebSocket connection with permessage-deflate.
//! let mut deflater = Deflater::new(DeflateConfig::default());
//! let mut inflater = Inflater::new(WindowBits::MAX, true);
//! for text in ["{\"nick\":\"ada\",\"text\":\"hi\"}", "{\"nick\":\"ada\",\"text\":\"hi again\"}"] {
//!     let mut payload = Vec::new();
//!     deflater.compress_message(text.as_bytes(), &mut payload);
//!     let mut back = Vec::new();
//!     inflater.inflate_message(&payload, &mut back, 1 << 20).unwrap();
//!     assert_eq!(back, text.as_bytes());
//! }
//! ```
//!
//! Memory per direction of a connection, with the default 15-bit window:
//! without context takeover nothing is kept between messages; with it, the
//! inflater keeps 32 KiB of history and the deflater about 192 KiB of
//! window and hash tables ([`Deflater::release`] shrinks that to a 32 KiB
//! copy of the window while the connection is idle). Each window bit less
//! halves these figures.

pub mod bits;
pub mod block;
pub mod deflater;
pub mod error;
pub mod huffman;
pub mod inflater;
pub mod lz77;
pub mod tables;
pub mod tokens;

pub use deflater::{deflate, DeflateConfig, Deflater, Flush};
pub use error::{CodeSet, InflateError};
pub use inflater::{inflate, Inflater, MESSAGE_TAIL};
pub use lz77::Level;
pub use tables::WindowBits;
pub use tokens::Token;
