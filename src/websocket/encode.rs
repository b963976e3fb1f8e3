//! Turning messages into bytes on the wire (RFC 6455 §5.2, §5.3).
//!
//! A server's frame is its header, encoded into a 14-byte array on the
//! stack, followed by the caller's payload exactly where it already is: no
//! copy. [`EncodedFrame::write_to`] hands both to the kernel in one
//! vectored write (`writev`): one system call per frame however large,
//! since a blocking socket returns only when its send buffer has taken
//! everything (or its write timeout expired). A client must mask every
//! frame with a fresh key (§5.3), and masking means writing new bytes: its
//! payload is copied once, masked, into a buffer the encoder keeps between
//! frames (one over 256 KiB only until the frame is written: the connection
//! calls [`Encoder::shrink`] after every write). A server's encoder keeps
//! nothing larger than a close frame's payload. What
//! [`super::decode::Decoder`] reads back.

use std::io::{self, IoSlice, Write};

use super::config::Role;
use super::error::{Error, Result};
use super::frame::{apply_mask, FrameHeader, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, RSV1};
use super::message::{CloseFrame, Message};
use crate::random::MaskKeys;

/// The writing half of the protocol: messages in, frames out.
#[derive(Debug)]
pub struct Encoder {
    masks: Option<MaskKeys>,
    buf: Vec<u8>,
}

/// One frame ready to write: its header, and its payload (the caller's
/// bytes for a server, the masked copy for a client). Valid until the
/// encoder's next frame.
#[derive(Clone, Copy, Debug)]
pub struct EncodedFrame<'a> {
    head: [u8; MAX_HEADER_LEN],
    head_len: usize,
    payload: &'a [u8],
}

impl<'a> EncodedFrame<'a> {
    fn new(header: &FrameHeader, payload: &'a [u8]) -> EncodedFrame<'a> {
        let mut head = [0u8; MAX_HEADER_LEN];
        let head_len = header.write_into(&mut head);
        EncodedFrame {
            head,
            head_len,
            payload,
        }
    }

    /// The header's bytes, masking key included.
    pub fn header(&self) -> &[u8] {
        &self.head[..self.head_len]
    }

    /// The payload's bytes as they go on the wire (masked, for a client).
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// Bytes on the wire: header and payload.
    pub fn len(&self) -> usize {
        self.head_len + self.payload.len()
    }

    /// Always false: a frame has at least a 2-byte header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The whole frame in one vector (a copy: for tests and for frames
    /// kept to send later).
    pub fn to_vec(&self) -> Vec<u8> {
        [self.header(), self.payload].concat()
    }

    /// Writes the whole frame: header and payload in one vectored write,
    /// then, if the socket took only part of it (its send buffer was
    /// full), the rest, as many writes as it takes. Returns only when every
    /// byte is written or on an error, after which an unknown part of the
    /// frame may have left.
    pub fn write_to<W: Write>(&self, out: &mut W) -> io::Result<()> {
        let head = self.header();
        let total = self.len();
        let mut written = 0;
        while written < total {
            let result = if written < head.len() {
                out.write_vectored(&[IoSlice::new(&head[written..]), IoSlice::new(self.payload)])
            } else {
                out.write(&self.payload[written - head.len()..])
            };
            match result {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl Encoder {
    /// A client's buffer larger than this is let go after its frame is
    /// written ([`Encoder::shrink`]), or before a frame that does not need it.
    const KEEP_CAPACITY: usize = 256 * 1024;

    /// An encoder for the given side: clients mask, servers do not (§5.1).
    pub fn new(role: Role) -> Encoder {
        Encoder {
            masks: (role == Role::Client).then(MaskKeys::new),
            buf: Vec::new(),
        }
    }

    /// Lets go of a buffer grown past what small frames need (a client's
    /// masked copy of a large message), so an idle connection does not
    /// keep its largest message's worth of memory. A server's encoder
    /// holds no more than a close frame's payload: it writes the caller's
    /// bytes where they are.
    pub fn shrink(&mut self) {
        if self.buf.capacity() > Self::KEEP_CAPACITY {
            self.buf = Vec::new();
        }
    }

    /// Bytes of buffer this encoder holds.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Encodes one frame: its header, and for a client the masked copy of
    /// the payload. A server's payload is not touched.
    pub fn frame<'a>(&'a mut self, fin: bool, opcode: OpCode, payload: &'a [u8]) -> EncodedFrame<'a> {
        self.frame_with_rsv(fin, 0, opcode, payload)
    }

    /// Encodes a whole message compressed with permessage-deflate as one
    /// frame: RSV1 set (RFC 7692 §6), `compressed` the DEFLATE data
    /// without its tail.
    pub fn compressed_frame<'a>(&'a mut self, opcode: OpCode, compressed: &'a [u8]) -> EncodedFrame<'a> {
        self.frame_with_rsv(true, RSV1, opcode, compressed)
    }

    fn frame_with_rsv<'a>(&'a mut self, fin: bool, rsv: u8, opcode: OpCode, payload: &'a [u8]) -> EncodedFrame<'a> {
        let header = self.header(fin, rsv, opcode, payload.len());
        let payload = match header.mask {
            None => payload,
            Some(key) => {
                if self.buf.capacity() > Self::KEEP_CAPACITY && payload.len() < Self::KEEP_CAPACITY {
                    self.buf = Vec::new();
                }
                self.buf.clear();
                self.buf.extend_from_slice(payload);
                apply_mask(&mut self.buf, key, 0);
                &self.buf
            }
        };
        EncodedFrame::new(&header, payload)
    }

    /// Encodes a message as one frame (control frames checked for size,
    /// close codes for validity).
    pub fn message<'a>(&'a mut self, message: &'a Message) -> Result<EncodedFrame<'a>> {
        let (opcode, payload): (OpCode, &[u8]) = match message {
            Message::Text(s) => (OpCode::Text, s.as_bytes()),
            Message::Binary(b) => (OpCode::Binary, b),
            Message::Ping(b) | Message::Pong(b) if b.len() > MAX_CONTROL_PAYLOAD => {
                return Err(Error::InvalidMessage("control frame payload over 125 bytes"))
            }
            Message::Ping(b) => (OpCode::Ping, b),
            Message::Pong(b) => (OpCode::Pong, b),
            Message::Close(None) => (OpCode::Close, &[]),
            Message::Close(Some(f)) => {
                if !f.code.is_valid_on_wire() {
                    return Err(Error::InvalidMessage(
                        "close code may not be sent (see CloseCode::is_valid_on_wire)",
                    ));
                }
                if f.reason.len() > CloseFrame::MAX_REASON {
                    return Err(Error::InvalidMessage("close reason over 123 bytes"));
                }
                // Built here: the encoder keeps it while the frame is written.
                return Ok(self.owned_frame(OpCode::Close, f.to_payload()));
            }
        };
        Ok(self.frame(true, opcode, payload))
    }

    /// A frame whose payload the encoder owns (a close frame it built).
    fn owned_frame(&mut self, opcode: OpCode, payload: Vec<u8>) -> EncodedFrame<'_> {
        let header = self.header(true, 0, opcode, payload.len());
        self.buf = payload;
        if let Some(key) = header.mask {
            apply_mask(&mut self.buf, key, 0);
        }
        EncodedFrame::new(&header, &self.buf)
    }

    /// The next frame's header, with a fresh masking key for a client.
    fn header(&mut self, fin: bool, rsv: u8, opcode: OpCode, payload_len: usize) -> FrameHeader {
        let header = FrameHeader {
            fin,
            rsv,
            opcode,
            mask: self.masks.as_mut().map(MaskKeys::next_key),
            payload_len: payload_len as u64,
        };
        log::trace!("send {header}");
        header
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::websocket::config::Config;
    use crate::websocket::decode::Decoder;
    use crate::websocket::frame::server_frame;
    use crate::websocket::message::CloseCode;

    #[test]
    fn the_encoder_masks_for_clients_only_and_checks_control_sizes() {
        let mut server = Encoder::new(Role::Server);
        assert_eq!(
            server.message(&Message::text("Hello")).unwrap().to_vec(),
            b"\x81\x05Hello"
        );
        let mut client = Encoder::new(Role::Client);
        let f = client.message(&Message::text("Hello")).unwrap().to_vec();
        assert_eq!(f[1], 0x85);
        assert_ne!(&f[6..], b"Hello");
        assert!(client.message(&Message::Ping(vec![0; 126])).is_err());
        assert!(client
            .message(&Message::Close(Some(CloseFrame::new(CloseCode::ABNORMAL, ""))))
            .is_err());
    }

    /// A socket that takes at most `step` bytes per call, fails every
    /// third call with `Interrupted` (a signal arrived), and counts calls.
    struct Stingy {
        out: Vec<u8>,
        step: usize,
        calls: usize,
    }

    impl Stingy {
        fn new(step: usize) -> Stingy {
            Stingy {
                out: Vec::new(),
                step,
                calls: 0,
            }
        }
    }

    impl Write for Stingy {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }

        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls % 3 == 0 {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let mut taken = 0;
            for buf in bufs {
                let n = buf.len().min(self.step - taken);
                self.out.extend_from_slice(&buf[..n]);
                taken += n;
            }
            Ok(taken)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_server_frame_is_one_vectored_write_of_the_callers_own_bytes() {
        let payload = vec![7u8; 100_000];
        let mut encoder = Encoder::new(Role::Server);
        let frame = encoder.frame(true, OpCode::Binary, &payload);
        assert!(
            std::ptr::eq(frame.payload(), payload.as_slice()),
            "the payload was copied"
        );
        let mut socket = Stingy::new(usize::MAX);
        frame.write_to(&mut socket).unwrap();
        assert_eq!(socket.calls, 1);
        assert_eq!(socket.out, server_frame(OpCode::Binary, &payload));
    }

    #[test]
    fn a_frame_arrives_intact_however_few_bytes_each_write_takes() {
        for (sender, receiver) in [(Role::Server, Role::Client), (Role::Client, Role::Server)] {
            let mut encoder = Encoder::new(sender);
            for len in [0usize, 1, 125, 126, 65_535, 65_536, 70_001] {
                let text: String = (0..len).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
                let message = Message::Text(text);
                for step in [1, 2, 3, 13, 4096, usize::MAX] {
                    if step < 4 && len > 200 {
                        continue; // byte-sized writes of big frames: slow, and nothing new
                    }
                    let mut socket = Stingy::new(step);
                    encoder.message(&message).unwrap().write_to(&mut socket).unwrap();
                    let mut decoder = Decoder::new(receiver, &Config::default(), &[]);
                    let got = decoder.read(&mut socket.out.as_slice());
                    assert_eq!(got.unwrap(), message, "{sender:?}, {len} bytes, {step} per write");
                }
            }
        }
    }

    #[test]
    fn a_socket_that_takes_nothing_fails_the_write_instead_of_spinning() {
        let mut encoder = Encoder::new(Role::Server);
        let frame = encoder.frame(true, OpCode::Text, b"hello");
        let full: &mut [u8] = &mut [];
        let error = frame.write_to(&mut io::Cursor::new(full)).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::WriteZero);
    }
}
