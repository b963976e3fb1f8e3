//! The stock ticker: server push, and nothing but.
//!
//! The notes name stock prices as the textbook case for server push
//! ("TCP与WebSocket的区别", "WebSocket示例"): the data
//! changes on the server's schedule, not the reader's. A simulator thread
//! moves a few prices by a small random step every [`Ticker::interval`] and
//! publishes one JSON text message through the hub (`src/broadcast/`); the
//! page (`index.html`, `ticker.js`, compiled in) only listens and draws the
//! prices on a `<canvas>` without any library.
//!
//! Messages, server → page:
//!
//! - on connect: `{"type":"hello","interval_ms":250,"history":[tick, …]}`;
//! - then every interval: `{"type":"tick","seq":812,"t":1732450000000,"quotes":[{"symbol":"ACME","price":101.23,"open":100.0}, …]}`
//!   (`t` in milliseconds since the Unix epoch, for the page's "age on arrival").
//! - every [`WIRE_EVERY`] ticks: `{"type":"wire","ticks":20,"bytes":U,"deflated":C}`,
//!   the JSON bytes of those ticks and their payload bytes as the hub
//!   compresses them for pages that negotiated permessage-deflate (the
//!   browser inflates before the page sees a message, so only the server
//!   can say).
//!
//! | module | what |
//! |---|---|
//! | [`feed`] | the simulator thread, the hub, the page and `/ws`, `spawn` |
//! | [`market`] | the simulated prices: a random walk pulled towards the open |

pub mod feed;
pub mod market;

pub use feed::{spawn, Ticker, HISTORY, INDEX_HTML, TICKER_JS, WIRE_EVERY};
