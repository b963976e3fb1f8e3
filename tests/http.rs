//! HTTP/1.1 over real loopback sockets: each test names a fact and checks it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use wirelab::app::messages::MessageApi;
use wirelab::http::{read_response_head, HttpConfig, HttpServer, Limits, Response, ResponseHead, Router};
use wirelab::server::ServerHandle;
use wirelab::websocket::{self, AcceptConfig, Message};

const WAIT: Duration = Duration::from_secs(5);

fn config() -> HttpConfig {
    HttpConfig {
        request_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_secs(2),
        limits: Limits {
            max_body: 64 * 1024,
            ..Limits::default()
        },
        ..HttpConfig::default()
    }
}

fn server_with(config: HttpConfig) -> (ServerHandle, Arc<MessageApi>) {
    let api = MessageApi::new();
    let mut router = Router::new();
    router
        .asset("/", "text/html", b"<h1>index</h1>")
        .get("/hello", |_| Response::text(200, "hello\n"))
        .upgrade("/ws", |up| {
            let Ok(mut ws) = websocket::upgrade(up.stream, &up.head, &up.leftover, &AcceptConfig::default()) else {
                return;
            };
            while let Ok(m) = ws.read() {
                if m.is_data() && ws.send(m).is_err() {
                    break;
                }
            }
        });
    api.mount(&mut router);
    let handle = HttpServer::with_config(router, config).spawn("127.0.0.1:0").unwrap();
    (handle, api)
}

fn server() -> (ServerHandle, Arc<MessageApi>) {
    server_with(config())
}

/// A client on one raw connection.
struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        Client {
            reader: BufReader::new(stream),
        }
    }

    fn send(&mut self, raw: &str) {
        self.reader.get_mut().write_all(raw.as_bytes()).unwrap();
    }

    /// Reads one response; `head_request` when it answers a HEAD.
    fn response(&mut self, head_request: bool) -> (ResponseHead, String) {
        let head = read_response_head(&mut self.reader, &Limits::default()).expect("a response");
        let len: usize = head.headers.get("content-length").map_or(0, |v| v.parse().unwrap());
        let mut body = vec![0u8; if head_request { 0 } else { len }];
        self.reader.read_exact(&mut body).unwrap();
        (head, String::from_utf8(body).unwrap())
    }

    fn request(&mut self, raw: &str) -> (ResponseHead, String) {
        self.send(raw);
        self.response(raw.starts_with("HEAD "))
    }

    /// Whether the server closed the connection (end of stream, no more bytes).
    fn closed_by_server(&mut self) -> bool {
        matches!(self.reader.fill_buf(), Ok([]))
    }

    fn local_port(&self) -> u16 {
        self.reader.get_ref().local_addr().unwrap().port()
    }
}

fn status(addr: SocketAddr, raw: &str) -> ResponseHead {
    Client::connect(addr).request(raw).0
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n")
}

#[test]
fn each_kind_of_bad_request_gets_its_status_code() {
    let (server, _) = server();
    let addr = server.local_addr();
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(10_000));
    let big_header = format!("GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n", "a".repeat(10_000));
    let big_body = format!(
        "POST /api/messages HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        1 << 20
    );
    let cases: Vec<(String, u16)> = vec![
        ("GARBAGE\r\n\r\n".into(), 400),
        ("GET / HTTP/1.1\r\n\r\n".into(), 400), // no Host
        ("GET / HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n".into(), 400),
        (get("/nothing-here"), 404),
        (
            "PUT /api/messages HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n".into(),
            405,
        ),
        ("POST /api/messages HTTP/1.1\r\nHost: t\r\n\r\n".into(), 411),
        (big_body, 413),
        (long_uri, 414),
        (
            "POST /api/messages HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\nContent-Length: 1\r\n\r\nx".into(),
            415,
        ),
        (big_header, 431),
        ("BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n".into(), 501),
        (
            "POST /api/messages HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".into(),
            501,
        ),
        (
            "POST /api/messages HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n".into(),
            400,
        ),
        ("GET / HTTP/2.0\r\nHost: t\r\n\r\n".into(), 505),
    ];
    for (raw, code) in &cases {
        assert_eq!(status(addr, raw).status, *code, "{:.70}", raw);
    }
}

#[test]
fn method_not_allowed_lists_the_allowed_methods() {
    let (server, _) = server();
    let (head, _) = Client::connect(server.local_addr()).request("DELETE /api/messages HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(head.status, 405);
    assert_eq!(head.headers.get("allow"), Some("GET, POST, HEAD, OPTIONS"));
}

#[test]
fn keep_alive_reuses_one_connection_for_many_requests() {
    let (server, _) = server();
    let mut c = Client::connect(server.local_addr());
    let port = c.local_port();
    for _ in 0..3 {
        let (head, body) = c.request(&get("/hello"));
        assert_eq!((head.status, body.as_str()), (200, "hello\n"));
        assert_eq!(
            head.headers.get("connection"),
            None,
            "HTTP/1.1 stays open without saying so"
        );
    }
    assert_eq!(c.local_port(), port, "the same TCP connection served all three");
}

#[test]
fn http10_closes_unless_keep_alive_is_asked() {
    let (server, _) = server();
    let addr = server.local_addr();
    let mut c = Client::connect(addr);
    let (head, _) = c.request("GET /hello HTTP/1.0\r\n\r\n");
    assert_eq!(head.headers.get("connection"), Some("close"));
    assert!(c.closed_by_server());

    let mut c = Client::connect(addr);
    let (head, _) = c.request("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(head.headers.get("connection"), Some("keep-alive"));
    let (head, _) = c.request("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(head.status, 200, "the second request used the same connection");
}

#[test]
fn connection_close_is_honoured() {
    let (server, _) = server();
    let mut c = Client::connect(server.local_addr());
    let (head, _) = c.request("GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(head.headers.get("connection"), Some("close"));
    assert!(c.closed_by_server());
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let (server, api) = server();
    api.post("first");
    let mut c = Client::connect(server.local_addr());
    // Three requests in one write, before reading anything.
    c.send(&format!("{}{}{}", get("/hello"), get("/api/messages/1"), get("/nope")));
    assert_eq!(c.response(false).1, "hello\n");
    assert!(c.response(false).1.contains("\"first\""));
    assert_eq!(c.response(false).0.status, 404);
}

#[test]
fn head_has_the_headers_of_get_but_no_body() {
    let (server, _) = server();
    let mut c = Client::connect(server.local_addr());
    let (head, body) = c.request("HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(head.status, 200);
    assert_eq!(head.headers.get("content-length"), Some("6"));
    assert_eq!(body, "");
    // The connection is still in sync: the next answer is the next response.
    assert_eq!(c.request(&get("/hello")).1, "hello\n");
}

#[test]
fn a_stalled_client_gets_408_without_holding_up_other_clients() {
    let deadline = Duration::from_secs(1);
    let (server, _) = server_with(HttpConfig {
        request_timeout: deadline,
        ..config()
    });
    let addr = server.local_addr();
    let mut slow = Client::connect(addr);
    let slow_peek = slow.reader.get_ref().try_clone().unwrap();
    // Slowloris: the start of a request, then a byte every 50 ms. Each byte
    // comes before any per-read timeout would fire; the total deadline for
    // the request does.
    slow.send("GET /hello HTTP/1.1\r\n");
    let started = Instant::now();
    let trickle = thread::spawn(move || {
        while started.elapsed() < deadline * 2 {
            thread::sleep(Duration::from_millis(50));
            if slow.reader.get_mut().write_all(b"X").is_err() {
                break;
            }
        }
        slow
    });
    // Meanwhile, another client is served, while the slow one has not even
    // been answered yet: nobody waits for its deadline.
    let (head, _) = Client::connect(addr).request(&get("/hello"));
    assert_eq!(head.status, 200);
    slow_peek.set_nonblocking(true).unwrap();
    assert!(
        matches!(slow_peek.peek(&mut [0u8; 1]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the fast client was served while the slow one still stalled"
    );
    let mut slow = trickle.join().unwrap();
    let (head, _) = slow.response(false);
    assert_eq!(head.status, 408);
    assert!(slow.closed_by_server());
}

#[test]
fn an_idle_keep_alive_connection_is_closed_quietly() {
    let (server, _) = server_with(HttpConfig {
        idle_timeout: Duration::from_millis(100),
        ..config()
    });
    let mut c = Client::connect(server.local_addr());
    assert_eq!(c.request(&get("/hello")).0.status, 200);
    let started = Instant::now();
    assert!(c.closed_by_server(), "no 408 for an idle connection, just the end");
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn the_rest_resource_creates_lists_reads_and_deletes() {
    let (server, _) = server();
    let mut c = Client::connect(server.local_addr());
    let body = r#"{"text":"hello \"REST\""}"#;
    let (head, created) = c.request(&format!(
        "POST /api/messages HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    assert_eq!(head.status, 201);
    let location = head.headers.get("location").unwrap().to_string();
    assert_eq!(location, "/api/messages/1");
    assert!(created.contains(r#""text":"hello \"REST\"""#), "{created}");

    let (head, list) = c.request(&get("/api/messages"));
    assert_eq!(head.status, 200);
    assert_eq!(head.headers.get("content-type"), Some("application/json"));
    assert!(list.starts_with('[') && list.contains(r#""id":1"#));

    assert_eq!(c.request(&get(&location)).0.status, 200);
    let delete = format!("DELETE {location} HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.request(&delete).0.status, 204);
    assert_eq!(c.request(&delete).0.status, 404);
    assert_eq!(c.request(&get(&location)).0.status, 404);
    assert_eq!(c.request(&get("/api/messages/not-a-number")).0.status, 404);
}

#[test]
fn a_chunked_request_body_is_decoded() {
    let (server, _) = server();
    let (head, body) = Client::connect(server.local_addr()).request(
        "POST /api/messages HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n\
5\r\nchunk\r\n3\r\ned!\r\n0\r\n\r\n",
    );
    assert_eq!(head.status, 201);
    assert!(body.contains(r#""text":"chunked!""#), "{body}");
}

#[test]
fn short_polling_answers_at_once_with_what_is_new() {
    let (server, api) = server();
    api.post("one");
    api.post("two");
    let mut c = Client::connect(server.local_addr());
    let (head, body) = c.request(&get("/api/messages/poll?since=1"));
    assert_eq!(head.status, 200);
    assert!(
        !body.contains("\"one\"") && body.contains("\"two\"") && body.ends_with(r#""last":2}"#),
        "{body}"
    );
    let (_, empty) = c.request(&get("/api/messages/poll?since=2"));
    assert_eq!(empty, r#"{"messages":[],"last":2}"#);
}

#[test]
fn long_polling_wakes_within_milliseconds_of_a_new_message() {
    let (server, api) = server();
    let mut c = Client::connect(server.local_addr());
    c.send(&get("/api/messages/poll?since=0&wait=10"));
    // Wait until the server is holding the request, then publish.
    let deadline = Instant::now() + WAIT;
    while api.log().waiting() == 0 {
        assert!(Instant::now() < deadline, "the long poll never arrived");
        thread::sleep(Duration::from_millis(1));
    }
    let published = Instant::now();
    api.post("news");
    let (head, body) = c.response(false);
    let latency = published.elapsed();
    assert_eq!(head.status, 200);
    assert!(body.contains("\"news\""));
    assert!(
        latency < Duration::from_millis(200),
        "answered {latency:?} after the message"
    );
}

#[test]
fn a_long_poll_with_no_news_ends_in_204() {
    let (server, _) = server();
    let started = Instant::now();
    let (head, body) = Client::connect(server.local_addr()).request(&get("/api/messages/poll?wait=0.2"));
    assert_eq!((head.status, body.as_str()), (204, ""));
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[test]
fn an_upgrade_route_hands_the_connection_to_websocket() {
    let (server, _) = server();
    let mut ws = websocket::connect(&format!("ws://{}/ws", server.local_addr())).unwrap();
    ws.set_read_timeout(Some(WAIT)).unwrap();
    ws.send(Message::text("through the router")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("through the router"));
}

#[test]
fn the_wire_headers_count_the_exact_head_bytes() {
    let (server, _) = server_with(HttpConfig {
        wire_headers: true,
        ..config()
    });
    let request = get("/hello");
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream
        .write_all(b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let head_end = raw.find("\r\n\r\n").unwrap() + 4;
    let value = |name: &str| -> usize {
        let line = raw.lines().find(|l| l.starts_with(name)).unwrap();
        line[name.len() + 2..].parse().unwrap()
    };
    assert_eq!(
        value("X-Response-Head-Bytes"),
        head_end,
        "the response head, counted by itself"
    );
    assert_eq!(
        value("X-Request-Head-Bytes"),
        request.len() + "Connection: close\r\n".len()
    );
}

#[test]
fn absolute_form_targets_reach_the_same_routes_as_paths() {
    let (server, api) = server();
    api.post("one");
    let mut c = Client::connect(server.local_addr());
    let (head, body) = c.request("GET http://t/hello HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!((head.status, body.as_str()), (200, "hello\n"));
    let (head, body) = c.request("GET http://t:80/api/messages/poll?since=0 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(head.status, 200);
    assert!(body.contains("\"one\""), "{body}");
}

#[test]
fn options_asterisk_lists_the_methods_of_the_server() {
    let (server, _) = server();
    let mut c = Client::connect(server.local_addr());
    let (head, _) = c.request("OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(head.status, 204);
    assert_eq!(
        head.headers.get("allow"),
        Some("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
    );
    assert_eq!(c.request(&get("/hello")).0.status, 200, "still in step");
    assert_eq!(
        status(server.local_addr(), "GET * HTTP/1.1\r\nHost: t\r\n\r\n").status,
        400
    );
}

#[test]
fn a_target_that_is_not_a_path_or_uri_is_400() {
    let (server, _) = server();
    for target in ["hello", "t:80", "/hello#top"] {
        let mut c = Client::connect(server.local_addr());
        let (head, _) = c.request(&get(target));
        assert_eq!(head.status, 400, "{target}");
        assert!(c.closed_by_server());
    }
}

#[test]
fn two_hosts_or_an_invalid_host_is_400_in_any_version() {
    let (server, _) = server();
    for raw in [
        "GET /hello HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET /hello HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
        "GET /hello HTTP/1.1\r\nHost: a, b\r\n\r\n",
        "GET /hello HTTP/1.1\r\nHost: a b\r\n\r\n",
        "GET /hello HTTP/1.1\r\nHost: user@a\r\n\r\n",
    ] {
        let mut c = Client::connect(server.local_addr());
        assert_eq!(c.request(raw).0.status, 400, "{raw:?}");
        assert!(c.closed_by_server());
    }
    assert_eq!(status(server.local_addr(), "GET /hello HTTP/1.0\r\n\r\n").status, 200);
    assert_eq!(status(server.local_addr(), &get("/hello")).status, 200);
}

#[test]
fn an_unknown_expectation_is_417_even_beside_100_continue() {
    let (server, _) = server();
    for expect in [
        "Expect: 100-continue\r\nExpect: x-other",
        "Expect: 100-continue, x-other",
    ] {
        let mut c = Client::connect(server.local_addr());
        let (head, _) = c.request(&format!(
            "POST /api/messages HTTP/1.1\r\nHost: t\r\n{expect}\r\nContent-Length: 2\r\n\r\n"
        ));
        assert_eq!(head.status, 417, "no 100 Continue first: {expect:?}");
    }
}

#[test]
fn expect_100_continue_gets_the_interim_response_before_the_body_is_sent() {
    let (server, _) = server();
    let mut c = Client::connect(server.local_addr());
    // Like curl with a large body: the head, then wait for 100 Continue.
    c.send("POST /api/messages HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    let (interim, _) = c.response(false);
    assert_eq!(interim.status, 100);
    c.send("hello");
    let (head, body) = c.response(false);
    assert_eq!(head.status, 201);
    assert!(body.contains("\"hello\""), "{body}");
}

#[test]
fn a_long_poll_whose_client_leaves_gives_its_thread_back_at_once() {
    let (server, api) = server();
    let mut c = Client::connect(server.local_addr());
    c.send(&get("/api/messages/poll?wait=30"));
    let deadline = Instant::now() + WAIT;
    while api.log().waiting() == 0 {
        assert!(Instant::now() < deadline, "the long poll never arrived");
        thread::sleep(Duration::from_millis(1));
    }
    drop(c);
    let left = Instant::now();
    while api.log().waiting() > 0 {
        assert!(
            left.elapsed() < Duration::from_secs(2),
            "still held {:?} after the client left",
            left.elapsed()
        );
        thread::sleep(Duration::from_millis(5));
    }
    let deadline = Instant::now() + WAIT;
    while server.connections() > 0 {
        assert!(Instant::now() < deadline, "the connection thread did not finish");
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn malformed_poll_parameters_are_400_not_ignored() {
    let (server, _) = server();
    let mut c = Client::connect(server.local_addr());
    for query in ["wait=%", "wait=%ff", "since=%zz", "since=-1", "wait=nan", "wait=1e400"] {
        let (head, body) = c.request(&get(&format!("/api/messages/poll?{query}")));
        assert_eq!(head.status, 400, "{query}: {body}");
    }
}

#[test]
fn a_since_from_an_earlier_run_of_the_server_is_answered_at_once() {
    let (server, api) = server();
    api.post("after the restart");
    let started = Instant::now();
    let (head, body) = Client::connect(server.local_addr()).request(&get("/api/messages/poll?since=50&wait=10"));
    assert_eq!(head.status, 200);
    assert!(
        body.contains("\"after the restart\"") && body.ends_with(r#""last":1}"#),
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "not held for ids that may never come"
    );
}

#[test]
fn a_client_reading_too_slowly_is_dropped_at_the_response_deadline() {
    // A response far bigger than both sockets' buffers, so the writer waits
    // on the reader; the reader takes a little now and then, just enough
    // that no single write ever waits long.
    const BIG: usize = 32 << 20;
    let mut router = Router::new();
    router.get("/big", |_| {
        Response::new(200).with_body("application/octet-stream", vec![b'x'; BIG])
    });
    let server = HttpServer::with_config(
        router,
        HttpConfig {
            response_timeout: Duration::from_millis(500),
            ..config()
        },
    )
    .spawn("127.0.0.1:0")
    .unwrap();
    let mut c = Client::connect(server.local_addr());
    c.send(&get("/big"));
    let started = Instant::now();
    let mut stream = c.reader.into_inner();
    let mut buf = [0u8; 1024];
    let mut got = 0;
    // Bytes already in the kernel's buffers still arrive after the server
    // gives up, so watch the server's side: its connection thread ends.
    let dropped = loop {
        if let Ok(n) = stream.read(&mut buf) {
            got += n;
        }
        if server.connections() == 0 {
            break true;
        }
        if started.elapsed() > Duration::from_secs(5) {
            break false;
        }
        thread::sleep(Duration::from_millis(2));
    };
    assert!(dropped, "still sending after {:?}", started.elapsed());
    assert!(got > 0 && got < BIG, "read {got} bytes");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}
