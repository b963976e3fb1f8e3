//! The broadcast thread: one message in, the same bytes out to everyone.
//!
//! Chat rooms and stock tickers (the uses in notes `000_f4712f4299a15c52.txt`,
//! `001_bc663211a4f1f280.txt` and `002_16f43eb7968fc798.txt`) are one-to-many:
//! a message from one source goes to every connected client. The shape here
//! is the classic hub:
//!
//! ```text
//! reader thread ──publish──▶ ┌──────────┐ ──Arc<[u8]>──▶ outbox ──▶ writer thread ──▶ client 1
//! reader thread ──join────▶ │ hub      │ ──Arc<[u8]>──▶ outbox ──▶ writer thread ──▶ client 2
//! reader thread ──leave───▶ │ (select!)│ ──Arc<[u8]>──▶ outbox ──▶ writer thread ──▶ client 3
//!                            └──────────┘
//! ```
//!
//! - The **hub thread** owns the subscriber set; nothing else touches it, so
//!   it needs no lock. It waits on three channels at once (`select!`):
//!   joins, leaves, publishes.
//! - A publish is **encoded once** into a complete WebSocket frame
//!   (`Arc<[u8]>`); each subscriber gets a clone of the `Arc`, not a copy.
//! - Each subscriber has a **bounded outbox** and its own **writer thread**.
//!   The hub only ever `try_send`s: a client that reads slowly fills its own
//!   outbox, never the hub's time. When an outbox is full the client is
//!   dropped with close code 1008 and a log line says why.
//! - Each connection also has a **reader thread** (the connection's own
//!   thread): full duplex, one direction per thread (`docs/frames.md`).
//!
//! Keepalive (RFC 6455 §5.5.2-§5.5.3): the writer thread pings every
//! [`PING_PERIOD`]; the reader gives up on a client that sends nothing, not
//! even a pong, for [`PONG_WAIT`]. The constants and their reasons are below.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::{bounded, select, tick, unbounded, Receiver, Sender, TrySendError};

use crate::websocket::decode::WireStats;
use crate::websocket::frame::{server_frame, OpCode};
use crate::websocket::{CloseCode, CloseFrame, Error, Message, WebSocket, Writer};

/// How long a client may stay silent (no message, no pong) before it is
/// considered dead. A minute tolerates a busy or briefly suspended peer;
/// a peer that vanished without closing (pulled cable, sleeping laptop)
/// is noticed within this time instead of holding its threads forever.
pub const PONG_WAIT: Duration = Duration::from_secs(60);

/// How often the server pings. Shorter than [`PONG_WAIT`] (9/10 of it, the
/// ratio the gorilla/websocket chat uses) so a live client's pong always
/// arrives before the wait runs out. Pings also keep NAT and proxy entries
/// from expiring on idle connections.
pub const PING_PERIOD: Duration = Duration::from_secs(54);

/// How long one write may block. A client whose TCP receive window stays
/// closed this long is not reading; its connection is dropped.
pub const WRITE_WAIT: Duration = Duration::from_secs(10);

/// Frames queued per subscriber. At a few hundred bytes per chat message,
/// 256 frames absorb a long burst; a client further behind than that is
/// not keeping up and is dropped.
pub const OUTBOX: usize = 256;

/// The close code for a subscriber dropped because its outbox filled:
/// 1008 (policy violation), since it broke the server's rule "keep up with
/// the stream". 1013 (try again later) would suggest the server was
/// overloaded and a reconnect would help; here the client is the cause.
pub const TOO_SLOW: CloseCode = CloseCode::POLICY;

/// A frame encoded once and shared by every subscriber.
pub type Frame = Arc<[u8]>;

/// Timing and capacity of a subscriber connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubscriberConfig {
    /// See [`PONG_WAIT`].
    pub pong_wait: Duration,
    /// See [`PING_PERIOD`].
    pub ping_period: Duration,
    /// See [`WRITE_WAIT`].
    pub write_wait: Duration,
    /// See [`OUTBOX`].
    pub outbox: usize,
}

impl Default for SubscriberConfig {
    fn default() -> Self {
        SubscriberConfig {
            pong_wait: PONG_WAIT,
            ping_period: PING_PERIOD,
            write_wait: WRITE_WAIT,
            outbox: OUTBOX,
        }
    }
}

/// Counters kept by the hub thread.
#[derive(Debug, Default)]
pub struct HubStats {
    /// Frames published: fanned out to every subscriber's outbox (or
    /// refused by a full one). Updated after the other counters.
    pub published: AtomicU64,
    /// Frames queued into outboxes (one per subscriber per publish).
    pub delivered: AtomicU64,
    /// Subscribers dropped because their outbox was full.
    pub dropped: AtomicU64,
    /// Subscribers right now.
    pub subscribers: AtomicUsize,
}

/// What the hub keeps per subscriber.
#[derive(Debug)]
struct Subscriber {
    outbox: Sender<Frame>,
    kicked: Arc<AtomicBool>,
}

/// A join request: the subscriber's id, its outbox, and the flag the hub
/// sets when it drops the subscriber for being too slow.
#[derive(Debug)]
struct Join {
    id: u64,
    outbox: Sender<Frame>,
    kicked: Arc<AtomicBool>,
    /// Answered once the subscriber is in the set.
    ack: Sender<()>,
}

/// A handle to the hub thread. Cheap to clone; every clone talks to the
/// same hub. The hub thread ends when [`Hub::stop`] is called or every
/// handle is gone.
#[derive(Clone, Debug)]
pub struct Hub {
    joins: Sender<Join>,
    leaves: Sender<u64>,
    publishes: Sender<Frame>,
    stop: Sender<()>,
    next_id: Arc<AtomicU64>,
    stats: Arc<HubStats>,
    thread: Arc<std::sync::Mutex<Option<JoinHandle<()>>>>,
}

impl Hub {
    /// Starts the hub thread.
    pub fn start() -> Hub {
        let (joins, join_rx) = unbounded::<Join>();
        let (leaves, leave_rx) = unbounded::<u64>();
        let (publishes, publish_rx) = unbounded::<Frame>();
        let (stop, stop_rx) = bounded::<()>(1);
        let stats = Arc::new(HubStats::default());
        let thread_stats = Arc::clone(&stats);
        let thread = thread::Builder::new()
            .name("hub".into())
            .stack_size(crate::server::DEFAULT_STACK_SIZE)
            .spawn(move || hub_loop(join_rx, leave_rx, publish_rx, stop_rx, &thread_stats))
            .expect("spawning the hub thread");
        Hub {
            joins,
            leaves,
            publishes,
            stop,
            next_id: Arc::new(AtomicU64::new(1)),
            stats,
            thread: Arc::new(std::sync::Mutex::new(Some(thread))),
        }
    }

    /// Registers a subscriber whose frames go to `outbox`; returns its id
    /// once the hub has it, so every publish after this call reaches it.
    /// `kicked` is set if the hub drops it for a full outbox.
    pub fn join(&self, outbox: Sender<Frame>, kicked: Arc<AtomicBool>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (ack, acked) = bounded(1);
        if self
            .joins
            .send(Join {
                id,
                outbox,
                kicked,
                ack,
            })
            .is_ok()
        {
            let _ = acked.recv();
        }
        id
    }

    /// Removes a subscriber (no-op if already gone).
    pub fn leave(&self, id: u64) {
        let _ = self.leaves.send(id);
    }

    /// Sends `text` to every subscriber as one text frame, encoded once.
    pub fn publish_text(&self, text: &str) {
        self.publish_frame(server_frame(OpCode::Text, text.as_bytes()).into());
    }

    /// Sends an already encoded frame to every subscriber.
    pub fn publish_frame(&self, frame: Frame) {
        let _ = self.publishes.send(frame);
    }

    /// The hub's counters.
    pub fn stats(&self) -> &HubStats {
        &self.stats
    }

    /// Subscribers right now (as of the hub thread's last event).
    pub fn subscribers(&self) -> usize {
        self.stats.subscribers.load(Ordering::SeqCst)
    }

    /// Stops the hub thread and waits for it. Subscribers' outboxes are
    /// closed, so their writer threads end.
    pub fn stop(&self) {
        let _ = self.stop.try_send(());
        let handle = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

fn hub_loop(
    joins: Receiver<Join>,
    leaves: Receiver<u64>,
    publishes: Receiver<Frame>,
    stop: Receiver<()>,
    stats: &HubStats,
) {
    let mut subscribers: HashMap<u64, Subscriber> = HashMap::new();
    loop {
        select! {
            recv(joins) -> join => {
                let Ok(join) = join else { break };
                subscribers.insert(join.id, Subscriber { outbox: join.outbox, kicked: join.kicked });
                stats.subscribers.store(subscribers.len(), Ordering::SeqCst);
                let _ = join.ack.send(());
                log::debug!("hub: #{} joined ({} subscribers)", join.id, subscribers.len());
            }
            recv(leaves) -> id => {
                let Ok(id) = id else { break };
                if subscribers.remove(&id).is_some() {
                    log::debug!("hub: #{id} left ({} subscribers)", subscribers.len());
                }
            }
            recv(publishes) -> frame => {
                let Ok(frame) = frame else { break };
                let mut delivered = 0;
                subscribers.retain(|id, sub| match sub.outbox.try_send(Arc::clone(&frame)) {
                    Ok(()) => {
                        delivered += 1;
                        true
                    }
                    Err(TrySendError::Full(_)) => {
                        log::warn!(
                            "hub: dropping #{id}: its outbox is full ({} frames waiting), it reads too slowly; closing with {}",
                            sub.outbox.len(),
                            TOO_SLOW.0
                        );
                        sub.kicked.store(true, Ordering::SeqCst);
                        stats.dropped.fetch_add(1, Ordering::SeqCst);
                        false
                    }
                    Err(TrySendError::Disconnected(_)) => false,
                });
                stats.delivered.fetch_add(delivered, Ordering::SeqCst);
                stats.subscribers.store(subscribers.len(), Ordering::SeqCst);
                // Counted last: whoever sees `published` reach n sees the
                // n-th frame in every outbox and the other counters with it.
                stats.published.fetch_add(1, Ordering::SeqCst);
            }
            recv(stop) -> _ => break,
        }
        stats.subscribers.store(subscribers.len(), Ordering::SeqCst);
    }
    stats.subscribers.store(0, Ordering::SeqCst);
    log::debug!("hub: stopped");
}

/// Why a subscriber's connection ended.
#[derive(Debug)]
pub enum Departure {
    /// The client sent a close frame.
    Closed(Option<CloseFrame>),
    /// Nothing (not even a pong) arrived for [`SubscriberConfig::pong_wait`].
    Silent,
    /// The hub dropped it: its outbox was full.
    TooSlow,
    /// The connection broke (reset, closed without a close frame, protocol error).
    Broken(Error),
}

impl std::fmt::Display for Departure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Departure::Closed(Some(frame)) => write!(f, "closed by the client ({frame})"),
            Departure::Closed(None) => f.write_str("closed by the client"),
            Departure::Silent => f.write_str("no pong in time: presumed dead"),
            Departure::TooSlow => f.write_str("dropped: outbox full, reading too slowly"),
            Departure::Broken(e) => write!(f, "connection broke: {e}"),
        }
    }
}

/// A text message from a subscriber, with what it cost on the wire.
#[derive(Debug)]
pub struct Incoming {
    /// The subscriber's id in the hub.
    pub id: u64,
    /// The text.
    pub text: String,
    /// Frames, header bytes and payload bytes it arrived in.
    pub wire: WireStats,
}

/// Runs one subscriber connection to its end, on the calling thread.
///
/// Joins the hub, calls `greet` with the writer (to send a welcome or the
/// recent history: it runs before any broadcast frame is written, and
/// broadcasts that arrive meanwhile wait in the outbox, so nothing is lost
/// or reordered), starts the writer thread, then reads: each text message
/// goes to `on_text`, binary messages close the connection with 1003 (this
/// hub speaks text). Leaves the hub on every way out, and says which.
pub fn serve_subscriber(
    ws: WebSocket,
    hub: &Hub,
    config: &SubscriberConfig,
    greet: impl FnOnce(&Writer) -> Result<(), Error>,
    mut on_text: impl FnMut(Incoming),
) -> Departure {
    let (mut reader, writer) = ws.split();
    let (tx, rx) = bounded::<Frame>(config.outbox.max(1));
    let kicked = Arc::new(AtomicBool::new(false));
    let id = hub.join(tx, Arc::clone(&kicked));

    if let Err(e) = greet(&writer) {
        hub.leave(id);
        return Departure::Broken(e);
    }
    let _ = writer.set_write_timeout(Some(config.write_wait));
    let pump = {
        let writer = writer.clone();
        let kicked = Arc::clone(&kicked);
        let period = config.ping_period;
        thread::Builder::new()
            .name(format!("writer-{id}"))
            .stack_size(crate::server::DEFAULT_STACK_SIZE)
            .spawn(move || write_pump(&rx, &writer, &kicked, period))
    };
    let pump = match pump {
        Ok(handle) => handle,
        Err(e) => {
            hub.leave(id);
            writer.abort();
            return Departure::Broken(Error::Io(e));
        }
    };

    let _ = reader.set_read_timeout(Some(config.pong_wait));
    let departure = loop {
        match reader.read() {
            Ok(Message::Text(text)) => on_text(Incoming {
                id,
                text,
                wire: reader.last_message_wire(),
            }),
            Ok(Message::Binary(_)) => {
                let _ = writer.close(Some(CloseFrame::new(CloseCode::UNSUPPORTED_DATA, "text messages only")));
                break Departure::Closed(None);
            }
            Ok(Message::Close(frame)) => break Departure::Closed(frame),
            Ok(Message::Ping(_) | Message::Pong(_)) => {} // proof of life; the read timeout restarts
            Err(e) if e.is_timeout() => {
                writer.abort();
                break Departure::Silent;
            }
            Err(_) if kicked.load(Ordering::SeqCst) => break Departure::TooSlow,
            Err(e) => break Departure::Broken(e),
        }
    };
    hub.leave(id);
    // The hub drops our outbox sender on leave; the pump sees the channel
    // disconnect and ends. Abort in case it is blocked writing.
    if !matches!(departure, Departure::Closed(_)) {
        writer.abort();
    }
    let _ = pump.join();
    if kicked.load(Ordering::SeqCst) {
        return Departure::TooSlow;
    }
    departure
}

/// The smallest broadcast server (what `examples/ws_broadcast.rs` runs):
/// every text message a client sends goes out verbatim to every connected
/// client, the sender included. Any path is accepted. Returns the server's
/// handle and its hub.
pub fn spawn_relay(
    addr: impl std::net::ToSocketAddrs,
    server: crate::server::ServerConfig,
    subscriber: SubscriberConfig,
) -> std::io::Result<(crate::server::ServerHandle, Hub)> {
    let hub = Hub::start();
    let bound = crate::server::Server::bind(addr, server)?;
    let relay_hub = hub.clone();
    let options = crate::websocket::AcceptConfig::default();
    let handle = bound.spawn(move |stream, info| {
        let ws = match crate::websocket::accept_with(stream, &options) {
            Ok(ws) => ws,
            Err(e) => {
                log::info!("{info}: handshake failed: {e}");
                return;
            }
        };
        log::info!("{info}: joined ({} connected)", relay_hub.subscribers() + 1);
        let publisher = relay_hub.clone();
        let departure = serve_subscriber(
            ws,
            &relay_hub,
            &subscriber,
            |_| Ok(()),
            |msg| publisher.publish_text(&msg.text),
        );
        log::info!("{info}: left, {departure}");
    });
    Ok((handle, hub))
}

/// The writer thread: drains the outbox into the socket and pings on a
/// timer, until the outbox is closed or a write fails.
fn write_pump(outbox: &Receiver<Frame>, writer: &Writer, kicked: &AtomicBool, ping_period: Duration) {
    let ticker = tick(ping_period);
    // Frames that queued up while we were writing go out together, in one
    // write: fewer system calls exactly when the client is falling behind.
    let mut batch: Vec<u8> = Vec::new();
    loop {
        select! {
            recv(outbox) -> frame => {
                if kicked.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(frame) = frame else { break };
                let sent = if outbox.is_empty() {
                    writer.send_encoded(&frame)
                } else {
                    batch.clear();
                    batch.extend_from_slice(&frame);
                    while batch.len() < BATCH_BYTES {
                        match outbox.try_recv() {
                            Ok(more) => batch.extend_from_slice(&more),
                            Err(_) => break,
                        }
                    }
                    writer.send_encoded(&batch)
                };
                if let Err(e) = sent {
                    stop_pumping(writer, &e);
                    return;
                }
            }
            recv(ticker) -> _ => {
                if let Err(e) = writer.ping(b"") {
                    stop_pumping(writer, &e);
                    return;
                }
            }
        }
    }
    if kicked.load(Ordering::SeqCst) {
        // Say why, if the socket still takes it (within the write timeout),
        // then cut the connection so the reader thread ends too.
        let _ = writer.close(Some(CloseFrame::new(TOO_SLOW, "outbox full: reading too slowly")));
        writer.abort();
    }
}

/// The pump cannot send any more. If the socket broke, cut the connection
/// so the reader thread ends too. If the connection is merely closing (the
/// reader answered a close frame, or failed the connection with a close
/// code and is now draining the peer's input), leave the socket alone: the
/// reader owns the end of the connection, and cutting it here would reset
/// TCP under the close frame still in flight, so the peer would never
/// learn the close code.
fn stop_pumping(writer: &Writer, e: &Error) {
    if !matches!(e, Error::ConnectionClosed | Error::AlreadyClosing) {
        writer.abort();
    }
}

/// Most bytes of queued frames joined into one write.
const BATCH_BYTES: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    /// Longest any step of these tests may take: nothing blocks forever.
    const WAIT: Duration = Duration::from_secs(5);

    fn wait_for(mut cond: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + WAIT;
        while !cond() {
            assert!(std::time::Instant::now() < deadline, "condition never became true");
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
        wait_for(|| hub.subscribers() == 3);
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
    fn a_full_outbox_drops_only_that_subscriber() {
        let hub = Hub::start();
        let (slow_tx, _slow_rx) = bounded(2);
        let slow_kicked = Arc::new(AtomicBool::new(false));
        hub.join(slow_tx, Arc::clone(&slow_kicked));
        let (fast_tx, fast_rx) = bounded(100);
        hub.join(fast_tx, Arc::new(AtomicBool::new(false)));
        wait_for(|| hub.subscribers() == 2);
        for i in 0..10 {
            hub.publish_text(&i.to_string());
        }
        wait_for(|| hub.stats().published.load(Ordering::SeqCst) == 10);
        assert!(slow_kicked.load(Ordering::SeqCst));
        assert_eq!(hub.subscribers(), 1);
        assert_eq!(fast_rx.len(), 10, "the fast subscriber got everything");
        assert_eq!(hub.stats().dropped.load(Ordering::SeqCst), 1);
        hub.stop();
    }

    #[test]
    fn leave_removes_and_stop_disconnects_outboxes() {
        let hub = Hub::start();
        let (tx, rx) = bounded(4);
        let id = hub.join(tx, Arc::new(AtomicBool::new(false)));
        wait_for(|| hub.subscribers() == 1);
        hub.leave(id);
        wait_for(|| hub.subscribers() == 0);
        assert_eq!(
            rx.recv_timeout(WAIT),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected),
            "the hub dropped the sender"
        );
        hub.stop();
    }
}
