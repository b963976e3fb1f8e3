//! Big messages through the decoder: intact whatever pieces the socket
//! hands out and however often a read times out in between, and read into
//! one allocation of their own size.
//!
//! The decoder reads from any `Read`; these readers stand in for a socket.

use std::io::{self, Read};

use wirelab::websocket::decode::Decoder;
use wirelab::websocket::encode::Encoder;
use wirelab::websocket::{Config, Message, OpCode, Role};

/// Frames as a client sends them (masked), back to back.
fn client_frames(frames: &[(bool, OpCode, &[u8])]) -> Vec<u8> {
    let mut encoder = Encoder::new(Role::Client);
    let mut wire = Vec::new();
    for (fin, opcode, payload) in frames {
        wire.extend_from_slice(&encoder.frame(*fin, *opcode, payload).to_vec());
    }
    wire
}

/// Hands out pieces of cycling sizes, with a timeout before every other one.
struct Uneven<'a> {
    data: &'a [u8],
    sizes: std::iter::Cycle<std::slice::Iter<'a, usize>>,
    stall: bool,
}

impl Read for Uneven<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stall = !self.stall;
        if self.stall {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = (*self.sizes.next().unwrap()).min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Reads until `count` messages are out, taking timeouts in stride.
fn read_messages(wire: &[u8], sizes: &[usize], count: usize) -> Vec<Message> {
    let mut decoder = Decoder::new(Role::Server, &Config::default(), &[]);
    let mut input = Uneven {
        data: wire,
        sizes: sizes.iter().cycle(),
        stall: false,
    };
    let mut got = Vec::new();
    while got.len() < count {
        match decoder.read(&mut input) {
            Ok(m) => got.push(m),
            Err(e) if e.is_timeout() => {}
            Err(e) => panic!("after {} messages: {e}", got.len()),
        }
    }
    got
}

#[test]
fn a_big_fragmented_message_survives_uneven_reads_and_timeouts() {
    // Two- and three-byte characters, split across the two fragments and
    // across the reads; a ping between the fragments.
    let text = "é€".repeat(35_000);
    let (first, second) = text.as_bytes().split_at(100_001);
    let wire = client_frames(&[
        (false, OpCode::Text, first),
        (true, OpCode::Ping, b"still there?"),
        (true, OpCode::Continuation, second),
    ]);
    let got = read_messages(&wire, &[1, 7, 4096, 20_000, 300_000, 3], 2);
    assert_eq!(got, [Message::Ping(b"still there?".to_vec()), Message::Text(text)]);
}

#[test]
fn a_big_message_is_read_into_one_allocation_of_its_own_size() {
    let payload: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
    let wire = client_frames(&[(true, OpCode::Binary, &payload)]);
    let got = read_messages(&wire, &[10_000], 1);
    let [Message::Binary(got)] = &got[..] else {
        panic!("not one binary message");
    };
    assert_eq!(got, &payload);
    // Never grown by doubling (which copies, and would leave room for 1 MiB).
    assert_eq!(got.capacity(), payload.len());
}
