//! HTTP is stateless (RFC 9110 §3.3): each request is understood on its own,
//! and a server must not assume that two requests on one connection come
//! from the same user agent. Whatever a server should remember about a
//! client, the client carries in each request: a cookie (RFC 6265).
//!
//! The router below is the whole application: `POST /name` answers with a
//! cookie that carries the name, `GET /whoami` says whose request it is
//! from what *that request* carries, and every response reports the peer
//! address the request came from, so the test can see which connection
//! carried it.

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use wirelab::http::{read_response_head, HttpServer, Limits, Request, Response, Router};
use wirelab::server::ServerHandle;

const WAIT: Duration = Duration::from_secs(5);

fn server() -> ServerHandle {
    let from = |req: &Request, response: Response| response.with_header("X-Peer", req.peer.to_string());
    let mut router = Router::new();
    router
        .post("/name", move |req| match req.body_text().map(str::trim) {
            Some(name) if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric()) => from(
                req,
                Response::new(204).with_header("Set-Cookie", format!("name={name}; Path=/; HttpOnly")),
            ),
            _ => from(req, Response::text(400, "a name is letters and digits\n")),
        })
        .get("/whoami", move |req| {
            let name = req
                .header("cookie")
                .into_iter()
                .flat_map(|c| c.split(';'))
                .find_map(|pair| pair.trim().strip_prefix("name="));
            from(req, Response::text(200, name.unwrap_or("a stranger")))
        });
    HttpServer::new(router).spawn("127.0.0.1:0").unwrap()
}

/// One kept-alive connection, requests written by hand.
struct Connection {
    reader: BufReader<TcpStream>,
}

struct Answer {
    status: u16,
    set_cookie: Option<String>,
    peer: String,
    body: String,
}

impl Connection {
    fn open(addr: SocketAddr) -> Connection {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        Connection {
            reader: BufReader::new(stream),
        }
    }

    fn local_addr(&self) -> String {
        self.reader.get_ref().local_addr().unwrap().to_string()
    }

    fn send(&mut self, method: &str, path: &str, extra_headers: &str, body: &str) -> Answer {
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: t\r\n{extra_headers}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.reader.get_mut().write_all(request.as_bytes()).unwrap();
        let head = read_response_head(&mut self.reader, &Limits::default()).unwrap();
        let len: usize = head.headers.get("content-length").map_or(0, |v| v.parse().unwrap());
        let mut body = vec![0u8; len];
        self.reader.read_exact(&mut body).unwrap();
        Answer {
            status: head.status,
            set_cookie: head.headers.get("set-cookie").map(str::to_string),
            peer: head.headers.get("x-peer").unwrap().to_string(),
            body: String::from_utf8(body).unwrap(),
        }
    }
}

#[test]
fn two_requests_on_one_connection_share_nothing_but_what_a_cookie_carries() {
    let server = server();
    let mut conn = Connection::open(server.local_addr());
    let me = conn.local_addr();

    let named = conn.send("POST", "/name", "", "alice");
    assert_eq!(named.status, 204);
    let cookie = named
        .set_cookie
        .clone()
        .expect("the server hands the state to the client");
    let cookie = cookie.split(';').next().unwrap().to_string(); // "name=alice"

    // Same connection, same client, a moment later: no cookie, no alice.
    let forgotten = conn.send("GET", "/whoami", "", "");
    assert_eq!(forgotten.body, "a stranger");
    // The client sends the cookie back: now the request says who it is.
    let remembered = conn.send("GET", "/whoami", &format!("Cookie: {cookie}\r\n"), "");
    assert_eq!(remembered.body, "alice");

    for answer in [&named, &forgotten, &remembered] {
        assert_eq!(answer.peer, me, "all three requests came on this one connection");
    }
    server.shutdown();
}

#[test]
fn a_cookie_carries_its_state_to_any_connection_and_the_connection_carries_none() {
    let server = server();
    let mut first = Connection::open(server.local_addr());
    let cookie = first.send("POST", "/name", "", "bob").set_cookie.unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();

    // A new connection (a new port, as a browser or a proxy may open at any
    // time) with the cookie is bob; the old connection without it is not.
    let mut second = Connection::open(server.local_addr());
    let elsewhere = second.send("GET", "/whoami", &format!("Cookie: {cookie}\r\n"), "");
    assert_ne!(elsewhere.peer, first.local_addr());
    assert_eq!(elsewhere.body, "bob");
    assert_eq!(first.send("GET", "/whoami", "", "").body, "a stranger");
    server.shutdown();
}
