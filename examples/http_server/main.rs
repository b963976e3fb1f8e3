//! `http_server`: HTTP/1.1 on raw sockets, curl-friendly.
//!
//! ```text
//! cargo run --example http_server [ADDR]      # default 127.0.0.1:8000
//! ```
//!
//! One thread per connection (the shared loop in `src/server/`), a request
//! parser with limits, keep-alive and pipelining (`src/http/serve.rs`), a
//! router with 404/405/501 (`src/http/router.rs`), a REST resource with
//! short and long polling (`src/app/messages.rs`). Every response carries
//! `X-Request-Head-Bytes` and `X-Response-Head-Bytes`: the header weight of
//! that exchange, counted by the server. It prints its routes with commands
//! to paste, and runs until Ctrl-C.
//!
//! Things to try with `curl -v` (all listed at start-up): keep-alive (two
//! URLs in one curl command reuse one connection: "Re-using existing
//! connection"), `--http1.0` (the server closes after the response), a long
//! poll in one terminal and a POST in another (the poll returns at once).

use wirelab::app::messages::MessageApi;
use wirelab::http::{HttpConfig, HttpServer, Response, Router, SitePolicy};
use wirelab::limits::ServerBudget;

const INDEX: &str = include_str!("index.html");

fn main() {
    wirelab::init_logging();
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8000".to_string());

    let api = MessageApi::new();
    api.post("hello from the server: this message was created at start-up");
    let mut router = Router::new();
    router
        .asset("/", "text/html; charset=utf-8", INDEX.as_bytes())
        .get("/hello", |_| Response::text(200, "hello over a raw socket\n"))
        .get("/headers", |req| {
            // The head exactly as parsed, re-serialized: what the client sent.
            let mut text = format!("{}\r\n", req.head);
            for (name, value) in req.head.headers.iter() {
                text.push_str(&format!("{name}: {value}\r\n"));
            }
            text.push_str(&format!(
                "\r\n({} bytes of request head for a {}-byte body)\n",
                req.head.wire_len,
                req.body.len()
            ));
            Response::text(200, text)
        });
    api.mount(&mut router);

    // The limits of src/limits.rs; pages of other sites may not post
    // (Origin), nor may a rebinding name be served (Host).
    let budget = ServerBudget::http();
    println!("{budget}");
    let config = HttpConfig {
        wire_headers: true,
        site: Some(SitePolicy::same_origin()),
        ..budget.http_config()
    };
    let server = HttpServer::with_config(router, config);
    let routes: Vec<(String, String)> = server
        .router()
        .list()
        .into_iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    let result = server.run(&addr, |bound| {
        let base = format!("http://{bound}");
        println!("http_server: HTTP/1.1 on {base}/  (Ctrl-C to stop)");
        println!("routes:");
        for (method, path) in &routes {
            println!("  {method:<6} {path}");
        }
        println!("try:");
        println!("  curl -v {base}/hello {base}/headers          # two requests, one kept-alive connection");
        println!("  curl -v --http1.0 {base}/hello               # HTTP/1.0: closed after the response");
        println!("  curl -v {base}/api/messages");
        println!("  curl -v -H 'Content-Type: application/json' -d '{{\"text\":\"hi\"}}' {base}/api/messages");
        println!("  curl -v {base}/api/messages/1");
        println!("  curl -v -X DELETE {base}/api/messages/1");
        println!("  curl -v '{base}/api/messages/poll?since=0'           # short poll: answers at once");
        println!("  curl -v '{base}/api/messages/poll?wait=20'       # long poll: held until the next POST or 20 s");
        println!("  curl -v -X PUT {base}/api/messages               # 405 with Allow");
        println!("  open {base}/ in a browser for a live long-polling page");
    });
    if let Err(e) = result {
        eprintln!("http_server: cannot listen on {addr}: {e}");
        std::process::exit(1);
    }
}
