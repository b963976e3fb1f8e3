//! Sockets: the operating system's programming interface to TCP (and to
//! more than TCP), as experiments on loopback. Each test names a fact and
//! checks it; every blocking read has a timeout.

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use wirelab::server::{Server, ServerConfig};

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

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Round trips of a write-write-read exchange, as a client that writes a
/// request's head and then its body in two small writes would make: the
/// server answers 2 bytes once it has both parts (8 bytes).
fn write_write_read_round_trips(nodelay: bool, rounds: usize) -> Vec<Duration> {
    let (mut client, mut server) = pair();
    client.set_nodelay(nodelay).unwrap();
    let answering = thread::spawn(move || {
        let mut request = [0u8; 8];
        for _ in 0..rounds {
            server.read_exact(&mut request).unwrap();
            server.write_all(b"ok").unwrap();
        }
    });
    let mut times = Vec::new();
    let mut answer = [0u8; 2];
    for _ in 0..rounds {
        let start = Instant::now();
        client.write_all(b"head").unwrap();
        client.write_all(b"body").unwrap();
        client.read_exact(&mut answer).unwrap();
        times.push(start.elapsed());
    }
    answering.join().unwrap();
    times
}

#[test]
fn nagle_holds_a_small_write_until_the_delayed_ack_and_nodelay_sends_it_at_once() {
    // With Nagle's algorithm (the default, RFC 9293 §3.7.4) the second
    // small write waits until the first is acknowledged. The server has
    // nothing to send yet (it waits for the whole request), so its kernel
    // delays the ACK (RFC 9293 §3.8.6.3; 40 ms at least on Linux, up to
    // 200 ms elsewhere). set_nodelay(true) sends each write at once.
    let rounds = 21;
    let nagle = median(write_write_read_round_trips(false, rounds));
    let nodelay = median(write_write_read_round_trips(true, rounds));
    println!("write-write-read round trip, median of {rounds}: Nagle {nagle:?}, nodelay {nodelay:?}");
    assert!(
        nagle >= Duration::from_millis(20),
        "with Nagle, each round trip waits for a delayed ACK: {nagle:?}"
    );
    assert!(
        nodelay * 4 < nagle,
        "without Nagle the same exchange is much faster: {nodelay:?} vs {nagle:?}"
    );
}

#[test]
fn servers_here_turn_nagle_off_on_every_accepted_socket() {
    // Every server in this crate writes small things that must leave now:
    // a pong, a chat message, a response head. ServerConfig::nodelay is
    // true by default, and the accept loop applies it to each socket.
    let report_nodelay = |config: ServerConfig| {
        let handle = Server::bind("127.0.0.1:0", config).unwrap().spawn(|stream, _| {
            let on = stream.nodelay().unwrap();
            let _ = (&*stream).write_all(&[u8::from(on)]);
        });
        let mut client = TcpStream::connect(handle.local_addr()).unwrap();
        client.set_read_timeout(Some(WAIT)).unwrap();
        let mut byte = [0u8; 1];
        client.read_exact(&mut byte).unwrap();
        handle.shutdown();
        byte[0] == 1
    };
    assert!(ServerConfig::default().nodelay);
    assert!(report_nodelay(ServerConfig::default()), "the default turns Nagle off");
    let nagle = ServerConfig {
        nodelay: false,
        ..ServerConfig::default()
    };
    assert!(!report_nodelay(nagle), "and the setting is what the socket gets");
}

/// A line protocol written once, against `Read + Write` only: each line is
/// answered in capitals; `bye` ends the conversation.
fn shout<S: Read + Write>(stream: S) -> io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        reader.get_mut().write_all(line.to_uppercase().as_bytes())?;
        if line == "bye\n" {
            return Ok(());
        }
    }
}

/// The client side of the same protocol, also only `Read + Write`.
fn talk<S: Read + Write>(stream: S, lines: &[&str]) -> io::Result<Vec<String>> {
    let mut reader = BufReader::new(stream);
    let mut answers = Vec::new();
    for line in lines {
        reader.get_mut().write_all(format!("{line}\n").as_bytes())?;
        let mut answer = String::new();
        reader.read_line(&mut answer)?;
        answers.push(answer.trim_end().to_string());
    }
    Ok(answers)
}

#[cfg(unix)]
#[test]
fn the_same_read_write_code_talks_over_tcp_and_over_a_unix_socket() {
    // A socket is an interface, not a protocol: the same two functions run
    // over TCP/IP and over a Unix-domain socket, which involves no TCP, no
    // IP and no port, only a path in the file system.
    use std::os::unix::net::{UnixListener, UnixStream};
    let lines = ["hello", "socket", "bye"];

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || shout(listener.accept().unwrap().0));
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let over_tcp = talk(tcp, &lines).unwrap();
    server.join().unwrap().unwrap();

    let path = std::env::temp_dir().join(format!("wirelab-sockets-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    let server = thread::spawn(move || shout(listener.accept().unwrap().0));
    let unix = UnixStream::connect(&path).unwrap();
    unix.set_read_timeout(Some(WAIT)).unwrap();
    let over_unix = talk(unix, &lines).unwrap();
    server.join().unwrap().unwrap();
    std::fs::remove_file(&path).unwrap();

    assert_eq!(over_tcp, ["HELLO", "SOCKET", "BYE"]);
    assert_eq!(over_unix, over_tcp, "the same code, the same conversation");
}

/// Binds `ip:port`; `None` (with a printed reason) when this host does not
/// have that address.
fn listen_if_present(ip: IpAddr, port: u16) -> io::Result<Option<TcpListener>> {
    match TcpListener::bind((ip, port)) {
        Ok(l) => Ok(Some(l)),
        Err(e) if e.kind() == ErrorKind::AddrNotAvailable => {
            println!("skipped {ip}: this host does not have that address ({e})");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

#[test]
fn one_host_has_many_addresses_and_each_can_listen_on_the_same_port() {
    // An endpoint is an (address, port) pair. Linux routes all of 127.0.0.0/8
    // to loopback; ::1 is IPv6's loopback. Three listeners share one port
    // number, and each receives only the connections made to its address.
    let addresses = [
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ];
    // Another program may hold the port on one of the addresses: try again
    // with a new port then.
    let (port, listeners) = (0..20)
        .find_map(|_| {
            let first = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = first.local_addr().unwrap().port();
            let mut listeners = vec![first];
            for ip in &addresses[1..] {
                match listen_if_present(*ip, port) {
                    Ok(Some(l)) => listeners.push(l),
                    Ok(None) => {}
                    Err(e) if e.kind() == ErrorKind::AddrInUse => return None,
                    Err(e) => panic!("binding {ip}:{port}: {e}"),
                }
            }
            Some((port, listeners))
        })
        .expect("a port free on every address");
    for listener in &listeners {
        let addr = listener.local_addr().unwrap();
        assert_eq!(addr.port(), port);
        let client = TcpStream::connect(addr).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert_eq!(
            accepted.local_addr().unwrap(),
            addr,
            "the server sees which address was dialled"
        );
        assert_eq!(client.peer_addr().unwrap(), addr);
    }
    // Nothing was queued on the wrong listener.
    for listener in &listeners {
        listener.set_nonblocking(true).unwrap();
        assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
    }
    println!(
        "listening on port {port} at {:?}",
        listeners
            .iter()
            .map(|l| l.local_addr().unwrap().ip())
            .collect::<Vec<_>>()
    );
}

#[test]
fn ten_megabytes_of_counters_arrive_complete_and_in_order() {
    // TCP's promise (RFC 9293 §2.2, §3.4): every byte, once, in order. The
    // writer sends the numbers 0, 1, 2, ... as 4-byte big-endian counters;
    // the reader takes the stream in reads of odd sizes that cut counters
    // in half, and checks every one.
    const COUNTERS: u32 = 2_500_000; // 10 000 000 bytes
    let (mut client, mut server) = pair();
    let writer = thread::spawn(move || {
        let mut chunk = Vec::with_capacity(4 * 4096);
        for start in (0..COUNTERS).step_by(4096) {
            chunk.clear();
            for n in start..(start + 4096).min(COUNTERS) {
                chunk.extend_from_slice(&n.to_be_bytes());
            }
            client.write_all(&chunk).unwrap();
        }
        client.shutdown(Shutdown::Write).unwrap();
    });
    let read_sizes = [1usize, 7, 4093, 65_536, 3, 1500];
    let mut buf = vec![0u8; 65_536];
    let (mut pending, mut expected, mut reads, mut bytes) = (Vec::new(), 0u32, 0usize, 0usize);
    loop {
        let n = server.read(&mut buf[..read_sizes[reads % read_sizes.len()]]).unwrap();
        if n == 0 {
            break;
        }
        reads += 1;
        bytes += n;
        pending.extend_from_slice(&buf[..n]);
        let whole = pending.len() / 4 * 4;
        for counter in pending[..whole].chunks_exact(4) {
            let got = u32::from_be_bytes(counter.try_into().unwrap());
            assert_eq!(got, expected, "counter out of place after {bytes} bytes");
            expected += 1;
        }
        pending.drain(..whole);
    }
    writer.join().unwrap();
    assert_eq!(bytes, 10_000_000);
    assert_eq!(expected, COUNTERS, "every counter arrived");
    assert!(pending.is_empty());
    println!("10 000 000 bytes in {reads} reads, every counter in order");
}
