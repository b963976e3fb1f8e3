//! One subscriber's outbox, and its writer thread while it needs one.
//!
//! A subscriber is in one of three modes:
//!
//! - **held**: it is being greeted (`serve_subscriber`'s `greet` is
//!   writing); the hub queues its frames;
//! - **direct**: the hub writes each batch to its socket itself, with one
//!   `write` that does not wait. This is the normal case, and the cheap one:
//!   a delivery costs one system call, and no thread wakes up;
//! - **handed**: its socket had no room for a whole batch. What did not fit
//!   waits in its outbox, and a writer thread of its own, started for the
//!   purpose, drains the outbox with vectored writes that wait for room.
//!   When the outbox is empty the thread hands the subscriber back to the
//!   hub (direct) and ends.
//!
//! The outbox is bounded in bytes. When it is full, the hub waits for
//! room: as long as the subscriber takes bytes, that is flow control;
//! if it takes none for [`ROOM_WAIT`](super::ROOM_WAIT), or its socket
//! takes none for [`WRITE_WAIT`](super::WRITE_WAIT), it is dropped.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::config::{SubscriberConfig, CLOSE_GRACE, TOO_SLOW};
use super::hub::{Batch, HubStats};
use crate::websocket::{CloseFrame, Writer};

/// Longest a writer thread's single write waits before it looks at the
/// clock and at its outbox again: how often progress (or its absence)
/// becomes visible to the hub.
const WRITE_SLICE: Duration = Duration::from_millis(100);

/// Bytes charged to an outbox for each queued chunk on top of its frames:
/// the bookkeeping of the entry, so that a queue of many tiny chunks is
/// bounded too.
const CHUNK_COST: usize = 64;

/// Most chunks written with one vectored write (the system allows 1024).
const MAX_SLICES: usize = 512;

/// Why a subscriber is out of the hub.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Gone {
    /// Its reader left: the client closed, broke, or went silent.
    Left,
    /// It stopped taking frames and was dropped (1008).
    TooSlow,
    /// A write failed: the connection is broken.
    Broken,
    /// The hub stopped.
    Stopped,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Held,
    Direct,
    Handed,
}

/// Part of a batch still to be written: `batch.bytes[start..]`, `start`
/// at a frame boundary (or inside the frame being written).
#[derive(Debug)]
struct Chunk {
    batch: Arc<Batch>,
    start: usize,
}

impl Chunk {
    fn cost(&self) -> usize {
        self.batch.bytes.len() - self.start + CHUNK_COST
    }
}

#[derive(Debug)]
struct State {
    mode: Mode,
    queue: VecDeque<Chunk>,
    /// Bytes charged for `queue`.
    bytes: usize,
    /// The hub left the end of a cut frame with the connection: the writer
    /// thread must write it even if nothing is queued.
    tail: bool,
    gone: Option<Gone>,
    writer_running: bool,
    writer_thread: Option<JoinHandle<()>>,
    hub_waiting: bool,
    /// When the writer thread last got bytes into the socket.
    last_progress: Instant,
}

impl State {
    fn push(&mut self, batch: &Arc<Batch>, start: usize) {
        let chunk = Chunk {
            batch: Arc::clone(batch),
            start,
        };
        self.bytes += chunk.cost();
        self.queue.push_back(chunk);
    }
}

/// A subscriber's outbox, shared by the hub thread, the subscriber's reader
/// thread (`serve_subscriber`) and its writer thread.
#[derive(Debug)]
pub(super) struct Outbox {
    pub id: u64,
    pub config: SubscriberConfig,
    writer: Writer,
    stats: Arc<HubStats>,
    state: Mutex<State>,
    /// The hub waits here for room; woken on every bit of progress.
    room: Condvar,
}

impl Outbox {
    /// A held outbox: frames wait in it until [`Outbox::release`].
    pub fn new(id: u64, writer: Writer, config: SubscriberConfig, stats: Arc<HubStats>) -> Arc<Outbox> {
        Arc::new(Outbox {
            id,
            config,
            writer,
            stats,
            state: Mutex::new(State {
                mode: Mode::Held,
                queue: VecDeque::new(),
                bytes: 0,
                tail: false,
                gone: None,
                writer_running: false,
                writer_thread: None,
                hub_waiting: false,
                last_progress: Instant::now(),
            }),
            room: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What its connection negotiated for permessage-deflate, if anything.
    pub fn compression(&self) -> Option<crate::websocket::DeflateParams> {
        self.writer.compression()
    }

    /// Why the subscriber is out of the hub, if it is.
    pub fn gone(&self) -> Option<Gone> {
        self.lock().gone
    }

    /// Hands a batch to this subscriber, waiting for room in its outbox if
    /// it is full (unless the hub is `stopping`). False when the subscriber
    /// is out of the hub.
    pub fn deliver(self: &Arc<Self>, batch: &Arc<Batch>, stopping: &AtomicBool) -> bool {
        self.send(batch, Some(stopping))
    }

    /// Hands the ping frame to this subscriber, unless it is behind: a full
    /// outbox says more about it than a pong would.
    pub fn ping(self: &Arc<Self>, ping: &Arc<Batch>) -> bool {
        self.send(ping, None)
    }

    fn send(self: &Arc<Self>, batch: &Arc<Batch>, wait: Option<&AtomicBool>) -> bool {
        let mut st = self.lock();
        if st.gone.is_some() {
            return false;
        }
        if st.mode != Mode::Direct && st.bytes >= self.config.outbox_bytes {
            let Some(stopping) = wait else { return true };
            st = match self.wait_for_room(st, stopping) {
                Some(st) => st,
                None => return false,
            };
            // While the hub waited, the writer thread may have caught up
            // and handed the socket back: then the batch is written below.
        }
        if st.mode != Mode::Direct {
            st.push(batch, 0);
            return true;
        }
        drop(st);
        // Direct: one write that takes what the socket has room for now.
        let (start, cut) = match self.writer.try_encoded() {
            Ok(Some(mut w)) => match w.write_now(&batch.bytes) {
                Ok(n) if n == batch.bytes.len() => return true,
                Ok(n) => {
                    let end = batch.frame_end(n);
                    if end > n {
                        w.keep_unfinished(&batch.bytes[n..end]);
                    }
                    (end, end > n)
                }
                Err(e) => {
                    log::debug!("hub: #{}: {e}", self.id);
                    self.close(Gone::Broken);
                    return false;
                }
            },
            // Another thread is writing (a pong, a greeting): queue it.
            Ok(None) => (0, false),
            // Closing or closed: its reader is on its way out.
            Err(_) => return false,
        };
        let mut st = self.lock();
        if st.gone.is_some() {
            return false;
        }
        st.mode = Mode::Handed;
        st.tail |= cut;
        if start < batch.bytes.len() {
            st.push(batch, start);
        }
        st.writer_running || self.start_writer(&mut st)
    }

    /// The greeting is done: what queued meanwhile goes out first (through
    /// a writer thread), then the hub writes directly.
    pub fn release(self: &Arc<Self>) {
        let mut st = self.lock();
        if st.gone.is_some() || st.mode != Mode::Held {
            return;
        }
        if st.queue.is_empty() {
            st.mode = Mode::Direct;
        } else {
            st.mode = Mode::Handed;
            self.start_writer(&mut st);
        }
    }

    /// Takes the subscriber out of the hub for good; its writer thread ends.
    pub fn close(&self, why: Gone) {
        let mut st = self.lock();
        st.gone.get_or_insert(why);
        st.queue.clear();
        st.bytes = 0;
        self.room.notify_all();
    }

    /// The hub stopped: nothing more will come.
    pub fn hub_stopped(&self) {
        self.close(Gone::Stopped);
    }

    /// The writer thread, if one was started, for joining.
    pub fn take_writer_thread(&self) -> Option<JoinHandle<()>> {
        self.lock().writer_thread.take()
    }

    fn start_writer(self: &Arc<Self>, st: &mut State) -> bool {
        let me = Arc::clone(self);
        let spawned = thread::Builder::new()
            .name(format!("writer-{}", self.id))
            .stack_size(crate::server::DEFAULT_STACK_SIZE)
            .spawn(move || me.write_loop());
        match spawned {
            Ok(handle) => {
                st.writer_running = true;
                st.writer_thread = Some(handle);
                self.stats.writer_threads.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(e) => {
                log::warn!("hub: #{}: cannot start a writer thread ({e}); dropping it", self.id);
                st.gone = Some(Gone::Broken);
                self.writer.abort();
                false
            }
        }
    }

    /// The hub waits while the outbox is full. Every bit of progress by the
    /// writer thread restarts the clock; [`SubscriberConfig::room_wait`]
    /// without any drops the subscriber.
    fn wait_for_room<'a>(&self, mut st: MutexGuard<'a, State>, stopping: &AtomicBool) -> Option<MutexGuard<'a, State>> {
        let started = Instant::now();
        while st.bytes >= self.config.outbox_bytes {
            if st.gone.is_some() || stopping.load(Ordering::SeqCst) {
                return None;
            }
            let waited = started.max(st.last_progress).elapsed();
            if waited >= self.config.room_wait {
                let why = format!(
                    "its outbox stayed full ({} KiB) and it took nothing for {:?} while the others waited",
                    st.bytes >> 10,
                    self.config.room_wait
                );
                self.drop_too_slow(&mut st, &why);
                return None;
            }
            st.hub_waiting = true;
            st = match self.room.wait_timeout(st, self.config.room_wait - waited) {
                Ok((st, _)) => st,
                Err(p) => p.into_inner().0,
            };
            st.hub_waiting = false;
        }
        Some(st)
    }

    fn drop_too_slow(&self, st: &mut State, why: &str) {
        if st.gone.is_some() {
            return;
        }
        st.gone = Some(Gone::TooSlow);
        self.stats.dropped.fetch_add(1, Ordering::SeqCst);
        log::warn!("hub: dropping #{}: {why}; closing with {}", self.id, TOO_SLOW.0);
        if !st.writer_running {
            // No writer thread to say goodbye: just cut the connection.
            self.writer.abort();
        }
        self.room.notify_all();
    }

    /// The writer thread: writes what is queued, session after session,
    /// until the outbox is empty (then the hub takes over again) or the
    /// subscriber is gone.
    fn write_loop(self: Arc<Self>) {
        loop {
            let chunks: Vec<Chunk> = {
                let mut st = self.lock();
                if let Some(gone) = st.gone {
                    st.writer_running = false;
                    drop(st);
                    if gone == Gone::TooSlow {
                        self.last_chance();
                    }
                    return;
                }
                if st.queue.is_empty() && !st.tail {
                    // Caught up: the hub writes to the socket itself again.
                    st.mode = Mode::Direct;
                    st.writer_running = false;
                    st.queue = VecDeque::new();
                    return;
                }
                st.tail = false;
                st.queue
                    .iter()
                    .take(MAX_SLICES)
                    .map(|c| Chunk {
                        batch: Arc::clone(&c.batch),
                        start: c.start,
                    })
                    .collect()
            };
            self.session(&chunks);
        }
    }

    /// Writes the end of a cut frame, if any, then `chunks`, with vectored
    /// writes that each wait at most [`WRITE_SLICE`], until all is written,
    /// the subscriber is gone, or its socket has taken nothing for
    /// [`SubscriberConfig::write_wait`].
    fn session(&self, chunks: &[Chunk]) {
        let Ok(mut w) = self.writer.encoded() else {
            self.close(Gone::Left);
            return;
        };
        let tail = w.take_unfinished();
        let _ = w.set_write_timeout(Some(WRITE_SLICE.min(self.config.write_wait)));
        let mut tail_at = 0;
        let mut i = 0;
        let mut at = chunks.first().map_or(0, |c| c.start);
        let mut last_progress = Instant::now();
        loop {
            let mut slices = Vec::with_capacity(chunks.len() - i + 1);
            if tail_at < tail.len() {
                slices.push(IoSlice::new(&tail[tail_at..]));
            }
            for (k, c) in chunks[i..].iter().enumerate() {
                slices.push(IoSlice::new(&c.batch.bytes[if k == 0 { at } else { c.start }..]));
            }
            if slices.is_empty() {
                break;
            }
            let written = match w.write_vectored(&slices) {
                Ok(n) => n,
                Err(e) => {
                    log::debug!("hub: #{}: {e}", self.id);
                    drop(w);
                    self.close(Gone::Broken);
                    return;
                }
            };
            if written > 0 {
                last_progress = Instant::now();
                let mut left = written;
                let from_tail = left.min(tail.len() - tail_at);
                tail_at += from_tail;
                left -= from_tail;
                let mut finished = 0;
                while left > 0 {
                    let available = chunks[i].batch.bytes.len() - at;
                    if left < available {
                        at += left;
                        break;
                    }
                    left -= available;
                    finished += 1;
                    i += 1;
                    at = chunks.get(i).map_or(0, |c| c.start);
                }
                self.progress(finished, (i < chunks.len()).then_some(at));
            }
            let gone = {
                let mut st = self.lock();
                if st.gone.is_none() && written == 0 && last_progress.elapsed() >= self.config.write_wait {
                    let why = format!("its socket took nothing for {:?}", self.config.write_wait);
                    self.drop_too_slow(&mut st, &why);
                }
                st.gone
            };
            if let Some(gone) = gone {
                if gone == Gone::TooSlow {
                    // The close frame must not land inside a frame: hand
                    // the rest of the one under way to the connection.
                    if tail_at < tail.len() {
                        w.keep_unfinished(&tail[tail_at..]);
                    } else if let Some(c) = chunks.get(i) {
                        let end = c.batch.frame_end(at);
                        w.keep_unfinished(&c.batch.bytes[at..end]);
                    }
                }
                break;
            }
        }
        let _ = w.set_write_timeout(Some(self.config.write_wait));
    }

    /// Records progress: `finished` chunks at the front of the queue are
    /// written, and the next one up to `at`.
    fn progress(&self, finished: usize, at: Option<usize>) {
        let mut st = self.lock();
        if st.gone.is_some() {
            return;
        }
        for _ in 0..finished {
            if let Some(c) = st.queue.pop_front() {
                st.bytes -= c.cost();
            }
        }
        if let Some(at) = at {
            let advanced = st.queue.front_mut().map_or(0, |front| {
                let d = at.saturating_sub(front.start);
                front.start = at.max(front.start);
                d
            });
            st.bytes -= advanced;
        }
        st.last_progress = Instant::now();
        if st.hub_waiting {
            self.room.notify_one();
        }
    }

    /// A dropped subscriber's last chance to learn why: the end of any cut
    /// frame, then a close frame with 1008, if its socket takes them within
    /// [`CLOSE_GRACE`]. Then the connection is cut.
    fn last_chance(&self) {
        let _ = self.writer.set_write_timeout(Some(CLOSE_GRACE));
        let _ = self
            .writer
            .close(Some(CloseFrame::new(TOO_SLOW, "too slow: stopped taking frames")));
        self.writer.abort();
    }
}
