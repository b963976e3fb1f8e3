//! The broadcast hub with permessage-deflate: compressed once per group of
//! subscribers, delivered intact and in order to each.

use std::sync::atomic::Ordering;
use std::time::Duration;

mod support;

use wirelab::broadcast::{spawn_relay, SubscriberConfig};
use wirelab::deflate::WindowBits;
use wirelab::server::ServerConfig;
use wirelab::websocket::{self, Compression, Message, WebSocket};

const WAIT: Duration = Duration::from_secs(10);

fn client(url: &str, compression: Compression) -> WebSocket {
    support::client_of(url, compression, WAIT)
}

fn wait_for(what: &str, cond: impl FnMut() -> bool) {
    support::wait_until(what, WAIT, cond)
}

/// A chat-like message of about 120 bytes, over the server's threshold.
fn chat_line(i: usize) -> String {
    format!(
        "{{\"type\":\"message\",\"seq\":{i},\"from\":\"user-{}\",\"text\":\"message number {i}, hello everyone in the room\"}}",
        i % 7
    )
}

#[test]
fn compressing_subscribers_get_every_message_intact_in_order_compressed_once_per_group() {
    let (server, hub) = spawn_relay("127.0.0.1:0", ServerConfig::default(), SubscriberConfig::default()).unwrap();
    let url = format!("ws://{}/", server.local_addr());
    // 20 with the browsers' offer (server window 15 bits), 10 asking the
    // server for a 10-bit window (a second group), 5 without the extension.
    let small_window = Compression {
        server_max_window_bits: WindowBits::new(10).unwrap(),
        ..Compression::CLIENT
    };
    let mut clients: Vec<(WebSocket, Option<u8>)> = Vec::new();
    for _ in 0..20 {
        clients.push((client(&url, Compression::CLIENT), Some(15)));
    }
    for _ in 0..10 {
        clients.push((client(&url, small_window), Some(10)));
    }
    for _ in 0..5 {
        clients.push((client(&url, Compression::OFF), None));
    }
    for (ws, bits) in &clients {
        let negotiated = ws.compression().map(|p| p.server_max_window_bits.bits());
        assert_eq!(negotiated, *bits, "what each client negotiated");
        assert!(ws.compression().is_none_or(|p| p.server_no_context_takeover));
    }
    wait_for("35 subscribers", || hub.subscribers() == 35);

    // Long messages are compressed; every fifth is short, under the
    // threshold, and goes out as published.
    const K: usize = 40;
    let expected: Vec<String> = (0..K)
        .map(|i| if i % 5 == 4 { format!("short {i}") } else { chat_line(i) })
        .collect();
    let long = expected
        .iter()
        .filter(|m| m.len() >= Compression::SERVER.threshold)
        .count() as u64;
    assert_eq!(long, 32);
    for (i, text) in expected.iter().enumerate() {
        clients[i % 35].0.send(Message::text(text.clone())).unwrap();
        // Publishes from different clients race each other: wait for each.
        wait_for("the publish", || {
            hub.stats().published.load(Ordering::SeqCst) == i as u64 + 1
        });
    }

    for (c, (ws, bits)) in clients.iter_mut().enumerate() {
        for (i, text) in expected.iter().enumerate() {
            assert_eq!(
                ws.read().unwrap(),
                Message::text(text.clone()),
                "client {c}, message {i}"
            );
            let wire = ws.last_message_wire();
            let long = text.len() >= Compression::SERVER.threshold;
            assert_eq!(wire.compressed, bits.is_some() && long, "client {c}, message {i}");
            if wire.compressed {
                assert!(wire.payload_bytes < text.len(), "smaller on the wire");
            }
        }
    }
    // Once per long message per group (two groups), not once per subscriber.
    assert_eq!(hub.stats().compressed.load(Ordering::SeqCst), 2 * long);
    assert_eq!(hub.stats().delivered.load(Ordering::SeqCst), (35 * K) as u64);
    let (input, output) = (
        hub.stats().deflate_in.load(Ordering::SeqCst),
        hub.stats().deflate_out.load(Ordering::SeqCst),
    );
    assert!(output < input, "{output} compressed bytes from {input}");
}

#[test]
fn a_server_that_grants_server_context_takeover_gets_uncompressed_broadcasts() {
    // A relay whose accepting side grants context takeover to clients that
    // do not ask for `server_no_context_takeover` (not the default).
    use wirelab::broadcast::{serve_subscriber, Hub};
    use wirelab::server::Server;
    let hub = Hub::start();
    let server = Server::bind("127.0.0.1:0", ServerConfig::default()).unwrap();
    let addr = server.local_addr();
    let relay_hub = hub.clone();
    let _handle = server.spawn(move |stream, _| {
        let options = websocket::AcceptConfig {
            compression: Compression {
                server_context_takeover: true,
                ..Compression::SERVER
            },
            ..Default::default()
        };
        let Ok(ws) = websocket::accept_with(stream, &options) else {
            return;
        };
        serve_subscriber(
            ws,
            &relay_hub,
            &SubscriberConfig::default(),
            |_| Ok(()),
            |m| relay_hub.publish_text(&m.text),
        );
    });
    let url = format!("ws://{addr}/");
    let mut a = client(&url, Compression::CLIENT);
    let mut b = client(&url, Compression::CLIENT);
    assert_eq!(a.compression().map(|p| p.server_no_context_takeover), Some(false));
    wait_for("2 subscribers", || hub.subscribers() == 2);
    for i in 0..5 {
        a.send(Message::text(chat_line(i))).unwrap();
    }
    for ws in [&mut a, &mut b] {
        for i in 0..5 {
            assert_eq!(ws.read().unwrap(), Message::text(chat_line(i)));
            assert!(
                !ws.last_message_wire().compressed,
                "the hub keeps no context per connection"
            );
        }
    }
    assert_eq!(hub.stats().compressed.load(Ordering::SeqCst), 0);
}

#[test]
fn the_tickers_size_note_gives_the_compressed_bytes_a_compressing_page_received() {
    use wirelab::app::json;
    let (server, ticker) = wirelab::app::ticker::spawn("127.0.0.1:0", Duration::from_millis(5)).unwrap();
    let mut ws = client(&format!("ws://{}/ws", server.local_addr()), Compression::CLIENT);
    assert!(ws.compression().is_some());
    let next = |ws: &mut WebSocket| match ws.read().unwrap() {
        Message::Text(t) => (json::parse(&t).unwrap(), ws.last_message_wire(), t.len()),
        other => panic!("{other:?}"),
    };
    let kind = |v: &json::Value| v.get("type").and_then(json::Value::as_str).unwrap_or("").to_string();
    let number = |v: &json::Value, k: &str| v.get(k).and_then(json::Value::as_f64).unwrap();
    // Skip to the first note: the ticks after it are the next note's.
    while kind(&next(&mut ws).0) != "wire" {}
    let (mut wire_bytes, mut json_bytes, mut ticks) = (0, 0, 0);
    let note = loop {
        let (event, wire, len) = next(&mut ws);
        if kind(&event) == "wire" {
            break event;
        }
        assert!(wire.compressed, "a tick is over the threshold");
        wire_bytes += wire.payload_bytes;
        json_bytes += len;
        ticks += 1;
    };
    assert_eq!(ticks as u64, wirelab::app::ticker::WIRE_EVERY);
    assert_eq!(number(&note, "ticks"), ticks as f64);
    assert_eq!(number(&note, "bytes"), json_bytes as f64);
    assert_eq!(
        number(&note, "deflated"),
        wire_bytes as f64,
        "the note says what was on the wire"
    );
    ticker.stop();
}

#[test]
fn the_relay_refuses_a_small_bomb_that_inflates_past_its_message_limit_with_1009() {
    // One letter repeated compresses about a thousand times: with the
    // WebSocket default limit (64 MiB) instead of the relay's, each client
    // could make the server inflate, hold and fan out 64 MiB for a 64 KiB
    // upload (20 such clients at once held 2.8 GB).
    let (server, _hub) = spawn_relay("127.0.0.1:0", ServerConfig::default(), SubscriberConfig::default()).unwrap();
    let url = format!("ws://{}/", server.local_addr());
    let mut ws = client(&url, Compression::CLIENT);
    let bomb = "a".repeat(wirelab::broadcast::RELAY_MAX_MESSAGE + 1);
    ws.send(Message::text(bomb)).unwrap();
    loop {
        match ws.read() {
            Ok(Message::Close(Some(frame))) => {
                assert_eq!(frame.code.0, 1009);
                break;
            }
            Ok(Message::Text(t)) => panic!("relayed {} bytes", t.len()),
            Ok(_) => {}
            Err(e) => panic!("expected a close frame, got {e}"),
        }
    }
    // A message at the limit is still relayed.
    let mut ws = client(&url, Compression::CLIENT);
    ws.send(Message::text("b".repeat(wirelab::broadcast::RELAY_MAX_MESSAGE)))
        .unwrap();
    match ws.read() {
        Ok(Message::Text(t)) => assert_eq!(t.len(), wirelab::broadcast::RELAY_MAX_MESSAGE),
        other => panic!("{other:?}"),
    }
}
