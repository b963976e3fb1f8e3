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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    /// Its id, increasing from 1.
    pub id: u64,
    /// The text.
    pub text: String,
    /// When it was created, milliseconds since the Unix epoch.
    pub ts: u64,
}

impl StoredMessage {
    /// The message as a JSON object.
    pub fn to_json(&self) -> String {
        format!(r#"{{"id":{},"text":{},"ts":{}}}"#, self.id, escape(&self.text), self.ts)
    }
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
        let id = self.log.push_with(|id| StoredMessage {
            id,
            text: text.to_string(),
            ts,
        });
        StoredMessage {
            id,
            text: text.to_string(),
            ts,
        }
    }

    /// Registers the routes under `/api/messages`.
    pub fn mount(self: &Arc<Self>, router: &mut Router) {
        let api = Arc::clone(self);
        router.get("/api/messages", move |_| {
            let items: Vec<String> = api.log.since(0).iter().map(|(_, m)| m.to_json()).collect();
            json::response(200, format!("[{}]", items.join(",")))
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
        poll::answer(req, &self.log, self.log.last_id(), |messages| {
            let items: Vec<String> = messages.iter().map(|(_, m)| m.to_json()).collect();
            let json = format!(r#"{{"messages":[{}],"last":{}}}"#, items.join(","), self.log.last_id());
            vec![Piece::Shared(json.into())]
        })
    }
}

fn not_found(req: &Request) -> Response {
    json::error_response(404, &format!("no message at {}", req.path()))
}
