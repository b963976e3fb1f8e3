//! Whose requests a browser-facing server answers: the `Host` it must be
//! addressed by, and the `Origin` a page must come from to act.
//!
//! A browser sends the user's ambient authority (cookies, a login, being
//! on the same network as a server on `127.0.0.1`) with requests that any
//! page it visits may start. Two attacks follow, and one rule stops each:
//!
//! - **Cross-site requests** (CSRF; for WebSocket, cross-site WebSocket
//!   hijacking, RFC 6455 §10.2): a page on `evil.example` opens
//!   `ws://127.0.0.1:8080/ws`, or posts a form to the chat's API, and acts
//!   as the user. Its browser says where the page came from in `Origin`;
//!   an `Origin` that is not this server (nor on the allow-list) is
//!   refused with 403. A request without `Origin` did not come from a
//!   page's script (browsers send it on every cross-origin request, every
//!   WebSocket handshake and every `POST`): let through, since a
//!   non-browser client can send any `Origin` it likes anyway.
//! - **DNS rebinding**: `evil.example` resolves first to its own server,
//!   which serves a page, then to `127.0.0.1`. The page's requests now
//!   reach this server *same-origin* (`Origin: http://evil.example:8080`,
//!   `Host: evil.example:8080`), so the `Origin` check alone passes them.
//!   The `Host` check stops them: this server answers only to its own
//!   names (the address the client reached it on, `localhost` forms when
//!   that is loopback, and configured names); anything else gets 421
//!   Misdirected Request (RFC 9110 §15.5.20).
//!
//! Neither rule authenticates anyone: they keep other sites' pages out,
//! not other people (`docs/security.md`).

use std::net::{IpAddr, SocketAddr};

use super::request::RequestHead;
use super::response::Response;

/// The names and origins a browser-facing server accepts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SitePolicy {
    /// Extra `host[:port]` names this server answers to (behind a proxy, or
    /// on a DNS name: `chat.example:8080`), beside the address each client
    /// reached it on. Compared without case; a missing port means 80.
    pub names: Vec<String>,
    /// Extra origins allowed to act (`https://app.example`), beside this
    /// server's own.
    pub origins: Vec<String>,
}

/// Why a request was refused, as the response that says so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SiteError {
    /// `Host` is not one of this server's names: 421.
    Host(String),
    /// `Origin` is another site: 403.
    Origin(String),
}

impl SiteError {
    /// The response that refuses the request.
    pub fn to_response(&self) -> Response {
        let (status, text) = match self {
            SiteError::Host(host) => (
                421,
                format!("this server does not answer to the name {host:.100}; use the address it printed\n"),
            ),
            SiteError::Origin(origin) => (
                403,
                format!("requests from pages of {origin:.100} are not accepted here (only this server's own pages)\n"),
            ),
        };
        let mut r = Response::text(status, text);
        r.headers.set("Connection", "close");
        r
    }
}

/// `host[:port]` split, lower-cased, with the port (80 if absent).
fn authority(value: &str) -> Option<(String, u16)> {
    let value = value.trim().to_ascii_lowercase();
    let (host, port) = if let Some(rest) = value.strip_prefix('[') {
        let end = rest.find(']')?;
        let port = rest[end + 1..].strip_prefix(':');
        (format!("[{}]", &rest[..end]), port)
    } else {
        match value.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (value.clone(), None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => 80,
    };
    (!host.is_empty()).then_some((host, port))
}

impl SitePolicy {
    /// Same-origin only: this server's own names, no other origin.
    pub fn same_origin() -> SitePolicy {
        SitePolicy::default()
    }

    /// Whether `host` (a `Host` value, or an origin's authority) names this
    /// server, reached on `local`.
    pub fn is_our_name(&self, host: &str, local: SocketAddr) -> bool {
        let Some((name, port)) = authority(host) else {
            return false;
        };
        if self.names.iter().any(|n| authority(n) == Some((name.clone(), port))) {
            return true;
        }
        if port != local.port() {
            return false;
        }
        let ip = local.ip();
        let literal = match ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => format!("[{v6}]"),
            },
        };
        name == literal
            || (ip.is_loopback() || ip.to_canonical().is_loopback())
                && matches!(name.as_str(), "localhost" | "127.0.0.1" | "[::1]")
    }

    /// Checks a request that reached this server on `local`: its `Host` must
    /// be one of our names, and its `Origin`, if it has one, this server or
    /// an allowed origin.
    pub fn check(&self, head: &RequestHead, local: SocketAddr) -> Result<(), SiteError> {
        self.check_host(head, local)?;
        self.check_origin(head, local)
    }

    /// The `Host` half of [`SitePolicy::check`]: enough for a request that
    /// only reads (the browser keeps another site's page from reading the
    /// answer; DNS rebinding is what the `Host` check stops).
    ///
    /// For a target in absolute form (`http://name/path`) the name is the
    /// target's authority, which replaces `Host` (RFC 9112 §3.2.2).
    pub fn check_host(&self, head: &RequestHead, local: SocketAddr) -> Result<(), SiteError> {
        let in_target = match head.target.split_once("://") {
            Some((_, rest)) if !head.target.starts_with('/') => rest.split(['/', '?']).next(),
            _ => None,
        };
        match in_target.or(head.headers.get("host")) {
            Some(host) if !self.is_our_name(host, local) => Err(SiteError::Host(host.to_string())),
            _ => Ok(()),
        }
    }

    /// The `Origin` half of [`SitePolicy::check`].
    pub fn check_origin(&self, head: &RequestHead, local: SocketAddr) -> Result<(), SiteError> {
        let Some(origin) = head.headers.get("origin") else {
            return Ok(());
        };
        if self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin)) {
            return Ok(());
        }
        // Our own pages: http://one-of-our-names. ("null", file pages,
        // sandboxed frames: not ours.)
        match origin.strip_prefix("http://") {
            Some(rest) if !rest.contains('/') && self.is_our_name(rest, local) => Ok(()),
            _ => Err(SiteError::Origin(origin.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{read_head, Limits};

    fn head(fields: &str) -> RequestHead {
        let raw = format!("GET /ws HTTP/1.1\r\n{fields}\r\n");
        read_head(&mut raw.as_bytes(), &Limits::default()).unwrap().unwrap()
    }

    fn check(fields: &str, local: &str) -> Result<(), SiteError> {
        SitePolicy::same_origin().check(&head(fields), local.parse().unwrap())
    }

    #[test]
    fn a_loopback_server_answers_to_its_address_and_localhost_and_nothing_else() {
        let local = "127.0.0.1:8080";
        for host in ["127.0.0.1:8080", "localhost:8080", "LOCALHOST:8080", "[::1]:8080"] {
            assert_eq!(check(&format!("Host: {host}\r\n"), local), Ok(()), "{host}");
        }
        for host in ["evil.example:8080", "127.0.0.1:8081", "localhost", "127.0.0.2:8080"] {
            assert!(
                matches!(check(&format!("Host: {host}\r\n"), local), Err(SiteError::Host(_))),
                "{host}"
            );
        }
        // Reached on a LAN address (bound to 0.0.0.0): that address.
        assert_eq!(check("Host: 192.168.1.5:8080\r\n", "192.168.1.5:8080"), Ok(()));
        assert!(check("Host: localhost:8080\r\n", "192.168.1.5:8080").is_err());
        // Port 80 is the default.
        assert_eq!(check("Host: localhost\r\n", "127.0.0.1:80"), Ok(()));
    }

    #[test]
    fn pages_of_this_server_may_act_and_pages_of_other_sites_may_not() {
        let local = "127.0.0.1:8080";
        let ok = "Host: 127.0.0.1:8080\r\n";
        assert_eq!(check(ok, local), Ok(()), "no Origin: not a browser page");
        assert_eq!(check(&format!("{ok}Origin: http://127.0.0.1:8080\r\n"), local), Ok(()));
        assert_eq!(check(&format!("{ok}Origin: http://localhost:8080\r\n"), local), Ok(()));
        for origin in [
            "http://evil.example",
            "http://127.0.0.1:9999",
            "null",
            "https://127.0.0.1:8080",
            "http://127.0.0.1:8080/x",
        ] {
            assert_eq!(
                check(&format!("{ok}Origin: {origin}\r\n"), local),
                Err(SiteError::Origin(origin.to_string())),
                "{origin}"
            );
        }
        let policy = SitePolicy {
            names: vec!["chat.example:8080".into()],
            origins: vec!["https://app.example".into()],
        };
        let local = local.parse().unwrap();
        assert_eq!(
            policy.check(
                &head("Host: chat.example:8080\r\nOrigin: https://app.example\r\n"),
                local
            ),
            Ok(())
        );
        assert_eq!(
            policy.check(
                &head("Host: chat.example:8080\r\nOrigin: http://chat.example:8080\r\n"),
                local
            ),
            Ok(())
        );
        assert_eq!(SiteError::Host("x".into()).to_response().status, 421);
    }

    #[test]
    fn an_absolute_form_target_is_checked_by_its_authority_which_replaces_host() {
        // RFC 9112 §3.2.2: the server uses the target's authority and
        // ignores Host; a name checked only in Host would be bypassed.
        let local = "127.0.0.1:8080".parse().unwrap();
        let policy = SitePolicy::same_origin();
        let parse = |raw: &str| read_head(&mut raw.as_bytes(), &Limits::default()).unwrap().unwrap();
        let foreign = parse("GET http://evil.example:8080/hello HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n");
        assert_eq!(
            policy.check_host(&foreign, local),
            Err(SiteError::Host("evil.example:8080".into()))
        );
        let ours = parse("GET http://localhost:8080/hello HTTP/1.1\r\nHost: evil.example\r\n\r\n");
        assert_eq!(policy.check_host(&ours, local), Ok(()));
        assert_eq!(SiteError::Origin("x".into()).to_response().status, 403);
    }
}
