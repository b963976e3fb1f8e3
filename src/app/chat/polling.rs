//! The chat for pages that poll: join, say and leave as `POST`s, and
//! `GET /api/chat/poll` for the events, short or long.

use super::presence::Via;
use super::room::Chat;
use super::validate::{check_nick, check_text};
use crate::app::json;
use crate::app::poll;
use crate::http::{Request, Response};

impl Chat {
    pub(super) fn poll_join(&self, req: &Request) -> Response {
        let (body, nick) = match body_with_nick(req) {
            Ok(b) => b,
            Err(why) => return json::error_response(400, &why),
        };
        let history = self.events_json(self.since(&body));
        self.arrive(&nick, Via::Polling);
        json::response(200, format!(r#"{{"epoch":{},"history":{history}}}"#, self.epoch))
    }

    pub(super) fn poll_say(&self, req: &Request) -> Response {
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

    pub(super) fn poll_leave(&self, req: &Request) -> Response {
        let nick = match body_with_nick(req) {
            Ok((_, nick)) => nick,
            Err(why) => return json::error_response(400, &why),
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

fn body_with_nick(req: &Request) -> Result<(json::Value, String), String> {
    let body = req
        .body_text()
        .and_then(|t| json::parse(t).ok())
        .ok_or_else(|| "the body must be JSON: {\"nick\":\"...\"}".to_string())?;
    let nick = check_nick(body.get("nick"))?;
    Ok((body, nick))
}
