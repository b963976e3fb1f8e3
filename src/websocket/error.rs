//! Errors of the WebSocket layer, each named after the rule it enforces.
//!
//! [`ProtocolError`] is what the *peer* did wrong; [`ProtocolError::close_code`]
//! is the one place that maps a violation to the close code sent before the
//! connection is failed (§7.1.7, §7.4.1). [`Error`] is everything a call can
//! return, including the normal end of a connection.

use std::fmt;
use std::io;

use super::handshake::HandshakeError;
use super::message::CloseCode;
use crate::deflate::InflateError;

/// A violation of RFC 6455 by the peer. Each fails the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// RSV1-3 set without a negotiated extension (§5.2). 1002.
    ReservedBits(u8),
    /// Opcode 0x3-0x7 or 0xB-0xF (§5.2). 1002.
    ReservedOpcode(u8),
    /// The 64-bit payload length has its most significant bit set (§5.2). 1002.
    LengthHighBitSet,
    /// A client sent an unmasked frame (§5.1). 1002.
    UnmaskedClientFrame,
    /// A server sent a masked frame (§5.1). 1002.
    MaskedServerFrame,
    /// A control frame longer than 125 bytes (§5.5). 1002.
    ControlFrameTooLong(u64),
    /// A control frame without FIN (§5.5). 1002.
    FragmentedControlFrame,
    /// A Continuation frame with no message in progress (§5.4). 1002.
    UnexpectedContinuation,
    /// A new Text or Binary frame while a fragmented message is still
    /// in progress (§5.4). 1002.
    ExpectedContinuation,
    /// A close frame with a 1-byte payload: there is no room for a code (§5.5.1). 1002.
    CloseFrameTooShort,
    /// A close code that may not appear on the wire (§7.4). 1002.
    InvalidCloseCode(u16),
    /// A text message or close reason that is not valid UTF-8 (§8.1). 1007.
    InvalidUtf8,
    /// A frame longer than the configured maximum. 1009.
    FrameTooLarge {
        /// The frame's declared payload length.
        len: u64,
        /// The configured maximum.
        max: usize,
    },
    /// A message longer than the configured maximum. 1009.
    MessageTooLarge {
        /// Bytes the message would have with this frame.
        len: u64,
        /// The configured maximum.
        max: usize,
    },
    /// A compressed message (permessage-deflate, RFC 7692) whose data is
    /// not valid DEFLATE: the payload cannot be what the sender meant. 1007.
    BadCompressedData(InflateError),
    /// A message needed more of the server's budget for unfinished
    /// messages ([`crate::budget::MessageBudget`]) than was left. Not the
    /// peer's fault: 1013, try again later.
    BudgetSpent {
        /// Bytes the message had reached.
        len: usize,
    },
}

impl ProtocolError {
    /// The close code that reports this violation to the peer.
    pub fn close_code(&self) -> CloseCode {
        match self {
            ProtocolError::InvalidUtf8 | ProtocolError::BadCompressedData(_) => CloseCode::INVALID_PAYLOAD,
            ProtocolError::FrameTooLarge { .. } | ProtocolError::MessageTooLarge { .. } => CloseCode::TOO_BIG,
            ProtocolError::BudgetSpent { .. } => CloseCode::TRY_AGAIN_LATER,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::ReservedBits(r) => write!(f, "reserved bits set ({r:03b}) without an extension"),
            ProtocolError::ReservedOpcode(op) => write!(f, "reserved opcode 0x{op:X}"),
            ProtocolError::LengthHighBitSet => f.write_str("64-bit payload length with its top bit set"),
            ProtocolError::UnmaskedClientFrame => f.write_str("client frame not masked"),
            ProtocolError::MaskedServerFrame => f.write_str("server frame masked"),
            ProtocolError::ControlFrameTooLong(n) => write!(f, "control frame of {n} bytes (max 125)"),
            ProtocolError::FragmentedControlFrame => f.write_str("fragmented control frame"),
            ProtocolError::UnexpectedContinuation => f.write_str("continuation frame with no message to continue"),
            ProtocolError::ExpectedContinuation => f.write_str("new data frame inside a fragmented message"),
            ProtocolError::CloseFrameTooShort => f.write_str("close frame with a 1-byte payload"),
            ProtocolError::InvalidCloseCode(c) => write!(f, "invalid close code {c}"),
            ProtocolError::InvalidUtf8 => f.write_str("invalid UTF-8 in text"),
            ProtocolError::FrameTooLarge { len, max } => write!(f, "frame of {len} bytes exceeds the {max}-byte limit"),
            ProtocolError::MessageTooLarge { len, max } => {
                write!(f, "message of {len}+ bytes exceeds the {max}-byte limit")
            }
            ProtocolError::BadCompressedData(e) => write!(f, "compressed message that cannot be inflated: {e}"),
            ProtocolError::BudgetSpent { len } => write!(
                f,
                "the server's budget for unfinished messages is spent (this one had {len} bytes): try again later"
            ),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// What a WebSocket call can fail with.
#[derive(Debug)]
pub enum Error {
    /// The connection is closed: the closing handshake finished, or the
    /// connection was failed earlier. Reading or writing again gives this;
    /// it is the normal end of a connection, not a fault.
    ConnectionClosed,
    /// The peer closed TCP without a close frame (what browsers report as
    /// code 1006, "abnormal closure").
    AbnormalClosure,
    /// We already sent a close frame: no more messages may be sent (§5.5.1).
    AlreadyClosing,
    /// The peer violated the protocol; a close frame with
    /// [`ProtocolError::close_code`] was sent and the connection failed.
    Protocol(ProtocolError),
    /// The opening handshake failed.
    Handshake(HandshakeError),
    /// A message we were asked to send breaks a rule (for example a ping
    /// payload over 125 bytes, or a close code that may not be sent).
    InvalidMessage(&'static str),
    /// A write made no progress for the socket's write timeout: the peer
    /// stopped reading (or the network to it is gone). Part of a frame may
    /// have left, so the connection was closed. Unlike a read timeout
    /// ([`Error::is_timeout`]), there is nothing to resume.
    WriteTimeout,
    /// The socket failed (read timeout, reset...).
    Io(io::Error),
}

impl Error {
    /// Whether this is a read timeout (the socket's read timeout expired
    /// with nothing, or not enough, received). The connection is intact:
    /// reading again continues where it stopped. A write that times out is
    /// [`Error::WriteTimeout`] instead, and is not one of these.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Io(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ConnectionClosed => f.write_str("the WebSocket connection is closed"),
            Error::AbnormalClosure => f.write_str("the peer closed the TCP connection without a close frame (1006)"),
            Error::AlreadyClosing => f.write_str("a close frame was already sent; nothing more may be sent"),
            Error::Protocol(e) => write!(
                f,
                "protocol violation by the peer: {e} (closed with {})",
                e.close_code()
            ),
            Error::Handshake(e) => write!(f, "handshake failed: {e}"),
            Error::InvalidMessage(why) => write!(f, "cannot send: {why}"),
            Error::WriteTimeout => f.write_str("a write timed out: the peer is not reading; the connection was closed"),
            Error::Io(e) => write!(f, "socket error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Protocol(e) => Some(e),
            Error::Handshake(e) => Some(e),
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}

impl From<HandshakeError> for Error {
    fn from(e: HandshakeError) -> Self {
        Error::Handshake(e)
    }
}

/// Result of a WebSocket call.
pub type Result<T, E = Error> = std::result::Result<T, E>;
