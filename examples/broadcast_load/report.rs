//! What a run prints at the end.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use crate::measure::{status_field, StallWatch};
use crate::options::{Mode, Options};
use crate::publish::Sent;
use crate::receive::{Conn, Shared};
use crate::target::Target;

pub fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    f64::from(sorted[rank.min(sorted.len() - 1)]) / 1000.0
}

pub fn latency_line(label: &str, mut ms: Vec<u32>) -> String {
    ms.sort_unstable();
    format!(
        "{label}: {} messages timed, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms.len(),
        percentile(&ms, 50.0),
        percentile(&ms, 99.0),
        ms.last().map_or(f64::NAN, |&m| f64::from(m) / 1000.0)
    )
}

pub fn report(
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
    if o.mode == Mode::Paced && counted.len() >= 20 {
        // A server that writes to its subscribers one after the other, in
        // the order they joined, reaches the last ones a whole fan-out
        // later than the first: the difference is the time it takes to go
        // round them, which no client can avoid.
        let mut by_join: Vec<&Conn> = counted.clone();
        by_join.sort_by_key(|c| c.joined);
        let tenth = by_join.len() / 10;
        let first: Vec<u32> = by_join[..tenth].iter().flat_map(ms).collect();
        let last: Vec<u32> = by_join[by_join.len() - tenth..].iter().flat_map(ms).collect();
        println!("{}", latency_line("  the tenth that joined first", first));
        println!("{}", latency_line("  the tenth that joined last", last));
    }
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

pub fn run_idle(o: &Options, target: &Target, rss_before: Option<u64>) {
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
