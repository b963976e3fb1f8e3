//! Turning bytes into messages, over any [`Read`]: a byte slice in the
//! tests, a `TcpStream` in the connection.
//!
//! [`Decoder`] is the reading state machine. It reads a frame header,
//! checks every rule a header can break *before* reading the payload (so a
//! 1 GiB length field costs nothing), then reads the payload piece by piece
//! as it arrives, unmasking and, for text, validating UTF-8 on each piece.
//! Fragments are joined into one message; control frames in between are
//! returned as they come (§5.4). Its state lives in the struct, so a read
//! timeout in the middle of a frame loses nothing: calling again resumes.
//!
//! Its counterpart, writing frames, is [`super::encode::Encoder`].

use std::io::{self, Read};

use super::close::parse_close;
use super::config::{Config, Role};
use super::error::{Error, ProtocolError, Result};
use super::extension::DeflateParams;
use super::frame::{apply_mask, FrameHeader, OpCode, MAX_HEADER_LEN, RSV1};
use super::message::Message;
use super::utf8::Utf8Validator;
use crate::budget::MessageBudget;
use crate::deflate::Inflater;

/// Size of the read buffer that frame headers (and small frames) go through.
const READ_BUFFER: usize = 16 * 1024;

/// Most payload bytes one read asks for, straight into a large message: the
/// room zeroed for them at once, small enough to stay in cache until filled.
/// Never more than the message holds already, or than it takes to fill
/// [`MessageBudget::FREE`] (which any message may hold): a message never
/// holds more than twice the bytes that arrived, or `FREE`.
const READ_CHUNK: usize = 256 * 1024;

/// The reading half of the protocol: bytes in, [`Message`]s out.
#[derive(Debug)]
pub struct Decoder {
    role: Role,
    max_frame: usize,
    max_message: usize,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    frame: Option<InFrame>,
    message: Option<Partial>,
    control: Vec<u8>,
    /// Wire cost of the data message being assembled, and of the last one.
    current: WireStats,
    last: WireStats,
    /// The server's budget for unfinished messages, and what the message
    /// being assembled has taken from it.
    budget: Option<MessageBudget>,
    taken: usize,
    /// With permessage-deflate: the peer's messages with RSV1 set on their
    /// first frame are inflated (RFC 7692 §6.2).
    inflater: Option<Inflater>,
}

/// What a message cost on the wire: its frames, their headers, its payload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WireStats {
    /// Frames the message arrived in (1 unless fragmented).
    pub frames: usize,
    /// Bytes of frame headers, masking keys included.
    pub header_bytes: usize,
    /// Bytes of payload, as on the wire (compressed, if `compressed`).
    pub payload_bytes: usize,
    /// Whether the message was compressed (RSV1 on its first frame, RFC
    /// 7692 §6); its length after inflating is the message's length.
    pub compressed: bool,
}

/// The frame whose payload is being read.
#[derive(Debug)]
struct InFrame {
    header: FrameHeader,
    received: u64,
    /// Zeroed bytes at the end of the message, for the next payload bytes.
    room: usize,
}

/// A data message being assembled from fragments; text when `utf8` is set.
#[derive(Debug)]
struct Partial {
    payload: Vec<u8>,
    utf8: Option<Utf8Validator>,
    /// Compressed: `payload` is DEFLATE data, checked once inflated.
    compressed: bool,
    /// A text message (its first frame's opcode).
    text: bool,
}

impl Decoder {
    /// A receiver for the given side of the connection. `leftover` holds
    /// bytes already read from the socket past the handshake.
    pub fn new(role: Role, config: &Config, leftover: &[u8]) -> Decoder {
        let mut buf = vec![0u8; READ_BUFFER.max(leftover.len())];
        buf[..leftover.len()].copy_from_slice(leftover);
        Decoder {
            role,
            max_frame: config.max_frame_size,
            max_message: config.max_message_size,
            buf,
            start: 0,
            end: leftover.len(),
            frame: None,
            message: None,
            control: Vec::new(),
            current: WireStats::default(),
            last: WireStats::default(),
            budget: config.budget.clone(),
            taken: 0,
            inflater: None,
        }
    }

    /// Accepts compressed messages from the peer as negotiated (RFC 7692
    /// §7.1): a window of the peer's size, kept between messages unless
    /// the peer compresses without context takeover.
    pub fn set_deflate(&mut self, params: &DeflateParams) {
        let peer_is_server = self.role == Role::Client;
        self.inflater = Some(Inflater::new(
            params.inflate_window(peer_is_server),
            !params.no_context_takeover(peer_is_server),
        ));
    }

    /// Bytes the inflater keeps between messages (its window of history).
    pub fn inflater_memory(&self) -> usize {
        self.inflater.as_ref().map_or(0, Inflater::memory)
    }

    /// Whether a data message is half received (some of its frames are in,
    /// not the last one).
    pub fn in_message(&self) -> bool {
        self.message.is_some()
    }

    /// Pays for `more` bytes about to be placed at the end of the message
    /// being assembled (`held` bytes there already, received or zeroed for
    /// a read): whatever the message holds beyond [`MessageBudget::FREE`]
    /// is taken from the budget first. Fails, taking nothing, if the budget
    /// cannot pay. Room reserved but not yet written is address space, not
    /// memory (its pages become memory as bytes land in them, or are
    /// zeroed for a read), so it is not charged: a frame's header alone
    /// takes nothing from the budget, however long the frame it announces.
    fn pay_for(&mut self, held: usize, more: usize, received: usize) -> Result<()> {
        let Some(budget) = &self.budget else {
            return Ok(());
        };
        let owed = (held + more).saturating_sub(MessageBudget::FREE);
        if owed > self.taken {
            if !budget.try_take(owed - self.taken) {
                return Err(ProtocolError::BudgetSpent { len: received }.into());
            }
            self.taken = owed;
        }
        Ok(())
    }

    /// The message is complete or abandoned: its bytes go back to the budget.
    fn settle_budget(&mut self) {
        if let Some(budget) = &self.budget {
            budget.give_back(std::mem::take(&mut self.taken));
        }
    }

    /// The wire cost of the last complete data message returned by
    /// [`Decoder::read`]: as measured while reading it.
    pub fn last_message_wire(&self) -> WireStats {
        self.last
    }

    /// Reads until a whole message or control frame is in.
    ///
    /// Errors: [`Error::Protocol`] for a violation (the caller sends the
    /// close code and fails the connection), [`Error::AbnormalClosure`] when
    /// the stream ends without a close frame, [`Error::Io`] for socket
    /// errors, after which, if it was a timeout, calling again resumes.
    pub fn read<R: Read>(&mut self, stream: &mut R) -> Result<Message> {
        loop {
            if self.frame.is_none() {
                match FrameHeader::parse(&self.buf[self.start..self.end])? {
                    Some((header, len)) => {
                        self.start += len;
                        self.begin_frame(header)?;
                        if !header.opcode.is_control() {
                            if header.opcode != OpCode::Continuation {
                                self.current = WireStats {
                                    compressed: header.rsv & RSV1 != 0,
                                    ..WireStats::default()
                                };
                            }
                            self.current.frames += 1;
                            self.current.header_bytes += len;
                            self.current.payload_bytes += header.payload_len as usize;
                        }
                    }
                    None => {
                        self.fill(stream)?;
                        continue;
                    }
                }
            }
            self.read_payload(stream)?;
            let frame = self.frame.take().expect("a frame in progress").header;
            if let Some(message) = self.end_frame(frame)? {
                return Ok(message);
            }
        }
    }

    /// Bytes received but not yet consumed (for tests and diagnostics).
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Validates a new header against the rules and the message in progress.
    fn begin_frame(&mut self, header: FrameHeader) -> Result<()> {
        log::trace!("recv {header}");
        // RSV1 marks the first frame of a compressed message, once
        // permessage-deflate is agreed (RFC 7692 §6); anywhere else, on a
        // continuation or a control frame, it is a violation (§6.1).
        let compressed =
            self.inflater.is_some() && header.rsv & RSV1 != 0 && matches!(header.opcode, OpCode::Text | OpCode::Binary);
        let checked = FrameHeader {
            rsv: if compressed { header.rsv & !RSV1 } else { header.rsv },
            ..header
        };
        // Compressed data may be a little longer than what it inflates to
        // (incompressible input): its frames get that much slack, while
        // the inflated message is held to the limit itself.
        let in_compressed = compressed || self.message.as_ref().is_some_and(|m| m.compressed);
        let slack = |limit: usize| match in_compressed {
            true => limit.saturating_add(limit / 32 + 1024),
            false => limit,
        };
        checked.check(self.role, slack(self.max_frame))?;
        let max_message = slack(self.max_message);
        match header.opcode {
            OpCode::Continuation => {
                let Some(partial) = &mut self.message else {
                    return Err(ProtocolError::UnexpectedContinuation.into());
                };
                let total = partial.payload.len() as u64 + header.payload_len;
                if total > max_message as u64 {
                    return Err(ProtocolError::MessageTooLarge {
                        len: total,
                        max: self.max_message,
                    }
                    .into());
                }
            }
            OpCode::Text | OpCode::Binary => {
                if self.message.is_some() {
                    return Err(ProtocolError::ExpectedContinuation.into());
                }
                if header.payload_len > max_message as u64 {
                    return Err(ProtocolError::MessageTooLarge {
                        len: header.payload_len,
                        max: self.max_message,
                    }
                    .into());
                }
                self.message = Some(Partial {
                    payload: Vec::new(),
                    utf8: (header.opcode == OpCode::Text && !compressed).then(Utf8Validator::new),
                    compressed,
                    text: header.opcode == OpCode::Text,
                });
            }
            OpCode::Close | OpCode::Ping | OpCode::Pong => self.control.clear(),
        }
        self.frame = Some(InFrame {
            header,
            received: 0,
            room: 0,
        });
        Ok(())
    }

    /// Reads the current frame's payload to its end, unmasking and
    /// validating each piece as it arrives.
    fn read_payload<R: Read>(&mut self, stream: &mut R) -> Result<()> {
        let is_control = self
            .frame
            .as_ref()
            .expect("a frame in progress")
            .header
            .opcode
            .is_control();
        loop {
            let frame = self.frame.as_ref().expect("a frame in progress");
            if frame.received >= frame.header.payload_len {
                return Ok(());
            }
            // At most the frame's length, which the limits capped at a usize.
            let remaining = usize::try_from(frame.header.payload_len - frame.received).unwrap_or(usize::MAX);
            let room = frame.room;
            // What this step adds to the message: payload bytes already in
            // the read buffer, or, for a big payload, a chunk of zeroed room
            // to read straight into (none while the last chunk has room left).
            let more = if self.start < self.end {
                (self.end - self.start).min(remaining)
            } else if room > 0 {
                0
            } else if remaining >= READ_BUFFER {
                let held = self.message.as_ref().map_or(0, |m| m.payload.len());
                let ahead = held.max(MessageBudget::FREE.saturating_sub(held));
                READ_CHUNK.min(remaining).min(ahead)
            } else {
                // A small remainder: read into the buffer, which may also
                // pick up the next frames in the same system call.
                let n = read_some(stream, &mut self.buf)?;
                self.start = 0;
                self.end = n;
                continue;
            };
            if !is_control {
                let held = self.message.as_ref().map_or(0, |m| m.payload.len());
                self.pay_for(held, more, held - room)?;
            }
            let frame = self.frame.as_mut().expect("a frame in progress");
            let (dest, utf8) = if is_control {
                (&mut self.control, None)
            } else {
                let partial = self.message.as_mut().expect("a message in progress");
                (&mut partial.payload, partial.utf8.as_mut())
            };
            // Bytes of this frame that have no place in the message yet.
            let unplaced = remaining - room;
            if remaining >= READ_BUFFER && dest.capacity() - dest.len() < unplaced {
                // Room for the rest of a big frame, reserved once: the message
                // never moves (a copy) to grow. The limits capped the length,
                // and pages become memory only as bytes land in them (without
                // the address space, the message grows as bytes arrive).
                let _ = dest.try_reserve(unplaced);
            }
            let at = dest.len() - room;
            let n = if self.start < self.end {
                // Payload bytes already in the read buffer.
                dest.extend_from_slice(&self.buf[self.start..self.start + more]);
                self.start += more;
                more
            } else {
                // A big payload: read straight into the message. Safe Rust
                // hands the kernel only initialized memory, so the room is
                // zeroed a chunk at a time and kept until filled: every byte
                // is zeroed once, in a chunk small enough to stay in cache.
                if room == 0 {
                    frame.room = more;
                    dest.resize(dest.len() + more, 0);
                }
                let n = read_some(stream, &mut dest[at..])?;
                frame.room -= n;
                n
            };
            let piece = &mut dest[at..at + n];
            if let Some(key) = frame.header.mask {
                // received < payload_len <= max_frame (a usize), so this fits.
                apply_mask(piece, key, frame.received as usize);
            }
            if let Some(v) = utf8 {
                v.feed(piece).map_err(|_| ProtocolError::InvalidUtf8)?;
            }
            frame.received += n as u64;
        }
    }

    /// Handles a frame whose payload is complete. Returns a message when
    /// one is ready for the application.
    fn end_frame(&mut self, header: FrameHeader) -> Result<Option<Message>> {
        match header.opcode {
            OpCode::Ping => Ok(Some(Message::Ping(std::mem::take(&mut self.control)))),
            OpCode::Pong => Ok(Some(Message::Pong(std::mem::take(&mut self.control)))),
            OpCode::Close => Ok(Some(Message::Close(parse_close(&self.control)?))),
            OpCode::Text | OpCode::Binary | OpCode::Continuation => {
                if !header.fin {
                    return Ok(None);
                }
                let partial = self.message.take().expect("a message in progress");
                self.settle_budget();
                self.last = self.current;
                if partial.compressed {
                    return self.inflate(partial).map(Some);
                }
                Ok(Some(match partial.utf8 {
                    Some(v) => {
                        v.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
                        Message::Text(String::from_utf8(partial.payload).map_err(|_| ProtocolError::InvalidUtf8)?)
                    }
                    None => Message::Binary(partial.payload),
                }))
            }
        }
    }

    /// Inflates a compressed message (RFC 7692 §7.2.2): its output bounded
    /// by the message limit, so a small bomb is refused with 1009 before
    /// more than the limit is allocated; invalid data fails with 1007, as
    /// does text that is not UTF-8 once inflated.
    fn inflate(&mut self, partial: Partial) -> Result<Message> {
        // While it grows, the inflated message is held like an unfinished
        // one: beyond MessageBudget::FREE, every byte is taken from the
        // server's budget as it appears (1013 when the budget is spent), so
        // many small bombs at once cannot hold more than the budget between
        // them. The bytes go back once the message is complete.
        let inflater = self.inflater.as_mut().expect("compressed only when negotiated");
        let max = self.max_message;
        let mut out = Vec::new();
        let (mut taken, mut refused) = (0, false);
        let result = match &self.budget {
            Some(budget) => {
                let mut grant = |n: usize| {
                    let ok = budget.try_take(n);
                    taken += if ok { n } else { 0 };
                    refused |= !ok;
                    ok
                };
                inflater.inflate_message_granted(&partial.payload, &mut out, max, MessageBudget::FREE, &mut grant)
            }
            None => inflater.inflate_message(&partial.payload, &mut out, max),
        };
        if let Some(budget) = &self.budget {
            budget.give_back(taken);
        }
        result.map_err(|e| match (e.is_too_large(), refused) {
            (true, true) => ProtocolError::BudgetSpent { len: out.len() },
            (true, false) => ProtocolError::MessageTooLarge {
                len: max as u64 + 1,
                max,
            },
            (false, _) => ProtocolError::BadCompressedData(e),
        })?;
        Ok(if partial.text {
            Message::Text(String::from_utf8(out).map_err(|_| ProtocolError::InvalidUtf8)?)
        } else {
            Message::Binary(out)
        })
    }

    /// Reads more bytes into the buffer, after the unconsumed ones.
    fn fill<R: Read>(&mut self, stream: &mut R) -> Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        debug_assert!(self.buf.len() - self.end >= MAX_HEADER_LEN);
        let n = read_some(stream, &mut self.buf[self.end..])?;
        self.end += n;
        Ok(())
    }
}

/// A connection that ends in the middle of a message gives its share of
/// the budget back.
impl Drop for Decoder {
    fn drop(&mut self) {
        self.settle_budget();
    }
}

/// One `read` that treats end of stream as [`Error::AbnormalClosure`]: a
/// WebSocket connection must end with a close frame, so running out of
/// bytes where a frame (or its rest) should be is never normal.
fn read_some<R: Read>(stream: &mut R, buf: &mut [u8]) -> Result<usize> {
    loop {
        match stream.read(buf) {
            Ok(0) => return Err(Error::AbnormalClosure),
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::Io(e)),
        }
    }
}
