//! The server's threads: one per connection, reused once a connection ends
//! (spare threads wait in accept), and ended when the server shuts down.
//!
//! Every server binds `127.0.0.1:0` and every wait has a timeout.

use std::collections::HashSet;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use wirelab::server::{Server, ServerConfig, ServerHandle};

const WAIT: Duration = Duration::from_secs(5);

/// A server whose handler reports the thread it runs on, then closes.
fn thread_reporting_server(config: ServerConfig) -> (ServerHandle, Receiver<ThreadId>) {
    let (tx, rx) = channel();
    let tx = Mutex::new(tx);
    let server = Server::bind("127.0.0.1:0", config).unwrap();
    let handle = server.spawn(move |_stream, _| {
        let _ = tx.lock().unwrap().send(thread::current().id());
    });
    (handle, rx)
}

/// Connects and waits for the server to close the connection.
fn connect_until_closed(addr: SocketAddr) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).expect("the server closes");
}

/// How many threads served `n` connections made one after another.
fn threads_for_sequential_connections(config: ServerConfig, n: usize) -> usize {
    let (server, threads) = thread_reporting_server(config);
    let mut seen = HashSet::new();
    for _ in 0..n {
        connect_until_closed(server.local_addr());
        seen.insert(threads.recv_timeout(WAIT).expect("the handler ran"));
    }
    seen.len()
}

#[test]
fn a_thread_whose_connection_ended_serves_the_next_ones() {
    // Two threads take turns: one serves while the other waits in accept().
    // A third is started only when a connection comes before the thread
    // that served the last one is back in accept().
    let reused = threads_for_sequential_connections(ServerConfig::default(), 20);
    assert!(reused < 10, "20 connections took {reused} threads");
    let spares_off = ServerConfig {
        spare_threads: 0,
        ..ServerConfig::default()
    };
    assert_eq!(threads_for_sequential_connections(spares_off, 20), 20);
}

#[test]
fn connections_at_the_same_time_each_have_a_thread_of_their_own() {
    let (arrived_tx, arrived) = channel::<()>();
    let (go_tx, go) = channel::<()>();
    let (arrived_tx, go) = (Mutex::new(arrived_tx), Arc::new(Mutex::new(go)));
    let server = Server::bind("127.0.0.1:0", ServerConfig::default()).unwrap();
    let server = server.spawn(move |_stream, info| {
        // The first three connections leave spare threads waiting in
        // accept(); the next three wait together, which only threads of
        // their own can do.
        if info.id > 3 {
            let _ = arrived_tx.lock().unwrap().send(());
            let _ = go.lock().unwrap().recv_timeout(WAIT);
        }
    });
    let addr = server.local_addr();
    for _ in 0..3 {
        connect_until_closed(addr);
    }
    let clients: Vec<_> = (0..3)
        .map(|_| thread::spawn(move || connect_until_closed(addr)))
        .collect();
    for i in 0..3 {
        arrived
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("only {i} of 3 connections were being served at once"));
    }
    let release = |tx: &Sender<()>| (0..3).for_each(|_| tx.send(()).unwrap());
    release(&go_tx);
    for c in clients {
        c.join().unwrap();
    }
}

#[test]
fn after_shutdown_the_spare_threads_end_and_let_go_of_the_handler() {
    let token = Arc::new(());
    let held = Arc::clone(&token);
    let server = Server::bind("127.0.0.1:0", ServerConfig::default()).unwrap();
    let server = server.spawn(move |_stream, _| {
        let _ = &held;
    });
    for _ in 0..3 {
        connect_until_closed(server.local_addr());
    }
    assert_eq!(server.shutdown(), 0);
    // Spare threads wait in accept() for as long as the server runs;
    // shutting down must end them, and with them the handler and what it
    // holds.
    let deadline = Instant::now() + WAIT;
    while Arc::strong_count(&token) > 1 {
        assert!(Instant::now() < deadline, "a spare thread still holds the handler");
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn spare_threads_waiting_in_accept_take_no_connection_slot() {
    let config = ServerConfig {
        max_connections: 2,
        ..ServerConfig::default()
    };
    let server = Server::bind("127.0.0.1:0", config).unwrap();
    let server = server.spawn(|stream, info| {
        // The first five end at once, leaving spare threads in accept();
        // the later ones are held until their client closes.
        if info.id > 5 {
            let _ = (&*stream).read(&mut [0u8; 1]);
        }
    });
    let addr = server.local_addr();
    for _ in 0..5 {
        connect_until_closed(addr);
    }
    let deadline = Instant::now() + WAIT;
    while server.connections() > 0 {
        assert!(Instant::now() < deadline, "finished connections still counted");
        thread::sleep(Duration::from_millis(1));
    }
    // Both slots are free for clients, whatever number of threads waits.
    let holders: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
    while server.connections() < 2 {
        assert!(Instant::now() < deadline, "only {} admitted", server.connections());
        thread::sleep(Duration::from_millis(1));
    }
    let mut third = TcpStream::connect(addr).unwrap();
    third.set_read_timeout(Some(WAIT)).unwrap();
    let mut answer = String::new();
    third.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer:?}");
    drop(holders);
}
