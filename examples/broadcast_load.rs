//! `broadcast_load`: load a broadcast server from another process, and measure it.
//!
//! ```text
//! cargo run --release --example broadcast_load -- [MODE] [--clients M] [--messages K] [--size BYTES]
//!     [--rate PER_SEC] [--seconds S] [--threads T] [--server PATH | --url URL [--pid PID]]
//! ```
//!
//! By default it starts the server under test as a child process on a free
//! port (itself, run as `broadcast_load serve ADDR`, which is exactly what
//! `ws_broadcast` runs), so load and server never share a process, and
//! stops it at the end. `--server PATH` starts another server the same way
//! (`target/release/examples/tcp_broadcast`, the plain-TCP baseline, or an
//! older build of `ws_broadcast`); `--url` loads one that is already
//! running, and `--pid` names its process so its CPU time and memory can be
//! read from `/proc`.
//! URLs are `ws://HOST:PORT/PATH` (WebSocket text frames) or
//! `tcp://HOST:PORT` (one line per message, for `tcp_broadcast`).
//!
//! Modes, one figure each:
//!
//! | MODE (default `paced`) | what happens | defaults |
//! |---|---|---|
//! | `burst` | client 0 publishes K messages as fast as it can | 100 clients, 50 000 messages |
//! | `paced` | client 0 publishes K messages at a steady rate | 1 000 clients, 1 000 messages, 100/s |
//! | `stall` | `paced`, plus one more client that never reads | 4 KiB messages, until it is dropped |
//! | `flood` | clients 0 and 1 publish as fast as they can for S seconds; client 2 publishes at a steady rate, and its messages are timed | 1 000 clients, 20 s, 10/s |
//! | `idle` | M clients connect and do nothing for S seconds | 10 000 clients, 5 s |
//!
//! Every client, the publishers included, is subscribed and reads
//! everything. A message carries its publisher, its sequence number and the
//! time it was sent; every client checks that each publisher's messages
//! arrive once and in order, and records each one's fan-out latency (send to
//! arrival). The report gives deliveries against the deliveries expected,
//! latency percentiles, the server's CPU time per delivery and memory (from
//! `/proc/PID/stat` and `/proc/PID/status`), and this program's own CPU
//! share: when it is near the number of reader threads, the load generator,
//! not the server, set the pace.
//!
//! How it reads many sockets without a thread each: the sockets are
//! non-blocking, shared out among reader threads (`--threads`, default 1,
//! which leaves the other core of a 2-core machine to the server); each
//! thread goes round its sockets reading whatever is there with a large
//! buffer, and sleeps 100 µs when a whole round found nothing. A thread per
//! client would cost a wake-up per delivery, more than the server spends on
//! it. Publishers use blocking sockets of their own, with a reader thread
//! each.
//!
//! The client side of the protocols is written here from scratch (a
//! handshake request, masked frames, lines), so the figures do not depend on
//! the code under test. A benchmark: it prints figures and asserts nothing.
//! Each client is one file descriptor here and one in the server: the `idle`
//! default needs `ulimit -n` above 10 000 in the shell that runs it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Sleep of a reader thread after a round over its sockets that read nothing.
const IDLE_SLEEP: Duration = Duration::from_micros(100);
/// Read buffer of each reader thread.
const READ_BUFFER: usize = 256 << 10;
/// Bytes a publisher joins into one write in the as-fast-as-it-can modes.
const PUBLISH_BATCH: usize = 64 * 1024;
/// A run ends when no delivery has happened for this long.
const STUCK: Duration = Duration::from_secs(20);
/// `/proc/PID/stat` counts CPU time in clock ticks of 1/100 s (`USER_HZ`,
/// 100 on Linux whatever the kernel's own tick).
const TICKS_PER_SECOND: f64 = 100.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Burst,
    Paced,
    Stall,
    Flood,
    Idle,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proto {
    Ws,
    Tcp,
}

#[derive(Clone, Debug)]
struct Options {
    mode: Mode,
    clients: usize,
    messages: usize,
    size: usize,
    rate: f64,
    seconds: f64,
    threads: usize,
    server: Option<String>,
    url: Option<String>,
    pid: Option<u32>,
}

fn usage() -> ! {
    eprintln!(
        "usage: broadcast_load burst|paced|stall|flood|idle [--clients M] [--messages K] [--size BYTES] \
         [--rate PER_SEC] [--seconds S] [--threads T] [--server PATH | --url URL [--pid PID]]"
    );
    std::process::exit(2);
}

fn parse_args() -> Options {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    // Without a mode, `paced`.
    if args.first().is_some_and(|a| a.starts_with("--")) {
        args.insert(0, "paced".into());
    }
    let mode = match args.first().map(String::as_str) {
        Some("burst") => Mode::Burst,
        Some("paced") => Mode::Paced,
        Some("stall") => Mode::Stall,
        Some("flood") => Mode::Flood,
        Some("idle") => Mode::Idle,
        _ => usage(),
    };
    let mut o = Options {
        mode,
        clients: match mode {
            Mode::Burst => 100,
            Mode::Idle => 10_000,
            _ => 1000,
        },
        messages: match mode {
            Mode::Burst => 50_000,
            _ => 1000,
        },
        size: if mode == Mode::Stall { 4096 } else { 64 },
        rate: if mode == Mode::Flood { 10.0 } else { 100.0 },
        seconds: match mode {
            Mode::Flood => 20.0,
            Mode::Stall => 60.0,
            _ => 5.0,
        },
        threads: 1,
        server: None,
        url: None,
        pid: None,
    };
    let mut i = 1;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_else(|| usage());
        let number = || value.parse::<f64>().unwrap_or_else(|_| usage());
        match args[i].as_str() {
            "--clients" => o.clients = number() as usize,
            "--messages" => o.messages = number() as usize,
            "--size" => o.size = number() as usize,
            "--rate" => o.rate = number(),
            "--seconds" => o.seconds = number(),
            "--threads" => o.threads = number() as usize,
            "--server" => o.server = Some(value),
            "--url" => o.url = Some(value),
            "--pid" => o.pid = Some(number() as u32),
            _ => usage(),
        }
        i += 2;
    }
    o.clients = o.clients.max(if mode == Mode::Flood { 3 } else { 1 });
    o.threads = o.threads.max(1);
    // Room for "P SEQ TIME " in every message.
    o.size = o.size.max(40);
    o
}

// ---------------------------------------------------------------------------
// The server under test

struct Target {
    proto: Proto,
    addr: SocketAddr,
    host: String,
    path: String,
    pid: Option<u32>,
    child: Option<Child>,
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn parse_url(url: &str) -> Option<(Proto, String, String)> {
    let (proto, rest) = if let Some(rest) = url.strip_prefix("ws://") {
        (Proto::Ws, rest)
    } else {
        (Proto::Tcp, url.strip_prefix("tcp://")?)
    };
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    Some((proto, host.to_string(), path.to_string()))
}

fn start_target(o: &Options) -> Target {
    let (url, pid, child) = match &o.url {
        Some(url) => (url.clone(), o.pid, None),
        None => {
            // By default this same program, as a server (see `serve`).
            let me = std::env::current_exe().expect("the path of this program");
            let program = o.server.clone().unwrap_or_else(|| me.to_string_lossy().into_owned());
            let mut command = Command::new(&program);
            if o.server.is_none() {
                command.arg(SERVE);
            }
            let mut child = command
                .arg("127.0.0.1:0")
                .arg((o.clients + 100).to_string())
                .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
                .stdout(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| {
                    eprintln!("broadcast_load: cannot start {program}: {e}");
                    eprintln!("  (build it first: cargo build --release --example NAME)");
                    std::process::exit(1);
                });
            let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
            let url = lines
                .by_ref()
                .map_while(Result::ok)
                .find_map(|line| {
                    line.split_whitespace()
                        .find(|w| w.starts_with("ws://") || w.starts_with("tcp://"))
                        .map(|w| w.trim_end_matches([',', ')']).to_string())
                })
                .unwrap_or_else(|| {
                    eprintln!("broadcast_load: {program} never printed a ws:// or tcp:// URL");
                    std::process::exit(1);
                });
            // Keep its stdout drained so it never blocks on a full pipe.
            thread::spawn(move || lines.for_each(drop));
            let pid = child.id();
            (url, Some(pid), Some(child))
        }
    };
    let Some((proto, host, path)) = parse_url(&url) else {
        eprintln!("broadcast_load: {url}: expected ws://HOST:PORT/PATH or tcp://HOST:PORT");
        std::process::exit(2);
    };
    let addr = host
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| {
            eprintln!("broadcast_load: cannot resolve {host}");
            std::process::exit(1);
        });
    Target {
        proto,
        addr,
        host,
        path,
        pid,
        child,
    }
}

// ---------------------------------------------------------------------------
// /proc

/// CPU seconds (user + system) used so far by process `pid` ("self" for this one).
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: count fields after its closing ')'.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

/// A field of `/proc/PID/status`, such as `VmRSS` (in KiB) or `Threads`.
fn status_field(pid: u32, name: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// The soft limit on open files of this process.
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// One TCP connection's row in `/proc/net/tcp`: state and queues.
#[derive(Clone, Copy, Debug, Default)]
struct TcpRow {
    /// `01` established, `04` FIN-WAIT-1 (we shut down, data may still be queued)...
    state: u8,
    /// Bytes written by the application and not yet acknowledged by the peer.
    tx_queue: u64,
    /// Bytes received and not yet read by the application.
    rx_queue: u64,
}

/// The rows of the connection from local port `local` to remote port
/// `remote`, read from the kernel's table of IPv4 TCP sockets.
fn tcp_row(local: u16, remote: u16) -> Option<TcpRow> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let port = |addr: &str| u16::from_str_radix(addr.rsplit(':').next()?, 16).ok();
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if port(f.get(1)?)? != local || port(f.get(2)?)? != remote {
            return None;
        }
        let (tx, rx) = f.get(4)?.split_once(':')?;
        Some(TcpRow {
            state: u8::from_str_radix(f.get(3)?, 16).ok()?,
            tx_queue: u64::from_str_radix(tx, 16).ok()?,
            rx_queue: u64::from_str_radix(rx, 16).ok()?,
        })
    })
}

// ---------------------------------------------------------------------------
// The client side of the protocols

/// xorshift64*: masking keys and handshake keys. Not for secrets.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Rng(t | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Connects one client: TCP, then for `ws://` the opening handshake.
/// Returns the socket and any bytes read past the handshake response.
fn connect(target: &Target, rng: &mut Rng) -> std::io::Result<(TcpStream, Vec<u8>)> {
    let mut s = TcpStream::connect_timeout(&target.addr, Duration::from_secs(10))?;
    s.set_nodelay(true)?;
    if target.proto == Proto::Tcp {
        return Ok((s, Vec::new()));
    }
    use base64::Engine as _;
    let key =
        base64::engine::general_purpose::STANDARD.encode([rng.next().to_le_bytes(), rng.next().to_le_bytes()].concat());
    write!(
        s,
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n",
        target.path, target.host
    )?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    let end = loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if head.len() > 16 * 1024 {
            return Err(ErrorKind::InvalidData.into());
        }
    };
    if !head.starts_with(b"HTTP/1.1 101") {
        let first = String::from_utf8_lossy(&head[..head.len().min(60)]).into_owned();
        return Err(std::io::Error::other(format!("no upgrade: {first}")));
    }
    s.set_read_timeout(None)?;
    Ok((s, head[end..].to_vec()))
}

/// Appends one message to `out`: "PUBLISHER SEQ SENT_NS xxxx…", `size`
/// bytes of payload, as a masked text frame or as a line.
fn encode(out: &mut Vec<u8>, proto: Proto, publisher: usize, seq: u64, sent_ns: u64, size: usize, rng: &mut Rng) {
    let mut payload = format!("{publisher} {seq} {sent_ns} ").into_bytes();
    payload.resize(size.max(payload.len()), b'x');
    match proto {
        Proto::Tcp => {
            out.extend_from_slice(&payload);
            out.push(b'\n');
        }
        Proto::Ws => frame(out, 0x1, &payload, rng),
    }
}

/// Appends a masked client frame (RFC 6455 §5.2): FIN, opcode, length, key, payload.
fn frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], rng: &mut Rng) {
    out.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let key = (rng.next() as u32).to_ne_bytes();
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
}

// ---------------------------------------------------------------------------
// Receiving

/// What every reader shares.
struct Shared {
    epoch: Instant,
    proto: Proto,
    /// Publishers whose messages are timed and counted towards "done".
    measured: Vec<usize>,
    /// Messages each measured publisher will send.
    expected_each: AtomicU64,
    /// Data messages received, by every client.
    delivered: AtomicU64,
    /// Counted clients that have everything they expect, or ended.
    finished: AtomicUsize,
    /// Readers stop.
    stop: AtomicBool,
    /// The stalled client is not read while this is set.
    stalling: AtomicBool,
    /// Publishers stop early.
    stop_publishing: AtomicBool,
    /// Messages each publisher has sent so far.
    sent: [AtomicU64; 3],
}

/// One client connection as the receiving side sees it.
struct Conn {
    stream: TcpStream,
    /// Bytes of an incomplete frame or line.
    pending: Vec<u8>,
    /// Next sequence number expected from each publisher.
    next: [u64; 3],
    /// Messages that came out of order or twice, or after a gap.
    disorder: u64,
    /// Messages from measured publishers.
    measured: u64,
    /// Every data message.
    received: u64,
    /// (send time in ms since the epoch, latency in µs) of each measured message.
    latencies: Vec<(u32, u32)>,
    /// The close code, if a close frame came.
    close: Option<u16>,
    ended: bool,
    done: bool,
    /// Counts towards "done" (every client but the stalled one).
    counted: bool,
    stalled: bool,
    /// Answers pings (every client but the publishers, whose own thread writes).
    answers_pings: bool,
    rng: Rng,
}

impl Conn {
    fn new(stream: TcpStream, leftover: Vec<u8>, counted: bool) -> Conn {
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
            stalled: false,
            answers_pings: true,
            rng: Rng::new(),
        }
    }

    /// Takes in bytes just read; returns the number of data messages in them.
    fn feed(&mut self, data: &[u8], shared: &Shared) -> u64 {
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
    fn parse(&mut self, buf: &[u8], now_ns: u64, shared: &Shared) -> (u64, usize) {
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

    fn message(&mut self, payload: &[u8], now_ns: u64, shared: &Shared) {
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
    fn check_done(&mut self, shared: &Shared) {
        let expected = shared.expected_each.load(Ordering::SeqCst) * shared.measured.len() as u64;
        if self.counted && !self.done && (self.ended || (expected > 0 && self.measured >= expected)) {
            self.done = true;
            shared.finished.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// How many more bytes the message begun in `pending` needs, looking at
/// `next` (the bytes that follow) for the end of a line; 0 when complete.
fn missing(proto: Proto, pending: &[u8], next: &[u8]) -> usize {
    match proto {
        Proto::Tcp if pending.last() == Some(&b'\n') => 0,
        Proto::Tcp => next.iter().position(|&b| b == b'\n').map_or(usize::MAX, |i| i + 1),
        Proto::Ws => {
            let header = match pending.get(1).map(|b| b & 0x7f) {
                None => return 2 - pending.len(),
                Some(126) => 4,
                Some(127) => 10,
                Some(_) => 2,
            };
            if pending.len() < header {
                return header - pending.len();
            }
            let len = match header {
                4 => u16::from_be_bytes([pending[2], pending[3]]) as usize,
                10 => u64::from_be_bytes(pending[2..10].try_into().expect("8 bytes")) as usize,
                _ => (pending[1] & 0x7f) as usize,
            };
            (header + len).saturating_sub(pending.len())
        }
    }
}

/// Splits one server frame off the front of `buf`: (payload, opcode, frame
/// length), or `None` if it is not all there yet. Server frames are unmasked.
fn server_frame(buf: &[u8]) -> Option<(&[u8], u8, usize)> {
    let (b0, b1) = (*buf.first()?, *buf.get(1)?);
    let (len, header): (usize, usize) = match b1 & 0x7f {
        126 => (u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]) as usize, 4),
        127 => (u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize, 10),
        n => (n as usize, 2),
    };
    let payload = buf.get(header..header.checked_add(len)?)?;
    Some((payload, b0 & 0x0f, header + len))
}

/// A reader thread: goes round its non-blocking sockets until told to stop.
fn read_round(mut conns: Vec<Conn>, shared: &Shared) -> Vec<Conn> {
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
fn read_blocking(mut c: Conn, shared: &Shared) -> Conn {
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

// ---------------------------------------------------------------------------
// Publishing

/// How a publisher sends.
#[derive(Clone, Copy)]
enum Plan {
    /// `count` messages as fast as the socket takes them.
    Burst { count: u64 },
    /// `count` messages, `rate` per second.
    Paced { count: u64, rate: f64 },
    /// As fast as possible until `until`.
    Flood { until: Instant },
}

/// What a publisher did.
#[derive(Debug, Default)]
struct Sent {
    messages: u64,
    /// Time spent inside `write`: waiting for the server to read.
    blocked: Duration,
    elapsed: Duration,
    error: Option<String>,
}

/// `write_all`, except that a write blocked because the server stopped
/// reading gives up once the run is over.
fn write_all_unless_stopped(s: &mut TcpStream, mut bytes: &[u8], shared: &Shared) -> std::io::Result<()> {
    while !bytes.is_empty() {
        match s.write(bytes) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                if shared.stop.load(Ordering::SeqCst) {
                    return Err(std::io::Error::other("the run ended while the server was not reading"));
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn publish(mut s: TcpStream, id: usize, plan: Plan, size: usize, shared: Arc<Shared>) -> Sent {
    let _ = s.set_write_timeout(Some(Duration::from_millis(200)));
    let mut rng = Rng::new();
    let mut sent = Sent::default();
    let started = Instant::now();
    let mut out = Vec::with_capacity(PUBLISH_BATCH + size + 16);
    let mut seq = 0u64;
    loop {
        out.clear();
        let now = shared.epoch.elapsed().as_nanos() as u64;
        match plan {
            Plan::Burst { count } => {
                while seq < count && out.len() < PUBLISH_BATCH {
                    encode(&mut out, shared.proto, id, seq, now, size, &mut rng);
                    seq += 1;
                }
            }
            Plan::Flood { until } => {
                if Instant::now() >= until {
                    break;
                }
                while out.len() < PUBLISH_BATCH {
                    encode(&mut out, shared.proto, id, seq, now, size, &mut rng);
                    seq += 1;
                }
            }
            Plan::Paced { count, rate } => {
                if seq < count && !shared.stop_publishing.load(Ordering::Relaxed) {
                    let due = started + Duration::from_secs_f64(seq as f64 / rate);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        thread::sleep(wait);
                    }
                    let now = shared.epoch.elapsed().as_nanos() as u64;
                    encode(&mut out, shared.proto, id, seq, now, size, &mut rng);
                    seq += 1;
                }
            }
        }
        if out.is_empty() {
            break;
        }
        let before = Instant::now();
        if let Err(e) = write_all_unless_stopped(&mut s, &out, &shared) {
            sent.error = Some(e.to_string());
            break;
        }
        sent.blocked += before.elapsed();
        sent.messages = seq;
        shared.sent[id].store(seq, Ordering::SeqCst);
    }
    sent.elapsed = started.elapsed();
    sent
}

// ---------------------------------------------------------------------------
// Reporting

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    f64::from(sorted[rank.min(sorted.len() - 1)]) / 1000.0
}

fn latency_line(label: &str, mut ms: Vec<u32>) -> String {
    ms.sort_unstable();
    format!(
        "{label}: {} messages timed, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms.len(),
        percentile(&ms, 50.0),
        percentile(&ms, 99.0),
        ms.last().map_or(f64::NAN, |&m| f64::from(m) / 1000.0)
    )
}

/// CPU time of the server and of this program over a stretch of the run.
struct CpuMeter {
    pid: Option<u32>,
    started: Instant,
    server: Option<f64>,
    me: Option<f64>,
}

impl CpuMeter {
    fn start(pid: Option<u32>) -> CpuMeter {
        CpuMeter {
            pid,
            started: Instant::now(),
            server: pid.and_then(|p| cpu_seconds(&p.to_string())),
            me: cpu_seconds("self"),
        }
    }

    /// Prints CPU use since `start`; `deliveries` for the per-delivery figure.
    fn report(&self, deliveries: u64, threads: usize) {
        let wall = self.started.elapsed().as_secs_f64();
        if let (Some(pid), Some(before)) = (self.pid, self.server) {
            if let Some(after) = cpu_seconds(&pid.to_string()) {
                let cpu = after - before;
                let per = if deliveries > 0 {
                    format!(", {:.0} ns per delivery", cpu * 1e9 / deliveries as f64)
                } else {
                    String::new()
                };
                println!(
                    "server CPU: {cpu:.2} s in {wall:.2} s ({:.0} % of one core){per}",
                    100.0 * cpu / wall
                );
            }
        } else {
            println!("server CPU: unknown (give --pid, or let broadcast_load start the server)");
        }
        if let (Some(before), Some(after)) = (self.me, cpu_seconds("self")) {
            let cpu = after - before;
            println!(
                "load generator CPU: {cpu:.2} s ({:.0} % of one core; its {threads} reader threads can use {} %)",
                100.0 * cpu / wall,
                100 * threads
            );
        }
    }
}

/// Largest RSS of `pid` seen by a sampler thread, in KiB.
struct RssPeak {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl RssPeak {
    fn start(pid: Option<u32>) -> RssPeak {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        if let Some(pid) = pid {
            let (peak, stop) = (Arc::clone(&peak), Arc::clone(&stop));
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(kib) = status_field(pid, "VmRSS") {
                        peak.fetch_max(kib, Ordering::Relaxed);
                    }
                    thread::sleep(Duration::from_millis(50));
                }
            });
        }
        RssPeak { peak, stop }
    }

    fn finish(&self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.peak.load(Ordering::Relaxed)
    }
}

// ---------------------------------------------------------------------------
// The run

/// The first argument that makes this program the server under test instead.
const SERVE: &str = "serve";

/// The server side, in a process of its own: exactly what `ws_broadcast`
/// runs (`spawn_relay`), on `ADDR` with a cap of `MAX` connections.
fn serve(addr: &str, max: Option<&str>) -> ! {
    let env = env_logger::Env::default().default_filter_or("warn");
    let _ = env_logger::Builder::from_env(env).try_init();
    // ws_broadcast's limits (src/limits.rs), with the cap asked for.
    let mut config = wirelab::limits::ServerBudget::broadcast().server_config();
    if let Some(max) = max.and_then(|m| m.parse().ok()) {
        config.max_connections = max;
    }
    let subscriber = wirelab::broadcast::SubscriberConfig::default();
    let (server, hub) = wirelab::broadcast::spawn_relay(addr, config, subscriber).unwrap_or_else(|e| {
        eprintln!("broadcast_load serve: cannot listen on {addr}: {e}");
        std::process::exit(1);
    });
    println!("broadcast_load serve: relaying on ws://{}/", server.local_addr());
    // The hub's own counters, every 5 s while there is traffic.
    let mut last = 0;
    loop {
        thread::sleep(Duration::from_secs(5));
        let s = hub.stats();
        let published = s.published.load(Ordering::Relaxed);
        if published != last {
            last = published;
            eprintln!(
                "hub: {published} published, {} delivered, {} dropped, {} writer threads started, {} subscribers",
                s.delivered.load(Ordering::Relaxed),
                s.dropped.load(Ordering::Relaxed),
                s.writer_threads.load(Ordering::Relaxed),
                s.subscribers.load(Ordering::Relaxed)
            );
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(SERVE) {
        serve(
            args.get(1).map_or("127.0.0.1:0", String::as_str),
            args.get(2).map(String::as_str),
        );
    }
    let o = parse_args();
    let needed = o.clients + 64;
    if let Some(limit) = open_files_limit() {
        if limit < needed {
            eprintln!(
                "broadcast_load: {} clients need about {needed} open files here and as many in the server; \
                 `ulimit -n` is {limit}. Raise it in this shell first: ulimit -n {}",
                o.clients,
                needed * 2
            );
            std::process::exit(1);
        }
    }
    let target = start_target(&o);
    let shared = Arc::new(Shared {
        epoch: Instant::now(),
        proto: target.proto,
        measured: match o.mode {
            Mode::Flood => vec![2],
            Mode::Idle => vec![],
            _ => vec![0],
        },
        expected_each: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        finished: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        stalling: AtomicBool::new(true),
        stop_publishing: AtomicBool::new(false),
        sent: Default::default(),
    });
    let rss_before = target.pid.and_then(|p| status_field(p, "VmRSS"));
    println!(
        "broadcast_load {:?}: {} clients against {}://{}{} (server pid {})",
        o.mode,
        o.clients,
        if target.proto == Proto::Ws { "ws" } else { "tcp" },
        target.addr,
        if target.proto == Proto::Ws {
            target.path.as_str()
        } else {
            ""
        },
        target.pid.map_or("unknown".to_string(), |p| p.to_string())
    );

    // Connect everyone. Publishers first: clients 0 (and 1, 2 in flood).
    let publishers = match o.mode {
        Mode::Flood => 3,
        Mode::Idle => 0,
        _ => 1,
    };
    let mut rng = Rng::new();
    let connect_started = Instant::now();
    let mut publisher_streams = Vec::new();
    let mut publisher_readers = Vec::new();
    let mut shards: Vec<Vec<Conn>> = (0..o.threads).map(|_| Vec::new()).collect();
    for c in 0..o.clients + usize::from(o.mode == Mode::Stall) {
        let (stream, leftover) = connect(&target, &mut rng).unwrap_or_else(|e| {
            eprintln!("broadcast_load: client {c} could not connect: {e}");
            std::process::exit(1);
        });
        if c < publishers {
            publisher_streams.push(stream.try_clone().expect("cloning a socket"));
            let mut conn = Conn::new(stream, leftover, true);
            conn.answers_pings = false;
            publisher_readers.push(conn);
        } else {
            stream.set_nonblocking(true).expect("a non-blocking socket");
            let mut conn = Conn::new(stream, leftover, c < o.clients);
            conn.stalled = c == o.clients;
            shards[c % o.threads].push(conn);
        }
    }
    let counted = o.clients;
    println!("connected {} clients in {:.2?}", o.clients, connect_started.elapsed());
    let stalled_ports = (o.mode == Mode::Stall).then(|| {
        let conn = shards.iter().flatten().find(|c| c.stalled).expect("the stalled client");
        let local = conn.stream.local_addr().expect("a local address").port();
        (local, target.addr.port())
    });

    // Readers.
    let readers: Vec<_> = shards
        .into_iter()
        .map(|conns| {
            let shared = Arc::clone(&shared);
            thread::spawn(move || read_round(conns, &shared))
        })
        .chain(publisher_readers.into_iter().map(|conn| {
            let shared = Arc::clone(&shared);
            thread::spawn(move || vec![read_blocking(conn, &shared)])
        }))
        .collect();
    // Let the server register the last joins before anything is published.
    thread::sleep(Duration::from_millis(500));

    if o.mode == Mode::Idle {
        run_idle(&o, &target, rss_before);
        shared.stop.store(true, Ordering::SeqCst);
        for r in readers {
            let _ = r.join();
        }
        return;
    }

    // Publish.
    let count = if o.mode == Mode::Stall {
        (o.rate * o.seconds) as u64
    } else {
        o.messages as u64
    };
    let flood_until = Instant::now() + Duration::from_secs_f64(o.seconds);
    let plans: Vec<Plan> = match o.mode {
        Mode::Burst => vec![Plan::Burst { count }],
        Mode::Paced | Mode::Stall => vec![Plan::Paced { count, rate: o.rate }],
        Mode::Flood => vec![
            Plan::Flood { until: flood_until },
            Plan::Flood { until: flood_until },
            Plan::Paced {
                count: (o.rate * o.seconds) as u64,
                rate: o.rate,
            },
        ],
        Mode::Idle => unreachable!(),
    };
    let expected_each = match plans.last() {
        Some(Plan::Burst { count } | Plan::Paced { count, .. }) => *count,
        _ => 0,
    };
    shared.expected_each.store(expected_each, Ordering::SeqCst);
    let meter = CpuMeter::start(target.pid);
    let rss = RssPeak::start(target.pid);
    let published_at = Instant::now();
    let senders: Vec<_> = publisher_streams
        .into_iter()
        .zip(plans)
        .enumerate()
        .map(|(id, (stream, plan))| {
            let shared = Arc::clone(&shared);
            let size = o.size;
            thread::spawn(move || publish(stream, id, plan, size, shared))
        })
        .collect();

    // Watch: the stalled client's connection in the kernel's tables, and
    // progress until everyone has everything (or nothing moves any more).
    let mut stall_watch = StallWatch::default();
    let mut last_delivered = 0;
    let mut last_progress = Instant::now();
    let mut senders_done = false;
    let mut next_rss = Instant::now() + Duration::from_secs(5);
    loop {
        thread::sleep(Duration::from_millis(20));
        if o.mode == Mode::Flood && Instant::now() >= next_rss {
            // Memory over time: does it level off, or keep growing?
            next_rss += Duration::from_secs(5);
            if let Some(kib) = target.pid.and_then(|p| status_field(p, "VmRSS")) {
                println!(
                    "  at {:.0} s: server RSS {:.1} MiB",
                    published_at.elapsed().as_secs_f64(),
                    kib as f64 / 1024.0
                );
            }
        }
        if let Some((local, remote)) = stalled_ports {
            stall_watch.sample(local, remote, shared.epoch);
        }
        let delivered = shared.delivered.load(Ordering::Relaxed);
        if delivered != last_delivered {
            last_delivered = delivered;
            last_progress = Instant::now();
        }
        if let Some(fin) = stall_watch.fin_at {
            // Three more seconds of traffic after the drop, then stop.
            if shared.epoch.elapsed().as_millis() as u64 > fin + 3000 {
                shared.stop_publishing.store(true, Ordering::SeqCst);
            }
        }
        if !senders_done && senders.iter().all(|s| s.is_finished()) {
            senders_done = true;
            // What each client should get: every message actually sent.
            let measured = shared.measured[0];
            shared
                .expected_each
                .store(shared.sent[measured].load(Ordering::SeqCst), Ordering::SeqCst);
        }
        let all_done = shared.finished.load(Ordering::SeqCst) >= counted && senders_done;
        if o.mode == Mode::Flood && published_at.elapsed().as_secs_f64() > o.seconds + STUCK.as_secs_f64() {
            println!("(stopped waiting {} s after the flood ended)", STUCK.as_secs());
            break;
        }
        let stall_over =
            stalled_ports.is_none() || stall_watch.fin_at.is_some() || published_at.elapsed().as_secs_f64() > o.seconds;
        if (all_done && stall_over) || last_progress.elapsed() > STUCK {
            break;
        }
    }
    let finished_in = published_at.elapsed();
    let delivered = shared.delivered.load(Ordering::SeqCst);
    let rss_peak = rss.finish();
    meter.report(delivered, o.threads);
    if let (Some(before), true) = (rss_before, rss_peak > 0) {
        println!(
            "server memory (RSS): {:.1} MiB before the run, at most {:.1} MiB during it",
            before as f64 / 1024.0,
            rss_peak as f64 / 1024.0
        );
    }

    // Let the stalled client read what it can still get, then stop.
    shared.stalling.store(false, Ordering::SeqCst);
    thread::sleep(Duration::from_millis(if stalled_ports.is_some() { 1000 } else { 50 }));
    shared.stop_publishing.store(true, Ordering::SeqCst);
    shared.stop.store(true, Ordering::SeqCst);
    let sent: Vec<Sent> = senders
        .into_iter()
        .map(|s| s.join().expect("a publisher thread"))
        .collect();
    let conns: Vec<Conn> = readers
        .into_iter()
        .flat_map(|r| r.join().expect("a reader thread"))
        .collect();
    report(&o, &shared, &sent, &conns, delivered, finished_in, &stall_watch);
}

/// What `/proc/net/tcp` showed of the stalled client's connection.
#[derive(Default)]
struct StallWatch {
    /// Bytes on their way to it: the server socket's send queue plus its
    /// own receive queue.
    queued: u64,
    /// When that last grew (ms since the epoch): the last byte its
    /// connection took.
    last_growth_ms: Option<u64>,
    /// When the server's side of the connection left ESTABLISHED: the
    /// server shut it down.
    fin_at: Option<u64>,
    fin_state: u8,
}

impl StallWatch {
    fn sample(&mut self, local: u16, server_port: u16, epoch: Instant) {
        if self.fin_at.is_some() {
            return;
        }
        let now = epoch.elapsed().as_millis() as u64;
        let client = tcp_row(local, server_port).unwrap_or_default();
        let server = tcp_row(server_port, local);
        match server {
            Some(row) if row.state == 1 => {
                let queued = row.tx_queue + client.rx_queue;
                if queued > self.queued {
                    self.queued = queued;
                    self.last_growth_ms = Some(now);
                }
            }
            other => {
                self.fin_at = Some(now);
                self.fin_state = other.map_or(0, |r| r.state);
            }
        }
    }
}

fn report(
    o: &Options,
    shared: &Shared,
    sent: &[Sent],
    conns: &[Conn],
    delivered: u64,
    finished_in: Duration,
    stall: &StallWatch,
) {
    for (i, s) in sent.iter().enumerate() {
        println!(
            "publisher {i}: sent {} messages in {:.2?}; {:.2?} of it blocked in write (the server not reading){}",
            s.messages,
            s.elapsed,
            s.blocked,
            s.error.as_ref().map_or(String::new(), |e| format!("; stopped: {e}"))
        );
    }
    let counted: Vec<&Conn> = conns.iter().filter(|c| c.counted).collect();
    let expected = shared.expected_each.load(Ordering::SeqCst) * shared.measured.len() as u64 * counted.len() as u64;
    let measured: u64 = counted.iter().map(|c| c.measured).sum();
    let complete = counted
        .iter()
        .filter(|c| c.measured >= expected / counted.len().max(1) as u64)
        .count();
    let disorder: u64 = counted.iter().map(|c| c.disorder).sum();
    let mut closes: HashMap<String, usize> = HashMap::new();
    for c in &counted {
        if c.ended {
            let what = c.close.map_or("ended without a close frame".to_string(), |code| {
                format!("closed with {code}")
            });
            *closes.entry(what).or_default() += 1;
        }
    }
    println!(
        "delivered {measured} of {expected} timed messages ({:.2} %); {complete} of {} clients got all of theirs; \
         {disorder} out of order or missing",
        100.0 * measured as f64 / expected.max(1) as f64,
        counted.len()
    );
    for (what, n) in &closes {
        println!("  {n} clients {what}");
    }
    println!(
        "all deliveries: {delivered} in {:.2?}: {:.0} deliveries/s",
        finished_in,
        delivered as f64 / finished_in.as_secs_f64()
    );
    let ms = |c: &&Conn| c.latencies.iter().map(|&(_, l)| l).collect::<Vec<u32>>();
    let all: Vec<u32> = counted.iter().flat_map(ms).collect();
    println!("{}", latency_line("fan-out latency", all));
    if o.mode == Mode::Stall {
        let Some(fin) = stall.fin_at else {
            println!("stalled client: never dropped within {} s", o.seconds);
            return;
        };
        let full = stall.last_growth_ms.unwrap_or(0);
        println!(
            "stalled client: its connection took {:.1} MiB, the last at {:.1} s; the server shut it down \
             at {:.1} s, {:.1} s later (state {:02X})",
            stall.queued as f64 / (1 << 20) as f64,
            full as f64 / 1000.0,
            fin as f64 / 1000.0,
            (fin - full) as f64 / 1000.0,
            stall.fin_state
        );
        let window = |from: u64, to: u64| -> Vec<u32> {
            counted
                .iter()
                .flat_map(|c| c.latencies.iter())
                .filter(|&&(sent, _)| u64::from(sent) >= from && u64::from(sent) < to)
                .map(|&(_, l)| l)
                .collect()
        };
        println!("{}", latency_line("  others, sent before it was full", window(0, full)));
        println!(
            "{}",
            latency_line("  others, sent while it was stalled", window(full, fin))
        );
        println!(
            "{}",
            latency_line("  others, sent after it was dropped", window(fin, u64::MAX))
        );
        if let Some(c) = conns.iter().find(|c| c.stalled) {
            println!(
                "  it then read {} messages, {} out of order or missing, and {}",
                c.received,
                c.disorder,
                c.close.map_or("no close frame".to_string(), |code| format!(
                    "a close frame with {code}"
                ))
            );
        }
    }
}

fn run_idle(o: &Options, target: &Target, rss_before: Option<u64>) {
    let Some(pid) = target.pid else {
        println!("idle: give --pid, or let broadcast_load start the server, to read its memory");
        return;
    };
    let settle = Instant::now();
    let mut rss = Vec::new();
    while settle.elapsed().as_secs_f64() < o.seconds {
        thread::sleep(Duration::from_millis(500));
        rss.push(status_field(pid, "VmRSS").unwrap_or(0));
    }
    let after = rss.last().copied().unwrap_or(0);
    let threads = status_field(pid, "Threads").unwrap_or(0);
    let before = rss_before.unwrap_or(0);
    println!(
        "server: {threads} threads; RSS {:.1} MiB before the clients connected, {:.1} MiB with {} idle clients: \
         {:.1} KiB per client",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        o.clients,
        (after.saturating_sub(before)) as f64 / o.clients as f64
    );
}
