//! The broadcast hub: one message in, the same bytes out to everyone, at
//! the speed of the sockets and never faster.
//!
//! Chat rooms and stock tickers, the uses the notes give for WebSocket
//! ("TCP与WebSocket的区别", "为什么有了HTTP，还需要WebSocket协议？",
//! "WebSocket示例"), are one-to-many: a message from one source goes to
//! every connected client. The shape here:
//!
//! ```text
//!  reader thread ─publish─▶ ┌─────────────────┐  one write of the batch ──▶ client 1
//!  reader thread ─publish─▶ │ hub thread      │  one write of the batch ──▶ client 2
//!  reader thread ─join────▶ │ (publish queue, │  socket full? the rest  ──▶ outbox ─▶ writer thread ─▶ client 3
//!                           │  subscriber set)│  waits in an outbox
//!                           └─────────────────┘
//! ```
//!
//! - The **hub thread** owns the subscriber set; nothing else touches it.
//!   Publishes, joins and leaves reach it through one inbox
//!   (`publish.rs`).
//! - **Encode once, batch what arrives together.** Each publish is one
//!   complete frame; the hub joins the frames waiting into one batch and
//!   writes the same bytes to every socket.
//! - **Compress once per group.** Subscribers that negotiated
//!   permessage-deflate with the same window and no server context
//!   takeover get the same compressed bytes, made once per batch
//!   (`compress.rs`); the others get the frames as published.
//! - **A delivery is one `write`.** The hub writes each batch to each socket
//!   itself, with a write that does not wait (`outbox.rs`): no thread wakes
//!   up. Only a subscriber whose socket is full gets a **writer thread**,
//!   started for the purpose; it drains that subscriber's **outbox** with
//!   vectored writes and ends when it has caught up.
//! - **Flow control, not loss.** Outboxes and the publish queue are bounded
//!   in bytes. When an outbox is full the hub waits for room, the publish
//!   queue fills, publishers wait in [`Hub::publish_text`], their reader
//!   threads stop reading, and TCP's own flow control slows their clients
//!   down. A subscriber that keeps reading is never dropped.
//! - **Isolation.** A subscriber that takes nothing is dropped with 1008:
//!   after [`WRITE_WAIT`] without progress, or after [`ROOM_WAIT`] without
//!   progress while its full outbox holds everyone up; `ROOM_WAIT` is the
//!   most it can delay the others.
//! - **Fairness.** Each [`Publisher`] has its own queue; the hub takes up
//!   to a [`QUANTUM`] from each in turn, so a flood from one client delays
//!   another's message by at most a round.
//! - **One thread per idle subscriber**: its reader. The hub sends the
//!   keepalive pings (RFC 6455 §5.5.2); the reader gives up on a client
//!   that sends nothing, not even a pong, for [`PONG_WAIT`].
//!
//! `docs/broadcast.md` explains each choice with the figures that decided
//! it; `docs/performance.md` has the measurements and how to repeat them.

mod compress;
mod config;
mod hub;
mod outbox;
mod publish;
mod relay;
mod subscriber;

pub use compress::deflated;
pub use config::{
    HubConfig, SubscriberConfig, BATCH_BYTES, CLOSE_GRACE, OUTBOX_BYTES, PING_PERIOD, PONG_WAIT, PUBLISHER_BYTES,
    PUBLISH_QUEUE_BYTES, QUANTUM, RELAY_MAX_MESSAGE, ROOM_WAIT, TOO_SLOW, WRITE_WAIT,
};
pub use hub::{Frame, Hub, HubStats, Publisher};
pub use relay::spawn_relay;
pub use subscriber::{serve_subscriber, Departure, Incoming};
