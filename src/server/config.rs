//! What a server promises about its connections: how many at once, how
//! many from one address, what the one turned away is told, and the cap
//! that the descriptor limit allows.

use std::time::Duration;

/// Default cap on concurrent connections, before the descriptor limit
/// lowers it (see [`descriptor_cap`]).
///
/// Each connection costs one thread; with [`DEFAULT_STACK_SIZE`] the cap
/// corresponds to roughly 1 GiB of *reserved* (mostly untouched) stack.
pub const DEFAULT_MAX_CONNECTIONS: usize = 8192;

/// Default cap on concurrent connections from one address: none. A load
/// generator, a test, a class behind one NAT address all open many
/// connections from one address. A server facing strangers sets one
/// ([`ServerConfig::max_per_peer`]; the applications' budgets in
/// `crate::limits` do).
pub const DEFAULT_MAX_PER_PEER: usize = usize::MAX;

/// Descriptors one connection holds, by default: one, its socket. The
/// server's table, the HTTP loop, a WebSocket's two halves and a handler
/// given the request (a long poll) all share that socket through an
/// `Arc<TcpStream>`; none holds a copy (`try_clone`, a second descriptor).
/// Measured over 100 connections of each server in this crate: 1.0. A
/// handler that dups the socket itself counts one more per copy.
pub const DEFAULT_FDS_PER_CONNECTION: usize = 1;

/// Descriptors kept out of the connection budget: standard streams, the
/// listener, files and `/dev/urandom` opened now and then, the spare
/// descriptor kept for emergencies, and refused connections being closed
/// ([`crate::socket::LINGER_SLOTS`]). Not counted here: the threads
/// waiting in `accept`, one descriptor each (see [`ServerConfig::connection_cap`]).
pub const RESERVED_FDS: usize = 32 + crate::socket::LINGER_SLOTS;

/// What is assumed where `/proc/self/limits` cannot be read (not Linux, or
/// `/proc` not mounted): 1,024, the usual default soft limit on Linux and
/// the BSDs (macOS defaults to 256: lower `max_connections` there).
pub const FALLBACK_FD_LIMIT: u64 = 1024;

/// Default number of threads whose connection ended that wait in `accept`
/// for the next one, beside the one that always waits (see
/// [`ServerConfig::spare_threads`]).
pub const DEFAULT_SPARE_THREADS: usize = 16;

/// Default stack size of a connection thread: 128 KiB.
///
/// Rust's default is 2 MiB. The handlers in this crate keep their buffers on
/// the heap and recurse nowhere, so 128 KiB is plenty and lets thousands of
/// idle WebSocket connections live side by side.
pub const DEFAULT_STACK_SIZE: usize = 128 * 1024;

/// Default read and write timeout put on every accepted socket.
///
/// A handler can change it (a WebSocket connection that expects long silences
/// does, after the handshake); it exists so that a peer that connects and
/// never sends cannot pin a thread forever.
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(30);

/// How long [`super::ServerHandle::shutdown`] waits for connection threads
/// to finish after their sockets have been shut down.
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

/// The refusal sent to a connection from an address that already has
/// [`ServerConfig::max_per_peer`] connections.
pub const DEFAULT_PEER_REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Length: 48\r\n\
Retry-After: 1\r\n\
Connection: close\r\n\
\r\n\
too many connections from your address, try again\r\n";

/// Settings of a [`super::Server`]. Every field has a sensible default.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Connections served at once; the one over the cap receives
    /// [`ServerConfig::refusal`] and is closed. Lowered at start-up to
    /// what the descriptor limit allows ([`descriptor_cap`]).
    pub max_connections: usize,
    /// Connections served at once from one address (an IPv4 address, or
    /// an IPv6 /64, the block a single host is usually given); the one
    /// over receives [`ServerConfig::peer_refusal`]. Without such a limit
    /// one machine can take every slot.
    pub max_per_peer: usize,
    /// Descriptors each connection holds; with the descriptor limit it
    /// decides the true cap.
    pub fds_per_connection: usize,
    /// Stack size of each connection thread, in bytes.
    pub stack_size: usize,
    /// Threads kept waiting in `accept` after their connection ended,
    /// beside the one that always waits (0: a new thread for every
    /// connection). They end when the server shuts down. Each keeps its
    /// stack, and holds a descriptor while it waits: the kernel reserves
    /// the new connection's descriptor before `accept` sleeps.
    pub spare_threads: usize,
    /// Read timeout set on each accepted socket (`None`: block forever).
    pub read_timeout: Option<Duration>,
    /// Write timeout set on each accepted socket (`None`: block forever).
    pub write_timeout: Option<Duration>,
    /// Disable Nagle's algorithm on accepted sockets (`TCP_NODELAY`).
    pub nodelay: bool,
    /// Bytes written to a connection refused because of the cap.
    pub refusal: Vec<u8>,
    /// Bytes written to a connection refused because its address has too
    /// many connections.
    pub peer_refusal: Vec<u8>,
    /// Prefix of connection thread names: `"{name}-{n}"`, counting threads
    /// (a thread serves several connections in turn).
    pub name: String,
    /// How long [`super::ServerHandle::shutdown`] waits for connection threads.
    pub join_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_per_peer: DEFAULT_MAX_PER_PEER,
            fds_per_connection: DEFAULT_FDS_PER_CONNECTION,
            stack_size: DEFAULT_STACK_SIZE,
            spare_threads: DEFAULT_SPARE_THREADS,
            read_timeout: Some(DEFAULT_IO_TIMEOUT),
            write_timeout: Some(DEFAULT_IO_TIMEOUT),
            nodelay: true,
            refusal: DEFAULT_REFUSAL.to_vec(),
            peer_refusal: DEFAULT_PEER_REFUSAL.to_vec(),
            name: "conn".to_string(),
            join_timeout: DEFAULT_JOIN_TIMEOUT,
        }
    }
}

impl ServerConfig {
    /// Threads that may wait in `accept` at once: the spare ones and the
    /// one that always waits. Each holds a descriptor while it waits.
    pub fn accept_threads(&self) -> usize {
        self.spare_threads.saturating_add(1)
    }

    /// The connection cap this configuration keeps under a soft limit of
    /// `soft_limit` descriptors ([`FALLBACK_FD_LIMIT`] if unknown): what
    /// [`descriptor_cap`] allows once the threads waiting in `accept` have
    /// their descriptors, at most [`ServerConfig::max_connections`].
    pub fn connection_cap(&self, soft_limit: Option<u64>) -> usize {
        let limit = soft_limit.unwrap_or(FALLBACK_FD_LIMIT);
        let for_connections = limit.saturating_sub(self.accept_threads() as u64);
        descriptor_cap(Some(for_connections), self.fds_per_connection, self.max_connections)
    }

    /// Why the cap in force is below [`ServerConfig::max_connections`],
    /// in a sentence for the log (`None` when it is not): the descriptor
    /// limit, what each connection and the rest of the server hold of it,
    /// and how to raise it, up to `hard_limit` (the most `ulimit -n` may
    /// set without privileges; `None` if unknown or unlimited).
    pub fn cap_note(&self, soft_limit: Option<u64>, hard_limit: Option<u64>) -> Option<String> {
        let cap = self.connection_cap(soft_limit);
        if cap >= self.max_connections {
            return None;
        }
        let limit = match soft_limit {
            Some(n) => format!("{n}"),
            None => format!("unknown ({FALLBACK_FD_LIMIT} assumed)"),
        };
        // What `ulimit -n` may be raised to: the hard limit, if it is
        // above the soft one (only root can raise the hard limit).
        let raise = match (soft_limit, hard_limit) {
            (Some(soft), Some(hard)) if hard <= soft => {
                format!("the hard limit is {hard} too, so only root can raise it (or lower max_connections)")
            }
            (_, Some(hard)) => format!(
                "to serve more, raise it in the shell that starts the server, up to the hard limit: ulimit -n {hard}"
            ),
            (_, None) => "to serve more, raise it in the shell that starts the server: ulimit -n 65536".to_string(),
        };
        Some(format!(
            "{}: at most {cap} connections, not {}: the open-file limit (ulimit -n) is {limit} descriptors; \
             each connection holds {} of them, the {} threads that may wait in accept one each, \
             and {RESERVED_FDS} are kept for the listener and for closing refused clients; {raise}",
            self.name,
            self.max_connections,
            self.fds_per_connection,
            self.accept_threads(),
        ))
    }
}

/// The soft and hard limits on open files from the text of
/// `/proc/self/limits` (`None` for "unlimited"):
///
/// ```text
/// Limit                     Soft Limit           Hard Limit           Units
/// Max open files            1024                 524288               files
/// ```
pub fn parse_open_files(limits: &str) -> Option<(Option<u64>, Option<u64>)> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut fields = line["Max open files".len()..].split_whitespace();
    let mut value = || match fields.next()? {
        "unlimited" => Some(None),
        n => n.parse().ok().map(Some),
    };
    Some((value()?, value()?))
}

/// This process's soft limit on open descriptors (`RLIMIT_NOFILE`), read
/// from `/proc/self/limits`; `None` if it cannot be read.
///
/// The soft limit is what `accept` runs into (`EMFILE`). Raising it up to
/// the hard limit takes the `setrlimit` system call, which std does not
/// offer (it would take `libc` and `unsafe`): raise it before starting
/// the server instead, with `ulimit -n 65536` in the shell.
pub fn soft_fd_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let (soft, _) = parse_open_files(&text)?;
    Some(soft.unwrap_or(u64::MAX))
}

/// This process's hard limit on open descriptors, the most the soft one
/// may be raised to without privileges; `None` if it cannot be read or is
/// unlimited.
pub fn hard_fd_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_files(&text)?.1
}

/// The connection cap the descriptor limit allows: with `soft_limit`
/// descriptors (or [`FALLBACK_FD_LIMIT`] if unknown), [`RESERVED_FDS`] kept
/// aside and `per_connection` held by each connection, at most
/// `wanted`, and at least 1.
///
/// Without this, a server whose cap is above what the descriptors allow
/// never reaches its cap: `accept` fails with `EMFILE` first, and the
/// clients past that point wait in the listen backlog with no answer at
/// all.
pub fn descriptor_cap(soft_limit: Option<u64>, per_connection: usize, wanted: usize) -> usize {
    let limit = soft_limit.unwrap_or(FALLBACK_FD_LIMIT);
    let usable = limit.saturating_sub(RESERVED_FDS as u64) / per_connection.max(1) as u64;
    usize::try_from(usable).unwrap_or(usize::MAX).clamp(1, wanted.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: &str = "Limit                     Soft Limit           Hard Limit           Units     \n\
Max cpu time              unlimited            unlimited            seconds   \n\
Max open files            1024                 524288               files     \n\
Max locked memory         8388608              8388608              bytes     \n";

    #[test]
    fn the_open_files_limit_is_read_from_proc_self_limits() {
        assert_eq!(parse_open_files(LIMITS), Some((Some(1024), Some(524_288))));
        let unlimited = LIMITS.replace("1024                 524288", "unlimited unlimited");
        assert_eq!(parse_open_files(&unlimited), Some((None, None)));
        assert_eq!(parse_open_files("Max cpu time 1 2 seconds\n"), None);
        // On Linux the real file has the line.
        if cfg!(target_os = "linux") {
            assert!(soft_fd_limit().is_some_and(|n| n >= 64));
        }
    }

    #[test]
    fn the_cap_is_what_the_descriptors_allow_never_more_than_asked() {
        // 1,024 descriptors, 5 per connection (a chat WebSocket, once): 8,192
        // cannot be reached.
        let reserved = RESERVED_FDS;
        assert_eq!(descriptor_cap(Some(1024), 5, 8192), (1024 - reserved) / 5);
        assert_eq!(descriptor_cap(Some(1024), 2, 8192), (1024 - reserved) / 2);
        assert_eq!(descriptor_cap(Some(1 << 20), 5, 8192), 8192);
        assert_eq!(
            descriptor_cap(None, 5, 8192),
            descriptor_cap(Some(FALLBACK_FD_LIMIT), 5, 8192)
        );
        assert_eq!(descriptor_cap(Some(10), 5, 8192), 1, "never zero");
        assert_eq!(descriptor_cap(Some(u64::MAX), 1, 1 << 40), 1 << 40, "unlimited");
    }

    #[test]
    fn the_log_says_why_the_cap_is_lower_in_descriptors_and_how_to_raise_it() {
        let config = ServerConfig {
            name: "chat".to_string(),
            ..ServerConfig::default()
        };
        let note = config.cap_note(Some(1024), Some(524_288)).unwrap();
        let cap = config.connection_cap(Some(1024));
        assert!(
            note.starts_with(&format!("chat: at most {cap} connections, not 8192")),
            "{note}"
        );
        assert!(note.contains("limit (ulimit -n) is 1024 descriptors"), "{note}");
        assert!(note.contains("each connection holds 1 of them"), "{note}");
        assert!(note.ends_with("up to the hard limit: ulimit -n 524288"), "{note}");
        // A command that would fail is not suggested: with the hard limit
        // reached, `ulimit -n 65536` is refused.
        let at_hard = config.cap_note(Some(4_000), Some(4_000)).unwrap();
        assert!(
            at_hard.contains("only root can raise it") && !at_hard.contains("ulimit -n 6"),
            "{at_hard}"
        );
        assert!(config.cap_note(None, None).unwrap().contains("unknown (1024 assumed)"));
        assert_eq!(
            config.cap_note(Some(1 << 30), None),
            None,
            "no note when the cap is the one asked for"
        );
    }

    #[test]
    fn the_threads_waiting_in_accept_take_their_descriptors_out_of_the_cap() {
        let config = ServerConfig {
            fds_per_connection: 2,
            spare_threads: 16,
            ..ServerConfig::default()
        };
        assert_eq!(config.connection_cap(Some(1024)), (1024 - 17 - RESERVED_FDS) / 2);
        assert_eq!(
            config.connection_cap(None),
            config.connection_cap(Some(FALLBACK_FD_LIMIT))
        );
        let none_spare = ServerConfig {
            spare_threads: 0,
            ..config.clone()
        };
        assert_eq!(none_spare.connection_cap(Some(1024)), (1024 - 1 - RESERVED_FDS) / 2);
        assert_eq!(config.connection_cap(Some(1 << 30)), config.max_connections);
    }
}
