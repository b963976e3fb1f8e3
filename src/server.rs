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
//! 3. A thread is given that connection to own until it ends; the accept
//!    loop goes straight back to step 2.
//!
//! Starting a thread is the dearest part of a short connection: the kernel
//! creates a task, the C library hands it a stack, std maps it a signal
//! stack, and all of it is undone when the thread ends. So a thread whose
//! connection ended waits a while as a *spare* ([`ServerConfig::spare_threads`],
//! [`SPARE_WAIT`]) and the accept loop hands the next connection to a
//! waiting spare before it starts a new thread. Still one thread per
//! connection, for the connection's whole life: only the start and the end
//! are saved, as MySQL's `thread_cache_size` does. `docs/performance.md`
//! measures what that saves.
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
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

use crate::socket::answer_and_close;

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

/// Default number of spare threads: connection threads whose connection
/// ended and that wait, each for at most [`SPARE_WAIT`], to serve the next
/// one (see [`ServerConfig::spare_threads`]).
pub const DEFAULT_SPARE_THREADS: usize = 16;

/// How long a spare thread waits for a connection before it ends, so that
/// a server that was busy gives its threads back once it is quiet.
pub const SPARE_WAIT: Duration = Duration::from_secs(10);

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
    /// Threads kept, after their connection ended, to serve the next
    /// connection instead of a new thread (0: a new thread every time).
    /// Each connection still has a thread of its own for its whole life;
    /// only the thread's start and end are saved.
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

    /// Starts the accept loop on its own thread and returns at once.
    ///
    /// `handler` runs for every accepted connection on a thread of its own
    /// (a spare one, or a new one), with the connected socket (timeouts and
    /// `TCP_NODELAY` already set).
    pub fn spawn<H>(self, handler: H) -> ServerHandle
    where
        H: Fn(TcpStream, ConnInfo) + Send + Sync + 'static,
    {
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            live: Mutex::new(HashMap::new()),
            all_done: Condvar::new(),
        });
        let local_addr = self.local_addr;
        let join_timeout = self.config.join_timeout;
        let accept_shared = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name(format!("{}-accept", self.config.name))
            .spawn(move || accept_loop(self.listener, local_addr, self.config, accept_shared, Arc::new(handler)))
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
        for stream in live.values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
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
    /// A clone of every live connection's socket, so shutdown can unblock it.
    live: Mutex<HashMap<u64, TcpStream>>,
    all_done: Condvar,
}

impl Shared {
    fn live(&self) -> MutexGuard<'_, HashMap<u64, TcpStream>> {
        // A panic never happens while this lock is held, but if one did the
        // map is still consistent: recover it rather than cascade the panic.
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
        live.remove(&self.id);
        if live.is_empty() {
            self.shared.all_done.notify_all();
        }
    }
}

type Handler = dyn Fn(TcpStream, ConnInfo) + Send + Sync + 'static;

fn accept_loop(
    listener: TcpListener,
    listening: SocketAddr,
    config: ServerConfig,
    shared: Arc<Shared>,
    handler: Arc<Handler>,
) {
    let refuser = Refuser::start(&config);
    // No capacity: a connection is handed over only to a spare thread that
    // is waiting for it right now. Dropped when the loop ends, which wakes
    // every spare thread to end.
    let (spare_tx, spare_rx) = bounded::<Job>(0);
    let waiting = Arc::new(AtomicUsize::new(0));
    let mut threads = 0u64;
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) => {
                if shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                match e.kind() {
                    // The peer gave up between the handshake and accept():
                    // nothing to do, take the next one.
                    io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::Interrupted => {}
                    // Out of file descriptors or memory: back off instead of spinning.
                    _ => {
                        log::error!("accept failed: {e}; pausing 100 ms");
                        thread::sleep(Duration::from_millis(100));
                    }
                }
                continue;
            }
        };
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        // A listener bound to one address accepts on that address: only one
        // bound to "any" has to ask the kernel which address was reached.
        let local = if listening.ip().is_unspecified() {
            stream.local_addr().unwrap_or(listening)
        } else {
            listening
        };
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let info = ConnInfo { id, peer, local };

        if let Err(e) = configure(&stream, &config) {
            log::debug!("{info}: could not configure socket: {e}");
            continue;
        }
        let registered = match stream.try_clone() {
            Ok(clone) => {
                let mut live = shared.live();
                if live.len() >= config.max_connections {
                    false
                } else {
                    live.insert(id, clone);
                    true
                }
            }
            Err(e) => {
                log::error!("{info}: try_clone failed: {e}");
                continue;
            }
        };
        if !registered {
            log::warn!("{info}: refused, {} connections is the limit", config.max_connections);
            refuser.refuse(stream);
            continue;
        }

        let job = Job {
            stream,
            info,
            _guard: LiveGuard {
                shared: Arc::clone(&shared),
                id,
            },
        };
        // A spare thread, if one is waiting, takes the connection at once.
        let job = match spare_tx.try_send(job) {
            Ok(()) => continue,
            Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => job,
        };
        threads += 1;
        let handler = Arc::clone(&handler);
        let spares = Spares {
            rx: spare_rx.clone(),
            waiting: Arc::clone(&waiting),
            max: config.spare_threads,
        };
        let spawned = thread::Builder::new()
            .name(format!("{}-{threads}", config.name))
            .stack_size(config.stack_size)
            .spawn(move || connection_thread(job, &*handler, &spares));
        if let Err(e) = spawned {
            // The closure (and with it the job: the guard and the stream)
            // was dropped: the connection is closed and unregistered.
            log::error!("{info}: could not spawn a thread: {e}");
        }
    }
    log::debug!(
        "accept loop on {} stopped",
        listener.local_addr().map(|a| a.to_string()).unwrap_or_default()
    );
}

/// A connection waiting for a thread: the socket, what the handler learns
/// about it, and its place in the live set, left when the job is dropped.
struct Job {
    stream: TcpStream,
    info: ConnInfo,
    _guard: LiveGuard,
}

/// Where a thread whose connection ended waits for the next one.
struct Spares {
    rx: Receiver<Job>,
    waiting: Arc<AtomicUsize>,
    max: usize,
}

impl Spares {
    /// The next connection for this thread: `None` when enough threads are
    /// waiting already, when none came within [`SPARE_WAIT`], or when the
    /// server stopped. Then the thread ends.
    fn wait(&self) -> Option<Job> {
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        let next = self.rx.recv_timeout(SPARE_WAIT).ok();
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        next
    }
}

/// A connection thread: serves its connection, then, as a spare, the next
/// ones it is handed, one at a time.
fn connection_thread(mut job: Job, handler: &Handler, spares: &Spares) {
    while serve(job, handler) {
        match spares.wait() {
            Some(next) => job = next,
            None => return,
        }
    }
}

/// Runs the handler on one connection; false if it panicked (the thread
/// then ends rather than serve again after a failure it did not expect).
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

/// Sends the refusal to connections over the cap, on one thread of its own,
/// so that a slow refused peer cannot stall the accept loop.
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
        match self.tx.try_send(stream) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                log::debug!("refusal queue full: closing without a message");
            }
        }
    }
}
