//! The frame decoder under fuzzing: sequences of frames, valid or
//! mutated, fed in random pieces with pauses.
//!
//! A valid sequence must come out as exactly the messages that went in,
//! however it is cut. Any other input must end in a defined way: a
//! protocol violation with its close code, or the end of the input; never a
//! panic, never a message over the limit, never more buffered than the
//! read buffer.

use super::mutate::{mutate, Pieces};
use crate::random::XorShift;
use crate::websocket::decode::Decoder;
use crate::websocket::extension::Compression;
use crate::websocket::frame::{encode_frame, OpCode};
use crate::websocket::{CloseCode, CloseFrame, Config, Error, Message, Role};

/// Close codes a peer's frame may be failed with.
const VIOLATION_CODES: [u16; 4] = [1002, 1007, 1009, 1013];

/// Largest amount the decoder may hold in its read buffer.
const READ_BUFFER: usize = 16 * 1024;

/// Random text: ASCII, multi-byte characters, the odd control character.
fn text(rng: &mut XorShift, max: usize) -> String {
    let pool = ['a', 'z', ' ', '\n', 'é', 'ß', '中', '😀', '\u{0}', '\u{7f}', '\u{FEFF}'];
    let n = rng.below(max + 1);
    let mut s = String::new();
    while s.len() < n {
        let c = *rng.pick(&pool);
        if s.len() + c.len_utf8() > max {
            break;
        }
        s.push(c);
    }
    s
}

fn payload_len(rng: &mut XorShift, max: usize) -> usize {
    // Mostly small; sometimes at the 7-bit / 16-bit / 64-bit boundaries.
    match rng.below(10) {
        0 => max.min(125 + rng.below(3)),
        1 => max.min(0xFFFF + rng.below(3)),
        2 => rng.below(max + 1),
        _ => rng.below(max.min(200) + 1),
    }
}

/// A valid sequence of frames and the messages a decoder must return for it.
fn sequence(rng: &mut XorShift, config: &Config, masked: bool) -> (Vec<u8>, Vec<Message>) {
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    let frame = |wire: &mut Vec<u8>, rng: &mut XorShift, fin, op, payload: &[u8]| {
        let mask = masked.then(|| (rng.next_u64() as u32).to_le_bytes());
        let mut out = Vec::new();
        encode_frame(&mut out, fin, op, payload, mask);
        wire.extend_from_slice(&out);
    };
    for _ in 0..1 + rng.below(6) {
        match rng.below(8) {
            0 => {
                let p: Vec<u8> = (0..rng.below(126)).map(|_| rng.next_u64() as u8).collect();
                let op = if rng.one_in(2) { OpCode::Ping } else { OpCode::Pong };
                frame(&mut wire, rng, true, op, &p);
                expected.push(if op == OpCode::Ping {
                    Message::Ping(p)
                } else {
                    Message::Pong(p)
                });
            }
            1 => {
                let code = *rng.pick(&[1000u16, 1001, 1003, 1011, 3000, 4999]);
                let close = CloseFrame::new(CloseCode(code), text(rng, CloseFrame::MAX_REASON));
                frame(&mut wire, rng, true, OpCode::Close, &close.to_payload());
                expected.push(Message::Close(Some(close)));
                break;
            }
            _ => {
                // A data message, in one frame or several, with control
                // frames between the fragments.
                let total = payload_len(rng, config.max_message_size);
                let is_text = rng.one_in(2);
                let bytes = if is_text {
                    text(rng, total).into_bytes()
                } else {
                    (0..total).map(|_| rng.next_u64() as u8).collect()
                };
                let mut cuts = vec![0, bytes.len()];
                for _ in 0..rng.below(4) {
                    cuts.push(rng.below(bytes.len() + 1));
                }
                cuts.sort_unstable();
                cuts.dedup();
                if cuts.len() < 2 {
                    cuts.push(bytes.len());
                }
                let pieces: Vec<&[u8]> = cuts.windows(2).map(|w| &bytes[w[0]..w[1]]).collect();
                let pieces = if pieces.is_empty() { vec![&bytes[..]] } else { pieces };
                if pieces.iter().any(|p| p.len() > config.max_frame_size) {
                    continue;
                }
                for (i, piece) in pieces.iter().enumerate() {
                    let op = match (i, is_text) {
                        (0, true) => OpCode::Text,
                        (0, false) => OpCode::Binary,
                        _ => OpCode::Continuation,
                    };
                    frame(&mut wire, rng, i + 1 == pieces.len(), op, piece);
                    if i + 1 < pieces.len() && rng.one_in(3) {
                        frame(&mut wire, rng, true, OpCode::Ping, b"between");
                        expected.push(Message::Ping(b"between".to_vec()));
                    }
                }
                expected.push(if is_text {
                    Message::Text(String::from_utf8(bytes).expect("generated text"))
                } else {
                    Message::Binary(bytes)
                });
            }
        }
    }
    (wire, expected)
}

/// One case: builds a sequence (mutated unless `valid`), decodes it, and
/// returns the outcome's name, or the rule the decoder broke.
pub fn case(rng: &mut XorShift) -> Result<String, String> {
    let role = if rng.one_in(5) { Role::Client } else { Role::Server };
    let max_frame = *rng.pick(&[64usize, 1000, 4096, 70_000]);
    let config = Config {
        max_frame_size: max_frame,
        max_message_size: max_frame * *rng.pick(&[1usize, 2, 4]),
        ..Config::default()
    };
    let (mut wire, expected) = sequence(rng, &config, role == Role::Server);
    let valid = rng.one_in(4);
    if !valid {
        mutate(rng, &mut wire, 300_000);
    }
    // Some bytes arrive with the handshake, before the decoder reads.
    let leftover_len = if rng.one_in(4) { rng.below(wire.len() + 1) } else { 0 };
    let (leftover, rest) = wire.split_at(leftover_len);
    let mut decoder = Decoder::new(role, &config, leftover);
    // With permessage-deflate agreed, a mutation that sets RSV1 on a data
    // frame sends its bytes through the inflater.
    if rng.one_in(3) {
        let offer = "permessage-deflate; client_max_window_bits";
        if let Some(params) = Compression::SERVER.accept([offer]) {
            decoder.set_deflate(&params);
        }
    }
    // Byte-sized pieces only for short inputs: a 280 KB input read a byte
    // at a time would make a case take a second.
    let largest = if wire.len() < 2000 {
        *rng.pick(&[1usize, 7, 100, 5000])
    } else {
        *rng.pick(&[1000usize, 5000, 100_000])
    };
    let mut input = Pieces::new(rest, rng.next_u64(), largest, true);
    let mut got = Vec::new();
    let mut stalls = 0;
    let end = loop {
        let before = input.remaining();
        let result = decoder.read(&mut input);
        if input.remaining() < before {
            stalls = 0;
        }
        if decoder.buffered() > READ_BUFFER.max(leftover.len()) {
            return Err(format!("{} bytes buffered", decoder.buffered()));
        }
        match result {
            Ok(message) => {
                stalls = 0;
                check_message(&message, &config)?;
                let closed = matches!(message, Message::Close(_));
                got.push(message);
                if closed {
                    break "close frame".to_string();
                }
            }
            Err(e) if e.is_timeout() => {
                stalls += 1;
                if stalls > 100 {
                    return Err("no progress after 100 pauses in a row".into());
                }
            }
            Err(Error::Protocol(v)) => {
                let code = v.close_code().0;
                if !VIOLATION_CODES.contains(&code) {
                    return Err(format!("{v} answered with close code {code}"));
                }
                break format!("fail {code}");
            }
            Err(Error::AbnormalClosure) => {
                if input.remaining() > 0 {
                    return Err("end of input reported before the end".into());
                }
                break "end of input".to_string();
            }
            Err(e) => return Err(format!("undefined outcome: {e}")),
        }
    };
    if valid && got != expected {
        return Err(format!(
            "valid frames decoded as {} messages, {} expected, ending in {end} ({role:?}, {config:?}, leftover {leftover_len}, pieces of at most {largest})",
            got.len(),
            expected.len()
        ));
    }
    Ok(format!("{}{end}", if valid { "valid: " } else { "" }))
}

fn check_message(message: &Message, config: &Config) -> Result<(), String> {
    match message {
        Message::Text(t) if t.len() > config.max_message_size => Err(format!("a {}-byte text", t.len())),
        Message::Binary(b) if b.len() > config.max_message_size => Err(format!("a {}-byte binary", b.len())),
        Message::Ping(p) | Message::Pong(p) if p.len() > 125 => Err(format!("a {}-byte control frame", p.len())),
        Message::Close(Some(f)) if !f.code.is_valid_on_wire() || f.reason.len() > CloseFrame::MAX_REASON => {
            Err(format!("close frame {f} let through"))
        }
        _ => Ok(()),
    }
}
