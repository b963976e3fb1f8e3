//! The opening handshake (RFC 6455 §4): one HTTP request, one HTTP response,
//! and from then on the same TCP connection carries WebSocket frames.
//!
//! ```text
//! client                                         server
//!   GET /chat HTTP/1.1
//!   Host: 127.0.0.1:9001
//!   Upgrade: websocket
//!   Connection: Upgrade
//!   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
//!   Sec-WebSocket-Version: 13          ------>
//!                                      <------   HTTP/1.1 101 Switching Protocols
//!                                                Upgrade: websocket
//!                                                Connection: Upgrade
//!                                                Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
//!   ====== frames in both directions, at any time, on the same socket ======
//! ```
//!
//! The key/accept exchange proves the server *understood* a WebSocket
//! request (a plain HTTP server or a confused cache would not compute
//! `base64(SHA-1(key + GUID))`). It is not encryption and not authentication,
//! whatever the notes' word "密文" suggests (`docs/handshake.md`).
//!
//! Everything here is pure: requests and responses go in and out as parsed
//! heads and byte vectors, so every rule is testable without a socket.

use std::fmt;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD as BASE64};
use base64::Engine as _;

use crate::http::{HttpError, RequestHead, Response, ResponseHead, Version};

/// The GUID every server appends to the key (§1.3, §4.2.2).
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The only protocol version in use (§4.1, §11.6).
pub const VERSION: &str = "13";

/// Decodes `Sec-WebSocket-Key`, tolerating non-zero bits after the last
/// byte. RFC 4648 §3.5 lets a decoder refuse them, but the RFC's own
/// example key (§4.1, `AQIDBAUGBwgJCgsMDQ4PEC==`, erratum 3150) has them,
/// and other servers accept it: the accept value is computed over the key
/// as sent, so nothing depends on the bits.
const KEY_DECODER: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`:
/// `base64(SHA-1(key ++ GUID))` (§4.2.2 step 5.4).
pub fn accept_key(key: &str) -> String {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key.as_bytes());
    sha.update(GUID.as_bytes());
    BASE64.encode(sha.digest().bytes())
}

/// A fresh `Sec-WebSocket-Key`: 16 random bytes, base64-encoded (§4.1).
pub fn generate_key() -> String {
    let mut nonce = [0u8; 16];
    crate::random::fill(&mut nonce);
    BASE64.encode(nonce)
}

/// What a server accepts, beyond the fixed rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HandshakeConfig {
    /// Subprotocols this server speaks, in its order of preference. The
    /// first one the client also offered is selected.
    pub protocols: Vec<String>,
    /// If set, a request whose `Origin` is not in the list gets 403. A
    /// request without `Origin` (not from a browser) is let through: the
    /// check protects browser users from other sites' scripts (§10.2), and
    /// a non-browser client can send any Origin it likes anyway.
    pub allowed_origins: Option<Vec<String>>,
}

/// A request that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The `Sec-WebSocket-Accept` value to send back.
    pub accept: String,
    /// The selected subprotocol, if any.
    pub protocol: Option<String>,
}

impl Accepted {
    /// The `101 Switching Protocols` response, as bytes ready to write.
    pub fn response(&self) -> Vec<u8> {
        let mut r = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
            self.accept
        );
        if let Some(p) = &self.protocol {
            r.push_str("Sec-WebSocket-Protocol: ");
            r.push_str(p);
            r.push_str("\r\n");
        }
        r.push_str("\r\n");
        r.into_bytes()
    }
}

/// Checks a client's opening handshake (§4.2.1) and decides the answer.
pub fn check_request(head: &RequestHead, options: &HandshakeConfig) -> Result<Accepted, HandshakeError> {
    // 1. "An HTTP/1.1 or higher GET request".
    if head.method != "GET" {
        return Err(HandshakeError::MethodNotAllowed(head.method.clone()));
    }
    if head.version < Version::Http11 {
        return Err(HandshakeError::HttpVersion);
    }
    // 2. "A |Host| header field".
    if head.headers.count("host") != 1 {
        return Err(HandshakeError::Host);
    }
    // 3. "An |Upgrade| header field containing the value "websocket"",
    //    a token list compared case-insensitively.
    if !head.headers.has_token("upgrade", "websocket") {
        return Err(HandshakeError::NotWebSocket);
    }
    // 4. "A |Connection| header field that includes the token "Upgrade"".
    if !head.headers.has_token("connection", "upgrade") {
        return Err(HandshakeError::ConnectionNotUpgrade);
    }
    // 6. "A |Sec-WebSocket-Version| header field, with a value of 13."
    //    Otherwise 426 and the versions we do speak (§4.2.2, §4.4).
    //    The field "MUST NOT appear more than once in an HTTP request"
    //    (§11.3.5): two of them is a malformed request, not a version offer.
    let versions: Vec<&str> = head.headers.get_all("sec-websocket-version").collect();
    if versions.len() > 1 {
        return Err(HandshakeError::Malformed("Sec-WebSocket-Version sent more than once"));
    }
    if versions != [VERSION] {
        return Err(HandshakeError::UnsupportedVersion(versions.join(", ")));
    }
    // 5. "A |Sec-WebSocket-Key| header field with a base64-encoded value
    //    that, when decoded, is 16 bytes in length."
    let mut keys = head.headers.get_all("sec-websocket-key");
    let key = match (keys.next(), keys.next()) {
        (Some(k), None) => k,
        (None, _) => return Err(HandshakeError::Key("missing")),
        (Some(_), Some(_)) => return Err(HandshakeError::Key("sent more than once")),
    };
    match KEY_DECODER.decode(key) {
        Ok(nonce) if nonce.len() == 16 => {}
        Ok(_) => return Err(HandshakeError::Key("does not decode to 16 bytes")),
        Err(_) => return Err(HandshakeError::Key("is not base64")),
    }
    // The bytes after the head are frames. A body would be read as frames
    // by us and as HTTP by anything in between that does not know the
    // upgrade: refuse rather than guess where the body ends.
    if head.headers.get_all("content-length").any(|v| v != "0") || head.headers.get("transfer-encoding").is_some() {
        return Err(HandshakeError::Malformed("a handshake request has no body"));
    }
    // 8. Origin (optional for non-browser clients).
    if let (Some(allowed), Some(origin)) = (&options.allowed_origins, head.headers.get("origin")) {
        if !allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
            return Err(HandshakeError::ForbiddenOrigin(origin.to_string()));
        }
    }
    // 9. Subprotocols: pick ours in our order of preference.
    let offered: Vec<&str> = head.headers.tokens("sec-websocket-protocol").collect();
    let protocol = options
        .protocols
        .iter()
        .find(|p| offered.iter().any(|o| o == p))
        .cloned();
    // Extensions (10.) are answered apart, by `super::extension`
    // (permessage-deflate); any other is declined by not mentioning it in
    // the response (§9.1).
    Ok(Accepted {
        accept: accept_key(key),
        protocol,
    })
}

/// The client's opening handshake request (§4.1).
pub fn client_request(host: &str, resource: &str, key: &str, protocols: &[String], origin: Option<&str>) -> Vec<u8> {
    let mut r = format!(
        "GET {resource} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: {VERSION}\r\n"
    );
    if !protocols.is_empty() {
        r.push_str("Sec-WebSocket-Protocol: ");
        r.push_str(&protocols.join(", "));
        r.push_str("\r\n");
    }
    if let Some(o) = origin {
        r.push_str("Origin: ");
        r.push_str(o);
        r.push_str("\r\n");
    }
    r.push_str("\r\n");
    r.into_bytes()
}

/// Checks the server's answer (§4.1, "the client MUST validate the
/// server's response") for a client that offered no extension. Returns
/// the selected subprotocol.
pub fn check_response(head: &ResponseHead, key: &str, protocols: &[String]) -> Result<Option<String>, HandshakeError> {
    let protocol = check_upgrade(head, key, protocols)?;
    // 5. No extension we did not ask for (we ask for none).
    match head.headers.get("sec-websocket-extensions") {
        Some(ext) => Err(HandshakeError::UnrequestedExtension(format!("{ext} was not offered"))),
        None => Ok(protocol),
    }
}

/// [`check_response`] but for extensions, which a client that offered some
/// checks against its offer ([`super::extension::check_response`]).
pub fn check_upgrade(head: &ResponseHead, key: &str, protocols: &[String]) -> Result<Option<String>, HandshakeError> {
    // 1. "If the status code received from the server is not 101, the client
    //    handles the response per HTTP procedures."
    if head.status != 101 {
        return Err(HandshakeError::Status(head.status, head.reason.clone()));
    }
    // 2. Upgrade: websocket.
    if !head.headers.has_token("upgrade", "websocket") {
        return Err(HandshakeError::ResponseHeader("Upgrade is not websocket"));
    }
    // 3. Connection: Upgrade.
    if !head.headers.has_token("connection", "upgrade") {
        return Err(HandshakeError::ResponseHeader("Connection does not include Upgrade"));
    }
    // 4. Sec-WebSocket-Accept must be base64(SHA-1(key + GUID)), exactly.
    let expected = accept_key(key);
    match head.headers.get("sec-websocket-accept") {
        Some(got) if got == expected => {}
        got => {
            return Err(HandshakeError::AcceptMismatch {
                expected,
                got: got.unwrap_or("(missing)").to_string(),
            })
        }
    }
    // 6. No subprotocol we did not offer, and at most one.
    let mut chosen = head.headers.tokens("sec-websocket-protocol");
    match (chosen.next(), chosen.next()) {
        (None, _) => Ok(None),
        (Some(p), None) if protocols.iter().any(|o| o == p) => Ok(Some(p.to_string())),
        (Some(p), _) => Err(HandshakeError::UnrequestedProtocol(p.to_string())),
    }
}

/// Why an opening handshake failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandshakeError {
    /// (server) The request could not be parsed as HTTP.
    Http(HttpError),
    /// (server) Not a GET: 405 with `Allow: GET`.
    MethodNotAllowed(String),
    /// (server) HTTP/1.0: 400, WebSocket needs HTTP/1.1 (§4.1).
    HttpVersion,
    /// (server) No `Host` header, or several: 400.
    Host,
    /// (server) No `Upgrade: websocket`: a plain HTTP request at a WebSocket
    /// endpoint. 426 Upgrade Required, naming the protocol to upgrade to.
    NotWebSocket,
    /// (server) `Connection` lacks the `Upgrade` token: 400.
    ConnectionNotUpgrade,
    /// (server) `Sec-WebSocket-Version` missing or not 13 (the value is
    /// what was sent): 426 with `Sec-WebSocket-Version: 13`.
    UnsupportedVersion(String),
    /// (server) `Sec-WebSocket-Key` missing or malformed: 400.
    Key(&'static str),
    /// (server) `Origin` not on the allow-list: 403.
    ForbiddenOrigin(String),
    /// (server) Another rule of the request broken (a field sent twice
    /// that may appear once, a body): 400.
    Malformed(&'static str),
    /// (client) The server's answer could not be read as an HTTP response:
    /// it closed the connection or went silent before the end of its
    /// head, or sent something that is not HTTP.
    BadResponse(HttpError),
    /// (client) The server answered with another status than 101.
    Status(u16, String),
    /// (client) A required response header is missing or wrong.
    ResponseHeader(&'static str),
    /// (client) `Sec-WebSocket-Accept` is not what the key requires.
    AcceptMismatch {
        /// What the key requires.
        expected: String,
        /// What the server sent.
        got: String,
    },
    /// (client) The server's `Sec-WebSocket-Extensions` answer enabled an
    /// extension or a parameter the offer did not allow; the text says
    /// which and why.
    UnrequestedExtension(String),
    /// (client) The server selected a subprotocol we did not offer.
    UnrequestedProtocol(String),
    /// (client) The URL is not a `ws://` URL we can connect to.
    Url(String),
}

impl HandshakeError {
    /// The HTTP response a server sends for this error (`None` for the
    /// client-side errors).
    pub fn to_response(&self) -> Option<Response> {
        let mut r = match self {
            HandshakeError::Http(e) => return Some(e.to_response()),
            HandshakeError::MethodNotAllowed(_) => Response::text(405, self.to_string()).with_header("Allow", "GET"),
            HandshakeError::HttpVersion
            | HandshakeError::Host
            | HandshakeError::ConnectionNotUpgrade
            | HandshakeError::Key(_)
            | HandshakeError::Malformed(_) => Response::text(400, self.to_string()),
            // 426 MUST name the protocol to upgrade to (RFC 9110 §15.5.22),
            // and a sender of Upgrade MUST list "upgrade" in Connection (§7.8).
            HandshakeError::NotWebSocket | HandshakeError::UnsupportedVersion(_) => {
                Response::text(426, self.to_string())
                    .with_header("Upgrade", "websocket")
                    .with_header("Sec-WebSocket-Version", VERSION)
            }
            HandshakeError::ForbiddenOrigin(_) => Response::text(403, self.to_string()),
            _ => return None,
        };
        r.body.push(b'\n');
        let upgrade = r.status == 426;
        r.headers
            .set("Connection", if upgrade { "Upgrade, close" } else { "close" });
        Some(r)
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::Http(e) => write!(f, "{e}"),
            HandshakeError::MethodNotAllowed(m) => write!(f, "a WebSocket handshake must be a GET, not {m}"),
            HandshakeError::HttpVersion => f.write_str("a WebSocket handshake needs HTTP/1.1 or later"),
            HandshakeError::Host => f.write_str("the handshake needs exactly one Host header"),
            HandshakeError::NotWebSocket => f.write_str("this is a WebSocket endpoint: send Upgrade: websocket"),
            HandshakeError::ConnectionNotUpgrade => f.write_str("the Connection header must include Upgrade"),
            HandshakeError::UnsupportedVersion(v) if v.is_empty() => {
                f.write_str("Sec-WebSocket-Version is missing; 13 is supported")
            }
            HandshakeError::UnsupportedVersion(v) => write!(f, "Sec-WebSocket-Version {v} is not supported; 13 is"),
            HandshakeError::Key(why) => write!(f, "Sec-WebSocket-Key {why}"),
            HandshakeError::ForbiddenOrigin(o) => write!(f, "origin {o} is not allowed"),
            HandshakeError::Malformed(why) => f.write_str(why),
            HandshakeError::BadResponse(HttpError::Incomplete) => {
                f.write_str("the server closed the connection before answering the handshake")
            }
            HandshakeError::BadResponse(HttpError::Timeout) => {
                f.write_str("the server did not answer the handshake in time")
            }
            HandshakeError::BadResponse(HttpError::BadRequest(why)) => {
                write!(f, "the server's answer is not HTTP: {why}")
            }
            HandshakeError::BadResponse(HttpError::HeadersTooLarge) => {
                f.write_str("the server's answer has too large a head")
            }
            HandshakeError::BadResponse(e) => write!(f, "reading the server's answer: {e}"),
            HandshakeError::Status(code, reason) => write!(f, "server answered {code} {reason} instead of 101"),
            HandshakeError::ResponseHeader(why) => write!(f, "bad 101 response: {why}"),
            HandshakeError::AcceptMismatch { expected, got } => {
                write!(f, "Sec-WebSocket-Accept is {got}, the key requires {expected}")
            }
            HandshakeError::UnrequestedExtension(e) => write!(f, "server's Sec-WebSocket-Extensions refused: {e}"),
            HandshakeError::UnrequestedProtocol(p) => write!(f, "server selected subprotocol {p} that was not offered"),
            HandshakeError::Url(why) => write!(f, "bad URL: {why}"),
        }
    }
}

impl std::error::Error for HandshakeError {}

impl From<HttpError> for HandshakeError {
    fn from(e: HttpError) -> Self {
        HandshakeError::Http(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{read_head, read_response_head, Limits};

    #[test]
    fn accept_key_matches_the_rfc_example() {
        // RFC 6455 §1.3.
        assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn accept_key_matches_the_example_in_the_notes() {
        // The note "HTTP、TCP与UDP、Socket与Websocket之间的联系与区别" prints this
        // request/response pair.
        assert_eq!(accept_key("xqBt3ImNzJbYqRINxEFlkg=="), "K7DJLdLooIwIG/MOpvWFB3y3FE8=");
    }

    #[test]
    fn generated_keys_decode_to_16_random_bytes() {
        let (a, b) = (generate_key(), generate_key());
        assert_ne!(a, b);
        assert_eq!(BASE64.decode(&a).unwrap().len(), 16);
    }

    const GOOD: &str = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";

    fn head(raw: &str) -> RequestHead {
        read_head(&mut raw.as_bytes(), &Limits::default()).unwrap().unwrap()
    }

    fn status_of(raw: &str, options: &HandshakeConfig) -> u16 {
        match check_request(&head(raw), options) {
            Ok(_) => 101,
            Err(e) => e.to_response().unwrap().status,
        }
    }

    #[test]
    fn the_rfc_request_is_accepted_with_its_subprotocol() {
        let options = HandshakeConfig {
            protocols: vec!["superchat".into(), "chat".into()],
            allowed_origins: None,
        };
        let acc = check_request(&head(GOOD), &options).unwrap();
        assert_eq!(acc.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(acc.protocol.as_deref(), Some("superchat"));
        let text = String::from_utf8(acc.response()).unwrap();
        assert!(text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(text.contains("Sec-WebSocket-Protocol: superchat\r\n"));
    }

    #[test]
    fn header_values_are_case_insensitive_token_lists() {
        let raw = GOOD
            .replace("Upgrade: websocket", "upgrade: WebSocket")
            .replace("Connection: Upgrade", "Connection: keep-alive, UPGRADE");
        assert_eq!(status_of(&raw, &HandshakeConfig::default()), 101);
    }

    #[test]
    fn each_broken_rule_gets_its_status() {
        let o = HandshakeConfig::default();
        assert_eq!(status_of(&GOOD.replace("GET", "POST"), &o), 405);
        assert_eq!(status_of(&GOOD.replace("HTTP/1.1", "HTTP/1.0"), &o), 400);
        assert_eq!(status_of(&GOOD.replace("Host: server.example.com\r\n", ""), &o), 400);
        assert_eq!(status_of(&GOOD.replace("Upgrade: websocket\r\n", ""), &o), 426);
        assert_eq!(status_of(&GOOD.replace("Upgrade: websocket", "Upgrade: h2c"), &o), 426);
        assert_eq!(
            status_of(&GOOD.replace("Connection: Upgrade", "Connection: keep-alive"), &o),
            400
        );
        assert_eq!(status_of(&GOOD.replace("Version: 13", "Version: 8"), &o), 426);
        assert_eq!(status_of(&GOOD.replace("Sec-WebSocket-Version: 13\r\n", ""), &o), 426);
        assert_eq!(
            status_of(&GOOD.replace("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ="), &o),
            400
        );
        assert_eq!(
            status_of(&GOOD.replace("dGhlIHNhbXBsZSBub25jZQ==", "not base64!"), &o),
            400
        );
        assert_eq!(
            status_of(&GOOD.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""), &o),
            400
        );
    }

    #[test]
    fn the_rfc_example_key_with_stray_padding_bits_is_accepted() {
        // §4.1's example key; its last character should be A (erratum 3150).
        let rfc = GOOD.replace("dGhlIHNhbXBsZSBub25jZQ==", "AQIDBAUGBwgJCgsMDQ4PEC==");
        let accepted = check_request(&head(&rfc), &HandshakeConfig::default()).unwrap();
        assert_eq!(accepted.accept, accept_key("AQIDBAUGBwgJCgsMDQ4PEC=="));
        // Still 16 bytes or nothing: 15 and 17 bytes, and missing padding, are refused.
        let o = HandshakeConfig::default();
        for bad in [
            "AQIDBAUGBwgJCgsMDQ4P",
            "AQIDBAUGBwgJCgsMDQ4PEBE=",
            "AQIDBAUGBwgJCgsMDQ4PEA",
        ] {
            assert_eq!(
                status_of(&GOOD.replace("dGhlIHNhbXBsZSBub25jZQ==", bad), &o),
                400,
                "{bad}"
            );
        }
    }

    #[test]
    fn a_repeated_version_field_is_400_not_an_offer_of_unsupported_versions() {
        let o = HandshakeConfig::default();
        let twice = GOOD.replace("Version: 13\r\n", "Version: 13\r\nSec-WebSocket-Version: 13\r\n");
        assert_eq!(status_of(&twice, &o), 400);
        let err = check_request(&head(&twice), &o).unwrap_err();
        assert_eq!(err.to_string(), "Sec-WebSocket-Version sent more than once");
        // One field naming several versions is still an unsupported offer.
        assert_eq!(status_of(&GOOD.replace("Version: 13", "Version: 13, 8"), &o), 426);
    }

    #[test]
    fn a_handshake_request_announcing_a_body_is_400() {
        let o = HandshakeConfig::default();
        let with = |field: &str| GOOD.replace("Host:", &format!("{field}\r\nHost:"));
        assert_eq!(status_of(&with("Content-Length: 5"), &o), 400);
        assert_eq!(status_of(&with("Transfer-Encoding: chunked"), &o), 400);
        assert_eq!(status_of(&with("Content-Length: 0"), &o), 101);
    }

    #[test]
    fn a_426_names_the_protocol_to_upgrade_to_in_upgrade_and_connection() {
        // RFC 9110 §15.5.22: a 426 MUST carry Upgrade; §7.8: whoever sends
        // Upgrade MUST list "upgrade" in Connection. We still close after it.
        let o = HandshakeConfig::default();
        for raw in [
            GOOD.replace("Upgrade: websocket\r\n", ""),
            GOOD.replace("Version: 13", "Version: 8"),
        ] {
            let r = check_request(&head(&raw), &o).unwrap_err().to_response().unwrap();
            assert_eq!(r.status, 426);
            assert!(r.headers.has_token("upgrade", "websocket"), "{r:?}");
            assert!(r.headers.has_token("connection", "upgrade"), "{r:?}");
            assert!(r.headers.has_token("connection", "close"), "{r:?}");
        }
    }

    #[test]
    fn wrong_version_answer_names_the_supported_version() {
        let err = check_request(
            &head(&GOOD.replace("Version: 13", "Version: 8")),
            &HandshakeConfig::default(),
        );
        let r = err.unwrap_err().to_response().unwrap();
        assert_eq!(r.headers.get("sec-websocket-version"), Some("13"));
    }

    #[test]
    fn origin_allow_list() {
        let mut o = HandshakeConfig {
            protocols: vec![],
            allowed_origins: Some(vec!["http://example.com".into()]),
        };
        assert_eq!(status_of(GOOD, &o), 101);
        assert_eq!(
            status_of(&GOOD.replace("http://example.com", "http://evil.test"), &o),
            403
        );
        assert_eq!(status_of(&GOOD.replace("Origin: http://example.com\r\n", ""), &o), 101);
        o.allowed_origins = Some(vec![]);
        assert_eq!(status_of(GOOD, &o), 403);
    }

    fn response_head(raw: &str) -> ResponseHead {
        read_response_head(&mut raw.as_bytes(), &Limits::default()).unwrap()
    }

    #[test]
    fn client_accepts_the_rfc_response_and_rejects_tampering() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        assert_eq!(check_response(&response_head(ok), key, &[]), Ok(None));
        let bad = [
            ok.replace("101 Switching Protocols", "200 OK"),
            ok.replace("Upgrade: websocket", "Upgrade: h2c"),
            ok.replace("Connection: Upgrade", "Connection: close"),
            ok.replace("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "s3pPLMBiTxaQ9kYGzzhZRbK+xOp="),
            ok.replace("\r\n\r\n", "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"),
            ok.replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: chat\r\n\r\n"),
        ];
        for raw in &bad {
            assert!(check_response(&response_head(raw), key, &[]).is_err(), "{raw}");
        }
        let with_protocol = ok.replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: chat\r\n\r\n");
        assert_eq!(
            check_response(&response_head(&with_protocol), key, &["chat".to_string()]),
            Ok(Some("chat".to_string()))
        );
    }

    #[test]
    fn the_client_request_passes_the_server_checks() {
        let key = generate_key();
        let raw = client_request("127.0.0.1:9001", "/x?y=1", &key, &["chat".into()], Some("http://a"));
        let head = read_head(&mut &raw[..], &Limits::default()).unwrap().unwrap();
        let options = HandshakeConfig {
            protocols: vec!["chat".into()],
            allowed_origins: None,
        };
        let acc = check_request(&head, &options).unwrap();
        assert_eq!(acc.accept, accept_key(&key));
        assert_eq!(head.target, "/x?y=1");
    }
}
