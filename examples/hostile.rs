//! `hostile`: attacks on a running server, from another process, with the
//! server's memory, descriptors and CPU read from `/proc/PID`. Each attack
//! is one of the issues the servers defend against (`docs/security.md`);
//! each report says whether the defence held.
//!
//! ```text
//! cargo run --release --example ws_echo 127.0.0.1:24010 &
//! cargo run --release --example hostile -- unfinished ws://127.0.0.1:24010/ --pid $! --clients 64 --mib 8
//! cargo run --release --example hostile -- refusals   ws://127.0.0.1:24010/ --pid $! --clients 3000
//! cargo run --release --example chat 127.0.0.1:24020 &
//! cargo run --release --example hostile -- slowread   http://127.0.0.1:24020/ --pid $! --clients 100
//! cargo run --release --example hostile -- forge      http://127.0.0.1:24020/
//! cargo run --release --example hostile -- trickle    http://127.0.0.1:24020/
//! cargo run --release --example hostile -- unread     ws://127.0.0.1:24010/ --pid $! --clients 40 --mib 16
//! cargo run --release --example http_server 127.0.0.1:24030 &
//! cargo run --release --example hostile -- flood      http://127.0.0.1:24030/hello --pid $! --clients 3000 --peers 30
//! cargo run --release --example hostile -- slowlist   http://127.0.0.1:24030/api/messages --pid $! --clients 60 --fill 1000
//! ```
//!
//! - `unfinished`: each client starts a message of `--mib` MiB and never
//!   finishes it. Held: the server's memory grows by at most its budget
//!   for unfinished messages, the rest are refused with 1013 (or with
//!   1009 at once, by a server whose messages are smaller).
//! - `unread`: each client sends a whole message of `--mib` MiB to an echo
//!   server and never reads the echo. Held: the echoes waiting count in
//!   the same budget; past it, clients are refused with 1013.
//! - `flood`: `--clients` connections from `--peers` loopback addresses
//!   (127.0.0.2, 127.0.0.3, ...), in a rush of 300 at a time that connect
//!   and then send one `GET` each, against a server whose cap is lower. Held: every client gets an
//!   answer, a response or a 503; none is closed without a word, none
//!   hangs.
//! - `refusals`: `--clients` connections at once, each waiting silently
//!   for an answer, against a server whose cap is lower. Held: every one
//!   gets a 101 or a 503, none is left hanging or closed without a word.
//! - `slowread`: each client asks the chat for its whole log and never
//!   reads the answer (fill the log first: `--fill`). Held: the server
//!   holds pointers into its log, not a copy per client.
//! - `slowlist`: the same against `http_server`: `--fill` messages of
//!   2,000 characters posted, then each client asks for the URL's path
//!   (`/api/messages`, or `/api/messages/poll?since=0`) and never reads.
//! - `forge`: a page joins as alice; the attack posts, joins and leaves
//!   under her name over HTTP and opens `/ws` from another origin. Held:
//!   every attempt refused, nothing forged reaches alice.
//! - `trickle`: a WebSocket join sent one byte every 500 ms. Held: cut off
//!   at the join wait (10 s), not after every byte.
//!
//! Every loop is bounded in count and time; every read has a timeout.

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use wirelab::http::{read_response_head, Limits};
use wirelab::websocket::frame::{encode_frame, OpCode};
use wirelab::websocket::handshake::{client_request, generate_key};
use wirelab::websocket::{self, Message};

const WAIT: Duration = Duration::from_secs(10);

/// What `/proc/PID` says about the server.
#[derive(Clone, Copy, Debug, Default)]
struct Proc {
    rss: u64,
    fds: usize,
    cpu_ticks: u64,
}

fn proc_of(pid: Option<u32>) -> Proc {
    let Some(pid) = pid else { return Proc::default() };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    // Fields 14 and 15 of /proc/PID/stat: user and system time, in ticks;
    // the command name (field 2) may hold spaces, so count after its ')'.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Proc {
        rss,
        fds,
        cpu_ticks: tick(11) + tick(12),
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

struct Args {
    mode: String,
    addr: SocketAddr,
    path: String,
    pid: Option<u32>,
    clients: usize,
    mib: usize,
    fill: usize,
    peers: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().ok_or("a mode")?;
    let url = args.next().ok_or("a URL")?;
    let rest = url
        .strip_prefix("ws://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("ws:// or http:// URL")?;
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(a, p)| (a, format!("/{p}")));
    let addr = authority.parse().map_err(|_| "the URL's host must be an IP:port")?;
    let mut parsed = Args {
        mode,
        addr,
        path,
        pid: None,
        clients: 100,
        mib: 8,
        fill: 0,
        peers: 1,
    };
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .and_then(|v| v.parse::<usize>().ok())
            .ok_or(format!("a number after {flag}"))?;
        match flag.as_str() {
            "--pid" => parsed.pid = Some(value as u32),
            "--clients" => parsed.clients = value.min(20_000),
            "--mib" => parsed.mib = value.min(1024),
            "--fill" => parsed.fill = value.min(5000),
            "--peers" => parsed.peers = value.clamp(1, 250),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(parsed)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("hostile: need {e}\nusage: hostile unfinished|unread|refusals|flood|slowread|slowlist|forge|trickle URL [--pid P] [--clients N] [--mib M] [--fill N] [--peers N]");
            std::process::exit(2);
        }
    };
    let before = proc_of(args.pid);
    let started = Instant::now();
    let held = match args.mode.as_str() {
        "unfinished" => unfinished(&args),
        "unread" => unread(&args),
        "refusals" => refusals(&args),
        "flood" => flood(&args),
        "slowread" => slowread(&args),
        "slowlist" => slowlist(&args),
        "forge" => forge(&args),
        "trickle" => trickle(&args),
        other => {
            eprintln!("hostile: unknown mode {other}");
            std::process::exit(2);
        }
    };
    let after = proc_of(args.pid);
    if args.pid.is_some() {
        println!(
            "server: RSS {:.1} -> {:.1} MiB, descriptors {} -> {}, CPU {} ticks in {:.1} s",
            mib(before.rss),
            mib(after.rss),
            before.fds,
            after.fds,
            after.cpu_ticks - before.cpu_ticks,
            started.elapsed().as_secs_f64()
        );
    }
    println!(
        "{}: {}",
        args.mode,
        if held { "the defence held" } else { "THE DEFENCE FAILED" }
    );
    if !held {
        std::process::exit(1);
    }
}

/// A WebSocket client whose handshake went through, as a raw socket.
fn raw_ws(addr: SocketAddr, path: &str, origin: Option<&str>) -> Result<TcpStream, u16> {
    let s = TcpStream::connect(addr).map_err(|_| 0u16)?;
    s.set_read_timeout(Some(WAIT)).ok();
    (&s).write_all(&client_request(&addr.to_string(), path, &generate_key(), &[], origin))
        .map_err(|_| 0u16)?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match (&s).read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return Err(0),
        }
    }
    let status = read_response_head(&mut &head[..], &Limits::default()).map_or(0, |h| h.status);
    if status == 101 {
        Ok(s)
    } else {
        Err(status)
    }
}

fn unfinished(args: &Args) -> bool {
    let size = args.mib << 20;
    let mut held = Vec::new();
    let (mut refused_1013, mut refused_1009, mut other) = (0, 0, 0);
    let baseline = proc_of(args.pid).rss;
    for _ in 0..args.clients {
        let Ok(s) = raw_ws(args.addr, &args.path, None) else {
            other += 1;
            continue;
        };
        let mut frame = Vec::new();
        encode_frame(&mut frame, false, OpCode::Binary, &vec![0x5a; size], Some([1, 2, 3, 4]));
        s.set_write_timeout(Some(WAIT)).ok();
        let _ = (&s).write_all(&frame);
        // Did the server refuse it?
        s.set_nonblocking(true).ok();
        thread::sleep(Duration::from_millis(20));
        let mut peek = [0u8; 4];
        let refused = matches!((&s).read(&mut peek), Ok(4) if peek[0] & 0x0F == 0x8);
        s.set_nonblocking(false).ok();
        if refused {
            match u16::from_be_bytes([peek[2], peek[3]]) {
                1013 => refused_1013 += 1,
                1009 => refused_1009 += 1,
                _ => other += 1,
            }
        } else {
            held.push(s);
        }
    }
    thread::sleep(Duration::from_millis(500));
    let grown = proc_of(args.pid).rss.saturating_sub(baseline);
    // A control client is still echoed.
    let control = websocket::connect(&format!("ws://{}{}", args.addr, args.path)).and_then(|mut ws| {
        ws.set_read_timeout(Some(WAIT))?;
        let t = Instant::now();
        ws.send(Message::text("control"))?;
        ws.read().map(|m| (m, t.elapsed()))
    });
    println!(
        "{} unfinished messages of {} MiB: {} held by the server, {} refused with 1013, {} with 1009, {} other; server grew {:.1} MiB; control client: {}",
        args.clients,
        args.mib,
        held.len(),
        refused_1013,
        refused_1009,
        other,
        mib(grown),
        match &control {
            Ok((m, t)) if *m == Message::text("control") => format!("echoed in {:.1} ms", t.as_secs_f64() * 1e3),
            Ok((m, _)) => format!("got {m:?}"),
            Err(e) => format!("failed: {e}"),
        }
    );
    control.is_ok() && (held.len() * size) as u64 <= 300 << 20
}

fn refusals(args: &Args) -> bool {
    let request = client_request(&args.addr.to_string(), &args.path, &generate_key(), &[], None);
    let started = Instant::now();
    let mut peak_fds = 0;
    let clients: Vec<TcpStream> = (0..args.clients)
        .filter_map(|i| {
            if i % 200 == 0 {
                peak_fds = peak_fds.max(proc_of(args.pid).fds);
            }
            let s = TcpStream::connect(args.addr).ok()?;
            let _ = (&s).write_all(&request);
            Some(s)
        })
        .collect();
    let (mut upgraded, mut refused, mut silent, mut hung) = (0, 0, 0, 0);
    let mut slowest = Duration::ZERO;
    for s in &clients {
        s.set_read_timeout(Some(WAIT)).ok();
        let mut reader = BufReader::new(s);
        let t = Instant::now();
        match read_response_head(&mut reader, &Limits::default()) {
            Ok(h) if h.status == 101 => upgraded += 1,
            Ok(h) if h.status == 503 => refused += 1,
            Ok(_) => silent += 1,
            Err(wirelab::http::HttpError::Timeout) => hung += 1,
            Err(_) => silent += 1,
        }
        slowest = slowest.max(t.elapsed());
    }
    println!(
        "{} clients at once: {upgraded} served, {refused} refused with 503, {silent} closed without an answer, {hung} left hanging; all answered {:.2} s after the first connect; server descriptors peaked near {peak_fds}",
        clients.len(),
        started.elapsed().as_secs_f64()
    );
    silent == 0 && hung == 0
}

/// One request on its own connection; the status and the body.
fn request(addr: SocketAddr, method: &str, path: &str, headers: &str, body: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return (0, String::new());
    };
    s.set_read_timeout(Some(WAIT)).ok();
    let text = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = s.write_all(text.as_bytes());
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    let status = answer.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, answer.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_string())
}

const JSON: &str = "Content-Type: application/json\r\n";

fn token_of(body: &str) -> String {
    body.split("\"token\":\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap_or("")
        .to_string()
}

fn slowread(args: &Args) -> bool {
    if args.fill > 0 {
        // Fill the log: messages of 2,000 `<` (12 KB of JSON each), from as
        // many people as the rate per person needs.
        let text = "<".repeat(2000);
        let mut filled = 0;
        for person in 0.. {
            if filled >= args.fill || person > args.fill {
                break;
            }
            let (_, body) = request(
                args.addr,
                "POST",
                "/api/chat/join",
                JSON,
                &format!(r#"{{"nick":"filler{person}"}}"#),
            );
            let token = token_of(&body);
            for _ in 0..10 {
                let say = format!(r#"{{"token":"{token}","text":"{text}"}}"#);
                if request(args.addr, "POST", "/api/chat/say", JSON, &say).0 == 201 {
                    filled += 1;
                }
            }
            thread::sleep(Duration::from_millis(60));
        }
        println!("filled the log with {filled} messages of 12 KB");
    }
    let baseline = proc_of(args.pid).rss;
    let stalled: Vec<TcpStream> = (0..args.clients)
        .filter_map(|_| {
            let s = TcpStream::connect(args.addr).ok()?;
            let get = format!("GET /api/chat/poll?since=1 HTTP/1.1\r\nHost: {}\r\n\r\n", args.addr);
            let _ = (&s).write_all(get.as_bytes());
            Some(s)
        })
        .collect();
    thread::sleep(Duration::from_secs(2));
    let grown = proc_of(args.pid).rss.saturating_sub(baseline);
    let (status, _) = request(args.addr, "GET", "/chat.css", "", "");
    println!(
        "{} clients asked for the whole log and do not read: the server grew {:.1} MiB ({:.0} KiB a client); a control request got {status}",
        stalled.len(),
        mib(grown),
        grown as f64 / 1024.0 / stalled.len().max(1) as f64
    );
    status == 200
}

fn slowlist(args: &Args) -> bool {
    // Fill the store: messages of 2,000 `<`, 12 KB of JSON each.
    let say = format!(r#"{{"text":"{}"}}"#, "<".repeat(2000));
    let filled = (0..args.fill)
        .filter(|_| request(args.addr, "POST", "/api/messages", JSON, &say).0 == 201)
        .count();
    println!("posted {filled} messages of 12 KB of JSON each");
    let baseline = proc_of(args.pid).rss;
    // From as many addresses as the per-address limit needs.
    let stalled: Vec<TcpStream> = (0..args.clients)
        .filter_map(|i| {
            let s = connect_from(std::net::Ipv4Addr::new(127, 0, 0, 2 + (i / 32) as u8), args.addr)?;
            let get = format!("GET {} HTTP/1.1\r\nHost: {}\r\n\r\n", args.path, args.addr);
            let _ = (&s).write_all(get.as_bytes());
            Some(s)
        })
        .collect();
    thread::sleep(Duration::from_secs(2));
    let grown = proc_of(args.pid).rss.saturating_sub(baseline);
    let (status, _) = request(args.addr, "GET", "/hello", "", "");
    println!(
        "{} clients asked for {} and do not read: the server grew {:.1} MiB ({:.0} KiB a client); a control request got {status}",
        stalled.len(),
        args.path,
        mib(grown),
        grown as f64 / 1024.0 / stalled.len().max(1) as f64
    );
    status == 200 && grown < 64 << 20
}

fn forge(args: &Args) -> bool {
    let url = format!("ws://{}/ws", args.addr);
    let Ok(mut alice) = websocket::connect(&url) else {
        println!("cannot reach {url}");
        return false;
    };
    alice.set_read_timeout(Some(WAIT)).ok();
    let _ = alice.send(Message::text(r#"{"type":"join","nick":"alice"}"#));
    let mut attempts = Vec::new();
    let say = request(
        args.addr,
        "POST",
        "/api/chat/say",
        JSON,
        r#"{"nick":"alice","text":"forged"}"#,
    )
    .0;
    attempts.push(("say as alice without her token", say, 403));
    let guessed = r#"{"token":"0123456789abcdef0123456789abcdef","text":"forged"}"#;
    attempts.push((
        "say with a guessed token",
        request(args.addr, "POST", "/api/chat/say", JSON, guessed).0,
        403,
    ));
    let plain = "Content-Type: text/plain\r\n";
    attempts.push((
        "text/plain join (a cross-site simple request)",
        request(args.addr, "POST", "/api/chat/join", plain, r#"{"nick":"alice"}"#).0,
        415,
    ));
    attempts.push((
        "join as alice",
        request(args.addr, "POST", "/api/chat/join", JSON, r#"{"nick":"alice"}"#).0,
        409,
    ));
    attempts.push((
        "leave as alice",
        request(args.addr, "POST", "/api/chat/leave", JSON, r#"{"nick":"alice"}"#).0,
        403,
    ));
    let foreign = format!("{JSON}Origin: http://evil.example\r\n");
    attempts.push((
        "join from another site's page",
        request(args.addr, "POST", "/api/chat/join", &foreign, r#"{"nick":"mallory"}"#).0,
        403,
    ));
    let hijack = raw_ws(args.addr, "/ws", Some("http://evil.example"))
        .err()
        .unwrap_or(101);
    attempts.push(("open /ws from another site's page", hijack, 403));
    let mut held = true;
    for (what, got, want) in &attempts {
        let ok = got == want;
        held &= ok;
        println!("  {what}: {got} ({})", if ok { "refused" } else { "NOT AS EXPECTED" });
    }
    // What alice saw: her history, then her own message, nothing forged.
    let _ = alice.send(Message::text(r#"{"type":"say","text":"really alice"}"#));
    let mut forged = false;
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        match alice.read() {
            Ok(Message::Text(t)) if t.contains("forged") => forged = true,
            Ok(Message::Text(t)) if t.contains("really alice") => break,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    println!(
        "  a forged message reached alice: {}",
        if forged { "YES" } else { "no" }
    );
    held && !forged
}

fn trickle(args: &Args) -> bool {
    let Ok(s) = raw_ws(args.addr, "/ws", None) else {
        println!("no WebSocket at {}/ws", args.addr);
        return false;
    };
    let mut frame = Vec::new();
    encode_frame(
        &mut frame,
        true,
        OpCode::Text,
        br#"{"type":"join","nick":"trickler"}"#,
        Some([9, 8, 7, 6]),
    );
    let started = Instant::now();
    let writer = s.try_clone().expect("a second handle");
    let sender = thread::spawn(move || {
        for byte in frame {
            if (&writer).write_all(&[byte]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(500));
        }
    });
    // Everything the server says until it closes: an error, a close frame.
    s.set_read_timeout(Some(Duration::from_secs(40))).ok();
    let mut said = Vec::new();
    let _ = (&s).read_to_end(&mut said);
    let took = started.elapsed();
    drop(sender);
    let text = String::from_utf8_lossy(&said);
    let why = text
        .split("\"text\":\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap_or("");
    let code = said
        .windows(2)
        .position(|w| w[0] == 0x88 && w[1] >= 2)
        .and_then(|i| said.get(i + 2..i + 4))
        .map(|c| u16::from_be_bytes([c[0], c[1]]));
    println!(
        "a join sent one byte every 500 ms: cut off after {:.1} s, told {why:?}, close code {code:?}",
        took.as_secs_f64()
    );
    took < Duration::from_secs(25)
}

/// A control client: one text message echoed back (or relayed), in ms.
fn control_echo(args: &Args) -> Result<f64, String> {
    let mut ws = websocket::connect(&format!("ws://{}{}", args.addr, args.path)).map_err(|e| e.to_string())?;
    ws.set_read_timeout(Some(WAIT)).map_err(|e| e.to_string())?;
    let t = Instant::now();
    ws.send(Message::text("control")).map_err(|e| e.to_string())?;
    match ws.read() {
        Ok(m) if m == Message::text("control") => Ok(t.elapsed().as_secs_f64() * 1e3),
        Ok(m) => Err(format!("got {m:?}")),
        Err(e) => Err(e.to_string()),
    }
}

fn unread(args: &Args) -> bool {
    let size = args.mib << 20;
    let baseline = proc_of(args.pid).rss;
    let mut frame = Vec::new();
    encode_frame(&mut frame, true, OpCode::Binary, &vec![0x5a; size], Some([1, 2, 3, 4]));
    // One client after another sends its whole message (the server reads
    // it all, then its echo waits for a reader that never comes).
    let clients: Vec<TcpStream> = (0..args.clients)
        .filter_map(|_| {
            let s = raw_ws(args.addr, &args.path, None).ok()?;
            s.set_write_timeout(Some(WAIT)).ok();
            let _ = (&s).write_all(&frame);
            Some(s)
        })
        .collect();
    // The server has read what it will read: measure while the echoes wait.
    thread::sleep(Duration::from_secs(2));
    let grown = proc_of(args.pid).rss.saturating_sub(baseline);
    let mut refused_1013 = 0;
    for s in &clients {
        s.set_nonblocking(true).ok();
        let mut peek = [0u8; 4];
        if matches!((&*s).read(&mut peek), Ok(4) if peek[0] & 0x0F == 0x8 && u16::from_be_bytes([peek[2], peek[3]]) == 1013)
        {
            refused_1013 += 1;
        }
    }
    let control = control_echo(args);
    println!(
        "{} clients sent {} MiB each and read nothing: {} refused with 1013; server grew {:.1} MiB; control client: {}",
        clients.len(),
        args.mib,
        refused_1013,
        mib(grown),
        match &control {
            Ok(ms) => format!("echoed in {ms:.1} ms"),
            Err(e) => format!("failed: {e}"),
        }
    );
    // The echo server's budget is 256 MiB; what was not refused is in it.
    control.is_ok() && grown <= 300 << 20
}

/// A socket connected from `ip` (a loopback address other than 127.0.0.1
/// is another peer to the server), without waiting for the connection.
fn connect_from(ip: std::net::Ipv4Addr, addr: SocketAddr) -> Option<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).ok()?;
    socket.bind(&SocketAddr::from((ip, 0)).into()).ok()?;
    socket.connect(&addr.into()).ok()?;
    Some(socket.into())
}

fn flood(args: &Args) -> bool {
    let request = format!("GET {} HTTP/1.1\r\nHost: {}\r\n\r\n", args.path, args.addr);
    let started = Instant::now();
    let mut peak = proc_of(args.pid);
    // A rush: clients connect 300 at a time, and only then send their
    // requests, so that each one's request is on its way while the others
    // of its group connect; but none waits more than 500 ms to send (a
    // connect can take a second or more when the server's backlog is full,
    // and a client silent for 2 s is no longer one whose request is on
    // its way, see FIRST_REQUEST_GRACE).
    let mut clients: Vec<TcpStream> = Vec::with_capacity(args.clients);
    let mut unsent = 0;
    let mut oldest_unsent = Instant::now();
    for i in 0..args.clients {
        if i % 300 == 0 || oldest_unsent.elapsed() > Duration::from_millis(500) {
            peak.fds = peak.fds.max(proc_of(args.pid).fds);
            for s in &clients[unsent..] {
                let _ = (&*s).write_all(request.as_bytes());
            }
            unsent = clients.len();
        }
        let ip = std::net::Ipv4Addr::new(127, 0, 0, 2 + (i % args.peers) as u8);
        if let Some(s) = connect_from(ip, args.addr) {
            if unsent == clients.len() {
                oldest_unsent = Instant::now();
            }
            clients.push(s);
        }
    }
    for s in &clients[unsent..] {
        let _ = (&*s).write_all(request.as_bytes());
    }
    let (mut served, mut refused, mut silent, mut hung) = (0, 0, 0, 0);
    for s in &clients {
        s.set_read_timeout(Some(WAIT)).ok();
        let mut reader = BufReader::new(s);
        match read_response_head(&mut reader, &Limits::default()) {
            Ok(h) if h.status == 503 => refused += 1,
            Ok(_) => served += 1,
            Err(wirelab::http::HttpError::Timeout) => hung += 1,
            Err(_) => silent += 1,
        }
    }
    let answered = started.elapsed();
    let control = request_status(args);
    println!(
        "{} clients from {} addresses: {served} answered, {refused} refused with 503, {silent} closed without an answer, {hung} left hanging, all within {:.2} s; a control request from 127.0.0.1: {control}; server descriptors peaked near {}",
        clients.len(),
        args.peers,
        answered.as_secs_f64(),
        peak.fds
    );
    silent == 0 && hung == 0 && control != 0
}

/// The status of one `GET` of the URL's path, from 127.0.0.1.
fn request_status(args: &Args) -> u16 {
    request(args.addr, "GET", &args.path, "", "").0
}
