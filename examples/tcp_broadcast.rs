//! `tcp_broadcast`: the broadcast hub with no WebSocket at all, as the
//! baseline that `ws_broadcast` is measured against.
//!
//! ```text
//! cargo run --release --example tcp_broadcast [ADDR]     # default 127.0.0.1:9003
//! ```
//!
//! Plain TCP, one line per message: every line a client sends goes to every
//! connected client, the sender included. The shape is the same as
//! `src/broadcast/` at its simplest: a reader thread per connection hands
//! lines to one hub thread; the hub joins the lines that are waiting into one
//! buffer and writes that buffer to every socket itself, with blocking
//! writes. No frames, no masking, no UTF-8 check, no outboxes, no writer
//! threads: what is left is the cost of the system calls, which is what a
//! fan-out over TCP cannot avoid. `docs/performance.md` compares the two
//! with `broadcast_load --url tcp://…`.
//!
//! What it leaves out on purpose, and `ws_broadcast` does not: a client that
//! stops reading blocks the hub, and so everyone, until its write times out
//! ([`WRITE_TIMEOUT`]); then it is dropped.
//!
//! Try it: `cargo run --example ws_client` speaks WebSocket, so use a
//! `python3 -c` one-liner in two terminals:
//!
//! ```text
//! python3 -c "import socket,sys;s=socket.create_connection(('127.0.0.1',9003));s.sendall(b'hi all\n');print(s.recv(100))"
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{bounded, select, Receiver};
use wirelab::server::{Server, ServerConfig};

/// Longest line accepted; a longer one ends the connection (a line is
/// buffered whole before it is published).
const MAX_LINE: usize = 64 * 1024;

/// Lines waiting for the hub. When it is full, readers wait in `send`, stop
/// reading, and TCP slows their senders down.
const QUEUE: usize = 1024;

/// Most bytes joined into one write.
const BATCH: usize = 64 * 1024;

/// How long one write to one client may block the hub before that client is
/// dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

fn main() {
    wirelab::init_logging();
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9003".to_string());
    // A connection holds one descriptor, its socket: the server's table,
    // the reader thread and the hub share it (an `Arc`, not a copy).
    let config = ServerConfig {
        name: "tcp-broadcast".to_string(),
        ..ServerConfig::default()
    };
    let server = match Server::bind(&addr, config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tcp_broadcast: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    let url = format!("tcp://{}", server.local_addr());
    let (joins, join_rx) = bounded::<Arc<TcpStream>>(QUEUE);
    let (lines, line_rx) = bounded::<Vec<u8>>(QUEUE);
    std::thread::Builder::new()
        .name("hub".into())
        .spawn(move || hub(&join_rx, &line_rx))
        .expect("spawning the hub thread");
    println!("tcp_broadcast: every line goes to everyone, on {url}");
    println!("  load: cargo run --release --example broadcast_load -- burst --url {url}");
    println!("  Ctrl-C to stop");
    server.run(move |stream, info| {
        let _ = stream.set_read_timeout(None);
        let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
        // The hub writes to the same socket this thread reads from.
        if joins.send(Arc::clone(&stream)).is_err() {
            return;
        }
        let mut reader = BufReader::new(&*stream);
        let mut line = Vec::new();
        loop {
            line.clear();
            match (&mut reader).take(MAX_LINE as u64 + 1).read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) if line.last() != Some(&b'\n') => {
                    log::info!("{info}: line over {MAX_LINE} bytes or cut short; closing");
                    break;
                }
                Ok(_) => {
                    if lines.send(std::mem::take(&mut line)).is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    });
}

/// The hub thread: takes every line that is waiting (up to [`BATCH`] bytes),
/// then writes them in one `write` to each client, in turn.
fn hub(joins: &Receiver<Arc<TcpStream>>, lines: &Receiver<Vec<u8>>) {
    let mut clients: Vec<Arc<TcpStream>> = Vec::new();
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        select! {
            recv(joins) -> s => match s {
                Ok(s) => clients.push(s),
                Err(_) => return,
            },
            recv(lines) -> line => {
                let Ok(line) = line else { return };
                batch.clear();
                batch.extend_from_slice(&line);
                while batch.len() < BATCH {
                    match lines.try_recv() {
                        Ok(more) => batch.extend_from_slice(&more),
                        Err(_) => break,
                    }
                }
                // Newcomers first, so every line after a join reaches them.
                clients.extend(joins.try_iter());
                clients.retain(|c| {
                    let written = (&**c).write_all(&batch).is_ok();
                    if !written {
                        // Its reader thread ends too.
                        let _ = c.shutdown(std::net::Shutdown::Both);
                    }
                    written
                });
            }
        }
    }
}
