//! The applications: what the layers below are for.
//!
//! Nothing in [`crate::http`] or [`crate::websocket`] imports from here;
//! everything here is built on them and on [`crate::broadcast`].
//!
//! | module | what |
//! |---|---|
//! | [`json`] | JSON written and read by hand (RFC 8259), and JSON responses |
//! | [`events`] | the event log behind short and long polling |
//! | [`poll`] | the polling endpoint: `?since=N`, `?wait=S` |
//! | [`rate`] | rates with a burst (token buckets), per person or per address |
//! | [`messages`] | a REST resource, `/api/messages`, and its polling endpoint |
//! | [`echo`] | the WebSocket echo server Autobahn tests, large echoes held against its budget |
//! | [`chat`] | the chat: one page, three transports, one event log |
//! | [`ticker`] | the stock ticker: server push and nothing else |

pub mod chat;
pub mod echo;
pub mod events;
pub mod json;
pub mod messages;
pub mod poll;
pub mod rate;
pub mod ticker;
