//! Negotiating permessage-deflate (RFC 7692 §5, §7.1): the
//! `Sec-WebSocket-Extensions` header, offered by the client, answered by
//! the server, checked by the client. Pure functions on strings.
//!
//! A client offers one or more sets of parameters, in its order of
//! preference, in one header or several (§5.1, RFC 6455 §9.1):
//!
//! ```text
//! Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits,
//!                           permessage-deflate; server_no_context_takeover
//! ```
//!
//! The server accepts at most one offer by naming it, with the parameters
//! that then hold, in the 101 response; it declines them all by not naming
//! the extension. The four parameters (§7.1.1, §7.1.2) say, for each
//! direction, whether the compressor may refer to earlier messages
//! (*context takeover*) and how far back (*max window bits*, 8 to 15: a
//! window of 2^n bytes). Each is a limit on the *sender* of that direction
//! that the *receiver* asks for: it lets the receiver keep less memory.

use std::fmt;

use crate::deflate::{Level, WindowBits};
use crate::http::ResponseHead;

/// The extension's registered name (§7).
pub const NAME: &str = "permessage-deflate";

/// How a connection uses permessage-deflate, if the peer agrees: what a
/// server accepts, or what a client offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compression {
    /// Whether to offer (client) or accept (server) the extension at all.
    pub enabled: bool,
    /// Whether the server's compressor may keep its window between
    /// messages. A server with `false` always answers
    /// `server_no_context_takeover` (§7.1.1.1): it keeps no compression
    /// state between messages, and the same compressed bytes of a message
    /// suit every connection that agreed on the same window. A client with
    /// `false` asks for it.
    pub server_context_takeover: bool,
    /// Whether the client's compressor may keep its window between
    /// messages. `false`: the server answers `client_no_context_takeover`
    /// (§7.1.1.2), and its decompressor keeps nothing between messages; a
    /// client offers it.
    pub client_context_takeover: bool,
    /// Largest window the server compresses with (§7.1.2.1).
    pub server_max_window_bits: WindowBits,
    /// Largest window the client may compress with (§7.1.2.2); what the
    /// server's decompressor keeps between messages with context takeover.
    /// A server can only ask for less than 15 if the client offered the
    /// parameter; if it did not, the server answers
    /// `client_no_context_takeover` instead.
    pub client_max_window_bits: WindowBits,
    /// Compression effort for messages this end sends.
    pub level: Level,
    /// Messages shorter than this are sent uncompressed (RSV1 clear): below
    /// a few dozen bytes the block header and the code cost more than they
    /// save, and compressing costs CPU either way.
    pub threshold: usize,
}

impl Compression {
    /// The extension off: nothing offered, every offer declined.
    pub const OFF: Compression = Compression {
        enabled: false,
        ..Compression::SERVER
    };

    /// A server's defaults: accept, keep no context for our own messages
    /// (nothing held between messages; compress once, send to many), let
    /// the client keep a 4 KiB window (12 bits) when it offers to take a
    /// limit, and compress messages of 64 bytes and more at level 6.
    pub const SERVER: Compression = Compression {
        enabled: true,
        server_context_takeover: false,
        client_context_takeover: true,
        server_max_window_bits: WindowBits::MAX,
        client_max_window_bits: match WindowBits::new(12) {
            Some(bits) => bits,
            None => WindowBits::MAX,
        },
        level: Level::DEFAULT,
        threshold: 64,
    };

    /// A client's defaults, what browsers offer: `permessage-deflate;
    /// client_max_window_bits`, every other choice left to the server.
    pub const CLIENT: Compression = Compression {
        enabled: true,
        server_context_takeover: true,
        client_context_takeover: true,
        server_max_window_bits: WindowBits::MAX,
        client_max_window_bits: WindowBits::MAX,
        level: Level::DEFAULT,
        threshold: 64,
    };

    /// The client's offer, the value of one `Sec-WebSocket-Extensions`
    /// header; `None` when disabled.
    pub fn offer(&self) -> Option<String> {
        if !self.enabled {
            return None;
        }
        let mut offer = NAME.to_string();
        if !self.server_context_takeover {
            offer.push_str("; server_no_context_takeover");
        }
        if !self.client_context_takeover {
            offer.push_str("; client_no_context_takeover");
        }
        if self.server_max_window_bits < WindowBits::MAX {
            offer.push_str(&format!(
                "; server_max_window_bits={}",
                self.server_max_window_bits.bits()
            ));
        }
        // Always sent: it tells the server it may choose a smaller window.
        offer.push_str("; client_max_window_bits");
        if self.client_max_window_bits < WindowBits::MAX {
            offer.push_str(&format!("={}", self.client_max_window_bits.bits()));
        }
        Some(offer)
    }

    /// The server's choice among the offers in `values` (every
    /// `Sec-WebSocket-Extensions` header of the request): the first
    /// permessage-deflate offer that is well formed, with the parameters
    /// that will hold. `None` declines (§5: no header in the response).
    pub fn accept<'a>(&self, values: impl IntoIterator<Item = &'a str>) -> Option<DeflateParams> {
        if !self.enabled {
            return None;
        }
        let offers = parse(values).ok()?;
        offers
            .iter()
            .filter(|o| o.name.eq_ignore_ascii_case(NAME))
            .find_map(|o| self.accept_one(o))
    }

    fn accept_one(&self, offer: &Extension) -> Option<DeflateParams> {
        let asked = Params::from_extension(offer, Side::Offer).ok()?;
        // Our own window: at most what the client allows.
        let server_bits = match asked.server_max_window_bits {
            Some(Some(bits)) => bits.min(self.server_max_window_bits),
            _ => self.server_max_window_bits,
        };
        let mut params = DeflateParams {
            server_no_context_takeover: asked.server_no_context_takeover || !self.server_context_takeover,
            client_no_context_takeover: asked.client_no_context_takeover || !self.client_context_takeover,
            server_max_window_bits: server_bits,
            client_max_window_bits: WindowBits::MAX,
            send_server_bits: server_bits < WindowBits::MAX || asked.server_max_window_bits.is_some(),
            send_client_bits: false,
        };
        match asked.client_max_window_bits {
            // The client takes a limit: ours, or its own if smaller.
            Some(offered) => {
                let bits = offered.unwrap_or(WindowBits::MAX).min(self.client_max_window_bits);
                params.client_max_window_bits = bits;
                params.send_client_bits = bits < WindowBits::MAX || offered.is_some();
            }
            // It cannot be told a window: with context takeover it keeps
            // 32 KiB, which we would have to keep too. Unless we are
            // content with that, it keeps no context instead (§7.1.1.2).
            None if self.client_max_window_bits < WindowBits::MAX => params.client_no_context_takeover = true,
            None => {}
        }
        Some(params)
    }
}

impl Default for Compression {
    /// [`Compression::SERVER`].
    fn default() -> Self {
        Compression::SERVER
    }
}

/// What the two ends agreed on (§7.1): the parameters of the accepted offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server compresses each message on its own.
    pub server_no_context_takeover: bool,
    /// The client compresses each message on its own.
    pub client_no_context_takeover: bool,
    /// The server's largest window.
    pub server_max_window_bits: WindowBits,
    /// The client's largest window.
    pub client_max_window_bits: WindowBits,
    /// Whether the response names `server_max_window_bits`.
    send_server_bits: bool,
    /// Whether the response names `client_max_window_bits`.
    send_client_bits: bool,
}

impl DeflateParams {
    /// Whether a sender of the given side keeps no context between messages.
    pub fn no_context_takeover(&self, sender_is_server: bool) -> bool {
        if sender_is_server {
            self.server_no_context_takeover
        } else {
            self.client_no_context_takeover
        }
    }

    /// The largest window of the given side's sender.
    pub fn max_window_bits(&self, sender_is_server: bool) -> WindowBits {
        if sender_is_server {
            self.server_max_window_bits
        } else {
            self.client_max_window_bits
        }
    }

    /// The window to inflate the given side's messages with. zlib cannot
    /// compress with an 8-bit window and silently uses 9 when asked for 8
    /// (so do many servers built on it): a peer held to 8 bits may reach
    /// back 512 bytes, and refusing that would fail working peers.
    pub fn inflate_window(&self, sender_is_server: bool) -> WindowBits {
        self.max_window_bits(sender_is_server)
            .max(WindowBits::new(9).expect("9 is a window size"))
    }

    /// The server's answer, the value of the response's
    /// `Sec-WebSocket-Extensions` header.
    pub fn response(&self) -> String {
        let mut r = NAME.to_string();
        if self.server_no_context_takeover {
            r.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            r.push_str("; client_no_context_takeover");
        }
        if self.send_server_bits {
            r.push_str(&format!(
                "; server_max_window_bits={}",
                self.server_max_window_bits.bits()
            ));
        }
        if self.send_client_bits {
            r.push_str(&format!(
                "; client_max_window_bits={}",
                self.client_max_window_bits.bits()
            ));
        }
        r
    }
}

impl fmt::Display for DeflateParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.response())
    }
}

/// Appends `Sec-WebSocket-Extensions: value` to a complete response head
/// (which ends with an empty line).
pub fn with_extension_header(mut response: Vec<u8>, value: &str) -> Vec<u8> {
    debug_assert!(response.ends_with(b"\r\n\r\n"));
    response.truncate(response.len() - 2);
    response.extend_from_slice(format!("Sec-WebSocket-Extensions: {value}\r\n\r\n").as_bytes());
    response
}

/// The client's check of the server's answer (§7.1, RFC 6455 §4.1 step 5):
/// `Ok(None)` if no extension was accepted; the parameters in force if
/// permessage-deflate was; an error, which fails the connection, for
/// anything the offer did not allow.
pub fn check_response(head: &ResponseHead, offered: &Compression) -> Result<Option<DeflateParams>, String> {
    let values: Vec<&str> = head.headers.get_all("sec-websocket-extensions").collect();
    if values.is_empty() {
        return Ok(None);
    }
    let all = values.join(", ");
    let extensions = parse(values).map_err(|e| format!("{all}: {e}"))?;
    let mut accepted = None;
    for ext in &extensions {
        if !offered.enabled || !ext.name.eq_ignore_ascii_case(NAME) {
            return Err(format!("{all}: {} was not offered", ext.name));
        }
        if accepted.is_some() {
            return Err(format!("{all}: {NAME} accepted twice"));
        }
        accepted = Some(ext);
    }
    let Some(ext) = accepted else { return Ok(None) };
    let got = Params::from_extension(ext, Side::Response).map_err(|e| format!("{all}: {e}"))?;
    if !offered.server_context_takeover && !got.server_no_context_takeover {
        return Err(format!("{all}: server_no_context_takeover was asked for"));
    }
    let server_bits = match got.server_max_window_bits {
        Some(Some(bits)) if bits <= offered.server_max_window_bits => bits,
        Some(_) => return Err(format!("{all}: server_max_window_bits above the offer")),
        None if offered.server_max_window_bits < WindowBits::MAX => {
            return Err(format!("{all}: server_max_window_bits was asked for"))
        }
        None => WindowBits::MAX,
    };
    // client_max_window_bits only if offered (always, here), at most our value.
    let client_bits = match got.client_max_window_bits {
        Some(Some(bits)) if bits <= offered.client_max_window_bits => bits,
        Some(_) => return Err(format!("{all}: client_max_window_bits above the offer")),
        None => offered.client_max_window_bits,
    };
    Ok(Some(DeflateParams {
        server_no_context_takeover: got.server_no_context_takeover,
        client_no_context_takeover: got.client_no_context_takeover || !offered.client_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
        send_server_bits: got.server_max_window_bits.is_some(),
        send_client_bits: got.client_max_window_bits.is_some(),
    }))
}

/// One extension of a `Sec-WebSocket-Extensions` list: its name and its
/// parameters, each with its value if it has one (quotes removed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extension {
    /// The extension's name, a token.
    pub name: String,
    /// Its parameters in order.
    pub params: Vec<(String, Option<String>)>,
}

/// Parses every extension in one or more header values (RFC 6455 §9.1):
///
/// ```text
/// extension-list = 1#extension
/// extension      = token *( ";" param )
/// param          = token [ "=" (token | quoted-string) ]
/// ```
pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Vec<Extension>, String> {
    let mut out = Vec::new();
    for value in values {
        let mut rest = value;
        loop {
            rest = skip_ws(rest);
            if rest.is_empty() {
                break;
            }
            if let Some(r) = rest.strip_prefix(',') {
                rest = r; // empty list elements are allowed (RFC 9110 §5.6.1)
                continue;
            }
            let (name, r) = token(rest).ok_or_else(|| format!("expected an extension name at {rest:?}"))?;
            let mut ext = Extension {
                name: name.to_string(),
                params: Vec::new(),
            };
            rest = skip_ws(r);
            while let Some(r) = rest.strip_prefix(';') {
                let (param, r) = token(skip_ws(r)).ok_or_else(|| format!("expected a parameter name at {r:?}"))?;
                let r = skip_ws(r);
                let (value, r) = match r.strip_prefix('=') {
                    Some(r) => {
                        let r = skip_ws(r);
                        let (v, r) = match r.strip_prefix('"') {
                            Some(q) => quoted(q).ok_or("unterminated quoted string")?,
                            None => token(r)
                                .map(|(t, r)| (t.to_string(), r))
                                .ok_or_else(|| format!("expected a value at {r:?}"))?,
                        };
                        (Some(v), r)
                    }
                    None => (None, r),
                };
                ext.params.push((param.to_string(), value));
                rest = skip_ws(r);
            }
            out.push(ext);
            match rest.strip_prefix(',') {
                Some(r) => rest = r,
                None if rest.is_empty() => break,
                None => return Err(format!("unexpected {rest:?}")),
            }
        }
    }
    Ok(out)
}

fn skip_ws(s: &str) -> &str {
    s.trim_start_matches([' ', '\t'])
}

/// A token (RFC 9110 §5.6.2) at the start of `s`, and what follows it.
fn token(s: &str) -> Option<(&str, &str)> {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)))
        .unwrap_or(s.len());
    (end > 0).then(|| s.split_at(end))
}

/// The rest of a quoted string whose opening quote is gone: its content,
/// backslash escapes undone, and what follows the closing quote.
fn quoted(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            '\\' => out.push(chars.next()?.1),
            c => out.push(c),
        }
    }
    None
}

/// Whether parameters come from an offer or from a response (the rules
/// for `client_max_window_bits` differ).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Offer,
    Response,
}

/// The parameters of one permessage-deflate element, checked (§7.1).
/// `Some(None)`: a window-bits parameter without a value.
#[derive(Default)]
struct Params {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<Option<WindowBits>>,
    client_max_window_bits: Option<Option<WindowBits>>,
}

impl Params {
    fn from_extension(ext: &Extension, side: Side) -> Result<Params, String> {
        let mut p = Params::default();
        for (name, value) in &ext.params {
            let name = name.to_ascii_lowercase();
            let seen = match name.as_str() {
                "server_no_context_takeover" | "client_no_context_takeover" => {
                    if value.is_some() {
                        return Err(format!("{name} takes no value"));
                    }
                    let flag = if name.starts_with("server") {
                        &mut p.server_no_context_takeover
                    } else {
                        &mut p.client_no_context_takeover
                    };
                    std::mem::replace(flag, true)
                }
                "server_max_window_bits" | "client_max_window_bits" => {
                    let bits = match value {
                        Some(v) => Some(window_bits(v).ok_or_else(|| format!("{name}={v}: not 8 to 15"))?),
                        // Only a client's offer of client_max_window_bits may omit the value.
                        None if name.starts_with("client") && side == Side::Offer => None,
                        None => return Err(format!("{name} needs a value")),
                    };
                    let slot = if name.starts_with("server") {
                        &mut p.server_max_window_bits
                    } else {
                        &mut p.client_max_window_bits
                    };
                    slot.replace(bits).is_some()
                }
                _ => return Err(format!("unknown parameter {name}")),
            };
            if seen {
                return Err(format!("{name} given twice"));
            }
        }
        Ok(p)
    }
}

/// `8` to `15`, in decimal without leading zeros (§7.1.2.1).
fn window_bits(v: &str) -> Option<WindowBits> {
    if v.starts_with('0') || v.len() > 2 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    WindowBits::new(v.parse().ok()?)
}
