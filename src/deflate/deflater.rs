//! The encoder: bytes to DEFLATE blocks, one message at a time.
//!
//! [`lz77`](super::lz77) turns the input into tokens (literals and
//! matches); every 16 Ki tokens, and at the end of the input,
//! [`block`] writes them as one block in its smallest form.
//! The stream then ends in one of two ways:
//!
//! - [`Flush::Final`]: the last block has BFINAL set; this is a whole raw
//!   DEFLATE stream, what `zlib` produces with negative `wbits`;
//! - [`Flush::Sync`]: an empty stored block follows, `000` then padding to
//!   a byte then `00 00 ff ff` (zlib's `Z_SYNC_FLUSH`): the data so far is
//!   byte-aligned and complete, and the stream can go on. RFC 7692 §7.2.1
//!   compresses each WebSocket message this way and then removes the four
//!   bytes, which every message would otherwise end with;
//!   [`Deflater::compress_message`] does both.
//!
//! With *context takeover* (RFC 7692 §7.1.1) a message may refer to the
//! ones before it, which is what makes many small, similar messages (chat,
//! JSON ticks) compress well; the price is a window kept per connection.

use super::bits::BitWriter;
use super::block::{self, Plan};
use super::inflater::MESSAGE_TAIL;
use super::lz77::{Level, Matcher};
use super::tables::WindowBits;
use super::tokens::{Tokens, BLOCK_TOKENS};

/// How a [`Deflater`] compresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateConfig {
    /// The window: distances never exceed 2^`window_bits`, so a peer that
    /// asked for a small window (RFC 7692 `*_max_window_bits`) can inflate.
    pub window_bits: WindowBits,
    /// Effort, 0 (stored only) to 9.
    pub level: Level,
    /// Whether a message may refer to earlier ones (RFC 7692 §7.1.1).
    pub context_takeover: bool,
}

impl Default for DeflateConfig {
    /// 15 window bits, level 6, context takeover: what zlib does by default.
    fn default() -> Self {
        DeflateConfig {
            window_bits: WindowBits::MAX,
            level: Level::DEFAULT,
            context_takeover: true,
        }
    }
}

/// How to end the output of [`Deflater::compress`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flush {
    /// End with an empty stored block (`00 00 ff ff`); the stream goes on.
    Sync,
    /// Set BFINAL on the last block; the stream is complete.
    Final,
}

/// Compresses the messages of one direction of a connection.
///
/// Memory, with `b` the window bits (15 unless negotiated lower):
///
/// - without context takeover, nothing is kept between messages; while
///   compressing, a window and hash tables sized to the message (about six
///   bytes per window byte, with the window the message's length rounded up
///   to a power of two, 256 B to 2^`b`), plus 4 bytes per token of a block
///   (at most 64 KiB);
/// - with context takeover, the window and tables stay allocated between
///   messages: about 6 × 2^`b` bytes, 192 KiB at 15 bits.
///   [`release`](Deflater::release) drops them and keeps only the last
///   window of input (2^`b` bytes, 32 KiB at 15 bits); the next message
///   rebuilds the tables from it.
#[derive(Debug)]
pub struct Deflater {
    config: DeflateConfig,
    /// With context takeover: the window and tables, allocated on first use.
    matcher: Option<Box<Matcher>>,
    /// With context takeover, after [`release`](Deflater::release): the last
    /// window of input, to prime the next matcher with.
    saved: Vec<u8>,
}

impl Deflater {
    /// A deflater; nothing is allocated until the first message.
    pub fn new(config: DeflateConfig) -> Deflater {
        Deflater {
            config,
            matcher: None,
            saved: Vec::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &DeflateConfig {
        &self.config
    }

    /// Compresses `data`, appending to `out`, and ends as `flush` says.
    pub fn compress(&mut self, data: &[u8], flush: Flush, out: &mut Vec<u8>) {
        let mut w = BitWriter::new(out);
        let last = flush == Flush::Final;
        if self.config.level == Level::NONE {
            if !data.is_empty() || last {
                block::write_stored(&mut w, data, last);
            }
        } else {
            let mut own;
            let matcher = if self.config.context_takeover {
                self.matcher.get_or_insert_with(|| {
                    let mut m = Box::new(Matcher::new(self.config.window_bits));
                    m.prime(&std::mem::take(&mut self.saved));
                    m
                })
            } else {
                // No earlier message can be referred to, so no window
                // larger than this message is of any use.
                own = Matcher::new(window_for(data.len(), self.config.window_bits));
                &mut own
            };
            // At most one token per byte, and a block's worth at a time.
            let mut tokens = Tokens::with_capacity(BLOCK_TOKENS.min(data.len() + 1));
            let mut block_start = 0;
            matcher.parse(data, self.config.level, &mut tokens, &mut |t: &mut Tokens| {
                let raw = &data[block_start..block_start + t.raw_len];
                block_start += raw.len();
                let plan = Plan::new(t, raw.len(), w.bit_len());
                block::write(&mut w, &plan, t, raw, false);
                t.clear();
            });
            if !tokens.is_empty() {
                let raw = &data[block_start..];
                let plan = Plan::new(&tokens, raw.len(), w.bit_len());
                block::write(&mut w, &plan, &tokens, raw, last);
            } else if last {
                block::write_empty_final(&mut w);
            }
        }
        match flush {
            Flush::Sync => {
                w.put(0, 3); // BFINAL 0, BTYPE 00
                w.align();
                w.bytes(&MESSAGE_TAIL);
            }
            Flush::Final => w.align(),
        }
    }

    /// Compresses one WebSocket message (RFC 7692 §7.2.1): a sync flush,
    /// then the final `00 00 ff ff` removed. An empty message becomes the
    /// single byte `00` (§7.2.3.6).
    ///
    /// ```
    /// use wirelab::deflate::{DeflateConfig, Deflater};
    ///
    /// let mut deflater = Deflater::new(DeflateConfig::default());
    /// let mut first = Vec::new();
    /// deflater.compress_message(b"Hello", &mut first);
    /// assert_eq!(first, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    /// // With context takeover the second "Hello" is one match: length 5,
    /// // distance 5. (zlib sends "H" and a match of 4, `f2 00 11 00 00`,
    /// // the example of §7.2.3.2.)
    /// let mut second = Vec::new();
    /// deflater.compress_message(b"Hello", &mut second);
    /// assert_eq!(second, [0x02, 0x13, 0x00, 0x00]);
    /// ```
    pub fn compress_message(&mut self, data: &[u8], out: &mut Vec<u8>) {
        self.compress(data, Flush::Sync, out);
        out.truncate(out.len() - MESSAGE_TAIL.len());
    }

    /// Forgets earlier messages: the next one refers to nothing before it.
    pub fn reset(&mut self) {
        self.matcher = None;
        self.saved = Vec::new();
    }

    /// Frees the window and tables while the connection is idle. With
    /// context takeover the last window of input is kept (2^`window_bits`
    /// bytes at most), and the next message rebuilds the tables from it.
    pub fn release(&mut self) {
        if let Some(matcher) = self.matcher.take() {
            self.saved = matcher.history().to_vec();
        }
    }

    /// Bytes this deflater holds between messages.
    pub fn memory(&self) -> usize {
        self.matcher.as_ref().map_or(0, |m| m.memory()) + self.saved.capacity()
    }
}

/// The smallest window of at least `len` bytes, from 2^8 up to `max`.
fn window_for(len: usize, max: WindowBits) -> WindowBits {
    let bits = len
        .max(1)
        .next_power_of_two()
        .trailing_zeros()
        .clamp(8, max.bits() as u32);
    WindowBits::new(bits as u8).expect("8 to 15")
}

/// Compresses `data` into a whole raw DEFLATE stream (final block, 32 KiB
/// window), as `zlib.compress(data, level, wbits=-15)` would.
///
/// ```
/// use wirelab::deflate::{deflate, inflate, Level};
///
/// let text = b"to be or not to be, that is the question";
/// let packed = deflate(text, Level::DEFAULT);
/// assert!(packed.len() < text.len());
/// assert_eq!(inflate(&packed, 1000).unwrap(), text);
/// ```
pub fn deflate(data: &[u8], level: Level) -> Vec<u8> {
    let mut out = Vec::new();
    let config = DeflateConfig {
        level,
        context_takeover: false,
        ..DeflateConfig::default()
    };
    Deflater::new(config).compress(data, Flush::Final, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::inflater::{inflate, Inflater};

    #[test]
    fn an_empty_input_is_three_bytes_less_than_a_tail_or_two_bytes_final() {
        let mut out = Vec::new();
        Deflater::new(DeflateConfig::default()).compress_message(b"", &mut out);
        assert_eq!(out, [0x00]);
        assert_eq!(deflate(b"", Level::DEFAULT), [0x03, 0x00]);
        assert_eq!(deflate(b"", Level::NONE), [0x01, 0x00, 0x00, 0xff, 0xff]);
    }

    #[test]
    fn the_window_for_a_message_is_its_length_rounded_up_within_the_limits() {
        let bits = |len, max| window_for(len, WindowBits::new(max).unwrap()).bits();
        assert_eq!(bits(0, 15), 8);
        assert_eq!(bits(300, 15), 9);
        assert_eq!(bits(4096, 15), 12);
        assert_eq!(bits(1 << 20, 15), 15);
        assert_eq!(bits(1 << 20, 10), 10);
    }

    #[test]
    fn release_keeps_the_history_and_frees_the_tables() {
        let mut deflater = Deflater::new(DeflateConfig::default());
        let mut inflater = Inflater::new(WindowBits::MAX, true);
        let text = b"{\"type\":\"message\",\"nick\":\"ada\",\"text\":\"hello\"}";
        let mut sizes = Vec::new();
        for round in 0..3 {
            let mut payload = Vec::new();
            deflater.compress_message(text, &mut payload);
            sizes.push(payload.len());
            let mut back = Vec::new();
            inflater.inflate_message(&payload, &mut back, 1000).unwrap();
            assert_eq!(back, text);
            if round == 1 {
                assert!(deflater.memory() > 150_000, "{}", deflater.memory());
                deflater.release();
                assert!(deflater.memory() <= 32 * 1024, "{}", deflater.memory());
            }
        }
        // The second and third messages are one match into the first.
        assert!(sizes[1] < 10 && sizes[2] == sizes[1], "{sizes:?}");
    }

    #[test]
    fn without_context_takeover_nothing_is_kept_between_messages() {
        let config = DeflateConfig {
            context_takeover: false,
            ..DeflateConfig::default()
        };
        let mut deflater = Deflater::new(config);
        let mut a = Vec::new();
        let mut b = Vec::new();
        deflater.compress_message(b"Hello", &mut a);
        deflater.compress_message(b"Hello", &mut b);
        assert_eq!(a, b);
        assert_eq!(deflater.memory(), 0);
        // The payload, its tail, and an empty final block make a whole stream.
        let stream = [&b[..], &MESSAGE_TAIL, &[0x03, 0x00]].concat();
        assert_eq!(inflate(&stream, 100).unwrap(), b"Hello");
    }
}
