//! The server under test: started here as a child process, or reached
//! by its URL; and `serve`, the server side this program runs itself.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::thread;
use std::time::Duration;

use crate::options::{Options, Proto};

pub struct Target {
    pub proto: Proto,
    pub addr: SocketAddr,
    pub host: String,
    pub path: String,
    pub pid: Option<u32>,
    pub child: Option<Child>,
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn parse_url(url: &str) -> Option<(Proto, String, String)> {
    let (proto, rest) = if let Some(rest) = url.strip_prefix("ws://") {
        (Proto::Ws, rest)
    } else {
        (Proto::Tcp, url.strip_prefix("tcp://")?)
    };
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    Some((proto, host.to_string(), path.to_string()))
}

pub fn start_target(o: &Options) -> Target {
    let (url, pid, child) = match &o.url {
        Some(url) => (url.clone(), o.pid, None),
        None => {
            // By default this same program, as a server (see `serve`).
            let me = std::env::current_exe().expect("the path of this program");
            let program = o.server.clone().unwrap_or_else(|| me.to_string_lossy().into_owned());
            let mut command = Command::new(&program);
            if o.server.is_none() {
                command.arg(SERVE);
            }
            let mut child = command
                .arg("127.0.0.1:0")
                .arg((o.clients + 100).to_string())
                .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
                .stdout(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| {
                    eprintln!("broadcast_load: cannot start {program}: {e}");
                    eprintln!("  (build it first: cargo build --release --example NAME)");
                    std::process::exit(1);
                });
            let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
            let url = lines
                .by_ref()
                .map_while(Result::ok)
                .find_map(|line| {
                    line.split_whitespace()
                        .find(|w| w.starts_with("ws://") || w.starts_with("tcp://"))
                        .map(|w| w.trim_end_matches([',', ')']).to_string())
                })
                .unwrap_or_else(|| {
                    eprintln!("broadcast_load: {program} never printed a ws:// or tcp:// URL");
                    std::process::exit(1);
                });
            // Keep its stdout drained so it never blocks on a full pipe.
            thread::spawn(move || lines.for_each(drop));
            let pid = child.id();
            (url, Some(pid), Some(child))
        }
    };
    let Some((proto, host, path)) = parse_url(&url) else {
        eprintln!("broadcast_load: {url}: expected ws://HOST:PORT/PATH or tcp://HOST:PORT");
        std::process::exit(2);
    };
    let addr = host
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| {
            eprintln!("broadcast_load: cannot resolve {host}");
            std::process::exit(1);
        });
    Target {
        proto,
        addr,
        host,
        path,
        pid,
        child,
    }
}

/// Descriptors each connection holds in `serve`: one, its socket, which
/// the server's table and the WebSocket's reading and writing halves share.
/// (It was two while the table kept a copy made with `try_clone`: under a
/// limit of 20 000 descriptors, 9 943 subscribers at most.)
pub const RELAY_FDS_PER_CONNECTION: usize = wirelab::server::DEFAULT_FDS_PER_CONNECTION;

/// The first argument that makes this program the server under test instead.
pub const SERVE: &str = "serve";

/// The accept loop's settings of `serve`, with a cap of `max` connections.
pub fn serve_config(max: Option<usize>) -> wirelab::server::ServerConfig {
    // ws_broadcast's limits (src/limits.rs), with the cap asked for.
    let mut config = wirelab::limits::ServerBudget::broadcast().server_config();
    config.fds_per_connection = RELAY_FDS_PER_CONNECTION;
    if let Some(max) = max {
        config.max_connections = max;
    }
    config
}

/// The server side, in a process of its own: exactly what `ws_broadcast`
/// runs (`spawn_relay`), on `ADDR` with a cap of `MAX` connections.
pub fn serve(addr: &str, max: Option<&str>) -> ! {
    let env = env_logger::Env::default().default_filter_or("warn");
    let _ = env_logger::Builder::from_env(env).try_init();
    let config = serve_config(max.and_then(|m| m.parse().ok()));
    let subscriber = wirelab::broadcast::SubscriberConfig::default();
    let (server, hub) = wirelab::broadcast::spawn_relay(addr, config, subscriber).unwrap_or_else(|e| {
        eprintln!("broadcast_load serve: cannot listen on {addr}: {e}");
        std::process::exit(1);
    });
    println!("broadcast_load serve: relaying on ws://{}/", server.local_addr());
    // The hub's own counters, every 5 s while there is traffic.
    let mut last = 0;
    loop {
        thread::sleep(Duration::from_secs(5));
        let s = hub.stats();
        let published = s.published.load(Ordering::Relaxed);
        if published != last {
            last = published;
            eprintln!(
                "hub: {published} published, {} delivered, {} dropped, {} writer threads started, {} subscribers; \
                 {} compressed, {} B to {} B",
                s.delivered.load(Ordering::Relaxed),
                s.dropped.load(Ordering::Relaxed),
                s.writer_threads.load(Ordering::Relaxed),
                s.subscribers.load(Ordering::Relaxed),
                s.compressed.load(Ordering::Relaxed),
                s.deflate_in.load(Ordering::Relaxed),
                s.deflate_out.load(Ordering::Relaxed)
            );
        }
    }
}
