//! A subscriber connection, from its join to its departure.

use std::sync::Arc;
use std::time::Instant;

use super::config::SubscriberConfig;
use super::hub::{Hub, Member};
use super::outbox::{Gone, Outbox};
use crate::websocket::decode::WireStats;
use crate::websocket::{CloseCode, CloseFrame, Error, Message, WebSocket, Writer};

/// Why a subscriber's connection ended.
#[derive(Debug)]
pub enum Departure {
    /// The client sent a close frame.
    Closed(Option<CloseFrame>),
    /// Nothing (not even a pong) arrived for [`SubscriberConfig::pong_wait`].
    Silent,
    /// It stopped taking frames: its socket took nothing for
    /// [`SubscriberConfig::write_wait`], or took nothing for
    /// [`SubscriberConfig::room_wait`] while its full outbox held up
    /// everyone else. It was sent a close frame with 1008 if it took one
    /// within [`super::CLOSE_GRACE`].
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
            Departure::TooSlow => f.write_str("dropped: it stopped taking frames"),
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

/// Runs one subscriber connection to its end, on the calling thread, which
/// becomes its reader thread.
///
/// Joins the hub, calls `greet` with the writer (to send a welcome or the
/// recent history: it runs before any broadcast frame is written, and
/// broadcasts that arrive meanwhile wait in the outbox, so nothing is lost
/// or reordered), then reads: each text message goes to `on_text`, binary
/// messages close the connection with 1003 (this hub speaks text). The hub
/// writes the broadcast frames and the pings; a writer thread exists only
/// while frames wait for room in the socket. Leaves the hub on every way
/// out, and says which.
///
/// `on_text` may publish: if the hub is busy it waits, this thread stops
/// reading, and TCP slows the client down (flow control). A client that
/// publishes must keep reading meanwhile, as browsers do; one that sends
/// without reading would wait on itself until it is dropped for not
/// reading.
pub fn serve_subscriber(
    ws: WebSocket,
    hub: &Hub,
    config: &SubscriberConfig,
    greet: impl FnOnce(&Writer) -> Result<(), Error>,
    mut on_text: impl FnMut(Incoming),
) -> Departure {
    let (mut reader, writer) = ws.split();
    let _ = writer.set_write_timeout(Some(config.write_wait));
    let id = hub.next_id();
    let outbox = Outbox::new(id, writer.clone(), *config, Arc::clone(&hub.shared().stats));
    hub.add(id, Member::Socket(Arc::clone(&outbox)));

    if let Err(e) = greet(&writer) {
        outbox.close(Gone::Left);
        hub.leave(id);
        return if outbox.gone() == Some(Gone::TooSlow) {
            Departure::TooSlow
        } else {
            Departure::Broken(e)
        };
    }
    outbox.release();

    let _ = reader.set_read_timeout(Some(config.pong_wait));
    let mut heard = Instant::now();
    let mut shortened = false;
    let departure = loop {
        match reader.read() {
            Ok(message) => {
                heard = Instant::now();
                if shortened {
                    let _ = reader.set_read_timeout(Some(config.pong_wait));
                    shortened = false;
                }
                match message {
                    Message::Text(text) => on_text(Incoming {
                        id,
                        text,
                        wire: reader.last_message_wire(),
                    }),
                    Message::Binary(_) => {
                        let _ = writer.close(Some(CloseFrame::new(CloseCode::UNSUPPORTED_DATA, "text messages only")));
                        break Departure::Closed(None);
                    }
                    Message::Close(frame) => break Departure::Closed(frame),
                    // Proof of life: `heard` is now.
                    Message::Ping(_) | Message::Pong(_) => {}
                }
            }
            Err(e) if e.is_timeout() => {
                // A read can also return early, when it starts just as the
                // hub writes to this socket (see `EncodedWriter::write_now`):
                // only a silence of the whole `pong_wait` counts.
                match config.pong_wait.checked_sub(heard.elapsed()) {
                    Some(left) if !left.is_zero() => {
                        let _ = reader.set_read_timeout(Some(left));
                        shortened = true;
                    }
                    _ => {
                        writer.abort();
                        break Departure::Silent;
                    }
                }
            }
            Err(_) if outbox.gone() == Some(Gone::TooSlow) => break Departure::TooSlow,
            Err(e) => break Departure::Broken(e),
        }
    };
    let too_slow = outbox.gone() == Some(Gone::TooSlow);
    outbox.close(Gone::Left);
    hub.leave(id);
    if !matches!(departure, Departure::Closed(_)) {
        // A writer thread may be blocked on a full socket: cut it loose.
        writer.abort();
    }
    if let Some(thread) = outbox.take_writer_thread() {
        let _ = thread.join();
    }
    if too_slow {
        return Departure::TooSlow;
    }
    departure
}
