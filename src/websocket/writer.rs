//! The sending half of a connection: [`Writer`], cloneable, every clone
//! writing whole frames on the same socket behind one mutex, together with
//! the closing handshake's state ([`super::close`]); and [`EncodedWriter`],
//! sole use of that side for code that writes pre-encoded frames itself
//! (the broadcast hub). The receiving half is [`super::conn::Reader`].

use std::io::{ErrorKind, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::close::{Closing, Reaction};
use super::config::Role;
use super::encode::Encoder;
use super::error::{Error, Result};
use super::extension::{Compression, DeflateParams};
use super::frame::{FrameHeader, OpCode};
use super::message::{CloseFrame, Message};
use crate::deflate::{DeflateConfig, Deflater};

#[derive(Debug)]
pub(super) struct WriteSide {
    pub(super) stream: Arc<TcpStream>,
    pub(super) encoder: Encoder,
    pub(super) closing: Closing,
    /// The end of a frame that an [`EncodedWriter`] write cut short: it is
    /// written before anything else, so frames never interleave.
    pub(super) unfinished: Vec<u8>,
    /// With permessage-deflate: how outgoing messages are compressed.
    pub(super) deflate: Option<Outgoing>,
    /// The last data message sent: its length, and its payload on the wire.
    last_sent: SentSizes,
}

/// Sizes of the last data message sent (see [`Writer::last_sent`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SentSizes {
    /// Bytes of the message as the application gave it.
    pub message_bytes: usize,
    /// Bytes of frame payload on the wire: fewer if it was compressed.
    pub payload_bytes: usize,
    /// Whether it was sent compressed (RSV1 set).
    pub compressed: bool,
}

/// The compressing side of permessage-deflate (RFC 7692 §7.2.1).
#[derive(Debug)]
pub(super) struct Outgoing {
    pub(super) deflater: Deflater,
    threshold: usize,
    /// The last compressed message; let go when large, like the encoder's.
    buf: Vec<u8>,
}

impl Outgoing {
    /// A compressed-message buffer larger than this is let go once sent.
    const KEEP_CAPACITY: usize = 4 * 1024;

    /// The compressor for our direction of the connection, as negotiated.
    fn new(role: Role, params: &DeflateParams, options: &Compression) -> Outgoing {
        let we_are_server = role == Role::Server;
        Outgoing {
            deflater: Deflater::new(DeflateConfig {
                window_bits: params.max_window_bits(we_are_server),
                level: options.level,
                context_takeover: !params.no_context_takeover(we_are_server),
            }),
            threshold: options.threshold,
            buf: Vec::new(),
        }
    }
}

impl WriteSide {
    pub(super) fn write_frame(&mut self, fin: bool, opcode: OpCode, payload: &[u8]) -> Result<()> {
        self.finish_frame()?;
        let result = self.encoder.frame(fin, opcode, payload).write_to(&mut &*self.stream);
        self.after_write(result)
    }

    fn after_write(&mut self, result: std::io::Result<()>) -> Result<()> {
        // An idle connection must not keep the buffer of its largest message.
        self.encoder.shrink();
        if let Err(e) = result {
            // Part of a frame may have left: the stream can no longer be
            // trusted to be at a frame boundary. Give up on the connection.
            self.closing.broken();
            let _ = self.stream.shutdown(Shutdown::Both);
            // A write timeout must not look like a read timeout, which
            // callers treat as "still connected, read again".
            return Err(match e.kind() {
                ErrorKind::WouldBlock | ErrorKind::TimedOut => Error::WriteTimeout,
                _ => Error::Io(e),
            });
        }
        Ok(())
    }

    /// Writes the end of a frame cut short by an [`EncodedWriter`], if
    /// any, so that the next frame starts where the peer expects a header.
    fn finish_frame(&mut self) -> Result<()> {
        if self.unfinished.is_empty() {
            return Ok(());
        }
        let rest = std::mem::take(&mut self.unfinished);
        let result = (&*self.stream).write_all(&rest);
        self.after_write(result)
    }

    /// Writes the close frame a [`Reaction`] calls for, if any.
    pub(super) fn send_close(&mut self, reaction: &Reaction) {
        if let Some(payload) = &reaction.send {
            let _ = self.write_frame(true, OpCode::Close, payload);
        }
    }
}

/// The sending half. Cheap to clone; every clone sends on the same
/// connection, one whole frame at a time.
#[derive(Clone, Debug)]
pub struct Writer {
    side: Arc<Mutex<WriteSide>>,
    role: Role,
    /// The socket, reachable outside the mutex, so [`Writer::abort`] works
    /// even while another thread is blocked writing.
    socket: Arc<TcpStream>,
    /// What permessage-deflate negotiated, if anything.
    deflate: Option<DeflateParams>,
}

impl Writer {
    /// The sending side of a fresh connection on `stream`.
    pub(super) fn new(stream: &Arc<TcpStream>, role: Role, deflate: Option<(&DeflateParams, &Compression)>) -> Writer {
        Writer {
            socket: Arc::clone(stream),
            side: Arc::new(Mutex::new(WriteSide {
                stream: Arc::clone(stream),
                encoder: Encoder::new(role),
                closing: Closing::new(role),
                unfinished: Vec::new(),
                deflate: deflate.map(|(params, options)| Outgoing::new(role, params, options)),
                last_sent: SentSizes::default(),
            })),
            role,
            deflate: deflate.map(|(params, _)| *params),
        }
    }

    /// The permessage-deflate parameters this connection agreed on, if it
    /// did (RFC 7692 §7.1).
    pub fn compression(&self) -> Option<DeflateParams> {
        self.deflate
    }

    /// Sizes of the last data message sent by [`Writer::send`],
    /// [`Writer::send_text`] or [`Writer::send_binary`].
    pub fn last_sent(&self) -> SentSizes {
        self.lock().last_sent
    }

    /// Bytes the compressor keeps between messages (its window and tables,
    /// with context takeover; nothing without).
    pub fn deflater_memory(&self) -> usize {
        self.lock()
            .deflate
            .as_ref()
            .map_or(0, |d| d.deflater.memory() + d.buf.capacity())
    }

    /// Sends one whole data message, compressed if the extension is on and
    /// the message is not below the threshold.
    fn send_data(&self, opcode: OpCode, payload: &[u8]) -> Result<()> {
        let mut side = self.lock();
        side.closing.check_send()?;
        side.finish_frame()?;
        let side = &mut *side;
        let result = match side.deflate.as_mut() {
            Some(out) if payload.len() >= out.threshold => {
                out.buf.clear();
                out.deflater.compress_message(payload, &mut out.buf);
                side.last_sent = SentSizes {
                    message_bytes: payload.len(),
                    payload_bytes: out.buf.len(),
                    compressed: true,
                };
                let result = side
                    .encoder
                    .compressed_frame(opcode, &out.buf)
                    .write_to(&mut &*side.stream);
                // An idle connection keeps at most a small message's buffer.
                if out.buf.capacity() > Outgoing::KEEP_CAPACITY {
                    out.buf = Vec::new();
                }
                result
            }
            _ => {
                side.last_sent = SentSizes {
                    message_bytes: payload.len(),
                    payload_bytes: payload.len(),
                    compressed: false,
                };
                side.encoder.frame(true, opcode, payload).write_to(&mut &*side.stream)
            }
        };
        side.after_write(result)
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, WriteSide> {
        // A panic while holding the lock cannot leave a half-written frame
        // in our state (the bytes are in the kernel or not): recover.
        self.side.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends a message as one frame. A `Message::Close` starts the closing
    /// handshake; after it, sending anything fails with
    /// [`Error::AlreadyClosing`].
    pub fn send(&self, message: Message) -> Result<()> {
        match &message {
            Message::Text(text) => return self.send_data(OpCode::Text, text.as_bytes()),
            Message::Binary(data) => return self.send_data(OpCode::Binary, data),
            _ => {}
        }
        let mut side = self.lock();
        side.closing.check_send()?;
        side.finish_frame()?;
        let side = &mut *side;
        let result = side.encoder.message(&message)?.write_to(&mut &*side.stream);
        side.after_write(result)?;
        if let Message::Close(frame) = &message {
            log::debug!(
                "close sent: {}",
                frame.as_ref().map_or("(no code)".to_string(), |f| f.to_string())
            );
            side.closing.sent_close();
        }
        Ok(())
    }

    /// Sends a text message.
    pub fn send_text(&self, text: &str) -> Result<()> {
        self.send_data(OpCode::Text, text.as_bytes())
    }

    /// Sends a binary message.
    pub fn send_binary(&self, data: &[u8]) -> Result<()> {
        self.send_data(OpCode::Binary, data)
    }

    /// Sends a ping (payload at most 125 bytes).
    pub fn ping(&self, payload: &[u8]) -> Result<()> {
        self.send(Message::Ping(payload.to_vec()))
    }

    /// Starts the closing handshake (§7.1.2). Keep reading afterwards: the
    /// peer's close frame arrives through the reader, which then ends.
    pub fn close(&self, frame: Option<CloseFrame>) -> Result<()> {
        self.send(Message::Close(frame))
    }

    /// Sends one frame of a data message: a way to send a message in
    /// fragments (`Text`/`Binary` with `fin = false`, then `Continuation`
    /// frames, the last with `fin = true`). The caller keeps the order
    /// right; the peer fails the connection if it is wrong.
    pub fn send_frame(&self, fin: bool, opcode: OpCode, payload: &[u8]) -> Result<()> {
        if opcode.is_control() {
            return Err(Error::InvalidMessage(
                "send_frame is for data frames; use send for control frames",
            ));
        }
        let mut side = self.lock();
        side.closing.check_send()?;
        side.write_frame(fin, opcode, payload)
    }

    /// Sends bytes that already form complete, valid, unmasked frames, such
    /// as a broadcast frame encoded once for many subscribers
    /// ([`super::frame::server_frame`]). Servers only: a client must mask
    /// every frame with a fresh key.
    pub fn send_encoded(&self, frames: &[u8]) -> Result<()> {
        if self.role != Role::Server {
            return Err(Error::InvalidMessage("pre-encoded frames are unmasked: servers only"));
        }
        let mut side = self.lock();
        side.closing.check_send()?;
        side.finish_frame()?;
        if log::log_enabled!(log::Level::Trace) {
            trace_encoded(frames);
        }
        let result = (&*side.stream).write_all(frames);
        side.after_write(result)
    }

    /// Whether the connection can still send messages.
    pub fn is_open(&self) -> bool {
        self.lock().closing.is_open()
    }

    /// Sets the socket's write timeout. A write that times out closes the
    /// connection (a frame may have been cut).
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> Result<()> {
        Ok(self.lock().stream.set_write_timeout(timeout)?)
    }

    /// Shuts the TCP connection down in both directions without a closing
    /// handshake: a blocked `read` or `write` on either half returns at
    /// once, with an error. For dropping a peer that does not answer (a dead
    /// client, a full outbox). Never blocks: it does not wait for the lock
    /// a stalled write may be holding.
    pub fn abort(&self) {
        let _ = self.socket.shutdown(Shutdown::Both);
        if let Ok(mut side) = self.side.try_lock() {
            side.closing.broken();
        }
    }
}

/// Logs the header of each frame in a run of pre-encoded frames, as
/// [`Encoder::frame`] does for the frames it encodes itself.
pub(crate) fn trace_encoded(mut frames: &[u8]) {
    while let Ok(Some((header, len))) = FrameHeader::parse(frames) {
        log::trace!("send {header}");
        let Some(rest) = usize::try_from(header.payload_len)
            .ok()
            .and_then(|payload| frames.get(len + payload..))
        else {
            break;
        };
        frames = rest;
    }
}

/// Sole use of a server connection's sending side, for code that writes
/// pre-encoded frames itself and chooses how long each write may wait: the
/// broadcast hub, which writes the same bytes to many sockets and must not
/// be held up by any one of them. From [`Writer::encoded`] or
/// [`Writer::try_encoded`]; while it is held, nothing else is written on
/// the connection (a pong or a close frame from the reader waits for it).
///
/// A write here may stop in the middle of a frame. Whatever the caller
/// does next, the frame must be finished before any other frame starts:
/// [`EncodedWriter::keep_unfinished`] hands its end to the connection,
/// which writes it first, whoever writes next.
#[derive(Debug)]
pub struct EncodedWriter<'a> {
    side: MutexGuard<'a, WriteSide>,
}

impl Writer {
    /// Waits for the sending side and takes it; see [`EncodedWriter`].
    /// Fails if the connection is closing or closed, or is a client's (a
    /// client must mask every frame with a fresh key).
    pub fn encoded(&self) -> Result<EncodedWriter<'_>> {
        self.check_encoded(self.lock())
    }

    /// Takes the sending side if no other thread is using it right now:
    /// `Ok(None)` if one is (it may be blocked on a full socket).
    pub fn try_encoded(&self) -> Result<Option<EncodedWriter<'_>>> {
        match self.side.try_lock() {
            Ok(side) => self.check_encoded(side).map(Some),
            Err(std::sync::TryLockError::Poisoned(p)) => self.check_encoded(p.into_inner()).map(Some),
            Err(std::sync::TryLockError::WouldBlock) => Ok(None),
        }
    }

    fn check_encoded<'a>(&self, side: MutexGuard<'a, WriteSide>) -> Result<EncodedWriter<'a>> {
        if self.role != Role::Server {
            return Err(Error::InvalidMessage("pre-encoded frames are unmasked: servers only"));
        }
        side.closing.check_send()?;
        Ok(EncodedWriter { side })
    }
}

impl EncodedWriter<'_> {
    /// One `write` that does not wait: as many bytes of `frames` as the
    /// socket's send buffer has room for right now, possibly none.
    ///
    /// The socket is non-blocking for the duration of the call, and that
    /// flag belongs to the open socket, shared by both halves: a `read`
    /// that starts on the reader's thread in that instant returns
    /// `WouldBlock` at once, which callers treat like a read timeout ("read
    /// again"; see [`super::conn::Reader::read`]). Writes cannot see it: they need this
    /// lock. Returns 0 while the end of an earlier frame is still unwritten.
    pub fn write_now(&mut self, frames: &[u8]) -> Result<usize> {
        if !self.side.unfinished.is_empty() {
            return Ok(0);
        }
        let side = &mut *self.side;
        let result = side.stream.set_nonblocking(true).and_then(|()| {
            let written = match (&*side.stream).write(frames) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(0),
                other => other,
            };
            side.stream.set_nonblocking(false).and(written)
        });
        self.result(result)
    }

    /// One vectored `write`, waiting for room at most the socket's write
    /// timeout ([`EncodedWriter::set_write_timeout`]). Returns the bytes
    /// written: 0 if the peer took nothing in that time.
    pub fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> Result<usize> {
        let result = match (&*self.side.stream).write_vectored(bufs) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(0),
            other => other,
        };
        self.result(result)
    }

    /// A failed write closes the connection, as every write here does.
    fn result(&mut self, result: std::io::Result<usize>) -> Result<usize> {
        let written = *result.as_ref().unwrap_or(&0);
        self.side.after_write(result.map(drop))?;
        Ok(written)
    }

    /// Hands over `rest`, the end of a frame that a write cut short: the
    /// connection writes it before anything else.
    pub fn keep_unfinished(&mut self, rest: &[u8]) {
        self.side.unfinished.extend_from_slice(rest);
    }

    /// Takes back the end of a cut frame, if any, to write it first.
    pub fn take_unfinished(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.side.unfinished)
    }

    /// Sets the socket's write timeout, which bounds
    /// [`EncodedWriter::write_vectored`] and every later write on this
    /// connection until it is set again.
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) -> Result<()> {
        Ok(self.side.stream.set_write_timeout(timeout)?)
    }
}
