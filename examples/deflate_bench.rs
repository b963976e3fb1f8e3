//! How fast and how small: wirelab's DEFLATE next to zlib (through
//! Python's `zlib` module) on the same inputs, in the same session.
//!
//! ```text
//! cargo run --release --example deflate_bench            # 1 MiB per input
//! cargo run --release --example deflate_bench -- 4       # 4 MiB per input
//! ```
//!
//! Inputs, made here so every run sees the same bytes: chat messages as
//! the chat page receives them, ticks as the ticker sends them, English
//! text (this crate's `docs/` chapters, repeated) and random bytes.
//!
//! Figures are per CPU second of the measuring thread (Linux
//! `/proc/thread-self/schedstat`, which advances with the scheduler's
//! tick; Python's `time.thread_time`), the steadiest measure on a shared
//! machine: time spent waiting for a CPU is not counted. Each figure is
//! the best of three rounds of at least 0.3 s, so a tick is at most a few
//! per cent of one. Throughput is bytes of uncompressed data per second,
//! both ways: what deflate reads, what inflate writes. "ours ÷ zlib" above
//! 1 means faster than zlib. Needs `python3`; without it only our figures
//! print.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use wirelab::deflate::{deflate, inflate, DeflateConfig, Deflater, Inflater, Level, WindowBits};

fn main() {
    let mib: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1);
    let size = mib << 20;
    let dir = std::env::temp_dir().join(format!("wirelab-deflate-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");

    let chat = chat_messages(size);
    let ticks = ticker_messages(size);
    let inputs: Vec<(&str, Vec<u8>)> = vec![
        ("chat JSON", chat.join(&b'\n')),
        ("ticker JSON", ticks.join(&b'\n')),
        ("English text", english(size)),
        ("random bytes", random_bytes(size, 0x2545_f491_4f6c_dd1d)),
    ];
    for (i, (_, data)) in inputs.iter().enumerate() {
        std::fs::write(dir.join(format!("input{i}")), data).expect("write input");
    }
    let messages = [("chat", &chat), ("ticker", &ticks)];
    for (name, list) in &messages {
        std::fs::write(dir.join(format!("{name}.messages")), list.join(&b'\n')).expect("write messages");
    }
    let zlib = python_zlib(&dir, inputs.len());
    if zlib.is_none() {
        println!("(python3 with zlib not found: zlib's columns are left empty)\n");
    }
    let z = |key: String| {
        zlib.as_ref()
            .and_then(|z| z.iter().find(|(k, _)| *k == key).map(|(_, v)| *v))
    };

    let version = zlib
        .as_ref()
        .and_then(|z| z.iter().find(|(k, _)| k == "zlib").map(|(_, v)| *v));
    println!(
        "{} CPUs ({}); zlib {} through Python.\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        version.map_or("not found".to_string(), |v| format!(
            "{}.{}.{}",
            v as u32 / 10000,
            v as u32 / 100 % 100,
            v as u32 % 100
        )),
    );
    println!("Whole inputs of {mib} MiB, raw DEFLATE, 32 KiB window; MB/s per CPU second.\n");
    println!("| input | level | size, ours | size, zlib | deflate MB/s, ours | zlib | ours ÷ zlib | inflate MB/s, ours | zlib | ours ÷ zlib |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (i, (name, data)) in inputs.iter().enumerate() {
        for level in [1u8, 6, 9] {
            let packed = deflate(data, Level::new(level).expect("level"));
            assert_eq!(inflate(&packed, data.len()).expect("inflates"), *data, "round trip");
            let d = mb_per_s(data.len(), || drop(deflate(data, Level::new(level).expect("level"))));
            let n = mb_per_s(data.len(), || drop(inflate(&packed, data.len())));
            let zd = z(format!("deflate {i} {level}"));
            let zn = z(format!("inflate {i} {level}"));
            let zs = z(format!("size {i} {level}"));
            println!(
                "| {name} | {level} | {} | {} | {d:.1} | {} | {} | {n:.1} | {} | {} |",
                percent(packed.len(), data.len()),
                zs.map_or("".into(), |s| percent(s as usize, data.len())),
                opt(zd),
                ratio(d, zd),
                opt(zn),
                ratio(n, zn),
            );
        }
    }

    println!("\nOne WebSocket message at a time (RFC 7692: sync flush, tail removed), level 6, 32 KiB window.");
    println!("Payload bytes per message, and CPU microseconds per message.\n");
    println!("| messages | context takeover | avg message | avg payload, ours | zlib | deflate µs, ours | zlib | inflate µs, ours | zlib |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for (name, list) in &messages {
        let list: Vec<&[u8]> = list.iter().map(|m| &m[..]).take(20_000).collect();
        let avg = list.iter().map(|m| m.len()).sum::<usize>() as f64 / list.len() as f64;
        for takeover in [false, true] {
            let config = DeflateConfig {
                context_takeover: takeover,
                ..DeflateConfig::default()
            };
            let payloads = compress_all(&list, config);
            check_all(&payloads, &list, takeover);
            let payload_avg = payloads.iter().map(|p| p.len()).sum::<usize>() as f64 / list.len() as f64;
            let deflate_us = micros_per(list.len(), || drop(compress_all(&list, config)));
            let inflate_us = micros_per(list.len(), || inflate_all(&payloads, takeover));
            let key = |what: &str| z(format!("{what} {name} {}", takeover as u8));
            println!(
                "| {name} | {} | {avg:.0} B | {payload_avg:.1} B | {} | {deflate_us:.2} | {} | {inflate_us:.2} | {} |",
                if takeover { "yes" } else { "no" },
                key("payload").map_or("".into(), |v| format!("{v:.1} B")),
                key("deflate_us").map_or("".into(), |v| format!("{v:.2}")),
                key("inflate_us").map_or("".into(), |v| format!("{v:.2}")),
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn compress_all(list: &[&[u8]], config: DeflateConfig) -> Vec<Vec<u8>> {
    let mut deflater = Deflater::new(config);
    list.iter()
        .map(|m| {
            let mut out = Vec::new();
            deflater.compress_message(m, &mut out);
            out
        })
        .collect()
}

fn inflate_all(payloads: &[Vec<u8>], takeover: bool) {
    let mut inflater = Inflater::new(WindowBits::MAX, takeover);
    let mut out = Vec::new();
    for p in payloads {
        out.clear();
        inflater.inflate_message(p, &mut out, 1 << 20).expect("inflates");
    }
}

fn check_all(payloads: &[Vec<u8>], originals: &[&[u8]], takeover: bool) {
    let mut inflater = Inflater::new(WindowBits::MAX, takeover);
    for (p, m) in payloads.iter().zip(originals) {
        let mut out = Vec::new();
        inflater.inflate_message(p, &mut out, 1 << 20).expect("inflates");
        assert_eq!(out, *m, "round trip");
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string())
}

/// Runs `f` until at least 0.3 s of CPU have passed, three times; returns
/// the best rate of `bytes` per CPU second, in MB/s.
fn mb_per_s(bytes: usize, mut f: impl FnMut()) -> f64 {
    let best = best_seconds_per_call(&mut f);
    bytes as f64 / best / 1e6
}

fn micros_per(count: usize, mut f: impl FnMut()) -> f64 {
    best_seconds_per_call(&mut f) / count as f64 * 1e6
}

fn best_seconds_per_call(f: &mut dyn FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..3 {
        let start = cpu_seconds();
        let mut calls = 0;
        while cpu_seconds() - start < 0.3 {
            f();
            calls += 1;
        }
        best = best.min((cpu_seconds() - start) / calls as f64);
    }
    best
}

/// CPU time of this thread: the first field of `/proc/thread-self/schedstat`
/// is nanoseconds on the CPU. Elsewhere, wall time.
fn cpu_seconds() -> f64 {
    thread_local!(static START: Instant = Instant::now());
    match std::fs::read_to_string("/proc/thread-self/schedstat") {
        Ok(s) => {
            s.split_whitespace()
                .next()
                .and_then(|n| n.parse::<f64>().ok())
                .unwrap_or(0.0)
                / 1e9
        }
        Err(_) => START.with(|s| s.elapsed().as_secs_f64()),
    }
}

fn percent(part: usize, whole: usize) -> String {
    format!("{:.1} %", 100.0 * part as f64 / whole as f64)
}

fn opt(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| format!("{v:.1}"))
}

fn ratio(ours: f64, theirs: Option<f64>) -> String {
    theirs.map_or(String::new(), |t| format!("{:.2}", ours / t))
}

/// Runs zlib on the same files; returns its figures as (key, value).
fn python_zlib(dir: &Path, inputs: usize) -> Option<Vec<(String, f64)>> {
    let output = Command::new("python3")
        .arg("-c")
        .arg(PYTHON)
        .arg(dir)
        .arg(inputs.to_string())
        .output()
        .ok()?;
    if !output.status.success() {
        eprintln!("python3 failed: {}", String::from_utf8_lossy(&output.stderr));
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    Some(
        text.lines()
            .filter_map(|l| {
                let (key, value) = l.rsplit_once(' ')?;
                Some((key.to_string(), value.parse().ok()?))
            })
            .collect(),
    )
}

/// zlib's side, measured the same way (best of three rounds of 0.3 s of
/// this thread's CPU time).
const PYTHON: &str = r#"
import sys, time, zlib
d, n = sys.argv[1], int(sys.argv[2])
major, minor, patch = (int(x) for x in zlib.ZLIB_RUNTIME_VERSION.split(".")[:3])
print(f"zlib {major * 10000 + minor * 100 + patch}")
def best(f):
    b = float('inf')
    for _ in range(3):
        s = time.thread_time(); calls = 0
        while time.thread_time() - s < 0.3:
            f(); calls += 1
        b = min(b, (time.thread_time() - s) / calls)
    return b
def raw(data, level):
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()
for i in range(n):
    data = open(f"{d}/input{i}", "rb").read()
    for level in (1, 6, 9):
        packed = raw(data, level)
        print(f"size {i} {level} {len(packed)}")
        print(f"deflate {i} {level} {len(data) / best(lambda: raw(data, level)) / 1e6}")
        print(f"inflate {i} {level} {len(data) / best(lambda: zlib.decompress(packed, -15)) / 1e6}")
for name in ("chat", "ticker"):
    msgs = open(f"{d}/{name}.messages", "rb").read().split(b"\n")[:20000]
    for takeover in (0, 1):
        def compress_all():
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            out = []
            for m in msgs:
                if not takeover:
                    c = zlib.compressobj(6, zlib.DEFLATED, -15)
                out.append((c.compress(m) + c.flush(zlib.Z_SYNC_FLUSH))[:-4])
            return out
        def inflate_all():
            o = zlib.decompressobj(-15)
            for p in payloads:
                if not takeover:
                    o = zlib.decompressobj(-15)
                o.decompress(p + b"\x00\x00\xff\xff")
        payloads = compress_all()
        print(f"payload {name} {takeover} {sum(map(len, payloads)) / len(msgs)}")
        print(f"deflate_us {name} {takeover} {best(compress_all) / len(msgs) * 1e6}")
        print(f"inflate_us {name} {takeover} {best(inflate_all) / len(msgs) * 1e6}")
"#;

/// A small, fixed pseudo-random generator (xorshift64*), so every run
/// sees the same inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() >> 33) as usize % n
    }
}

const WORDS: &[&str] = &[
    "the",
    "be",
    "to",
    "of",
    "and",
    "a",
    "in",
    "that",
    "have",
    "I",
    "it",
    "for",
    "not",
    "on",
    "with",
    "he",
    "as",
    "you",
    "do",
    "at",
    "this",
    "but",
    "his",
    "by",
    "from",
    "they",
    "we",
    "say",
    "her",
    "she",
    "or",
    "an",
    "will",
    "my",
    "one",
    "all",
    "would",
    "there",
    "their",
    "what",
    "so",
    "up",
    "out",
    "if",
    "about",
    "who",
    "get",
    "which",
    "go",
    "me",
    "when",
    "make",
    "can",
    "like",
    "time",
    "no",
    "just",
    "him",
    "know",
    "take",
    "people",
    "into",
    "year",
    "your",
    "good",
    "some",
    "could",
    "them",
    "see",
    "other",
    "than",
    "then",
    "now",
    "look",
    "only",
    "come",
    "its",
    "over",
    "think",
    "also",
    "back",
    "after",
    "use",
    "two",
    "how",
    "our",
    "work",
    "first",
    "well",
    "way",
    "even",
    "new",
    "want",
    "because",
    "any",
    "these",
    "give",
    "day",
    "most",
    "us",
    "socket",
    "server",
    "message",
    "frame",
    "browser",
    "ping",
    "lunch?",
    "ok",
    "thanks!",
    "see you",
    "TCP",
    "HTTP",
    "WebSocket",
];

const NICKS: &[&str] = &["ada", "grace", "linus", "barbara", "ken", "margaret", "dennis", "radia"];

/// Chat events as the chat's hub publishes them (`src/app/chat/mod.rs`):
/// mostly messages, some joins and leaves.
fn chat_messages(total: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::new();
    let mut len = 0;
    let mut ts: u64 = 1_732_450_000_000;
    let mut id = 0;
    while len < total {
        id += 1;
        ts += 200 + rng.below(5000) as u64;
        let nick = NICKS[rng.below(NICKS.len())];
        let event = if rng.below(20) == 0 {
            let kind = if rng.below(2) == 0 { "join" } else { "leave" };
            let online = 1 + rng.below(NICKS.len());
            format!(r#"{{"type":"{kind}","id":{id},"nick":"{nick}","online":{online},"ts":{ts}}}"#)
        } else {
            let mut text = String::new();
            for i in 0..1 + rng.below(16) {
                if i > 0 {
                    text.push(' ');
                }
                text.push_str(WORDS[rng.below(WORDS.len())]);
            }
            let payload = text.len() + 30;
            let mut frame = String::new();
            let _ = write!(
                frame,
                r#","frame":{{"frames":1,"header":6,"payload":{payload},"deflated":true}}"#
            );
            format!(r#"{{"type":"message","id":{id},"nick":"{nick}","text":"{text}","ts":{ts}{frame}}}"#)
        };
        len += event.len() + 1;
        out.push(event.into_bytes());
    }
    out
}

/// Ticks as the ticker publishes them (`src/app/ticker/mod.rs`): five quotes
/// on a random walk pulled back towards their open, every 250 ms.
fn ticker_messages(total: usize) -> Vec<Vec<u8>> {
    const SYMBOLS: [(&str, f64); 5] = [
        ("ACME", 101.0),
        ("GLOBEX", 54.5),
        ("INITECH", 12.8),
        ("UMBRELLA", 230.0),
        ("HOOLI", 77.7),
    ];
    let mut rng = Rng(0xd1b5_4a32_d192_ed03);
    let mut prices: Vec<f64> = SYMBOLS.iter().map(|s| s.1).collect();
    let mut out = Vec::new();
    let mut len = 0;
    let mut seq = 0;
    while len < total {
        seq += 1;
        let quotes: Vec<String> = SYMBOLS
            .iter()
            .zip(prices.iter_mut())
            .map(|((symbol, open), price)| {
                let unit = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
                *price = *price * (1.0 + (unit - 0.5) * 0.008) - (*price - open) * 0.001;
                format!(r#"{{"symbol":"{symbol}","price":{price:.2},"open":{open:.2}}}"#)
            })
            .collect();
        let tick = format!(
            r#"{{"type":"tick","seq":{seq},"t":{},"quotes":[{}]}}"#,
            1_732_450_000_000u64 + 250 * seq,
            quotes.join(",")
        );
        len += tick.len() + 1;
        out.push(tick.into_bytes());
    }
    out
}

/// This crate's chapters (`docs/*.md`), repeated up to `total` bytes.
fn english(total: usize) -> Vec<u8> {
    let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&docs)
        .expect("docs/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    let mut text = Vec::new();
    for f in files {
        text.extend(std::fs::read(f).expect("read a chapter"));
    }
    let mut out = Vec::with_capacity(total);
    while out.len() < total {
        out.extend_from_slice(&text[..text.len().min(total - out.len())]);
    }
    out
}

fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    (0..n).map(|_| (rng.next() >> 56) as u8).collect()
}
