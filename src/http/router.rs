//! Routing: from method and path to the code that answers.
//!
//! REST in one sentence (the note "TCP与WebSocket的区别"): the URL names a
//! resource, the method says what to do with it (RFC 9110 §9). A router is
//! that sentence as a table. Matching a path finds the resource; if it exists
//! but not for this method, the answer is `405 Method Not Allowed` with an
//! `Allow` header listing what would work (§15.5.6); if no route has the
//! path at all, `404`; a method this server does not know at all, `501`
//! (§9.1, §15.6.2).
//!
//! Three kinds of routes:
//!
//! - handlers, `Fn(&Request) -> Response`;
//! - static assets compiled into the binary (`include_str!`);
//! - upgrades, which take over the TCP connection after the request head:
//!   how `/ws` becomes a WebSocket (`docs/handshake.md`).

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use super::request::RequestHead;
use super::response::Response;
use crate::server::ConnInfo;

/// Methods this server knows. Any other gets `501 Not Implemented`.
pub const KNOWN_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// A request as a handler sees it: head, body, path parameters, peer.
#[derive(Clone, Debug)]
pub struct Request {
    /// Request line and headers.
    pub head: RequestHead,
    /// The body (empty when there is none).
    pub body: Vec<u8>,
    /// Values of `{name}` segments in the route's pattern, percent-decoded.
    pub params: Vec<(String, String)>,
    /// The client's address.
    pub peer: SocketAddr,
    /// The connection (shared with the server, not a copy), for
    /// [`Request::client_gone`]; `None` when the request did not come from
    /// a socket.
    conn: Option<Arc<TcpStream>>,
}

impl Request {
    /// A request that did not come from a socket (for tests and tools):
    /// [`Request::client_gone`] is always false.
    pub fn new(head: RequestHead, body: Vec<u8>, params: Vec<(String, String)>, peer: SocketAddr) -> Request {
        Request {
            head,
            body,
            params,
            peer,
            conn: None,
        }
    }

    /// A request read from `conn`.
    pub(crate) fn from_conn(
        head: RequestHead,
        body: Vec<u8>,
        params: Vec<(String, String)>,
        peer: SocketAddr,
        conn: Arc<TcpStream>,
    ) -> Request {
        Request {
            conn: Some(conn),
            ..Request::new(head, body, params, peer)
        }
    }

    /// Whether the client has closed its end of the connection (or it was
    /// reset), so that nobody is left to read the answer: a handler that
    /// holds a request (a long poll) checks this to give its thread back.
    ///
    /// It peeks without blocking: bytes waiting (a pipelined request) mean
    /// the client is still there; end of stream means it is gone, which
    /// also covers a client that half-closed after its request (RFC 9112
    /// §9.6 lets a server treat that as the end of the connection).
    pub fn client_gone(&self) -> bool {
        let Some(conn) = &self.conn else {
            return false;
        };
        // The handler runs on the connection's own thread, so nothing else
        // is reading or writing this socket while it is non-blocking.
        if conn.set_nonblocking(true).is_err() {
            return false;
        }
        let mut byte = [0u8; 1];
        let gone = match conn.peek(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted),
        };
        let _ = conn.set_nonblocking(false);
        gone
    }

    /// The method.
    pub fn method(&self) -> &str {
        &self.head.method
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        self.head.path()
    }

    /// A path parameter by name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// A query parameter by name, percent-decoded (`+` as space).
    pub fn query(&self, name: &str) -> Option<String> {
        let query = self.head.query()?;
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k, true)? == name)
                .then(|| percent_decode(v, true))
                .flatten()
        })
    }

    /// Whether the query has a parameter called `name`, even one whose
    /// value is not valid percent-encoded UTF-8 (which [`Request::query`]
    /// cannot return): so that `?wait=%` is refused, not taken as absent.
    pub fn has_query(&self, name: &str) -> bool {
        self.head.query().is_some_and(|query| {
            query.split('&').any(|pair| {
                let k = pair.split_once('=').map_or(pair, |(k, _)| k);
                percent_decode(k, true).is_some_and(|k| k == name)
            })
        })
    }

    /// A header value by name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.headers.get(name)
    }

    /// The body as UTF-8 text, if it is.
    pub fn body_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }
}

/// A connection handed over by an upgrade route: the socket, the request
/// that asked for the upgrade, and the bytes already read past its head.
#[derive(Debug)]
pub struct Upgrade {
    /// The request head (for `websocket::upgrade`).
    pub head: RequestHead,
    /// The connected socket, read timeout reset to none: shared with the
    /// server's table (one descriptor), and closed when the last holder
    /// drops it. [`crate::websocket::upgrade`] takes it as it is.
    pub stream: Arc<TcpStream>,
    /// Bytes that arrived after the head (for example the first frames).
    pub leftover: Vec<u8>,
    /// Who is connected.
    pub info: ConnInfo,
}

type HandlerFn = dyn Fn(&Request) -> Response + Send + Sync;
type UpgradeFn = dyn Fn(Upgrade) + Send + Sync;

/// What a route leads to.
pub enum Target {
    /// A function that answers.
    Handler(Box<HandlerFn>),
    /// Fixed bytes with a content type.
    Static {
        /// `Content-Type` to send.
        content_type: &'static str,
        /// The body.
        body: &'static [u8],
    },
    /// A function that takes the connection over.
    Upgrade(Box<UpgradeFn>),
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Handler(_) => f.write_str("Handler"),
            Target::Static { content_type, body } => write!(f, "Static({content_type}, {} bytes)", body.len()),
            Target::Upgrade(_) => f.write_str("Upgrade"),
        }
    }
}

#[derive(Debug)]
enum Segment {
    Literal(String),
    Param(String),
}

#[derive(Debug)]
struct Route {
    method: String,
    pattern: Vec<Segment>,
    target: Target,
    /// As registered, for listings.
    path: String,
}

/// The result of looking a request up.
#[derive(Debug)]
pub enum Found<'a> {
    /// A route matched: its target and the path parameters.
    Route(&'a Target, Vec<(String, String)>),
    /// The path exists, but not for this method; the methods that would work.
    MethodNotAllowed(Vec<String>),
    /// No route has this path.
    NotFound,
    /// The method is not one this server implements.
    NotImplemented,
}

/// A table of routes, matched in registration order.
#[derive(Debug, Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    /// An empty router.
    pub fn new() -> Router {
        Router::default()
    }

    /// Adds a route for `method` and `path`; `{name}` segments match any
    /// one segment and are passed as parameters. `GET` routes answer `HEAD`
    /// too (without the body).
    pub fn route(&mut self, method: &str, path: &str, target: Target) -> &mut Router {
        let pattern = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => Segment::Param(name.to_string()),
                None => Segment::Literal(s.to_string()),
            })
            .collect();
        self.routes.push(Route {
            method: method.to_string(),
            pattern,
            target,
            path: path.to_string(),
        });
        self
    }

    /// Adds a `GET` handler.
    pub fn get(&mut self, path: &str, h: impl Fn(&Request) -> Response + Send + Sync + 'static) -> &mut Router {
        self.route("GET", path, Target::Handler(Box::new(h)))
    }

    /// Adds a `POST` handler.
    pub fn post(&mut self, path: &str, h: impl Fn(&Request) -> Response + Send + Sync + 'static) -> &mut Router {
        self.route("POST", path, Target::Handler(Box::new(h)))
    }

    /// Adds a `PUT` handler.
    pub fn put(&mut self, path: &str, h: impl Fn(&Request) -> Response + Send + Sync + 'static) -> &mut Router {
        self.route("PUT", path, Target::Handler(Box::new(h)))
    }

    /// Adds a `DELETE` handler.
    pub fn delete(&mut self, path: &str, h: impl Fn(&Request) -> Response + Send + Sync + 'static) -> &mut Router {
        self.route("DELETE", path, Target::Handler(Box::new(h)))
    }

    /// Serves fixed bytes at `path` (`GET` and `HEAD`).
    pub fn asset(&mut self, path: &str, content_type: &'static str, body: &'static [u8]) -> &mut Router {
        self.route("GET", path, Target::Static { content_type, body })
    }

    /// Hands the connection to `h` when a `GET` for `path` arrives; the
    /// handler is expected to answer the request itself (for example with
    /// `websocket::upgrade`).
    pub fn upgrade(&mut self, path: &str, h: impl Fn(Upgrade) + Send + Sync + 'static) -> &mut Router {
        self.route("GET", path, Target::Upgrade(Box::new(h)))
    }

    /// `(method, path)` of every route, in order: for start-up listings.
    pub fn list(&self) -> Vec<(&str, &str)> {
        self.routes
            .iter()
            .map(|r| (r.method.as_str(), r.path.as_str()))
            .collect()
    }

    /// Looks up `method` and `path` (the raw, percent-encoded path).
    pub fn find(&self, method: &str, path: &str) -> Found<'_> {
        if !KNOWN_METHODS.contains(&method) {
            return Found::NotImplemented;
        }
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut allowed: Vec<String> = Vec::new();
        for route in &self.routes {
            let Some(params) = match_pattern(&route.pattern, &segments) else {
                continue;
            };
            let serves = route.method == method || (method == "HEAD" && route.method == "GET");
            if serves {
                return Found::Route(&route.target, params);
            }
            if !allowed.contains(&route.method) {
                allowed.push(route.method.clone());
            }
        }
        if allowed.is_empty() {
            return Found::NotFound;
        }
        if allowed.iter().any(|m| m == "GET") {
            allowed.push("HEAD".to_string());
        }
        allowed.push("OPTIONS".to_string());
        Found::MethodNotAllowed(allowed)
    }
}

fn match_pattern(pattern: &[Segment], segments: &[&str]) -> Option<Vec<(String, String)>> {
    if pattern.len() != segments.len() {
        return None;
    }
    let mut params = Vec::new();
    for (p, s) in pattern.iter().zip(segments) {
        match p {
            // `/h%65llo` names the same resource as `/hello` (RFC 3986
            // §6.2.2.2); a decoded `%2F` cannot match, literals have no `/`.
            Segment::Literal(l) if l == s || percent_decode(s, false).is_some_and(|d| d == *l) => {}
            Segment::Literal(_) => return None,
            Segment::Param(name) => params.push((name.clone(), percent_decode(s, false)?)),
        }
    }
    Some(params)
}

/// Decodes `%XX` escapes (and `+` as space when `plus` is set, as in query
/// strings). `None` if an escape is malformed or the result is not UTF-8.
pub fn percent_decode(s: &str, plus: bool) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        let mut r = Router::new();
        r.get("/api/messages", |_| Response::text(200, "list"))
            .post("/api/messages", |_| Response::text(201, "made"))
            .get("/api/messages/poll", |_| Response::text(200, "poll"))
            .get("/api/messages/{id}", |_| Response::text(200, "one"))
            .delete("/api/messages/{id}", |_| Response::new(204))
            .asset("/", "text/html", b"<h1>hi</h1>");
        r
    }

    fn kind(found: Found<'_>) -> String {
        match found {
            Found::Route(Target::Handler(h), params) => {
                let req = Request::new(
                    crate::http::request::read_head(&mut &b"GET / HTTP/1.1\r\n\r\n"[..], &Default::default())
                        .unwrap()
                        .unwrap(),
                    vec![],
                    params.clone(),
                    "127.0.0.1:1".parse().unwrap(),
                );
                let body = String::from_utf8(h(&req).body).unwrap();
                format!("{body}{params:?}")
            }
            Found::Route(t, _) => format!("{t:?}"),
            Found::MethodNotAllowed(m) => format!("405 {}", m.join(", ")),
            Found::NotFound => "404".into(),
            Found::NotImplemented => "501".into(),
        }
    }

    #[test]
    fn literal_routes_win_over_parameters_registered_later() {
        let r = router();
        assert_eq!(kind(r.find("GET", "/api/messages/poll")), "poll[]");
        assert_eq!(kind(r.find("GET", "/api/messages/7")), r#"one[("id", "7")]"#);
        assert_eq!(kind(r.find("GET", "/api/messages/a%20b")), r#"one[("id", "a b")]"#);
    }

    #[test]
    fn percent_encoded_literal_segments_match_their_decoded_route() {
        let r = router();
        assert_eq!(kind(r.find("GET", "/api/m%65ssages/poll")), "poll[]");
        assert_eq!(kind(r.find("GET", "/api%2Fmessages/poll")), "404");
        assert_eq!(kind(r.find("GET", "/api/messages/%zz")), "404");
    }

    #[test]
    fn wrong_method_is_405_with_allow_unknown_path_404_unknown_method_501() {
        let r = router();
        assert_eq!(kind(r.find("PUT", "/api/messages")), "405 GET, POST, HEAD, OPTIONS");
        assert_eq!(
            kind(r.find("POST", "/api/messages/3")),
            "405 GET, DELETE, HEAD, OPTIONS"
        );
        assert_eq!(kind(r.find("GET", "/nope")), "404");
        assert_eq!(kind(r.find("BREW", "/")), "501");
        assert_eq!(kind(r.find("HEAD", "/")), "Static(text/html, 11 bytes)");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb+c", true).as_deref(), Some("a/b c"));
        assert_eq!(percent_decode("a+c", false).as_deref(), Some("a+c"));
        assert_eq!(percent_decode("%zz", false), None);
        assert_eq!(percent_decode("%ff", false), None);
    }
}
