//! Messages, the unit the application sees, and close frames (RFC 6455 §5.6,
//! §5.5, §7.4).
//!
//! TCP delivers a byte stream with no boundaries; WebSocket puts them back.
//! A *message* is one or more frames: a Text or Binary frame, then zero or
//! more Continuation frames, the last with FIN set. The reader reassembles
//! them, so `read()` returns exactly what the peer's `send()` sent, however
//! TCP cut it up on the way (`message_boundaries_survive_any_split_of_the_byte_stream`
//! in `src/websocket/decode.rs`; over a socket,
//! `websocket_frames_restore_the_boundaries_tcp_does_not_keep` in `tests/transport.rs`).

use std::fmt;

/// What the application sends and receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A complete text message; always valid UTF-8.
    Text(String),
    /// A complete binary message.
    Binary(Vec<u8>),
    /// A ping (at most 125 bytes). The reader answers it on its own; it is
    /// shown to the application for visibility.
    Ping(Vec<u8>),
    /// A pong: the answer to our ping, or an unsolicited heartbeat.
    Pong(Vec<u8>),
    /// The peer's close frame; `None` when it carried no status code.
    Close(Option<CloseFrame>),
}

impl Message {
    /// A text message.
    pub fn text(s: impl Into<String>) -> Message {
        Message::Text(s.into())
    }

    /// A binary message.
    pub fn binary(b: impl Into<Vec<u8>>) -> Message {
        Message::Binary(b.into())
    }

    /// Whether this is a Text or Binary message.
    pub fn is_data(&self) -> bool {
        matches!(self, Message::Text(_) | Message::Binary(_))
    }

    /// Payload length in bytes (for a close frame: code plus reason).
    pub fn len(&self) -> usize {
        match self {
            Message::Text(s) => s.len(),
            Message::Binary(b) | Message::Ping(b) | Message::Pong(b) => b.len(),
            Message::Close(None) => 0,
            Message::Close(Some(f)) => 2 + f.reason.len(),
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The text, if this is a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// A close status code (§7.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection is fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept (e.g. binary where only text is).
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: reserved, never sent: "no status code was present".
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: reserved, never sent: "closed without a close frame".
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: data inconsistent with its type, such as invalid UTF-8 in text.
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: a message violates the endpoint's policy.
    pub const POLICY: CloseCode = CloseCode(1008);
    /// 1009: a message too big to process.
    pub const TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: (client) the server did not negotiate a required extension.
    pub const MISSING_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: (server) an unexpected condition prevented fulfilling the request.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: (IANA registry) the service is restarting.
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: (IANA registry) try again later, e.g. an overloaded server.
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: (IANA registry) a gateway got an invalid upstream response.
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);
    /// 1015: reserved, never sent: the TLS handshake failed.
    pub const TLS_HANDSHAKE: CloseCode = CloseCode(1015);

    /// Whether the code may appear in a close frame on the wire.
    ///
    /// §7.4.1 defines 1000-1011 minus the reserved 1004, 1005, 1006 (and
    /// 1015); the IANA registry (§11.7) has since added 1012-1014.
    /// 3000-3999 are for libraries and frameworks, 4000-4999 for private
    /// use. Everything else below 5000 is reserved, and 0-999 are unused:
    /// receiving any of those is a protocol error (1002). Codes of 5000 and
    /// above are outside the RFC's ranges altogether and rejected too.
    pub fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }

    /// A short name for logs and for teaching.
    pub fn name(self) -> &'static str {
        match self.0 {
            1000 => "normal closure",
            1001 => "going away",
            1002 => "protocol error",
            1003 => "unsupported data",
            1005 => "no status received",
            1006 => "abnormal closure",
            1007 => "invalid payload data",
            1008 => "policy violation",
            1009 => "message too big",
            1010 => "mandatory extension",
            1011 => "internal error",
            1012 => "service restart",
            1013 => "try again later",
            1014 => "bad gateway",
            1015 => "TLS handshake",
            3000..=3999 => "registered (library/framework)",
            4000..=4999 => "private use",
            _ => "reserved/invalid",
        }
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0, self.name())
    }
}

impl From<u16> for CloseCode {
    fn from(v: u16) -> Self {
        CloseCode(v)
    }
}

/// The payload of a close frame: a status code and a UTF-8 reason (§5.5.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseFrame {
    /// Why the connection is closing.
    pub code: CloseCode,
    /// Human-readable detail, at most 123 bytes (125 minus the code).
    pub reason: String,
}

impl CloseFrame {
    /// Longest reason that fits a control frame: 125 - 2 bytes.
    pub const MAX_REASON: usize = 123;

    /// A close frame; the reason is cut (at a character boundary) to
    /// [`CloseFrame::MAX_REASON`] bytes if longer.
    pub fn new(code: CloseCode, reason: impl Into<String>) -> CloseFrame {
        let mut reason = reason.into();
        if reason.len() > Self::MAX_REASON {
            let mut cut = Self::MAX_REASON;
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            reason.truncate(cut);
        }
        CloseFrame { code, reason }
    }

    /// The frame's payload bytes: 2-byte big-endian code, then the reason.
    pub fn to_payload(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(2 + self.reason.len());
        p.extend_from_slice(&self.code.0.to_be_bytes());
        p.extend_from_slice(self.reason.as_bytes());
        p
    }
}

impl fmt::Display for CloseFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reason.is_empty() {
            write!(f, "{}", self.code)
        } else {
            write!(f, "{}: {}", self.code, self.reason)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_close_codes_follow_section_7_4_and_the_registry() {
        for ok in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999,
        ] {
            assert!(CloseCode(ok).is_valid_on_wire(), "{ok}");
        }
        for bad in [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
            assert!(!CloseCode(bad).is_valid_on_wire(), "{bad}");
        }
    }

    #[test]
    fn long_reasons_are_cut_at_a_character_boundary() {
        let f = CloseFrame::new(CloseCode::NORMAL, "é".repeat(100));
        assert!(f.reason.len() <= CloseFrame::MAX_REASON);
        assert_eq!(f.reason.len() % 2, 0);
        assert!(f.to_payload().len() <= 125);
    }
}
