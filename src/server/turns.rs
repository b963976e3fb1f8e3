//! The server's threads, taking turns at `accept` ("leader/followers").
//!
//! Every thread waits in `accept` itself and serves what it accepts; the
//! kernel hands each new connection to one of the waiting threads. So no
//! connection is handed between threads (a wake-up each), and a thread is
//! started only when all are busy. The rules, which [`Turns`] counts:
//!
//! - A thread that accepts a connection and admits it first makes sure
//!   another is waiting in `accept`: if it was the last one there, it
//!   starts a new thread before serving, which takes over its place in the
//!   count. If no thread can be started, it refuses the connection instead
//!   of serving it, so that some thread is always in `accept` to answer the
//!   next client, even at the cap. A refused connection starts no thread.
//! - A refused connection (full, or its address has its share) is answered
//!   by the thread that accepted it, without waiting (a few hundred bytes
//!   fit in a fresh socket's buffer), and closed gracefully by the
//!   [`Lingerer`]; the thread goes straight back to `accept`.
//! - A thread whose connection ended goes back to `accept`, unless
//!   [`ServerConfig::spare_threads`] threads beside the one that always
//!   waits are there already: then it ends. A thread whose handler
//!   panicked ends.
//! - `accept` errors (out of descriptors) back off from 5 ms to 1 s, one
//!   log line per 10 s; a spare descriptor lets one waiting client be
//!   answered even then.
//! - On shutdown, [`super::ServerHandle`] connects once for each thread
//!   waiting in `accept`: each wakes, sees the stop flag and ends.
//!
//! So the threads are the live connections (each served by its own thread
//! for its whole life), plus at most `spare_threads + 1` waiting in
//! `accept`, plus, for a moment, those whose connection was just evicted
//! or refused.

use std::fs::File;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use super::accept::{ConnInfo, Shared};
use super::config::ServerConfig;
use super::table::{IdleMark, PeerKey, Refused};
use crate::socket::{answer_and_close_now, Lingerer};

/// The server's threads, and how many of them wait in `accept` right now,
/// or are about to: a thread just started counts as waiting, and so does
/// the last one in `accept` from the moment it accepts until the thread it
/// starts takes its place (or it goes back itself).
#[derive(Debug, Default)]
pub(super) struct Turns {
    pub(super) threads: usize,
    pub(super) waiting: usize,
}

type Handler = dyn Fn(Arc<TcpStream>, ConnInfo) + Send + Sync + 'static;

/// What a server's threads share: the listener, the settings, the handler.
pub(super) struct Acceptor {
    listener: TcpListener,
    listening: SocketAddr,
    config: ServerConfig,
    shared: Arc<Shared>,
    handler: Box<Handler>,
    lingerer: Lingerer,
    /// A descriptor kept in reserve: when `accept` fails for want of
    /// descriptors, closing it lets one more connection be accepted, and
    /// refused, instead of left waiting in the backlog with no answer.
    spare_fd: Mutex<Option<File>>,
    backoff: Mutex<Backoff>,
    /// Threads started so far, for their names.
    started: AtomicU64,
}

impl Acceptor {
    pub(super) fn new(
        listener: TcpListener,
        config: ServerConfig,
        shared: Arc<Shared>,
        handler: Box<Handler>,
    ) -> Acceptor {
        let listening = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        Acceptor {
            lingerer: Lingerer::start(&format!("{}-linger", config.name)),
            listener,
            listening,
            config,
            shared,
            handler,
            spare_fd: Mutex::new(File::open("/dev/null").ok()),
            backoff: Mutex::new(Backoff::default()),
            started: AtomicU64::new(0),
        }
    }
}

/// Counts a thread out when it ends, however it ends.
struct ThreadGuard(Arc<Shared>);

impl Drop for ThreadGuard {
    fn drop(&mut self) {
        self.0.thread_ended();
    }
}

/// Starts a thread, counted as waiting in `accept`: its first move.
/// `inherits`: it takes over the place in the count of the thread that
/// starts it (the last one in `accept`, which kept it; see
/// [`Acceptor::next_connection`]).
pub(super) fn start_thread(acceptor: &Arc<Acceptor>, inherits: bool) -> io::Result<()> {
    let n = acceptor.started.fetch_add(1, Ordering::Relaxed) + 1;
    {
        let mut turns = acceptor.shared.turns();
        turns.threads += 1;
        if !inherits {
            turns.waiting += 1;
        }
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
        // The closure, and with it the guard, was dropped: counted out. An
        // inherited place stays with the thread that would have passed it on.
        if !inherits {
            acceptor.shared.turns().waiting -= 1;
        }
        return Err(e);
    }
    Ok(())
}

impl Acceptor {
    /// A thread's life: accept, serve, again; until enough threads wait in
    /// `accept` already, the server stops, or a handler panicked.
    fn take_turns(self: &Arc<Self>) {
        while let Some(job) = self.next_connection() {
            if !serve(job, &*self.handler) || !self.back_to_accept(false) {
                return;
            }
        }
    }

    /// Counts this thread as waiting in `accept` again (`kept`: it still
    /// is); false when it should end instead: the server stops, or enough
    /// threads wait.
    fn back_to_accept(&self, kept: bool) -> bool {
        let mut turns = self.shared.turns();
        if self.shared.stop.load(Ordering::SeqCst) || (!kept && turns.waiting > self.config.spare_threads) {
            if kept {
                turns.waiting -= 1;
            }
            return false;
        }
        if !kept {
            turns.waiting += 1;
        }
        true
    }

    /// The next connection this thread serves, from `accept`; `None`: end
    /// this thread instead. Refusals are answered on the way.
    fn next_connection(self: &Arc<Self>) -> Option<Job> {
        loop {
            let accepted = self.listener.accept();
            // The last thread in accept() keeps its place in the count
            // until a thread it starts takes the place over, or it goes back
            // itself: meanwhile no thread whose connection ends can take the
            // count of 0 for a missing waiter and stay, beyond spare_threads.
            let alone = {
                let mut turns = self.shared.turns();
                if turns.waiting > 1 {
                    turns.waiting -= 1;
                    false
                } else {
                    true
                }
            };
            if self.shared.stop.load(Ordering::SeqCst) {
                self.back_to_accept(alone);
                return None;
            }
            match accepted {
                Ok((stream, peer)) => {
                    self.backoff().succeeded();
                    if let Some(job) = self.admit(stream, peer, alone) {
                        return Some(job);
                    }
                }
                Err(e) => {
                    if let Some(pause) = self.accept_failed(&e) {
                        thread::sleep(pause);
                    }
                }
            }
            if !self.back_to_accept(alone) {
                return None;
            }
        }
    }

    /// Gives an accepted connection its id and its place in the table, or
    /// refuses it. `alone`: no other thread waits in `accept`, so one must
    /// be started, taking over this thread's place in the count, before
    /// this one serves. `None` leaves that place with this thread.
    fn admit(self: &Arc<Self>, stream: TcpStream, peer: SocketAddr, alone: bool) -> Option<Job> {
        // A listener bound to one address accepts on that address: only one
        // bound to "any" has to ask the kernel which address was reached.
        let local = if self.listening.ip().is_unspecified() {
            stream.local_addr().unwrap_or(self.listening)
        } else {
            self.listening
        };
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let info = ConnInfo { id, peer, local };
        // One socket for the table and the handler: shared, not copied.
        let stream = Arc::new(stream);
        let admitted = {
            let mut live = self.shared.live();
            // Under the lock shutdown closes live sockets with: closed, or not served.
            if self.shared.stop.load(Ordering::SeqCst) {
                return None;
            }
            let evictions = live.evictions();
            let admitted = live.admit(
                id,
                &stream,
                PeerKey::of(peer.ip()),
                self.shared.max_connections,
                self.config.max_per_peer,
            );
            if live.evictions() != evictions {
                self.shared.stats.evicted_idle.fetch_add(1, Ordering::Relaxed);
            }
            admitted
        };
        let mark = match admitted {
            Ok(mark) => mark,
            Err(why) => {
                self.refuse(stream, &info, why);
                return None;
            }
        };
        let guard = LiveGuard {
            shared: Arc::clone(&self.shared),
            id,
        };
        if let Err(e) = configure(&stream, &self.config) {
            log::debug!("{info}: could not configure socket: {e}");
            return None;
        }
        if alone {
            // While this thread serves, another must wait in accept() for
            // the next connection, if only to refuse it.
            if let Err(e) = start_thread(self, true) {
                log::error!("{info}: could not start a thread to wait in accept: {e}; refused");
                drop(guard);
                self.refuse(stream, &info, Refused::Full);
                return None;
            }
        }
        self.shared.stats.admitted.fetch_add(1, Ordering::Relaxed);
        Some(Job {
            stream,
            info,
            mark,
            _guard: guard,
        })
    }

    /// Turns a connection away: its refusal written at once by this thread
    /// (no queue to overflow, no client left without an answer), its
    /// socket closed gracefully by the lingerer. `stream` is the only
    /// holder of the socket: the table never took it, or let it go.
    fn refuse(&self, stream: Arc<TcpStream>, info: &ConnInfo, why: Refused) {
        let (message, counter) = match why {
            Refused::Full => (&self.config.refusal, &self.shared.stats.refused_full),
            Refused::PeerFull => (&self.config.peer_refusal, &self.shared.stats.refused_peer),
        };
        let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
        // One line per refusal would let a flood fill the log: the first, then
        // one in a thousand, at info level; every one at debug.
        if n == 1 || n % 1000 == 0 {
            log::warn!(
                "{info}: refused ({}); {n} refused so far",
                match why {
                    Refused::Full => format!("{} connections is the limit", self.shared.max_connections),
                    Refused::PeerFull => format!("{} connections per address is the limit", self.config.max_per_peer),
                }
            );
        } else {
            log::debug!("{info}: refused ({why:?})");
        }
        self.lingerer.answer_and_close(stream, message);
    }

    fn backoff(&self) -> MutexGuard<'_, Backoff> {
        self.backoff.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `accept` failed. Returns how long to pause before the next try.
    fn accept_failed(&self, e: &io::Error) -> Option<Duration> {
        match e.kind() {
            // The peer gave up between the handshake and accept(): nothing to
            // do, take the next one.
            io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::Interrupted => {
                return None
            }
            _ => {}
        }
        self.shared.stats.accept_errors.fetch_add(1, Ordering::Relaxed);
        // EMFILE (24) or ENFILE (23): out of descriptors. Use the spare one to
        // take the waiting client and tell it so, rather than leave it hanging.
        if matches!(e.raw_os_error(), Some(23 | 24)) {
            self.answer_with_the_spare_descriptor();
        }
        let (pause, report) = self.backoff().failed(Instant::now());
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

    /// Closes the spare descriptor, accepts one client with it and refuses
    /// it, then takes the spare again. One thread at a time: the others
    /// find no spare and just back off.
    fn answer_with_the_spare_descriptor(&self) {
        let Some(spare) = self.spare_fd.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        drop(spare);
        // The kernel reserves the descriptor before accept() sleeps: if
        // another thread took the waiting client, this one waits in
        // accept() like the others, and shutdown must wake it like them.
        self.shared.turns().waiting += 1;
        let accepted = self.listener.accept();
        self.shared.turns().waiting -= 1;
        if let Ok((stream, _)) = accepted {
            if !self.shared.stop.load(Ordering::SeqCst) {
                answer_and_close_now(stream, &self.config.refusal);
                self.shared.stats.refused_full.fetch_add(1, Ordering::Relaxed);
            }
        }
        *self.spare_fd.lock().unwrap_or_else(|p| p.into_inner()) = File::open("/dev/null").ok();
    }
}

/// Removes a connection from the table when it ends, however it ends.
struct LiveGuard {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        // The table's share of the socket, dropped once the lock is
        // released: the last holder's drop closes it (see `Table::release`).
        let share = self.shared.live().release(self.id);
        drop(share);
    }
}

/// An admitted connection: its socket, its info, its idle mark, its place
/// in the table.
struct Job {
    stream: Arc<TcpStream>,
    info: ConnInfo,
    mark: IdleMark,
    _guard: LiveGuard,
}

/// Runs the handler on one connection; false if it panicked: the thread then ends.
fn serve(job: Job, handler: &Handler) -> bool {
    let Job {
        stream,
        info,
        mark,
        _guard,
    } = job;
    let _installed = mark.install();
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

/// How the threads wait after `accept` failures (out of descriptors, out
/// of memory): a pause that doubles with each failure in a row, from 5 ms
/// up to 1 s, so a lasting shortage costs no CPU; and one log line per
/// [`Backoff::REPORT_EVERY`] at most, saying how many failures it stands
/// for. One for all the threads: a shortage is the process's, not a thread's.
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
