//! Readings from `/proc`: CPU time, memory, a connection's queues in the
//! kernel's table; the meters built on them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// `/proc/PID/stat` counts CPU time in clock ticks of 1/100 s (`USER_HZ`,
/// 100 on Linux whatever the kernel's own tick).
const TICKS_PER_SECOND: f64 = 100.0;

// /proc

/// CPU seconds (user + system) used so far by process `pid` ("self" for this one).
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: count fields after its closing ')'.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

/// A field of `/proc/PID/status`, such as `VmRSS` (in KiB) or `Threads`.
pub fn status_field(pid: u32, name: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// The soft limit on open files of this process.
pub fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// One TCP connection's row in `/proc/net/tcp`: state and queues.
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpRow {
    /// `01` established, `04` FIN-WAIT-1 (we shut down, data may still be queued)...
    pub state: u8,
    /// Bytes written by the application and not yet acknowledged by the peer.
    pub tx_queue: u64,
    /// Bytes received and not yet read by the application.
    pub rx_queue: u64,
}

/// The rows of the connection from local port `local` to remote port
/// `remote`, read from the kernel's table of IPv4 TCP sockets.
pub fn tcp_row(local: u16, remote: u16) -> Option<TcpRow> {
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

/// CPU time of the server and of this program over a stretch of the run.
pub struct CpuMeter {
    pub pid: Option<u32>,
    pub started: Instant,
    pub server: Option<f64>,
    pub me: Option<f64>,
}

impl CpuMeter {
    pub fn start(pid: Option<u32>) -> CpuMeter {
        CpuMeter {
            pid,
            started: Instant::now(),
            server: pid.and_then(|p| cpu_seconds(&p.to_string())),
            me: cpu_seconds("self"),
        }
    }

    /// Prints CPU use since `start`; `deliveries` for the per-delivery figure.
    pub fn report(&self, deliveries: u64, threads: usize) {
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
            // Its readers (and, in the bursts, its publisher) near a full
            // core each: they could not go faster, so the server may have
            // been waiting for them.
            if cpu / wall >= 0.9 * threads as f64 {
                println!(
                    "  the load generator was close to its limit: the deliveries per second below may be \
                     its pace, not the server's; the server's CPU per delivery still holds"
                );
            }
        }
    }
}

/// Largest RSS of `pid` seen by a sampler thread, in KiB.
pub struct RssPeak {
    pub peak: Arc<AtomicU64>,
    pub stop: Arc<AtomicBool>,
}

impl RssPeak {
    pub fn start(pid: Option<u32>) -> RssPeak {
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

    pub fn finish(&self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.peak.load(Ordering::Relaxed)
    }
}

/// What `/proc/net/tcp` showed of the stalled client's connection.
#[derive(Default)]
pub struct StallWatch {
    /// Bytes on their way to it: the server socket's send queue plus its
    /// own receive queue.
    pub queued: u64,
    /// When that last grew (ms since the epoch): the last byte its
    /// connection took.
    pub last_growth_ms: Option<u64>,
    /// When the server's side of the connection left ESTABLISHED: the
    /// server shut it down.
    pub fin_at: Option<u64>,
    pub fin_state: u8,
}

impl StallWatch {
    pub fn sample(&mut self, local: u16, server_port: u16, epoch: Instant) {
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
