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
//! | long polling (`GET /api/chat/poll?since=N&wait=25`) | the held request returns with it |
//! | short polling (`GET /api/chat/poll?since=N`, every second) | the next poll picks it up |
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
//! - page → server: `{"type":"join","nick":"alice"}` first, then `{"type":"say","text":"hi"}`;
//! - server → page: `{"type":"history","events":[…]}` once, then events:
//!   `{"type":"message","id":7,"nick":"alice","text":"hi","ts":…,"frame":{…}}`,
//!   `{"type":"join"|"leave","id":8,"nick":"bob","online":2,"ts":…}`.

use std::collections::HashMap;
use std::io;
use std::net::ToSocketAddrs;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::broadcast::{serve_subscriber, Hub, Incoming, SubscriberConfig};
use crate::http::api::{self, json_response, now_ms};
use crate::http::json::{self, escape};
use crate::http::poll::EventLog;
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
    ws_online: AtomicUsize,
    pollers: Mutex<HashMap<String, usize>>,
    subscriber: SubscriberConfig,
}

impl Chat {
    /// A chat whose WebSocket subscribers use `subscriber` timing.
    pub fn new(subscriber: SubscriberConfig) -> Arc<Chat> {
        Arc::new(Chat {
            hub: Hub::start(),
            log: EventLog::new(KEEP, MAX_WAITING),
            order: Mutex::new(()),
            ws_online: AtomicUsize::new(0),
            pollers: Mutex::new(HashMap::new()),
            subscriber,
        })
    }

    /// The hub (for its counters).
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// People online: WebSocket connections plus polling pages that joined
    /// and did not leave.
    pub fn online(&self) -> usize {
        let pollers: usize = self.pollers.lock().unwrap_or_else(|p| p.into_inner()).values().sum();
        self.ws_online.load(Ordering::SeqCst) + pollers
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

    fn announce_presence(&self, kind: &str, nick: &str) {
        let online = self.online();
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
        let events = if since == 0 {
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
        let nick = match ws.read() {
            Ok(Message::Text(t)) => json::parse(&t)
                .ok()
                .filter(|v| v.get("type").and_then(json::Value::as_str) == Some("join"))
                .and_then(|v| v.get("nick").and_then(json::Value::as_str).and_then(valid_nick)),
            _ => None,
        };
        let Some(nick) = nick else {
            let _ = ws.send(Message::text(
                r#"{"type":"error","text":"send {\"type\":\"join\",\"nick\":\"...\"} first"}"#,
            ));
            let _ = ws.close(Some(CloseFrame::new(CloseCode::POLICY, "join with a nickname first")));
            return;
        };
        log::info!("{info}: {nick} joined over WebSocket");
        self.ws_online.fetch_add(1, Ordering::SeqCst);
        let greet = |writer: &websocket::Writer| {
            writer.send_text(&format!(r#"{{"type":"history","events":{}}}"#, self.events_json(0)))?;
            self.announce_presence("join", &nick);
            Ok(())
        };
        let on_text = |msg: Incoming| match json::parse(&msg.text) {
            Ok(v) if v.get("type").and_then(json::Value::as_str) == Some("say") => {
                if let Some(text) = v.get("text").and_then(json::Value::as_str).and_then(valid_text) {
                    self.announce_message(&nick, &text, Some(&msg));
                }
            }
            _ => log::debug!("{info}: ignored {:.80}", msg.text),
        };
        let departure = serve_subscriber(ws, &self.hub, &self.subscriber, greet, on_text);
        self.ws_online.fetch_sub(1, Ordering::SeqCst);
        log::info!("{info}: {nick} left, {departure}");
        self.announce_presence("leave", &nick);
    }

    fn poll_join(&self, req: &Request) -> Response {
        let Some((body, nick)) = body_with_nick(req) else {
            return bad("expected {\"nick\":\"...\"}");
        };
        let since = body.get("since").and_then(json::Value::as_f64).unwrap_or(0.0) as u64;
        *self
            .pollers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(nick.clone())
            .or_insert(0) += 1;
        let history = self.events_json(since);
        self.announce_presence("join", &nick);
        json_response(200, format!(r#"{{"history":{history}}}"#))
    }

    fn poll_say(&self, req: &Request) -> Response {
        let Some((body, nick)) = body_with_nick(req) else {
            return bad("expected {\"nick\":\"...\",\"text\":\"...\"}");
        };
        let Some(text) = body.get("text").and_then(json::Value::as_str).and_then(valid_text) else {
            return bad("text must be 1 to 2000 characters");
        };
        let id = self.announce_message(&nick, &text, None);
        json_response(201, format!(r#"{{"id":{id}}}"#))
    }

    fn poll_leave(&self, req: &Request) -> Response {
        let Some((_, nick)) = body_with_nick(req) else {
            return bad("expected {\"nick\":\"...\"}");
        };
        let was_there = {
            let mut pollers = self.pollers.lock().unwrap_or_else(|p| p.into_inner());
            match pollers.get_mut(&nick) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    true
                }
                Some(_) => pollers.remove(&nick).is_some(),
                None => false,
            }
        };
        if was_there {
            self.announce_presence("leave", &nick);
        }
        Response::new(204)
    }

    fn poll(&self, req: &Request) -> Response {
        // A long poll without `since` waits for the next event.
        api::poll(req, &self.log, self.log.last_id(), |events| {
            let items: Vec<&str> = events.iter().map(|(_, e)| e.as_str()).collect();
            format!(r#"{{"events":[{}]}}"#, items.join(","))
        })
    }
}

fn bad(why: &str) -> Response {
    json_response(400, format!(r#"{{"error":{}}}"#, escape(why)))
}

fn body_with_nick(req: &Request) -> Option<(json::Value, String)> {
    let body = json::parse(req.body_text()?).ok()?;
    let nick = body.get("nick").and_then(json::Value::as_str).and_then(valid_nick)?;
    Some((body, nick))
}

/// A nickname: trimmed, 1 to [`MAX_NICK`] characters, no control characters.
pub fn valid_nick(nick: &str) -> Option<String> {
    let nick = nick.trim();
    let n = nick.chars().count();
    ((1..=MAX_NICK).contains(&n) && !nick.chars().any(char::is_control)).then(|| nick.to_string())
}

fn valid_text(text: &str) -> Option<String> {
    let text = text.trim();
    let n = text.chars().count();
    (1..=MAX_TEXT).contains(&n).then(|| text.to_string())
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
    }

    #[test]
    fn events_are_logged_and_published_in_the_same_order() {
        let chat = Chat::new(SubscriberConfig::default());
        let (tx, rx) = crossbeam_channel::bounded(16);
        chat.hub.join(tx, Default::default());
        chat.announce_message("a", "one", None);
        chat.announce_presence("join", "b");
        let logged: Vec<String> = chat.log.since(0).into_iter().map(|(_, e)| e).collect();
        for event in &logged {
            let frame = rx.recv().unwrap();
            let (_, header_len) = crate::websocket::frame::FrameHeader::parse(&frame).unwrap().unwrap();
            assert_eq!(&frame[header_len..], event.as_bytes());
        }
        assert!(logged[0].contains(r#""id":1"#) && logged[1].contains(r#""type":"join""#));
        chat.hub.stop();
    }
}
