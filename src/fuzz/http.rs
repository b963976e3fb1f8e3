//! The HTTP request parser and the WebSocket opening handshake under
//! fuzzing.
//!
//! HTTP: pipelined requests with `Content-Length` or chunked bodies, valid
//! or mutated, read through buffers of random sizes. A valid run must parse
//! to exactly the requests sent; anything else must end in an error that
//! has its status code and response, with no body over the limit.
//!
//! Handshake: a browser-like Upgrade request, valid, broken in exactly one
//! rule (the answer must be that rule's status), or mutated (the answer
//! must be 101 with a correct `Sec-WebSocket-Accept`, or an error response
//! a client can read: a 426 names `Upgrade: websocket`).

use std::io::BufReader;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use super::mutate::{mutate, Pieces};
use crate::http::body::{body_kind, read_body};
use crate::http::{read_head, read_response_head, HttpError, Limits, RequestHead};
use crate::random::XorShift;
use crate::websocket::handshake::{check_request, check_response, HandshakeConfig};

/// Status codes the request parser may answer with.
const PARSER_STATUSES: [u16; 8] = [400, 408, 411, 413, 414, 431, 501, 505];

fn limits() -> Limits {
    Limits {
        max_request_line: 256,
        max_header_line: 256,
        max_headers: 12,
        max_head_bytes: 1024,
        max_body: 2048,
    }
}

/// A request as generated: what the parser must find in it.
#[derive(Debug, PartialEq)]
struct Expected {
    method: String,
    target: String,
    body: Vec<u8>,
}

/// Fields a request may carry beside `Host` and its body's.
const EXTRA_FIELDS: [&str; 4] = [
    "Accept: */*\r\n",
    "X-A:b\r\n",
    "Cookie: a=b; c=d\r\n",
    "Connection: keep-alive\r\n",
];

fn request(rng: &mut XorShift, wire: &mut Vec<u8>) -> Expected {
    let method = rng
        .pick(&["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "X-CUSTOM"])
        .to_string();
    let target = rng
        .pick(&[
            "/",
            "/api/chat/poll?since=3&wait=25",
            "/a/b/c",
            "http://h:80/x?y",
            "/%20%ff",
        ])
        .to_string();
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: h:{}\r\n", rng.below(65536));
    for _ in 0..rng.below(4) {
        let field: &&str = rng.pick(&EXTRA_FIELDS);
        head.push_str(field);
    }
    let body: Vec<u8> = (0..rng.below(300)).map(|_| rng.next_u64() as u8).collect();
    if body.is_empty() && rng.one_in(2) {
        head.push_str("\r\n");
        wire.extend_from_slice(head.as_bytes());
    } else if rng.one_in(2) {
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        wire.extend_from_slice(head.as_bytes());
        wire.extend_from_slice(&body);
    } else {
        head.push_str("Transfer-Encoding: chunked\r\n\r\n");
        wire.extend_from_slice(head.as_bytes());
        let mut rest = &body[..];
        while !rest.is_empty() {
            let n = (1 + rng.below(100)).min(rest.len());
            let ext = if rng.one_in(4) { ";name=value" } else { "" };
            wire.extend_from_slice(format!("{n:x}{ext}\r\n").as_bytes());
            wire.extend_from_slice(&rest[..n]);
            wire.extend_from_slice(b"\r\n");
            rest = &rest[n..];
        }
        wire.extend_from_slice(if rng.one_in(3) {
            b"0\r\nX-Trailer: t\r\n\r\n"
        } else {
            b"0\r\n\r\n"
        });
    }
    Expected { method, target, body }
}

/// A request over one of the [`limits`]: 413, 414 or 431 if nothing else
/// is wrong with it.
fn oversized(rng: &mut XorShift, wire: &mut Vec<u8>) {
    let request = match rng.below(5) {
        0 => format!(
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n",
            2049 + rng.below(1 << 20)
        ),
        1 => format!(
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
            2049 + rng.below(5000)
        ),
        2 => format!("GET /{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(256 + rng.below(100))),
        3 => format!(
            "GET / HTTP/1.1\r\nHost: h\r\nX-Long: {}\r\n\r\n",
            "b".repeat(256 + rng.below(100))
        ),
        _ => format!("GET / HTTP/1.1\r\n{}\r\n", "X-Many: c\r\n".repeat(13 + rng.below(10))),
    };
    wire.extend_from_slice(request.as_bytes());
}

/// One HTTP case; see the module docs.
pub fn case(rng: &mut XorShift) -> Result<String, String> {
    let mut wire = Vec::new();
    let expected: Vec<Expected> = (0..1 + rng.below(3)).map(|_| request(rng, &mut wire)).collect();
    let valid = rng.one_in(4);
    if !valid {
        if rng.one_in(3) {
            oversized(rng, &mut wire);
        }
        mutate(rng, &mut wire, 8192);
    }
    let limits = limits();
    let capacity = 1 + rng.below(512);
    let largest = 1 + rng.below(600);
    let mut reader = BufReader::with_capacity(capacity, Pieces::new(&wire, rng.next_u64(), largest, false));
    let mut got = Vec::new();
    let outcome = loop {
        let head = match read_head(&mut reader, &limits) {
            Ok(Some(head)) => head,
            Ok(None) => break "end".to_string(),
            Err(e) => break answered(&e)?,
        };
        if head.wire_len > limits.max_head_bytes + 5 * limits.max_request_line {
            return Err(format!("a head of {} bytes", head.wire_len));
        }
        let body = match body_kind(&head, &limits).and_then(|kind| read_body(&mut reader, kind, &limits)) {
            Ok(body) => body,
            Err(e) => break answered(&e)?,
        };
        if body.len() > limits.max_body {
            return Err(format!("a body of {} bytes", body.len()));
        }
        got.push(Expected {
            method: head.method,
            target: head.target,
            body,
        });
    };
    if valid && (got != expected || outcome != "end") {
        return Err(format!("valid requests parsed as {got:?}, ending in {outcome}"));
    }
    Ok(format!(
        "{}{} requests, then {outcome}",
        if valid { "valid: " } else { "" },
        got.len().min(3)
    ))
}

/// The answer to a parse error: its status, which must be one the parser
/// gives, with a response to send (or, at the end of the input, nothing
/// to send: nobody is left to read it).
fn answered(e: &HttpError) -> Result<String, String> {
    if !e.can_respond() {
        return Ok("connection ended mid-request".into());
    }
    let status = e.to_response().status;
    if PARSER_STATUSES.contains(&status) {
        Ok(format!("{status}"))
    } else {
        Err(format!("{e} answered with {status}"))
    }
}

/// The rule a handshake case breaks on purpose, and the status that must answer it.
const BROKEN: [(&str, u16); 9] = [
    ("method", 405),
    ("http/1.0", 400),
    ("no host", 400),
    ("no upgrade", 426),
    ("connection", 400),
    ("version 8", 426),
    ("short key", 400),
    ("a body", 400),
    ("foreign origin", 403),
];

/// One handshake case; see the module docs.
pub fn handshake_case(rng: &mut XorShift) -> Result<String, String> {
    let mut nonce = [0u8; 16];
    nonce.iter_mut().for_each(|b| *b = rng.next_u64() as u8);
    let key = BASE64.encode(nonce);
    let broken = rng.one_in(2).then(|| *rng.pick(&BROKEN));
    let rule = broken.map(|(rule, _)| rule);
    let mut lines = vec![
        format!("Host: server.example:{}", rng.below(65536)),
        (if rule == Some("no upgrade") {
            "Upgrade: h2c"
        } else {
            *rng.pick(&["Upgrade: websocket", "upgrade: WebSocket"])
        })
        .to_string(),
        (if rule == Some("connection") {
            "Connection: keep-alive"
        } else {
            *rng.pick(&["Connection: Upgrade", "Connection: keep-alive, upgrade"])
        })
        .to_string(),
        format!(
            "Sec-WebSocket-Key: {}",
            if rule == Some("short key") { "c2hvcnQ=" } else { &key }
        ),
        format!(
            "Sec-WebSocket-Version: {}",
            if rule == Some("version 8") { "8" } else { "13" }
        ),
        format!(
            "Origin: {}",
            if rule == Some("foreign origin") {
                "http://evil.example"
            } else {
                "http://server.example"
            }
        ),
    ];
    if rule == Some("no host") {
        lines.remove(0);
    }
    if rule == Some("a body") {
        lines.push("Content-Length: 5".into());
    }
    if rng.one_in(2) {
        lines.push("Sec-WebSocket-Protocol: chat, superchat".into());
    }
    for i in (1..lines.len()).rev() {
        lines.swap(i, rng.below(i + 1));
    }
    let method = if rule == Some("method") { "POST" } else { "GET" };
    let version = if rule == Some("http/1.0") {
        "HTTP/1.0"
    } else {
        "HTTP/1.1"
    };
    let mut wire = format!("{method} /chat {version}\r\n{}\r\n\r\n", lines.join("\r\n")).into_bytes();
    let mutated = rng.one_in(2);
    if mutated {
        mutate(rng, &mut wire, 2048);
    }
    let config = HandshakeConfig {
        protocols: vec!["chat".into()],
        allowed_origins: Some(vec!["http://server.example".into()]),
    };
    let limits = limits();
    let head: RequestHead = match read_head(&mut &wire[..], &limits) {
        Ok(Some(head)) => head,
        Ok(None) if mutated => return Ok("empty".into()),
        Err(e) if mutated => return answered(&e).map(|s| format!("parser: {s}")),
        other => return Err(format!("an unmutated request read as {other:?}")),
    };
    let status = match check_request(&head, &config) {
        Ok(accepted) => {
            // The answer must satisfy a client's checks (§4.1).
            let response = accepted.response();
            let parsed = read_response_head(&mut &response[..], &Limits::default()).map_err(|e| e.to_string())?;
            let key = head.headers.get("sec-websocket-key").unwrap_or_default();
            check_response(&parsed, key, &config.protocols).map_err(|e| format!("our 101 fails a client: {e}"))?;
            101
        }
        Err(e) => {
            let r = e.to_response().ok_or_else(|| format!("{e}: no response to send"))?;
            if r.status == 426
                && !(r.headers.has_token("upgrade", "websocket") && r.headers.has_token("connection", "upgrade"))
            {
                return Err("a 426 without Upgrade".into());
            }
            r.status
        }
    };
    match (mutated, broken) {
        (false, Some((rule, want))) if status != want => Err(format!("breaking {rule} got {status}, not {want}")),
        (false, None) if status != 101 => Err(format!("a valid handshake got {status}")),
        (false, Some((rule, _))) => Ok(format!("{rule}: {status}")),
        _ => Ok(format!("{}{status}", if mutated { "mutated: " } else { "valid: " })),
    }
}
