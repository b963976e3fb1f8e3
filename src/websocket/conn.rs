//! A WebSocket connection on a `TcpStream`, whole or split in two halves.
//!
//! TCP is full duplex: the two directions of a connection are independent
//! byte streams (the note "WebSocket示例" makes this point; `tests/transport.rs`
//! shows it). A blocking API hides that if reading and writing share one
//! object behind one `&mut`: while a thread waits in `read`, nothing can be
//! sent. [`WebSocket::split`] gives the two directions to two threads:
//!
//! - the [`Reader`] reads the socket and owns the receiving state;
//! - the [`Writer`] (cloneable) writes it, behind a mutex, together with
//!   the closing handshake's state ([`super::close`]).
//!
//! Both use the same socket, one file descriptor: std implements `Read`
//! and `Write` for `&TcpStream` (a socket's two directions need no
//! exclusive access), so the halves share it through an `Arc`.
//!
//! The reader must sometimes write: a pong for every ping (§5.5.2), a close
//! frame in reply to the peer's (§5.5.1), a close frame with an error code
//! before failing the connection (§7.1.7). It writes through the same
//! mutex, so those frames never interleave with the application's: each
//! frame is written whole under the lock, header and payload in one vectored
//! write ([`super::encode::EncodedFrame::write_to`]).

use std::io::{ErrorKind, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::close::{Closing, Reaction, TcpEnd};
use super::config::{Config, Role};
use super::decode::{Decoder, WireStats};
use super::encode::Encoder;
use super::error::{Error, Result};
use super::frame::{FrameHeader, OpCode};
use super::message::{CloseFrame, Message};
use crate::socket::{drain, linger_close, time_left};

#[derive(Debug)]
struct WriteSide {
    stream: Arc<TcpStream>,
    encoder: Encoder,
    closing: Closing,
}

impl WriteSide {
    fn write_frame(&mut self, fin: bool, opcode: OpCode, payload: &[u8]) -> Result<()> {
        let result = self.encoder.frame(fin, opcode, payload).write_to(&mut &*self.stream);
        self.after_write(result)
    }

    fn after_write(&mut self, result: std::io::Result<()>) -> Result<()> {
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

    /// Writes the close frame a [`Reaction`] calls for, if any.
    fn send_close(&mut self, reaction: &Reaction) {
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
}

impl Writer {
    fn lock(&self) -> MutexGuard<'_, WriteSide> {
        // A panic while holding the lock cannot leave a half-written frame
        // in our state (the bytes are in the kernel or not): recover.
        self.side.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends a message as one frame. A `Message::Close` starts the closing
    /// handshake; after it, sending anything fails with
    /// [`Error::AlreadyClosing`].
    pub fn send(&self, message: Message) -> Result<()> {
        let mut side = self.lock();
        side.closing.check_send()?;
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
        self.send_frame(true, OpCode::Text, text.as_bytes())
    }

    /// Sends a binary message.
    pub fn send_binary(&self, data: &[u8]) -> Result<()> {
        self.send_frame(true, OpCode::Binary, data)
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
fn trace_encoded(mut frames: &[u8]) {
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

/// The receiving half. Reading also answers pings and close frames.
#[derive(Debug)]
pub struct Reader {
    stream: Arc<TcpStream>,
    decoder: Decoder,
    writer: Writer,
    close_timeout: Duration,
    done: bool,
}

impl Reader {
    /// Reads the next message.
    ///
    /// - A ping is answered with a pong automatically, then returned.
    /// - A close frame is answered (if we had not sent ours), the TCP
    ///   connection is shut down by the server side, and the close frame
    ///   is returned. Every later call returns [`Error::ConnectionClosed`].
    /// - A protocol violation sends the matching close code, closes the
    ///   connection and returns [`Error::Protocol`].
    /// - A read timeout returns an error for which [`Error::is_timeout`] is
    ///   true and leaves the connection intact: call again to continue.
    pub fn read(&mut self) -> Result<Message> {
        if self.done {
            return Err(Error::ConnectionClosed);
        }
        match self.decoder.read(&mut &*self.stream) {
            Ok(Message::Ping(payload)) => {
                let mut side = self.writer.lock();
                // After our close frame no pong may be sent; ignore then.
                if side.closing.is_open() {
                    if let Err(e) = side.write_frame(true, OpCode::Pong, &payload) {
                        // The write side closed the connection: so is this side.
                        self.done = true;
                        return Err(e);
                    }
                }
                Ok(Message::Ping(payload))
            }
            Ok(Message::Close(frame)) => {
                self.done = true;
                self.on_close(frame.as_ref());
                Ok(Message::Close(frame))
            }
            Ok(message) => Ok(message),
            Err(Error::Protocol(e)) => {
                self.done = true;
                log::debug!("failing the connection: {e}");
                let reaction = {
                    let mut side = self.writer.lock();
                    let reaction = side.closing.fail(&e);
                    side.send_close(&reaction);
                    reaction
                };
                self.end_tcp(reaction.tcp);
                Err(Error::Protocol(e))
            }
            Err(e) if e.is_timeout() => Err(e),
            Err(e) => {
                self.done = true;
                self.writer.lock().closing.broken();
                Err(e)
            }
        }
    }

    /// The peer's close frame arrived: reply if we have not closed yet, then
    /// end TCP the way §7.1.1 asks.
    fn on_close(&mut self, frame: Option<&CloseFrame>) {
        log::debug!(
            "close received: {}",
            frame.map_or("(no code)".to_string(), |f| f.to_string())
        );
        let reaction = {
            let mut side = self.writer.lock();
            let reaction = side.closing.received_close(frame);
            side.send_close(&reaction);
            reaction
        };
        self.end_tcp(reaction.tcp);
    }

    /// Ends TCP as the closing handshake decided.
    fn end_tcp(&self, how: TcpEnd) {
        match how {
            TcpEnd::CloseFirst => {
                let _ = self.stream.shutdown(Shutdown::Write);
            }
            TcpEnd::AwaitPeer => {
                drain(&self.stream, self.close_timeout);
                let _ = self.stream.shutdown(Shutdown::Both);
            }
            TcpEnd::Linger => linger_close(&self.stream, self.close_timeout),
        }
    }

    /// What the last data message cost on the wire (frames, header bytes,
    /// payload bytes), as measured while reading it.
    pub fn last_message_wire(&self) -> WireStats {
        self.decoder.last_message_wire()
    }

    /// Sets the socket's read timeout (the whole socket: both halves).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> Result<()> {
        Ok(self.stream.set_read_timeout(timeout)?)
    }

    /// A handle to the writing half of the same connection.
    pub fn writer(&self) -> Writer {
        self.writer.clone()
    }

    /// Whether the reader has seen the end of the connection.
    pub fn is_done(&self) -> bool {
        self.done
    }
}

/// A WebSocket connection: [`read`](WebSocket::read) and
/// [`send`](WebSocket::send) on one thread, or [`split`](WebSocket::split)
/// into halves for two.
#[derive(Debug)]
pub struct WebSocket {
    reader: Reader,
    writer: Writer,
    peer: Option<SocketAddr>,
    protocol: Option<String>,
}

impl WebSocket {
    /// Wraps a socket on which the opening handshake has already happened.
    /// `leftover` is what was read past the handshake (frames the peer sent
    /// right behind it).
    pub fn from_upgraded(
        stream: TcpStream,
        role: Role,
        config: &Config,
        leftover: &[u8],
        protocol: Option<String>,
    ) -> Result<WebSocket> {
        // One file descriptor for both halves (see the module docs).
        let stream = Arc::new(stream);
        let writer = Writer {
            socket: Arc::clone(&stream),
            side: Arc::new(Mutex::new(WriteSide {
                stream: Arc::clone(&stream),
                encoder: Encoder::new(role),
                closing: Closing::new(role),
            })),
            role,
        };
        let peer = stream.peer_addr().ok();
        Ok(WebSocket {
            reader: Reader {
                stream,
                decoder: Decoder::new(role, config, leftover),
                writer: writer.clone(),
                close_timeout: config.close_timeout,
                done: false,
            },
            writer,
            peer,
            protocol,
        })
    }

    /// Reads the next message; see [`Reader::read`].
    pub fn read(&mut self) -> Result<Message> {
        self.reader.read()
    }

    /// Sends a message; see [`Writer::send`].
    pub fn send(&mut self, message: Message) -> Result<()> {
        self.writer.send(message)
    }

    /// Sends a close frame, then reads (and drops) what still arrives until
    /// the peer's close frame completes the handshake, an error ends it, or
    /// [`Config::close_timeout`] passes. Returns the peer's close frame, if
    /// one came with a code.
    ///
    /// The wait is bounded by `close_timeout` whatever the read timeout
    /// and however much the peer keeps sending: a peer that never answers
    /// (§7.1.1 lets the closing side give up) costs at most that long.
    /// Then TCP is closed anyway and the result is `Ok(None)`.
    pub fn close(&mut self, frame: Option<CloseFrame>) -> Result<Option<CloseFrame>> {
        match self.writer.close(frame) {
            Ok(()) | Err(Error::AlreadyClosing) => {}
            // The peer closed first and the reader already answered.
            Err(Error::ConnectionClosed) => return Ok(None),
            Err(e) => return Err(e),
        }
        let deadline = Instant::now() + self.reader.close_timeout;
        while let Some(left) = time_left(deadline) {
            if self.reader.set_read_timeout(Some(left)).is_err() {
                break;
            }
            match self.reader.read() {
                Ok(Message::Close(frame)) => return Ok(frame),
                Ok(_) => {}
                Err(Error::ConnectionClosed) => return Ok(None),
                Err(e) if e.is_timeout() => break,
                Err(e) => return Err(e),
            }
        }
        log::debug!(
            "no close frame from the peer within {:?}; closing TCP",
            self.reader.close_timeout
        );
        self.reader.done = true;
        self.writer.abort();
        Ok(None)
    }

    /// Splits the connection into a reader and a writer for two threads.
    pub fn split(self) -> (Reader, Writer) {
        (self.reader, self.writer)
    }

    /// A handle to the writing half (for another thread), keeping this
    /// object whole.
    pub fn writer(&self) -> Writer {
        self.writer.clone()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The subprotocol agreed in the handshake, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// Sets the socket's read timeout; see [`Reader::read`] for what a
    /// timeout means.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> Result<()> {
        self.reader.set_read_timeout(timeout)
    }
}
