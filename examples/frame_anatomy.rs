//! `frame_anatomy`: what WebSocket frames look like on the wire, byte by byte.
//!
//! ```text
//! cargo run --example frame_anatomy
//! ```
//!
//! Encodes a few messages the way a server and a client would send them and
//! prints each frame's header fields, its size, and the first bytes in hex.
//! It shows three facts from `docs/frames.md`:
//!
//! - a header is 2 bytes for payloads up to 125 bytes, 4 bytes up to 65 535,
//!   10 bytes beyond;
//! - a client adds a 4-byte masking key to every frame, so client headers
//!   are 6, 8 or 14 bytes (the notes' "2-10 bytes" counts only server frames);
//! - masking changes every payload byte, with a fresh key per frame.
//!
//! Then one compressed frame (permessage-deflate, RFC 7692), taken apart
//! bit by bit from the crate's own encoder output: RSV1 in the first byte,
//! the DEFLATE block header (BFINAL, BTYPE; RFC 1951 §3.2.3), the first
//! Huffman codes and what they stand for (§3.2.5, §3.2.6), and the
//! `00 00 ff ff` that ends every flushed message and is removed before it
//! is framed (RFC 7692 §7.2.1).
//!
//! It prints and exits. Next: `RUST_LOG=trace cargo run --example ws_echo`
//! and connect a client, to see the same fields for live traffic.

use wirelab::deflate::tables::{DIST_BASE, DIST_EXTRA, LENGTH_BASE, LENGTH_EXTRA};
use wirelab::deflate::{DeflateConfig, Deflater, Flush, MESSAGE_TAIL};
use wirelab::websocket::frame::{compressed_server_frame, encode_frame, FrameHeader, OpCode};

fn main() {
    let mut masks = wirelab::random::MaskKeys::new();
    let samples: Vec<(&str, OpCode, Vec<u8>)> = vec![
        ("text \"Hello\"", OpCode::Text, b"Hello".to_vec()),
        ("empty ping", OpCode::Ping, Vec::new()),
        (
            "close 1000 \"bye\"",
            OpCode::Close,
            [&1000u16.to_be_bytes()[..], b"bye"].concat(),
        ),
        ("125-byte text", OpCode::Text, vec![b'a'; 125]),
        ("126-byte text", OpCode::Text, vec![b'a'; 126]),
        ("64 KiB binary", OpCode::Binary, vec![0u8; 65_536]),
    ];
    println!(
        "{:<18} {:<7} {:>7} {:>8}  header fields / first bytes",
        "message", "from", "header", "payload"
    );
    for (name, opcode, payload) in &samples {
        for (from, mask) in [("server", None), ("client", Some(masks.next_key()))] {
            let mut frame = Vec::new();
            encode_frame(&mut frame, true, *opcode, payload, mask);
            let (header, header_len) = FrameHeader::parse(&frame).unwrap().unwrap();
            println!(
                "{name:<18} {from:<7} {header_len:>5} B {:>6} B  {header}",
                payload.len()
            );
            let shown = &frame[..frame.len().min(header_len + 8)];
            let hex: Vec<String> = shown.iter().map(|b| format!("{b:02x}")).collect();
            println!(
                "{:<45}  {} | {}{}",
                "",
                hex[..header_len].join(" "),
                hex[header_len..].join(" "),
                if frame.len() > shown.len() { " …" } else { "" }
            );
        }
    }
    println!();
    println!("A fragmented text message, \"Hello, world\" in three frames (server side):");
    for (fin, opcode, part) in [
        (false, OpCode::Text, &b"Hel"[..]),
        (false, OpCode::Continuation, b"lo, "),
        (true, OpCode::Continuation, b"world"),
    ] {
        let mut frame = Vec::new();
        encode_frame(&mut frame, fin, opcode, part, None);
        let (header, _) = FrameHeader::parse(&frame).unwrap().unwrap();
        println!("  {header}  payload {:?}", String::from_utf8_lossy(part));
    }
    println!();
    compressed_frame();
    println!();
    println!("next: RUST_LOG=trace cargo run --example ws_echo, then cargo run --example ws_client");
}

/// Bits of a DEFLATE stream, least significant bit of each byte first
/// (RFC 1951 §3.1.1), remembering where each field started.
struct Bits<'a> {
    data: &'a [u8],
    at: usize,
}

impl Bits<'_> {
    fn bit(&mut self) -> Option<u32> {
        let byte = *self.data.get(self.at / 8)?;
        let bit = (byte >> (self.at % 8)) & 1;
        self.at += 1;
        Some(u32::from(bit))
    }

    /// A number of `n` bits, least significant first (header fields and
    /// extra bits).
    fn number(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0, |v, i| Some(v | self.bit()? << i))
    }

    /// A Huffman code of `n` bits, most significant first (§3.1.1: codes
    /// are packed starting with their first bit).
    fn code(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0, |v, _| Some(v << 1 | self.bit()?))
    }
}

/// One symbol of the fixed literal/length code (§3.2.6), with its code.
fn fixed_symbol(bits: &mut Bits) -> Option<(u32, String)> {
    let mut code = bits.code(7)?;
    if code <= 0b001_0111 {
        return Some((256 + code, format!("{code:07b}")));
    }
    code = code << 1 | bits.bit()?;
    match code {
        0b0011_0000..=0b1011_1111 => Some((code - 0b0011_0000, format!("{code:08b}"))),
        0b1100_0000..=0b1100_0111 => Some((280 + code - 0b1100_0000, format!("{code:08b}"))),
        _ => {
            code = code << 1 | bits.bit()?;
            Some((144 + code - 0b1_1001_0000, format!("{code:09b}")))
        }
    }
}

/// A chat message compressed by the crate's deflater, framed, and read
/// back field by field.
fn compressed_frame() {
    let text = r#"{"type":"message","nick":"ada","text":"hello, hello, hello!"}"#;
    let mut deflater = Deflater::new(DeflateConfig {
        context_takeover: false,
        ..DeflateConfig::default()
    });
    let mut flushed = Vec::new();
    deflater.compress(text.as_bytes(), Flush::Sync, &mut flushed);
    let hex = |b: &[u8]| b.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ");
    println!("A compressed text message (permessage-deflate, RFC 7692), server side:");
    println!("  {} B of JSON: {text}", text.len());
    println!(
        "  the deflater's sync-flushed output, {} B: {}",
        flushed.len(),
        hex(&flushed)
    );
    assert!(
        flushed.ends_with(&MESSAGE_TAIL),
        "a sync flush ends with an empty stored block"
    );
    let payload = &flushed[..flushed.len() - MESSAGE_TAIL.len()];
    println!(
        "  it ends in {} (an empty stored block: the flush), which every message would end in,",
        hex(&MESSAGE_TAIL)
    );
    println!("  so the sender removes those 4 bytes and the receiver appends them again (§7.2.1, §7.2.2)");
    let frame = compressed_server_frame(OpCode::Text, payload);
    let (header, header_len) = FrameHeader::parse(&frame).unwrap().unwrap();
    println!(
        "  the frame: {} B = {header_len} B header + {} B payload, against {} B uncompressed",
        frame.len(),
        payload.len(),
        2 + text.len()
    );
    println!("  {header}");
    println!(
        "  first byte {:02x} = {:08b}: FIN 1, RSV1 1 (\"this message is compressed\"; only on a message's first frame), RSV2 0, RSV3 0, opcode {:04b}",
        frame[0],
        frame[0],
        frame[0] & 0x0f
    );
    println!("  payload bits, each byte read from its lowest bit (RFC 1951 §3.1.1):");
    let mut bits = Bits { data: payload, at: 0 };
    let bfinal = bits.number(1).unwrap();
    let btype = bits.number(2).unwrap();
    println!(
        "    bit 0     BFINAL = {bfinal} ({})",
        if bfinal == 1 {
            "last block"
        } else {
            "more blocks may follow: the stream goes on after the flush"
        }
    );
    let kind = [
        "stored",
        "fixed Huffman codes",
        "dynamic Huffman codes",
        "reserved (error)",
    ][btype as usize];
    println!("    bits 1-2  BTYPE = {btype:02b} ({kind}; the field is read low bit first)");
    if btype != 1 {
        let (hlit, hdist, hclen) = (
            bits.number(5).unwrap(),
            bits.number(5).unwrap(),
            bits.number(4).unwrap(),
        );
        println!(
            "    HLIT {} literal/length codes, HDIST {} distance codes, HCLEN {} code length codes (§3.2.7); the code tables follow",
            hlit + 257,
            hdist + 1,
            hclen + 4
        );
        return;
    }
    println!("    then one code per symbol, each written from its first bit (§3.2.6 fixed code):");
    let mut out = Vec::new();
    let mut shown = 0;
    loop {
        let start = bits.at;
        let Some((symbol, code)) = fixed_symbol(&mut bits) else {
            break;
        };
        let what = match symbol {
            0..=255 => {
                out.push(symbol as u8);
                format!("literal {:?}", char::from(symbol as u8))
            }
            256 => "end of block".to_string(),
            _ => {
                let i = (symbol - 257) as usize;
                let length = u32::from(LENGTH_BASE[i]) + bits.number(u32::from(LENGTH_EXTRA[i])).unwrap();
                let d = bits.code(5).unwrap() as usize;
                let distance = u32::from(DIST_BASE[d]) + bits.number(u32::from(DIST_EXTRA[d])).unwrap();
                let from = out.len() - distance as usize;
                for k in 0..length as usize {
                    out.push(out[from + k]);
                }
                let copied = String::from_utf8_lossy(&out[out.len() - length as usize..]).into_owned();
                format!("length symbol {symbol} + distance code {d} (with extra bits): copy {length} bytes from {distance} back: {copied:?}")
            }
        };
        if shown < 14 || symbol >= 256 {
            println!("    bit {start:<4} {code:<9} {what}");
            shown += 1;
        } else if shown == 14 {
            println!("    …");
            shown += 1;
        }
        if symbol == 256 {
            break;
        }
    }
    // The flush: an empty stored block. Its 3 header bits are still in the
    // payload; stored data starts on a byte boundary (§3.2.4), and its
    // LEN = 0000, NLEN = ffff are the 4 bytes removed.
    let start = bits.at;
    let (bfinal, btype) = (bits.number(1).unwrap(), bits.number(2).unwrap());
    println!("    bit {start:<4} {bfinal}{btype:02b}       the flush's empty stored block: BFINAL {bfinal}, BTYPE {btype:02b} (stored)");
    println!(
        "    bit {:<4} {} bits of padding to the byte boundary; the block's LEN 00 00 and NLEN ff ff were the removed tail",
        bits.at,
        (8 - bits.at % 8) % 8
    );
    assert_eq!(out, text.as_bytes(), "the codes decode to the message");
    println!("  decoded back: {:?}", String::from_utf8_lossy(&out));
}
