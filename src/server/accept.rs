//! `Server` and the accept loop: take a connection off the backlog, admit
//! it or refuse it at once, give it a thread; `ServerHandle` to stop.

use std::fmt;
use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::config::{descriptor_cap, soft_fd_limit, ServerConfig};
use super::table::{PeerKey, Refused, Table};
use crate::socket::{answer_and_close_now, Lingerer};

/// What a handler learns about the connection it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    /// Sequence number of the connection, starting at 1, unique per server.
    pub id: u64,
    /// The client's address: the local address of the client's socket.
    pub peer: SocketAddr,
    /// Our end of the connection (the listening port, on the address the
    /// client reached us on).
    pub local: SocketAddr,
}

impl fmt::Display for ConnInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} {} -> {}", self.id, self.peer, self.local)
    }
}

/// A bound, listening server that has not started accepting yet.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    config: ServerConfig,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port; see [`Server::local_addr`]).
    ///
    /// After this returns the socket is listening: clients can already
    /// connect, and the kernel queues them until the accept loop runs.
    pub fn bind(addr: impl ToSocketAddrs, config: ServerConfig) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        let local_addr = listener.local_addr()?;
        Ok(Server {
            listener,
            local_addr,
            config,
        })
    }

    /// The address actually bound, with the real port when port 0 was asked.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The connection cap this server will keep: the configured one, or
    /// less if the descriptor limit cannot carry that many connections
    /// ([`descriptor_cap`]).
    pub fn max_connections(&self) -> usize {
        descriptor_cap(
            soft_fd_limit(),
            self.config.fds_per_connection,
            self.config.max_connections,
        )
    }

    /// Starts the accept loop on its own thread and returns at once.
    ///
    /// `handler` runs on a new thread for every accepted connection, with
    /// the connected socket (timeouts and `TCP_NODELAY` already set).
    pub fn spawn<H>(mut self, handler: H) -> ServerHandle
    where
        H: Fn(TcpStream, ConnInfo) + Send + Sync + 'static,
    {
        let cap = self.max_connections();
        if cap < self.config.max_connections {
            log::info!(
                "{}: at most {cap} connections, not {}: the descriptor limit is {} and a connection holds {}; \
                 raise it before starting (ulimit -n) to serve more",
                self.config.name,
                self.config.max_connections,
                soft_fd_limit().map_or("unknown".to_string(), |n| n.to_string()),
                self.config.fds_per_connection
            );
        }
        self.config.max_connections = cap;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            live: Mutex::new(Table::default()),
            all_done: Condvar::new(),
            stats: ServerStats::default(),
            max_connections: cap,
        });
        let local_addr = self.local_addr;
        let join_timeout = self.config.join_timeout;
        let accept_shared = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name(format!("{}-accept", self.config.name))
            .spawn(move || accept_loop(self.listener, self.config, accept_shared, Arc::new(handler)))
            .expect("spawning the accept thread");
        ServerHandle {
            local_addr,
            shared,
            accept: Some(accept),
            join_timeout,
        }
    }

    /// Runs the accept loop on the calling thread, forever (until the
    /// process ends). What the examples use: they run until Ctrl-C.
    pub fn run<H>(self, handler: H)
    where
        H: Fn(TcpStream, ConnInfo) + Send + Sync + 'static,
    {
        let handle = self.spawn(handler);
        handle.wait();
    }
}

/// What the accept loop has done so far.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Connections admitted and given a thread.
    pub admitted: AtomicU64,
    /// Connections refused because the server was full.
    pub refused_full: AtomicU64,
    /// Connections refused because their address had its share.
    pub refused_peer: AtomicU64,
    /// Idle connections closed to make room for a new one.
    pub evicted_idle: AtomicU64,
    /// `accept` calls that failed (out of descriptors, memory...).
    pub accept_errors: AtomicU64,
}

/// Controls a running server: its address, how many connections it serves,
/// and shutdown. Dropping the handle shuts the server down.
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
    join_timeout: Duration,
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Number of connections being served right now.
    pub fn connections(&self) -> usize {
        self.shared.live().len()
    }

    /// The connection cap in force (see [`Server::max_connections`]).
    pub fn max_connections(&self) -> usize {
        self.shared.max_connections
    }

    /// What the accept loop has done so far.
    pub fn stats(&self) -> &ServerStats {
        &self.shared.stats
    }

    /// Blocks until the accept loop ends (it ends only through
    /// [`ServerHandle::shutdown`] from another handle holder, which never
    /// happens for the examples: they run until the process is killed).
    pub fn wait(mut self) {
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }

    /// Stops accepting, shuts down every live connection's socket (so that
    /// blocked reads return) and waits, up to the configured join timeout,
    /// for the connection threads to finish. Returns the number of threads
    /// that were still running when the wait gave up (0 is the normal case).
    pub fn shutdown(mut self) -> usize {
        self.stop_now()
    }

    fn stop_now(&mut self) -> usize {
        let Some(accept) = self.accept.take() else {
            return 0;
        };
        self.shared.stop.store(true, Ordering::SeqCst);
        // The accept thread is blocked in accept(): wake it with a connection
        // of our own. It sees the stop flag and returns.
        let _ = TcpStream::connect_timeout(&wake_addr(self.local_addr), Duration::from_secs(1));
        let _ = accept.join();

        let mut live = self.shared.live();
        live.shut_all();
        let deadline = Instant::now() + self.join_timeout;
        while !live.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                log::warn!("shutdown: {} connection thread(s) still running", live.len());
                return live.len();
            }
            live = match self.shared.all_done.wait_timeout(live, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        0
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// State shared by the accept loop, the connection threads and the handle.
#[derive(Debug)]
struct Shared {
    stop: AtomicBool,
    next_id: AtomicU64,
    /// Every live connection, with a handle of its socket so shutdown
    /// (or eviction) can unblock it.
    live: Mutex<Table>,
    all_done: Condvar,
    stats: ServerStats,
    max_connections: usize,
}

impl Shared {
    fn live(&self) -> MutexGuard<'_, Table> {
        // A panic never happens while this lock is held, but if one did the
        // table is still consistent: recover it rather than cascade the panic.
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Removes a connection from the live set when its thread ends, however it ends.
struct LiveGuard {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        let mut live = self.shared.live();
        live.release(self.id);
        if live.is_empty() {
            self.shared.all_done.notify_all();
        }
    }
}

type Handler = dyn Fn(TcpStream, ConnInfo) + Send + Sync + 'static;

fn accept_loop(listener: TcpListener, config: ServerConfig, shared: Arc<Shared>, handler: Arc<Handler>) {
    let lingerer = Lingerer::start(&format!("{}-linger", config.name));
    let mut backoff = Backoff::default();
    // One descriptor kept in reserve: when `accept` fails for want of
    // descriptors, closing it lets one more connection be accepted, and
    // refused, instead of left waiting in the backlog with no answer.
    let mut spare = File::open("/dev/null").ok();
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => {
                backoff.succeeded();
                accepted
            }
            Err(e) => {
                if shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                if let Some(pause) = accept_failed(&listener, &e, &mut spare, &mut backoff, &config, &shared) {
                    thread::sleep(pause);
                }
                continue;
            }
        };
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let local = stream.local_addr().unwrap_or(listener_addr(&listener));
        let info = ConnInfo { id, peer, local };
        let admitted = match stream.try_clone() {
            Ok(clone) => shared.live().admit(
                id,
                clone,
                PeerKey::of(peer.ip()),
                shared.max_connections,
                config.max_per_peer,
            ),
            Err(e) => {
                log::error!("{info}: try_clone failed: {e}");
                lingerer.answer_and_close(stream, &config.refusal);
                continue;
            }
        };
        let mark = match admitted {
            Ok(mark) => mark,
            Err(why) => {
                refuse(&shared, &config, &lingerer, stream, &info, why);
                continue;
            }
        };
        shared.stats.admitted.fetch_add(1, Ordering::Relaxed);
        let guard = LiveGuard {
            shared: Arc::clone(&shared),
            id,
        };
        if let Err(e) = configure(&stream, &config) {
            log::debug!("{info}: could not configure socket: {e}");
            continue;
        }
        let handler = Arc::clone(&handler);
        let spawned = thread::Builder::new()
            .name(format!("{}-{id}", config.name))
            .stack_size(config.stack_size)
            .spawn(move || {
                let _guard = guard;
                mark.install();
                log::debug!("{info}: connected");
                let outcome = panic::catch_unwind(AssertUnwindSafe(|| handler(stream, info)));
                match outcome {
                    Ok(()) => log::debug!("{info}: handler finished"),
                    Err(payload) => {
                        let what = payload
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| payload.downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "non-string panic payload".to_string());
                        log::error!("{info}: handler panicked: {what}; connection dropped, server carries on");
                    }
                }
            });
        if let Err(e) = spawned {
            // The closure (and with it the guard and the stream) was dropped:
            // the connection is closed and unregistered.
            log::error!("{info}: could not spawn a thread: {e}");
        }
    }
    log::debug!("accept loop on {} stopped", listener_addr(&listener));
}

fn listener_addr(listener: &TcpListener) -> SocketAddr {
    listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
}

/// Turns a connection away: its refusal written at once by this thread
/// (no queue to overflow, no client left without an answer), its socket
/// closed gracefully by the lingerer.
fn refuse(
    shared: &Shared,
    config: &ServerConfig,
    lingerer: &Lingerer,
    stream: TcpStream,
    info: &ConnInfo,
    why: Refused,
) {
    let (message, counter) = match why {
        Refused::Full => (&config.refusal, &shared.stats.refused_full),
        Refused::PeerFull => (&config.peer_refusal, &shared.stats.refused_peer),
    };
    let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
    // One line per refusal would let a flood fill the log: the first, then
    // one in a thousand, at info level; every one at debug.
    if n == 1 || n % 1000 == 0 {
        log::warn!(
            "{info}: refused ({}); {n} refused so far",
            match why {
                Refused::Full => format!("{} connections is the limit", shared.max_connections),
                Refused::PeerFull => format!("{} connections per address is the limit", config.max_per_peer),
            }
        );
    } else {
        log::debug!("{info}: refused ({why:?})");
    }
    lingerer.answer_and_close(stream, message);
}

/// `accept` failed. Returns how long to pause before the next try.
fn accept_failed(
    listener: &TcpListener,
    e: &io::Error,
    spare: &mut Option<File>,
    backoff: &mut Backoff,
    config: &ServerConfig,
    shared: &Shared,
) -> Option<Duration> {
    match e.kind() {
        // The peer gave up between the handshake and accept(): nothing to
        // do, take the next one.
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::Interrupted => return None,
        _ => {}
    }
    shared.stats.accept_errors.fetch_add(1, Ordering::Relaxed);
    // EMFILE (24) or ENFILE (23): out of descriptors. Use the spare one to
    // take the waiting client and tell it so, rather than leave it hanging.
    if matches!(e.raw_os_error(), Some(23 | 24)) && spare.take().is_some() {
        if let Ok((stream, _)) = listener.accept() {
            answer_and_close_now(stream, &config.refusal);
            shared.stats.refused_full.fetch_add(1, Ordering::Relaxed);
        }
        *spare = File::open("/dev/null").ok();
    }
    let (pause, report) = backoff.failed(Instant::now());
    if let Some(suppressed) = report {
        log::error!(
            "accept failed: {e}; pausing {pause:?}{}",
            if suppressed > 0 {
                format!(" ({suppressed} more failures since the last report)")
            } else {
                String::new()
            }
        );
    }
    Some(pause)
}

/// How the accept loop waits after failures (out of descriptors, out of
/// memory): a pause that doubles with each failure in a row, from 5 ms up
/// to 1 s, so a lasting shortage costs no CPU; and one log line per
/// [`Backoff::REPORT_EVERY`] at most, saying how many failures it stands for.
#[derive(Debug, Default)]
struct Backoff {
    pause: Duration,
    last_report: Option<Instant>,
    unreported: u64,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(5);
    const LONGEST: Duration = Duration::from_secs(1);
    const REPORT_EVERY: Duration = Duration::from_secs(10);

    /// A failure at `now`: the pause before the next try, and, if one is
    /// due, a report (the number of failures since the last report).
    fn failed(&mut self, now: Instant) -> (Duration, Option<u64>) {
        self.pause = (self.pause * 2).clamp(Self::FIRST, Self::LONGEST);
        let due = self
            .last_report
            .map_or(true, |at| now.duration_since(at) >= Self::REPORT_EVERY);
        let report = if due {
            self.last_report = Some(now);
            Some(std::mem::take(&mut self.unreported))
        } else {
            self.unreported += 1;
            None
        };
        (self.pause, report)
    }

    /// An accept succeeded: the next failure starts short again.
    fn succeeded(&mut self) {
        self.pause = Duration::ZERO;
    }
}

fn configure(stream: &TcpStream, config: &ServerConfig) -> io::Result<()> {
    stream.set_nodelay(config.nodelay)?;
    stream.set_read_timeout(config.read_timeout)?;
    stream.set_write_timeout(config.write_timeout)?;
    Ok(())
}

/// The address used to wake a listener bound to `addr`: the loopback
/// address of the same family when it is bound to "any".
fn wake_addr(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_failures_back_off_to_a_second_and_are_reported_once_per_ten_seconds() {
        let mut b = Backoff::default();
        let t0 = Instant::now();
        let (pause, report) = b.failed(t0);
        assert_eq!((pause, report), (Backoff::FIRST, Some(0)));
        let pauses: Vec<Duration> = (1..12).map(|i| b.failed(t0 + Duration::from_millis(i)).0).collect();
        assert_eq!(pauses[0], Backoff::FIRST * 2);
        assert_eq!(*pauses.last().unwrap(), Backoff::LONGEST, "{pauses:?}");
        // Eleven failures since the report: the next report counts them.
        assert_eq!(b.failed(t0 + Backoff::REPORT_EVERY).1, Some(11));
        b.succeeded();
        assert_eq!(b.failed(t0 + Backoff::REPORT_EVERY).0, Backoff::FIRST);
    }
}
