//! What the WebSocket tests share: an echo server, clients well-behaved
//! and raw, and a timeout for every blocking read.

// Each test file uses its own part of this.
#![allow(dead_code)]

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use wirelab::http::{read_response_head, Limits};
use wirelab::server::{Server, ServerConfig, ServerHandle};
use wirelab::websocket::frame::{encode_frame, FrameHeader, OpCode};
use wirelab::websocket::handshake::{accept_key, client_request, generate_key};
use wirelab::websocket::{self, Message, WebSocket};

/// How long any test waits for something that should come.
pub const WAIT: Duration = Duration::from_secs(5);

/// An echo server like `examples/ws_echo.rs`, with the given socket settings.
pub fn echo_server(config: ServerConfig) -> ServerHandle {
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

pub fn client(addr: SocketAddr) -> WebSocket {
    let ws = websocket::connect(&format!("ws://{addr}/")).unwrap();
    ws.set_read_timeout(Some(WAIT)).unwrap();
    ws
}

/// A raw client: does the handshake by hand and then speaks bytes, so tests
/// can send what a well-behaved client never would.
pub struct Raw {
    pub stream: TcpStream,
    pub mask: [u8; 4],
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> Raw {
        Raw::connect_offering(addr, None).0
    }

    /// Connects offering `Sec-WebSocket-Extensions: extensions`; returns
    /// the server's answer to it too.
    pub fn connect_offering(addr: SocketAddr, extensions: Option<&str>) -> (Raw, Option<String>) {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let key = generate_key();
        let mut request = client_request(&addr.to_string(), "/", &key, &[], None);
        if let Some(offer) = extensions {
            request.truncate(request.len() - 2);
            request.extend_from_slice(format!("Sec-WebSocket-Extensions: {offer}\r\n\r\n").as_bytes());
        }
        stream.write_all(&request).unwrap();
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
        let answer = response.headers.get("sec-websocket-extensions").map(str::to_string);
        let raw = Raw {
            stream,
            mask: [0x11, 0x22, 0x33, 0x44],
        };
        (raw, answer)
    }

    /// Sends one frame with the given RSV bits (0b100 = RSV1).
    pub fn send_rsv(&mut self, fin: bool, rsv: u8, opcode: OpCode, payload: &[u8]) {
        let mut out = Vec::new();
        encode_frame(&mut out, fin, opcode, payload, Some(self.mask));
        out[0] |= (rsv & 7) << 4;
        self.stream.write_all(&out).unwrap();
    }

    pub fn send(&mut self, fin: bool, opcode: OpCode, payload: &[u8]) {
        let mut out = Vec::new();
        encode_frame(&mut out, fin, opcode, payload, Some(self.mask));
        self.stream.write_all(&out).unwrap();
    }

    /// Reads one frame from the server: (opcode, payload).
    pub fn recv(&mut self) -> (OpCode, Vec<u8>) {
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
    pub fn recv_close_code(&mut self) -> u16 {
        loop {
            let (op, payload) = self.recv();
            if op == OpCode::Close {
                return u16::from_be_bytes([payload[0], payload[1]]);
            }
        }
    }

    /// Whether the server closed its end with nothing more to say: a read
    /// gives end-of-stream (or a reset) before the read timeout.
    pub fn server_closed_tcp(&mut self) -> bool {
        let mut rest = Vec::new();
        match self.stream.read_to_end(&mut rest) {
            Ok(_) => rest.is_empty(),
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset && rest.is_empty(),
        }
    }
}

/// Sends raw bytes and returns the HTTP status line's code the server answers.
pub fn http_status(addr: SocketAddr, request: &[u8]) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let _ = s.write_all(request);
    let mut reader = BufReader::new(s);
    read_response_head(&mut reader, &Limits::default()).unwrap().status
}

pub fn server_still_echoes(addr: SocketAddr) {
    let mut ws = client(addr);
    ws.send(Message::text("still there?")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("still there?"));
}

/// A client of `url` that offers permessage-deflate as `compression` says,
/// with `wait` on every blocking read.
pub fn client_of(url: &str, compression: websocket::Compression, wait: Duration) -> WebSocket {
    let config = websocket::ClientConfig {
        compression,
        ..Default::default()
    };
    let ws = websocket::connect_with(url, &config).unwrap();
    ws.set_read_timeout(Some(wait)).unwrap();
    ws
}

/// Polls `cond` every 2 ms until it holds; fails the test after `wait`.
pub fn wait_until(what: &str, wait: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + wait;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}
