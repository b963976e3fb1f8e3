//! The closing handshake (RFC 6455 §7) as a state machine with no socket:
//! events in (we sent a close frame, the peer's arrived, the peer broke a
//! rule, the connection broke), decisions out (which close frame to send,
//! how to end TCP). [`super::conn`] drives it and does the I/O; the tests
//! here drive it with byte slices.
//!
//! ```text
//!   Open ──we send Close──▶ CloseSent ──peer's Close arrives──▶ Closed
//!     │                                                          ▲
//!     └──peer's Close arrives: echo its code, then ─────────────┘
//!     └──peer breaks a rule: send our code (1002, 1007, 1009) ──┘
//! ```
//!
//! After a close frame nothing more may be sent, not even a pong (§5.5.1).
//! Once both close frames have crossed, "the server SHOULD close the
//! underlying TCP connection first" and the client waits for that (§7.1.1).
//! A connection failed for a violation is closed at once, with a lingering
//! close so the close frame is not lost to a reset (§7.1.7).
//!
//! A close frame's payload is read by [`parse_close`]: a status code and a
//! UTF-8 reason, or nothing.

use super::config::Role;
use super::error::{Error, ProtocolError, Result};
use super::message::{CloseCode, CloseFrame};

/// Decodes a close frame's payload (§5.5.1): empty, or a 2-byte code and a
/// UTF-8 reason.
pub fn parse_close(payload: &[u8]) -> Result<Option<CloseFrame>, ProtocolError> {
    match payload {
        [] => Ok(None),
        [_] => Err(ProtocolError::CloseFrameTooShort),
        [hi, lo, reason @ ..] => {
            let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
            if !code.is_valid_on_wire() {
                return Err(ProtocolError::InvalidCloseCode(code.0));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidUtf8)?;
            Ok(Some(CloseFrame {
                code,
                reason: reason.to_string(),
            }))
        }
    }
}

/// Where the connection is in the closing handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseState {
    /// Messages flow both ways.
    Open,
    /// We sent a close frame and wait for the peer's; we may send nothing more.
    CloseSent,
    /// The handshake finished or the connection failed.
    Closed,
}

/// How to end the TCP connection once the closing handshake is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpEnd {
    /// The server closes first: shut down our sending side (FIN) now.
    CloseFirst,
    /// The client waits (at most its close timeout) for the server's FIN,
    /// then closes.
    AwaitPeer,
    /// Failing the connection: FIN, drain what the peer still sends for a
    /// moment, close.
    Linger,
}

/// What the connection must do in answer to an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reaction {
    /// The payload of a close frame to send now, if one is due.
    pub send: Option<Vec<u8>>,
    /// How to end TCP afterwards.
    pub tcp: TcpEnd,
}

/// The closing handshake of one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Closing {
    role: Role,
    state: CloseState,
}

impl Closing {
    /// An open connection, seen from `role`'s end.
    pub fn new(role: Role) -> Closing {
        Closing {
            role,
            state: CloseState::Open,
        }
    }

    /// Where the handshake is.
    pub fn state(&self) -> CloseState {
        self.state
    }

    /// Whether messages (and pongs) may still be sent.
    pub fn is_open(&self) -> bool {
        self.state == CloseState::Open
    }

    /// Whether a message may be sent now: [`Error::AlreadyClosing`] after
    /// our close frame, [`Error::ConnectionClosed`] after the end.
    pub fn check_send(&self) -> Result<()> {
        match self.state {
            CloseState::Open => Ok(()),
            CloseState::CloseSent => Err(Error::AlreadyClosing),
            CloseState::Closed => Err(Error::ConnectionClosed),
        }
    }

    /// We sent a close frame (§7.1.2): wait for the peer's.
    pub fn sent_close(&mut self) {
        if self.state == CloseState::Open {
            self.state = CloseState::CloseSent;
        }
    }

    /// The peer's close frame arrived. If we had not sent ours, the reply
    /// echoes its status code (§5.5.1: no code in, none out). Either way
    /// the handshake is over, and TCP ends the way the role says.
    pub fn received_close(&mut self, frame: Option<&CloseFrame>) -> Reaction {
        let send = self
            .is_open()
            .then(|| frame.map(|f| f.code.0.to_be_bytes().to_vec()).unwrap_or_default());
        self.state = CloseState::Closed;
        Reaction {
            send,
            tcp: match self.role {
                Role::Server => TcpEnd::CloseFirst,
                Role::Client => TcpEnd::AwaitPeer,
            },
        }
    }

    /// The peer broke a rule: fail the connection (§7.1.7) with the
    /// violation's close code and its description as the reason, unless
    /// our close frame already went out.
    pub fn fail(&mut self, violation: &ProtocolError) -> Reaction {
        let send = self
            .is_open()
            .then(|| CloseFrame::new(violation.close_code(), violation.to_string()).to_payload());
        self.state = CloseState::Closed;
        Reaction {
            send,
            tcp: TcpEnd::Linger,
        }
    }

    /// The connection broke (a failed write, a reset) or was aborted:
    /// nothing more is sent.
    pub fn broken(&mut self) {
        self.state = CloseState::Closed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::websocket::config::Config;
    use crate::websocket::decode::Decoder;
    use crate::websocket::encode::Encoder;
    use crate::websocket::frame::OpCode;
    use crate::websocket::message::Message;

    /// What `role` reads from `wire`.
    fn read(role: Role, wire: &[u8]) -> Result<Message> {
        Decoder::new(role, &Config::default(), &[]).read(&mut &wire[..])
    }

    /// The close frame a reaction sends, as `role` writes it.
    fn reply_bytes(role: Role, reaction: &Reaction) -> Option<Vec<u8>> {
        let payload = reaction.send.as_ref()?;
        Some(Encoder::new(role).frame(true, OpCode::Close, payload).to_vec())
    }

    fn client_close(payload: &[u8]) -> Vec<u8> {
        Encoder::new(Role::Client).frame(true, OpCode::Close, payload).to_vec()
    }

    #[test]
    fn a_server_echoes_the_clients_close_code_then_closes_tcp_first() {
        let Message::Close(frame) = read(Role::Server, &client_close(b"\x03\xe8bye")).unwrap() else {
            panic!("not a close frame");
        };
        let mut closing = Closing::new(Role::Server);
        let reaction = closing.received_close(frame.as_ref());
        // 1000, without the reason: the echo is the code alone.
        assert_eq!(reply_bytes(Role::Server, &reaction).unwrap(), b"\x88\x02\x03\xe8");
        assert_eq!(reaction.tcp, TcpEnd::CloseFirst);
        assert_eq!(closing.state(), CloseState::Closed);
        assert!(matches!(closing.check_send(), Err(Error::ConnectionClosed)));
    }

    #[test]
    fn a_close_frame_without_a_code_is_answered_without_one() {
        let Message::Close(frame) = read(Role::Server, &client_close(b"")).unwrap() else {
            panic!("not a close frame");
        };
        assert_eq!(frame, None);
        let reaction = Closing::new(Role::Server).received_close(None);
        assert_eq!(reply_bytes(Role::Server, &reaction).unwrap(), b"\x88\x00");
    }

    #[test]
    fn a_client_answers_the_servers_close_then_waits_for_the_server_to_close_tcp() {
        let Message::Close(frame) = read(Role::Client, b"\x88\x02\x03\xe9").unwrap() else {
            panic!("not a close frame");
        };
        assert_eq!(frame.as_ref().map(|f| f.code), Some(CloseCode::GOING_AWAY));
        let reaction = Closing::new(Role::Client).received_close(frame.as_ref());
        let reply = reply_bytes(Role::Client, &reaction).unwrap();
        // Masked, as every client frame: the same code under the mask.
        assert_eq!(read(Role::Server, &reply).unwrap(), Message::Close(frame));
        assert_eq!(reaction.tcp, TcpEnd::AwaitPeer);
    }

    #[test]
    fn after_our_close_frame_nothing_more_is_sent_and_the_peers_close_ends_it() {
        let mut closing = Closing::new(Role::Server);
        closing.sent_close();
        assert_eq!(closing.state(), CloseState::CloseSent);
        assert!(matches!(closing.check_send(), Err(Error::AlreadyClosing)));
        assert!(!closing.is_open(), "no pong after a close frame either");
        let reaction = closing.received_close(Some(&CloseFrame::new(CloseCode::NORMAL, "")));
        assert_eq!(reaction.send, None, "the handshake is complete: no second close frame");
        assert_eq!(closing.state(), CloseState::Closed);
    }

    #[test]
    fn a_violation_is_answered_with_its_close_code_and_a_lingering_close() {
        let bad_text = Encoder::new(Role::Client).frame(true, OpCode::Text, b"\xff").to_vec();
        let Err(Error::Protocol(violation)) = read(Role::Server, &bad_text) else {
            panic!("invalid UTF-8 was accepted");
        };
        let mut closing = Closing::new(Role::Server);
        let reaction = closing.fail(&violation);
        let reply = reply_bytes(Role::Server, &reaction).unwrap();
        assert_eq!(&reply[..4], b"\x88\x17\x03\xef", "1007 and a 21-byte reason");
        assert_eq!(&reply[4..], b"invalid UTF-8 in text");
        assert_eq!(reaction.tcp, TcpEnd::Linger);
        // Once closing, a violation sends nothing more.
        let mut closing = Closing::new(Role::Server);
        closing.sent_close();
        assert_eq!(closing.fail(&violation).send, None);
    }

    #[test]
    fn a_broken_connection_sends_nothing_more() {
        let mut closing = Closing::new(Role::Client);
        closing.broken();
        assert!(matches!(closing.check_send(), Err(Error::ConnectionClosed)));
        assert_eq!(closing.received_close(None).send, None);
    }
}
