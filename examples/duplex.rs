//! `duplex`: simplex, half duplex and full duplex over real sockets, with a
//! timeline of who talks when.
//!
//! ```text
//! cargo run --example duplex
//! ```
//!
//! The note "WebSocket示例" explains the three with a radio, a
//! walkie-talkie and a phone call. Here each one runs for real:
//!
//! 1. **Simplex (radio)**: UDP datagrams from a sender to a receiver that has
//!    no way to answer; nothing ever flows back.
//! 2. **Half duplex (walkie-talkie)**: one TCP connection used in strict
//!    turns: A speaks, waits for B's answer, speaks again. HTTP/1.x's
//!    request/response is this pattern; the channel could do more.
//! 3. **Full duplex (phone call)**: the same TCP connection, with a reading
//!    thread and a writing thread on each end: both talk whenever they like,
//!    and the timeline shows the two directions overlapping.
//! 4. **Half-close**: A says "that's all" with `shutdown(Write)` (a FIN); B
//!    reads to the end of A's stream and still sends its reply: the two
//!    directions of a TCP connection close independently.
//!
//! It prints the four timelines and exits. Next: `tests/transport.rs` turns
//! each into an assertion (`both_directions_flow_at_the_same_time`,
//! `half_close_leaves_the_other_direction_open`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use wirelab::observe::Timeline;

const STEP: Duration = Duration::from_millis(40);

fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let a = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let (b, _) = listener.accept().expect("accept");
    for s in [&a, &b] {
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    }
    (a, b)
}

fn simplex() -> Arc<Timeline> {
    let t = Timeline::new();
    let radio = UdpSocket::bind("127.0.0.1:0").unwrap();
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let to = receiver.local_addr().unwrap();
    let tr = Arc::clone(&t);
    let listen = thread::spawn(move || {
        let mut buf = [0u8; 64];
        for _ in 0..4 {
            let (n, _) = receiver.recv_from(&mut buf).unwrap();
            tr.note(1, format!("hears {:?}", String::from_utf8_lossy(&buf[..n])));
        }
    });
    for i in 1..=4 {
        let msg = format!("broadcast {i}");
        t.note(0, format!("sends {msg:?} ──▶"));
        radio.send_to(msg.as_bytes(), to).unwrap();
        thread::sleep(STEP);
    }
    listen.join().unwrap();
    t
}

fn half_duplex() -> Arc<Timeline> {
    let t = Timeline::new();
    let (a, b) = tcp_pair();
    let tb = Arc::clone(&t);
    let responder = thread::spawn(move || {
        let mut reader = BufReader::new(b.try_clone().unwrap());
        let mut b = b;
        for _ in 0..3 {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            tb.note(1, format!("hears {:?}, thinks", line.trim()));
            thread::sleep(STEP);
            tb.note(1, "◀── answers \"roger, over\"");
            b.write_all(b"roger, over\n").unwrap();
        }
    });
    let mut reader = BufReader::new(a.try_clone().unwrap());
    let mut a = a;
    for i in 1..=3 {
        t.note(0, format!("says \"message {i}, over\" ──▶"));
        a.write_all(format!("message {i}, over\n").as_bytes()).unwrap();
        t.note(0, "waits (its turn is over)");
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        t.note(0, format!("hears {:?}", line.trim()));
    }
    responder.join().unwrap();
    t
}

fn full_duplex() -> Arc<Timeline> {
    let t = Timeline::new();
    let (a, b) = tcp_pair();
    let talk = |me: TcpStream, lane: usize, name: &'static str, t: Arc<Timeline>| {
        let mut writer = me.try_clone().unwrap();
        let tw = Arc::clone(&t);
        let speaker = thread::spawn(move || {
            for i in 1..=4 {
                tw.note(lane, format!("says \"{name} {i}\""));
                writer.write_all(format!("{name} {i}\n").as_bytes()).unwrap();
                thread::sleep(STEP);
            }
        });
        let listener = thread::spawn(move || {
            let mut reader = BufReader::new(me);
            for _ in 0..4 {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                t.note(lane, format!("   hears {:?}", line.trim()));
            }
        });
        (speaker, listener)
    };
    let (s1, l1) = talk(a, 0, "A", Arc::clone(&t));
    let (s2, l2) = talk(b, 1, "B", Arc::clone(&t));
    for h in [s1, l1, s2, l2] {
        h.join().unwrap();
    }
    t
}

fn half_close() -> Arc<Timeline> {
    let t = Timeline::new();
    let (mut a, b) = tcp_pair();
    let tb = Arc::clone(&t);
    let server = thread::spawn(move || {
        let mut b = b;
        let mut request = String::new();
        b.read_to_string(&mut request).unwrap();
        tb.note(1, format!("read {:?} then end-of-stream (A's FIN)", request));
        tb.note(1, "still sends: \"here is the reply\"");
        b.write_all(b"here is the reply").unwrap();
        b.shutdown(Shutdown::Write).unwrap();
        tb.note(1, "shutdown(Write): now both directions are closed");
    });
    t.note(0, "sends \"that's all\" ──▶");
    a.write_all(b"that's all").unwrap();
    a.shutdown(Shutdown::Write).unwrap();
    t.note(0, "shutdown(Write): A can no longer send, can still read");
    let mut reply = String::new();
    a.read_to_string(&mut reply).unwrap();
    t.note(0, format!("reads {reply:?}"));
    server.join().unwrap();
    t
}

fn main() {
    wirelab::init_logging();
    println!("1. simplex: a radio. UDP datagrams one way; the receiver cannot answer.\n");
    print!("{}", simplex().render("A (radio, UDP)", "B (receiver)"));
    println!("\n2. half duplex: a walkie-talkie. One TCP connection, strict turns (like HTTP/1.x).\n");
    print!("{}", half_duplex().render("A (client)", "B (server)"));
    println!("\n3. full duplex: a phone call. The same kind of connection, a reader and a writer thread per end.");
    println!("   Both directions overlap in time.\n");
    print!("{}", full_duplex().render("A", "B"));
    println!("\n4. half-close: the directions end independently.\n");
    print!("{}", half_close().render("A (client)", "B (server)"));
    println!("\nnext: cargo test --test transport  (each of these as an assertion)");
}
