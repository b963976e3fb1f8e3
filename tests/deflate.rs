//! DEFLATE (RFC 1951) on byte slices: each test names a fact and checks it.
//!
//! Inputs come from a seeded generator and from this crate's own chapters
//! (real English), so every run sees the same bytes. zlib is the
//! independent implementation to agree with: through committed vectors
//! (`tests/data/deflate/zlib_vectors.txt`) and, live, through `python3`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use wirelab::deflate::bits::BitWriter;
use wirelab::deflate::huffman::{canonical_codes, reverse};
use wirelab::deflate::{
    deflate, inflate, CodeSet, DeflateConfig, Deflater, Flush, InflateError, Inflater, Level, WindowBits,
};

/// xorshift64*: a small seeded generator, no crate needed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() >> 32) as usize % n
    }
}

/// This crate's chapters, concatenated: real English text.
fn chapters() -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    files.iter().flat_map(|f| std::fs::read(f).unwrap()).collect()
}

/// `n` bytes of one kind, varied by `seed`.
fn input(kind: &str, n: usize, seed: u64, text: &[u8]) -> Vec<u8> {
    let mut rng = Rng(seed | 1);
    match kind {
        "random" => (0..n).map(|_| rng.next() as u8).collect(),
        "text" => {
            let start = rng.below(text.len());
            text.iter().cycle().skip(start).take(n).copied().collect()
        }
        "zeros" => vec![0; n],
        // Runs, text and noise in turns: blocks change form as they go.
        _ => {
            let mut out = Vec::with_capacity(n);
            while out.len() < n {
                let len = (1 + rng.below(5000)).min(n - out.len());
                match rng.below(3) {
                    0 => out.extend(std::iter::repeat(rng.next() as u8).take(len)),
                    1 => out.extend(input("text", len, rng.next(), text)),
                    _ => out.extend((0..len).map(|_| rng.next() as u8)),
                }
            }
            out
        }
    }
}

fn config(bits: u8, level: u8, context_takeover: bool) -> DeflateConfig {
    DeflateConfig {
        window_bits: WindowBits::new(bits).unwrap(),
        level: Level::new(level).unwrap(),
        context_takeover,
    }
}

/// Compresses `data` as one message and as a whole stream; both must
/// inflate back, with the message's window.
fn round_trip(data: &[u8], bits: u8, level: u8) {
    let what = format!("{} bytes, {bits} window bits, level {level}", data.len());
    let mut payload = Vec::new();
    Deflater::new(config(bits, level, false)).compress_message(data, &mut payload);
    let mut back = Vec::new();
    let window = WindowBits::new(bits).unwrap();
    Inflater::new(window, false)
        .inflate_message(&payload, &mut back, data.len())
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(back == data, "{what}: message differs");
    let mut stream = Vec::new();
    Deflater::new(config(bits, level, false)).compress(data, Flush::Final, &mut stream);
    assert!(inflate(&stream, data.len()).unwrap() == data, "{what}: stream differs");
}

#[test]
fn every_size_from_0_to_1100_bytes_round_trips_at_every_level_and_window() {
    let text = chapters();
    for n in 0..=1100 {
        let (bits, level) = (8 + (n % 8) as u8, (n % 10) as u8);
        for kind in ["random", "text", "mixed"] {
            round_trip(&input(kind, n, n as u64, &text), bits, level);
        }
    }
}

#[test]
fn sizes_at_the_edges_of_windows_buffers_and_stored_blocks_round_trip() {
    let text = chapters();
    // 256 and 32 Ki: windows; 65 535: a stored block; 65 798: the encoder's
    // buffer of two windows and 262 bytes of lookahead.
    let sizes = [
        255, 256, 257, 32_767, 32_768, 32_769, 65_534, 65_535, 65_536, 65_797, 65_798, 65_799, 131_075,
    ];
    for (i, &n) in sizes.iter().enumerate() {
        for kind in ["random", "text", "zeros", "mixed"] {
            let data = input(kind, n, i as u64, &text);
            for level in [0, 1, 6] {
                round_trip(&data, 15, level);
            }
        }
        round_trip(&input("text", n, 7, &text), 8, 6);
    }
}

#[test]
fn several_mebibytes_of_text_random_bytes_and_zeros_round_trip() {
    let text = chapters();
    for (kind, n, level) in [("text", 4 << 20, 6), ("random", 3 << 20, 1), ("zeros", 5 << 20, 9)] {
        let data = input(kind, n, 42, &text);
        let packed = deflate(&data, Level::new(level).unwrap());
        assert!(inflate(&packed, n).unwrap() == data, "{kind}");
        if kind == "zeros" {
            assert!(packed.len() < n / 1000, "{} bytes for {n} zeros", packed.len());
        }
    }
}

#[test]
fn stored_blocks_hold_at_most_65535_bytes_and_cost_5_bytes_each() {
    for (n, blocks) in [(0, 1), (65_535, 1), (65_536, 2), (131_070, 2), (131_071, 3)] {
        let data = vec![7u8; n];
        let packed = deflate(&data, Level::NONE);
        assert_eq!(packed.len(), n + 5 * blocks, "{n} bytes");
        assert_eq!(inflate(&packed, n).unwrap(), data);
    }
}

#[test]
fn incompressible_input_grows_by_5_bytes_per_16_kib_as_with_zlib() {
    // Blocks end every 16 Ki symbols, here 16 KiB of literals, and each is
    // stored with its own 5-byte header: 300 000 bytes grow by 95, as they
    // do with zlib at level 6; then the sync flush's header byte.
    let data = input("random", 300_000, 3, &[]);
    let mut payload = Vec::new();
    Deflater::new(DeflateConfig::default()).compress_message(&data, &mut payload);
    assert_eq!(payload.len(), data.len() + 5 * 300_000usize.div_ceil(16 * 1024) + 1);
}

fn chat_messages(count: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng(11);
    let words = [
        "hello", "socket", "frame", "lunch?", "ok", "see", "you", "the", "server", "thanks!",
    ];
    (0..count)
        .map(|i| {
            let text: Vec<&str> = (0..1 + rng.below(8)).map(|_| words[rng.below(words.len())]).collect();
            format!(
                r#"{{"type":"message","id":{i},"nick":"ada","text":"{}","ts":{}}}"#,
                text.join(" "),
                1000 + i
            )
            .into_bytes()
        })
        .collect()
}

#[test]
fn context_takeover_makes_similar_messages_small_and_needs_the_history() {
    let messages = chat_messages(50);
    let mut sizes = [0usize; 2];
    for takeover in [false, true] {
        let mut deflater = Deflater::new(config(15, 6, takeover));
        let mut inflater = Inflater::new(WindowBits::MAX, takeover);
        for m in &messages {
            let mut payload = Vec::new();
            deflater.compress_message(m, &mut payload);
            sizes[takeover as usize] += payload.len();
            let mut back = Vec::new();
            inflater.inflate_message(&payload, &mut back, 1000).unwrap();
            assert_eq!(&back, m);
        }
    }
    assert!(
        sizes[1] * 2 < sizes[0],
        "with context takeover {} bytes, without {}",
        sizes[1],
        sizes[0]
    );

    // The second message refers to the first: an inflater without the
    // first, or reset since, cannot inflate it.
    let mut deflater = Deflater::new(config(15, 6, true));
    let (mut first, mut second) = (Vec::new(), Vec::new());
    deflater.compress_message(&messages[0], &mut first);
    deflater.compress_message(&messages[0], &mut second);
    let mut inflater = Inflater::new(WindowBits::MAX, true);
    inflater.inflate_message(&first, &mut Vec::new(), 1000).unwrap();
    inflater.reset();
    let err = inflater.inflate_message(&second, &mut Vec::new(), 1000).unwrap_err();
    assert!(matches!(err, InflateError::DistanceTooFar { .. }), "{err}");
}

#[test]
fn releasing_the_tables_while_idle_changes_nothing_on_the_wire() {
    let messages = chat_messages(30);
    let mut kept = Deflater::new(config(15, 6, true));
    let mut released = Deflater::new(config(15, 6, true));
    for m in &messages {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        kept.compress_message(m, &mut a);
        released.compress_message(m, &mut b);
        assert_eq!(a, b);
        released.release();
        assert!(released.memory() <= 32 * 1024);
    }
}

#[test]
fn memory_kept_per_connection_is_six_bytes_per_window_byte_at_most() {
    // docs/compression.md: window and tables 6 × 2^b + 262 bytes with
    // context takeover, 2^b after release; the inflater keeps 2^b.
    let data = input("mixed", 100_000, 4, &chapters());
    for bits in 8..=15u8 {
        let window = 1usize << bits;
        let mut deflater = Deflater::new(config(bits, 6, true));
        assert_eq!(deflater.memory(), 0, "nothing before the first message");
        let mut payload = Vec::new();
        deflater.compress_message(&data, &mut payload);
        assert!(
            (5 * window..=6 * window + 262).contains(&deflater.memory()),
            "{bits} bits: {}",
            deflater.memory()
        );
        deflater.release();
        assert!(deflater.memory() <= window);
        let mut inflater = Inflater::new(WindowBits::new(bits).unwrap(), true);
        inflater.inflate_message(&payload, &mut Vec::new(), data.len()).unwrap();
        assert!(inflater.memory() <= window);
        let mut alone = Deflater::new(config(bits, 6, false));
        alone.compress_message(&data, &mut Vec::new());
        assert_eq!(alone.memory(), 0, "without context takeover nothing is kept");
    }
}

#[test]
fn a_deflater_with_a_small_window_never_refers_further_back() {
    // Text repeating every 1000 bytes: the natural matches are 1000 back.
    let text = chapters();
    let unit = &text[..1000];
    let data: Vec<u8> = unit.iter().cycle().take(20_000).copied().collect();
    for bits in 8..=15u8 {
        let mut payload = Vec::new();
        Deflater::new(config(bits, 6, false)).compress_message(&data, &mut payload);
        let mut back = Vec::new();
        Inflater::new(WindowBits::new(bits).unwrap(), false)
            .inflate_message(&payload, &mut back, data.len())
            .unwrap();
        assert_eq!(back, data);
        if bits >= 10 {
            // With room for the 1000-byte repeat it shrinks twentyfold; an
            // inflater with a window of 512 bytes must refuse it.
            assert!(payload.len() < 2000, "{bits} bits: {} bytes", payload.len());
            let err = Inflater::new(WindowBits::new(9).unwrap(), false)
                .inflate_message(&payload, &mut Vec::new(), data.len())
                .unwrap_err();
            assert!(
                matches!(err, InflateError::DistanceBeyondWindow { distance, window: 512 } if distance > 512),
                "{err}"
            );
        }
    }
}

#[test]
fn a_compression_bomb_stops_at_the_limit_without_allocating_past_it() {
    // A zero, then "258 bytes from 1 back" 130 000 times at 2 bits each:
    // 33.5 MB from 33 KB.
    let mut litlen = vec![0u8; 286];
    (litlen[0], litlen[256], litlen[285]) = (2, 2, 1);
    let bomb = bits(|w| {
        dynamic_block(w, &litlen, &[1, 1], &cl_lengths(&[(0, 1), (1, 2), (2, 2)]), None);
        let put = coder(&litlen);
        put(w, 0);
        for _ in 0..130_000 {
            put(w, 285);
            w.put(0, 1); // distance code 0: 1 back
        }
        put(w, 256);
    });
    assert!(bomb.len() < 34_000, "{} bytes", bomb.len());
    let limit = 1 << 20;
    let started = Instant::now();
    let mut out = Vec::new();
    let err = Inflater::new(WindowBits::MAX, false)
        .inflate_message(&bomb, &mut out, limit)
        .unwrap_err();
    assert_eq!(err, InflateError::TooLarge { limit });
    assert!(err.is_too_large());
    assert!(out.capacity() <= limit, "allocated {} bytes", out.capacity());
    assert!(started.elapsed() < Duration::from_secs(5));
    // Given room, the same input is valid.
    assert_eq!(inflate(&bomb, 40 << 20).unwrap().len(), 1 + 258 * 130_000);
}

/// Writes one dynamic block header (§3.2.7): code length code `cl`, then the
/// literal/length and distance lengths one by one, unless `sequence` gives
/// the code length symbols and extra bits to send instead.
fn dynamic_block(w: &mut BitWriter, litlen: &[u8], dist: &[u8], cl: &[u8; 19], sequence: Option<&[(usize, u32)]>) {
    const ORDER: [usize; 19] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];
    w.put(0b101, 3); // BFINAL, BTYPE 10
    w.put(litlen.len() as u32 - 257, 5);
    w.put(dist.len() as u32 - 1, 5);
    let hclen = ORDER.iter().rposition(|&s| cl[s] != 0).unwrap().max(3) + 1;
    w.put(hclen as u32 - 4, 4);
    for &s in &ORDER[..hclen] {
        w.put(cl[s] as u32, 3);
    }
    let plain: Vec<(usize, u32)> = litlen.iter().chain(dist).map(|&l| (l as usize, 0)).collect();
    let codes = canonical_codes(cl);
    for &(symbol, extra) in sequence.unwrap_or(&plain) {
        w.put(reverse(codes[symbol], cl[symbol]) as u32, cl[symbol] as u32);
        w.put(extra, [2, 3, 7].get(symbol.wrapping_sub(16)).copied().unwrap_or(0));
    }
}

/// A writer of the symbols of the canonical code with these lengths.
fn coder(lengths: &[u8]) -> impl Fn(&mut BitWriter, usize) + '_ {
    let codes = canonical_codes(lengths);
    move |w, symbol| w.put(reverse(codes[symbol], lengths[symbol]) as u32, lengths[symbol] as u32)
}

fn bits(write: impl FnOnce(&mut BitWriter)) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = BitWriter::new(&mut out);
    write(&mut w);
    w.align();
    out
}

fn cl_lengths(pairs: &[(usize, u8)]) -> [u8; 19] {
    let mut cl = [0u8; 19];
    for &(s, l) in pairs {
        cl[s] = l;
    }
    cl
}

#[test]
fn malformed_streams_are_refused_with_the_rule_they_break() {
    use InflateError::*;
    // Literal/length lengths: 254 literals, end of block and length 3, all
    // 8 bits (a complete code); `lit_only`: 255 literals and end of block.
    let mut with_length = vec![8u8; 258];
    with_length[254] = 0;
    with_length[255] = 0;
    let mut lit_only = vec![8u8; 257];
    lit_only[255] = 0;
    let cl_8_0 = cl_lengths(&[(8, 1), (0, 1)]);
    let cl_8_0_1_2 = cl_lengths(&[(8, 1), (0, 2), (1, 3), (2, 3)]);
    let fixed = |w: &mut BitWriter| w.put(0b011, 3);
    let fixed_lit = |w: &mut BitWriter, b: u8| w.put(reverse(0x30 + b as u16, 8) as u32, 8);
    let cases: Vec<(&str, Vec<u8>, InflateError)> = vec![
        ("block type 11", vec![0x07], ReservedBlockType),
        (
            "NLEN",
            vec![0x01, 0x05, 0x00, 0xfa, 0xfe],
            StoredLengthMismatch { len: 5, nlen: 0xfefa },
        ),
        (
            "stored bytes missing",
            vec![0x01, 0x05, 0x00, 0xfa, 0xff, b'a'],
            Truncated,
        ),
        (
            "287 literal/length codes",
            bits(|w| {
                w.put(0b101, 3);
                w.put(30, 5);
                w.put(0, 9);
            }),
            TooManyCodes { litlen: 287, dist: 1 },
        ),
        (
            "31 distance codes",
            bits(|w| {
                w.put(0b101, 3);
                w.put(0, 5);
                w.put(30, 5);
                w.put(0, 4);
            }),
            TooManyCodes { litlen: 257, dist: 31 },
        ),
        (
            "code length code over-subscribed",
            bits(|w| dynamic_block(w, &lit_only, &[0], &[1; 19], Some(&[]))),
            Oversubscribed(CodeSet::CodeLength),
        ),
        (
            "code length code incomplete",
            bits(|w| dynamic_block(w, &lit_only, &[0], &cl_lengths(&[(16, 1)]), Some(&[]))),
            Incomplete(CodeSet::CodeLength),
        ),
        (
            "repeat with nothing to repeat",
            bits(|w| dynamic_block(w, &lit_only, &[0], &cl_lengths(&[(16, 1), (8, 1)]), Some(&[(16, 0)]))),
            RepeatWithoutPrevious,
        ),
        (
            "zeros past the last length",
            bits(|w| {
                dynamic_block(
                    w,
                    &lit_only,
                    &[0],
                    &cl_lengths(&[(18, 1), (8, 1)]),
                    Some(&[(18, 127), (18, 127)]),
                )
            }),
            RepeatPastEnd,
        ),
        (
            "no end-of-block code",
            bits(|w| {
                let mut lengths = vec![8u8; 257];
                lengths[256] = 0;
                dynamic_block(w, &lengths, &[0], &cl_8_0, None)
            }),
            MissingEndOfBlock,
        ),
        (
            "257 codes of 8 bits",
            bits(|w| dynamic_block(w, &[8; 257], &[0], &cl_8_0, None)),
            Oversubscribed(CodeSet::LiteralLength),
        ),
        (
            "255 codes of 8 bits",
            bits(|w| {
                let mut lengths = lit_only.clone();
                lengths[0] = 0;
                dynamic_block(w, &lengths, &[0], &cl_8_0, None)
            }),
            Incomplete(CodeSet::LiteralLength),
        ),
        (
            "three 1-bit distance codes",
            bits(|w| dynamic_block(w, &lit_only, &[1, 1, 1], &cl_8_0_1_2, None)),
            Oversubscribed(CodeSet::Distance),
        ),
        (
            "distance codes of 1 and 2 bits",
            bits(|w| dynamic_block(w, &lit_only, &[1, 2], &cl_8_0_1_2, None)),
            Incomplete(CodeSet::Distance),
        ),
        (
            "the unused half of a lone distance code",
            bits(|w| {
                dynamic_block(w, &with_length, &[1], &cl_8_0_1_2, None);
                let put = coder(&with_length);
                put(w, b'a' as usize);
                put(w, 257);
                w.put(1, 1);
            }),
            InvalidCode(CodeSet::Distance),
        ),
        (
            "literal/length symbol 286",
            bits(|w| {
                fixed(w);
                w.put(reverse(0b1100_0110, 8) as u32, 8);
            }),
            InvalidSymbol {
                set: CodeSet::LiteralLength,
                symbol: 286,
            },
        ),
        (
            "distance symbol 30",
            bits(|w| {
                fixed(w);
                fixed_lit(w, b'a');
                w.put(reverse(1, 7) as u32, 7); // 257: length 3
                w.put(reverse(30, 5) as u32, 5);
            }),
            InvalidSymbol {
                set: CodeSet::Distance,
                symbol: 30,
            },
        ),
        (
            "distance before the start",
            bits(|w| {
                fixed(w);
                fixed_lit(w, b'a');
                w.put(reverse(1, 7) as u32, 7);
                w.put(reverse(1, 5) as u32, 5); // distance 2
            }),
            DistanceTooFar {
                distance: 2,
                available: 1,
            },
        ),
        (
            "a byte after the final block",
            vec![0x03, 0x00, 0x00],
            TrailingData { bytes: 1 },
        ),
        ("no final block", vec![0x02, 0x00], Truncated),
    ];
    for (what, data, expected) in cases {
        assert_eq!(inflate(&data, 1000), Err(expected), "{what}: {data:02x?}");
    }
}

#[test]
fn every_truncation_of_a_valid_stream_is_an_error() {
    let text = chapters();
    for (kind, level) in [("text", 6), ("mixed", 1), ("random", 6)] {
        let data = input(kind, 3000, 5, &text);
        let packed = deflate(&data, Level::new(level).unwrap());
        for cut in 0..packed.len() {
            assert!(
                inflate(&packed[..cut], 10_000).is_err(),
                "{kind}: {cut} of {} bytes",
                packed.len()
            );
        }
    }
}

#[test]
fn random_and_corrupted_input_never_panics_and_never_passes_the_limit() {
    let text = chapters();
    let mut rng = Rng(2024);
    let valid: Vec<Vec<u8>> = (0..40)
        .map(|i| {
            let kind = ["text", "mixed", "random", "zeros"][i % 4];
            let data = input(kind, 50 + rng.below(3000), i as u64, &text);
            let mut payload = Vec::new();
            Deflater::new(config(8 + (i % 8) as u8, (i % 10) as u8, false)).compress_message(&data, &mut payload);
            payload
        })
        .collect();
    // For each window size, a first message for later ones to refer to.
    let history: Vec<Vec<u8>> = (8..=15)
        .map(|bits| {
            let mut payload = Vec::new();
            Deflater::new(config(bits, 1, false)).compress_message(&input("text", 1500, 9, &text), &mut payload);
            payload
        })
        .collect();
    for round in 0..20_000 {
        let mut data = valid[rng.below(valid.len())].clone();
        match round % 5 {
            0 => data = (0..rng.below(400)).map(|_| rng.next() as u8).collect(),
            1 => data.truncate(rng.below(data.len() + 1)),
            2 => data.extend((0..1 + rng.below(20)).map(|_| rng.next() as u8)),
            _ => {
                for _ in 0..1 + rng.below(4) {
                    if !data.is_empty() {
                        let i = rng.below(data.len());
                        data[i] ^= 1 << rng.below(8);
                    }
                }
            }
        }
        let limit = rng.below(20_000);
        if let Ok(out) = inflate(&data, limit) {
            assert!(out.len() <= limit);
        }
        // A message after a valid one, so distances may reach into history.
        let bits = rng.below(8);
        let mut inflater = Inflater::new(WindowBits::new(8 + bits as u8).unwrap(), true);
        inflater
            .inflate_message(&history[bits], &mut Vec::new(), 10_000)
            .unwrap();
        let mut out = Vec::new();
        if inflater.inflate_message(&data, &mut out, limit).is_ok() {
            assert!(out.len() <= limit);
        }
    }
}

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/deflate")
}

#[test]
fn zlib_vectors_inflate_to_the_recorded_bytes() {
    let vectors = std::fs::read_to_string(data_dir().join("zlib_vectors.txt")).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut inflaters: Vec<(String, Inflater)> = Vec::new();
    let mut count = 0;
    for line in vectors.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split(' ').collect();
        let (name, bits) = (f[1], f[2].parse().unwrap());
        let window = WindowBits::new(bits).unwrap();
        let (len, sha1, data) = match f[0] {
            "stream" => (f[3], f[4], f[5]),
            _ => (f[5], f[6], f[7]),
        };
        let data = if data == "-" {
            Vec::new()
        } else {
            b64.decode(data).unwrap()
        };
        let len: usize = len.parse().unwrap();
        let mut out = Vec::new();
        if f[0] == "stream" {
            out = inflate(&data, len).unwrap_or_else(|e| panic!("{name}: {e}"));
            // The stream never refers further back than its window.
            Inflater::new(window, false)
                .inflate_message(&data, &mut Vec::new(), len)
                .unwrap();
        } else {
            if !inflaters.iter().any(|(n, _)| n == name) {
                inflaters.push((name.to_string(), Inflater::new(window, f[3] == "1")));
            }
            let inflater = &mut inflaters.iter_mut().find(|(n, _)| n == name).unwrap().1;
            inflater
                .inflate_message(&data, &mut out, len)
                .unwrap_or_else(|e| panic!("{name} {}: {e}", f[4]));
        }
        assert_eq!(out.len(), len, "{name}");
        assert_eq!(sha1_smol::Sha1::from(&out).digest().to_string(), sha1, "{name}");
        count += 1;
    }
    assert!(count > 100, "only {count} vectors");
}

fn write_items(path: &Path, items: &[Vec<u8>]) {
    let mut bytes = Vec::new();
    for item in items {
        bytes.extend((item.len() as u32).to_le_bytes());
        bytes.extend(item);
    }
    std::fs::write(path, bytes).unwrap();
}

fn read_items(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    let mut items = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let n = u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap()) as usize;
        items.push(bytes[i + 4..i + 4 + n].to_vec());
        i += 4 + n;
    }
    items
}

/// Runs `python3 zlib_oracle.py check dir`, killing it after `limit`.
fn run_oracle(dir: &Path, limit: Duration) -> String {
    let spawned = Command::new("python3")
        .arg(data_dir().join("zlib_oracle.py"))
        .arg("check")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    let Ok(mut child) = spawned else {
        panic!("this test needs python3 (with its standard zlib module) on PATH: it checks wirelab against zlib");
    };
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("python3 did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut report = String::new();
    child.stdout.take().unwrap().read_to_string(&mut report).unwrap();
    report
}

#[test]
fn zlib_and_wirelab_inflate_each_others_output() {
    let text = chapters();
    let scratch = Scratch(std::env::temp_dir().join(format!("wirelab-zlib-{}", std::process::id())));
    let dir = &scratch.0;
    std::fs::create_dir_all(dir).unwrap();
    let mut manifest = String::new();
    let mut cases = Vec::new();
    let mut n = 0;
    for (kind, size) in [
        ("text", 200_000),
        ("mixed", 150_000),
        ("random", 70_000),
        ("zeros", 100_000),
        ("text", 1),
    ] {
        for (bits, level) in [(15, 6), (15, 9), (15, 1), (15, 0), (12, 6), (9, 6), (8, 6), (10, 3)] {
            let data = input(kind, size, n as u64, &text);
            let mut ours = Vec::new();
            Deflater::new(config(bits, level, false)).compress(&data, Flush::Final, &mut ours);
            cases.push(("stream", bits, level, false, vec![data], vec![ours]));
            n += 1;
        }
    }
    for (bits, level, takeover) in [(15, 6, true), (15, 6, false), (9, 6, true), (8, 1, true), (15, 9, true)] {
        let messages = chat_messages(200);
        let mut deflater = Deflater::new(config(bits, level, takeover));
        let payloads: Vec<Vec<u8>> = messages
            .iter()
            .map(|m| {
                let mut p = Vec::new();
                deflater.compress_message(m, &mut p);
                p
            })
            .collect();
        cases.push(("messages", bits, level, takeover, messages, payloads));
    }
    for (i, (kind, bits, level, takeover, originals, ours)) in cases.iter().enumerate() {
        manifest.push_str(&format!("{i} {kind} {bits} {level} {}\n", *takeover as u8));
        write_items(&dir.join(format!("{i}.in")), originals);
        write_items(&dir.join(format!("{i}.ours")), ours);
    }
    std::fs::write(dir.join("manifest"), manifest).unwrap();

    let report = run_oracle(dir, Duration::from_secs(300));
    let failures: Vec<&str> = report.lines().filter(|l| !l.starts_with("ok ")).collect();
    assert!(
        failures.is_empty(),
        "zlib could not inflate our output:\n{}",
        failures.join("\n")
    );
    for (i, (kind, bits, level, takeover, originals, ours)) in cases.iter().enumerate() {
        let theirs = read_items(&dir.join(format!("{i}.zlib")));
        // zlib makes 8 window bits 9 but, keeping 262 bytes of lookahead,
        // never reaches back more than 250 bytes: an 8-bit inflater copes.
        let mut inflater = Inflater::new(WindowBits::new(*bits).unwrap(), *takeover);
        for (payload, original) in theirs.iter().zip(originals) {
            let mut out = Vec::new();
            if *kind == "stream" {
                out = inflate(payload, original.len()).unwrap_or_else(|e| panic!("case {i}: {e}"));
            } else {
                inflater
                    .inflate_message(payload, &mut out, original.len())
                    .unwrap_or_else(|e| panic!("case {i}: {e}"));
            }
            assert!(out == *original, "case {i}: zlib's output inflates to different bytes");
        }
        // At levels 6 and 9 ours compresses within 2 % of zlib.
        let zlib_size: usize = report
            .lines()
            .nth(i)
            .unwrap()
            .split(' ')
            .nth(2)
            .unwrap()
            .parse()
            .unwrap();
        let our_size: usize = ours.iter().map(Vec::len).sum();
        if *level >= 6 && *bits >= 9 {
            assert!(
                our_size * 100 <= zlib_size * 102 + 100,
                "case {i}: {our_size} bytes, zlib {zlib_size}"
            );
        }
    }
}

/// A directory removed when the test ends, passed or failed.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn granted_output_grows_only_by_what_the_caller_grants_and_allocates_no_further() {
    // 4 MiB of zeros, a few KiB compressed.
    let mut payload = Vec::new();
    Deflater::new(config(15, 6, false)).compress_message(&vec![0u8; 4 << 20], &mut payload);
    let run = |budget: usize| {
        let mut granted = 0;
        let mut grant = |n: usize| {
            let ok = granted + n <= budget;
            granted += if ok { n } else { 0 };
            ok
        };
        let mut out = Vec::new();
        let result = Inflater::new(WindowBits::MAX, false).inflate_message_granted(
            &payload,
            &mut out,
            8 << 20,
            64 << 10,
            &mut grant,
        );
        (result, out, granted)
    };
    // Enough granted: the whole message, and the grants cover it to 64 KiB.
    let (result, out, granted) = run(8 << 20);
    assert!(result.is_ok());
    assert_eq!(out.len(), 4 << 20);
    assert!(granted + (64 << 10) >= out.len() && granted <= out.len(), "{granted}");
    assert!(out.capacity() <= (64 << 10) + granted, "capacity {}", out.capacity());
    // Grants run out at 1 MiB: TooLarge, and nothing allocated past them.
    let (result, out, granted) = run(1 << 20);
    assert!(result.unwrap_err().is_too_large());
    assert!(granted <= 1 << 20);
    assert!(out.capacity() <= (64 << 10) + granted, "capacity {}", out.capacity());
}
