//! Receiving: every client's messages checked for order and timed; the
//! reader threads that go round the sockets.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use wirelab::deflate::{Inflater, WindowBits};

use crate::options::Proto;
use crate::wire::{frame, missing, server_frame, Rng};

/// Sleep of a reader thread after a round over its sockets that read nothing.
const IDLE_SLEEP: Duration = Duration::from_micros(100);
/// Largest message inflated (`--deflate on`): far above any sent here.
const MAX_INFLATED: usize = 16 << 20;
/// Read buffer of each reader thread.
const READ_BUFFER: usize = 256 << 10;

/// What every reader shares.
pub struct Shared {
    pub epoch: Instant,
    pub proto: Proto,
    /// Publishers whose messages are timed and counted towards "done".
    pub measured: Vec<usize>,
    /// Messages each measured publisher will send.
    pub expected_each: AtomicU64,
    /// Data messages received, by every client.
    pub delivered: AtomicU64,
    /// Counted clients that have everything they expect, or ended.
    pub finished: AtomicUsize,
    /// Readers stop.
    pub stop: AtomicBool,
    /// The stalled client is not read while this is set.
    pub stalling: AtomicBool,
    /// Publishers stop early.
    pub stop_publishing: AtomicBool,
    /// Messages each publisher has sent so far.
    pub sent: [AtomicU64; 3],
}

/// One client connection as the receiving side sees it.
pub struct Conn {
    pub stream: TcpStream,
    /// Bytes of an incomplete frame or line.
    pub pending: Vec<u8>,
    /// Next sequence number expected from each publisher.
    pub next: [u64; 3],
    /// Messages that came out of order or twice, or after a gap.
    pub disorder: u64,
    /// Messages from measured publishers.
    pub measured: u64,
    /// Every data message.
    pub received: u64,
    /// (send time in ms since the epoch, latency in µs) of each measured message.
    pub latencies: Vec<(u32, u32)>,
    /// The close code, if a close frame came.
    pub close: Option<u16>,
    pub ended: bool,
    pub done: bool,
    /// Counts towards "done" (every client but the stalled one).
    pub counted: bool,
    /// Its place in the order the clients connected (and joined the hub).
    pub joined: usize,
    pub stalled: bool,
    /// Answers pings (every client but the publishers, whose own thread writes).
    pub answers_pings: bool,
    pub rng: Rng,
    /// The decompressor, if the server agreed to permessage-deflate.
    pub inflater: Option<Inflater>,
    /// A compressed message, inflated.
    pub inflated: Vec<u8>,
}

impl Conn {
    pub fn new(stream: TcpStream, leftover: Vec<u8>, counted: bool) -> Conn {
        Conn {
            stream,
            pending: leftover,
            next: [0; 3],
            disorder: 0,
            measured: 0,
            received: 0,
            latencies: Vec::new(),
            close: None,
            ended: false,
            done: false,
            counted,
            joined: 0,
            stalled: false,
            answers_pings: true,
            rng: Rng::new(),
            inflater: None,
            inflated: Vec::new(),
        }
    }

    /// Inflates the messages the server compresses (RFC 7692 §7.2.2),
    /// keeping the window between messages: right whether or not the
    /// server keeps its own (`server_no_context_takeover`), since a message
    /// sent without it never refers back past its own start.
    pub fn with_deflate(mut self, agreed: bool) -> Conn {
        self.inflater = agreed.then(|| Inflater::new(WindowBits::MAX, true));
        self
    }

    /// Takes in bytes just read; returns the number of data messages in them.
    pub fn feed(&mut self, data: &[u8], shared: &Shared) -> u64 {
        let now_ns = shared.epoch.elapsed().as_nanos() as u64;
        let mut rest = data;
        let mut messages = 0;
        // First complete the message cut by the previous read, copying only
        // its bytes: copying every read whole would cost more than parsing.
        while !self.pending.is_empty() && !rest.is_empty() {
            let need = missing(shared.proto, &self.pending, rest);
            let take = need.min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if take == need && missing(shared.proto, &self.pending, &[]) == 0 {
                let whole = std::mem::take(&mut self.pending);
                let (n, used) = self.parse(&whole, now_ns, shared);
                messages += n;
                debug_assert_eq!(used, whole.len());
            }
        }
        if self.pending.is_empty() && !self.ended {
            let (n, used) = self.parse(rest, now_ns, shared);
            messages += n;
            if !self.ended {
                self.pending = rest[used..].to_vec();
            }
        }
        self.received += messages;
        messages
    }

    /// Parses whole messages off the front of `buf`; returns how many data
    /// messages, and how many bytes they (and control frames) took.
    pub fn parse(&mut self, buf: &[u8], now_ns: u64, shared: &Shared) -> (u64, usize) {
        let mut pongs = Vec::new();
        let mut used = 0;
        let mut messages = 0;
        while used < buf.len() {
            let rest = &buf[used..];
            let (payload, opcode, len) = match shared.proto {
                Proto::Tcp => match rest.iter().position(|&b| b == b'\n') {
                    Some(i) => (&rest[..i], 0x1, i + 1),
                    None => break,
                },
                Proto::Ws => match server_frame(rest) {
                    Some(f) => f,
                    None => break,
                },
            };
            used += len;
            match opcode {
                0x1 | 0x2 => {
                    messages += 1;
                    self.message(payload, now_ns, shared);
                }
                // RSV1: compressed (RFC 7692 §6).
                0x41 | 0x42 => {
                    messages += 1;
                    let mut text = std::mem::take(&mut self.inflated);
                    text.clear();
                    let inflated = self
                        .inflater
                        .as_mut()
                        .is_some_and(|i| i.inflate_message(payload, &mut text, MAX_INFLATED).is_ok());
                    if inflated {
                        self.message(&text, now_ns, shared);
                    } else {
                        // Compressed without agreement, or corrupt: counted as lost.
                        self.disorder += 1;
                    }
                    self.inflated = text;
                }
                0x8 => {
                    self.close = payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
                    self.ended = true;
                    break;
                }
                0x9 if self.answers_pings => {
                    let mut rng = Rng(self.rng.next() | 1);
                    frame(&mut pongs, 0xA, payload, &mut rng);
                }
                _ => {}
            }
        }
        if !pongs.is_empty() {
            // Best effort: a pong is a few bytes and the socket is nearly
            // always writable; on a full socket it is skipped.
            let _ = self.stream.write(&pongs);
        }
        (messages, used)
    }

    pub fn message(&mut self, payload: &[u8], now_ns: u64, shared: &Shared) {
        // Three decimal numbers, each followed by a space.
        let mut numbers = [0u64; 3];
        let mut at = 0;
        for n in &mut numbers {
            let digits = payload[at.min(payload.len())..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            if digits == 0 || digits > 19 {
                self.disorder += 1;
                return;
            }
            *n = payload[at..at + digits]
                .iter()
                .fold(0, |v, &b| v * 10 + u64::from(b - b'0'));
            at += digits + 1;
        }
        let [publisher, seq, sent_ns] = numbers;
        let publisher = publisher as usize;
        if publisher >= self.next.len() {
            self.disorder += 1;
            return;
        }
        if seq != self.next[publisher] {
            self.disorder += 1;
        }
        self.next[publisher] = seq + 1;
        if shared.measured.contains(&publisher) {
            self.measured += 1;
            let latency_us = now_ns.saturating_sub(sent_ns) / 1000;
            self.latencies
                .push(((sent_ns / 1_000_000) as u32, latency_us.min(u32::MAX as u64) as u32));
        }
    }

    /// Marks the client finished once it has every measured message, or ended.
    pub fn check_done(&mut self, shared: &Shared) {
        let expected = shared.expected_each.load(Ordering::SeqCst) * shared.measured.len() as u64;
        if self.counted && !self.done && (self.ended || (expected > 0 && self.measured >= expected)) {
            self.done = true;
            shared.finished.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A reader thread: goes round its non-blocking sockets until told to stop.
pub fn read_round(mut conns: Vec<Conn>, shared: &Shared) -> Vec<Conn> {
    let mut buf = vec![0u8; READ_BUFFER];
    while !shared.stop.load(Ordering::Relaxed) {
        let mut any = 0;
        let stalling = shared.stalling.load(Ordering::Relaxed);
        for c in conns.iter_mut() {
            if c.ended || (c.stalled && stalling) {
                continue;
            }
            // One read per socket per round, so that every socket is read
            // often even when all of them have a lot waiting.
            match c.stream.read(&mut buf) {
                Ok(0) => c.ended = true,
                Ok(n) => {
                    any += n;
                    let got = c.feed(&buf[..n], shared);
                    shared.delivered.fetch_add(got, Ordering::Relaxed);
                }
                Err(e) if matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::WouldBlock) => {}
                Err(_) => c.ended = true,
            }
            c.check_done(shared);
        }
        if any == 0 {
            thread::sleep(IDLE_SLEEP);
        }
    }
    conns
}

/// The reading side of a publisher: blocking reads on its own thread.
pub fn read_blocking(mut c: Conn, shared: &Shared) -> Conn {
    let _ = c.stream.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = vec![0u8; READ_BUFFER];
    if !c.pending.is_empty() {
        let leftover = std::mem::take(&mut c.pending);
        let got = c.feed(&leftover, shared);
        shared.delivered.fetch_add(got, Ordering::Relaxed);
    }
    while !shared.stop.load(Ordering::Relaxed) && !c.ended {
        match c.stream.read(&mut buf) {
            Ok(0) => c.ended = true,
            Ok(n) => {
                let got = c.feed(&buf[..n], shared);
                shared.delivered.fetch_add(got, Ordering::Relaxed);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(_) => c.ended = true,
        }
        c.check_done(shared);
    }
    c
}
