//! `tcp_handshake`: the three-way handshake as user space sees it, and the
//! socket states of a connection from LISTEN to TIME-WAIT.
//!
//! ```text
//! cargo run --example tcp_handshake
//! ```
//!
//! The note "HTTP、TCP与UDP、Socket与Websocket之间的联系与区别" describes SYN, SYN-ACK, ACK. A program
//! never sends those segments itself: `connect()` asks the kernel to, and
//! the *server's* kernel answers on its own, before the server program calls
//! `accept()`. This example shows it step by step:
//!
//! 1. bind + listen: the socket is in LISTEN;
//! 2. the client's `connect()` returns while the server has not called
//!    `accept()`: the connection waits, ESTABLISHED, in the listen backlog;
//! 3. `accept()` takes it; the server's peer address is the client's
//!    local address (an ephemeral port);
//! 4. the client closes first: it goes through FIN-WAIT to TIME-WAIT, the
//!    server sits in CLOSE-WAIT until it closes too.
//!
//! States come from `/proc/net/tcp` (Linux only; elsewhere the example says
//! so and shows the rest). Watch the packets themselves with
//! `sudo tcpdump -i lo -n 'tcp port PORT'` while it runs. It exits when done.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use wirelab::tcp::states::{read_sockets, state_of, TcpState};

fn show(label: &str, local: SocketAddr, remote: SocketAddr) {
    match state_of(local, remote) {
        Ok(Some(state)) => println!("    {label:<8} {local} -> {remote}: {state}"),
        Ok(None) => println!("    {label:<8} {local} -> {remote}: (gone)"),
        Err(e) => println!("    {label:<8} state unknown: {e}"),
    }
}

/// Waits (up to a second) for the kernel to reach one of `states`.
fn settle(local: SocketAddr, remote: SocketAddr, states: &[TcpState]) {
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        match state_of(local, remote) {
            Ok(Some(s)) if states.contains(&s) => return,
            Err(_) => return,
            _ => thread::sleep(Duration::from_millis(2)),
        }
    }
}

fn main() {
    wirelab::init_logging();
    if let Err(e) = read_sockets() {
        println!("note: {e}; the states below will be missing.\n");
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let server_addr = listener.local_addr().unwrap();
    println!("1. bind + listen on {server_addr}");
    let any: SocketAddr = "0.0.0.0:0".parse().unwrap();
    show("server", server_addr, any);

    println!("\n2. the client calls connect(); the server has NOT called accept()");
    let started = Instant::now();
    let client = TcpStream::connect(server_addr).expect("connect");
    let client_addr = client.local_addr().unwrap();
    println!(
        "    connect() returned after {:?}: SYN, SYN-ACK, ACK were exchanged by the two kernels",
        started.elapsed()
    );
    show("client", client_addr, server_addr);
    show("backlog", server_addr, client_addr);

    println!("\n3. accept() takes the finished connection off the backlog");
    let (server, peer) = listener.accept().expect("accept");
    println!("    server sees peer {peer}; the client's local address is {client_addr}: the same");
    println!(
        "    (port {} was picked by the client's kernel: an ephemeral port)",
        client_addr.port()
    );

    println!("\n4. the client closes first (FIN ->)");
    drop(client);
    settle(client_addr, server_addr, &[TcpState::FinWait2]);
    settle(server_addr, client_addr, &[TcpState::CloseWait]);
    show("client", client_addr, server_addr);
    show("server", server_addr, client_addr);
    println!("    the server has read end-of-stream but not closed: CLOSE-WAIT until it does");

    println!("\n5. the server closes too (<- FIN)");
    drop(server);
    settle(client_addr, server_addr, &[TcpState::TimeWait]);
    show("client", client_addr, server_addr);
    println!("    TIME-WAIT: the side that closed first keeps the port pair for 2 x MSL");
    println!("    (60 s on Linux) so late segments of this connection cannot confuse a new one");
    println!("\nnext: cargo test --test transport socket_states  (the same sequence, asserted)");
}
