//! Teaching aids: see and count the bytes on the wire.
//!
//! - [`hex_dump`]: bytes as the classic offset / hex / ASCII table, for
//!   printing what a socket actually carried.
//! - [`Timeline`]: who did what when, across threads, printed in two
//!   lanes (`examples/duplex.rs`).
//! - [`CountingRelay`]: a TCP relay that sits between a client and a server
//!   and counts every byte in each direction. Because it counts at the
//!   socket, it sees everything a protocol costs: request lines, headers,
//!   frame headers, handshakes, and the payload. `examples/push_vs_poll.rs`
//!   puts one in front of each transport.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Formats `bytes` sixteen per line: offset, hex, and printable ASCII.
///
/// ```
/// let dump = wirelab::observe::hex_dump(b"GET / HTTP/1.1\r\n");
/// assert_eq!(dump, "0000  47 45 54 20 2f 20 48 54 54 50 2f 31 2e 31 0d 0a  GET / HTTP/1.1..\n");
/// ```
pub fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (i, line) in bytes.chunks(16).enumerate() {
        let _ = write!(out, "{:04x}  ", i * 16);
        for j in 0..16 {
            match line.get(j) {
                Some(b) => {
                    let _ = write!(out, "{b:02x} ");
                }
                None => out.push_str("   "),
            }
        }
        out.push(' ');
        out.extend(line.iter().map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        }));
        out.push('\n');
    }
    out
}

/// Events from several threads, stamped with the time since the timeline
/// began, printed afterwards in two lanes (left and right).
#[derive(Debug)]
pub struct Timeline {
    start: Instant,
    events: Mutex<Vec<(Duration, usize, String)>>,
}

impl Timeline {
    /// A timeline starting now.
    pub fn new() -> Arc<Timeline> {
        Arc::new(Timeline {
            start: Instant::now(),
            events: Mutex::new(Vec::new()),
        })
    }

    /// Records `what` in lane 0 (left) or 1 (right).
    pub fn note(&self, lane: usize, what: impl Into<String>) {
        let at = self.start.elapsed();
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((at, lane.min(1), what.into()));
    }

    /// The events so far, in time order, as text: `+0.100s  left | right`.
    pub fn render(&self, left: &str, right: &str) -> String {
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner()).clone();
        events.sort_by_key(|(at, _, _)| *at);
        let mut out = format!("{:>9}  {:<38} {}\n", "time", left, right);
        for (at, lane, what) in events {
            let (l, r) = if lane == 0 {
                (what.as_str(), "")
            } else {
                ("", what.as_str())
            };
            let _ = writeln!(out, "{:>8.3}s  {:<38} {}", at.as_secs_f64(), l, r);
        }
        out
    }
}

/// Bytes counted by a [`CountingRelay`], in each direction.
#[derive(Debug, Default)]
pub struct Counters {
    /// Client to server.
    pub up: AtomicU64,
    /// Server to client.
    pub down: AtomicU64,
    /// Connections relayed.
    pub connections: AtomicU64,
}

impl Counters {
    /// Bytes sent by clients so far.
    pub fn up(&self) -> u64 {
        self.up.load(Ordering::SeqCst)
    }

    /// Bytes sent by the server so far.
    pub fn down(&self) -> u64 {
        self.down.load(Ordering::SeqCst)
    }
}

/// A TCP relay that forwards every connection it accepts to `target` and
/// counts the bytes both ways. It runs until the process ends.
#[derive(Debug)]
pub struct CountingRelay {
    addr: SocketAddr,
    counters: Arc<Counters>,
}

impl CountingRelay {
    /// Listens on `127.0.0.1:0` and relays to `target`.
    pub fn start(target: SocketAddr) -> io::Result<CountingRelay> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let c = Arc::clone(&counters);
        thread::Builder::new().name("relay".into()).spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                c.connections.fetch_add(1, Ordering::SeqCst);
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                let up = Arc::clone(&c);
                let down = Arc::clone(&c);
                let _ = thread::Builder::new()
                    .stack_size(64 * 1024)
                    .spawn(move || pump(client, server, &up.up));
                let _ = thread::Builder::new()
                    .stack_size(64 * 1024)
                    .spawn(move || pump(server2, client2, &down.down));
            }
        })?;
        Ok(CountingRelay { addr, counters })
    }

    /// Where clients should connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The byte counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
}

/// Copies `from` to `to`, counting, until either side ends; then passes the
/// end on (half-close), so each direction closes independently.
fn pump(mut from: TcpStream, mut to: TcpStream, counter: &AtomicU64) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                counter.fetch_add(n as u64, Ordering::SeqCst);
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_dump_pads_the_last_line() {
        let d = hex_dump(b"\x81\x05Hello");
        assert_eq!(d, format!("0000  81 05 48 65 6c 6c 6f {} ..Hello\n", "   ".repeat(9)));
    }

    #[test]
    fn the_timeline_orders_events_from_threads_by_time() {
        let t = Timeline::new();
        let t2 = Arc::clone(&t);
        thread::spawn(move || t2.note(1, "right first")).join().unwrap();
        t.note(0, "left second");
        let text = t.render("L", "R");
        let right = text.find("right first").unwrap();
        let left = text.find("left second").unwrap();
        assert!(right < left);
    }

    #[test]
    fn the_relay_counts_every_byte_each_way() {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = server.local_addr().unwrap();
        let echo = thread::spawn(move || {
            let (mut s, _) = server.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).unwrap();
            s.write_all(b"0123456789").unwrap();
        });
        let relay = CountingRelay::start(target).unwrap();
        let mut c = TcpStream::connect(relay.addr()).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(b"hello").unwrap();
        let mut back = Vec::new();
        c.read_to_end(&mut back).unwrap();
        echo.join().unwrap();
        assert_eq!(back, b"0123456789");
        assert_eq!((relay.counters().up(), relay.counters().down()), (5, 10));
    }
}
