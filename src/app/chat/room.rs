//! The room: the event log every transport reads, the hub that pushes to
//! WebSocket pages, and who is online. Every event (message, join, leave)
//! gets its id here, and the same JSON goes to the hub and into the log.

use std::io;
use std::net::ToSocketAddrs;
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::Duration;

use super::presence::{Presence, Via};
use crate::app::events::{now_ms, EventLog};
use crate::app::json::{self, escape};
use crate::broadcast::{Hub, Incoming, SubscriberConfig};
use crate::http::{HttpConfig, HttpServer, Router};
use crate::server::ServerHandle;

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

/// The chat's state: the hub, the event log, who is online.
#[derive(Debug)]
pub struct Chat {
    pub(super) hub: Hub,
    pub(super) log: EventLog<String>,
    /// Held while an event is added to the log *and* published, so every
    /// subscriber sees events in id order.
    order: Mutex<()>,
    presence: Presence,
    /// When this chat started (ms since the Unix epoch): a page that sees it
    /// change knows the ids started again at 1.
    pub(super) epoch: u64,
    pub(super) subscriber: SubscriberConfig,
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
        let chat = Arc::new(Chat {
            hub: Hub::start(),
            log: EventLog::new(KEEP, MAX_WAITING),
            order: Mutex::new(()),
            presence: Presence::default(),
            epoch: now_ms(),
            subscriber,
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

    /// A tab of `nick` connected `via`; the join is announced only if it is
    /// the person's first tab.
    pub(super) fn arrive(&self, nick: &str, via: Via) {
        self.presence
            .arrive(nick, via, |online| self.announce_presence("join", nick, online));
    }

    /// A tab of `nick` connected `via` is gone; the leave is announced when
    /// it was the person's last tab. Returns false if there was no such tab.
    pub(super) fn depart(&self, nick: &str, via: Via) -> bool {
        self.presence
            .depart(nick, via, |online| self.announce_presence("leave", nick, online))
    }

    /// A polling tab of `nick` is still there: it polled.
    pub(super) fn polled(&self, nick: &str) {
        self.presence.polled(nick);
    }

    /// Whether `nick` has a tab open.
    pub(super) fn is_online(&self, nick: &str) -> bool {
        self.presence.is_online(nick)
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
        let mut json = String::new();
        let id = self.log.push_with(|id| {
            json = make(id);
            json.clone()
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

    pub(super) fn announce_message(&self, nick: &str, text: &str, wire: Option<&Incoming>) -> u64 {
        let frame = wire.map_or(String::new(), |m| {
            format!(
                r#","frame":{{"frames":{},"header":{},"payload":{}}}"#,
                m.wire.frames, m.wire.header_bytes, m.wire.payload_bytes
            )
        });
        self.announce(|id| {
            format!(
                r#"{{"type":"message","id":{id},"nick":{},"text":{},"ts":{}{frame}}}"#,
                escape(nick),
                escape(text),
                now_ms()
            )
        })
    }

    /// The events after `since` as a JSON array (at most [`HISTORY`] when
    /// `since` is 0, so a newcomer gets recent history, not everything).
    pub(super) fn events_json(&self, since: u64) -> String {
        let events = if since == 0 || since > self.log.last_id() {
            self.log.recent(HISTORY)
        } else {
            self.log.since(since)
        };
        let items: Vec<String> = events.into_iter().map(|(_, e)| e).collect();
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

    /// The `since` a joining page asked for, if it is about this chat: a page    /// that last talked to an earlier run of the server (another `epoch`)
    /// gets the recent history instead.
    pub(super) fn since(&self, join: &json::Value) -> u64 {
        let since = join.get("since").and_then(json::Value::as_f64).unwrap_or(0.0);
        let same_epoch = join
            .get("epoch")
            .and_then(json::Value::as_f64)
            .map_or(true, |e| e as u64 == self.epoch);
        if same_epoch && since >= 0.0 {
            since as u64
        } else {
            0
        }
    }
}

/// Starts the chat on `addr` (HTTP with the wire headers on). Returns the
/// server's handle and the chat state.
pub fn spawn(addr: impl ToSocketAddrs, subscriber: SubscriberConfig) -> io::Result<(ServerHandle, Arc<Chat>)> {
    let chat = Chat::new(subscriber);
    let config = HttpConfig {
        wire_headers: true,
        ..HttpConfig::default()
    };
    let handle = HttpServer::with_config(chat.router(), config).spawn(addr)?;
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
        chat.arrive("b", Via::Polling);
        let logged: Vec<String> = chat.log.since(0).into_iter().map(|(_, e)| e).collect();
        for event in &logged {
            let frame = rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
            let (_, header_len) = crate::websocket::frame::FrameHeader::parse(&frame).unwrap().unwrap();
            assert_eq!(&frame[header_len..], event.as_bytes());
        }
        assert!(logged[0].contains(r#""id":1"#) && logged[1].contains(r#""type":"join""#));
        chat.hub.stop();
    }
}
