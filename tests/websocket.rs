//! WebSocket over real loopback sockets: messages, the closing handshake,
//! violations and the opening handshake. Each test names a fact and
//! checks it.
//!
//! Every server binds `127.0.0.1:0` and every blocking read has a timeout,
//! so the tests run in parallel and never hang.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;

use support::{client, echo_server, http_status, server_still_echoes, Raw, WAIT};
use wirelab::server::{Server, ServerConfig};
use wirelab::websocket::frame::{encode_frame, OpCode};
use wirelab::websocket::handshake::{client_request, generate_key};
use wirelab::websocket::{self, AcceptConfig, CloseCode, CloseFrame, Error, Message};

#[test]
fn messages_round_trip_in_order_with_reader_and_writer_on_separate_threads() {
    let server = echo_server(ServerConfig::default());
    let (mut reader, writer) = client(server.local_addr()).split();
    let sender = thread::spawn(move || {
        for i in 0..500 {
            writer.send_text(&format!("message {i}")).unwrap();
        }
        writer
    });
    for i in 0..500 {
        assert_eq!(reader.read().unwrap(), Message::text(format!("message {i}")));
    }
    let writer = sender.join().unwrap();
    writer.close(None).unwrap();
    assert_eq!(reader.read().unwrap(), Message::Close(None));
}

#[test]
fn both_directions_carry_large_messages_at_the_same_time() {
    // Server and client each send 8 MiB while the other is sending. With one
    // thread doing both, each side would block in write() once the socket
    // buffers fill, waiting for a peer that is itself blocked in write():
    // a deadlock. Split halves on two threads read while they write.
    let server = Server::bind("127.0.0.1:0", ServerConfig::default()).unwrap();
    let big = vec![0xA5u8; 8 << 20];
    let server_big = big.clone();
    let server = server.spawn(move |stream, _| {
        let ws = websocket::accept(stream).unwrap();
        let (mut reader, writer) = ws.split();
        let payload = server_big.clone();
        let t = thread::spawn(move || writer.send_binary(&payload).unwrap());
        let got = reader.read().unwrap();
        assert_eq!(got.len(), 8 << 20);
        t.join().unwrap();
    });
    let (mut reader, writer) = client(server.local_addr()).split();
    let payload = big.clone();
    let t = thread::spawn(move || writer.send_binary(&payload).unwrap());
    assert_eq!(reader.read().unwrap(), Message::Binary(big));
    t.join().unwrap();
}

#[test]
fn client_initiated_close_is_echoed_and_the_server_closes_tcp_first() {
    let server = Server::bind("127.0.0.1:0", ServerConfig::default()).unwrap();
    let (tx, rx) = mpsc::channel();
    let server = server.spawn(move |stream, _| {
        let mut ws = websocket::accept(stream).unwrap();
        let first = ws.read();
        let after = ws.read();
        let send_after = ws.send(Message::text("too late"));
        tx.send((first.unwrap(), after.unwrap_err(), send_after.unwrap_err()))
            .unwrap();
    });
    let mut raw = Raw::connect(server.local_addr());
    raw.send(
        true,
        OpCode::Close,
        &CloseFrame::new(CloseCode(4000), "done").to_payload(),
    );
    let (op, payload) = raw.recv();
    assert_eq!(op, OpCode::Close);
    assert_eq!(payload, 4000u16.to_be_bytes(), "the code is echoed");
    assert!(
        raw.server_closed_tcp(),
        "the server closes TCP without waiting for the client"
    );

    let (first, after, send_after) = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(first, Message::Close(Some(CloseFrame::new(CloseCode(4000), "done"))));
    assert!(
        matches!(after, Error::ConnectionClosed),
        "a read after close says closed: {after}"
    );
    assert!(matches!(send_after, Error::ConnectionClosed), "{send_after}");
}

#[test]
fn server_initiated_close_completes_when_the_client_answers() {
    let server = Server::bind("127.0.0.1:0", ServerConfig::default()).unwrap();
    let (tx, rx) = mpsc::channel();
    let server = server.spawn(move |stream, _| {
        let mut ws = websocket::accept(stream).unwrap();
        ws.set_read_timeout(Some(WAIT)).unwrap();
        let reply = ws.close(Some(CloseFrame::new(CloseCode::GOING_AWAY, "shutting down")));
        tx.send(reply.unwrap()).unwrap();
    });
    let mut ws = client(server.local_addr());
    let close = ws.read().unwrap();
    assert_eq!(
        close,
        Message::Close(Some(CloseFrame::new(CloseCode::GOING_AWAY, "shutting down")))
    );
    assert!(matches!(ws.read(), Err(Error::ConnectionClosed)));
    assert!(matches!(ws.send(Message::text("x")), Err(Error::ConnectionClosed)));
    // Closing a connection the peer already closed is not an error.
    assert_eq!(ws.close(None).unwrap(), None);
    let echoed = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(echoed.map(|f| f.code), Some(CloseCode::GOING_AWAY));
}

#[test]
fn a_ping_is_answered_with_a_pong_carrying_the_same_payload() {
    let server = echo_server(ServerConfig::default());
    let mut raw = Raw::connect(server.local_addr());
    raw.send(true, OpCode::Ping, b"heartbeat 1");
    assert_eq!(raw.recv(), (OpCode::Pong, b"heartbeat 1".to_vec()));
}

#[test]
fn pings_between_fragments_are_answered_before_the_message_completes() {
    let server = echo_server(ServerConfig::default());
    let mut raw = Raw::connect(server.local_addr());
    raw.send(false, OpCode::Text, b"frag");
    raw.send(true, OpCode::Ping, b"p1");
    assert_eq!(raw.recv(), (OpCode::Pong, b"p1".to_vec()));
    raw.send(false, OpCode::Continuation, b"men");
    raw.send(true, OpCode::Ping, b"p2");
    assert_eq!(raw.recv(), (OpCode::Pong, b"p2".to_vec()));
    raw.send(true, OpCode::Continuation, b"ted");
    assert_eq!(raw.recv(), (OpCode::Text, b"fragmented".to_vec()));
}

#[test]
fn the_websocket_is_the_tcp_connection_that_carried_the_handshake() {
    // The client waits for the 101 before its first frame (RFC 6455 §4.1),
    // then speaks frames on the socket that carried the Upgrade (§1.3,
    // §4.2.2). The server accepts one TCP connection, never a second, and
    // the WebSocket it makes of it has the client's address as its peer.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (stream, peer) = listener.accept().unwrap();
        let mut ws = websocket::accept(stream).unwrap();
        ws.set_read_timeout(Some(WAIT)).unwrap();
        let upgraded_peer = ws.peer_addr();
        let message = ws.read().unwrap();
        ws.send(message).unwrap();
        // The client has finished its exchange: a second connection of
        // its would be waiting in the backlog by now.
        listener.set_nonblocking(true).unwrap();
        let second = listener.accept().map(|_| ()).map_err(|e| e.kind());
        let _ = ws.read(); // the client's close
        (peer, upgraded_peer, second)
    });
    let mut raw = Raw::connect(addr); // returns once the 101 has arrived
    let client_addr = raw.stream.local_addr().unwrap();
    raw.send(true, OpCode::Text, b"same socket");
    assert_eq!(raw.recv(), (OpCode::Text, b"same socket".to_vec()));
    raw.send(true, OpCode::Close, &1000u16.to_be_bytes());
    let (peer, upgraded_peer, second) = server.join().unwrap();
    assert_eq!(peer, client_addr, "accept() gave the client's connection");
    assert_eq!(upgraded_peer, Some(client_addr), "the WebSocket is that connection");
    assert_eq!(second, Err(ErrorKind::WouldBlock), "one TCP connection, not two");
}

#[test]
fn protocol_violations_get_their_close_code_and_the_server_keeps_serving() {
    let server = echo_server(ServerConfig::default());
    let addr = server.local_addr();
    type Violation = fn(&mut Raw);
    let cases: [(Violation, u16); 7] = [
        (
            |r| {
                let mut f = Vec::new();
                encode_frame(&mut f, true, OpCode::Text, b"unmasked", None);
                r.stream.write_all(&f).unwrap();
            },
            1002,
        ),
        (|r| r.stream.write_all(&[0x83, 0x80, 0, 0, 0, 0]).unwrap(), 1002),
        (|r| r.stream.write_all(&[0xF1, 0x80, 0, 0, 0, 0]).unwrap(), 1002),
        (|r| r.send(true, OpCode::Continuation, b"orphan"), 1002),
        (
            |r| {
                r.send(
                    true,
                    OpCode::Text,
                    b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80",
                )
            },
            1007,
        ),
        (|r| r.send(true, OpCode::Close, &[0x03, 0xEC]), 1002),
        // A 1 GiB length field: refused from the header, nothing allocated.
        (
            |r| {
                r.stream
                    .write_all(&[0x82, 0xFF, 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 2, 3, 4])
                    .unwrap()
            },
            1009,
        ),
    ];
    for (i, (violate, code)) in cases.iter().enumerate() {
        let mut raw = Raw::connect(addr);
        violate(&mut raw);
        assert_eq!(raw.recv_close_code(), *code, "case {i}");
        assert!(raw.server_closed_tcp(), "case {i}: connection failed");
    }
    server_still_echoes(addr);
}

#[test]
fn bad_handshakes_are_answered_with_the_right_http_status() {
    let server = echo_server(ServerConfig::default());
    let addr = server.local_addr();
    let good = String::from_utf8(client_request("h", "/", "dGhlIHNhbXBsZSBub25jZQ==", &[], None)).unwrap();
    let cases = [
        (good.replace("GET", "POST"), 405),
        (
            good.replace("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 7"),
            426,
        ),
        (good.replace("Upgrade: websocket\r\n", ""), 426),
        (good.replace("dGhlIHNhbXBsZSBub25jZQ==", "AAAA"), 400),
        (good.replace("Host: h\r\n", ""), 400),
        (good.replace("HTTP/1.1", "HTTP/2.0"), 505),
        (
            "\x16\x03\x01\x00\x05\x01\x00\x00\x01\x03\x03 tls hello\r\n\r\n".to_string(),
            400,
        ),
        (
            good.replace("Host: h", &format!("Host: h\r\nX-Big: {}", "x".repeat(10_000))),
            431,
        ),
    ];
    for (request, status) in &cases {
        assert_eq!(http_status(addr, request.as_bytes()), *status, "{request:.60}");
    }
    server_still_echoes(addr);
}

#[test]
fn origins_off_the_allow_list_get_403() {
    let server = Server::bind("127.0.0.1:0", ServerConfig::default()).unwrap();
    let server = server.spawn(|stream, _| {
        let options = AcceptConfig {
            handshake: websocket::HandshakeConfig {
                protocols: vec![],
                allowed_origins: Some(vec!["http://127.0.0.1:8080".into()]),
            },
            ..AcceptConfig::default()
        };
        let _ = websocket::accept_with(stream, &options);
    });
    let addr = server.local_addr();
    let evil = client_request("h", "/", &generate_key(), &[], Some("http://evil.example"));
    assert_eq!(http_status(addr, &evil), 403);
    let ok = client_request("h", "/", &generate_key(), &[], Some("http://127.0.0.1:8080"));
    assert_eq!(http_status(addr, &ok), 101);
}

#[test]
fn subprotocol_is_negotiated_from_the_clients_offer() {
    let server = Server::bind("127.0.0.1:0", ServerConfig::default()).unwrap();
    let server = server.spawn(|stream, _| {
        let options = AcceptConfig {
            handshake: websocket::HandshakeConfig {
                protocols: vec!["wirelab.v2".into(), "wirelab.v1".into()],
                allowed_origins: None,
            },
            ..AcceptConfig::default()
        };
        if let Ok(mut ws) = websocket::accept_with(stream, &options) {
            let p = ws.protocol().unwrap_or("none").to_string();
            let _ = ws.send(Message::text(p));
            let _ = ws.read();
        }
    });
    let config = websocket::ClientConfig {
        protocols: vec!["wirelab.v1".into(), "wirelab.v2".into()],
        ..Default::default()
    };
    let mut ws = websocket::connect_with(&format!("ws://{}/", server.local_addr()), &config).unwrap();
    ws.set_read_timeout(Some(WAIT)).unwrap();
    assert_eq!(ws.protocol(), Some("wirelab.v2"));
    assert_eq!(ws.read().unwrap(), Message::text("wirelab.v2"));
}

#[test]
fn the_client_refuses_a_server_that_does_not_speak_websocket() {
    // A plain HTTP server answering 200 to everything.
    let server = Server::bind("127.0.0.1:0", ServerConfig::default()).unwrap();
    let server = server.spawn(|stream, _| {
        let mut stream = &*stream;
        let mut buf = [0u8; 1024];
        let _ = stream.read(&mut buf);
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
    });
    let err = websocket::connect(&format!("ws://{}/", server.local_addr())).unwrap_err();
    assert!(
        matches!(err, Error::Handshake(websocket::HandshakeError::Status(200, _))),
        "{err}"
    );
}
