//! WebSocket over real loopback sockets: each test names a fact and checks it.
//!
//! Every server binds `127.0.0.1:0` and every blocking read has a timeout,
//! so the tests run in parallel and never hang.

use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use wirelab::http::{read_response_head, Limits};
use wirelab::server::{Server, ServerConfig, ServerHandle};
use wirelab::websocket::frame::{encode_frame, FrameHeader, OpCode};
use wirelab::websocket::handshake::{accept_key, client_request, generate_key};
use wirelab::websocket::{self, AcceptConfig, CloseCode, CloseFrame, Error, Message, WebSocket};

const WAIT: Duration = Duration::from_secs(5);

/// An echo server like `examples/ws_echo.rs`, with the given socket settings.
fn echo_server(config: ServerConfig) -> ServerHandle {
    let server = Server::bind("127.0.0.1:0", config).unwrap();
    server.spawn(|stream, _| {
        let Ok(mut ws) = websocket::accept(stream) else {
            return;
        };
        // The server's read timeout is for the handshake (a test may make it
        // short to provoke 408); an upgraded client may pause longer.
        ws.set_read_timeout(Some(WAIT)).unwrap();
        while let Ok(m) = ws.read() {
            if m.is_data() && ws.send(m).is_err() {
                break;
            }
        }
    })
}

fn client(addr: SocketAddr) -> WebSocket {
    let ws = websocket::connect(&format!("ws://{addr}/")).unwrap();
    ws.set_read_timeout(Some(WAIT)).unwrap();
    ws
}

/// A raw client: does the handshake by hand and then speaks bytes, so tests
/// can send what a well-behaved client never would.
struct Raw {
    stream: TcpStream,
    mask: [u8; 4],
}

impl Raw {
    fn connect(addr: SocketAddr) -> Raw {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let key = generate_key();
        stream
            .write_all(&client_request(&addr.to_string(), "/", &key, &[], None))
            .unwrap();
        // Read the 101 response byte by byte so no frame byte is swallowed.
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let response = read_response_head(&mut &head[..], &Limits::default()).unwrap();
        assert_eq!(response.status, 101);
        assert_eq!(
            response.headers.get("sec-websocket-accept"),
            Some(accept_key(&key).as_str())
        );
        Raw {
            stream,
            mask: [0x11, 0x22, 0x33, 0x44],
        }
    }

    fn send(&mut self, fin: bool, opcode: OpCode, payload: &[u8]) {
        let mut out = Vec::new();
        encode_frame(&mut out, fin, opcode, payload, Some(self.mask));
        self.stream.write_all(&out).unwrap();
    }

    /// Reads one frame from the server: (opcode, payload).
    fn recv(&mut self) -> (OpCode, Vec<u8>) {
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        let (header, _) = loop {
            if let Some(parsed) = FrameHeader::parse(&buf).unwrap() {
                break parsed;
            }
            self.stream.read_exact(&mut byte).expect("a frame from the server");
            buf.push(byte[0]);
        };
        assert!(header.mask.is_none(), "server frames are never masked");
        let mut payload = vec![0u8; header.payload_len as usize];
        self.stream.read_exact(&mut payload).unwrap();
        (header.opcode, payload)
    }

    /// Reads frames until a close frame; returns its code.
    fn recv_close_code(&mut self) -> u16 {
        loop {
            let (op, payload) = self.recv();
            if op == OpCode::Close {
                return u16::from_be_bytes([payload[0], payload[1]]);
            }
        }
    }

    /// Whether the server closed its end with nothing more to say: a read
    /// gives end-of-stream (or a reset) before the read timeout.
    fn server_closed_tcp(&mut self) -> bool {
        let mut rest = Vec::new();
        match self.stream.read_to_end(&mut rest) {
            Ok(_) => rest.is_empty(),
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset && rest.is_empty(),
        }
    }
}

/// Sends raw bytes and returns the HTTP status line's code the server answers.
fn http_status(addr: SocketAddr, request: &[u8]) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let _ = s.write_all(request);
    let mut reader = BufReader::new(s);
    read_response_head(&mut reader, &Limits::default()).unwrap().status
}

fn server_still_echoes(addr: SocketAddr) {
    let mut ws = client(addr);
    ws.send(Message::text("still there?")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("still there?"));
}

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
fn frames_sent_right_behind_the_handshake_are_not_lost() {
    // The client writes the Upgrade request and a frame in one go; the
    // server's buffered reader picks up both, and must hand the frame on.
    let server = echo_server(ServerConfig::default());
    let addr = server.local_addr();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut bytes = client_request(&addr.to_string(), "/", &generate_key(), &[], None);
    let mut frame = Vec::new();
    encode_frame(&mut frame, true, OpCode::Text, b"eager", Some([1, 2, 3, 4]));
    bytes.extend_from_slice(&frame);
    s.write_all(&bytes).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !got.ends_with(b"eager") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "server closed early");
        got.extend_from_slice(&buf[..n]);
    }
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
fn hostile_clients_never_stop_the_server_from_serving_others() {
    let config = ServerConfig {
        read_timeout: Some(Duration::from_millis(300)),
        ..ServerConfig::default()
    };
    let server = echo_server(config);
    let addr = server.local_addr();

    // Garbage instead of HTTP.
    assert_eq!(http_status(addr, b"\x00\xff garbage \x01\x02\r\n\r\n"), 400);
    // A connection that never sends anything, and one that stops halfway
    // through its request: both held open while others are served.
    let silent = TcpStream::connect(addr).unwrap();
    let mut half = TcpStream::connect(addr).unwrap();
    half.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgr").unwrap();
    server_still_echoes(addr);
    // The stalled request is answered 408 once the read timeout passes.
    half.set_read_timeout(Some(WAIT)).unwrap();
    let status = read_response_head(&mut BufReader::new(&half), &Limits::default()).unwrap();
    assert_eq!(status.status, 408);
    drop(silent);

    // A client that disappears mid-frame.
    let mut raw = Raw::connect(addr);
    raw.stream
        .write_all(&[0x82, 0xFE, 0x10, 0x00, 1, 2, 3, 4, 9, 9])
        .unwrap();
    raw.stream.shutdown(Shutdown::Both).unwrap();
    server_still_echoes(addr);
}

#[test]
fn a_connection_over_the_cap_gets_a_clear_refusal() {
    let config = ServerConfig {
        max_connections: 1,
        ..ServerConfig::default()
    };
    let server = echo_server(config);
    let addr = server.local_addr();
    let mut first = client(addr);
    let request = client_request("h", "/", &generate_key(), &[], None);
    assert_eq!(http_status(addr, &request), 503);
    first.send(Message::text("first is unaffected")).unwrap();
    assert_eq!(first.read().unwrap(), Message::text("first is unaffected"));
}

#[test]
fn a_panicking_handler_loses_only_its_own_connection() {
    let server = Server::bind("127.0.0.1:0", ServerConfig::default()).unwrap();
    let server = server.spawn(|stream, info| {
        if info.id == 1 {
            panic!("handler bug on connection 1");
        }
        let mut ws = websocket::accept(stream).unwrap();
        while let Ok(m) = ws.read() {
            if m.is_data() && ws.send(m).is_err() {
                break;
            }
        }
    });
    let addr = server.local_addr();
    let mut doomed = TcpStream::connect(addr).unwrap();
    doomed.set_read_timeout(Some(WAIT)).unwrap();
    // The panicking thread drops its socket: we see the end of the stream.
    let mut buf = [0u8; 16];
    assert!(matches!(doomed.read(&mut buf), Ok(0) | Err(_)));
    server_still_echoes(addr);
}

#[test]
fn shutdown_stops_accepting_and_joins_live_connections() {
    let server = echo_server(ServerConfig::default());
    let addr = server.local_addr();
    let mut ws = client(addr);
    ws.send(Message::text("x")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("x"));
    let started = Instant::now();
    assert_eq!(server.shutdown(), 0, "every connection thread finished");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(ws.read().is_err(), "the live connection was shut down");
    assert!(TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err());
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
    let server = server.spawn(|mut stream, _| {
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

#[test]
fn a_handshake_trickled_byte_by_byte_gets_408_at_the_deadline() {
    let server = Server::bind("127.0.0.1:0", ServerConfig::default()).unwrap();
    let server = server.spawn(|stream, _| {
        let options = AcceptConfig {
            handshake_timeout: Duration::from_millis(300),
            ..AcceptConfig::default()
        };
        let _ = websocket::accept_with(stream, &options);
    });
    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let started = Instant::now();
    let request = client_request("h", "/", &generate_key(), &[], None);
    // One byte every 50 ms: never a long silence, but never done either.
    for byte in request.iter().take(12) {
        if s.write_all(&[*byte]).is_err() {
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    let head = read_response_head(&mut BufReader::new(&s), &Limits::default()).unwrap();
    assert_eq!(head.status, 408);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
}

/// A server-side connection on a socket whose client end is returned raw,
/// accepted with the given options.
fn accepted_pair(options: AcceptConfig) -> (WebSocket, Raw) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepting = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        websocket::accept_with(stream, &options).unwrap()
    });
    let raw = Raw::connect(addr);
    (accepting.join().unwrap(), raw)
}

#[test]
fn close_gives_up_after_close_timeout_when_the_peer_never_answers() {
    let options = AcceptConfig {
        connection: websocket::Config {
            close_timeout: Duration::from_millis(300),
            ..websocket::Config::default()
        },
        ..AcceptConfig::default()
    };
    let (mut ws, mut raw) = accepted_pair(options);
    // The peer keeps talking (pings every 50 ms) but never sends a close
    // frame: neither the read timeout (5 s) nor its traffic may stretch
    // the wait.
    let mut pinger = raw.stream.try_clone().unwrap();
    let pings = thread::spawn(move || {
        let mut frame = Vec::new();
        encode_frame(&mut frame, true, OpCode::Ping, b"still here", Some([1, 2, 3, 4]));
        let started = Instant::now();
        while started.elapsed() < WAIT && pinger.write_all(&frame).is_ok() {
            thread::sleep(Duration::from_millis(50));
        }
    });
    let started = Instant::now();
    let result = ws.close(Some(CloseFrame::new(CloseCode::GOING_AWAY, "bye")));
    let elapsed = started.elapsed();
    assert!(matches!(result, Ok(None)), "{result:?}");
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
    assert_eq!(raw.recv_close_code(), 1001);
    assert!(matches!(ws.send(Message::text("late")), Err(Error::ConnectionClosed)));
    assert!(matches!(ws.read(), Err(Error::ConnectionClosed)));
    pings.join().unwrap();
}

#[test]
fn a_write_the_server_never_reads_fails_with_write_timeout_not_a_read_timeout() {
    // A server that completes the handshake and then never reads, until
    // the test ends.
    let (end_tx, end_rx) = mpsc::channel::<()>();
    let end_rx = std::sync::Mutex::new(end_rx);
    let server = Server::bind("127.0.0.1:0", ServerConfig::default()).unwrap();
    let server = server.spawn(move |stream, _| {
        let Ok(ws) = websocket::accept(stream) else {
            return;
        };
        let _ = end_rx.lock().unwrap().recv_timeout(WAIT);
        drop(ws);
    });
    let config = websocket::ClientConfig {
        write_timeout: Some(Duration::from_millis(200)),
        ..Default::default()
    };
    let mut ws = websocket::connect_with(&format!("ws://{}/", server.local_addr()), &config).unwrap();
    let writer = ws.writer();
    let started = Instant::now();
    // Far more than the socket buffers on both ends can hold.
    let err = ws.send(Message::binary(vec![0u8; 32 << 20])).unwrap_err();
    assert!(matches!(err, Error::WriteTimeout), "{err}");
    assert!(!err.is_timeout(), "a write timeout is not a read timeout to retry");
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    assert!(!writer.is_open());
    assert!(matches!(writer.send_text("x"), Err(Error::ConnectionClosed)));
    drop(end_tx);
    drop(server);
}

#[test]
fn a_client_flooding_pings_without_reading_pongs_is_dropped_at_the_write_timeout() {
    let config = ServerConfig {
        write_timeout: Some(Duration::from_millis(200)),
        ..ServerConfig::default()
    };
    let (done_tx, done_rx) = mpsc::channel();
    let server = Server::bind("127.0.0.1:0", config).unwrap();
    let server = server.spawn(move |stream, _| {
        let Ok(mut ws) = websocket::accept(stream) else {
            return;
        };
        let end = loop {
            match ws.read() {
                Ok(_) => {}
                Err(e) => break e,
            }
        };
        let _ = done_tx.send((end.is_timeout(), end.to_string(), ws.read().is_err()));
    });
    let mut raw = Raw::connect(server.local_addr());
    raw.stream.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut batch = Vec::new();
    let mut frame = Vec::new();
    for _ in 0..100 {
        encode_frame(&mut frame, true, OpCode::Ping, &[b'p'; 125], Some(raw.mask));
        batch.extend_from_slice(&frame);
    }
    let flood = thread::spawn(move || {
        let started = Instant::now();
        // Never reads a pong. Stops when the server gives up (or after 10 s).
        while started.elapsed() < Duration::from_secs(10) && raw.stream.write_all(&batch).is_ok() {}
    });
    let (looked_like_read_timeout, why, then_closed) = done_rx.recv_timeout(Duration::from_secs(15)).unwrap();
    assert!(!looked_like_read_timeout, "{why}");
    assert!(why.contains("write timed out"), "{why}");
    assert!(then_closed);
    flood.join().unwrap();
}

#[test]
fn the_client_says_plainly_when_the_server_hangs_up_or_stays_silent_before_answering() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        // First connection: read the request, hang up without a word.
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let _ = s.read(&mut [0u8; 1024]);
        drop(s);
        // Second: read the request, say nothing until the client gives up.
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let _ = s.read(&mut [0u8; 1024]);
        let _ = s.read(&mut [0u8; 1024]);
    });
    let url = format!("ws://{addr}/");
    let err = websocket::connect(&url).unwrap_err();
    assert_eq!(
        err.to_string(),
        "handshake failed: the server closed the connection before answering the handshake"
    );
    let config = websocket::ClientConfig {
        handshake_timeout: Duration::from_millis(200),
        ..Default::default()
    };
    let err = websocket::connect_with(&url, &config).unwrap_err();
    assert_eq!(
        err.to_string(),
        "handshake failed: the server did not answer the handshake in time"
    );
    server.join().unwrap();
}

#[test]
fn a_server_trickling_its_101_byte_by_byte_is_given_up_at_the_handshake_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let _ = s.read(&mut [0u8; 1024]);
        // One byte every 50 ms of a valid head that never ends: never a
        // long silence, but never done either.
        let started = Instant::now();
        let head = b"HTTP/1.1 101 Switching Protocols\r\n"
            .iter()
            .chain(b"X-A: b\r\n".iter().cycle());
        for byte in head {
            if started.elapsed() > WAIT || s.write_all(&[*byte]).is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
    });
    let config = websocket::ClientConfig {
        handshake_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let started = Instant::now();
    let err = websocket::connect_with(&format!("ws://{addr}/"), &config).unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        err.to_string().contains("did not answer the handshake in time"),
        "{err}"
    );
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
    server.join().unwrap();
}
