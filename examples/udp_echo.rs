//! `udp_echo`: every datagram goes back to its sender. No connection, no
//! thread per client: one socket serves everyone.
//!
//! ```text
//! cargo run --example udp_echo [ADDR]      # default 127.0.0.1:7001
//! ```
//!
//! Compare with `tcp_echo`: there is no accept and no per-client state; each
//! datagram carries its sender's address and is answered on its own. Two
//! sends are two datagrams, never merged (`udp_keeps_datagram_boundaries`
//! in `tests/transport.rs`). Runs until Ctrl-C.
//!
//! Try it with the one-liner it prints (Python's standard library, which
//! every Debian machine has), or `nc -u 127.0.0.1 7001` where netcat is
//! installed: each line you type is one datagram.

use std::net::UdpSocket;

fn main() {
    wirelab::init_logging();
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:7001".to_string());
    let socket = match UdpSocket::bind(&addr) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("udp_echo: cannot bind {addr}: {e}");
            std::process::exit(1);
        }
    };
    let a = socket.local_addr().expect("bound socket");
    println!("udp_echo: echoing datagrams on {a} (no connections: one socket for everyone)");
    println!(
        "  try: python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2); s.sendto(b\"hello\", (\"{}\", {})); print(s.recvfrom(2048))'",
        a.ip(),
        a.port()
    );
    println!(
        "  or:  nc -u {} {}   (netcat, where it is installed: each line is one datagram)",
        a.ip(),
        a.port()
    );
    println!("  Ctrl-C to stop");
    if let Err(e) = wirelab::udp::serve_echo(&socket) {
        eprintln!("udp_echo: {e}");
        std::process::exit(1);
    }
}
