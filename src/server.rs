//! The shared accept loop: one thread per TCP connection.
//!
//! Every server in wirelab (the TCP echo, the HTTP server, the WebSocket echo,
//! the chat) is this loop with a different handler. The loop is the smallest
//! honest shape of a blocking network server:
//!
//! 1. `bind` + `listen` (done by [`TcpListener::bind`]). From this moment the
//!    *kernel* completes TCP three-way handshakes on our behalf and queues the
//!    finished connections in the listen backlog, whether or not we call
//!    `accept` (see `tests/transport.rs`).
//! 2. `accept` takes one finished connection off that queue.
//! 3. The thread that accepted it serves it, for the connection's whole
//!    life, having first started another thread if none is left waiting in
//!    `accept`, so the next connection never waits for this one.
//! 4. When the connection ends, its thread goes back to step 2 beside the
//!    others (the kernel hands each new connection to one of them), or ends
//!    if [`ServerConfig::spare_threads`] threads are waiting already.
//!
//! So every connection has a thread of its own, yet a thread is started only
//! when all are busy: starting one (a kernel task, a stack, std's signal
//! stack, all undone at the end) costs more than a WebSocket handshake. And
//! no connection is handed between threads, which would cost a wake-up: the
//! kernel's accept queue is the only queue. This is the "leader/followers"
//! pattern; Apache's prefork processes take turns at `accept` the same way.
//! `docs/performance.md` measures what it saves.
//!
//! Around that core sit the things a server facing the open network needs:
//! a cap on concurrent connections (the one over the cap gets a clear
//! refusal, not a hang), read and write timeouts, a small configurable thread
//! stack so that thousands of mostly idle connections fit in memory,
//! `TCP_NODELAY` so small messages are not held back by Nagle's algorithm, a
//! panic in one connection's thread that is logged and contained, and a
//! [`ServerHandle`] that stops accepting and joins the connection threads.
//!
//! Mirrors the notes' description of sockets as the API between the
//! application and TCP ("HTTP、TCP与UDP、Socket与Websocket之间的联系与区别",
//! "http-socket-websocket").
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use wirelab::server::{Server, ServerConfig};
//!
//! // An echo server: each connection gets its own thread running this closure.
//! let server = Server::bind("127.0.0.1:0", ServerConfig::default()).unwrap();
//! println!("listening on {}", server.local_addr());
//! let handle = server.spawn(|mut stream, _conn| {
//!     let mut buf = [0u8; 4096];
//!     while let Ok(n) = stream.read(&mut buf) {
//!         if n == 0 || stream.write_all(&buf[..n]).is_err() {
//!             break;
//!         }
//!     }
//! });
//! handle.shutdown();
//! ```

use std::collections::HashMap;
use std::fmt;
use std::io::{self, ErrorKind};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Sender};

use crate::socket::{answer_and_close, time_left};

/// Default cap on concurrent connections.
///
/// Each connection costs one thread; with [`DEFAULT_STACK_SIZE`] the cap
/// corresponds to roughly 1 GiB of *reserved* (mostly untouched) stack.
pub const DEFAULT_MAX_CONNECTIONS: usize = 8192;

/// Default stack size of a connection thread: 128 KiB.
///
/// Rust's default is 2 MiB. The handlers in this crate keep their buffers on
/// the heap and recurse nowhere, so 128 KiB is plenty and lets thousands of
/// idle WebSocket connections live side by side.
pub const DEFAULT_STACK_SIZE: usize = 128 * 1024;

/// Default number of threads whose connection ended that wait in `accept`
/// for the next one (see [`ServerConfig::spare_threads`]).
pub const DEFAULT_SPARE_THREADS: usize = 16;

/// Default read and write timeout put on every accepted socket.
///
/// A handler can change it (a WebSocket connection that expects long silences
/// does, after the handshake); it exists so that a peer that connects and
/// never sends cannot pin a thread forever.
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(30);

/// How long [`ServerHandle::shutdown`] waits for connection threads to finish
/// after their sockets have been shut down.
pub const DEFAULT_JOIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The refusal sent to a connection over the cap, unless configured otherwise:
/// an HTTP response, because every protocol a browser speaks to us starts with
/// an HTTP request, and a human reading it with `nc` understands it too.
pub const DEFAULT_REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Length: 43\r\n\
Retry-After: 1\r\n\
Connection: close\r\n\
\r\n\
server at its connection limit, try again\r\n";

/// Settings of a [`Server`]. Every field has a sensible default.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Connections served at once; the one over the cap receives
    /// [`ServerConfig::refusal`] and is closed.
    pub max_connections: usize,
    /// Stack size of each connection thread, in bytes.
    pub stack_size: usize,
    /// Threads kept waiting in `accept` after their connection ended,
    /// beside the one that always waits (0: a new thread for every
    /// connection). They end when the server shuts down.
    pub spare_threads: usize,
    /// Read timeout set on each accepted socket (`None`: block forever).
    pub read_timeout: Option<Duration>,
    /// Write timeout set on each accepted socket (`None`: block forever).
    pub write_timeout: Option<Duration>,
    /// Disable Nagle's algorithm on accepted sockets (`TCP_NODELAY`).
    pub nodelay: bool,
    /// Bytes written to a connection refused because of the cap.
    pub refusal: Vec<u8>,
    /// Prefix of connection thread names: `"{name}-{n}"`, counting threads
    /// (a spare thread serves several connections in turn).
    pub name: String,
    /// How long [`ServerHandle::shutdown`] waits for connection threads.
    pub join_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            stack_size: DEFAULT_STACK_SIZE,
            spare_threads: DEFAULT_SPARE_THREADS,
            read_timeout: Some(DEFAULT_IO_TIMEOUT),
            write_timeout: Some(DEFAULT_IO_TIMEOUT),
            nodelay: true,
            refusal: DEFAULT_REFUSAL.to_vec(),
            name: "conn".to_string(),
            join_timeout: DEFAULT_JOIN_TIMEOUT,
        }
    }
}

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

    /// Starts accepting, on a thread of its own, and returns at once.
    ///
    /// `handler` runs for every accepted connection on the thread that
    /// accepted it, with the connected socket (timeouts and `TCP_NODELAY`
    /// already set).
    pub fn spawn<H>(self, handler: H) -> ServerHandle
    where
        H: Fn(TcpStream, ConnInfo) + Send + Sync + 'static,
    {
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            live: Mutex::new(HashMap::new()),
            turns: Mutex::new(Turns::default()),
            thread_ended: Condvar::new(),
        });
        let local_addr = self.local_addr;
        let join_timeout = self.config.join_timeout;
        let acceptor = Arc::new(Acceptor {
            refuser: Refuser::start(&self.config),
            listener: self.listener,
            listening: local_addr,
            config: self.config,
            shared: Arc::clone(&shared),
            handler: Box::new(handler),
            started: AtomicU64::new(0),
        });
        start_thread(&acceptor).expect("starting the first thread");
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
        H: Fn(TcpStream, ConnInfo) + Send + Sync + 'static,
    {
        let handle = self.spawn(handler);
        handle.wait();
    }
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

    /// Blocks until every thread of the server has ended (for the examples: never).
    pub fn wait(self) {
        let mut turns = self.shared.turns();
        while turns.threads > 0 {
            turns = self.shared.wait_thread_end(turns, Duration::from_secs(3600));
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
        if self.shared.stop.swap(true, Ordering::SeqCst) {
            return 0;
        }
        for stream in self.shared.live().values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let deadline = Instant::now() + self.join_timeout;
        let mut turns = self.shared.turns();
        // A busy thread ends with its connection, one in accept() when a
        // connection comes; the last one out closes the listener.
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
struct Shared {
    stop: AtomicBool,
    next_id: AtomicU64,
    /// A clone of every live connection's socket, so shutdown can unblock it.
    live: Mutex<HashMap<u64, TcpStream>>,
    turns: Mutex<Turns>,
    thread_ended: Condvar,
}

/// The server's threads, and how many of them wait in accept() right now.
#[derive(Debug, Default)]
struct Turns {
    threads: usize,
    waiting: usize,
}

impl Shared {
    fn live(&self) -> MutexGuard<'_, HashMap<u64, TcpStream>> {
        // A panic never happens while this lock is held, but if one did the
        // map is still consistent: recover it rather than cascade the panic.
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn turns(&self) -> MutexGuard<'_, Turns> {
        self.turns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits, at most `timeout`, for a thread to end.
    fn wait_thread_end<'a>(&self, turns: MutexGuard<'a, Turns>, timeout: Duration) -> MutexGuard<'a, Turns> {
        match self.thread_ended.wait_timeout(turns, timeout) {
            Ok((turns, _)) => turns,
            Err(poisoned) => poisoned.into_inner().0,
        }
    }
}

/// Counts a thread out when it ends, however it ends.
struct ThreadGuard(Arc<Shared>);

impl Drop for ThreadGuard {
    fn drop(&mut self) {
        self.0.turns().threads -= 1;
        self.0.thread_ended.notify_all();
    }
}

/// Removes a connection from the live set when its thread ends, however it ends.
struct LiveGuard {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.shared.live().remove(&self.id);
    }
}

type Handler = dyn Fn(TcpStream, ConnInfo) + Send + Sync + 'static;

/// What a server's threads share: the listener, the settings, the handler.
struct Acceptor {
    listener: TcpListener,
    listening: SocketAddr,
    config: ServerConfig,
    shared: Arc<Shared>,
    handler: Box<Handler>,
    refuser: Refuser,
    /// Threads started so far, for their names.
    started: AtomicU64,
}

/// Starts a thread, counted as waiting in accept(): its first move.
fn start_thread(acceptor: &Arc<Acceptor>) -> io::Result<()> {
    let n = acceptor.started.fetch_add(1, Ordering::Relaxed) + 1;
    {
        let mut turns = acceptor.shared.turns();
        turns.threads += 1;
        turns.waiting += 1;
    }
    let counted = ThreadGuard(Arc::clone(&acceptor.shared));
    let for_thread = Arc::clone(acceptor);
    let spawned = thread::Builder::new()
        .name(format!("{}-{n}", acceptor.config.name))
        .stack_size(acceptor.config.stack_size)
        .spawn(move || {
            let _counted = counted;
            // Dropped before the guard: the last thread out closes the listener.
            let acceptor = for_thread;
            acceptor.take_turns();
        });
    if let Err(e) = spawned {
        // The closure, and with it the guard, was dropped: counted out.
        acceptor.shared.turns().waiting -= 1;
        return Err(e);
    }
    Ok(())
}

impl Acceptor {
    /// A thread's life: accept, serve, again; until enough threads wait in
    /// accept() already, the server stops, or a handler panicked.
    fn take_turns(self: &Arc<Self>) {
        while let Some(job) = self.next_connection() {
            if !serve(job, &*self.handler) || !self.back_to_accept() {
                return;
            }
        }
    }

    /// Counts this thread as waiting in accept() again; false when it
    /// should end instead: the server stops, or enough threads wait.
    fn back_to_accept(&self) -> bool {
        let mut turns = self.shared.turns();
        if self.shared.stop.load(Ordering::SeqCst) || turns.waiting > self.config.spare_threads {
            return false;
        }
        turns.waiting += 1;
        true
    }

    /// The next connection, from accept(); `None`: end this thread instead.
    fn next_connection(self: &Arc<Self>) -> Option<Job> {
        loop {
            let accepted = self.listener.accept();
            let alone = {
                let mut turns = self.shared.turns();
                turns.waiting -= 1;
                turns.waiting == 0
            };
            if self.shared.stop.load(Ordering::SeqCst) {
                return None;
            }
            match accepted {
                Ok((stream, peer)) => {
                    if alone {
                        // While this thread serves, another must wait in
                        // accept() for the next connection.
                        if let Err(e) = start_thread(self) {
                            log::error!("could not start a thread: {e}; the next connection waits for this one");
                        }
                    }
                    if let Some(job) = self.admit(stream, peer) {
                        return Some(job);
                    }
                }
                Err(e) => match e.kind() {
                    // The peer gave up between the handshake and accept():
                    // nothing to do, take the next one.
                    ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::Interrupted => {}
                    // Out of file descriptors or memory: back off, not spin.
                    _ => {
                        log::error!("accept failed: {e}; pausing 100 ms");
                        thread::sleep(Duration::from_millis(100));
                    }
                },
            }
            if !self.back_to_accept() {
                return None;
            }
        }
    }

    /// Gives an accepted connection its id, its socket options and its place
    /// in the live set, or refuses it when the server is at its cap.
    fn admit(&self, stream: TcpStream, peer: SocketAddr) -> Option<Job> {
        // A listener bound to one address accepts on that address: only one
        // bound to "any" has to ask the kernel which address was reached.
        let local = if self.listening.ip().is_unspecified() {
            stream.local_addr().unwrap_or(self.listening)
        } else {
            self.listening
        };
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let info = ConnInfo { id, peer, local };
        let c = &self.config;
        let clone = match (stream.set_nodelay(c.nodelay))
            .and_then(|()| stream.set_read_timeout(c.read_timeout))
            .and_then(|()| stream.set_write_timeout(c.write_timeout))
            .and_then(|()| stream.try_clone())
        {
            Ok(clone) => clone,
            Err(e) => {
                log::debug!("{info}: could not set the socket up: {e}");
                return None;
            }
        };
        let mut live = self.shared.live();
        // Under the lock shutdown closes live sockets with: closed, or not served.
        if self.shared.stop.load(Ordering::SeqCst) {
            return None;
        }
        if live.len() >= self.config.max_connections {
            drop(live);
            log::warn!(
                "{info}: refused, {} connections is the limit",
                self.config.max_connections
            );
            self.refuser.refuse(stream);
            return None;
        }
        live.insert(id, clone);
        let shared = Arc::clone(&self.shared);
        Some(Job {
            stream,
            info,
            _guard: LiveGuard { shared, id },
        })
    }
}

/// An admitted connection: its socket, its info, its place in the live set.
struct Job {
    stream: TcpStream,
    info: ConnInfo,
    _guard: LiveGuard,
}

/// Runs the handler on one connection; false if it panicked: the thread then ends.
fn serve(job: Job, handler: &Handler) -> bool {
    let Job { stream, info, _guard } = job;
    log::debug!("{info}: connected");
    match panic::catch_unwind(AssertUnwindSafe(|| handler(stream, info))) {
        Ok(()) => {
            log::debug!("{info}: handler finished");
            true
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_string());
            log::error!("{info}: handler panicked: {what}; connection dropped, server carries on");
            false
        }
    }
}

/// Where to connect to wake a listener bound to `addr` (loopback for "any").
fn wake_addr(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// Sends the refusal to connections over the cap, on one thread of its own,
/// so that slow refused peers hold no thread that should be accepting.
struct Refuser {
    tx: Sender<TcpStream>,
}

impl Refuser {
    /// At most this many refusals wait; past that, a refused socket is just closed.
    const QUEUE: usize = 64;

    fn start(config: &ServerConfig) -> Refuser {
        let (tx, rx) = bounded::<TcpStream>(Self::QUEUE);
        let message = config.refusal.clone();
        let spawned = thread::Builder::new()
            .name(format!("{}-refuse", config.name))
            .stack_size(DEFAULT_STACK_SIZE)
            .spawn(move || {
                for stream in rx {
                    // FIN first, then drain: the refusal is not lost to a reset.
                    let _ = answer_and_close(&stream, &message);
                }
            });
        if let Err(e) = spawned {
            log::error!("could not start the refusal thread: {e}");
        }
        Refuser { tx }
    }

    fn refuse(&self, stream: TcpStream) {
        if self.tx.try_send(stream).is_err() {
            log::debug!("refusal queue full: closing without a message");
        }
    }
}
