//! The chat's rules over real sockets: refusals answered, presence per
//! person, and pages that notice a restarted server.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use wirelab::app::chat::{self, MAX_NICK, MAX_TEXT};
use wirelab::app::json;
use wirelab::broadcast::SubscriberConfig;
use wirelab::websocket::{self, Message, WebSocket};

const WAIT: Duration = Duration::from_secs(10);

fn start() -> (wirelab::server::ServerHandle, std::sync::Arc<chat::Chat>) {
    chat::spawn("127.0.0.1:0", SubscriberConfig::default()).unwrap()
}

fn client(addr: SocketAddr) -> WebSocket {
    let ws = websocket::connect(&format!("ws://{addr}/ws")).unwrap();
    ws.set_read_timeout(Some(WAIT)).unwrap();
    ws
}

/// The next event, past the size reports that follow compressed ones
/// (`"type":"wire"`, checked in `tests/chat.rs`).
fn next_event(ws: &mut WebSocket) -> json::Value {
    loop {
        match ws.read().unwrap() {
            Message::Text(t) if t.starts_with(r#"{"type":"wire""#) => {}
            Message::Text(t) => return json::parse(&t).unwrap(),
            Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => {}
        }
    }
}

fn field<'a>(v: &'a json::Value, key: &str) -> &'a str {
    v.get(key).and_then(json::Value::as_str).unwrap_or("")
}

fn number(v: &json::Value, key: &str) -> f64 {
    v.get(key).and_then(json::Value::as_f64).unwrap_or(-1.0)
}

/// The session token a history message (or a join answer) carries.
fn token(v: &json::Value) -> String {
    field(v, "token").to_string()
}

/// Joins with `join` (the whole join message) and returns the socket and the history message.
fn join_with(addr: SocketAddr, join: &str) -> (WebSocket, json::Value) {
    let mut ws = client(addr);
    ws.send(Message::text(join)).unwrap();
    let history = next_event(&mut ws);
    assert_eq!(field(&history, "type"), "history", "{history:?}");
    (ws, history)
}

fn join(addr: SocketAddr, nick: &str) -> WebSocket {
    join_with(addr, &format!(r#"{{"type":"join","nick":"{nick}"}}"#)).0
}

/// One HTTP request on its own connection; returns the status and the body.
fn http(addr: SocketAddr, method: &str, target: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        s,
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response[response.find("\r\n\r\n").unwrap() + 4..].to_string();
    (status, body)
}

/// Joins over HTTP; returns the session token.
fn join_http(addr: SocketAddr, body: &str) -> String {
    let (status, answer) = http(addr, "POST", "/api/chat/join", body);
    assert_eq!(status, 200, "{answer}");
    token(&json::parse(&answer).unwrap())
}

#[test]
fn a_refused_chat_message_is_answered_with_the_reason_and_the_connection_stays_open() {
    let (server, _chat) = start();
    let mut alice = join(server.local_addr(), "alice");
    assert_eq!(field(&next_event(&mut alice), "type"), "join");
    let too_long = "x".repeat(MAX_TEXT + 1);
    let cases = [
        (r#"{"type":"say","text":"   "}"#.to_string(), "empty"),
        (format!(r#"{{"type":"say","text":"{too_long}"}}"#), "at most 2000"),
        ("hello?".to_string(), "not JSON"),
        (r#"{"type":"join","nick":"eve"}"#.to_string(), "already joined as alice"),
        (r#"{"type":"shout","text":"hi"}"#.to_string(), "unknown type"),
        (r#"{"type":"say"}"#.to_string(), "text is required"),
    ];
    for (sent, why) in &cases {
        alice.send(Message::text(sent.as_str())).unwrap();
        let answer = next_event(&mut alice);
        assert_eq!(field(&answer, "type"), "error", "answer to {sent:.60}: {answer:?}");
        assert!(field(&answer, "text").contains(why), "{answer:?} should say {why}");
    }
    // Nothing refused was broadcast, and the connection still works.
    alice
        .send(Message::text(r#"{"type":"say","text":"  still here \n"}"#))
        .unwrap();
    let said = next_event(&mut alice);
    assert_eq!((field(&said, "type"), field(&said, "text")), ("message", "still here"));
    assert_eq!(number(&said, "id"), 2.0, "the refused messages took no ids");
}

#[test]
fn a_join_with_a_bad_nickname_is_refused_with_the_reason_and_1008() {
    let (server, _chat) = start();
    let long = "n".repeat(MAX_NICK + 1);
    for (join, why) in [
        (format!(r#"{{"type":"join","nick":"{long}"}}"#), "at most 24"),
        (r#"{"type":"join","nick":"  "}"#.to_string(), "empty"),
        (r#"{"type":"say","text":"hi"}"#.to_string(), "join"),
        (r#"{"type":"join"}"#.to_string(), "nickname is required"),
    ] {
        let mut ws = client(server.local_addr());
        ws.send(Message::text(join.as_str())).unwrap();
        let answer = next_event(&mut ws);
        assert_eq!(field(&answer, "type"), "error");
        assert!(field(&answer, "text").contains(why), "{answer:?} should say {why}");
        match ws.read().unwrap() {
            Message::Close(Some(frame)) => assert_eq!(frame.code.0, 1008),
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

#[test]
fn two_tabs_with_one_nickname_are_one_person_and_a_transport_switch_announces_nothing() {
    let (server, chat) = start();
    let addr = server.local_addr();
    let mut alice = join(addr, "alice");
    assert_eq!(field(&next_event(&mut alice), "type"), "join");
    let (mut bob, bob_history) = join_with(addr, r#"{"type":"join","nick":"bob"}"#);
    let bob_token = token(&bob_history);
    let bob_joined = next_event(&mut alice);
    assert_eq!(
        (field(&bob_joined, "nick"), number(&bob_joined, "online")),
        ("bob", 2.0)
    );
    next_event(&mut bob); // his own join

    // Bob's second tab (it brings his token), then his switch of that tab
    // to polling: open the new transport, then close the old one.
    let with_token = format!(r#"{{"type":"join","nick":"bob","token":"{bob_token}"}}"#);
    let (second, _) = join_with(addr, &with_token);
    let polling = join_http(addr, &format!(r#"{{"nick":"bob","token":"{bob_token}"}}"#));
    assert_eq!(polling, bob_token, "one person, one token");
    drop(second);
    let leave = format!(r#"{{"token":"{bob_token}"}}"#);
    assert_eq!(http(addr, "POST", "/api/chat/leave", &leave).0, 204);
    assert_eq!(chat.online(), 2);
    // The next event alice sees is a message, not a leave or a join.
    alice.send(Message::text(r#"{"type":"say","text":"ping"}"#)).unwrap();
    assert_eq!(field(&next_event(&mut alice), "text"), "ping");

    // Bob's last tab closes: now he has left.
    bob.close(None).unwrap();
    let left = next_event(&mut alice);
    assert_eq!((field(&left, "type"), field(&left, "nick")), ("leave", "bob"));
    assert_eq!(number(&left, "online"), 1.0);
}

#[test]
fn saying_something_over_http_needs_the_token_its_join_returned() {
    let (server, _chat) = start();
    let addr = server.local_addr();
    let (status, body) = http(addr, "POST", "/api/chat/say", r#"{"nick":"ghost","text":"boo"}"#);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("join"), "{body}");
    let ghost = join_http(addr, r#"{"nick":"ghost"}"#);
    let (status, body) = http(
        addr,
        "POST",
        "/api/chat/say",
        &format!(r#"{{"token":"{ghost}","text":""}}"#),
    );
    assert_eq!(status, 400);
    assert!(body.contains("empty"), "{body}");
    let say = format!(r#"{{"token":"{ghost}","text":"boo"}}"#);
    assert_eq!(http(addr, "POST", "/api/chat/say", &say).0, 201);
}

#[test]
fn history_and_polls_carry_the_epoch_and_an_id_from_an_earlier_run_is_answered_at_once() {
    let (server, chat) = start();
    let addr = server.local_addr();
    let (_alice, history) = join_with(addr, r#"{"type":"join","nick":"alice"}"#);
    assert_eq!(number(&history, "epoch"), chat.epoch() as f64);

    // A long poll for ids this server never gave out (the page knew an
    // earlier run) returns at once, with the epoch, instead of waiting.
    let started = Instant::now();
    let (status, body) = http(addr, "GET", "/api/chat/poll?since=500&wait=25", "");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "held for {:?}",
        started.elapsed()
    );
    assert_eq!(status, 200);
    let answer = json::parse(&body).unwrap();
    assert_eq!(number(&answer, "epoch"), chat.epoch() as f64);
    let (_, body) = http(addr, "GET", "/api/chat/poll?since=0", "");
    assert_eq!(number(&json::parse(&body).unwrap(), "epoch"), chat.epoch() as f64);
}

#[test]
fn a_join_with_since_and_the_same_epoch_replays_only_what_was_missed() {
    let (server, chat) = start();
    let addr = server.local_addr();
    let mut alice = join(addr, "alice"); // event 1
    next_event(&mut alice);
    for i in 0..3 {
        alice
            .send(Message::text(format!(r#"{{"type":"say","text":"m{i}"}}"#)))
            .unwrap();
        next_event(&mut alice); // events 2, 3, 4
    }
    let ids = |history: &json::Value| -> Vec<f64> {
        let Some(json::Value::Array(events)) = history.get("events") else {
            panic!("{history:?}")
        };
        events.iter().map(|e| number(e, "id")).collect()
    };
    let epoch = chat.epoch();
    let (_b1, h) = join_with(
        addr,
        &format!(r#"{{"type":"join","nick":"bob","since":3,"epoch":{epoch}}}"#),
    );
    assert_eq!(ids(&h), vec![4.0], "the one missed; bob's own join comes after, once");
    // Another epoch: the page's ids mean nothing here; it gets the recent
    // history. (A second tab of bob's: it brings his token.)
    let bob = token(&h);
    let (_b2, h) = join_with(
        addr,
        &format!(r#"{{"type":"join","nick":"bob","since":3,"epoch":1,"token":"{bob}"}}"#),
    );
    assert_eq!(ids(&h), vec![1.0, 2.0, 3.0, 4.0, 5.0]);
    // The same over HTTP.
    let (_, body) = http(
        addr,
        "POST",
        "/api/chat/join",
        &format!(r#"{{"nick":"carol","since":4,"epoch":{epoch}}}"#),
    );
    assert!(token(&json::parse(&body).unwrap()).len() == 32, "{body}");
    let answer = json::parse(&body).unwrap();
    let Some(json::Value::Array(events)) = answer.get("history") else {
        panic!("{body}")
    };
    assert_eq!(events.iter().map(|e| number(e, "id")).collect::<Vec<_>>(), vec![5.0]);
}

#[test]
fn a_polling_tab_that_stops_polling_is_presumed_gone_and_its_leave_announced() {
    let quick = SubscriberConfig {
        pong_wait: Duration::from_millis(200),
        ping_period: Duration::from_millis(100),
        ..SubscriberConfig::default()
    };
    let (server, chat) = chat::spawn("127.0.0.1:0", quick).unwrap();
    let addr = server.local_addr();
    let carol = join_http(addr, r#"{"nick":"carol"}"#);
    // Carol keeps polling for three times the wait (2 x 200 ms): she stays.
    let until = Instant::now() + Duration::from_millis(1200);
    while Instant::now() < until {
        let poll = format!("/api/chat/poll?since=0&token={carol}");
        assert_eq!(http(addr, "GET", &poll, "").0, 200);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(chat.online(), 1, "a polling tab that polls is kept");
    // Then her browser vanishes without a goodbye. An observer's long poll
    // (no nick: not a tab of anyone) sees her leave.
    let stopped = Instant::now();
    let (status, body) = http(addr, "GET", "/api/chat/poll?since=1&wait=5", "");
    assert_eq!(status, 200, "{body}");
    let answer = json::parse(&body).unwrap();
    let Some(json::Value::Array(events)) = answer.get("events") else {
        panic!("{body}")
    };
    assert_eq!(
        (field(&events[0], "type"), field(&events[0], "nick")),
        ("leave", "carol")
    );
    assert_eq!(number(&events[0], "online"), 0.0);
    assert!(
        stopped.elapsed() < Duration::from_secs(3),
        "after {:?}",
        stopped.elapsed()
    );
    assert_eq!(chat.online(), 0);
}

#[test]
fn a_tab_moving_from_polling_to_websocket_is_online_before_it_hears_the_history() {
    // The page retires its polling tab the moment the WebSocket history
    // arrives. If the server counted the WebSocket only after sending the
    // history, that leave could find nobody there: "bob left", "bob joined".
    // Forty joins from one address in a moment: more than the default
    // join rate allows one address.
    let config = chat::ChatConfig {
        limits: chat::ChatLimits {
            joins_per_address: wirelab::app::rate::Rate {
                burst: 100,
                per_second: 100.0,
            },
            ..chat::ChatLimits::default()
        },
        ..chat::ChatConfig::default()
    };
    let (server, chat) = chat::spawn_with("127.0.0.1:0", config).unwrap();
    let addr = server.local_addr();
    let mut alice = join(addr, "alice");
    next_event(&mut alice);
    let bob = join_http(addr, r#"{"nick":"bob"}"#);
    assert_eq!(field(&next_event(&mut alice), "nick"), "bob");
    let (ws_join, http_join, leave) = (
        format!(r#"{{"type":"join","nick":"bob","token":"{bob}"}}"#),
        format!(r#"{{"nick":"bob","token":"{bob}"}}"#),
        format!(r#"{{"token":"{bob}"}}"#),
    );
    for round in 0..20 {
        let (ws, _) = join_with(addr, &ws_join); // returns once the history has arrived
        assert_eq!(http(addr, "POST", "/api/chat/leave", &leave).0, 204);
        assert_eq!(chat.online(), 2, "round {round}");
        // And back: polling joined before the WebSocket closes.
        assert_eq!(join_http(addr, &http_join), bob);
        drop(ws);
    }
    alice.send(Message::text(r#"{"type":"say","text":"ping"}"#)).unwrap();
    let next = next_event(&mut alice);
    assert_eq!(field(&next, "text"), "ping", "bob never seemed to leave: {next:?}");
}

#[test]
fn a_compressing_page_is_told_the_compressed_size_it_was_sent_and_it_is_the_size_on_the_wire() {
    let (server, _chat) = start();
    let addr = server.local_addr();
    // `client` offers permessage-deflate as browsers do.
    let mut ws = client(addr);
    assert!(ws.compression().is_some(), "the chat accepts the extension");
    ws.send(Message::text(r#"{"type":"join","nick":"ada"}"#)).unwrap();
    let raw = |ws: &mut WebSocket| match ws.read().unwrap() {
        Message::Text(t) => (json::parse(&t).unwrap(), ws.last_message_wire()),
        other => panic!("{other:?}"),
    };
    let (history, wire) = raw(&mut ws);
    assert_eq!(field(&history, "type"), "history");
    let (note, _) = raw(&mut ws);
    assert_eq!((field(&note, "type"), field(&note, "of")), ("wire", "history"));
    assert!(wire.compressed);
    assert_eq!(number(&note, "deflated"), wire.payload_bytes as f64);
    let (joined, _) = raw(&mut ws);
    assert_eq!(field(&joined, "type"), "join");

    let text = "the same words again and again: the same words again and again";
    ws.send(Message::text(format!(r#"{{"type":"say","text":"{text}"}}"#)))
        .unwrap();
    let (said, wire) = raw(&mut ws);
    assert_eq!(field(&said, "text"), text);
    assert!(wire.compressed, "{wire:?}");
    let frame = said.get("frame").unwrap();
    assert_eq!(
        frame.get("deflated"),
        Some(&json::Value::Bool(true)),
        "our frame to it was compressed"
    );
    let (note, _) = raw(&mut ws);
    assert_eq!(field(&note, "type"), "wire", "{note:?}");
    assert_eq!(number(&note, "id"), number(&said, "id"));
    assert_eq!(
        number(&note, "deflated"),
        wire.payload_bytes as f64,
        "the note tells the truth"
    );
    assert!(number(&note, "bytes") > number(&note, "deflated"));
}
