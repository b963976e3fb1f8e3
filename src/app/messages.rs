//! A REST resource and its polling endpoints: `/api/messages`.
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/messages` | 200, every kept message as a JSON array |
//! | `POST /api/messages` with `{"text":"…"}` (JSON) or plain text | 201, `Location: /api/messages/{id}`, the message |
//! | `GET /api/messages/{id}` | 200 and the message, or 404 |
//! | `DELETE /api/messages/{id}` | 204, or 404 |
//! | `GET /api/messages/poll?since=N` | 200 at once: `{"messages":[…newer than N],"last":M}` (short polling) |
//! | `GET /api/messages/poll?since=N&wait=S` | held until a message newer than N exists (200) or S seconds pass (204); S ≤ 30 (long polling); without `since`, waits for the next new message; ends early (204) when the client disconnects |
//! | `GET /api/messages/poll?since=N`, N newer than any message | 200 at once with every kept message: N came from an earlier run of the server |
//!
//! The methods carry the intent and the URL names the thing (REST; the note
//! "TCP与WebSocket的区别"). Status codes follow RFC 9110 §15: 201 with a
//! `Location` for a created resource (§15.3.2), 204 when there is nothing to
//! send (§15.3.5), 404 for an id that does not exist (§15.5.5), 415 for a
//! body type the resource does not take (§15.5.16).

use std::sync::Arc;

use super::events::{now_ms, EventLog};
use super::json::{self, escape};
use super::poll;
use crate::http::{Piece, Request, Response, Router};

/// Longest accepted message text, in characters.
pub const MAX_TEXT: usize = 2000;
/// Messages kept.
pub const KEEP: usize = 1000;
/// Long polls held at once; each holds a connection thread.
pub const MAX_WAITING: usize = 1000;

/// One message as the store keeps it (not a WebSocket [`crate::websocket::Message`]).
///
/// Its text and its JSON are shared, not copied, by every clone: answers
/// that list messages are written from the store's own bytes
/// ([`Piece::Shared`]), so a client that does not read holds pointers,
/// not a copy of the list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    /// Its id, increasing from 1.
    pub id: u64,
    /// The text.
    pub text: Arc<str>,
    /// When it was created, milliseconds since the Unix epoch.
    pub ts: u64,
    /// The message as a JSON object, made once.
    json: Arc<str>,
}

impl StoredMessage {
    /// A message with its JSON.
    fn new(id: u64, text: &str, ts: u64) -> StoredMessage {
        let json = format!(r#"{{"id":{id},"text":{},"ts":{ts}}}"#, escape(text));
        StoredMessage {
            id,
            text: text.into(),
            ts,
            json: json.into(),
        }
    }

    /// The message as a JSON object.
    pub fn to_json(&self) -> String {
        self.json.to_string()
    }

    /// The message as a JSON object, shared with the store.
    pub fn json(&self) -> Arc<str> {
        Arc::clone(&self.json)
    }
}

/// A JSON array of `messages` in pieces: `[`, each message's own JSON,
/// the commas, `]` and whatever `after` adds (pointers into the store,
/// not a copy).
fn list_pieces<'a>(messages: impl Iterator<Item = &'a StoredMessage>, after: Option<String>) -> Vec<Piece> {
    let mut pieces = vec![Piece::Static(b"[")];
    for (i, m) in messages.enumerate() {
        if i > 0 {
            pieces.push(Piece::Static(b","));
        }
        pieces.push(Piece::Shared(m.json()));
    }
    pieces.push(Piece::Static(b"]"));
    if let Some(after) = after {
        pieces.push(Piece::Shared(after.into()));
    }
    pieces
}

/// The message store and its routes.
#[derive(Debug)]
pub struct MessageApi {
    log: EventLog<StoredMessage>,
}

impl MessageApi {
    /// An empty store.
    pub fn new() -> Arc<MessageApi> {
        Arc::new(MessageApi {
            log: EventLog::new(KEEP, MAX_WAITING),
        })
    }

    /// The underlying log (a demo's publisher writes here).
    pub fn log(&self) -> &EventLog<StoredMessage> {
        &self.log
    }

    /// Stores a new message and returns it.
    pub fn post(&self, text: &str) -> StoredMessage {
        let ts = now_ms();
        let mut made = None;
        self.log.push_with(|id| {
            let message = StoredMessage::new(id, text, ts);
            made = Some(message.clone());
            message
        });
        made.expect("push_with calls make once")
    }

    /// Registers the routes under `/api/messages`.
    pub fn mount(self: &Arc<Self>, router: &mut Router) {
        let api = Arc::clone(self);
        router.get("/api/messages", move |_| {
            let messages = api.log.since(0);
            json::response_in_pieces(200, list_pieces(messages.iter().map(|(_, m)| m), None))
        });
        let api = Arc::clone(self);
        router.post("/api/messages", move |req| api.create(req));
        let api = Arc::clone(self);
        router.get("/api/messages/poll", move |req| api.poll(req));
        let api = Arc::clone(self);
        router.get("/api/messages/{id}", move |req| match api.find(req) {
            Some(m) => json::response(200, m.to_json()),
            None => not_found(req),
        });
        let api = Arc::clone(self);
        router.delete("/api/messages/{id}", move |req| {
            let id = req.param("id").and_then(|id| id.parse().ok());
            match id.map(|id| api.log.remove(id)) {
                Some(true) => Response::new(204),
                _ => not_found(req),
            }
        });
    }

    fn find(&self, req: &Request) -> Option<StoredMessage> {
        let id: u64 = req.param("id")?.parse().ok()?;
        self.log.get(id)
    }

    fn create(&self, req: &Request) -> Response {
        let content_type = req.header("content-type").unwrap_or("text/plain");
        let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        let Some(body) = req.body_text() else {
            return json::error_response(400, "the body is not UTF-8");
        };
        let text = match media.as_str() {
            "application/json" => match json::parse(body) {
                Ok(v) => match v.get("text").and_then(json::Value::as_str) {
                    Some(t) => t.to_string(),
                    None => return json::error_response(400, "expected {\"text\": \"...\"}"),
                },
                Err(e) => return json::error_response(400, &e.to_string()),
            },
            "text/plain" | "" => body.to_string(),
            _ => {
                return json::error_response(415, "send application/json or text/plain")
                    .with_header("Accept-Post", "application/json, text/plain")
            }
        };
        let text = text.trim();
        if text.is_empty() {
            return json::error_response(400, "the text is empty");
        }
        if text.chars().count() > MAX_TEXT {
            return json::error_response(413, "the text is longer than 2000 characters");
        }
        let m = self.post(text);
        json::response(201, m.to_json()).with_header("Location", format!("/api/messages/{}", m.id))
    }

    fn poll(&self, req: &Request) -> Response {
        // Without `since`, a short poll returns everything kept and a long
        // poll waits for the next new message.
        // The messages go out from the store, not copied per client.
        poll::answer(req, &self.log, self.log.last_id(), |messages| {
            let mut pieces = vec![Piece::Static(br#"{"messages":"#)];
            let last = format!(r#","last":{}}}"#, self.log.last_id());
            pieces.extend(list_pieces(messages.iter().map(|(_, m)| m), Some(last)));
            pieces
        })
    }
}

fn not_found(req: &Request) -> Response {
    json::error_response(404, &format!("no message at {}", req.path()))
}
