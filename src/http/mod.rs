//! HTTP/1.1 on raw sockets: the request/response protocol under WebSocket.
//!
//! HTTP is text on a TCP connection: the client writes a request, the server
//! writes one response, and only then may the client's next request be
//! answered. That turn-taking is what the notes call half duplex
//! ("为什么有了HTTP，还需要WebSocket协议？"): the *protocol* takes turns even though the
//! TCP connection under it could carry both directions at once. A WebSocket
//! connection begins life as one of these requests (RFC 6455 §4.1), which is
//! why the WebSocket handshake in this crate reuses this parser.
//!
//! The files, in the order a request meets them:
//!
//! | module | RFC | what |
//! |---|---|---|
//! | [`headers`] | 9110 §5 | header fields: case-insensitive names, list values |
//! | [`error`] | 9110 §15 | every way a request can be wrong, with its status code |
//! | [`head`] | 9112 §2, §5 | what requests and responses share: version, limits, lines and fields |
//! | [`request`] | 9112 §3 | reading a request head: request line, target forms, `Host` |
//! | [`body`] | 9112 §6-7 | `Content-Length` and chunked bodies |
//! | [`response`] | 9112 §4, §6 | writing a response; reading one (for the WebSocket client) |
//! | [`router`] | 9110 §9, §15 | method + path to handler, 404/405/501 |
//! | [`site`] | 9110 §7.2, 6454 | whose requests a browser-facing server answers: `Host` and `Origin` |
//! | [`serve`] | 9112 §9 | one connection: keep-alive, pipelining, deadlines |
//!
//! Every peer-controlled size is capped, and every way a request can be
//! wrong is an [`HttpError`] variant that knows its status code.

pub mod body;
pub mod error;
pub mod head;
pub mod headers;
pub mod request;
pub mod response;
pub mod router;
pub mod serve;
pub mod site;

pub use error::HttpError;
pub use head::{Limits, Version};
pub use headers::Headers;
pub use request::{read_head, RequestHead};
pub use response::{http_date, read_response_head, reason_phrase, Piece, Response, ResponseHead};
pub use router::{Request, Router, Upgrade};
pub use serve::{HttpConfig, HttpServer, FIRST_REQUEST_GRACE};
pub use site::{SiteError, SitePolicy};
