//! The polling endpoint, shared by the REST demo and the chat: one
//! `GET` that answers a short poll at once and holds a long poll until
//! there is news.
//!
//! `?since=N` names the last event the client has; `?wait=S` makes it a
//! long poll held up to `S` seconds. The events come from an
//! [`EventLog`]; how they are written out is up to the caller.

use std::time::Duration;

use super::events::EventLog;
use super::json;
use crate::http::{Piece, Request, Response};

/// Longest a long poll may be held.
pub const MAX_WAIT: Duration = Duration::from_secs(30);
/// How often a held long poll checks that its client is still connected.
pub const GONE_CHECK: Duration = Duration::from_millis(250);

/// Answers a short or long poll on `log`, the way every polling endpoint
/// here does: `?since=N` (an id; default 0 for a short poll,
/// `long_poll_default` for a long one) and `?wait=S` (seconds, at most
/// [`MAX_WAIT`]; present means long poll). 200 with the JSON that
/// `render(events)` gives in pieces (written from where they are, not
/// copied: see [`Piece`]), 204
/// when a long poll timed out (or its client left, checked every
/// [`GONE_CHECK`]), 400 for bad parameters, 503 with `Retry-After` when
/// too many long polls are already held.
///
/// A `since` beyond the newest id is one this log never gave out: the
/// client knew an earlier run of the server. It is answered at once with
/// every event kept, as for `since=0`, so the client catches up with the
/// new numbering instead of waiting for ids that may never come.
pub fn answer<T: Clone>(
    req: &Request,
    log: &EventLog<T>,
    long_poll_default: u64,
    render: impl FnOnce(&[(u64, T)]) -> Vec<Piece>,
) -> Response {
    let wait = match req.query("wait").map(|s| parse_wait(&s)) {
        None if req.has_query("wait") => return json::error_response(400, "wait must be a number of seconds"),
        None => None,
        Some(Some(wait)) => Some(wait),
        Some(None) => return json::error_response(400, "wait must be a number of seconds"),
    };
    let since = match req.query("since").map(|s| s.parse::<u64>()) {
        None if req.has_query("since") => return json::error_response(400, "since must be an event id"),
        None if wait.is_some() => long_poll_default,
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return json::error_response(400, "since must be an event id"),
    };
    if since > log.last_id() {
        return json::response_in_pieces(200, render(&log.since(0)));
    }
    let events = match wait {
        None => log.since(since),
        Some(wait) => match log.wait_since_while(since, wait, GONE_CHECK, || !req.client_gone()) {
            Ok(found) if found.is_empty() => return Response::new(204).with_header("Cache-Control", "no-store"),
            Ok(found) => found,
            Err(_) => {
                return json::error_response(503, "too many long polls waiting; try again")
                    .with_header("Retry-After", "1")
            }
        },
    };
    json::response_in_pieces(200, render(&events))
}

/// `?wait=S`: a number of seconds, at least 0, clamped to [`MAX_WAIT`]
/// *before* it becomes a `Duration`. `Duration::from_secs_f64` panics on a
/// value that does not fit (`1e20` seconds is 3 trillion years), so the
/// clamp must come first: a peer's number never reaches a conversion that
/// can overflow.
fn parse_wait(s: &str) -> Option<Duration> {
    let seconds = s.parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0)?;
    Some(Duration::from_secs_f64(seconds.min(MAX_WAIT.as_secs_f64())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{read_head, Limits};

    fn request(target: &str) -> Request {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n");
        let head = read_head(&mut raw.as_bytes(), &Limits::default()).unwrap().unwrap();
        Request::new(head, Vec::new(), Vec::new(), "127.0.0.1:1".parse().unwrap())
    }

    fn status(target: &str) -> u16 {
        let log = EventLog::new(10, 4);
        log.push("news");
        answer(&request(target), &log, 0, |events| {
            vec![Piece::Shared(events.len().to_string().into())]
        })
        .status
    }

    #[test]
    fn a_wait_too_large_for_a_duration_is_a_long_poll_of_the_longest_wait_not_a_panic() {
        // 1e20 seconds does not fit in a Duration: converting it first and
        // clamping afterwards panicked. An event is there, so it answers at once.
        for wait in ["1e20", "1e300", "18446744073709551616", "30.000001"] {
            assert_eq!(status(&format!("/poll?since=0&wait={wait}")), 200, "wait={wait}");
        }
        for wait in ["inf", "NaN", "-1", "", "%"] {
            assert_eq!(status(&format!("/poll?since=0&wait={wait}")), 400, "wait={wait}");
        }
    }
}
