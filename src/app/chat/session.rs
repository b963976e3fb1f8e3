//! One WebSocket page, from the Upgrade to its departure: the join
//! message, the history, then each `say` announced to everyone and each
//! mistake answered to this page alone.

use std::cell::OnceCell;
use std::time::Duration;

use super::presence::Via;
use super::room::{Chat, Refusal};
use super::validate::{read_from_page, FromPage};
use crate::app::json::escape;
use crate::broadcast::{serve_subscriber, Incoming};
use crate::http::Upgrade;
use crate::websocket::{self, AcceptConfig, CloseCode, CloseFrame, Message, WebSocket};

/// Largest WebSocket message accepted from a page; larger is refused with
/// 1009 before it is buffered (see [`crate::limits`]).
pub const MAX_MESSAGE: usize = crate::limits::CHAT_MAX_MESSAGE;
/// How long a new WebSocket may take to send its join message, in total.
pub const JOIN_WAIT: Duration = Duration::from_secs(10);

/// Tells a page why it may not join, and closes: 1008 (policy) for a
/// nickname in use or a bad join, 1013 (try again later) for a full chat or
/// too many joins.
fn turn_away(mut ws: WebSocket, why: &str, code: CloseCode) {
    let _ = ws.send(Message::text(error_json(why)));
    let _ = ws.close(Some(CloseFrame::new(code, "join refused")));
}

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
        // The join must arrive whole within the join wait: a total
        // deadline, so a page trickling one byte now and then cannot wait
        // forever.
        let wait = self.limits.join_wait;
        let _ = ws.set_read_timeout(Some(wait));
        ws.set_message_timeout(Some(wait));
        let join = match ws.read() {
            Ok(Message::Text(t)) => match read_from_page(&t) {
                Ok(FromPage::Join(join)) => Ok(join),
                Ok(_) => Err("send {\"type\":\"join\",\"nick\":\"...\"} first".to_string()),
                Err(why) if why.starts_with("not JSON") => {
                    Err("not JSON: send {\"type\":\"join\",\"nick\":\"...\"} first".to_string())
                }
                Err(why) => Err(why),
            },
            Ok(_) => Err("send {\"type\":\"join\",\"nick\":\"...\"} as a text message first".to_string()),
            Err(e) if e.is_timeout() => Err(format!("no join within {} s", wait.as_secs_f64())),
            Err(_) => return,
        };
        let join = match join {
            Ok(join) => join,
            Err(why) => {
                log::info!("{info}: join refused: {why}");
                return turn_away(ws, &why, CloseCode::POLICY);
            }
        };
        let nick = join.nick.clone();
        let since = self.since(&join);
        if let Err(refusal) = self.may_arrive(&join, info.peer.ip()) {
            log::info!("{info}: join as {nick} refused: {}", refusal.reason());
            return turn_away(ws, refusal.reason(), close_code(&refusal));
        }
        // The writer, kept for answering this page alone (errors).
        let writer_cell: OnceCell<websocket::Writer> = OnceCell::new();
        let entered = std::cell::Cell::new(false);
        let greet = |writer: &websocket::Writer| {
            let _ = writer_cell.set(writer.clone());
            // The history as it stands: whatever comes after it (our own
            // join included) is already on its way to the outbox.
            let history = self.events_json(since);
            // Online before the page hears it has joined: a page switching
            // from polling retires its polling tab as soon as the history
            // arrives, and that leave must not find this person gone. (The
            // check above was a moment ago: another tab may have taken the
            // nickname or the last place since.)
            let token = match self.enter(&join, Via::WebSocket) {
                Ok(token) => token,
                Err(refusal) => {
                    let _ = writer.send_text(&error_json(refusal.reason()));
                    let _ = writer.close(Some(CloseFrame::new(close_code(&refusal), "join refused")));
                    return Err(websocket::Error::ConnectionClosed);
                }
            };
            entered.set(true);
            log::info!("{info}: {nick} joined over WebSocket");
            // The token lets this page's other tabs (and this tab on another
            // transport) join as the same person.
            writer.send_text(&format!(
                r#"{{"type":"history","epoch":{},"token":"{token}","events":{history}}}"#,
                self.epoch
            ))?;
            // This connection's own compressor sent the history: say what
            // it made of it (the page cannot see the wire).
            let sent = writer.last_sent();
            if sent.compressed {
                writer.send_text(&format!(
                    r#"{{"type":"wire","of":"history","bytes":{},"deflated":{}}}"#,
                    sent.message_bytes, sent.payload_bytes
                ))?;
            }
            Ok(())
        };
        let on_text = |msg: Incoming| {
            let refused = match read_from_page(&msg.text) {
                Ok(FromPage::Say(text)) => match self.may_say(&nick) {
                    // Over the rate: refused, not queued.
                    Err(refusal) => refusal.reason().to_string(),
                    Ok(()) => {
                        self.announce_message(&nick, &text, Some(&msg));
                        return;
                    }
                },
                Ok(FromPage::Join(_)) => format!("already joined as {nick}: one join per connection"),
                Err(why) => why,
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
        if entered.get() {
            log::info!("{info}: {nick} left, {departure}");
            self.depart(&nick, Via::WebSocket);
        }
    }
}

/// How a refused join closes a WebSocket: 1008 (policy) for a nickname in
/// use, 1013 (try again later) for a full chat or too many joins.
fn close_code(refusal: &Refusal) -> CloseCode {
    match refusal {
        Refusal::InUse(_) => CloseCode::POLICY,
        Refusal::Busy(..) => CloseCode::TRY_AGAIN_LATER,
    }
}

/// `{"type":"error","text":…}`: sent to one page, never broadcast.
fn error_json(why: &str) -> String {
    format!(r#"{{"type":"error","text":{}}}"#, escape(why))
}
