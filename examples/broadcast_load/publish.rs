//! Publishing: bursts, a steady rate, floods.

use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::receive::Shared;
use crate::wire::{encode, Rng};

/// Bytes a publisher joins into one write in the as-fast-as-it-can modes.
const PUBLISH_BATCH: usize = 64 * 1024;

/// How a publisher sends.
#[derive(Clone, Copy)]
pub enum Plan {
    /// `count` messages as fast as the socket takes them.
    Burst { count: u64 },
    /// `count` messages, `rate` per second.
    Paced { count: u64, rate: f64 },
    /// As fast as possible until `until`.
    Flood { until: Instant },
}

/// What a publisher did.
#[derive(Debug, Default)]
pub struct Sent {
    pub messages: u64,
    /// Time spent inside `write`: waiting for the server to read.
    pub blocked: Duration,
    pub elapsed: Duration,
    pub error: Option<String>,
}

/// `write_all`, except that a write blocked because the server stopped
/// reading gives up once the run is over.
pub fn write_all_unless_stopped(s: &mut TcpStream, mut bytes: &[u8], shared: &Shared) -> std::io::Result<()> {
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

pub fn publish(mut s: TcpStream, id: usize, plan: Plan, size: usize, shared: Arc<Shared>) -> Sent {
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
