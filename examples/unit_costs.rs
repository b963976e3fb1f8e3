//! `unit_costs`: what the pieces of a server's work cost on this machine.
//!
//! ```text
//! cargo run --release --example unit_costs
//! ```
//!
//! `docs/performance.md` explains the echo and handshake figures with four
//! unit costs; this prints them, each the median of several timed batches:
//!
//! - **a pass over 1 MiB in user space**: copying it, zeroing it, masking it
//!   (what a WebSocket server does to a payload besides handing it to the
//!   kernel);
//! - **a system call** that moves no data (`setsockopt`, `dup` + `close`);
//! - **a wake-up**: one thread hands a value to another that sleeps
//!   waiting for it (a futex wake, a context switch);
//! - **a thread start**: spawn a thread with a 128 KiB stack and join it.
//!
//! It is a benchmark: it prints figures and asserts nothing. On a machine
//! shared with other work the figures move from run to run; their orders
//! of magnitude do not.

use std::hint::black_box;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use wirelab::websocket::frame::apply_mask;

const MIB: usize = 1 << 20;

/// Median over `batches` runs of `per_batch` calls of `f`, per call.
fn per_call(batches: usize, per_batch: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..batches)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..per_batch {
                f();
            }
            started.elapsed() / per_batch as u32
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn show(what: &str, cost: Duration) {
    println!("{:>10.2} us  {what}", cost.as_secs_f64() * 1e6);
}

/// Two threads passing a counter back and forth through a mutex and a
/// condition variable: each pass wakes a sleeping thread.
fn wake_up() -> Duration {
    const PASSES: usize = 2_000;
    let turn = Arc::new((Mutex::new(0usize), Condvar::new()));
    let other = Arc::clone(&turn);
    let partner = thread::spawn(move || {
        let (count, changed) = &*other;
        let mut n = count.lock().unwrap();
        while *n < PASSES {
            if *n % 2 == 1 {
                *n += 1;
                changed.notify_one();
            }
            n = changed.wait_timeout(n, Duration::from_secs(1)).unwrap().0;
        }
    });
    let (count, changed) = &*turn;
    let started = Instant::now();
    let mut n = count.lock().unwrap();
    while *n < PASSES {
        if *n % 2 == 0 {
            *n += 1;
            changed.notify_one();
        }
        n = changed.wait_timeout(n, Duration::from_secs(1)).unwrap().0;
    }
    let elapsed = started.elapsed();
    drop(n);
    changed.notify_one();
    partner.join().unwrap();
    elapsed / PASSES as u32
}

fn main() {
    println!("unit_costs: medians of timed batches (microseconds)");

    let source = vec![7u8; MIB];
    let mut target = vec![0u8; MIB];
    show(
        "copy 1 MiB (copy_from_slice)",
        per_call(9, 200, || target.copy_from_slice(black_box(&source))),
    );
    show(
        "zero 1 MiB (what safe Rust does before the kernel fills a buffer)",
        per_call(9, 200, || black_box(&mut target).fill(0)),
    );
    show(
        "mask 1 MiB (apply_mask, 8 bytes at a time)",
        per_call(9, 200, || apply_mask(black_box(&mut target), [1, 2, 3, 4], 0)),
    );

    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback listener");
    let socket = TcpStream::connect(listener.local_addr().unwrap()).expect("a loopback connection");
    let mut flip = false;
    show(
        "a system call that moves no data (setsockopt: a read timeout)",
        per_call(9, 20_000, || {
            flip = !flip;
            let timeout = Duration::from_secs(if flip { 1 } else { 2 });
            socket.set_read_timeout(Some(timeout)).unwrap();
        }),
    );
    show(
        "two system calls: dup a socket, close the copy (try_clone + drop)",
        per_call(9, 20_000, || drop(socket.try_clone().unwrap())),
    );

    let mut wake_ups: Vec<Duration> = (0..9).map(|_| wake_up()).collect();
    wake_ups.sort();
    show("a wake-up: hand a value to a thread asleep waiting for it", wake_ups[4]);
    show(
        "a thread start: spawn (128 KiB stack) and join",
        per_call(9, 200, || {
            let t = thread::Builder::new().stack_size(128 * 1024).spawn(|| black_box(1));
            t.unwrap().join().unwrap();
        }),
    );
}
