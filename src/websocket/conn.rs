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
use crate::socket::{drain, linger_close, time_left, ReadBy};

#[derive(Debug)]
struct WriteSide {
    stream: Arc<TcpStream>,
    encoder: Encoder,
    closing: Closing,
    /// The end of a frame that an [`EncodedWriter`] write cut short: it is
    /// written before anything else, so frames never interleave.
    unfinished: Vec<u8>,
}

impl WriteSide {
    fn write_frame(&mut self, fin: bool, opcode: OpCode, payload: &[u8]) -> Result<()> {
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

/// The receiving half. Reading also answers pings and close frames.
#[derive(Debug)]
pub struct Reader {
    stream: Arc<TcpStream>,
    decoder: Decoder,
    writer: Writer,
    close_timeout: Duration,
    done: bool,
    /// See [`Reader::set_message_timeout`].
    message_timeout: Option<Duration>,
    /// When the wait for the message now arriving began.
    waiting_since: Instant,
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
        let read = match self.message_timeout {
            None => self.decoder.read(&mut &*self.stream),
            Some(timeout) => {
                // A control frame between two fragments does not restart
                // the clock of the message it interrupts.
                if !self.decoder.in_message() {
                    self.waiting_since = Instant::now();
                }
                self.decoder
                    .read(&mut ReadBy::new(&self.stream, self.waiting_since + timeout))
            }
        };
        match read {
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

    /// Puts a *total* time limit on each message: [`Reader::read`] fails
    /// with a timeout once a message (or control frame) has not arrived
    /// whole within `timeout` of the moment the wait for it began, however
    /// the peer paces its bytes. A read timeout only bounds each socket
    /// read: a peer sending one byte now and then satisfies every one of
    /// them and holds the connection forever. The clock is checked between
    /// socket reads, so keep the read timeout no longer than `timeout`: a
    /// trickling peer is then cut off within the two together.
    pub fn set_message_timeout(&mut self, timeout: Option<Duration>) {
        self.message_timeout = timeout;
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
                unfinished: Vec::new(),
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
                message_timeout: None,
                waiting_since: Instant::now(),
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

    /// A total time limit on each message; see [`Reader::set_message_timeout`].
    pub fn set_message_timeout(&mut self, timeout: Option<Duration>) {
        self.reader.set_message_timeout(timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A server-side connection and a client-side one on one TCP connection.
    fn pair() -> (WebSocket, WebSocket) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        for s in [&client, &server] {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        }
        let config = Config::default();
        (
            WebSocket::from_upgraded(server, Role::Server, &config, &[], None).unwrap(),
            WebSocket::from_upgraded(client, Role::Client, &config, &[], None).unwrap(),
        )
    }

    #[test]
    fn after_a_large_message_an_idle_connection_keeps_no_large_buffer() {
        let (mut server, mut client) = pair();
        let large = Message::binary(vec![1u8; 4 << 20]);
        let back = large.clone();
        let sender = std::thread::spawn(move || {
            server.send(large).unwrap();
            assert_eq!(server.read().unwrap().len(), 4 << 20);
            server
        });
        assert_eq!(client.read().unwrap().len(), 4 << 20);
        client.send(back).unwrap();
        let server = sender.join().unwrap();
        // A server's frames leave from the caller's bytes: nothing to keep.
        let held = server.writer.lock().encoder.capacity();
        assert_eq!(held, 0, "the encoder kept {held} bytes");
        // A client masks a copy of what it sends, and lets it go once sent.
        let held = client.writer.lock().encoder.capacity();
        assert!(held <= 256 * 1024, "the client's encoder kept {held} bytes");
    }

    #[test]
    fn a_message_trickled_byte_by_byte_times_out_at_its_total_deadline() {
        let (mut server, client) = pair();
        server.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        server.set_message_timeout(Some(Duration::from_millis(300)));
        let raw = client.reader.stream.try_clone().unwrap();
        // A 100-byte masked frame, one byte every 20 ms: each read gets a
        // byte long before its 100 ms timeout, so only a total deadline ends it.
        let mut frame = Vec::new();
        super::super::frame::encode_frame(&mut frame, true, OpCode::Text, &[b'a'; 100], Some([1, 2, 3, 4]));
        let trickler = std::thread::spawn(move || {
            for byte in frame {
                std::thread::sleep(Duration::from_millis(20));
                if (&raw).write_all(&[byte]).is_err() {
                    break;
                }
            }
        });
        let started = Instant::now();
        let result = server.read();
        let took = started.elapsed();
        assert!(matches!(&result, Err(e) if e.is_timeout()), "{result:?}");
        assert!(took < Duration::from_millis(700), "cut off after {took:?}");
        drop(server);
        trickler.join().unwrap();
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
    /// again"; see [`Reader::read`]). Writes cannot see it: they need this
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
