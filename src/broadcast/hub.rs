//! The hub thread: the subscriber set, the fan-out, the pings.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use crossbeam_channel::{bounded, SendTimeoutError, Sender};

use super::compress::{compress_batch, group_of, Group};
use super::config::HubConfig;
use super::outbox::Outbox;
use super::publish::Inbox;
use crate::websocket::frame::{server_frame, OpCode};

/// A frame encoded once and shared by every subscriber.
pub type Frame = Arc<[u8]>;

/// Counters kept by the hub thread.
#[derive(Debug, Default)]
pub struct HubStats {
    /// Frames published: written or queued for every subscriber. Updated
    /// after the other counters.
    pub published: AtomicU64,
    /// Frames written or queued, one per subscriber per frame.
    pub delivered: AtomicU64,
    /// Subscribers dropped for not taking their frames (close code 1008).
    pub dropped: AtomicU64,
    /// Subscribers right now.
    pub subscribers: AtomicUsize,
    /// Writer threads started: each time a subscriber's socket had no room
    /// for a batch and the rest had to wait in its outbox.
    pub writer_threads: AtomicU64,
    /// Frames compressed for permessage-deflate: one per published data
    /// frame (at or over the threshold) per group of subscribers that
    /// negotiated the same window without server context takeover, however
    /// many subscribers the group has.
    pub compressed: AtomicU64,
    /// Payload bytes fed to the compressor, summed over `compressed`.
    pub deflate_in: AtomicU64,
    /// Compressed payload bytes it produced, summed over `compressed`.
    pub deflate_out: AtomicU64,
}

/// Frames joined for one fan-out: written to each socket with one `write`.
#[derive(Debug, Default)]
pub(super) struct Batch {
    /// The frames, end to end.
    pub bytes: Vec<u8>,
    /// Where each frame ends in `bytes`.
    pub ends: Vec<usize>,
    /// The same frames one by one, for subscribers that are channels; taken
    /// out before the batch is shared with the sockets, so that a batch
    /// waiting in outboxes holds its bytes once.
    pub frames: Vec<Frame>,
}

impl Batch {
    pub fn push(&mut self, frame: Frame) {
        self.push_bytes(&frame);
        self.frames.push(frame);
    }

    /// Appends a frame to `bytes` only (for batches never sent to channels).
    pub fn push_bytes(&mut self, frame: &[u8]) {
        self.bytes.extend_from_slice(frame);
        self.ends.push(self.bytes.len());
    }

    /// The end of the frame that byte `at` belongs to: `at` itself if a
    /// frame ends there (or it is the start).
    pub fn frame_end(&self, at: usize) -> usize {
        if at == 0 {
            return 0;
        }
        match self.ends.binary_search(&at) {
            Ok(_) => at,
            Err(i) => self.ends.get(i).copied().unwrap_or(self.bytes.len()),
        }
    }
}

/// A subscriber, as the hub knows it.
#[derive(Debug)]
pub(super) enum Member {
    /// A WebSocket connection (see `serve_subscriber`).
    Socket(Arc<Outbox>),
    /// A channel that receives each frame; `kicked` is set if it is dropped
    /// for not taking them.
    Channel(Sender<Frame>, Arc<AtomicBool>),
}

/// A join request, answered once the subscriber is in the set.
#[derive(Debug)]
pub(super) struct Join {
    id: u64,
    member: Member,
    ack: Sender<()>,
}

/// What every handle shares with the hub thread.
#[derive(Debug)]
pub(super) struct Shared {
    pub inbox: Inbox,
    pub stats: Arc<HubStats>,
    pub stopping: AtomicBool,
    next_id: AtomicU64,
    next_publisher: AtomicU64,
}

/// Stops the hub thread when the last [`Hub`] handle is dropped.
#[derive(Debug)]
struct Handles {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Handles {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.inbox.post(|_, _, stopped| *stopped = true);
    }
}

/// A handle to the hub thread. Cheap to clone; every clone talks to the
/// same hub. The hub thread ends when [`Hub::stop`] is called or every
/// handle (and every [`Publisher`]) is gone.
#[derive(Clone, Debug)]
pub struct Hub {
    shared: Arc<Shared>,
    handles: Arc<Handles>,
}

impl Hub {
    /// Starts the hub thread with the default bounds.
    pub fn start() -> Hub {
        Hub::with_config(HubConfig::default())
    }

    /// Starts the hub thread with the given publish queue and batch bounds.
    pub fn with_config(config: HubConfig) -> Hub {
        let shared = Arc::new(Shared {
            inbox: Inbox::new(config),
            stats: Arc::new(HubStats::default()),
            stopping: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            // Publisher 0 is everyone who calls `Hub::publish_*`.
            next_publisher: AtomicU64::new(1),
        });
        let hub_shared = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("hub".into())
            .stack_size(crate::server::DEFAULT_STACK_SIZE)
            .spawn(move || run(&hub_shared))
            .expect("spawning the hub thread");
        let handles = Arc::new(Handles {
            shared: Arc::clone(&shared),
            thread: Mutex::new(Some(thread)),
        });
        Hub { shared, handles }
    }

    /// A fresh subscriber id.
    pub(super) fn next_id(&self) -> u64 {
        self.shared.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(super) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Adds a member; returns once the hub has it, so every frame published
    /// after this call reaches it.
    pub(super) fn add(&self, id: u64, member: Member) {
        let (ack, acked) = bounded(1);
        self.shared
            .inbox
            .post(|joins, _, _| joins.push(Join { id, member, ack }));
        let _ = acked.recv();
    }

    /// Subscribes a channel: every frame published after this call is sent
    /// to `outbox`, one by one, in order. Returns the subscriber's id. The
    /// hub waits up to [`HubConfig::channel_wait`] for room in a full
    /// channel, then drops it and sets `kicked`. For consumers in this process (tests,
    /// a log); sockets go through `serve_subscriber`.
    pub fn join(&self, outbox: Sender<Frame>, kicked: Arc<AtomicBool>) -> u64 {
        let id = self.next_id();
        self.add(id, Member::Channel(outbox, kicked));
        id
    }

    /// Removes a subscriber (no-op if already gone).
    pub fn leave(&self, id: u64) {
        self.shared.inbox.post(|_, leaves, _| leaves.push(id));
    }

    /// A publisher of its own: its frames wait in a queue of their own, and
    /// the hub takes turns between queues (see [`super::QUANTUM`]), so a
    /// flood from one publisher cannot hold another's messages back.
    pub fn publisher(&self) -> Publisher {
        Publisher {
            hub: self.clone(),
            id: self.shared.next_publisher.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Sends `text` to every subscriber as one text frame, encoded once.
    /// Waits while the publish queue is full. All callers of this method
    /// share one queue, in the order they call it.
    pub fn publish_text(&self, text: &str) {
        self.publish_frame(server_frame(OpCode::Text, text.as_bytes()).into());
    }

    /// Sends an already encoded frame to every subscriber; see
    /// [`Hub::publish_text`].
    pub fn publish_frame(&self, frame: Frame) {
        self.shared.inbox.publish(0, frame);
    }

    /// The bounds and the compression settings it was started with.
    pub fn config(&self) -> &HubConfig {
        self.shared.inbox.config()
    }

    /// The hub's counters.
    pub fn stats(&self) -> &HubStats {
        &self.shared.stats
    }

    /// Subscribers right now (as of the hub thread's last event).
    pub fn subscribers(&self) -> usize {
        self.shared.stats.subscribers.load(Ordering::SeqCst)
    }

    /// Stops the hub thread and waits for it. Frames still queued are
    /// dropped; subscribers' writer threads end; connections stay open.
    pub fn stop(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.inbox.post(|_, _, stopped| *stopped = true);
        let handle = self.handles.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

/// A publisher's handle (from [`Hub::publisher`]): its frames are queued
/// apart from everyone else's.
#[derive(Clone, Debug)]
pub struct Publisher {
    hub: Hub,
    id: u64,
}

impl Publisher {
    /// Sends `text` to every subscriber as one text frame, encoded once.
    /// Waits while this publisher's queue, or the whole publish queue, is
    /// full: that is how a flood is slowed down.
    pub fn publish_text(&self, text: &str) {
        self.publish_frame(server_frame(OpCode::Text, text.as_bytes()).into());
    }

    /// Sends an already encoded frame to every subscriber.
    pub fn publish_frame(&self, frame: Frame) {
        self.hub.shared.inbox.publish(self.id, frame);
    }
}

/// A socket subscriber in the hub's set.
#[derive(Debug)]
struct SocketMember {
    id: u64,
    outbox: Arc<Outbox>,
    next_ping: Instant,
    /// Which bytes it gets: uncompressed, or compressed for its group.
    group: Group,
}

/// The hub thread.
fn run(shared: &Shared) {
    let mut sockets: Vec<SocketMember> = Vec::new();
    let mut channels: Vec<(u64, Sender<Frame>, Arc<AtomicBool>)> = Vec::new();
    let ping = Arc::new({
        let mut b = Batch::default();
        b.push(server_frame(OpCode::Ping, b"").into());
        b
    });
    let mut next_ping: Option<Instant> = None;
    loop {
        let work = shared.inbox.next(next_ping);
        if work.stopped {
            break;
        }
        for id in work.leaves {
            sockets.retain(|s| s.id != id);
            channels.retain(|c| c.0 != id);
        }
        let mut acks = Vec::with_capacity(work.joins.len());
        for join in work.joins {
            acks.push(join.ack);
            match join.member {
                Member::Socket(outbox) => {
                    let due = Instant::now() + outbox.config.ping_period;
                    next_ping = Some(next_ping.map_or(due, |t| t.min(due)));
                    let group = group_of(outbox.compression(), &shared.inbox.config().compression);
                    sockets.push(SocketMember {
                        id: join.id,
                        outbox,
                        next_ping: due,
                        group,
                    });
                }
                Member::Channel(tx, kicked) => channels.push((join.id, tx, kicked)),
            }
        }
        shared
            .stats
            .subscribers
            .store(sockets.len() + channels.len(), Ordering::SeqCst);
        for ack in acks {
            let _ = ack.send(());
        }
        if next_ping.is_some_and(|t| t <= Instant::now()) {
            next_ping = ping_due(&mut sockets, &ping);
        }
        if let Some(batch) = work.batch {
            fan_out(shared, &mut sockets, &mut channels, batch);
        }
        shared
            .stats
            .subscribers
            .store(sockets.len() + channels.len(), Ordering::SeqCst);
    }
    for s in &sockets {
        s.outbox.hub_stopped();
    }
    shared.stats.subscribers.store(0, Ordering::SeqCst);
    log::debug!("hub: stopped");
}

/// Sends one batch to everyone, in turn: written straight to each socket
/// that has room, queued for the others (waiting for room if a queue is
/// full), sent frame by frame to channels. Subscribers of a compression
/// group get the batch compressed, once for the whole group, on first need.
fn fan_out(
    shared: &Shared,
    sockets: &mut Vec<SocketMember>,
    channels: &mut Vec<(u64, Sender<Frame>, Arc<AtomicBool>)>,
    mut batch: Batch,
) {
    if log::log_enabled!(log::Level::Trace) {
        // Once per batch, not once per subscriber.
        crate::websocket::conn::trace_encoded(&batch.bytes);
    }
    let one_by_one = std::mem::take(&mut batch.frames);
    let frames = one_by_one.len() as u64;
    let batch = Arc::new(batch);
    let compression = shared.inbox.config().compression;
    // Few groups (one per window size in use): a short list beats a map.
    let mut compressed: Vec<(Group, Arc<Batch>)> = Vec::new();
    let mut reached = 0u64;
    sockets.retain(|s| {
        let bytes = match s.group {
            None => &batch,
            Some(bits) => {
                let at = match compressed.iter().position(|(g, _)| *g == s.group) {
                    Some(at) => at,
                    None => {
                        let b = compress_batch(&one_by_one, bits, &compression, &shared.stats);
                        if log::log_enabled!(log::Level::Trace) {
                            // The copy this group's subscribers get (RSV1 set).
                            log::trace!("hub: compressed once for window {} bits:", bits.bits());
                            crate::websocket::conn::trace_encoded(&b.bytes);
                        }
                        compressed.push((s.group, Arc::new(b)));
                        compressed.len() - 1
                    }
                };
                &compressed[at].1
            }
        };
        let kept = s.outbox.deliver(bytes, &shared.stopping);
        reached += u64::from(kept);
        kept
    });
    channels.retain(|(id, tx, kicked)| {
        for frame in &one_by_one {
            match tx.send_timeout(Arc::clone(frame), shared.inbox.config().channel_wait) {
                Ok(()) => {}
                Err(SendTimeoutError::Timeout(_)) => {
                    log::warn!("hub: dropping #{id}: its channel stayed full");
                    kicked.store(true, Ordering::SeqCst);
                    shared.stats.dropped.fetch_add(1, Ordering::SeqCst);
                    return false;
                }
                Err(SendTimeoutError::Disconnected(_)) => return false,
            }
        }
        reached += 1;
        true
    });
    shared.stats.delivered.fetch_add(reached * frames, Ordering::SeqCst);
    // Counted last: whoever sees `published` reach n sees the n-th frame
    // written or queued for everyone, and the other counters with it.
    shared.stats.published.fetch_add(frames, Ordering::SeqCst);
}

/// Pings every subscriber whose ping is due within a quarter of its period
/// (early is harmless, and it gathers pings into fewer rounds); returns
/// when the next is due.
fn ping_due(sockets: &mut Vec<SocketMember>, ping: &Arc<Batch>) -> Option<Instant> {
    let now = Instant::now();
    sockets.retain_mut(|s| {
        let period = s.outbox.config.ping_period;
        if s.next_ping > now + period / 4 {
            return true;
        }
        s.next_ping = now + period;
        s.outbox.ping(ping)
    });
    sockets.iter().map(|s| s.next_ping).min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Longest any step of these tests may take: nothing blocks forever.
    const WAIT: Duration = Duration::from_secs(5);

    fn wait_for(mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + WAIT;
        while !cond() {
            assert!(Instant::now() < deadline, "condition never became true");
            thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn every_subscriber_gets_the_same_encoded_bytes_in_order() {
        let hub = Hub::start();
        let outboxes: Vec<_> = (0..3)
            .map(|_| {
                let (tx, rx) = bounded(16);
                hub.join(tx, Arc::new(AtomicBool::new(false)));
                rx
            })
            .collect();
        hub.publish_text("one");
        hub.publish_text("two");
        let firsts: Vec<Frame> = outboxes.iter().map(|rx| rx.recv_timeout(WAIT).unwrap()).collect();
        assert_eq!(&*firsts[0], b"\x81\x03one");
        assert!(
            firsts.iter().all(|f| Arc::ptr_eq(f, &firsts[0])),
            "one allocation shared by all"
        );
        for rx in &outboxes {
            assert_eq!(&*rx.recv_timeout(WAIT).unwrap(), b"\x81\x03two");
        }
        hub.stop();
    }

    #[test]
    fn a_channel_that_stays_full_is_dropped_after_the_channel_wait_and_only_it() {
        let wait = Duration::from_millis(200);
        let hub = Hub::with_config(HubConfig {
            channel_wait: wait,
            ..HubConfig::default()
        });
        let (slow_tx, _slow_rx) = bounded(2);
        let slow_kicked = Arc::new(AtomicBool::new(false));
        hub.join(slow_tx, Arc::clone(&slow_kicked));
        let (fast_tx, fast_rx) = bounded(100);
        hub.join(fast_tx, Arc::new(AtomicBool::new(false)));
        let started = Instant::now();
        for i in 0..10 {
            hub.publish_text(&i.to_string());
        }
        wait_for(|| hub.stats().published.load(Ordering::SeqCst) == 10);
        assert!(started.elapsed() >= wait, "the hub waited for room first");
        assert!(slow_kicked.load(Ordering::SeqCst));
        assert_eq!(hub.subscribers(), 1);
        assert_eq!(fast_rx.len(), 10, "the other subscriber got everything");
        assert_eq!(hub.stats().dropped.load(Ordering::SeqCst), 1);
        hub.stop();
    }

    #[test]
    fn leave_removes_and_stop_disconnects_channels() {
        let hub = Hub::start();
        let (tx, rx) = bounded(4);
        let id = hub.join(tx, Arc::new(AtomicBool::new(false)));
        assert_eq!(hub.subscribers(), 1);
        hub.leave(id);
        wait_for(|| hub.subscribers() == 0);
        assert_eq!(
            rx.recv_timeout(WAIT),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected),
            "the hub dropped the sender"
        );
        hub.stop();
    }

    #[test]
    fn the_hub_stops_when_its_last_handle_is_dropped() {
        let hub = Hub::start();
        let (tx, rx) = bounded(4);
        hub.join(tx, Arc::new(AtomicBool::new(false)));
        drop(hub);
        assert_eq!(
            rx.recv_timeout(WAIT),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected),
            "the hub thread ended and dropped its subscribers"
        );
    }

    #[test]
    fn a_cut_frame_ends_at_the_next_frame_boundary_of_its_batch() {
        let mut batch = Batch::default();
        batch.push(server_frame(OpCode::Text, b"abc").into()); // 5 bytes
        batch.push(server_frame(OpCode::Text, b"defgh").into()); // 7 bytes
        assert_eq!(batch.ends, [5, 12]);
        assert_eq!(batch.frame_end(0), 0);
        assert_eq!(batch.frame_end(1), 5);
        assert_eq!(batch.frame_end(5), 5, "already at a boundary");
        assert_eq!(batch.frame_end(6), 12);
        assert_eq!(batch.frame_end(12), 12);
    }
}
