//! `stream_vs_message`: TCP is a byte stream, UDP keeps datagrams, and
//! WebSocket puts message boundaries back on top of TCP.
//!
//! ```text
//! cargo run --example stream_vs_message
//! ```
//!
//! The note "TCP与WebSocket的区别" lists "messages vs byte stream" as a core
//! difference between WebSocket and TCP. This example shows why that
//! matters, on real sockets:
//!
//! 1. TCP: two `write`s arrive as one `read` (the boundary is gone);
//! 2. TCP: one large `write` arrives as many `read`s;
//! 3. UDP: two sends are two datagrams, whatever the buffer; and one
//!    datagram cannot exceed 65 507 bytes;
//! 4. WebSocket over TCP: two `send`s are two messages again, because each
//!    frame says how long it is.
//!
//! It prints what each receiver got and exits.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::thread;

use wirelab::websocket::{self, Message};

fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (b, _) = listener.accept().unwrap();
    (a, b)
}

fn main() {
    wirelab::init_logging();

    println!("1. TCP: write(\"hello \") then write(\"world\"), then one read with room for 64 bytes");
    let (mut a, b) = tcp_pair();
    a.write_all(b"hello ").unwrap();
    a.write_all(b"world").unwrap();
    // Wait until both writes are in b's receive buffer (peek does not consume).
    let mut peek = [0u8; 11];
    while b.peek(&mut peek).unwrap() < 11 {
        thread::yield_now();
    }
    let mut buf = [0u8; 64];
    let n = (&b).read(&mut buf).unwrap();
    println!(
        "   read() returned {n} bytes: {:?}  <- one read, two writes",
        String::from_utf8_lossy(&buf[..n])
    );

    println!("\n2. TCP: one write of 100 000 bytes, read with an 8 KiB buffer");
    let (mut a, mut b) = tcp_pair();
    let writer = thread::spawn(move || {
        a.write_all(&vec![b'x'; 100_000]).unwrap();
        a.shutdown(Shutdown::Write).unwrap();
    });
    let mut sizes = Vec::new();
    let mut chunk = vec![0u8; 8192];
    loop {
        let n = b.read(&mut chunk).unwrap();
        if n == 0 {
            break;
        }
        sizes.push(n);
    }
    writer.join().unwrap();
    println!(
        "   {} reads: {:?}{}  <- one write, many reads",
        sizes.len(),
        &sizes[..sizes.len().min(8)],
        if sizes.len() > 8 { " …" } else { "" }
    );
    println!("   so a protocol on TCP must mark where its messages end: a length, or a delimiter");

    println!("\n3. UDP: send(\"hello \") then send(\"world\"), then reads with room for 64 bytes");
    let x = UdpSocket::bind("127.0.0.1:0").unwrap();
    let y = UdpSocket::bind("127.0.0.1:0").unwrap();
    x.send_to(b"hello ", y.local_addr().unwrap()).unwrap();
    x.send_to(b"world", y.local_addr().unwrap()).unwrap();
    for _ in 0..2 {
        let (n, _) = y.recv_from(&mut buf).unwrap();
        println!("   recv() returned {n} bytes: {:?}", String::from_utf8_lossy(&buf[..n]));
    }
    let max = wirelab::udp::MAX_PAYLOAD_V4;
    let too_big = x.send_to(&vec![0u8; max + 1], y.local_addr().unwrap());
    println!(
        "   a datagram of {} bytes: {}",
        max + 1,
        match too_big {
            Ok(_) => "sent (unexpected)".to_string(),
            Err(e) => format!("refused ({e}): the limit is {max}"),
        }
    );

    println!("\n4. WebSocket over TCP: send(\"hello \") then send(\"world\")");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = websocket::accept(stream).unwrap();
        ws.send(Message::text("hello ")).unwrap();
        ws.send(Message::text("world")).unwrap();
        let _ = ws.read();
    });
    let mut client = websocket::connect(&format!("ws://{addr}/")).unwrap();
    for _ in 0..2 {
        println!("   read() returned the message {:?}", client.read().unwrap());
    }
    println!("   on the wire: 81 06 'hello ' 81 05 'world': each frame carries its length");
    let _ = client.close(None);
    server.join().unwrap();
    println!("\nnext: cargo run --example frame_anatomy  (what those frames look like, byte by byte)");
}
