//! TCP and UDP facts from the notes, as experiments on loopback sockets.
//!
//! Timing is made explicit: where a test needs "both writes have arrived",
//! it waits for exactly that (with `peek`, which looks without consuming),
//! never for a sleep that usually suffices.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use wirelab::server::ServerConfig;
use wirelab::udp::MAX_PAYLOAD_V4;

const WAIT: Duration = Duration::from_secs(5);

fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    for s in [&client, &server] {
        s.set_read_timeout(Some(WAIT)).unwrap();
        s.set_write_timeout(Some(WAIT)).unwrap();
    }
    (client, server)
}

/// Waits until at least `n` bytes are readable on `s`, without reading them.
fn wait_readable(s: &TcpStream, n: usize) {
    let mut buf = vec![0u8; n];
    let deadline = Instant::now() + WAIT;
    while s.peek(&mut buf).unwrap() < n {
        assert!(Instant::now() < deadline, "{n} bytes never arrived");
        thread::yield_now();
    }
}

#[test]
fn connect_returns_before_accept_is_called() {
    // The listen backlog: the kernel completes SYN / SYN-ACK / ACK on its
    // own and queues the connection; accept() only takes it off the queue.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    // Connected, and the server has not called accept(). Data can even be
    // sent: it waits in the not-yet-accepted socket's receive buffer.
    client.write_all(b"sent before accept").unwrap();
    let (mut server, _) = listener.accept().unwrap();
    server.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = [0u8; 18];
    server.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"sent before accept");
}

#[test]
fn the_accepted_peer_address_is_the_clients_local_address() {
    let (client, server) = pair();
    assert_eq!(server.peer_addr().unwrap(), client.local_addr().unwrap());
    assert_eq!(client.peer_addr().unwrap(), server.local_addr().unwrap());
    // The client's port was chosen by the kernel (an ephemeral port); the
    // server's is the listening port.
    assert_ne!(client.local_addr().unwrap().port(), server.local_addr().unwrap().port());
}

#[test]
fn two_writes_can_arrive_as_one_read() {
    let (mut client, mut server) = pair();
    client.write_all(b"hello ").unwrap();
    client.write_all(b"world").unwrap();
    wait_readable(&server, 11);
    let mut buf = [0u8; 64];
    let n = server.read(&mut buf).unwrap();
    // One read returns both writes: TCP kept the bytes and their order,
    // not the boundary between them.
    assert_eq!(&buf[..n], b"hello world");
}

#[test]
fn one_write_can_arrive_as_several_reads() {
    let (mut client, mut server) = pair();
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    // Written from another thread: 100 000 bytes need not fit in the socket
    // buffers, and a write_all that waits for a reader who is waiting for
    // it would only end at the write timeout.
    let writer = {
        let data = data.clone();
        thread::spawn(move || {
            client.write_all(&data).unwrap();
            client.shutdown(Shutdown::Write).unwrap();
        })
    };
    // The reader decides how much it takes per read; here 4 KiB at a time.
    let mut got = Vec::new();
    let mut reads = 0;
    let mut buf = [0u8; 4096];
    loop {
        let n = server.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        reads += 1;
        got.extend_from_slice(&buf[..n]);
    }
    writer.join().unwrap();
    assert_eq!(got, data, "every byte, in order");
    assert!(reads >= 25, "one write of 100 000 bytes took {reads} reads");
}

#[test]
fn half_close_leaves_the_other_direction_open() {
    let (mut client, mut server) = pair();
    client.write_all(b"request, then I stop talking").unwrap();
    client.shutdown(Shutdown::Write).unwrap(); // FIN: "I am done sending"
    let mut request = String::new();
    server.read_to_string(&mut request).unwrap(); // ends at the FIN
    assert_eq!(request, "request, then I stop talking");
    // The server's direction is still open: it answers after the client's FIN.
    server.write_all(b"and here is my answer").unwrap();
    server.shutdown(Shutdown::Write).unwrap();
    let mut answer = String::new();
    client.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "and here is my answer");
}

#[test]
fn both_directions_flow_at_the_same_time() {
    // Each side sends 16 MiB while the other does: more than the two
    // sockets' buffers hold (a few MiB on Linux loopback). If TCP were half
    // duplex, or if one thread did both jobs, both writers would block on
    // full buffers, each waiting for the other to read, until the write
    // timeout.
    let (client, server) = pair();
    let run = |stream: TcpStream| {
        let mut writer = stream.try_clone().unwrap();
        let sender = thread::spawn(move || {
            writer.write_all(&vec![7u8; 16 << 20]).unwrap();
            writer.shutdown(Shutdown::Write).unwrap();
        });
        let mut reader = stream;
        let mut got = Vec::new();
        reader.read_to_end(&mut got).unwrap();
        sender.join().unwrap();
        got.len()
    };
    let other = thread::spawn(move || run(server));
    assert_eq!(run(client), 16 << 20);
    assert_eq!(other.join().unwrap(), 16 << 20);
}

#[test]
fn the_echo_server_returns_every_byte_and_serves_clients_concurrently() {
    let server = wirelab::tcp::spawn_echo("127.0.0.1:0", ServerConfig::default()).unwrap();
    let addr = server.local_addr();
    // A silent client holds a connection; others are served meanwhile.
    let _silent = TcpStream::connect(addr).unwrap();
    let handles: Vec<_> = (0..8)
        .map(|i| {
            thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(WAIT)).unwrap();
                let data = vec![i as u8; 50_000];
                let writer = {
                    let mut w = s.try_clone().unwrap();
                    let data = data.clone();
                    thread::spawn(move || {
                        w.write_all(&data).unwrap();
                        w.shutdown(Shutdown::Write).unwrap();
                    })
                };
                let mut back = Vec::new();
                s.read_to_end(&mut back).unwrap();
                writer.join().unwrap();
                back == data
            })
        })
        .collect();
    for h in handles {
        assert!(h.join().unwrap());
    }
}

#[test]
fn udp_keeps_datagram_boundaries() {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    b.set_read_timeout(Some(WAIT)).unwrap();
    a.send_to(b"hello ", b.local_addr().unwrap()).unwrap();
    a.send_to(b"world", b.local_addr().unwrap()).unwrap();
    let mut buf = [0u8; 64];
    // Even with room for both, each receive returns exactly one datagram.
    let (n, from) = b.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"hello "[..], a.local_addr().unwrap()));
    let (n, _) = b.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"world");
}

#[test]
fn a_datagram_bigger_than_the_receive_buffer_is_cut_not_split() {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    b.set_read_timeout(Some(WAIT)).unwrap();
    a.send_to(b"0123456789", b.local_addr().unwrap()).unwrap();
    a.send_to(b"next", b.local_addr().unwrap()).unwrap();
    let mut small = [0u8; 4];
    let (n, _) = b.recv_from(&mut small).unwrap();
    assert_eq!(&small[..n], b"0123");
    // The rest of that datagram is gone; the next receive is the next datagram.
    let (n, _) = b.recv_from(&mut small).unwrap();
    assert_eq!(&small[..n], b"next");
}

#[test]
fn a_udp_payload_over_65507_bytes_cannot_be_sent() {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    b.set_read_timeout(Some(WAIT)).unwrap();
    let to = b.local_addr().unwrap();
    assert_eq!(a.send_to(&vec![1u8; MAX_PAYLOAD_V4], to).unwrap(), MAX_PAYLOAD_V4);
    assert!(
        a.send_to(&vec![1u8; MAX_PAYLOAD_V4 + 1], to).is_err(),
        "65 508 bytes do not fit"
    );
    let mut buf = vec![0u8; 70_000];
    let (n, _) = b.recv_from(&mut buf).unwrap();
    assert_eq!(n, MAX_PAYLOAD_V4, "the largest datagram arrives whole");
}

#[test]
fn udp_sends_without_a_connection_tcp_connect_is_refused() {
    // A port with nobody behind it: bind, note the port, close.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let nobody: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let err = TcpStream::connect_timeout(&nobody, WAIT).unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::ConnectionRefused,
        "TCP: the SYN is answered with a reset"
    );
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    assert_eq!(
        udp.send_to(b"anyone?", nobody).unwrap(),
        7,
        "UDP: sent, no handshake to fail"
    );
}

#[test]
fn websocket_frames_restore_the_boundaries_tcp_does_not_keep() {
    use wirelab::websocket::{self, Message};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = websocket::accept(stream).unwrap();
        ws.set_read_timeout(Some(WAIT)).unwrap();
        ws.send(Message::text("hello ")).unwrap();
        ws.send(Message::text("world")).unwrap();
        ws.read().ok();
    });
    let mut client = websocket::connect(&format!("ws://{addr}/")).unwrap();
    client.set_read_timeout(Some(WAIT)).unwrap();
    // The same two writes as in two_writes_can_arrive_as_one_read; the
    // frames' length fields tell the reader where each message ends.
    assert_eq!(client.read().unwrap(), Message::text("hello "));
    assert_eq!(client.read().unwrap(), Message::text("world"));
    client.close(None).ok();
    server.join().unwrap();
}

#[cfg(target_os = "linux")]
mod linux {
    use super::*;
    use wirelab::tcp::states::{listening, state_of, TcpState};

    /// Waits until the socket (local, remote) is in one of `wanted`.
    fn wait_state(local: SocketAddr, remote: SocketAddr, wanted: &[TcpState]) -> TcpState {
        let deadline = Instant::now() + WAIT;
        loop {
            let state = state_of(local, remote).unwrap();
            if let Some(s) = state.filter(|s| wanted.contains(s)) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{local} -> {remote}: {state:?}, wanted {wanted:?}"
            );
            thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn socket_states_follow_the_close_sequence() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server_addr = listener.local_addr().unwrap();
        assert!(listening(server_addr).unwrap(), "bind + listen: LISTEN");

        let client = TcpStream::connect(server_addr).unwrap();
        let client_addr = client.local_addr().unwrap();
        // Before accept(), both ends are already ESTABLISHED.
        wait_state(client_addr, server_addr, &[TcpState::Established]);
        wait_state(server_addr, client_addr, &[TcpState::Established]);
        let (server, _) = listener.accept().unwrap();

        // The client closes first: it sends FIN and waits in FIN-WAIT; the
        // server, having received the FIN but not closed, is in CLOSE-WAIT.
        drop(client);
        wait_state(client_addr, server_addr, &[TcpState::FinWait1, TcpState::FinWait2]);
        wait_state(server_addr, client_addr, &[TcpState::CloseWait]);

        // The server closes too: the side that closed first ends in TIME-WAIT.
        drop(server);
        wait_state(client_addr, server_addr, &[TcpState::TimeWait]);
    }
}
