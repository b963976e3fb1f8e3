//! The chat: one page, three transports, one event log.
//!
//! The classroom demo behind `cargo run --example chat`. A page served by
//! our own HTTP server (`index.html`, `chat.css`, `chat.js`, compiled into
//! the binary with `include_str!`) talks to the server in one of three ways,
//! switchable at any time:
//!
//! | transport | how the page learns of a new message |
//! |---|---|
//! | WebSocket (`/ws`) | the server pushes it the moment it exists (the hub, `src/broadcast/`) |
//! | long polling (`GET /api/chat/poll?since=N&wait=25&nick=…`) | the held request returns with it |
//! | short polling (`GET /api/chat/poll?since=N&nick=…`, every second) | the next poll picks it up |
//!
//! Every event (message, join, leave) gets an id from one [`EventLog`](crate::app::events::EventLog), and
//! the same JSON goes to WebSocket subscribers and into the log, so a page
//! that switches transport continues exactly where it was. The page's wire
//! panel shows what each message cost: frame header vs payload for WebSocket
//! (the sender's frame as the server measured it, `Reader::last_message_wire`),
//! request and response heads vs bodies for polling (`X-Request-Head-Bytes`,
//! `X-Response-Head-Bytes`).
//!
//! With permessage-deflate (RFC 7692) the browser inflates before the page
//! sees anything, so the page cannot measure compression; the server tells
//! it. A sender's frame report (`"frame"`) says whether that frame arrived
//! compressed (`"deflated":true`, its payload then the compressed size);
//! each `message` event is followed by `{"type":"wire","id":N,"bytes":U,"deflated":C}`,
//! the compressed size the hub sent it with ([`wire_note`]); the history is
//! followed by `{"type":"wire","of":"history",…}` from the connection's own
//! compressor. Events under the threshold are sent as they are, with no note.
//!
//! WebSocket protocol (JSON text messages):
//!
//! - page → server: `{"type":"join","nick":"alice"}` first (optionally with
//!   `"since":N,"epoch":E` to continue after event N, and `"token":T` to join
//!   as a person already online: another tab, another transport), then
//!   `{"type":"say","text":"hi"}`;
//! - server → page: `{"type":"history","epoch":E,"token":T,"events":[…]}` once, then events:
//!   `{"type":"message","id":7,"nick":"alice","text":"hi","ts":…,"frame":{…}}`,
//!   `{"type":"join"|"leave","id":8,"nick":"bob","online":2,"ts":…}`;
//! - server → this page only: `{"type":"error","text":"…"}` when a message
//!   was refused (not JSON, empty, too long, a second join, an unknown type,
//!   faster than the person's rate). A refused join is followed by a close:
//!   1008 for a bad join or a nickname in use, 1013 for a full chat or too
//!   many joins.
//!
//! Polling: `POST /api/chat/join` with `{"nick":…}` (and `"token"`,
//! `"since"`, `"epoch"` as above) answers `{"epoch":E,"token":T,"history":[…]}`;
//! `POST /api/chat/say` takes `{"token":T,"text":…}`, `POST /api/chat/leave`
//! `{"token":T}`; every body must be `Content-Type: application/json`.
//! `GET /api/chat/poll?since=N[&wait=S][&token=T]` reads (the token keeps
//! that polling tab counted as online).
//!
//! Defences (`docs/security.md`): pages of other sites can neither open
//! `/ws` nor post (the [`SitePolicy`](crate::http::SitePolicy): `Origin` and
//! `Host`); nobody speaks under a nickname without its session token; at
//! most [`MAX_ONLINE`] people; each person's messages and each address's
//! joins go through a rate with a burst ([`ChatLimits`]); a WebSocket's
//! join and every later message must arrive whole within a total time.
//!
//! Ids start again at 1 when the server restarts. The `epoch` (the time the
//! chat started, in ms) tells a page that it is talking to a new server, so
//! it must forget the old ids instead of skipping every "already seen" event.
//!
//!
//! | module | what |
//! |---|---|
//! | [`room`] | the chat's state: the event log, the hub, the pages, `spawn` |
//! | [`presence`] | who is online: people, not connections |
//! | [`session`] | one WebSocket page, from the Upgrade to its departure |
//! | [`polling`] | the same chat for pages that poll |
//! | [`validate`] | what a nickname and a message may be |

pub mod polling;
pub mod presence;
pub mod room;
pub mod session;
pub mod validate;

pub use room::{
    spawn, spawn_with, wire_note, Chat, ChatConfig, ChatLimits, Refusal, CHAT_CSS, CHAT_JS, HISTORY, INDEX_HTML, JOINS,
    JOINS_PER_ADDRESS, KEEP, MAX_ONLINE, MAX_WAITING, SAYS,
};
pub use session::{JOIN_WAIT, MAX_MESSAGE};
pub use validate::{read_from_page, read_join, valid_nick, FromPage, JoinRequest, MAX_NICK, MAX_TEXT};
