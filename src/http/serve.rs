//! One HTTP/1.1 connection, from first byte to close: keep-alive,
//! pipelining, deadlines, and errors as real responses.
//!
//! HTTP/1.0 opened a TCP connection per request and closed it after the
//! response (unless the client asked for `keep-alive`); HTTP/1.1 keeps it
//! open by default so the next request skips the TCP handshake (RFC 9112
//! §9.3). The notes "TCP与WebSocket的区别" and "http-socket-websocket"
//! call HTTP a "short connection" protocol: that is the 1.0 default, not
//! HTTP's nature (`docs/01-why-websocket.md`).
//!
//! The loop in [`serve_connection`]:
//!
//! 1. wait for the first byte of a request, at most `idle_timeout` (an idle
//!    keep-alive connection is closed silently; while it waits it is marked
//!    idle, and a full server closes it first to let a new client in);
//! 2. read the head and body with a *total* deadline, `request_timeout`: a
//!    client that trickles one byte every few seconds (slowloris) gets
//!    `408 Request Timeout` instead of holding a thread forever;
//! 3. route and answer; errors are responses with the right status;
//! 4. keep the connection if both sides want to and the byte stream is still
//!    at a request boundary. Bytes of the next request already read (a
//!    pipelining client sends several requests without waiting) stay in the
//!    buffer, so responses go out in request order (RFC 9112 §9.3.2).

use std::io::{self, BufRead, BufReader};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::body::{body_kind, read_body, BodyKind};
use super::error::HttpError;
use super::head::{Limits, Version};
use super::request::{read_head, valid_host, RequestHead};
use super::response::{Piece, Response};
use super::router::{Found, Request, Router, Target, Upgrade, KNOWN_METHODS};
use super::site::SitePolicy;
use crate::server::{mark_idle, mark_idle_after, ConnInfo, Server, ServerConfig, ServerHandle};
use crate::socket::{answer_and_close, linger_close, write_parts_within, write_within, DeadlineStream, LINGER};

/// Settings of an HTTP server.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Size limits on requests.
    pub limits: Limits,
    /// Once a request's first byte arrived, its head and body must be in
    /// within this time, or the answer is 408.
    pub request_timeout: Duration,
    /// How long an idle keep-alive connection waits for its next request.
    pub idle_timeout: Duration,
    /// A response must be written within this time in total, or the
    /// connection is dropped. The socket's write timeout only bounds each
    /// single write, and a client that reads a little now and then makes
    /// every write succeed: without a total, it could hold a thread for
    /// hours on one large response.
    pub response_timeout: Duration,
    /// For servers that browsers talk to: answer only to this server's own
    /// names (`Host`, else 421), and let only this server's pages (or
    /// allowed origins) send requests that act (every method but GET,
    /// HEAD and OPTIONS) or upgrade (`Origin`, else 403). See
    /// [`SitePolicy`]. `None`: no check (a server for programs, not pages).
    pub site: Option<SitePolicy>,
    /// Add `X-Request-Head-Bytes` (the request head as read) and
    /// `X-Response-Head-Bytes` (the response head as written, this header
    /// included) to every response: the header cost of HTTP, measured.
    pub wire_headers: bool,
    /// The accept loop's settings.
    pub server: ServerConfig,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            limits: Limits::default(),
            request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(15),
            response_timeout: Duration::from_secs(30),
            site: None,
            wire_headers: false,
            server: ServerConfig {
                name: "http".into(),
                // One descriptor a connection: the socket, shared by the
                // server's table, this loop and a handler given it.
                ..ServerConfig::default()
            },
        }
    }
}

/// How long a new connection may stay silent before it counts as idle,
/// and a full server may close it to let another client in: time for its
/// first request to arrive (a round trip or two), not for a client that
/// connects and sends nothing, to hold a place for the whole
/// `idle_timeout`. Until then, a client just admitted is never closed
/// for a newcomer: its request is on its way, and it would be left
/// without an answer.
pub const FIRST_REQUEST_GRACE: Duration = Duration::from_secs(2);

/// Serves HTTP on one connection until it closes; see the module docs.
pub fn serve_connection(stream: Arc<TcpStream>, info: ConnInfo, router: &Router, config: &HttpConfig) {
    let mut reader = BufReader::new(DeadlineStream::new(stream));
    // Whether a response has gone out on this connection: only then is a
    // wait for the next request idleness that a full server may end.
    let mut answered = false;
    loop {
        // 1. Wait for the next request (pipelined bytes may already be here).
        if reader.buffer().is_empty() {
            reader.get_mut().set_limits(None, Some(config.idle_timeout));
            // Idle after a response: nothing in progress, nothing owed. A
            // full server closes the connection idle the longest to make
            // room for a new one; its client reconnects when it needs to.
            // Before the first request, only once the grace has passed: a
            // client just admitted, its request on the way, would be
            // closed without a word.
            if answered {
                mark_idle(true);
            } else {
                mark_idle_after(FIRST_REQUEST_GRACE);
            }
            let waited = reader.fill_buf().map(|b| b.is_empty());
            mark_idle(false);
            match waited {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => {
                    log::debug!("{info}: closing idle connection ({e})");
                    return;
                }
            }
        }
        // 2. The head, within the request deadline.
        let deadline = Instant::now() + config.request_timeout;
        reader.get_mut().set_limits(Some(deadline), None);
        let head = match read_head(&mut reader, &config.limits) {
            Ok(Some(head)) => head,
            Ok(None) => return,
            Err(e) => return fail(reader, &info, None, e, config),
        };
        log::debug!("{info}: {head}");
        match exchange(&mut reader, &info, head, router, config) {
            Outcome::KeepAlive => {
                answered = true;
                continue;
            }
            Outcome::Close => return linger_close(reader.get_ref().get_ref(), LINGER),
            Outcome::Done => return,
            Outcome::Failed(head, e) => return fail(reader, &info, Some(&head), e, config),
        }
    }
}

enum Outcome {
    /// Read the next request.
    KeepAlive,
    /// Close gracefully.
    Close,
    /// Nothing more to do here: the connection was handed over (Upgrade)
    /// or the socket broke.
    Done,
    /// Answer with the error's status, then close.
    Failed(RequestHead, HttpError),
}

/// One request/response exchange after the head has been read.
fn exchange(
    reader: &mut BufReader<DeadlineStream>,
    info: &ConnInfo,
    head: RequestHead,
    router: &Router,
    config: &HttpConfig,
) -> Outcome {
    // HTTP/1.1 requires Host; no request may have two, or an invalid one
    // (RFC 9112 §3.2): a proxy and this server could each pick a different
    // one.
    let hosts = head.headers.count("host");
    if hosts > 1 {
        return Outcome::Failed(head, HttpError::BadRequest("more than one Host header"));
    }
    if hosts == 0 && head.version == Version::Http11 {
        return Outcome::Failed(head, HttpError::BadRequest("HTTP/1.1 requests need a Host header"));
    }
    if head.headers.get("host").is_some_and(|h| !valid_host(h)) {
        return Outcome::Failed(head, HttpError::BadRequest("Host is not host[:port]"));
    }
    // A browser-facing server: the name it was asked for, and the page
    // that asks it to act or to upgrade.
    if let Some(site) = &config.site {
        let acts = !matches!(head.method.as_str(), "GET" | "HEAD" | "OPTIONS") || head.headers.get("upgrade").is_some();
        let checked = if acts {
            site.check(&head, info.local)
        } else {
            site.check_host(&head, info.local)
        };
        if let Err(e) = checked {
            log::info!("{info}: {} refused: {e:?}", head.method);
            return respond(reader, info, &head, e.to_response(), false, config);
        }
    }
    let kind = match body_kind(&head, &config.limits) {
        Ok(kind) => kind,
        Err(e) => return Outcome::Failed(head, e),
    };
    let found = router.find(&head.method, head.path());
    // A handler that takes a body needs to know where it ends (RFC 9110
    // §15.5.12): POST, PUT and PATCH must declare a length, even 0.
    if matches!(found, Found::Route(Target::Handler(_), _))
        && kind == BodyKind::None
        && head.headers.count("content-length") == 0
        && matches!(head.method.as_str(), "POST" | "PUT" | "PATCH")
    {
        return Outcome::Failed(head, HttpError::LengthRequired);
    }
    // Expect: 100-continue (RFC 9110 §10.1.1): tell the client to send the
    // body, now that the head is acceptable.
    // Every expectation counts, in every Expect line: one that is not
    // understood is a 417, even beside a 100-continue.
    if head.headers.tokens("expect").next().is_some() {
        if !head
            .headers
            .tokens("expect")
            .all(|e| e.eq_ignore_ascii_case("100-continue"))
        {
            let r = Response::text(417, "only Expect: 100-continue is understood\n");
            return respond(reader, info, &head, r, false, config);
        }
        if kind != BodyKind::None && head.version == Version::Http11 {
            let stream = reader.get_ref().get_ref();
            if write_within(stream, b"HTTP/1.1 100 Continue\r\n\r\n", config.response_timeout).is_err() {
                return Outcome::Done;
            }
        }
    }
    // Read the body even when the answer will be an error, so that the next
    // request on this connection starts where it should.
    let body = match read_body(reader, kind, &config.limits) {
        Ok(body) => body,
        Err(e) => return Outcome::Failed(head, e),
    };

    // `OPTIONS *` asks about the server as a whole, not a resource (RFC 9110
    // §9.3.7); the request line parser lets `*` through only for OPTIONS.
    if head.target == "*" {
        let r = Response::new(204).with_header("Allow", KNOWN_METHODS.join(", "));
        return respond(reader, info, &head, r, true, config);
    }

    let response = match found {
        Found::Route(Target::Upgrade(handler), _) => {
            // The handler gets the socket (shared: the same descriptor)
            // and the bytes already buffered; this loop's share is dropped
            // when it returns.
            let leftover = reader.buffer().to_vec();
            let stream = Arc::clone(reader.get_ref().shared());
            let _ = stream.set_read_timeout(None);
            handler(Upgrade {
                head,
                stream,
                leftover,
                info: *info,
            });
            return Outcome::Done;
        }
        // Written from the binary itself, not copied for each client.
        Found::Route(Target::Static { content_type, body }, _) => {
            Response::new(200).with_pieces(content_type, vec![Piece::Static(body)])
        }
        Found::Route(Target::Handler(handler), params) => {
            // The socket, shared, so that a handler holding the request
            // (a long poll) can see the client leave.
            let conn = Arc::clone(reader.get_ref().shared());
            let request = Request::from_conn(head, body, params, info.peer, conn);
            let response = handler(&request);
            return respond(reader, info, &request.head, response, true, config);
        }
        Found::MethodNotAllowed(allowed) if head.method == "OPTIONS" => {
            Response::new(204).with_header("Allow", allowed.join(", "))
        }
        Found::MethodNotAllowed(allowed) => {
            Response::text(405, format!("{} is not allowed on {}\n", head.method, head.path()))
                .with_header("Allow", allowed.join(", "))
        }
        Found::NotFound => Response::text(404, format!("no resource at {}\n", head.path())),
        Found::NotImplemented => Response::text(501, format!("method {} is not implemented here\n", head.method)),
    };
    respond(reader, info, &head, response, true, config)
}

/// Writes `response` (adding `Connection`, and the wire headers if
/// configured) and decides whether the connection goes on.
fn respond(
    reader: &mut BufReader<DeadlineStream>,
    info: &ConnInfo,
    head: &RequestHead,
    mut response: Response,
    may_keep: bool,
    config: &HttpConfig,
) -> Outcome {
    let server_closes = response
        .headers
        .get("connection")
        .is_some_and(|c| c.eq_ignore_ascii_case("close"));
    let keep = may_keep && head.keep_alive() && !server_closes;
    if !keep {
        response.headers.set("Connection", "close");
    } else if head.version == Version::Http10 {
        response.headers.set("Connection", "keep-alive");
    }
    let head_only = head.method == "HEAD";
    let (bytes, pieces) = finish(response, Some(head), head_only, config);
    let mut parts: Vec<&[u8]> = vec![&bytes];
    parts.extend(pieces.iter().map(Piece::as_bytes));
    log::debug!(
        "{info}: {} -> {} bytes",
        head,
        parts.iter().map(|p| p.len()).sum::<usize>()
    );
    if let Err(e) = write_parts_within(reader.get_ref().get_ref(), &parts, config.response_timeout) {
        log::debug!("{info}: response not delivered ({e}); dropping the connection");
        return Outcome::Done;
    }
    if keep {
        Outcome::KeepAlive
    } else {
        Outcome::Close
    }
}

/// Serializes a response's head and owned body, adding the wire-accounting
/// headers if configured; the pieces of its body are returned beside, to
/// be written from where they are.
fn finish(
    mut response: Response,
    request: Option<&RequestHead>,
    head_only: bool,
    config: &HttpConfig,
) -> (Vec<u8>, Vec<Piece>) {
    if config.wire_headers {
        if let Some(req) = request {
            response.headers.set("X-Request-Head-Bytes", req.wire_len.to_string());
        }
        // The header counts itself: find the total whose digit count is
        // consistent with it.
        let without = response.to_bytes(true).len();
        let line = "X-Response-Head-Bytes: \r\n".len();
        let total = (1..=20)
            .map(|digits| (digits, without + line + digits))
            .find(|(digits, total)| total.to_string().len() == *digits)
            .map_or(without + line, |(_, total)| total);
        response.headers.set("X-Response-Head-Bytes", total.to_string());
    }
    let bytes = response.head_and_owned_body(head_only);
    let pieces = if head_only || response.bodiless_status() {
        Vec::new()
    } else {
        std::mem::take(&mut response.pieces)
    };
    (bytes, pieces)
}

/// Answers a request that went wrong, then closes: after a malformed
/// request, the rest of the byte stream cannot be trusted to start at a
/// request boundary.
fn fail(
    reader: BufReader<DeadlineStream>,
    info: &ConnInfo,
    head: Option<&RequestHead>,
    error: HttpError,
    config: &HttpConfig,
) {
    if !error.can_respond() {
        log::debug!("{info}: {error}");
        return;
    }
    log::info!("{info}: {} {error}", error.status());
    let head_only = head.is_some_and(|h| h.method == "HEAD");
    let (bytes, _) = finish(error.to_response(), head, head_only, config);
    let _ = answer_and_close(reader.get_ref().get_ref(), &bytes);
}

/// An HTTP server: a [`Router`] served by the shared accept loop.
#[derive(Debug)]
pub struct HttpServer {
    router: Arc<Router>,
    config: Arc<HttpConfig>,
}

impl HttpServer {
    /// A server for `router` with default settings.
    pub fn new(router: Router) -> HttpServer {
        HttpServer::with_config(router, HttpConfig::default())
    }

    /// A server for `router` with the given settings.
    pub fn with_config(router: Router, config: HttpConfig) -> HttpServer {
        HttpServer {
            router: Arc::new(router),
            config: Arc::new(config),
        }
    }

    /// The router (for listing routes at start-up).
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// The connection handler, for [`Server::spawn`] or [`Server::run`].
    pub fn handler(&self) -> impl Fn(Arc<TcpStream>, ConnInfo) + Send + Sync + 'static {
        let router = Arc::clone(&self.router);
        let config = Arc::clone(&self.config);
        move |stream, info| serve_connection(stream, info, &router, &config)
    }

    /// Binds `addr` and serves on a background thread.
    pub fn spawn(self, addr: impl ToSocketAddrs) -> io::Result<ServerHandle> {
        let server = Server::bind(addr, self.config.server.clone())?;
        Ok(server.spawn(self.handler()))
    }

    /// Binds `addr`, reports the bound address to `on_bound`, and serves
    /// on this thread until the process ends.
    pub fn run(self, addr: impl ToSocketAddrs, on_bound: impl FnOnce(std::net::SocketAddr)) -> io::Result<()> {
        let server = Server::bind(addr, self.config.server.clone())?;
        on_bound(server.local_addr());
        server.run(self.handler());
        Ok(())
    }
}
