//! `broadcast_load`: load a broadcast server from another process, and measure it.
//!
//! ```text
//! cargo run --release --example broadcast_load -- [MODE] [--clients M] [--messages K] [--size BYTES]
//!     [--rate PER_SEC] [--seconds S] [--threads T] [--server PATH | --url URL [--pid PID]]
//!     [--deflate on|off]
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
//! `--deflate on` offers permessage-deflate (RFC 7692 §5) in every
//! client's handshake and inflates the messages the server compresses;
//! publishers still send theirs uncompressed (§6 lets each message
//! choose). The report says for how many clients the server agreed.
//! Inflating uses the crate's own `wirelab::deflate`, the one part of the
//! client side not written here. The default, `off`, is what the figures
//! in `docs/performance.md` were taken with.
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
//! Each client is one file descriptor here and one in the server (its
//! socket, which the server's table shares with the WebSocket to shut it
//! down; the table kept a copy, a second descriptor, before): the server
//! started here inherits the limit of the shell, and serves at most
//! `ulimit -n` − 113 clients, 19 887 under a limit of 20 000. It says so
//! before it starts.
//!
//! | file | what |
//! |---|---|
//! | `main.rs` | the run: connect everyone, start readers and publishers, watch, stop |
//! | `options.rs` | the command line |
//! | `target.rs` | the server under test: a child process or a URL; `serve` |
//! | `wire.rs` | the client side of the protocols: handshake, masked frames, lines |
//! | `receive.rs` | every client's messages checked and timed; the reader threads |
//! | `publish.rs` | bursts, a steady rate, floods |
//! | `measure.rs` | `/proc`: CPU time, memory, a connection's queues in the kernel |
//! | `report.rs` | what a run prints at the end |

mod measure;
mod options;
mod publish;
mod receive;
mod report;
mod target;
mod wire;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use measure::{open_files_limit, status_field, CpuMeter, RssPeak, StallWatch};
use options::{parse_args, Mode, Proto};
use publish::{publish, Plan, Sent};
use receive::{read_blocking, read_round, Conn, Shared};
use report::{report, run_idle};
use target::{serve, serve_config, start_target, RELAY_FDS_PER_CONNECTION, SERVE};
use wire::{connect, Rng};

/// A run ends when no delivery has happened for this long.
const STUCK: Duration = Duration::from_secs(20);

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
    if o.url.is_none() && o.server.is_none() {
        // The server started here inherits this process's limit.
        let config = serve_config(Some(o.clients + 100));
        let cap = config.connection_cap(wirelab::server::soft_fd_limit());
        let clients = o.clients + usize::from(o.mode == Mode::Stall);
        if cap < clients {
            eprintln!(
                "broadcast_load: the server would serve at most {cap} connections under this limit \
                 ({} open files, {RELAY_FDS_PER_CONNECTION} per connection, {} kept for itself); \
                 {clients} clients need `ulimit -n` of at least {} in this shell",
                wirelab::server::soft_fd_limit().map_or("unknown".to_string(), |n| n.to_string()),
                wirelab::server::RESERVED_FDS + config.accept_threads(),
                clients * RELAY_FDS_PER_CONNECTION + wirelab::server::RESERVED_FDS + config.accept_threads()
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
    let mut compressed = 0;
    for c in 0..o.clients + usize::from(o.mode == Mode::Stall) {
        let (stream, leftover, agreed) = connect(&target, &mut rng, o.deflate).unwrap_or_else(|e| {
            eprintln!("broadcast_load: client {c} could not connect: {e}");
            std::process::exit(1);
        });
        compressed += usize::from(agreed);
        if c < publishers {
            publisher_streams.push(stream.try_clone().expect("cloning a socket"));
            let mut conn = Conn::new(stream, leftover, true).with_deflate(agreed);
            conn.joined = c;
            conn.answers_pings = false;
            publisher_readers.push(conn);
        } else {
            stream.set_nonblocking(true).expect("a non-blocking socket");
            let mut conn = Conn::new(stream, leftover, c < o.clients).with_deflate(agreed);
            conn.joined = c;
            conn.stalled = c == o.clients;
            shards[c % o.threads].push(conn);
        }
    }
    let counted = o.clients;
    println!("connected {} clients in {:.2?}", o.clients, connect_started.elapsed());
    if o.deflate {
        // Publishers send their messages uncompressed, which RFC 7692 allows
        // (§6: compression is chosen message by message); only what the
        // server sends is compressed, if it agreed.
        println!(
            "permessage-deflate: offered by every client, agreed by the server for {compressed} of {}",
            o.clients + usize::from(o.mode == Mode::Stall)
        );
    }
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
