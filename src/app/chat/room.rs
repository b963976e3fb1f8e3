//! The room: the event log every transport reads, the hub that pushes to
//! WebSocket pages, and who is online. Every event (message, join, leave)
//! gets its id here, and the same JSON goes to the hub and into the log.

use std::io;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

use super::presence::{JoinRefused, Presence, Via};
use super::validate::JoinRequest;
use crate::app::events::{now_ms, EventLog};
use crate::app::json::escape;
use crate::app::rate::{Bucket, Buckets, Rate};
use crate::broadcast::{Hub, Incoming, SubscriberConfig};
use crate::deflate::WindowBits;
use crate::http::{HttpConfig, HttpServer, Router, SitePolicy};
use crate::limits::ServerBudget;
use crate::server::ServerHandle;
use crate::websocket::Compression;

/// The page.
pub const INDEX_HTML: &str = include_str!("index.html");
/// The page's script.
pub const CHAT_JS: &str = include_str!("chat.js");
/// The page's style sheet.
pub const CHAT_CSS: &str = include_str!("chat.css");

/// Events replayed to a newcomer.
pub const HISTORY: usize = 50;
/// Events kept for pollers that fall behind.
pub const KEEP: usize = 1000;
/// Long polls held at once (each holds a connection thread).
pub const MAX_WAITING: usize = 1000;

/// What one person, one address and everyone together may do in the chat.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChatLimits {
    /// People online at once; the next newcomer is told the chat is full.
    pub max_online: usize,
    /// Messages one person may send: a burst, then a rate. A message over
    /// it is refused with a reason, never queued.
    pub says: Rate,
    /// Joins from one address (a new tab, a transport switch, a reconnect
    /// are each a join).
    pub joins_per_address: Rate,
    /// Joins from everyone together: every join is announced to every
    /// page, so this bounds what a storm of joins makes the pages receive.
    pub joins: Rate,
    /// How long a new WebSocket may take to send its join, in total.
    pub join_wait: Duration,
}

/// Default [`ChatLimits::max_online`].
pub const MAX_ONLINE: usize = 1000;
/// Default [`ChatLimits::says`]: ten messages at once, then one a second.
pub const SAYS: Rate = Rate {
    burst: 10,
    per_second: 1.0,
};
/// Default [`ChatLimits::joins_per_address`]: twenty, then one a second.
pub const JOINS_PER_ADDRESS: Rate = Rate {
    burst: 20,
    per_second: 1.0,
};
/// Default [`ChatLimits::joins`]: two hundred, then twenty a second.
pub const JOINS: Rate = Rate {
    burst: 200,
    per_second: 20.0,
};
/// Addresses whose join rate is tracked at once.
const JOIN_ADDRESSES: usize = 4096;

impl Default for ChatLimits {
    fn default() -> Self {
        ChatLimits {
            max_online: MAX_ONLINE,
            says: SAYS,
            joins_per_address: JOINS_PER_ADDRESS,
            joins: JOINS,
            join_wait: super::session::JOIN_WAIT,
        }
    }
}

/// Everything a chat server is started with.
#[derive(Clone, Debug)]
pub struct ChatConfig {
    /// Keepalive and outbox of the WebSocket pages.
    pub subscriber: SubscriberConfig,
    /// What people and addresses may do.
    pub limits: ChatLimits,
    /// The HTTP server: its [`SitePolicy`] (same-origin by default), its
    /// request limits, its connection cap and share per address.
    pub http: HttpConfig,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            subscriber: SubscriberConfig::default(),
            limits: ChatLimits::default(),
            // The limits stated in crate::limits, same-origin, and the
            // wire headers the page's panel shows.
            http: HttpConfig {
                wire_headers: true,
                site: Some(SitePolicy::same_origin()),
                ..ServerBudget::chat().http_config()
            },
        }
    }
}

/// Who may join right now: a rate per address and one for everyone.
#[derive(Debug)]
struct JoinGate {
    per_address: Buckets<IpAddr>,
    everyone: Bucket,
    rate: Rate,
}

/// The chat's state: the hub, the event log, who is online.
#[derive(Debug)]
pub struct Chat {
    pub(super) hub: Hub,
    /// Each event's JSON, shared: a poll answer points at it rather than
    /// copying it (`crate::http::Piece`).
    pub(super) log: EventLog<Arc<str>>,
    /// Held while an event is added to the log *and* published, so every
    /// subscriber sees events in id order.
    order: Mutex<()>,
    presence: Presence,
    /// When this chat started (ms since the Unix epoch): a page that sees it
    /// change knows the ids started again at 1.
    pub(super) epoch: u64,
    pub(super) subscriber: SubscriberConfig,
    pub(super) limits: ChatLimits,
    joins: Mutex<JoinGate>,
}

impl Chat {
    /// A chat whose WebSocket subscribers use `subscriber` timing.
    ///
    /// A polling tab has no connection whose end the server could notice; it
    /// says goodbye (`POST /api/chat/leave`, sent by the page as it unloads),
    /// but a browser that crashes or a laptop that sleeps never does. So
    /// polling tabs that have not polled for twice `subscriber.pong_wait` are
    /// presumed gone, like a WebSocket that sends nothing (twice, because a
    /// browser may slow the timers of a background tab to one a minute): a
    /// thread checks every eighth of that time.
    pub fn new(subscriber: SubscriberConfig) -> Arc<Chat> {
        Chat::with_limits(subscriber, ChatLimits::default())
    }

    /// A chat with the given limits; see [`Chat::new`].
    pub fn with_limits(subscriber: SubscriberConfig, limits: ChatLimits) -> Arc<Chat> {
        let chat = Arc::new(Chat {
            hub: Hub::start(),
            log: EventLog::new(KEEP, MAX_WAITING),
            order: Mutex::new(()),
            presence: Presence::new(limits.max_online, limits.says),
            epoch: now_ms(),
            subscriber,
            limits,
            joins: Mutex::new(JoinGate {
                per_address: Buckets::new(limits.joins_per_address, JOIN_ADDRESSES),
                everyone: Bucket::full(limits.joins),
                rate: limits.joins,
            }),
        });
        let weak: Weak<Chat> = Arc::downgrade(&chat);
        let period = (subscriber.pong_wait / 4).clamp(Duration::from_millis(10), Duration::from_secs(5));
        let _ = thread::Builder::new()
            .name("chat-pollers".into())
            .stack_size(crate::server::DEFAULT_STACK_SIZE)
            .spawn(move || loop {
                thread::sleep(period);
                match weak.upgrade() {
                    Some(chat) => chat.forget_silent_pollers(),
                    None => break,
                }
            });
        chat
    }

    /// The hub (for its counters).
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// People online: distinct nicknames with at least one tab open
    /// (a WebSocket, or a polling page that joined and did not leave).
    pub fn online(&self) -> usize {
        self.presence.online()
    }

    /// When this chat started, in ms since the Unix epoch (the `epoch` field
    /// of the history and of every poll answer).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// A tab joins `via` from `peer`: within the join rates, under a
    /// nickname that is free or with its owner's token, while there is
    /// room. The join is announced only if it is the person's first tab.
    /// Returns the person's session token, or why not (for the page).
    pub(super) fn arrive(&self, join: &JoinRequest, via: Via, peer: IpAddr) -> Result<String, Refusal> {
        self.within_join_rates(peer)?;
        self.enter(join, via)
    }

    /// Whether a tab from `peer` may join as `join` asks, counting it
    /// against the join rates but not joining yet (a WebSocket page is
    /// told before it subscribes; it enters once subscribed).
    pub(super) fn may_arrive(&self, join: &JoinRequest, peer: IpAddr) -> Result<(), Refusal> {
        self.within_join_rates(peer)?;
        self.presence
            .may_join(&join.nick, join.token.as_deref())
            .map_err(|e| refusal(&e, &join.nick))
    }

    /// The join itself: presence, the token, the announcement.
    pub(super) fn enter(&self, join: &JoinRequest, via: Via) -> Result<String, Refusal> {
        self.presence
            .join(&join.nick, join.token.as_deref(), via, |online| {
                self.announce_presence("join", &join.nick, online)
            })
            .map_err(|e| refusal(&e, &join.nick))
    }

    fn within_join_rates(&self, peer: IpAddr) -> Result<(), Refusal> {
        let mut gate = self.joins.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if let Err(wait) = gate.per_address.take(&peer, now) {
            return Err(Refusal::Busy(
                format!(
                    "too many joins from your address (at most {}): try again in {} s",
                    self.limits.joins_per_address.describe(),
                    wait.as_secs() + 1
                ),
                Some(wait),
            ));
        }
        let rate = gate.rate;
        if let Err(wait) = gate.everyone.take(rate, now) {
            return Err(Refusal::Busy(
                format!("too many people joining at once: try again in {} s", wait.as_secs() + 1),
                Some(wait),
            ));
        }
        Ok(())
    }

    /// `nick` wants to say something: within their rate, or why not.
    pub(super) fn may_say(&self, nick: &str) -> Result<(), Refusal> {
        self.presence.may_say(nick).map_err(|wait| {
            Refusal::Busy(
                format!(
                    "you are sending faster than {}: this message was not sent; wait {:.1} s",
                    self.limits.says.describe(),
                    wait.as_secs_f64()
                ),
                Some(wait),
            )
        })
    }

    /// The person a session token belongs to.
    pub(super) fn who(&self, token: &str) -> Option<String> {
        self.presence.who(token)
    }

    /// A tab of `nick` connected `via` is gone; the leave is announced when
    /// it was the person's last tab. Returns false if there was no such tab.
    pub(super) fn depart(&self, nick: &str, via: Via) -> bool {
        self.presence
            .depart(nick, via, |online| self.announce_presence("leave", nick, online))
    }

    /// A polling tab of the person holding `token` is still there: it polled.
    pub(super) fn polled(&self, token: &str) {
        self.presence.polled(token);
    }

    /// Polling tabs that have not polled for twice `pong_wait` are gone; a
    /// person left with no tab at all has left.
    fn forget_silent_pollers(&self) {
        self.presence
            .forget_silent_pollers(self.subscriber.pong_wait * 2, |nick, online| {
                self.announce_presence("leave", nick, online)
            });
    }

    /// Adds an event to the log and pushes it to every WebSocket subscriber.
    fn announce(&self, make: impl FnOnce(u64) -> String) -> u64 {
        let _order = self.order.lock().unwrap_or_else(|p| p.into_inner());
        let mut json: Arc<str> = Arc::from("");
        let id = self.log.push_with(|id| {
            json = make(id).into();
            Arc::clone(&json)
        });
        self.hub.publish_text(&json);
        id
    }

    fn announce_presence(&self, kind: &str, nick: &str, online: usize) {
        self.announce(|id| {
            format!(
                r#"{{"type":"{kind}","id":{id},"nick":{},"online":{online},"ts":{}}}"#,
                escape(nick),
                now_ms()
            )
        });
    }

    /// Announces a message; `wire` is how it arrived over WebSocket, if it
    /// did. Pages that negotiated permessage-deflate cannot see how big the
    /// message was on the wire, so a size report follows it (see
    /// [`wire_note`]).
    pub(super) fn announce_message(&self, nick: &str, text: &str, wire: Option<&Incoming>) -> u64 {
        let frame = wire.map_or(String::new(), |m| {
            format!(
                r#","frame":{{"frames":{},"header":{},"payload":{},"deflated":{}}}"#,
                m.wire.frames, m.wire.header_bytes, m.wire.payload_bytes, m.wire.compressed
            )
        });
        let mut note = None;
        let id = self.announce(|id| {
            let json = format!(
                r#"{{"type":"message","id":{id},"nick":{},"text":{},"ts":{}{frame}}}"#,
                escape(nick),
                escape(text),
                now_ms()
            );
            note = wire_note(id, &json, &self.hub.config().compression);
            json
        });
        if let Some(note) = note {
            self.hub.publish_text(&note);
        }
        id
    }

    /// The events after `since` as a JSON array (at most [`HISTORY`] when
    /// `since` is 0, so a newcomer gets recent history, not everything).
    pub(super) fn events_json(&self, since: u64) -> String {
        let events = if since == 0 || since > self.log.last_id() {
            self.log.recent(HISTORY)
        } else {
            self.log.since(since)
        };
        let items: Vec<&str> = events.iter().map(|(_, e)| &**e).collect();
        format!("[{}]", items.join(","))
    }

    /// Every route of the chat: the page, `/ws`, and the polling API.
    pub fn router(self: &Arc<Self>) -> Router {
        let mut r = Router::new();
        r.asset("/", "text/html; charset=utf-8", INDEX_HTML.as_bytes())
            .asset("/chat.js", "text/javascript; charset=utf-8", CHAT_JS.as_bytes())
            .asset("/chat.css", "text/css; charset=utf-8", CHAT_CSS.as_bytes());
        let chat = Arc::clone(self);
        r.upgrade("/ws", move |up| chat.serve_websocket(up));
        let chat = Arc::clone(self);
        r.post("/api/chat/join", move |req| chat.poll_join(req));
        let chat = Arc::clone(self);
        r.post("/api/chat/say", move |req| chat.poll_say(req));
        let chat = Arc::clone(self);
        r.post("/api/chat/leave", move |req| chat.poll_leave(req));
        let chat = Arc::clone(self);
        r.get("/api/chat/poll", move |req| chat.poll(req));
        r
    }

    /// The `since` a joining page asked for, if it is about this chat: a page
    /// that last talked to an earlier run of the server (another `epoch`)
    /// gets the recent history instead.
    pub(super) fn since(&self, join: &JoinRequest) -> u64 {
        let since = join.since.unwrap_or(0.0);
        let same_epoch = join.epoch.map_or(true, |e| e as u64 == self.epoch);
        if same_epoch && since >= 0.0 {
            since as u64
        } else {
            0
        }
    }
}

/// Why the chat refused a join or a message: what the page is told, and
/// how the refusal travels.
#[derive(Clone, Debug, PartialEq)]
pub enum Refusal {
    /// The nickname is someone else's: HTTP 409, WebSocket 1008.
    InUse(String),
    /// Full, or over a rate: HTTP 503 or 429 (with `Retry-After` when the
    /// wait is known), WebSocket 1013 (try again later).
    Busy(String, Option<Duration>),
}

impl Refusal {
    /// What the page shows.
    pub fn reason(&self) -> &str {
        match self {
            Refusal::InUse(why) | Refusal::Busy(why, _) => why,
        }
    }
}

fn refusal(e: &JoinRefused, nick: &str) -> Refusal {
    match e {
        JoinRefused::InUse => Refusal::InUse(e.reason(nick)),
        JoinRefused::Full(_) => Refusal::Busy(e.reason(nick), None),
    }
}

/// `{"type":"wire","id":N,"bytes":U,"deflated":C}`: event N's JSON is `U`
/// bytes; pages that negotiated permessage-deflate the way browsers do
/// (the server's full 15-bit window) received it as `C` bytes of compressed
/// payload. `C` comes from the hub's own compressor with the hub's settings
/// ([`crate::broadcast::deflated`]), so it is the payload those pages were
/// sent, byte for byte. `None` when the hub sends the event uncompressed
/// (under the threshold, or compression off). The note itself is under the
/// threshold: it goes out uncompressed and needs no note of its own.
pub fn wire_note(id: u64, json: &str, compression: &Compression) -> Option<String> {
    let deflated = crate::broadcast::deflated(json.as_bytes(), WindowBits::MAX, compression)?;
    Some(format!(
        r#"{{"type":"wire","id":{id},"bytes":{},"deflated":{}}}"#,
        json.len(),
        deflated.len()
    ))
}

/// Starts the chat on `addr` with the default limits (HTTP with the wire
/// headers on, same-origin). Returns the server's handle and the chat state.
pub fn spawn(addr: impl ToSocketAddrs, subscriber: SubscriberConfig) -> io::Result<(ServerHandle, Arc<Chat>)> {
    spawn_with(
        addr,
        ChatConfig {
            subscriber,
            ..ChatConfig::default()
        },
    )
}

/// Starts the chat on `addr` with `config`.
pub fn spawn_with(addr: impl ToSocketAddrs, config: ChatConfig) -> io::Result<(ServerHandle, Arc<Chat>)> {
    let chat = Chat::with_limits(config.subscriber, config.limits);
    let handle = HttpServer::with_config(chat.router(), config.http).spawn(addr)?;
    Ok((handle, chat))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_logged_and_published_in_the_same_order() {
        let chat = Chat::new(SubscriberConfig::default());
        let (tx, rx) = crossbeam_channel::bounded(16);
        chat.hub.join(tx, Default::default());
        chat.announce_message("a", "one", None);
        let join = JoinRequest {
            nick: "b".into(),
            token: None,
            since: None,
            epoch: None,
        };
        chat.arrive(&join, Via::Polling, IpAddr::from([127, 0, 0, 1])).unwrap();
        let logged: Vec<Arc<str>> = chat.log.since(0).into_iter().map(|(_, e)| e).collect();
        let mut published = std::iter::from_fn(|| {
            let frame = rx.recv_timeout(std::time::Duration::from_secs(5)).ok()?;
            let (_, header_len) = crate::websocket::frame::FrameHeader::parse(&frame).unwrap().unwrap();
            Some(frame[header_len..].to_vec())
        });
        for event in &logged {
            let payload = published.next().unwrap();
            assert_eq!(payload, event.as_bytes());
            if event.contains(r#""type":"message""#) {
                // Its size note follows it, and is not an event.
                let note = String::from_utf8(published.next().unwrap()).unwrap();
                assert!(note.starts_with(r#"{"type":"wire","id":1,"#), "{note}");
            }
        }
        assert!(logged[0].contains(r#""id":1"#) && logged[1].contains(r#""type":"join""#));
        chat.hub.stop();
    }
}
