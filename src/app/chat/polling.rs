//! The chat for pages that poll: join, say and leave as `POST`s with JSON
//! bodies, and `GET /api/chat/poll` for the events, short or long.
//!
//! Join answers with the person's session token; say and leave must bring
//! it (`{"token":"…","text":"…"}`): the nickname is the token's, so nobody
//! can post under the name of someone else. The bodies must be declared
//! `application/json`: a form or a `text/plain` body, which another site's
//! page can make a browser send without asking (CORS calls them "simple"
//! requests), is refused with 415 before it is read.

use std::sync::Arc;
use std::time::Duration;

use super::presence::Via;
use super::room::{Chat, Refusal};
use super::validate::{check_text, read_join};
use crate::app::json;
use crate::app::poll;
use crate::http::{Piece, Request, Response};

/// The JSON body of a chat `POST`, or the response that refuses it.
fn json_body(req: &Request) -> Result<json::Value, Response> {
    let media = req.header("content-type").unwrap_or("");
    let essence = media.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(json::error_response(
            415,
            "the body must be JSON, declared with Content-Type: application/json",
        ));
    }
    req.body_text()
        .and_then(|t| json::parse(t).ok())
        .ok_or_else(|| json::error_response(400, "the body is not valid JSON"))
}

/// The person a body's token belongs to, or the 403 that says it is not
/// a token of someone online.
fn speaker(chat: &Chat, body: &json::Value) -> Result<String, Response> {
    match body.get("token").and_then(json::Value::as_str) {
        Some(token) => chat
            .who(token)
            .ok_or_else(|| json::error_response(403, "this token belongs to nobody online: POST /api/chat/join first")),
        None => Err(json::error_response(
            403,
            "a token is required: POST /api/chat/join, then send the token it returns",
        )),
    }
}

/// A refusal as an HTTP response: 409 for a nickname in use, 429 for a
/// rate (with `Retry-After`), 503 for a full chat.
fn refused(refusal: &Refusal) -> Response {
    match refusal {
        Refusal::InUse(why) => json::error_response(409, why),
        Refusal::Busy(why, wait) => {
            let status = if wait.is_some() { 429 } else { 503 };
            let seconds = wait.unwrap_or(Duration::from_secs(1)).as_secs() + 1;
            json::error_response(status, why).with_header("Retry-After", seconds.to_string())
        }
    }
}

impl Chat {
    pub(super) fn poll_join(&self, req: &Request) -> Response {
        let join = match json_body(req).map(|b| read_join(&b)) {
            Ok(Ok(join)) => join,
            Ok(Err(why)) => return json::error_response(400, &why),
            Err(response) => return response,
        };
        let history = self.events_json(self.since(&join));
        match self.arrive(&join, Via::Polling, req.peer.ip()) {
            Ok(token) => json::response(
                200,
                format!(r#"{{"epoch":{},"token":"{token}","history":{history}}}"#, self.epoch),
            ),
            Err(refusal) => refused(&refusal),
        }
    }

    pub(super) fn poll_say(&self, req: &Request) -> Response {
        let body = match json_body(req) {
            Ok(body) => body,
            Err(response) => return response,
        };
        let nick = match speaker(self, &body) {
            Ok(nick) => nick,
            Err(response) => return response,
        };
        let text = match check_text(body.get("text")) {
            Ok(text) => text,
            Err(why) => return json::error_response(400, &why),
        };
        if let Err(refusal) = self.may_say(&nick) {
            return refused(&refusal);
        }
        let id = self.announce_message(&nick, &text, None);
        json::response(201, format!(r#"{{"id":{id}}}"#))
    }

    pub(super) fn poll_leave(&self, req: &Request) -> Response {
        let nick = match json_body(req).and_then(|body| speaker(self, &body)) {
            Ok(nick) => nick,
            Err(response) => return response,
        };
        self.depart(&nick, Via::Polling);
        Response::new(204)
    }

    pub(super) fn poll(&self, req: &Request) -> Response {
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
        // `token` (optional) keeps that person's polling tab alive.
        let token = req.query("token");
        if let Some(token) = &token {
            self.polled(token);
        }
        // A long poll without `since` waits for the next event.
        // The events go out as pieces of the answer, straight from the
        // log: a client that does not read holds pointers, not a copy.
        let response = poll::answer(req, &self.log, last, |events| {
            let mut pieces = Vec::with_capacity(2 * events.len() + 2);
            pieces.push(Piece::Shared(format!(r#"{{"epoch":{},"events":["#, self.epoch).into()));
            for (i, (_, event)) in events.iter().enumerate() {
                if i > 0 {
                    pieces.push(Piece::Static(b","));
                }
                pieces.push(Piece::Shared(Arc::clone(event)));
            }
            pieces.push(Piece::Static(b"]}"));
            pieces
        });
        if let Some(token) = &token {
            self.polled(token); // a long poll was alive all along
        }
        response
    }
}
