//! `echo_load`: bulk echo and handshakes against a server in another
//! process, measured in the server's CPU per operation.
//!
//! ```text
//! cargo build --release --examples
//! # one server, already running (its PID for its CPU time):
//! target/release/examples/echo_load --url ws://127.0.0.1:9001/ --size 65536 --pid PID
//! target/release/examples/echo_load --tcp 127.0.0.1:7000 --size 65536 --pid PID
//! target/release/examples/echo_load --url ws://127.0.0.1:9001/ --handshakes 2000 --pid PID
//! # or both servers started here, in turns, with the ratios:
//! target/release/examples/echo_load --compare --size 65536
//! target/release/examples/echo_load --compare --handshakes 2000
//! ```
//!
//! **Bulk echo** (`--size`, `--messages`, `--pipeline`): one connection
//! sends `--messages` messages of `--size` bytes, never more than
//! `--pipeline` of them unanswered, and checks that every byte comes back
//! intact and in order. Against `ws_echo` each message is one masked binary
//! frame; against `tcp_echo` the same payload bytes go without framing, the
//! baseline: what the kernel and one thread per connection cost with no
//! protocol at all. It prints MB/s of payload and, with `--pid`, the
//! server's CPU time per MiB echoed.
//!
//! **Handshakes** (`--handshakes N`): N times in a row, a fresh connection
//! that upgrades (a fresh key, the `Sec-WebSocket-Accept` checked), closes
//! with a close frame, waits for the server's close frame and its FIN.
//! Against `tcp_echo`: connect, FIN, wait for the server's FIN. It prints
//! the server's CPU per connection and this client's own, the peer's side
//! of the same work.
//!
//! Figures come from `/proc/PID/stat` (user + system time of every thread,
//! the finished ones included), so this runs on Linux. This program's own
//! CPU share is printed too: a load generator that is busier than the
//! server is measuring itself. `--compare` starts `tcp_echo` and `ws_echo`
//! from the directory of this executable (so build the examples first),
//! runs baseline and WebSocket in turns `--rounds` times and prints the
//! medians and the ratio of each pair measured in the same round.
//!
//! The client is written here on the bare socket rather than with
//! `wirelab::websocket::connect`, so that it costs as little as a client
//! can. One shortcut: every message reuses the same masked frame, where a
//! real client masks each frame with a fresh key (RFC 6455 §5.3); the
//! server cannot tell, and the generator's CPU stays out of the way. The
//! handshakes do use a fresh key each.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::sync_channel;
use std::thread;
use std::time::{Duration, Instant};

use wirelab::random::MaskKeys;
use wirelab::websocket::frame::{encode_frame, OpCode};
use wirelab::websocket::handshake::{accept_key, generate_key};

/// Clock ticks per second in `/proc/PID/stat`: `USER_HZ`, which Linux
/// fixes at 100 for user space on every common architecture.
const TICKS_PER_SECOND: f64 = 100.0;

/// Every read and write here gives up after this long: a stuck server
/// fails the run instead of hanging it.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, PartialEq)]
enum Target {
    Ws,
    Tcp,
}

struct Options {
    url: Option<String>,
    tcp: Option<String>,
    pid: Option<u32>,
    size: usize,
    messages: Option<usize>,
    pipeline: usize,
    handshakes: Option<usize>,
    compare: bool,
    rounds: usize,
}

fn parse_args() -> Options {
    let mut o = Options {
        url: None,
        tcp: None,
        pid: None,
        size: 64 * 1024,
        messages: None,
        pipeline: 4,
        handshakes: None,
        compare: false,
        rounds: 5,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        let number = |what: &str| -> usize {
            value
                .parse()
                .unwrap_or_else(|_| usage(&format!("{what} takes a number")))
        };
        match args[i].as_str() {
            "--compare" => {
                o.compare = true;
                i += 1;
                continue;
            }
            "--url" => o.url = Some(value),
            "--tcp" => o.tcp = Some(value),
            "--pid" => o.pid = Some(number("--pid") as u32),
            "--size" => o.size = number("--size").max(1),
            "--messages" => o.messages = Some(number("--messages").max(1)),
            "--pipeline" => o.pipeline = number("--pipeline").max(1),
            "--handshakes" => o.handshakes = Some(number("--handshakes").max(1)),
            "--rounds" => o.rounds = number("--rounds").max(1),
            other => usage(&format!("unknown argument {other}")),
        }
        i += 2;
    }
    if !o.compare && o.url.is_none() == o.tcp.is_none() {
        usage("give one of --url ws://HOST:PORT/, --tcp HOST:PORT or --compare");
    }
    o
}

fn usage(why: &str) -> ! {
    eprintln!("echo_load: {why}");
    eprintln!("usage: echo_load (--url ws://HOST:PORT/ | --tcp HOST:PORT | --compare)");
    eprintln!("       [--size BYTES] [--messages N] [--pipeline DEPTH] [--handshakes N] [--pid PID] [--rounds R]");
    std::process::exit(2);
}

/// Messages per bulk run unless `--messages` says: 1 GiB in total.
fn default_messages(size: usize) -> usize {
    ((1usize << 30) / size).clamp(16, 1_000_000)
}

/// CPU time of a process so far, threads that ended included.
#[derive(Clone, Copy, Default)]
struct Cpu {
    /// In user space: our own code, copies and masking included.
    user: Duration,
    /// User and system (the kernel working for us: system calls, TCP).
    total: Duration,
}

impl Cpu {
    fn since(self, start: Cpu) -> Cpu {
        Cpu {
            user: self.user.saturating_sub(start.user),
            total: self.total.saturating_sub(start.total),
        }
    }
}

fn cpu_time(pid: &str) -> io::Result<Cpu> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name, field 2, is in parentheses and may hold spaces:
    // count fields from after its closing parenthesis (field 3 onwards).
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |field: usize| -> u64 { fields.get(field - 3).and_then(|f| f.parse().ok()).unwrap_or(0) };
    let seconds = |t: u64| Duration::from_secs_f64(t as f64 / TICKS_PER_SECOND);
    Ok(Cpu {
        user: seconds(ticks(14)),
        total: seconds(ticks(14) + ticks(15)),
    })
}

/// CPU time of this process and, if known, of the server, read together.
#[derive(Clone, Copy)]
struct Clocks {
    wall: Instant,
    own: Cpu,
    server: Option<Cpu>,
}

impl Clocks {
    fn now(pid: Option<u32>) -> Clocks {
        Clocks {
            wall: Instant::now(),
            own: cpu_time("self").unwrap_or_default(),
            server: pid.and_then(|p| cpu_time(&p.to_string()).ok()),
        }
    }
}

/// What one run measured.
#[derive(Clone, Copy, Default)]
struct Figures {
    wall: Duration,
    own_cpu: Duration,
    server_cpu: Option<Cpu>,
    /// Operations: MiB of payload for a bulk run, connections for handshakes.
    ops: f64,
}

impl Figures {
    fn between(start: Clocks, end: Clocks, ops: f64) -> Figures {
        Figures {
            wall: end.wall - start.wall,
            own_cpu: end.own.since(start.own).total,
            server_cpu: start.server.zip(end.server).map(|(a, b)| b.since(a)),
            ops,
        }
    }

    /// Microseconds of server CPU per operation.
    fn server_us(&self) -> Option<f64> {
        self.server_cpu.map(|c| c.total.as_secs_f64() * 1e6 / self.ops)
    }

    /// Microseconds of the server's CPU in user space per operation.
    fn server_user_us(&self) -> Option<f64> {
        self.server_cpu.map(|c| c.user.as_secs_f64() * 1e6 / self.ops)
    }

    fn own_us(&self) -> f64 {
        self.own_cpu.as_secs_f64() * 1e6 / self.ops
    }

    fn per_second(&self) -> f64 {
        self.ops / self.wall.as_secs_f64()
    }

    fn share(cpu: Duration, wall: Duration) -> f64 {
        100.0 * cpu.as_secs_f64() / wall.as_secs_f64()
    }

    fn print(&self, what: &str, unit: &str) {
        print!("{what}: {:.1} {unit}/s", self.per_second());
        if let (Some(us), Some(cpu)) = (self.server_us(), self.server_cpu) {
            let user = self.server_user_us().unwrap_or_default();
            let share = Figures::share(cpu.total, self.wall);
            print!("; server CPU {us:.1} us per {unit}, {user:.1} in user space ({share:.0} % of a core)");
        }
        let share = Figures::share(self.own_cpu, self.wall);
        println!(
            "; this client {:.1} us per {unit} ({share:.0} % of a core)",
            self.own_us()
        );
    }
}

/// A masked close frame with status 1000, as a client sends it.
fn close_frame(mask: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&mut out, true, OpCode::Close, &1000u16.to_be_bytes(), Some(mask));
    out
}

fn connect(addr: &str) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(stream)
}

/// `ws://host:port/path` to (`host:port`, `/path`).
fn split_url(url: &str) -> (String, String) {
    let rest = url
        .strip_prefix("ws://")
        .unwrap_or_else(|| usage("--url takes ws://HOST:PORT/PATH"));
    match rest.find('/') {
        Some(i) => (rest[..i].to_string(), rest[i..].to_string()),
        None => (rest.to_string(), "/".to_string()),
    }
}

/// Opens a WebSocket connection: the Upgrade request with a fresh key, the
/// 101 checked, `Sec-WebSocket-Accept` included. The server sends nothing
/// before the client's first frame, so no byte is read past the head.
fn open_ws(url: &str) -> io::Result<TcpStream> {
    let (authority, path) = split_url(url);
    let mut stream = connect(&authority)?;
    let key = generate_key();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes())?;
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 256];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte)?;
        if n == 0 || head.len() > 8192 {
            return Err(io::Error::other("no complete handshake response"));
        }
        head.extend_from_slice(&byte[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let expected = format!("sec-websocket-accept: {}", accept_key(&key)).to_ascii_lowercase();
    if !text.starts_with("HTTP/1.1 101") || !text.to_ascii_lowercase().contains(&expected) {
        return Err(io::Error::other(format!("not a valid 101: {text}")));
    }
    Ok(stream)
}

/// Sends a close frame and reads to the end of the stream: the server's
/// close frame, then its FIN (the server closes TCP first, §7.1.1).
fn close_ws(mut stream: TcpStream, mask: [u8; 4]) -> io::Result<()> {
    stream.write_all(&close_frame(mask))?;
    read_to_eof(&mut stream)
}

fn read_to_eof(stream: &mut TcpStream) -> io::Result<()> {
    let mut sink = [0u8; 512];
    while stream.read(&mut sink)? > 0 {}
    Ok(())
}

/// One bulk run on one connection: returns the wall time from the first
/// byte sent to the last byte checked.
fn bulk(target: Target, addr: &str, size: usize, messages: usize, pipeline: usize) -> io::Result<Duration> {
    let payload: Vec<u8> = (0..size)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761) as u8 ^ (i >> 11) as u8)
        .collect();
    let mut masks = MaskKeys::new();
    let (stream, wire, header_len) = match target {
        Target::Ws => {
            let stream = open_ws(addr)?;
            let mut frame = Vec::new();
            encode_frame(&mut frame, true, OpCode::Binary, &payload, Some(masks.next_key()));
            let header_len = frame.len() - size - 4;
            (stream, frame, header_len)
        }
        Target::Tcp => (connect(addr)?, payload.clone(), 0),
    };
    let mut expected_header = Vec::new();
    if target == Target::Ws {
        // The server's header for this payload: the client's, unmasked.
        expected_header.extend_from_slice(&wire[..header_len]);
        expected_header[1] &= 0x7F;
    }
    let (credits_in, credits_out) = sync_channel::<()>(pipeline);
    let mut writer = stream.try_clone()?;
    let started = Instant::now();
    let sender = thread::spawn(move || -> io::Result<()> {
        for _ in 0..messages {
            if credits_in.send(()).is_err() {
                break;
            }
            writer.write_all(&wire)?;
        }
        Ok(())
    });
    let mut reader = stream;
    let mut buf = vec![0u8; 256 * 1024];
    let message_len = header_len + size;
    let mut offset = 0usize; // position within the current echoed message
    let mut done = 0usize;
    while done < messages {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::other(format!(
                "the server closed after {done} of {messages} messages"
            )));
        }
        let mut got = &buf[..n];
        while !got.is_empty() {
            let take = got.len().min(message_len - offset);
            let piece = &got[..take];
            let ok = if offset < header_len {
                let h = take.min(header_len - offset);
                piece[..h] == expected_header[offset..offset + h] && piece[h..] == payload[..take - h]
            } else {
                piece == &payload[offset - header_len..offset - header_len + take]
            };
            if !ok {
                return Err(io::Error::other(format!("message {done} came back altered")));
            }
            offset += take;
            got = &got[take..];
            if offset == message_len {
                offset = 0;
                done += 1;
                let _ = credits_out.recv();
            }
        }
    }
    let wall = started.elapsed();
    sender.join().expect("the sender thread")?;
    match target {
        Target::Ws => close_ws(reader, masks.next_key())?,
        Target::Tcp => {
            reader.shutdown(Shutdown::Write)?;
            read_to_eof(&mut reader)?;
        }
    }
    Ok(wall)
}

/// `n` connections one after another: upgrade and close (WebSocket), or
/// connect and close (TCP).
fn handshakes(target: Target, addr: &str, n: usize) -> io::Result<()> {
    let mut masks = MaskKeys::new();
    for _ in 0..n {
        match target {
            Target::Ws => close_ws(open_ws(addr)?, masks.next_key())?,
            Target::Tcp => {
                let mut stream = connect(addr)?;
                stream.shutdown(Shutdown::Write)?;
                read_to_eof(&mut stream)?;
            }
        }
    }
    Ok(())
}

/// One measured run against one server.
fn run(target: Target, addr: &str, pid: Option<u32>, o: &Options) -> io::Result<Figures> {
    match o.handshakes {
        Some(n) => {
            let start = Clocks::now(pid);
            handshakes(target, addr, n)?;
            Ok(Figures::between(start, Clocks::now(pid), n as f64))
        }
        None => {
            let messages = o.messages.unwrap_or_else(|| default_messages(o.size));
            let start = Clocks::now(pid);
            let wall = bulk(target, addr, o.size, messages, o.pipeline)?;
            let mut figures = Figures::between(start, Clocks::now(pid), (o.size * messages) as f64 / (1 << 20) as f64);
            // The handshake and the close are outside the timed part.
            figures.wall = wall;
            Ok(figures)
        }
    }
}

fn unit(o: &Options) -> &'static str {
    if o.handshakes.is_some() {
        "connection"
    } else {
        "MiB"
    }
}

fn describe(o: &Options) -> String {
    match o.handshakes {
        Some(n) => format!("{n} connections, one at a time"),
        None => format!(
            "{} messages of {} bytes, pipeline {}",
            o.messages.unwrap_or_else(|| default_messages(o.size)),
            o.size,
            o.pipeline
        ),
    }
}

/// A server example started from this executable's directory, with its
/// address read from the first line it prints.
struct Spawned {
    child: Child,
    addr: String,
    /// Kept open: a server that prints to a closed pipe would die of it.
    _stdout: BufReader<ChildStdout>,
}

impl Spawned {
    fn start(name: &str) -> io::Result<Spawned> {
        let dir = std::env::current_exe()?
            .parent()
            .map(|p| p.to_path_buf())
            .unwrap_or_default();
        let path = dir.join(name);
        let mut child = Command::new(&path)
            .arg("127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| {
                io::Error::other(format!(
                    "{}: {e} (cargo build --release --examples first)",
                    path.display()
                ))
            })?;
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        stdout.read_line(&mut line)?;
        // "tcp_echo: echoing every byte on 127.0.0.1:PORT, ..." or
        // "ws_echo: WebSocket echo server on ws://127.0.0.1:PORT/".
        let addr = line
            .split_whitespace()
            .map(|w| w.trim_start_matches("ws://").trim_end_matches([',', '/']))
            .find(|w| w.starts_with("127.0.0.1:"))
            .ok_or_else(|| io::Error::other(format!("{name} printed no address: {line}")))?
            .to_string();
        Ok(Spawned {
            child,
            addr,
            _stdout: stdout,
        })
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Both servers, in turns: baseline then WebSocket, `--rounds` times.
fn compare(o: &Options) -> io::Result<()> {
    let tcp = Spawned::start("tcp_echo")?;
    let ws = Spawned::start("ws_echo")?;
    let url = format!("ws://{}/", ws.addr);
    let unit = unit(o);
    println!(
        "echo_load --compare: {}; tcp_echo pid {}, ws_echo pid {}",
        describe(o),
        tcp.child.id(),
        ws.child.id()
    );
    // One unmeasured run each: the servers' first connections pay for
    // page faults that later ones do not.
    run(Target::Tcp, &tcp.addr, None, o)?;
    run(Target::Ws, &url, None, o)?;
    let mut rows: Vec<[Figures; 2]> = Vec::new();
    for round in 1..=o.rounds {
        let base = run(Target::Tcp, &tcp.addr, Some(tcp.child.id()), o)?;
        let web = run(Target::Ws, &url, Some(ws.child.id()), o)?;
        base.print(&format!("round {round} tcp_echo"), unit);
        web.print(&format!("round {round} ws_echo "), unit);
        rows.push([base, web]);
    }
    let med = |f: &dyn Fn(&[Figures; 2]) -> f64| median(rows.iter().map(f).collect());
    let us = |f: Option<f64>| f.unwrap_or(f64::NAN);
    println!("medians over {} rounds:", o.rounds);
    for (i, name) in ["tcp_echo", "ws_echo "].iter().enumerate() {
        println!(
            "  {name}: {:.1} {unit}/s; server CPU {:.1} us per {unit}, {:.1} in user space; client {:.1} us",
            med(&|r| r[i].per_second()),
            med(&|r| us(r[i].server_us())),
            med(&|r| us(r[i].server_user_us())),
            med(&|r| r[i].own_us())
        );
    }
    println!("  ratios, each the median of the same-round ratios:");
    println!(
        "    ws_echo / tcp_echo {unit}/s:                {:.2}",
        med(&|r| r[1].per_second() / r[0].per_second())
    );
    println!(
        "    ws_echo / tcp_echo server CPU per {unit}:  {:.2}",
        med(&|r| us(r[1].server_us()) / us(r[0].server_us()))
    );
    println!(
        "    ws_echo server CPU / this client's CPU: {:.2}",
        med(&|r| us(r[1].server_us()) / r[1].own_us())
    );
    Ok(())
}

fn main() {
    let o = parse_args();
    let result = if o.compare {
        compare(&o)
    } else {
        let (target, addr) = match (&o.url, &o.tcp) {
            (Some(url), _) => (Target::Ws, url.clone()),
            (None, Some(tcp)) => (Target::Tcp, tcp.clone()),
            (None, None) => unreachable!("checked in parse_args"),
        };
        println!("echo_load: {} to {addr}", describe(&o));
        run(target, &addr, o.pid, &o).map(|f| f.print("echo_load", unit(&o)))
    };
    if let Err(e) = result {
        eprintln!("echo_load: {e}");
        std::process::exit(1);
    }
}
