//! Tests of [`super::decode::Decoder`]: byte streams in, messages or the
//! violation's close code out, however the bytes are split.

use std::io::{self, Read};

use super::config::{Config, Role};
use super::decode::{Decoder, WireStats};
use super::encode::Encoder;
use super::error::{Error, ProtocolError, Result};
use super::frame::OpCode;
use super::message::Message;
use super::message::{CloseCode, CloseFrame};
use crate::budget::MessageBudget;

fn config() -> Config {
    Config {
        max_frame_size: 1 << 20,
        max_message_size: 1 << 21,
        ..Config::default()
    }
}

/// Client-side encoding of frames, to feed a server-side receiver.
fn client_frames(frames: &[(bool, OpCode, &[u8])]) -> Vec<u8> {
    let mut enc = Encoder::new(Role::Client);
    let mut out = Vec::new();
    for (fin, op, payload) in frames {
        out.extend_from_slice(&enc.frame(*fin, *op, payload).to_vec());
    }
    out
}

fn server_reads(wire: &[u8]) -> Vec<Result<Message>> {
    let mut rx = Decoder::new(Role::Server, &config(), &[]);
    let mut input = wire;
    let mut out = Vec::new();
    loop {
        let r = rx.read(&mut input);
        let stop = r.is_err();
        out.push(r);
        if stop {
            return out;
        }
    }
}

fn violation(wire: &[u8]) -> ProtocolError {
    for r in server_reads(wire) {
        match r {
            Err(Error::Protocol(e)) => return e,
            Err(e) => panic!("expected a protocol error, got {e}"),
            Ok(_) => {}
        }
    }
    unreachable!()
}

#[test]
fn fragments_are_joined_and_pings_between_them_come_out_first() {
    let wire = client_frames(&[
        (false, OpCode::Text, b"Hel"),
        (true, OpCode::Ping, b"are you there?"),
        (false, OpCode::Continuation, b"lo, "),
        (true, OpCode::Pong, b""),
        (true, OpCode::Continuation, "wörld".as_bytes()),
    ]);
    let mut rx = Decoder::new(Role::Server, &config(), &[]);
    let mut input = &wire[..];
    let mut got = Vec::new();
    while let Ok(m) = rx.read(&mut input) {
        got.push(m);
    }
    assert_eq!(
        got,
        [
            Message::Ping(b"are you there?".to_vec()),
            Message::Pong(vec![]),
            Message::text("Hello, wörld"),
        ]
    );
    // Three data frames of 3 + 4 + 6 bytes, each with a 6-byte masked header.
    assert_eq!(
        rx.last_message_wire(),
        WireStats {
            frames: 3,
            header_bytes: 18,
            payload_bytes: 13,
            compressed: false,
        }
    );
}

#[test]
fn the_end_of_the_stream_without_a_close_frame_is_abnormal() {
    let wire = client_frames(&[(true, OpCode::Binary, b"x")]);
    let results = server_reads(&wire);
    assert_eq!(results[0].as_ref().unwrap(), &Message::binary(b"x".to_vec()));
    assert!(matches!(results[1], Err(Error::AbnormalClosure)));
    // Cut in the middle of a frame: the same.
    let cut = &wire[..wire.len() - 1];
    assert!(matches!(server_reads(cut)[0], Err(Error::AbnormalClosure)));
}

#[test]
fn close_frames_are_decoded_and_checked() {
    let ok = client_frames(&[(true, OpCode::Close, &[0x03, 0xE8, b'b', b'y', b'e'])]);
    assert_eq!(
        server_reads(&ok)[0].as_ref().unwrap(),
        &Message::Close(Some(CloseFrame::new(CloseCode::NORMAL, "bye")))
    );
    let empty = client_frames(&[(true, OpCode::Close, b"")]);
    assert_eq!(server_reads(&empty)[0].as_ref().unwrap(), &Message::Close(None));
    assert_eq!(
        violation(&client_frames(&[(true, OpCode::Close, &[0x03])])),
        ProtocolError::CloseFrameTooShort
    );
    assert_eq!(
        violation(&client_frames(&[(true, OpCode::Close, &[0x03, 0xED])])),
        ProtocolError::InvalidCloseCode(1005)
    );
    assert_eq!(
        violation(&client_frames(&[(true, OpCode::Close, &[0x03, 0xE8, 0xFF])])),
        ProtocolError::InvalidUtf8
    );
}

#[test]
fn every_violation_maps_to_its_close_code() {
    let cases: Vec<(Vec<u8>, CloseCode)> = vec![
        // RSV1 set, no extension.
        (vec![0xC1, 0x80, 0, 0, 0, 0], CloseCode::PROTOCOL_ERROR),
        // Reserved opcodes.
        (vec![0x83, 0x80, 0, 0, 0, 0], CloseCode::PROTOCOL_ERROR),
        (vec![0x8B, 0x80, 0, 0, 0, 0], CloseCode::PROTOCOL_ERROR),
        // Unmasked client frame.
        (vec![0x81, 0x00], CloseCode::PROTOCOL_ERROR),
        // Ping of 126 bytes; fragmented ping.
        (
            client_frames(&[(true, OpCode::Ping, &[0u8; 126])]),
            CloseCode::PROTOCOL_ERROR,
        ),
        (client_frames(&[(false, OpCode::Ping, b"")]), CloseCode::PROTOCOL_ERROR),
        // Continuation with nothing to continue.
        (
            client_frames(&[(true, OpCode::Continuation, b"x")]),
            CloseCode::PROTOCOL_ERROR,
        ),
        // A new text frame inside a fragmented message.
        (
            client_frames(&[(false, OpCode::Text, b"a"), (true, OpCode::Text, b"b")]),
            CloseCode::PROTOCOL_ERROR,
        ),
        // Invalid UTF-8 in one frame; in the second of two.
        (
            client_frames(&[(true, OpCode::Text, b"\xff")]),
            CloseCode::INVALID_PAYLOAD,
        ),
        (
            client_frames(&[(false, OpCode::Text, b"ok"), (true, OpCode::Continuation, b"\xc0\xaf")]),
            CloseCode::INVALID_PAYLOAD,
        ),
        // A text message that ends inside a code point.
        (
            client_frames(&[(true, OpCode::Text, b"\xe2\x82")]),
            CloseCode::INVALID_PAYLOAD,
        ),
        // A 1 GiB length field: refused from the header alone.
        (
            vec![0x82, 0xFF, 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 2, 3, 4],
            CloseCode::TOO_BIG,
        ),
        // Fragments adding up past the message limit.
        (
            client_frames(&[
                (false, OpCode::Binary, &vec![0u8; 1 << 20]),
                (false, OpCode::Continuation, &vec![0u8; 1 << 20]),
                (true, OpCode::Continuation, b"!"),
            ]),
            CloseCode::TOO_BIG,
        ),
    ];
    for (i, (wire, code)) in cases.iter().enumerate() {
        assert_eq!(violation(wire).close_code(), *code, "case {i}");
    }
}

#[test]
fn a_masked_frame_from_a_server_is_a_client_side_violation() {
    let wire = client_frames(&[(true, OpCode::Text, b"hi")]);
    let mut rx = Decoder::new(Role::Client, &config(), &[]);
    assert!(matches!(
        rx.read(&mut &wire[..]),
        Err(Error::Protocol(ProtocolError::MaskedServerFrame))
    ));
}

/// A reader that hands out at most `step` bytes per call and reports
/// how many it has handed out.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
    given: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        self.given += n;
        Ok(n)
    }
}

#[test]
fn invalid_utf8_is_caught_inside_a_frame_that_arrives_in_pieces() {
    // One 40 KiB text frame whose byte 20 000 is invalid: the error must
    // come before the rest of the frame has been read.
    let mut payload = vec![b'a'; 40 * 1024];
    payload[20_000] = 0xFF;
    let wire = client_frames(&[(true, OpCode::Text, &payload)]);
    let mut rx = Decoder::new(Role::Server, &config(), &[]);
    let mut trickle = Trickle {
        data: &wire,
        step: 1000,
        given: 0,
    };
    assert!(matches!(
        rx.read(&mut trickle),
        Err(Error::Protocol(ProtocolError::InvalidUtf8))
    ));
    assert!(trickle.given < 22_000, "read {} bytes before failing", trickle.given);
}

#[test]
fn message_boundaries_survive_any_split_of_the_byte_stream() {
    let messages = [
        Message::text("first"),
        Message::binary(vec![1u8; 300]),
        Message::text(""),
    ];
    let mut enc = Encoder::new(Role::Client);
    let mut wire = Vec::new();
    for m in &messages {
        wire.extend_from_slice(&enc.message(m).unwrap().to_vec());
    }
    for step in [1, 2, 3, 7, 100, 10_000] {
        let mut rx = Decoder::new(Role::Server, &config(), &[]);
        let mut trickle = Trickle {
            data: &wire,
            step,
            given: 0,
        };
        for m in &messages {
            assert_eq!(&rx.read(&mut trickle).unwrap(), m, "step {step}");
        }
    }
}

/// Fails with a timeout every other call, like a socket whose read
/// timeout expires between arrivals.
struct Stalling<'a> {
    data: &'a [u8],
    stall: bool,
}

impl Read for Stalling<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stall = !self.stall;
        if self.stall {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = 5.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn a_timeout_mid_frame_loses_nothing() {
    let wire = client_frames(&[
        (false, OpCode::Text, b"abcdefgh"),
        (true, OpCode::Continuation, b"ijklmnop"),
    ]);
    let mut rx = Decoder::new(Role::Server, &config(), &[]);
    let mut s = Stalling {
        data: &wire,
        stall: false,
    };
    let mut timeouts = 0;
    let msg = loop {
        match rx.read(&mut s) {
            Ok(m) => break m,
            Err(e) if e.is_timeout() => timeouts += 1,
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(msg, Message::text("abcdefghijklmnop"));
    assert!(timeouts > 3);
}

#[test]
fn bytes_left_over_from_the_handshake_are_read_first() {
    let wire = client_frames(&[(true, OpCode::Text, b"early")]);
    let mut rx = Decoder::new(Role::Server, &config(), &wire);
    assert_eq!(rx.read(&mut io::empty()).unwrap(), Message::text("early"));
}

#[test]
fn a_message_that_needs_more_than_the_budget_has_left_fails_with_1013_and_pays_back() {
    let budget = MessageBudget::new(300 * 1024);
    let config = Config {
        max_frame_size: 1 << 20,
        max_message_size: 1 << 21,
        budget: Some(budget.clone()),
        ..Config::default()
    };
    // Two unfinished messages of 250 KiB each: the first fits, the second does not.
    let wire = client_frames(&[(false, OpCode::Binary, &vec![7u8; 250 * 1024])]);
    let mut first = Decoder::new(Role::Server, &config, &[]);
    assert!(first.read(&mut &wire[..]).is_err(), "unfinished: the input ends");
    let held = budget.used();
    assert_eq!(
        held,
        250 * 1024 - MessageBudget::FREE,
        "what it holds past its free share"
    );
    let mut second = Decoder::new(Role::Server, &config, &[]);
    match second.read(&mut &wire[..]) {
        Err(Error::Protocol(e)) => assert_eq!(e.close_code(), CloseCode::TRY_AGAIN_LATER, "{e}"),
        other => panic!("{other:?}"),
    }
    // Small messages never touch the budget, spent or not.
    let small = client_frames(&[(true, OpCode::Text, b"still talking")]);
    assert_eq!(
        Decoder::new(Role::Server, &config, &[]).read(&mut &small[..]).unwrap(),
        Message::text("still talking")
    );
    drop(second);
    assert_eq!(budget.used(), held, "the refused message took nothing");
    drop(first);
    assert_eq!(budget.used(), 0, "a connection that ends gives its share back");
    // A finished message gives its share back too.
    let whole = client_frames(&[(true, OpCode::Binary, &vec![7u8; 200 * 1024])]);
    let mut rx = Decoder::new(Role::Server, &config, &[]);
    assert_eq!(rx.read(&mut &whole[..]).unwrap().len(), 200 * 1024);
    assert_eq!(budget.used(), 0);
}

#[test]
fn a_frame_header_alone_takes_nothing_from_the_budget_however_long_the_frame() {
    let budget = MessageBudget::new(1 << 20);
    let config = Config {
        max_frame_size: 16 << 20,
        max_message_size: 16 << 20,
        budget: Some(budget.clone()),
        ..Config::default()
    };
    // A 16 MiB frame announced, and 100 bytes of it sent.
    let mut wire = client_frames(&[(true, OpCode::Binary, &vec![7u8; 16 << 20])]);
    wire.truncate(14 + 100);
    let mut rx = Decoder::new(Role::Server, &config, &[]);
    assert!(rx.read(&mut &wire[..]).is_err(), "unfinished: the input ends");
    assert_eq!(budget.used(), 0, "the room reserved for the frame is not memory yet");
}

/// A server-side decoder with permessage-deflate as browsers negotiate it.
fn deflate_decoder(config: &Config) -> Decoder {
    use super::extension::Compression;
    let params = Compression::SERVER
        .accept(["permessage-deflate; client_max_window_bits"])
        .unwrap();
    let mut rx = Decoder::new(Role::Server, config, &[]);
    rx.set_deflate(&params);
    rx
}

/// One masked client frame with RSV1 set around `data` compressed.
fn compressed_client_frame(data: &[u8]) -> Vec<u8> {
    use crate::deflate::{DeflateConfig, Deflater};
    let mut payload = Vec::new();
    Deflater::new(DeflateConfig {
        context_takeover: false,
        ..DeflateConfig::default()
    })
    .compress_message(data, &mut payload);
    let mut wire = client_frames(&[(true, OpCode::Binary, &payload)]);
    wire[0] |= 0x40;
    wire
}

#[test]
fn a_compressed_message_is_inflated_within_the_limit_and_the_budget() {
    let budget = MessageBudget::new(256 * 1024);
    let config = Config {
        max_frame_size: 1 << 20,
        max_message_size: 1 << 20,
        budget: Some(budget.clone()),
        ..Config::default()
    };
    let small = compressed_client_frame(&[b'a'; 300 * 1024]);
    let mut rx = deflate_decoder(&config);
    assert_eq!(
        rx.read(&mut &small[..]).unwrap(),
        Message::binary(vec![b'a'; 300 * 1024])
    );
    assert!(rx.last_message_wire().compressed);
    assert!(rx.last_message_wire().payload_bytes < 2000);
    // Past what the budget has left: 1013, nothing taken.
    let large = compressed_client_frame(&[b'a'; 400 * 1024]);
    match deflate_decoder(&config).read(&mut &large[..]) {
        Err(Error::Protocol(e)) => assert_eq!(e.close_code(), CloseCode::TRY_AGAIN_LATER, "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(budget.used(), 0);
    // Past the message limit: 1009.
    let bomb = compressed_client_frame(&vec![0u8; 2 << 20]);
    let no_budget = Config { budget: None, ..config };
    match deflate_decoder(&no_budget).read(&mut &bomb[..]) {
        Err(Error::Protocol(e)) => assert_eq!(e.close_code(), CloseCode::TOO_BIG, "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_bytes_a_compressed_message_inflates_to_are_taken_from_the_budget_while_it_grows() {
    // A 60 KiB bomb inflates to 4 MiB. Were the inflated bytes not counted,
    // many connections sending one each at once would hold 4 MiB apiece
    // whatever the budget says (found: 40 bombs of 63 MiB, 1.9 GB held
    // by ws_echo against its 256 MiB budget).
    let budget = MessageBudget::new(16 << 20);
    let config = Config {
        max_frame_size: 8 << 20,
        max_message_size: 8 << 20,
        budget: Some(budget.clone()),
        ..Config::default()
    };
    let bomb = compressed_client_frame(&vec![0u8; 4 << 20]);
    assert!(bomb.len() < 64 * 1024);
    let mut rx = deflate_decoder(&config);
    assert_eq!(rx.read(&mut &bomb[..]).unwrap(), Message::binary(vec![0u8; 4 << 20]));
    assert!(
        budget.peak() >= (4 << 20) - MessageBudget::FREE,
        "inflating took {} bytes from the budget",
        budget.peak()
    );
    assert_eq!(budget.used(), 0, "given back once the message is complete");
    // With the budget held by others, the same bomb is refused with 1013
    // and takes nothing.
    assert!(budget.try_take((16 << 20) - (1 << 20)));
    let held = budget.used();
    match deflate_decoder(&config).read(&mut &bomb[..]) {
        Err(Error::Protocol(e)) => assert_eq!(e.close_code(), CloseCode::TRY_AGAIN_LATER, "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(budget.used(), held);
}
