//! Turning messages into bytes: header and payload into one buffer,
//! masked with a fresh key per frame when the sender is a client (§5.3).
//! What [`super::decode::Decoder`] reads back.

use super::config::Role;
use super::error::{Error, Result};
use super::frame::{encode_frame, FrameHeader, OpCode, MAX_CONTROL_PAYLOAD};
use super::message::{CloseFrame, Message};
use crate::random::MaskKeys;

/// The writing half of the protocol: messages in, frame bytes out.
#[derive(Debug)]
pub struct Encoder {
    masks: Option<MaskKeys>,
    buf: Vec<u8>,
}

impl Encoder {
    /// Keep at most this much buffer capacity between frames.
    const KEEP_CAPACITY: usize = 256 * 1024;

    /// An encoder for the given side: clients mask, servers do not (§5.1).
    pub fn new(role: Role) -> Encoder {
        Encoder {
            masks: (role == Role::Client).then(MaskKeys::new),
            buf: Vec::new(),
        }
    }

    /// Lets go of a buffer grown past what small frames need (after a large
    /// message), so an idle connection does not keep its largest message's
    /// worth of memory.
    pub fn shrink(&mut self) {
        if self.buf.capacity() > Self::KEEP_CAPACITY {
            self.buf = Vec::new();
        }
    }

    /// Bytes of buffer this encoder holds.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Encodes one frame and returns its bytes, valid until the next call.
    pub fn frame(&mut self, fin: bool, opcode: OpCode, payload: &[u8]) -> &[u8] {
        if self.buf.capacity() > Self::KEEP_CAPACITY && payload.len() < Self::KEEP_CAPACITY {
            self.buf = Vec::new();
        }
        let mask = self.masks.as_mut().map(MaskKeys::next_key);
        encode_frame(&mut self.buf, fin, opcode, payload, mask);
        if log::log_enabled!(log::Level::Trace) {
            if let Ok(Some((h, _))) = FrameHeader::parse(&self.buf) {
                log::trace!("send {h}");
            }
        }
        &self.buf
    }

    /// Encodes a message as one frame (control frames checked for size,
    /// close codes for validity).
    pub fn message(&mut self, message: &Message) -> Result<&[u8]> {
        let (opcode, payload): (OpCode, std::borrow::Cow<'_, [u8]>) = match message {
            Message::Text(s) => (OpCode::Text, s.as_bytes().into()),
            Message::Binary(b) => (OpCode::Binary, b.as_slice().into()),
            Message::Ping(b) | Message::Pong(b) if b.len() > MAX_CONTROL_PAYLOAD => {
                return Err(Error::InvalidMessage("control frame payload over 125 bytes"))
            }
            Message::Ping(b) => (OpCode::Ping, b.as_slice().into()),
            Message::Pong(b) => (OpCode::Pong, b.as_slice().into()),
            Message::Close(None) => (OpCode::Close, Vec::new().into()),
            Message::Close(Some(f)) => {
                if !f.code.is_valid_on_wire() {
                    return Err(Error::InvalidMessage(
                        "close code may not be sent (see CloseCode::is_valid_on_wire)",
                    ));
                }
                if f.reason.len() > CloseFrame::MAX_REASON {
                    return Err(Error::InvalidMessage("close reason over 123 bytes"));
                }
                (OpCode::Close, f.to_payload().into())
            }
        };
        Ok(self.frame(true, opcode, &payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::websocket::message::CloseCode;

    #[test]
    fn the_encoder_masks_for_clients_only_and_checks_control_sizes() {
        let mut server = Encoder::new(Role::Server);
        assert_eq!(server.message(&Message::text("Hello")).unwrap(), b"\x81\x05Hello");
        let mut client = Encoder::new(Role::Client);
        let f = client.message(&Message::text("Hello")).unwrap().to_vec();
        assert_eq!(f[1], 0x85);
        assert_ne!(&f[6..], b"Hello");
        assert!(client.message(&Message::Ping(vec![0; 126])).is_err());
        assert!(client
            .message(&Message::Close(Some(CloseFrame::new(CloseCode::ABNORMAL, ""))))
            .is_err());
    }
}
