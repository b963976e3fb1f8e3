//! `tcp_echo`: the thread-per-connection echo server, TCP and nothing else.
//!
//! ```text
//! cargo run --example tcp_echo [ADDR]      # default 127.0.0.1:7000
//! ```
//!
//! Every accepted connection gets its own thread (`src/server/`), which
//! sends back every byte it receives until the client stops sending. The log
//! shows each connection's local and peer address: the peer's port is the
//! ephemeral port the client's kernel picked for it. Runs until Ctrl-C.
//!
//! Try it from other terminals, several at once:
//!
//! ```text
//! cargo run --example tcp_client    # type lines; Ctrl-D half-closes, the server finishes and closes
//! nc 127.0.0.1 7000                 # the same with netcat, where it is installed
//! ```

use wirelab::server::ServerConfig;

fn main() {
    wirelab::init_logging();
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:7000".to_string());
    let config = ServerConfig {
        refusal: b"server busy, try again\n".to_vec(),
        // Its log lines say "tcp-echo". A connection holds one descriptor
        // (the default): its socket, shared with the server's table.
        name: "tcp-echo".to_string(),
        ..ServerConfig::default()
    };
    let server = match wirelab::tcp::spawn_echo(&addr, config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tcp_echo: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    let a = server.local_addr();
    println!("tcp_echo: echoing every byte on {a}, one thread per connection");
    println!("  try: cargo run --example tcp_client {a}   (type, then Ctrl-D to half-close)");
    println!("  or:  nc {} {}   (netcat, where it is installed)", a.ip(), a.port());
    println!("  see the sockets: ss -tn 'sport = :{}'   (Linux)", a.port());
    println!("  Ctrl-C to stop");
    server.wait();
}
