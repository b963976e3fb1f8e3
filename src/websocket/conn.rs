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
//! exclusive access), so the halves share it through an `Arc`. A server
//! shares the same `Arc` with its table of connections (to shut it down
//! when it stops), so a connection served here costs one descriptor in
//! all.
//!
//! The reader must sometimes write: a pong for every ping (§5.5.2), a close
//! frame in reply to the peer's (§5.5.1), a close frame with an error code
//! before failing the connection (§7.1.7). It writes through the same
//! mutex, so those frames never interleave with the application's: each
//! frame is written whole under the lock, header and payload in one vectored
//! write ([`super::encode::EncodedFrame::write_to`]). The sending half lives
//! in [`super::writer`].

use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::close::TcpEnd;
use super::config::{Config, Role};
use super::decode::{Decoder, WireStats};
use super::error::{Error, Result};
use super::extension::{Compression, DeflateParams};
use super::frame::OpCode;
use super::message::{CloseFrame, Message};
pub(crate) use super::writer::trace_encoded;
pub use super::writer::{EncodedWriter, Writer};
use crate::socket::{drain, linger_close, time_left, ReadBy};

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

    /// Bytes the decompressor keeps between messages: its window of the
    /// peer's recent output, with context takeover (0 without, or without
    /// permessage-deflate).
    pub fn inflater_memory(&self) -> usize {
        self.decoder.inflater_memory()
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
    /// Wraps a socket on which the opening handshake has already happened:
    /// a `TcpStream`, or an `Arc<TcpStream>` shared with a server.
    /// `leftover` is what was read past the handshake (frames the peer sent
    /// right behind it).
    pub fn from_upgraded(
        stream: impl Into<Arc<TcpStream>>,
        role: Role,
        config: &Config,
        leftover: &[u8],
        protocol: Option<String>,
    ) -> Result<WebSocket> {
        WebSocket::from_negotiated(stream, role, config, leftover, protocol, None)
    }

    /// [`WebSocket::from_upgraded`], with permessage-deflate if the
    /// handshake agreed on it: the parameters, and our own options (level,
    /// threshold) for what we send.
    pub fn from_negotiated(
        stream: impl Into<Arc<TcpStream>>,
        role: Role,
        config: &Config,
        leftover: &[u8],
        protocol: Option<String>,
        deflate: Option<(&DeflateParams, &Compression)>,
    ) -> Result<WebSocket> {
        // One file descriptor for both halves (see the module docs).
        let stream = stream.into();
        let writer = Writer::new(&stream, role, deflate);
        let mut decoder = Decoder::new(role, config, leftover);
        if let Some((params, _)) = deflate {
            decoder.set_deflate(params);
        }
        let peer = stream.peer_addr().ok();
        Ok(WebSocket {
            reader: Reader {
                stream,
                decoder,
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

    /// What the last data message read cost on the wire; see
    /// [`Reader::last_message_wire`].
    pub fn last_message_wire(&self) -> WireStats {
        self.reader.last_message_wire()
    }

    /// Bytes permessage-deflate keeps between messages on this connection:
    /// the decompressor's window ([`Reader::inflater_memory`]) and the
    /// compressor's state ([`Writer::deflater_memory`]).
    pub fn compression_memory(&self) -> usize {
        self.reader.inflater_memory() + self.writer.deflater_memory()
    }

    /// The permessage-deflate parameters agreed in the handshake, if the
    /// extension is in use (RFC 7692 §7.1).
    pub fn compression(&self) -> Option<DeflateParams> {
        self.writer.compression()
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
    use std::io::Write;
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
