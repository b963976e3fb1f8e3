//! The numbers that bound the hub, in time and in bytes, with their reasons.

use std::time::Duration;

use crate::websocket::{CloseCode, Compression};

/// How long a client may stay silent (no message, no pong) before it is
/// considered dead. A minute tolerates a busy or briefly suspended peer;
/// a peer that vanished without closing (pulled cable, sleeping laptop)
/// is noticed within this time instead of holding its thread forever.
pub const PONG_WAIT: Duration = Duration::from_secs(60);

/// How often the hub pings each subscriber. Shorter than [`PONG_WAIT`]
/// (9/10 of it, the ratio the gorilla/websocket chat uses) so a live
/// client's pong always arrives before the wait runs out. Pings also keep
/// NAT and proxy entries from expiring on idle connections.
pub const PING_PERIOD: Duration = Duration::from_secs(54);

/// How long a subscriber's socket may take no bytes at all before the
/// subscriber is dropped with [`TOO_SLOW`]. While its outbox has room this
/// costs nobody else anything: its own writer thread waits, the hub and the
/// other subscribers go on. Ten seconds is long enough for a client that is
/// reading over a bad network (a lost segment retransmitted twice, a phone
/// moving between cells) to make some progress, and short enough that a
/// client which stopped reading, or vanished, does not hold its thread and
/// its queue for long.
pub const WRITE_WAIT: Duration = Duration::from_secs(10);

/// How long the hub waits for room in a subscriber's full outbox while that
/// subscriber takes no bytes at all; then it drops the subscriber with
/// [`TOO_SLOW`]. This is the longest one stalled subscriber can hold up the
/// others: their next messages wait while the hub waits. A client that
/// reads, however slowly, takes bytes and is waited for: that is flow
/// control, and it slows the publishers down to its pace. Five seconds,
/// because a client that is reading may still take nothing for a while:
/// TCP retransmits a lost segment after a timeout that starts at one second
/// and doubles on each loss (RFC 6298 §2.1, §5.5), so two losses in a row
/// cost 1 + 2 s; and a client that is busy (a phone, a loaded machine)
/// reads late.
pub const ROOM_WAIT: Duration = Duration::from_secs(5);

/// Bytes that may wait in one subscriber's outbox: frames its socket has
/// not taken yet. Frames are shared, not copied, so the outboxes together
/// hold at most this much distinct data whatever the number of
/// subscribers (each holds the newest part of the same stream). 8 MiB
/// holds [`WRITE_WAIT`] of traffic at 800 KiB/s: below that rate, a
/// subscriber that stops reading is dropped before its outbox fills, so it
/// never holds up the others at all.
pub const OUTBOX_BYTES: usize = 8 << 20;

/// The close code for a subscriber dropped because it stopped taking
/// frames: 1008 (policy violation), since it broke the server's rule "keep
/// reading". 1013 (try again later) would suggest the server was
/// overloaded and a reconnect would help; here the client is the cause.
pub const TOO_SLOW: CloseCode = CloseCode::POLICY;

/// How long a dropped subscriber's connection is kept open for the close
/// frame that says why (after the end of any frame a write had cut
/// short). A client that resumes reading within it learns it was dropped
/// for being too slow; one that does not just sees the connection end.
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Bytes waiting to be fanned out, all publishers together. When it is
/// full, `publish` waits: the publishing thread (a connection's reader)
/// stops reading, and TCP slows its client down.
pub const PUBLISH_QUEUE_BYTES: usize = 1 << 20;

/// Bytes one publisher may have waiting. A publisher with nothing waiting
/// may always add one message, so a flood from others never locks it out.
pub const PUBLISHER_BYTES: usize = 64 << 10;

/// Bytes the hub takes from one publisher before it takes its turn with
/// the next. A message waits behind at most one batch being fanned out
/// plus one quantum of every other publisher with something queued.
pub const QUANTUM: usize = 16 << 10;

/// Most bytes of frames joined into one batch, written to a socket with
/// one `write`. Publishes that arrive together leave together.
pub const BATCH_BYTES: usize = 64 << 10;

/// Largest message the relay (`ws_broadcast`, [`super::spawn_relay`])
/// takes from a client; larger is refused with 1009 from the frame
/// header, before a byte of it is held. A relayed message is copied once
/// into the batch every subscriber shares, so its size, not the number of
/// subscribers, is what it costs; 64 KiB is what one publisher may have
/// waiting ([`PUBLISHER_BYTES`]) and what a message may hold without
/// drawing on a server's budget for unfinished messages
/// ([`crate::budget::MessageBudget::FREE`]), so the relay needs no such
/// budget: all its connections together hold at most 64 KiB each.
pub const RELAY_MAX_MESSAGE: usize = 64 << 10;

/// Timing and capacity of a subscriber connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubscriberConfig {
    /// See [`PONG_WAIT`].
    pub pong_wait: Duration,
    /// See [`PING_PERIOD`].
    pub ping_period: Duration,
    /// See [`WRITE_WAIT`].
    pub write_wait: Duration,
    /// See [`ROOM_WAIT`].
    pub room_wait: Duration,
    /// See [`OUTBOX_BYTES`].
    pub outbox_bytes: usize,
}

impl Default for SubscriberConfig {
    fn default() -> Self {
        SubscriberConfig {
            pong_wait: PONG_WAIT,
            ping_period: PING_PERIOD,
            write_wait: WRITE_WAIT,
            room_wait: ROOM_WAIT,
            outbox_bytes: OUTBOX_BYTES,
        }
    }
}

/// Bounds of the publish queue and of batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HubConfig {
    /// See [`PUBLISH_QUEUE_BYTES`].
    pub queue_bytes: usize,
    /// See [`PUBLISHER_BYTES`].
    pub publisher_bytes: usize,
    /// See [`QUANTUM`].
    pub quantum: usize,
    /// See [`BATCH_BYTES`].
    pub batch_bytes: usize,
    /// How long the hub waits for room in a full channel subscriber (see
    /// `Hub::join`) before dropping it; [`ROOM_WAIT`] by default.
    pub channel_wait: Duration,
    /// How the hub compresses for subscribers that negotiated
    /// permessage-deflate without server context takeover: its `level` and
    /// `threshold` (frames with a shorter payload go out uncompressed);
    /// `enabled: false` sends every subscriber uncompressed frames.
    /// [`Compression::SERVER`] by default, the same as the accepting side.
    pub compression: Compression,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            queue_bytes: PUBLISH_QUEUE_BYTES,
            publisher_bytes: PUBLISHER_BYTES,
            quantum: QUANTUM,
            batch_bytes: BATCH_BYTES,
            channel_wait: ROOM_WAIT,
            compression: Compression::SERVER,
        }
    }
}
