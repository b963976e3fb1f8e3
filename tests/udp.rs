//! UDP, the User Datagram Protocol (RFC 768), as experiments on loopback:
//! no connection, so one socket talks with many peers; one datagram can be
//! addressed to a group; and nothing repairs a loss, even on loopback.
//!
//! Where the system refuses something (broadcast or multicast on loopback
//! is not allowed everywhere), the test says so and skips that part.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(5);

fn socket(addr: &str) -> UdpSocket {
    let s = UdpSocket::bind(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s
}

fn receive(s: &UdpSocket) -> (String, SocketAddr) {
    let mut buf = [0u8; 1500];
    let (n, from) = s.recv_from(&mut buf).unwrap();
    (String::from_utf8_lossy(&buf[..n]).into_owned(), from)
}

#[test]
fn one_udp_socket_sends_to_many_receivers_with_no_connection_to_any() {
    // TCP needs a connection, and a socket, per peer. A UDP socket names
    // the destination in each send_to.
    let sender = socket("127.0.0.1:0");
    let receivers: Vec<UdpSocket> = (0..3).map(|_| socket("127.0.0.1:0")).collect();
    for r in &receivers {
        sender.send_to(b"to each of you", r.local_addr().unwrap()).unwrap();
    }
    for r in &receivers {
        let (text, from) = receive(r);
        assert_eq!(text, "to each of you");
        assert_eq!(from, sender.local_addr().unwrap(), "from the one sending socket");
    }
}

#[test]
fn one_udp_socket_receives_from_many_senders_and_learns_each_address() {
    let receiver = socket("127.0.0.1:0");
    let to = receiver.local_addr().unwrap();
    let (alice, bob) = (socket("127.0.0.1:0"), socket("127.0.0.1:0"));
    alice.send_to(b"alice", to).unwrap();
    bob.send_to(b"bob", to).unwrap();
    let mut got = vec![receive(&receiver), receive(&receiver)];
    got.sort();
    assert_eq!(
        got,
        [
            ("alice".to_string(), alice.local_addr().unwrap()),
            ("bob".to_string(), bob.local_addr().unwrap())
        ],
        "each datagram carries its sender's address; the receiver answers with send_to"
    );
}

#[test]
fn a_broadcast_reaches_a_socket_the_sender_never_named_once_broadcast_is_allowed() {
    // 127.255.255.255 is loopback's broadcast address on Linux: a datagram
    // sent there goes to every socket bound to that port on any address
    // ("0.0.0.0"). Sending to a broadcast address must be asked for
    // (SO_BROADCAST); without it the kernel refuses.
    let receiver = socket("0.0.0.0:0");
    let port = receiver.local_addr().unwrap().port();
    let broadcast = SocketAddr::from((Ipv4Addr::new(127, 255, 255, 255), port));
    let sender = socket("127.0.0.1:0");
    match sender.send_to(b"everyone on this port", broadcast) {
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {}
        other => {
            println!("skipped: this system treats 127.255.255.255 as an ordinary address ({other:?})");
            return;
        }
    }
    sender.set_broadcast(true).unwrap();
    if let Err(e) = sender.send_to(b"everyone on this port", broadcast) {
        println!("skipped: this system refuses broadcast on loopback ({e})");
        return;
    }
    let (text, from) = receive(&receiver);
    assert_eq!(text, "everyone on this port");
    assert_eq!(from, sender.local_addr().unwrap());
}

#[test]
fn a_multicast_datagram_reaches_a_socket_that_joined_the_group() {
    // A multicast group (239.0.0.0/8: organisation-local) is an address
    // that names no host: the datagram goes to every socket that joined it
    // on that port. (A second receiver on the same host and port would
    // need SO_REUSEADDR, which std does not offer.)
    let group = Ipv4Addr::new(239, 255, 77, 1);
    let receiver = socket("0.0.0.0:0");
    let port = receiver.local_addr().unwrap().port();
    if let Err(e) = receiver.join_multicast_v4(&group, &Ipv4Addr::LOCALHOST) {
        println!("skipped: this system refuses multicast on loopback ({e})");
        return;
    }
    let sender = socket("127.0.0.1:0");
    sender.set_multicast_loop_v4(true).unwrap();
    if let Err(e) = sender.send_to(b"to the group", (group, port)) {
        println!("skipped: this system refuses to send multicast from loopback ({e})");
        return;
    }
    let (text, from) = receive(&receiver);
    assert_eq!(text, "to the group");
    assert_eq!(from, sender.local_addr().unwrap());
}

/// The kernel's count of datagrams it dropped at this socket (Linux: the
/// last column of `/proc/net/udp`).
#[cfg(target_os = "linux")]
fn drops_at(addr: SocketAddr) -> Option<u64> {
    let SocketAddr::V4(v4) = addr else { return None };
    let local = format!("{:08X}:{:04X}", u32::from_le_bytes(v4.ip().octets()), v4.port());
    let table = std::fs::read_to_string("/proc/net/udp").ok()?;
    let line = table
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(local.as_str()))?;
    line.split_whitespace().last()?.parse().ok()
}

#[test]
fn udp_drops_datagrams_on_loopback_once_the_receive_buffer_is_full() {
    // No network, no congestion: the loss here is the receiver's. Its
    // socket buffer holds a few hundred kilobytes; a receiver that does
    // not read in time loses what does not fit, and nobody tells the
    // sender, who sent every datagram successfully.
    let receiver = socket("127.0.0.1:0");
    let to = receiver.local_addr().unwrap();
    // Send several times the receive buffer (Linux's default is in
    // /proc/sys/net/core/rmem_default), and at least 8 MiB.
    let rmem: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_default")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let size = 1024;
    let count = (4 * rmem).max(8 << 20) / size;
    let sender = socket("127.0.0.1:0");
    let mut datagram = vec![0u8; size];
    for seq in 0..count as u32 {
        datagram[..4].copy_from_slice(&seq.to_be_bytes());
        assert_eq!(sender.send_to(&datagram, to).unwrap(), size, "every send succeeds");
    }
    // Now read what the kernel kept.
    receiver.set_nonblocking(true).unwrap();
    let (mut arrived, mut last) = (0usize, None::<u32>);
    let mut buf = vec![0u8; 2048];
    let deadline = Instant::now() + Duration::from_millis(500);
    loop {
        match receiver.recv_from(&mut buf) {
            Ok((n, _)) => {
                assert_eq!(n, size, "a datagram arrives whole or not at all");
                let seq = u32::from_be_bytes(buf[..4].try_into().unwrap());
                assert!(last.map_or(true, |l| seq > l), "never duplicated or reordered here");
                last = Some(seq);
                arrived += 1;
            }
            // Nothing left; wait a little for any still in the kernel's queue.
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("receiving: {e}"),
        }
    }
    println!("sent {count} datagrams of {size} bytes to a receiver that was not reading; {arrived} arrived");
    assert!(arrived > 0, "the buffer held some");
    assert!(arrived < count, "and the rest were dropped");
    #[cfg(target_os = "linux")]
    {
        let drops = drops_at(to).expect("the socket in /proc/net/udp");
        println!("the kernel counted {drops} drops at the receiving socket");
        assert!(drops > 0, "dropped at the receiver, for want of buffer space");
        assert!(arrived as u64 + drops <= count as u64);
    }
}
