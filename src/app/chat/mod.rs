//! The chat: one page, three transports, one event log.
//!
//! The classroom demo behind `cargo run --example chat`. A page served by
//! our own HTTP server (`index.html`, `chat.css`, `chat.js`, compiled into
//! the binary with `include_str!`) talks to the server in one of three ways,
//! switchable at any time:
//!
//! | transport | how the page learns of a new message |
//! |---|---|
//! | WebSocket (`/ws`) | the server pushes it the moment it exists (the hub, `src/broadcast.rs`) |
//! | long polling (`GET /api/chat/poll?since=N&wait=25&nick=…`) | the held request returns with it |
//! | short polling (`GET /api/chat/poll?since=N&nick=…`, every second) | the next poll picks it up |
//!
//! Every event (message, join, leave) gets an id from one [`EventLog`], and
//! the same JSON goes to WebSocket subscribers and into the log, so a page
//! that switches transport continues exactly where it was. The page's wire
//! panel shows what each message cost: frame header vs payload for WebSocket
//! (the sender's frame as the server measured it, `Reader::last_message_wire`),
//! request and response heads vs bodies for polling (`X-Request-Head-Bytes`,
//! `X-Response-Head-Bytes`).
//!
//! WebSocket protocol (JSON text messages):
//!
//! - page → server: `{"type":"join","nick":"alice"}` first (optionally with
//!   `"since":N,"epoch":E` to continue after event N), then `{"type":"say","text":"hi"}`;
//! - server → page: `{"type":"history","epoch":E,"events":[…]}` once, then events:
//!   `{"type":"message","id":7,"nick":"alice","text":"hi","ts":…,"frame":{…}}`,
//!   `{"type":"join"|"leave","id":8,"nick":"bob","online":2,"ts":…}`;
//! - server → this page only: `{"type":"error","text":"…"}` when a message
//!   was refused (not JSON, empty, too long, a second join, an unknown type).
//!
//! Ids start again at 1 when the server restarts. The `epoch` (the time the
//! chat started, in ms) tells a page that it is talking to a new server, so
//! it must forget the old ids instead of skipping every "already seen" event.
//!
//! Presence counts people, not connections: a nickname is online while at
//! least one tab uses it, over any transport. A second tab with the same
//! nickname is the same person; a tab that switches transport opens the new
//! one before closing the old, so nobody seems to leave and come back.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::io;
use std::net::ToSocketAddrs;
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

use crate::app::events::{now_ms, EventLog};
use crate::app::json::{self, escape};
use crate::app::poll;
use crate::broadcast::{serve_subscriber, Hub, Incoming, SubscriberConfig};
use crate::http::{HttpConfig, HttpServer, Request, Response, Router, Upgrade};
use crate::server::ServerHandle;
use crate::websocket::{self, CloseCode, CloseFrame, Message, ServerOptions};

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
/// Longest nickname, in characters.
pub const MAX_NICK: usize = 24;
/// Longest message, in characters.
pub const MAX_TEXT: usize = 2000;
/// Largest WebSocket message accepted from a page; larger is refused with
/// 1009 before it is buffered.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Long polls held at once (each holds a connection thread).
pub const MAX_WAITING: usize = 1000;
/// How long a new WebSocket may take to send its join message.
pub const JOIN_WAIT: Duration = Duration::from_secs(10);

/// The chat's state: the hub, the event log, who is online.
#[derive(Debug)]
pub struct Chat {
    hub: Hub,
    log: EventLog<String>,
    /// Held while an event is added to the log *and* published, so every
    /// subscriber sees events in id order.
    order: Mutex<()>,
    /// Who is online, and through how many tabs of each kind.
    presence: Mutex<HashMap<String, Tabs>>,
    /// When this chat started (ms since the Unix epoch): a page that sees it
    /// change knows the ids started again at 1.
    epoch: u64,
    subscriber: SubscriberConfig,
}

/// One person's open tabs.
#[derive(Clone, Copy, Debug, Default)]
struct Tabs {
    websocket: usize,
    polling: usize,
    /// When a polling tab of this person last joined or polled
    /// (`GET /api/chat/poll?nick=…`).
    last_poll: Option<Instant>,
}

/// How a tab is connected, for [`Chat::arrive`] and [`Chat::depart`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    WebSocket,
    Polling,
}

impl Tabs {
    fn count(&mut self, via: Via) -> &mut usize {
        match via {
            Via::WebSocket => &mut self.websocket,
            Via::Polling => &mut self.polling,
        }
    }
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
            presence: Mutex::new(HashMap::new()),
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
        self.presence.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// When this chat started, in ms since the Unix epoch (the `epoch` field
    /// of the history and of every poll answer).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// A tab of `nick` connected `via`; the join is announced only if it is
    /// the person's first tab.
    fn arrive(&self, nick: &str, via: Via) {
        let mut presence = self.presence.lock().unwrap_or_else(|p| p.into_inner());
        let tabs = presence.entry(nick.to_string()).or_default();
        let first = tabs.websocket + tabs.polling == 0;
        *tabs.count(via) += 1;
        if via == Via::Polling {
            tabs.last_poll = Some(Instant::now());
        }
        if first {
            // Announced under the presence lock, so "online" counts and ids
            // always go up and down in the same order.
            self.announce_presence("join", nick, presence.len());
        }
    }

    /// A tab of `nick` connected `via` is gone; the leave is announced when
    /// it was the person's last tab. Returns false if there was no such tab.
    fn depart(&self, nick: &str, via: Via) -> bool {
        let mut presence = self.presence.lock().unwrap_or_else(|p| p.into_inner());
        let Some(tabs) = presence.get_mut(nick) else {
            return false;
        };
        let count = tabs.count(via);
        if *count == 0 {
            return false;
        }
        *count -= 1;
        if tabs.websocket + tabs.polling == 0 {
            presence.remove(nick);
            self.announce_presence("leave", nick, presence.len());
        }
        true
    }

    /// A polling tab of `nick` is still there: it polled.
    fn polled(&self, nick: &str) {
        let mut presence = self.presence.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tabs) = presence.get_mut(nick).filter(|t| t.polling > 0) {
            tabs.last_poll = Some(Instant::now());
        }
    }

    /// Polling tabs that have not polled for twice `pong_wait` are gone; a
    /// person left with no tab at all has left.
    fn forget_silent_pollers(&self) {
        let wait = self.subscriber.pong_wait * 2;
        let mut presence = self.presence.lock().unwrap_or_else(|p| p.into_inner());
        let silent: Vec<String> = presence
            .iter()
            .filter(|(_, t)| t.polling > 0 && t.last_poll.map_or(true, |at| at.elapsed() > wait))
            .map(|(nick, _)| nick.clone())
            .collect();
        for nick in silent {
            log::info!("{nick}: no poll for {wait:?}: the polling tab is presumed gone");
            let Some(tabs) = presence.get_mut(&nick) else { continue };
            tabs.polling = 0;
            if tabs.websocket == 0 {
                presence.remove(&nick);
                self.announce_presence("leave", &nick, presence.len());
            }
        }
    }

    fn is_online(&self, nick: &str) -> bool {
        self.presence
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(nick)
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

    fn announce_message(&self, nick: &str, text: &str, wire: Option<&Incoming>) -> u64 {
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
    fn events_json(&self, since: u64) -> String {
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

    /// One WebSocket page, from the Upgrade to its departure.
    fn serve_websocket(&self, up: Upgrade) {
        let info = up.info;
        let Ok(mut ws) = websocket::upgrade(
            up.stream,
            &up.head,
            &up.leftover,
            &ServerOptions::with_max_message(MAX_MESSAGE),
        ) else {
            return;
        };
        let _ = ws.set_read_timeout(Some(JOIN_WAIT));
        let join = match ws.read() {
            Ok(Message::Text(t)) => match json::parse(&t) {
                Ok(v) if v.get("type").and_then(json::Value::as_str) == Some("join") => {
                    check_nick(v.get("nick")).map(|nick| (nick, self.since(&v)))
                }
                Ok(_) => Err("send {\"type\":\"join\",\"nick\":\"...\"} first".to_string()),
                Err(_) => Err("not JSON: send {\"type\":\"join\",\"nick\":\"...\"} first".to_string()),
            },
            Ok(_) => Err("send {\"type\":\"join\",\"nick\":\"...\"} as a text message first".to_string()),
            Err(e) if e.is_timeout() => Err(format!("no join within {} s", JOIN_WAIT.as_secs())),
            Err(_) => return,
        };
        let (nick, since) = match join {
            Ok(join) => join,
            Err(why) => {
                log::info!("{info}: join refused: {why}");
                let _ = ws.send(Message::text(error_json(&why)));
                let _ = ws.close(Some(CloseFrame::new(CloseCode::POLICY, "join refused")));
                return;
            }
        };
        log::info!("{info}: {nick} joined over WebSocket");
        // The writer, kept for answering this page alone (errors).
        let writer_cell: OnceCell<websocket::Writer> = OnceCell::new();
        let greet = |writer: &websocket::Writer| {
            let _ = writer_cell.set(writer.clone());
            // The history as it stands: whatever comes after it (our own
            // join included) is already on its way to the outbox.
            let history = self.events_json(since);
            // Online before the page hears it has joined: a page switching
            // from polling retires its polling tab as soon as the history
            // arrives, and that leave must not find this person gone.
            self.arrive(&nick, Via::WebSocket);
            writer.send_text(&format!(
                r#"{{"type":"history","epoch":{},"events":{history}}}"#,
                self.epoch
            ))
        };
        let on_text = |msg: Incoming| {
            let refused = match json::parse(&msg.text) {
                Ok(v) => match v.get("type").and_then(json::Value::as_str) {
                    Some("say") => match check_text(v.get("text")) {
                        Ok(text) => {
                            self.announce_message(&nick, &text, Some(&msg));
                            return;
                        }
                        Err(why) => why,
                    },
                    Some("join") => format!("already joined as {nick}: one join per connection"),
                    Some(other) => format!(
                        "unknown type {:.40}: send {{\"type\":\"say\",\"text\":\"...\"}}",
                        escape(other)
                    ),
                    None => "no type: send {\"type\":\"say\",\"text\":\"...\"}".to_string(),
                },
                Err(_) => "not JSON: send {\"type\":\"say\",\"text\":\"...\"}".to_string(),
            };
            log::debug!("{info}: refused {:.80}: {refused}", msg.text);
            if let Some(writer) = writer_cell.get() {
                let _ = writer.send_text(&error_json(&refused));
            }
        };
        let departure = serve_subscriber(ws, &self.hub, &self.subscriber, greet, on_text);
        log::info!("{info}: {nick} left, {departure}");
        self.depart(&nick, Via::WebSocket);
    }

    /// The `since` a joining page asked for, if it is about this chat: a page
    /// that last talked to an earlier run of the server (another `epoch`)
    /// gets the recent history instead.
    fn since(&self, join: &json::Value) -> u64 {
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

    fn poll_join(&self, req: &Request) -> Response {
        let (body, nick) = match body_with_nick(req) {
            Ok(b) => b,
            Err(why) => return json::error_response(400, &why),
        };
        let history = self.events_json(self.since(&body));
        self.arrive(&nick, Via::Polling);
        json::response(200, format!(r#"{{"epoch":{},"history":{history}}}"#, self.epoch))
    }

    fn poll_say(&self, req: &Request) -> Response {
        let (body, nick) = match body_with_nick(req) {
            Ok(b) => b,
            Err(why) => return json::error_response(400, &why),
        };
        if !self.is_online(&nick) {
            return json::error_response(403, &format!("{nick} has not joined: POST /api/chat/join first"));
        }
        let text = match check_text(body.get("text")) {
            Ok(text) => text,
            Err(why) => return json::error_response(400, &why),
        };
        let id = self.announce_message(&nick, &text, None);
        json::response(201, format!(r#"{{"id":{id}}}"#))
    }

    fn poll_leave(&self, req: &Request) -> Response {
        let nick = match body_with_nick(req) {
            Ok((_, nick)) => nick,
            Err(why) => return json::error_response(400, &why),
        };
        self.depart(&nick, Via::Polling);
        Response::new(204)
    }

    fn poll(&self, req: &Request) -> Response {
        let last = self.log.last_id();
        // An id this log never gave out: the page knew an earlier run of the
        // server. Answer at once (with the epoch) instead of holding the poll
        // until the new log catches up with the old ids.
        if req
            .query("since")
            .and_then(|s| s.parse::<u64>().ok())
            .is_some_and(|since| since > last)
        {
            return json::response(200, format!(r#"{{"epoch":{},"events":[]}}"#, self.epoch));
        }
        // `nick` (optional) keeps that person's polling tab alive.
        let nick = req.query("nick");
        if let Some(nick) = &nick {
            self.polled(nick);
        }
        // A long poll without `since` waits for the next event.
        let response = poll::answer(req, &self.log, last, |events| {
            let items: Vec<&str> = events.iter().map(|(_, e)| e.as_str()).collect();
            format!(r#"{{"epoch":{},"events":[{}]}}"#, self.epoch, items.join(","))
        });
        if let Some(nick) = &nick {
            self.polled(nick); // a long poll was alive all along
        }
        response
    }
}

/// `{"type":"error","text":…}`: sent to one page, never broadcast.
fn error_json(why: &str) -> String {
    format!(r#"{{"type":"error","text":{}}}"#, escape(why))
}

fn body_with_nick(req: &Request) -> Result<(json::Value, String), String> {
    let body = req
        .body_text()
        .and_then(|t| json::parse(t).ok())
        .ok_or_else(|| "the body must be JSON: {\"nick\":\"...\"}".to_string())?;
    let nick = check_nick(body.get("nick"))?;
    Ok((body, nick))
}

/// A nickname: trimmed, 1 to [`MAX_NICK`] characters, no control
/// characters, at least one visible character.
pub fn valid_nick(nick: &str) -> Option<String> {
    nick_or_why(nick).ok()
}

/// [`valid_nick`] of a JSON field, saying what is wrong.
fn check_nick(nick: Option<&json::Value>) -> Result<String, String> {
    match nick.and_then(json::Value::as_str) {
        Some(nick) => nick_or_why(nick),
        None => Err("a nickname is required: \"nick\":\"...\"".to_string()),
    }
}

fn nick_or_why(nick: &str) -> Result<String, String> {
    let nick = nick.trim();
    let n = nick.chars().count();
    if n == 0 {
        Err("the nickname is empty".to_string())
    } else if n > MAX_NICK {
        Err(format!("the nickname has {n} characters; at most {MAX_NICK}"))
    } else if nick.chars().any(char::is_control) {
        Err("the nickname contains a control character".to_string())
    } else if nick.chars().all(invisible) {
        Err("the nickname has no visible character".to_string())
    } else {
        Ok(nick.to_string())
    }
}

/// Characters that take no room on screen: spaces, zero-width characters,
/// direction marks and embeddings, the soft hyphen, the byte order mark. A
/// name or a message made only of these would be invisible.
fn invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(c, '\u{00AD}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// A message: trimmed, 1 to [`MAX_TEXT`] characters, visible, no control
/// characters but newline and tab.
fn check_text(text: Option<&json::Value>) -> Result<String, String> {
    let Some(text) = text.and_then(json::Value::as_str) else {
        return Err("a text is required: \"text\":\"...\"".to_string());
    };
    let text = text.trim();
    let n = text.chars().count();
    if n == 0 {
        Err("the message is empty: nothing sent".to_string())
    } else if n > MAX_TEXT {
        Err(format!(
            "the message has {n} characters; at most {MAX_TEXT}: nothing sent"
        ))
    } else if text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r')) {
        Err("the message contains a control character (only newline and tab are allowed): nothing sent".to_string())
    } else if text.chars().all(invisible) {
        Err("the message has no visible character: nothing sent".to_string())
    } else {
        Ok(text.to_string())
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
    fn nicknames_are_trimmed_and_bounded() {
        assert_eq!(valid_nick("  alice "), Some("alice".into()));
        assert_eq!(valid_nick(""), None);
        assert_eq!(valid_nick("   "), None);
        assert_eq!(valid_nick(&"x".repeat(25)), None);
        assert_eq!(valid_nick("a\u{7}b"), None);
        assert_eq!(valid_nick("李雷"), Some("李雷".into()));
        assert_eq!(valid_nick("\u{200B}\u{200E}"), None, "invisible");
        assert_eq!(
            valid_nick("\u{202E}evil"),
            Some("\u{202E}evil".into()),
            "shown isolated by the page"
        );
    }

    #[test]
    fn messages_must_be_visible_and_free_of_control_characters_but_newlines_and_tabs() {
        let text = |t: &str| check_text(Some(&json::Value::String(t.to_string())));
        assert_eq!(
            text("  two\nlines\tand a tab \n").as_deref(),
            Ok("two\nlines\tand a tab")
        );
        assert!(text("a\u{0}b").unwrap_err().contains("control character"));
        assert!(text("\u{200B}\u{FEFF}").unwrap_err().contains("no visible character"));
        assert!(text(&"é".repeat(MAX_TEXT + 1)).unwrap_err().contains("at most 2000"));
        assert_eq!(text(&"😀".repeat(MAX_TEXT)).map(|t| t.chars().count()), Ok(MAX_TEXT));
    }

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
