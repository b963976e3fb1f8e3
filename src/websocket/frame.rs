//! The WebSocket frame: the unit that travels on the wire (RFC 6455 §5.2).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! | Masking-key (continued)       |          Payload Data         |
//! +-------------------------------- - - - - - - - - - - - - - - - +
//! ```
//!
//! A header is 2 to 14 bytes: the notes' "2-10 bytes" ("TCP与WebSocket的区别",
//! "WebSocket示例") is right for frames a server sends, and a client
//! frame adds a 4-byte masking key on top (`docs/frames.md`).
//!
//! This module is pure: it parses headers out of byte slices and encodes
//! frames into byte vectors, and never touches a socket.

use std::fmt;

use super::config::Role;
use super::error::ProtocolError;

/// Largest header: 2 fixed bytes, 8 bytes of 64-bit length, 4 bytes of mask.
pub const MAX_HEADER_LEN: usize = 14;

/// Largest payload of a control frame (§5.5): it must fit the 7-bit length.
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// The 4-bit opcode: what the payload is (§5.2, §11.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// 0x0: the next fragment of a message started by a Text or Binary frame.
    Continuation,
    /// 0x1: (the first fragment of) a UTF-8 text message.
    Text,
    /// 0x2: (the first fragment of) a binary message.
    Binary,
    /// 0x8: the closing handshake (§5.5.1).
    Close,
    /// 0x9: a heartbeat request; answered by a Pong (§5.5.2).
    Ping,
    /// 0xA: a heartbeat answer (§5.5.3).
    Pong,
}

impl OpCode {
    /// Decodes the low 4 bits of the first header byte. Opcodes 0x3-0x7 and
    /// 0xB-0xF are reserved: receiving one fails the connection (§5.2).
    pub fn from_u8(v: u8) -> Result<OpCode, ProtocolError> {
        Ok(match v {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            other => return Err(ProtocolError::ReservedOpcode(other)),
        })
    }

    /// The 4-bit wire value.
    pub fn as_u8(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// Control frames (opcode high bit set) manage the connection and may
    /// arrive between the fragments of a message (§5.5).
    pub fn is_control(self) -> bool {
        self.as_u8() & 0x8 != 0
    }
}

impl fmt::Display for OpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A decoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: this is the last fragment of its message.
    pub fin: bool,
    /// RSV1, RSV2, RSV3 as the top three bits of a `u8` (0b100 = RSV1).
    /// Non-zero only when an extension that defines them was negotiated;
    /// wirelab negotiates none.
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, present exactly when the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    /// Payload length in bytes.
    pub payload_len: u64,
}

impl FrameHeader {
    /// Parses a header from the front of `buf`.
    ///
    /// Returns `Ok(None)` if `buf` does not hold a whole header yet, or the
    /// header and its length in bytes. Checks only what the header alone
    /// can break (reserved opcode, the 64-bit length's top bit, control
    /// frame rules); the role and size checks are in [`FrameHeader::check`].
    pub fn parse(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
        let [b0, b1, ..] = *buf else {
            return Ok(None);
        };
        let fin = b0 & 0x80 != 0;
        let rsv = (b0 >> 4) & 0x7;
        let opcode = OpCode::from_u8(b0 & 0x0F)?;
        let masked = b1 & 0x80 != 0;
        let len7 = b1 & 0x7F;
        let ext = match len7 {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let header_len = 2 + ext + if masked { 4 } else { 0 };
        if buf.len() < header_len {
            return Ok(None);
        }
        let payload_len = match ext {
            0 => u64::from(len7),
            2 => u64::from(u16::from_be_bytes([buf[2], buf[3]])),
            _ => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&buf[2..10]);
                let len = u64::from_be_bytes(b);
                // §5.2: "the most significant bit MUST be 0".
                if len >> 63 != 0 {
                    return Err(ProtocolError::LengthHighBitSet);
                }
                len
            }
        };
        let mask = masked.then(|| {
            let k = &buf[2 + ext..6 + ext];
            [k[0], k[1], k[2], k[3]]
        });
        let header = FrameHeader {
            fin,
            rsv,
            opcode,
            mask,
            payload_len,
        };
        if opcode.is_control() {
            // §5.5: "All control frames MUST have a payload length of 125
            // bytes or less and MUST NOT be fragmented."
            if payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(ProtocolError::ControlFrameTooLong(payload_len));
            }
            if !fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
        }
        Ok(Some((header, header_len)))
    }

    /// The checks that depend on who we are and what we accept: no RSV bits
    /// without an extension (§5.2), clients mask and servers do not (§5.1),
    /// and a data frame fits `max_frame` (a control frame's 125-byte cap,
    /// checked by [`FrameHeader::parse`], is the protocol's, whatever the
    /// configured limit).
    pub fn check(&self, receiver: Role, max_frame: usize) -> Result<(), ProtocolError> {
        if self.rsv != 0 {
            return Err(ProtocolError::ReservedBits(self.rsv));
        }
        match (receiver, self.mask.is_some()) {
            // §5.1: "The server MUST close the connection upon receiving a
            // frame that is not masked."
            (Role::Server, false) => return Err(ProtocolError::UnmaskedClientFrame),
            // §5.1: "A client MUST close a connection if it detects a masked frame."
            (Role::Client, true) => return Err(ProtocolError::MaskedServerFrame),
            _ => {}
        }
        if !self.opcode.is_control() && self.payload_len > max_frame as u64 {
            return Err(ProtocolError::FrameTooLarge {
                len: self.payload_len,
                max: max_frame,
            });
        }
        Ok(())
    }

    /// Appends the encoded header to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut bytes = [0u8; MAX_HEADER_LEN];
        let len = self.write_into(&mut bytes);
        out.extend_from_slice(&bytes[..len]);
    }

    /// Encodes the header into the front of `out`, a small array that can
    /// live on the stack, and returns its length: how a frame is sent
    /// without copying its payload next to its header.
    pub fn write_into(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        out[0] = u8::from(self.fin) << 7 | (self.rsv & 0x7) << 4 | self.opcode.as_u8();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        // §5.2: "the minimal number of bytes MUST be used to encode the length".
        let mut len = match self.payload_len {
            n if n <= 125 => {
                out[1] = mask_bit | n as u8;
                2
            }
            n if n <= u64::from(u16::MAX) => {
                out[1] = mask_bit | 126;
                out[2..4].copy_from_slice(&(n as u16).to_be_bytes());
                4
            }
            n => {
                out[1] = mask_bit | 127;
                out[2..10].copy_from_slice(&n.to_be_bytes());
                10
            }
        };
        if let Some(key) = self.mask {
            out[len..len + 4].copy_from_slice(&key);
            len += 4;
        }
        len
    }

    /// Encoded length of this header, 2 to 14 bytes.
    pub fn len(&self) -> usize {
        let ext = match self.payload_len {
            0..=125 => 0,
            126..=0xFFFF => 2,
            _ => 8,
        };
        2 + ext + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Always false: a header is never empty. (Present because `len` is.)
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl fmt::Display for FrameHeader {
    /// The frame's fields as `RUST_LOG=trace` prints them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "FIN={} RSV={:03b} opcode={:?}(0x{:X}) MASK={} len={}",
            u8::from(self.fin),
            self.rsv,
            self.opcode,
            self.opcode.as_u8(),
            u8::from(self.mask.is_some()),
            self.payload_len
        )?;
        if let Some(k) = self.mask {
            write!(f, " key={:02x}{:02x}{:02x}{:02x}", k[0], k[1], k[2], k[3])?;
        }
        Ok(())
    }
}

/// XORs `buf` with the masking key (§5.3), as if `buf` started `offset`
/// bytes into the payload. Masking and unmasking are the same operation.
///
/// Works a machine word (8 bytes) at a time, in safe code: the key is
/// repeated into a `u64` and each 8-byte chunk is XORed with it. The key
/// period (4) divides the word size (8), so every chunk sees the key in the
/// same phase.
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let mut k = key;
    k.rotate_left(offset % 4);
    let word = u64::from_ne_bytes([k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]]);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(b) ^ word).to_ne_bytes());
    }
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= k[i % 4];
    }
}

/// Encodes a whole frame (header + payload, masked when `mask` is given)
/// into `out`, which is cleared first. The result goes to the socket in a
/// single write.
pub fn encode_frame(out: &mut Vec<u8>, fin: bool, opcode: OpCode, payload: &[u8], mask: Option<[u8; 4]>) {
    let header = FrameHeader {
        fin,
        rsv: 0,
        opcode,
        mask,
        payload_len: payload.len() as u64,
    };
    out.clear();
    out.reserve(header.len() + payload.len());
    header.encode(out);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key, 0);
    }
}

/// RSV1 in [`FrameHeader::rsv`]: set on the first frame of a message
/// compressed with permessage-deflate (RFC 7692 §6).
pub const RSV1: u8 = 0b100;

/// A complete unmasked frame as a new vector: what a server sends. Used to
/// encode a broadcast frame once and hand the same bytes to every subscriber.
pub fn server_frame(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&mut out, true, opcode, payload, None);
    out
}

/// A complete unmasked frame of a message compressed with
/// permessage-deflate: RSV1 set, `compressed` the message's DEFLATE data
/// without its `00 00 ff ff` tail (RFC 7692 §7.2.1, what
/// [`crate::deflate::Deflater::compress_message`] writes). Valid only on
/// connections that negotiated the extension with parameters the data
/// respects (a window no larger than the peer allows; no reference to
/// earlier messages, unless this one connection keeps the same context).
pub fn compressed_server_frame(opcode: OpCode, compressed: &[u8]) -> Vec<u8> {
    let header = FrameHeader {
        fin: true,
        rsv: RSV1,
        opcode,
        mask: None,
        payload_len: compressed.len() as u64,
    };
    let mut out = Vec::with_capacity(MAX_HEADER_LEN + compressed.len());
    header.encode(&mut out);
    out.extend_from_slice(compressed);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(buf: &[u8]) -> FrameHeader {
        FrameHeader::parse(buf).unwrap().unwrap().0
    }

    #[test]
    fn rfc_example_unmasked_hello() {
        // §5.7: "A single-frame unmasked text message".
        let h = parse(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert!(h.fin);
        assert_eq!(h.opcode, OpCode::Text);
        assert_eq!(h.payload_len, 5);
        assert_eq!(h.mask, None);
        assert_eq!(
            server_frame(OpCode::Text, b"Hello"),
            [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
        );
    }

    #[test]
    fn a_legal_control_frame_is_never_refused_by_the_data_frame_limit() {
        // A close frame with a 100-byte reason, at a server whose frames
        // are limited to 64 bytes: the limit is for data, not for the
        // closing handshake (found by the fuzzer, tests/fuzz.rs).
        let mut wire = Vec::new();
        encode_frame(&mut wire, true, OpCode::Close, &[b'r'; 100], Some([1, 2, 3, 4]));
        assert_eq!(parse(&wire).check(Role::Server, 64), Ok(()));
        encode_frame(&mut wire, true, OpCode::Binary, &[b'r'; 100], Some([1, 2, 3, 4]));
        assert!(parse(&wire).check(Role::Server, 64).is_err());
    }

    #[test]
    fn rfc_example_masked_hello() {
        // §5.7: "A single-frame masked text message".
        let wire = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
        let (h, n) = FrameHeader::parse(&wire).unwrap().unwrap();
        assert_eq!(n, 6);
        assert_eq!(h.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
        let mut payload = wire[n..].to_vec();
        apply_mask(&mut payload, h.mask.unwrap(), 0);
        assert_eq!(payload, b"Hello");
        let mut out = Vec::new();
        encode_frame(&mut out, true, OpCode::Text, b"Hello", h.mask);
        assert_eq!(out, wire);
    }

    #[test]
    fn rfc_example_lengths_16_and_64_bit() {
        // §5.7: 256 bytes in one unmasked binary frame: 0x82 0x7E 0x0100.
        let f = server_frame(OpCode::Binary, &[0u8; 256]);
        assert_eq!(&f[..4], &[0x82, 0x7E, 0x01, 0x00]);
        // 64 KiB: 0x82 0x7F 0x0000000000010000.
        let f = server_frame(OpCode::Binary, &vec![0u8; 65536]);
        assert_eq!(&f[..10], &[0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(parse(&f).payload_len, 65536);
    }

    #[test]
    fn lengths_use_the_minimal_encoding_at_the_boundaries() {
        for (len, header) in [(125usize, 2usize), (126, 4), (65535, 4), (65536, 10)] {
            let f = server_frame(OpCode::Binary, &vec![7u8; len]);
            assert_eq!(f.len(), header + len, "payload {len}");
            let (h, n) = FrameHeader::parse(&f).unwrap().unwrap();
            assert_eq!((h.payload_len, n), (len as u64, header));
        }
    }

    #[test]
    fn client_headers_carry_4_more_bytes_so_they_range_from_6_to_14() {
        for (len, server, client) in [(5usize, 2usize, 6usize), (126, 4, 8), (65536, 10, 14)] {
            let mut out = Vec::new();
            encode_frame(&mut out, true, OpCode::Binary, &vec![0u8; len], None);
            assert_eq!(out.len() - len, server);
            encode_frame(&mut out, true, OpCode::Binary, &vec![0u8; len], Some([1, 2, 3, 4]));
            assert_eq!(out.len() - len, client);
        }
        assert_eq!(client_max(), MAX_HEADER_LEN);
    }

    fn client_max() -> usize {
        FrameHeader {
            fin: true,
            rsv: 0,
            opcode: OpCode::Binary,
            mask: Some([0; 4]),
            payload_len: u64::MAX >> 1,
        }
        .len()
    }

    #[test]
    fn incomplete_headers_ask_for_more() {
        let wire = [0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4];
        for cut in 0..wire.len() {
            assert_eq!(FrameHeader::parse(&wire[..cut]), Ok(None), "cut at {cut}");
        }
        assert!(FrameHeader::parse(&wire).unwrap().is_some());
    }

    #[test]
    fn reserved_opcodes_are_rejected() {
        for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            assert_eq!(
                FrameHeader::parse(&[0x80 | op, 0x80]),
                Err(ProtocolError::ReservedOpcode(op))
            );
        }
    }

    #[test]
    fn control_frames_must_be_short_and_unfragmented() {
        assert_eq!(
            FrameHeader::parse(&[0x89, 0x7E, 0x00, 0x7E]),
            Err(ProtocolError::ControlFrameTooLong(126))
        );
        assert_eq!(
            FrameHeader::parse(&[0x09, 0x00]),
            Err(ProtocolError::FragmentedControlFrame)
        );
    }

    #[test]
    fn a_length_with_the_top_bit_set_is_rejected() {
        let wire = [0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(FrameHeader::parse(&wire), Err(ProtocolError::LengthHighBitSet));
    }

    #[test]
    fn role_checks() {
        let masked = parse(&[0x81, 0x80, 1, 2, 3, 4]);
        let unmasked = parse(&[0x81, 0x00]);
        assert_eq!(masked.check(Role::Server, 10), Ok(()));
        assert_eq!(
            unmasked.check(Role::Server, 10),
            Err(ProtocolError::UnmaskedClientFrame)
        );
        assert_eq!(masked.check(Role::Client, 10), Err(ProtocolError::MaskedServerFrame));
        assert_eq!(unmasked.check(Role::Client, 10), Ok(()));
        let rsv = parse(&[0xC1, 0x80, 1, 2, 3, 4]);
        assert_eq!(rsv.check(Role::Server, 10), Err(ProtocolError::ReservedBits(0b100)));
        let big = parse(&[0x82, 0xFF, 0, 0, 0, 0x40, 0, 0, 0, 0, 1, 2, 3, 4]);
        assert!(matches!(
            big.check(Role::Server, 1 << 20),
            Err(ProtocolError::FrameTooLarge { .. })
        ));
    }

    #[test]
    fn word_masking_equals_bytewise_masking_at_every_offset_and_length() {
        let key = [0x12, 0x34, 0x56, 0x78];
        for len in 0..40 {
            for offset in 0..8 {
                let original: Vec<u8> = (0..len as u8).map(|b| b.wrapping_mul(31)).collect();
                let mut fast = original.clone();
                apply_mask(&mut fast, key, offset);
                let slow: Vec<u8> = original
                    .iter()
                    .enumerate()
                    .map(|(i, b)| b ^ key[(i + offset) % 4])
                    .collect();
                assert_eq!(fast, slow, "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn masking_in_pieces_equals_masking_at_once() {
        let key = [9, 8, 7, 6];
        let data: Vec<u8> = (0..100u8).collect();
        let mut whole = data.clone();
        apply_mask(&mut whole, key, 0);
        let mut pieces = data.clone();
        let (a, rest) = pieces.split_at_mut(3);
        let (b, c) = rest.split_at_mut(50);
        apply_mask(a, key, 0);
        apply_mask(b, key, 3);
        apply_mask(c, key, 53);
        assert_eq!(pieces, whole);
    }

    #[test]
    fn header_display_shows_every_field() {
        let h = parse(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!(
            h.to_string(),
            "FIN=1 RSV=000 opcode=Text(0x1) MASK=1 len=5 key=37fa213d"
        );
    }
}
