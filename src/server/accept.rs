//! `Server` and `ServerHandle`: bind, start the threads that take turns
//! at `accept` (`turns.rs`), count what they do, and stop them.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::config::{hard_fd_limit, soft_fd_limit, ServerConfig};
use super::table::Table;
use super::turns::{start_thread, Acceptor, Turns};
use crate::socket::time_left;

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
    /// connect, and the kernel queues them until a thread calls `accept`.
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
    /// beside the threads waiting in `accept`
    /// ([`ServerConfig::connection_cap`]).
    pub fn max_connections(&self) -> usize {
        self.config.connection_cap(soft_fd_limit())
    }

    /// Starts the first thread, which waits in `accept`, and returns at once.
    ///
    /// `handler` runs for every admitted connection, on the thread that
    /// accepted it, with the connected socket (timeouts and `TCP_NODELAY`
    /// already set); another thread is waiting in `accept` by then.
    ///
    /// The socket comes as an `Arc<TcpStream>`: the server's table keeps a
    /// share of the same socket to shut it down when the server stops (one
    /// descriptor for both, see [`super::table`]). Read and write it
    /// through a reference (`let mut s = &*stream;` then `s.read(..)`,
    /// `s.write_all(..)`: std implements both for `&TcpStream`), clone the
    /// `Arc` to give it to another thread, and pass it as it is to
    /// [`crate::websocket::accept`]. It closes when the last holder drops
    /// it; to end the connection sooner, `shutdown` it.
    pub fn spawn<H>(mut self, handler: H) -> ServerHandle
    where
        H: Fn(Arc<TcpStream>, ConnInfo) + Send + Sync + 'static,
    {
        let limit = soft_fd_limit();
        let cap = self.config.connection_cap(limit);
        if let Some(why) = self.config.cap_note(limit, hard_fd_limit()) {
            log::info!("{why}");
        }
        self.config.max_connections = cap;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            live: Mutex::new(Table::default()),
            turns: Mutex::new(Turns::default()),
            thread_ended: Condvar::new(),
            stats: ServerStats::default(),
            max_connections: cap,
        });
        let local_addr = self.local_addr;
        let join_timeout = self.config.join_timeout;
        let acceptor = Arc::new(Acceptor::new(
            self.listener,
            self.config,
            Arc::clone(&shared),
            Box::new(handler),
        ));
        start_thread(&acceptor, false).expect("starting the first thread");
        ServerHandle {
            local_addr,
            shared,
            join_timeout,
        }
    }

    /// Starts the server and blocks, forever (until the process ends). What
    /// the examples use: they run until Ctrl-C.
    pub fn run<H>(self, handler: H)
    where
        H: Fn(Arc<TcpStream>, ConnInfo) + Send + Sync + 'static,
    {
        let handle = self.spawn(handler);
        handle.wait();
    }
}

/// What the server's threads have done so far.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Connections admitted and served.
    pub admitted: AtomicU64,
    /// Connections refused because the server was full (or could not
    /// start the thread that would have waited in `accept` meanwhile).
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

    /// What the server's threads have done so far.
    pub fn stats(&self) -> &ServerStats {
        &self.shared.stats
    }

    /// Blocks until every thread of the server has ended (they end only
    /// through [`ServerHandle::shutdown`] from another handle holder, which
    /// never happens for the examples: they run until the process is killed).
    pub fn wait(self) {
        let mut turns = self.shared.turns();
        while turns.threads > 0 {
            turns = self.shared.wait_thread_end(turns, Duration::from_secs(3600));
        }
    }

    /// Stops accepting, shuts down every live connection's socket (so that
    /// blocked reads return), wakes the threads waiting in `accept`, and
    /// waits, up to the configured join timeout, for every thread to end.
    /// Returns the number of threads still running when the wait gave up
    /// (0 is the normal case).
    pub fn shutdown(mut self) -> usize {
        self.stop_now()
    }

    fn stop_now(&mut self) -> usize {
        if self.shared.stop.swap(true, Ordering::SeqCst) {
            return 0;
        }
        // Under the lock a thread admits with: every connection is either
        // shut down here or never served (the thread sees the flag).
        self.shared.live().shut_all();
        let deadline = Instant::now() + self.join_timeout;
        let mut turns = self.shared.turns();
        // A busy thread ends with its connection, one in accept() when a
        // connection comes: ours. The last one out closes the listener.
        while turns.threads > 0 {
            let Some(left) = time_left(deadline) else {
                log::warn!("shutdown: {} thread(s) still running", turns.threads);
                return turns.threads;
            };
            let waiting = turns.waiting;
            drop(turns);
            for _ in 0..waiting {
                let _ = TcpStream::connect_timeout(&wake_addr(self.local_addr), Duration::from_secs(1));
            }
            turns = self
                .shared
                .wait_thread_end(self.shared.turns(), left.min(Duration::from_millis(100)));
        }
        0
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// State shared by the server's threads and the handle.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) stop: AtomicBool,
    pub(super) next_id: AtomicU64,
    /// Every live connection, with a share of its socket so shutdown
    /// (or eviction) can unblock it.
    live: Mutex<Table>,
    turns: Mutex<Turns>,
    thread_ended: Condvar,
    pub(super) stats: ServerStats,
    pub(super) max_connections: usize,
}

impl Shared {
    pub(super) fn live(&self) -> MutexGuard<'_, Table> {
        // A panic never happens while this lock is held, but if one did the
        // table is still consistent: recover it rather than cascade the panic.
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn turns(&self) -> MutexGuard<'_, Turns> {
        self.turns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A thread has ended: wakes whoever waits for that (shutdown, wait).
    pub(super) fn thread_ended(&self) {
        self.turns().threads -= 1;
        self.thread_ended.notify_all();
    }

    /// Waits, at most `timeout`, for a thread to end.
    fn wait_thread_end<'a>(&self, turns: MutexGuard<'a, Turns>, timeout: Duration) -> MutexGuard<'a, Turns> {
        match self.thread_ended.wait_timeout(turns, timeout) {
            Ok((turns, _)) => turns,
            Err(poisoned) => poisoned.into_inner().0,
        }
    }
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
