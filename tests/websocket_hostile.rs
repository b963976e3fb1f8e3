//! WebSocket servers and clients facing peers that misbehave or vanish:
//! garbage, silence, trickles, floods, a panicking handler, a peer that
//! never answers a close. Each test names a fact and checks it.
//!
//! Every server binds `127.0.0.1:0` and every blocking read has a timeout,
//! so the tests run in parallel and never hang.

mod support;

use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use support::{client, echo_server, http_status, server_still_echoes, Raw, WAIT};
use wirelab::broadcast::{spawn_relay, SubscriberConfig, RELAY_MAX_MESSAGE};
use wirelab::http::{read_response_head, Limits};
use wirelab::server::{Server, ServerConfig};
use wirelab::websocket::frame::{encode_frame, OpCode};
use wirelab::websocket::handshake::{client_request, generate_key};
use wirelab::websocket::{self, AcceptConfig, CloseCode, CloseFrame, Error, Message, WebSocket};

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
        // Zeros compress a thousandfold: the wire must carry all 32 MiB.
        compression: websocket::Compression::OFF,
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

/// Accepts one connection and reads the client's request (its first 1 KiB).
fn take_request(listener: &std::net::TcpListener) -> TcpStream {
    let (mut s, _) = listener.accept().unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let _ = s.read(&mut [0u8; 1024]);
    s
}

#[test]
fn the_client_says_plainly_when_the_server_hangs_up_or_stays_silent_before_answering() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        // First connection: read the request, hang up without a word.
        drop(take_request(&listener));
        // Second: read the request, say nothing until the client gives up.
        let mut s = take_request(&listener);
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
        let mut s = take_request(&listener);
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

/// The broadcast relay (`ws_broadcast`) with a keepalive wait of one
/// second, so that its deadlines show within a test.
fn quick_relay() -> wirelab::server::ServerHandle {
    let subscriber = SubscriberConfig {
        pong_wait: Duration::from_secs(1),
        ping_period: Duration::from_millis(900),
        ..SubscriberConfig::default()
    };
    spawn_relay("127.0.0.1:0", ServerConfig::default(), subscriber)
        .unwrap()
        .0
}

#[test]
fn the_broadcast_relay_refuses_a_message_over_its_limit_from_the_header_alone() {
    let server = quick_relay();
    let mut raw = Raw::connect(server.local_addr());
    // A text frame announcing 1 MiB, more than the relay passes on, and
    // not one byte of its payload: the refusal cannot wait for it.
    let announced = (RELAY_MAX_MESSAGE as u64 + 1).max(1 << 20);
    let mut header = vec![0x81, 0x80 | 127];
    header.extend_from_slice(&announced.to_be_bytes());
    header.extend_from_slice(&raw.mask);
    raw.stream.write_all(&header).unwrap();
    assert_eq!(raw.recv_close_code(), CloseCode::TOO_BIG.0);

    // A message at the limit still goes round.
    let mut ws = client(server.local_addr());
    let text = "x".repeat(RELAY_MAX_MESSAGE);
    ws.send(Message::text(text.clone())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text(text));
}

#[test]
fn the_broadcast_relay_cuts_off_a_message_trickled_past_its_keepalive_wait() {
    let server = quick_relay();
    let mut raw = Raw::connect(server.local_addr());
    raw.stream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    // A 1,000-byte text message, one byte every 100 ms: each read sees
    // data, so only a deadline for the whole message stops it.
    let mut message = Vec::new();
    encode_frame(&mut message, true, OpCode::Text, &[b'x'; 1000], Some(raw.mask));
    let start = Instant::now();
    let mut cut_off = None;
    let mut sink = [0u8; 4096];
    for byte in &message {
        if raw.stream.write_all(std::slice::from_ref(byte)).is_err() {
            cut_off = Some(start.elapsed());
            break;
        }
        match raw.stream.read(&mut sink) {
            Ok(0) => {
                cut_off = Some(start.elapsed());
                break;
            }
            Ok(_) => {} // a keepalive ping
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => {
                cut_off = Some(start.elapsed());
                break;
            }
        }
        if start.elapsed() > Duration::from_secs(6) {
            break;
        }
    }
    let cut_off = cut_off.expect("the trickle was still held after 6 s, with a keepalive wait of 1 s");
    // The message deadline (1 s) plus at most one read's timeout (1 s).
    assert!(cut_off < Duration::from_secs(4), "cut off after {cut_off:?}");
}
