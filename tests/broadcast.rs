//! The broadcast hub, the chat and keepalive over real sockets.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use wirelab::app::json;
use wirelab::broadcast::{spawn_relay, SubscriberConfig};
use wirelab::server::ServerConfig;
use wirelab::websocket::frame::OpCode;
use wirelab::websocket::handshake::{client_request, generate_key};
use wirelab::websocket::{self, Message, WebSocket};

const WAIT: Duration = Duration::from_secs(10);

fn client(url: &str) -> WebSocket {
    let ws = websocket::connect(url).unwrap();
    ws.set_read_timeout(Some(WAIT)).unwrap();
    ws
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(2));
    }
}

/// A client that completes the handshake by hand and then does nothing at
/// all: never reads, never answers a ping.
fn silent_client(addr: SocketAddr, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(&client_request(&addr.to_string(), path, &generate_key(), &[], None))
        .unwrap();
    // Read just the 101 response head, byte by byte.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    s.set_read_timeout(Some(WAIT)).unwrap();
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    s
}

#[test]
fn a_hundred_clients_each_receive_every_message_once_in_publish_order() {
    let (server, hub) = spawn_relay("127.0.0.1:0", ServerConfig::default(), SubscriberConfig::default()).unwrap();
    let url = format!("ws://{}/", server.local_addr());
    let mut clients: Vec<WebSocket> = (0..100).map(|_| client(&url)).collect();
    wait_for("100 subscribers", || hub.subscribers() == 100);

    const K: usize = 30;
    for i in 0..K {
        clients[i % 100].send(Message::text(format!("message {i}"))).unwrap();
        // Publishes from different clients race each other to the hub; wait
        // for each so that "publish order" is well defined.
        wait_for("the publish", || {
            hub.stats().published.load(Ordering::SeqCst) == i as u64 + 1
        });
    }
    for (c, ws) in clients.iter_mut().enumerate() {
        for i in 0..K {
            assert_eq!(ws.read().unwrap(), Message::text(format!("message {i}")), "client {c}");
        }
    }
    // Exactly once: nothing more is waiting for anyone.
    for ws in &mut clients {
        ws.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        assert!(ws.read().unwrap_err().is_timeout());
    }
    assert_eq!(hub.stats().delivered.load(Ordering::SeqCst), (100 * K) as u64);
}

/// Publishes `k` messages of `size` bytes from `publisher` (draining its own
/// copies on another thread, since it is subscribed too) and returns how
/// long until `reader` had all of them.
fn fan_out_time(publisher: &mut WebSocket, reader: &mut WebSocket, k: usize, size: usize) -> Duration {
    let payload = "x".repeat(size);
    let started = Instant::now();
    let writer = publisher.writer();
    let sender = thread::spawn(move || {
        for _ in 0..k {
            writer.send_text(&payload).unwrap();
        }
    });
    thread::scope(|scope| {
        scope.spawn(|| {
            for _ in 0..k {
                publisher.read().unwrap();
            }
        });
        for _ in 0..k {
            assert_eq!(reader.read().unwrap().len(), size);
        }
    });
    sender.join().unwrap();
    started.elapsed()
}

#[test]
fn a_client_that_stops_reading_is_dropped_without_slowing_the_others() {
    // Two relays with the same settings, side by side. Rounds of K messages
    // go through both at the same time; on the first, a client that never
    // reads joins. The second is the control: it runs on the same machine
    // at the same moment, so it shares whatever load there is, and each
    // round beside the stalled client is compared with the control round
    // run with it, not with an absolute time or an earlier measurement.
    //
    // The outbox holds one round, so a reader that keeps up (it gets every
    // round before the next starts) can never be dropped, while one that
    // never reads overflows after a few rounds. The write timeout is far
    // longer than the test: the stalled client can only go by overflowing
    // its outbox, and a hub that waited for it would stall that long.
    const K: usize = 100;
    const SIZE: usize = 64 * 1024;
    let subscriber = SubscriberConfig {
        outbox: K,
        write_wait: Duration::from_secs(60),
        ..SubscriberConfig::default()
    };
    let (server, hub) = spawn_relay("127.0.0.1:0", ServerConfig::default(), subscriber).unwrap();
    let (control_server, control_hub) = spawn_relay("127.0.0.1:0", ServerConfig::default(), subscriber).unwrap();
    let addr = server.local_addr();
    let url = format!("ws://{addr}/");
    let control_url = format!("ws://{}/", control_server.local_addr());
    let mut publisher = client(&url);
    let mut reader = client(&url);
    let mut control_publisher = client(&control_url);
    let mut control_reader = client(&control_url);
    wait_for("2 subscribers", || hub.subscribers() == 2);
    wait_for("2 control subscribers", || control_hub.subscribers() == 2);

    // One round of 100 messages of 64 KiB (6.4 MiB) through each relay at
    // once: (time on the relay under test, time on the control).
    let mut round = || {
        thread::scope(|scope| {
            let control = scope.spawn(|| fan_out_time(&mut control_publisher, &mut control_reader, K, SIZE));
            let measured = fan_out_time(&mut publisher, &mut reader, K, SIZE);
            (measured, control.join().unwrap())
        })
    };

    // A first round with no stalled client; then one that never reads
    // joins, and rounds go on until its socket buffers and its outbox are
    // full and the hub drops it.
    let before = round();
    let stalled = silent_client(addr, "/");
    wait_for("3 subscribers", || hub.subscribers() == 3);
    let mut rounds = Vec::new();
    while hub.stats().dropped.load(Ordering::SeqCst) == 0 {
        assert!(rounds.len() < 40, "the stalled client was never dropped");
        rounds.push(round());
    }
    wait_for("the stalled client to be gone", || hub.subscribers() == 2);
    println!(
        "fan-out of {K} x {SIZE} B to a fast reader (beside the control): {:?} ({:?}) alone; \
         beside a stalled client {rounds:?} (dropped after {} MiB)",
        before.0,
        before.1,
        (rounds.len() * K * SIZE) >> 20
    );
    for (i, &(measured, control)) in rounds.iter().enumerate() {
        assert!(
            measured < control * 3 + Duration::from_millis(500),
            "round {i}: delivery beside the stalled client took {measured:?}, the control round {control:?}"
        );
    }
    assert_eq!(
        hub.stats().dropped.load(Ordering::SeqCst),
        1,
        "only the stalled client was dropped"
    );
    assert_eq!(control_hub.stats().dropped.load(Ordering::SeqCst), 0);
    drop(stalled);
}

#[test]
fn keepalive_drops_a_peer_that_never_answers_pings_and_keeps_one_that_does() {
    // Pings every 100 ms, silence tolerated for 1.5 s: a live client's pong
    // has 1.4 s to arrive, which even a loaded machine gives it, while a
    // dead peer is still noticed within seconds.
    let subscriber = SubscriberConfig {
        pong_wait: Duration::from_millis(1500),
        ping_period: Duration::from_millis(100),
        ..SubscriberConfig::default()
    };
    let (server, hub) = spawn_relay("127.0.0.1:0", ServerConfig::default(), subscriber).unwrap();
    let addr = server.local_addr();

    // A live client: its reader thread answers pings (the library does) and
    // counts them, until told to stop.
    let live = client(&format!("ws://{addr}/"));
    let (mut live_reader, _live_writer) = live.split();
    let pings = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let pongs = {
        let (pings, stop) = (Arc::clone(&pings), Arc::clone(&stop));
        thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                // Any error, a read timeout included (10 s without a ping
                // every 100 ms), means the live client was given up on.
                match live_reader.read() {
                    Ok(Message::Ping(_)) => {
                        pings.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(_) => {}
                    Err(e) => panic!("live client lost: {e}"),
                }
            }
        })
    };
    wait_for("1 subscriber", || hub.subscribers() == 1);
    let started = Instant::now();
    let mut dead = silent_client(addr, "/");
    wait_for("2 subscribers", || hub.subscribers() == 2);

    // The dead peer is cut off: its socket reaches end-of-stream (not the
    // 10 s read timeout).
    dead.set_read_timeout(Some(WAIT)).unwrap();
    let mut sink = Vec::new();
    let end = dead.read_to_end(&mut sink);
    let dropped_after = started.elapsed();
    assert!(
        end.is_ok(),
        "the dead peer was not cut off: {end:?} after {dropped_after:?}"
    );
    assert!(
        dropped_after < subscriber.pong_wait * 3,
        "dropped after {dropped_after:?}, the pong wait is {:?}",
        subscriber.pong_wait
    );
    assert!(
        sink.windows(2).any(|w| w == [0x89, 0x00]),
        "it had been pinged (an empty ping frame is 89 00)"
    );

    // The live client connected before `started`, so it has now been
    // connected longer than the pong wait. Its pings go on: it is still
    // served, not merely not dropped yet.
    wait_for("the dead peer to leave the hub", || hub.subscribers() == 1);
    let so_far = pings.load(Ordering::SeqCst);
    wait_for("more pings to the live client", || {
        assert!(!pongs.is_finished(), "the live client's reader ended");
        pings.load(Ordering::SeqCst) >= so_far + 2
    });
    stop.store(true, Ordering::SeqCst);
    pongs.join().unwrap();
    assert!(pings.load(Ordering::SeqCst) >= 3);
    assert_eq!(hub.subscribers(), 1, "the live client is still subscribed");
}

fn next_event(ws: &mut WebSocket) -> json::Value {
    loop {
        if let Message::Text(t) = ws.read().unwrap() {
            return json::parse(&t).unwrap();
        }
    }
}

/// The next chat message, passing over presence events (joins, leaves).
fn next_message(ws: &mut WebSocket) -> json::Value {
    loop {
        let event = next_event(ws);
        if event.get("type").and_then(json::Value::as_str) == Some("message") {
            return event;
        }
    }
}

fn chat_join(url: &str, nick: &str) -> WebSocket {
    let mut ws = client(url);
    ws.send(Message::text(format!(r#"{{"type":"join","nick":"{nick}"}}"#)))
        .unwrap();
    let history = next_event(&mut ws);
    assert_eq!(history.get("type").and_then(json::Value::as_str), Some("history"));
    ws
}

fn kind_and_nick(v: &json::Value) -> (String, String) {
    (
        v.get("type").and_then(json::Value::as_str).unwrap_or("").to_string(),
        v.get("nick").and_then(json::Value::as_str).unwrap_or("").to_string(),
    )
}

#[test]
fn a_chat_leave_is_announced_when_a_client_disconnects_abruptly() {
    let (server, _chat) = wirelab::app::chat::spawn("127.0.0.1:0", SubscriberConfig::default()).unwrap();
    let url = format!("ws://{}/ws", server.local_addr());
    let mut alice = chat_join(&url, "alice");
    assert_eq!(kind_and_nick(&next_event(&mut alice)), ("join".into(), "alice".into()));
    let bob = chat_join(&url, "bob");
    assert_eq!(kind_and_nick(&next_event(&mut alice)), ("join".into(), "bob".into()));
    // Bob's side vanishes without a close frame: dropping the socket.
    drop(bob);
    let leave = next_event(&mut alice);
    assert_eq!(kind_and_nick(&leave), ("leave".into(), "bob".into()));
    assert_eq!(leave.get("online").and_then(json::Value::as_f64), Some(1.0));
}

#[test]
fn a_chat_message_carries_its_measured_frame_and_reaches_pollers_too() {
    let (server, _chat) = wirelab::app::chat::spawn("127.0.0.1:0", SubscriberConfig::default()).unwrap();
    let addr = server.local_addr();
    let mut alice = chat_join(&format!("ws://{addr}/ws"), "alice");
    next_event(&mut alice); // her own join
    let sent = r#"{"type":"say","text":"hello, pollers"}"#;
    alice.send(Message::text(sent)).unwrap();
    let msg = next_event(&mut alice);
    assert_eq!(msg.get("text").and_then(json::Value::as_str), Some("hello, pollers"));
    let frame = msg.get("frame").unwrap();
    // A short message sent by a client: one frame, a 2-byte header plus a
    // 4-byte masking key, and the JSON as payload.
    assert_eq!(
        frame.get("payload").and_then(json::Value::as_f64),
        Some(sent.len() as f64)
    );
    assert_eq!(frame.get("header").and_then(json::Value::as_f64), Some(6.0));

    // A short poll sees the same event with the same id.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(format!("GET /api/chat/poll?since=0 HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let body = &response[response.find("\r\n\r\n").unwrap() + 4..];
    let polled = json::parse(body).unwrap();
    let Some(json::Value::Array(events)) = polled.get("events") else {
        panic!("{body}")
    };
    assert!(events
        .iter()
        .any(|e| e.get("id") == msg.get("id") && e.get("text") == msg.get("text")));
}

#[test]
fn a_binary_message_to_the_text_only_hub_is_refused_with_1003() {
    let (server, _hub) = spawn_relay("127.0.0.1:0", ServerConfig::default(), SubscriberConfig::default()).unwrap();
    let mut ws = client(&format!("ws://{}/", server.local_addr()));
    ws.send(Message::binary(vec![1, 2, 3])).unwrap();
    match ws.read().unwrap() {
        Message::Close(Some(frame)) => assert_eq!(frame.code.0, 1003),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

#[test]
fn the_ticker_pushes_ticks_without_being_asked() {
    let (server, ticker) = wirelab::app::ticker::spawn("127.0.0.1:0", Duration::from_millis(20)).unwrap();
    let mut ws = client(&format!("ws://{}/ws", server.local_addr()));
    let hello = next_event(&mut ws);
    assert_eq!(hello.get("type").and_then(json::Value::as_str), Some("hello"));
    let mut seqs = Vec::new();
    while seqs.len() < 5 {
        let tick = next_event(&mut ws);
        assert_eq!(tick.get("type").and_then(json::Value::as_str), Some("tick"));
        seqs.push(tick.get("seq").and_then(json::Value::as_f64).unwrap());
    }
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1.0),
        "consecutive ticks: {seqs:?}"
    );
    ticker.stop();
}

#[test]
fn the_chat_refuses_a_message_too_big_for_a_chat_with_1009() {
    let (server, _chat) = wirelab::app::chat::spawn("127.0.0.1:0", SubscriberConfig::default()).unwrap();
    let mut ws = chat_join(&format!("ws://{}/ws", server.local_addr()), "mallory");
    ws.send(Message::text("x".repeat(1 << 20))).unwrap();
    loop {
        match ws.read() {
            Ok(Message::Close(Some(frame))) => {
                assert_eq!(frame.code.0, 1009);
                break;
            }
            Ok(_) => {}
            Err(e) => panic!("expected a close frame, got {e}"),
        }
    }
}

/// Reads unmasked server frames off a raw socket until a close frame or the
/// end of the stream; returns the close frame's status code.
fn raw_close_code(s: &mut TcpStream) -> Option<u16> {
    let mut head = [0u8; 2];
    loop {
        s.read_exact(&mut head).ok()?;
        let len = match head[1] & 0x7f {
            126 => {
                let mut ext = [0u8; 2];
                s.read_exact(&mut ext).ok()?;
                u64::from(u16::from_be_bytes(ext))
            }
            127 => {
                let mut ext = [0u8; 8];
                s.read_exact(&mut ext).ok()?;
                u64::from_be_bytes(ext)
            }
            n => u64::from(n),
        };
        let mut payload = vec![0u8; usize::try_from(len).ok()?];
        s.read_exact(&mut payload).ok()?;
        if head[0] & 0x0f == 0x8 {
            return Some(u16::from_be_bytes([payload[0], payload[1]]));
        }
    }
}

#[test]
fn a_failed_chat_connection_keeps_its_close_code_while_others_keep_talking() {
    // Mallory announces a message too big for the chat. The server fails the
    // connection with 1009 and drains what she still sends, so its kernel
    // does not reset TCP under the close frame. Meanwhile the hub keeps
    // fanning out to her (until her reader has left): that must not cut the
    // connection either.
    let (server, chat) = wirelab::app::chat::spawn("127.0.0.1:0", SubscriberConfig::default()).unwrap();
    let addr = server.local_addr();
    let url = format!("ws://{addr}/ws");
    let mut mallory = silent_client(addr, "/ws");
    let mut join = Vec::new();
    let text = br#"{"type":"join","nick":"mallory"}"#;
    wirelab::websocket::frame::encode_frame(&mut join, true, OpCode::Text, text, Some([0; 4]));
    mallory.write_all(&join).unwrap();
    // Her join travels on its own connection and thread: wait until the hub
    // has fanned it out, so it is in bob's history, not among his events.
    wait_for("mallory's join", || {
        chat.hub().stats().published.load(Ordering::SeqCst) == 1
    });
    let mut bob = chat_join(&url, "bob");
    assert_eq!(kind_and_nick(&next_event(&mut bob)), ("join".into(), "bob".into()));

    // A masked text frame header announcing 1 MiB (mask key 0: payload as is).
    let big = 1usize << 20;
    let mut header = vec![0x81, 0x80 | 127];
    header.extend_from_slice(&(big as u64).to_be_bytes());
    header.extend_from_slice(&[0; 4]);
    mallory.write_all(&header).unwrap();

    // Bob talks; his message reaches the hub and mallory's outbox.
    bob.send(Message::text(r#"{"type":"say","text":"still here"}"#))
        .unwrap();
    // (Mallory's leave may come first: once her connection has failed, it
    // is announced whenever her reader is done draining.)
    let said = next_message(&mut bob);
    assert_eq!(said.get("text").and_then(json::Value::as_str), Some("still here"));

    // The rest of mallory's frame is read and dropped, not refused.
    mallory.write_all(&vec![b'x'; big]).unwrap();
    assert_eq!(raw_close_code(&mut mallory), Some(1009));

    // And bob is still served.
    bob.send(Message::text(r#"{"type":"say","text":"after"}"#)).unwrap();
    loop {
        let event = next_event(&mut bob);
        if event.get("text").and_then(json::Value::as_str) == Some("after") {
            break;
        }
    }
}
