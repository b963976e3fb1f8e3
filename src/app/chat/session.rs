//! One WebSocket page, from the Upgrade to its departure: the join
//! message, the history, then each `say` announced to everyone and each
//! mistake answered to this page alone.

use std::cell::OnceCell;
use std::time::Duration;

use super::presence::Via;
use super::room::Chat;
use super::validate::{check_nick, check_text};
use crate::app::json::{self, escape};
use crate::broadcast::{serve_subscriber, Incoming};
use crate::http::Upgrade;
use crate::websocket::{self, AcceptConfig, CloseCode, CloseFrame, Message};

/// Largest WebSocket message accepted from a page; larger is refused with
/// 1009 before it is buffered.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// How long a new WebSocket may take to send its join message.
pub const JOIN_WAIT: Duration = Duration::from_secs(10);

impl Chat {
    /// One WebSocket page, from the Upgrade to its departure.
    pub(super) fn serve_websocket(&self, up: Upgrade) {
        let info = up.info;
        let Ok(mut ws) = websocket::upgrade(
            up.stream,
            &up.head,
            &up.leftover,
            &AcceptConfig::with_max_message(MAX_MESSAGE),
        ) else {
            return;
        };
        // The join must arrive whole within JOIN_WAIT: a total deadline,
        // so a page trickling one byte now and then cannot wait forever.
        let _ = ws.set_read_timeout(Some(JOIN_WAIT));
        ws.set_message_timeout(Some(JOIN_WAIT));
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
        // From now on each message (or pong) must arrive whole within the
        // keepalive wait, however the page paces its bytes.
        ws.set_message_timeout(Some(self.subscriber.pong_wait));
        let departure = serve_subscriber(ws, &self.hub, &self.subscriber, greet, on_text);
        log::info!("{info}: {nick} left, {departure}");
        self.depart(&nick, Via::WebSocket);
    }
}

/// `{"type":"error","text":…}`: sent to one page, never broadcast.
fn error_json(why: &str) -> String {
    format!(r#"{{"type":"error","text":{}}}"#, escape(why))
}
