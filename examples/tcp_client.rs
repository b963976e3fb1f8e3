//! `tcp_client`: the smallest interactive TCP client, for `tcp_echo` and
//! any other line-based server (the crate's own stand-in for `nc`).
//!
//! ```text
//! cargo run --example tcp_client [ADDR]      # default 127.0.0.1:7000
//! ```
//!
//! Two directions, two threads: one copies what arrives from the server to
//! stdout as it arrives; the main thread copies stdin to the server. End of
//! input (Ctrl-D) is a half-close, `shutdown(Write)`: a FIN that says "I
//! will send no more" while the other direction stays open, so the server
//! can still answer and then close its side (RFC 9293 §3.6). The program
//! ends when the server has closed its side too.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;

fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:7000".to_string());
    let stream = match TcpStream::connect(&addr) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tcp_client: cannot connect to {addr}: {e}");
            eprintln!("  is a server running? try: cargo run --example tcp_echo");
            std::process::exit(1);
        }
    };
    let (local, peer) = (stream.local_addr().unwrap(), stream.peer_addr().unwrap());
    eprintln!("tcp_client: connected {local} -> {peer}; type lines, Ctrl-D to half-close");

    let mut from_server = stream.try_clone().expect("a second handle on the socket");
    let printer = thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut stdout = io::stdout();
        loop {
            match from_server.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    stdout.write_all(&buf[..n])?;
                    stdout.flush()?;
                }
                Err(e) => return Err(e),
            }
        }
    });

    let mut to_server = stream;
    if let Err(e) = io::copy(&mut io::stdin().lock(), &mut to_server) {
        eprintln!("tcp_client: sending: {e}");
    }
    // End of input: our direction ends here, the other stays open.
    let _ = to_server.shutdown(Shutdown::Write);
    eprintln!("tcp_client: sent FIN (half-close); waiting for the server to finish");
    match printer.join().expect("the printer thread") {
        Ok(()) => eprintln!("tcp_client: the server closed its side too; done"),
        Err(e) => {
            eprintln!("tcp_client: receiving: {e}");
            std::process::exit(1);
        }
    }
}
