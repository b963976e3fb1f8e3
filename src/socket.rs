//! A socket's end of life, and time limits on the way there: the pieces
//! every server here uses on a `TcpStream`, written once.
//!
//! - **Deadlines.** A socket's read and write timeouts bound *one* call; a
//!   peer that sends or reads a byte now and then makes every call succeed
//!   and can hold a thread for hours. [`DeadlineStream`] (reading) and
//!   [`write_within`] (writing) put a *total* deadline on a whole exchange
//!   by setting the socket's timeout to the time left before each call.
//! - **The zero-timeout trap.** To the OS a timeout of zero means "no
//!   timeout": block forever (Rust's `set_read_timeout` refuses it with an
//!   error instead). [`time_left`] and [`never_zero`] are the one place that
//!   keeps a shrinking deadline from ever reaching zero.
//! - **The lingering close.** Closing a socket while the peer's bytes are
//!   still unread makes the kernel answer with a reset (RFC 9293 §3.6.1
//!   allows it; Linux does it), and a reset can destroy our last bytes
//!   before the peer reads them: the error response, the refusal, the close
//!   frame. [`linger_close`] sends FIN first, then reads and discards what
//!   still comes until the peer closes too or time runs out (RFC 9112 §9.6
//!   describes this "staged" close for HTTP).
//! - **Last words.** [`answer_and_close`] is the one way a connection is
//!   answered and ended: an HTTP error, a refused WebSocket handshake. One
//!   deadline, one FIN rule.
//! - **Many last words at once.** A server over its cap may have to turn
//!   away thousands of clients a second, and must not spend a thread or
//!   half a second on each. [`Lingerer`] writes the refusal at once (it
//!   fits in a fresh socket's buffer), sends FIN, and does the lingering
//!   closes of up to [`LINGER_SLOTS`] sockets together on one thread.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, Sender};

/// How long a connection's last words may take: writing them (a few
/// hundred bytes, which normally go straight into the kernel's buffer),
/// and then the wait for the peer's end of the connection.
pub const LINGER: Duration = Duration::from_millis(500);

/// The shortest timeout handed to the OS.
const SHORTEST: Duration = Duration::from_millis(1);

/// `timeout`, but never zero: at least 1 ms. A zero timeout would mean
/// "block forever" to the OS.
pub fn never_zero(timeout: Duration) -> Duration {
    timeout.max(SHORTEST)
}

/// The time left until `deadline`, as a timeout the OS will honour (at
/// least 1 ms); `None` once the deadline has passed.
pub fn time_left(deadline: Instant) -> Option<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    (!left.is_zero()).then(|| never_zero(left))
}

/// A `TcpStream` reader whose reads respect a deadline: before each read the
/// socket's read timeout is set to the time left (capped by `per_read`).
///
/// It holds the socket through an `Arc`, shared with the server's table of
/// connections and with whoever the connection is handed to (a WebSocket
/// upgrade, a long poll): one socket, one descriptor, however many hold it.
#[derive(Debug)]
pub struct DeadlineStream {
    stream: Arc<TcpStream>,
    deadline: Option<Instant>,
    per_read: Option<Duration>,
    applied: Option<Option<Duration>>,
}

impl DeadlineStream {
    /// Wraps a socket (owned, or shared: an `Arc<TcpStream>`) with no
    /// deadline.
    pub fn new(stream: impl Into<Arc<TcpStream>>) -> DeadlineStream {
        DeadlineStream {
            stream: stream.into(),
            deadline: None,
            per_read: None,
            applied: None,
        }
    }

    /// Every read from now on must finish by `deadline`, and each read may
    /// wait at most `per_read`.
    pub fn set_limits(&mut self, deadline: Option<Instant>, per_read: Option<Duration>) {
        self.deadline = deadline;
        self.per_read = per_read;
    }

    /// The socket.
    pub fn get_ref(&self) -> &TcpStream {
        &self.stream
    }

    /// The socket as shared: clone the `Arc` to hand it on without a
    /// second descriptor.
    pub fn shared(&self) -> &Arc<TcpStream> {
        &self.stream
    }

    /// Unwraps the socket.
    pub fn into_inner(self) -> Arc<TcpStream> {
        self.stream
    }
}

impl Read for DeadlineStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut timeout = self.per_read;
        if let Some(deadline) = self.deadline {
            let left = time_left(deadline).ok_or(io::ErrorKind::TimedOut)?;
            timeout = Some(timeout.map_or(left, |t| t.min(left)));
        }
        let timeout = timeout.map(never_zero);
        if self.applied != Some(timeout) {
            self.stream.set_read_timeout(timeout)?;
            self.applied = Some(timeout);
        }
        (&*self.stream).read(buf)
    }
}

/// A reader that refuses to read past a deadline: each read first checks
/// the clock and fails with `TimedOut` once `deadline` has passed.
///
/// Unlike [`DeadlineStream`] it never changes the socket's timeout (no
/// system call per read), so a read that has started waits as long as the
/// socket's read timeout allows: pair it with a read timeout no longer
/// than the time it grants, and a peer trickling bytes is cut off within
/// the two together.
#[derive(Debug)]
pub struct ReadBy<'a> {
    stream: &'a TcpStream,
    deadline: Instant,
}

impl<'a> ReadBy<'a> {
    /// Reads from `stream` until `deadline`.
    pub fn new(stream: &'a TcpStream, deadline: Instant) -> ReadBy<'a> {
        ReadBy { stream, deadline }
    }
}

impl Read for ReadBy<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if Instant::now() >= self.deadline {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.read(buf)
    }
}

/// Writes all of `bytes` within `within`, however the peer paces its
/// reading: each write may wait only for the time left. The socket's own
/// write timeout is put back afterwards (an upgraded connection later
/// inherits it).
pub fn write_within(stream: &TcpStream, bytes: &[u8], within: Duration) -> io::Result<()> {
    let deadline = Instant::now() + within;
    let configured = stream.write_timeout()?;
    let mut written = 0;
    let mut result = Ok(());
    while written < bytes.len() {
        let Some(left) = time_left(deadline) else {
            result = Err(io::ErrorKind::TimedOut.into());
            break;
        };
        let timeout = never_zero(configured.map_or(left, |c| c.min(left)));
        if let Err(e) = stream.set_write_timeout(Some(timeout)) {
            result = Err(e);
            break;
        }
        let mut out = stream;
        match out.write(&bytes[written..]) {
            Ok(0) => {
                result = Err(io::ErrorKind::WriteZero.into());
                break;
            }
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    stream.set_write_timeout(configured)?;
    result
}

/// Writes `parts` one after the other, as if they were one buffer, within
/// `within` in total: vectored writes (`writev`), so a head and the pieces
/// of a body leave together without first being copied into one buffer.
pub fn write_parts_within(stream: &TcpStream, parts: &[&[u8]], within: Duration) -> io::Result<()> {
    // Up to this many parts per system call (Linux allows 1,024).
    const BATCH: usize = 64;
    let deadline = Instant::now() + within;
    let configured = stream.write_timeout()?;
    let (mut part, mut offset) = (0, 0);
    let mut result = Ok(());
    while part < parts.len() {
        if offset == parts[part].len() {
            part += 1;
            offset = 0;
            continue;
        }
        let Some(left) = time_left(deadline) else {
            result = Err(io::ErrorKind::TimedOut.into());
            break;
        };
        if let Err(e) = stream.set_write_timeout(Some(never_zero(configured.map_or(left, |c| c.min(left))))) {
            result = Err(e);
            break;
        }
        let mut slices = Vec::with_capacity(BATCH);
        slices.push(io::IoSlice::new(&parts[part][offset..]));
        slices.extend(parts[part + 1..].iter().take(BATCH - 1).map(|p| io::IoSlice::new(p)));
        let mut out = stream;
        match out.write_vectored(&slices) {
            Ok(0) => {
                result = Err(io::ErrorKind::WriteZero.into());
                break;
            }
            Ok(mut n) => {
                // Advance past what was written.
                while n > 0 && part < parts.len() {
                    let rest = parts[part].len() - offset;
                    if n >= rest {
                        n -= rest;
                        part += 1;
                        offset = 0;
                    } else {
                        offset += n;
                        n = 0;
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    stream.set_write_timeout(configured)?;
    result
}

/// Reads and discards until the peer closes, an error, or `within` has
/// passed.
pub fn drain(stream: &TcpStream, within: Duration) {
    let deadline = Instant::now() + within;
    let mut sink = [0u8; 4096];
    let mut stream = stream;
    while let Some(left) = time_left(deadline) {
        if stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Closes a connection gracefully (the "lingering close"): FIN first, so
/// the peer reads to the end of what we sent; then read and discard what
/// the peer still sends, for at most `within`, so the kernel has no unread
/// bytes to answer with a reset; then close both directions.
pub fn linger_close(stream: &TcpStream, within: Duration) {
    let _ = stream.shutdown(Shutdown::Write);
    drain(stream, within);
    let _ = stream.shutdown(Shutdown::Both);
}

/// A connection's last words: writes `bytes` (an error response, a
/// refusal) within [`LINGER`], then closes with [`linger_close`], also
/// within [`LINGER`]. If the bytes cannot be written in time, the
/// connection is closed at once and the error returned.
pub fn answer_and_close(stream: &TcpStream, bytes: &[u8]) -> io::Result<()> {
    if let Err(e) = write_within(stream, bytes, LINGER) {
        let _ = stream.shutdown(Shutdown::Both);
        return Err(e);
    }
    linger_close(stream, LINGER);
    Ok(())
}

/// Sockets a [`Lingerer`] closes gracefully at once; past that, a socket
/// is closed as soon as its last words are written.
pub const LINGER_SLOTS: usize = 64;

/// How often a [`Lingerer`] looks at the sockets it is closing.
const LINGER_POLL: Duration = Duration::from_millis(5);

/// Lingering closes for many sockets on one thread: each socket handed
/// over has already been answered; it gets FIN, then whatever the peer
/// still sends is read and dropped for up to [`LINGER`], then it is closed.
///
/// A thread per refused connection would let a flood of connections
/// create a flood of threads; one thread with blocking reads would close
/// them one at a time, half a second each. Here the sockets are
/// non-blocking and looked at together every few milliseconds. At most
/// [`LINGER_SLOTS`] are held (each holds a descriptor); a socket that
/// finds no slot free is closed at once, after reading what has already
/// arrived. Its answer was sent first, and a peer's kernel keeps what it
/// received even if a reset follows.
#[derive(Clone, Debug)]
pub struct Lingerer {
    tx: Sender<(Arc<TcpStream>, Instant)>,
    held: Arc<AtomicUsize>,
}

impl Lingerer {
    /// Starts the closing thread, named `name`.
    pub fn start(name: &str) -> Lingerer {
        let (tx, rx) = unbounded();
        let held = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&held);
        let spawned = thread::Builder::new()
            .name(name.to_string())
            .stack_size(64 * 1024)
            .spawn(move || linger_loop(&rx, &counter));
        if let Err(e) = spawned {
            log::error!("could not start the lingering-close thread: {e}");
        }
        Lingerer { tx, held }
    }

    /// Writes `last_words` without waiting (a few hundred bytes: a fresh
    /// socket's send buffer takes them whole), sends FIN, and closes the
    /// socket gracefully, or at once if every slot is taken. Never blocks.
    /// The socket closes when its last holder lets go of it: hand over
    /// the only one.
    pub fn answer_and_close(&self, stream: impl Into<Arc<TcpStream>>, last_words: &[u8]) {
        let stream = stream.into();
        if !answer_without_waiting(&stream, last_words) {
            return;
        }
        let slot = self.held.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
            (n < LINGER_SLOTS).then_some(n + 1)
        });
        if slot.is_err() {
            drain_available(&stream);
            return;
        }
        if let Err(back) = self.tx.send((stream, Instant::now() + LINGER)) {
            self.held.fetch_sub(1, Ordering::SeqCst);
            drain_available(&back.into_inner().0);
        }
    }

    /// Sockets being closed right now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }
}

/// A connection's last words when nothing may wait: writes `last_words`
/// without blocking (a fresh socket's send buffer takes a few hundred
/// bytes whole), sends FIN, reads what has already arrived, and closes.
/// For the moment a server is out of descriptors and cannot keep even one
/// socket open to close it gracefully.
pub fn answer_and_close_now(stream: TcpStream, last_words: &[u8]) {
    if answer_without_waiting(&stream, last_words) {
        drain_available(&stream);
    }
}

/// Makes `stream` non-blocking, writes what of `last_words` fits at once,
/// and sends FIN. False if the socket is already unusable.
fn answer_without_waiting(stream: &TcpStream, last_words: &[u8]) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return false;
    }
    let _ = (&*stream).write(last_words);
    let _ = stream.shutdown(Shutdown::Write);
    true
}

/// Reads, without waiting, whatever a non-blocking socket has received:
/// closed with unread bytes, it would answer them with a reset.
fn drain_available(mut stream: &TcpStream) -> bool {
    let mut sink = [0u8; 4096];
    loop {
        match stream.read(&mut sink) {
            Ok(0) => return false,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

fn linger_loop(rx: &Receiver<(Arc<TcpStream>, Instant)>, held: &AtomicUsize) {
    let mut closing: Vec<(Arc<TcpStream>, Instant)> = Vec::new();
    loop {
        if closing.is_empty() {
            // Nothing to look after: sleep until a socket comes.
            match rx.recv() {
                Ok(socket) => closing.push(socket),
                Err(_) => return,
            }
        }
        closing.extend(rx.try_iter());
        let now = Instant::now();
        let before = closing.len();
        // Keep a socket while the peer may still send and time is left.
        closing.retain(|(stream, deadline)| drain_available(stream) && now < *deadline);
        held.fetch_sub(before - closing.len(), Ordering::SeqCst);
        if !closing.is_empty() {
            thread::sleep(LINGER_POLL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    /// A connected pair: (client, server).
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        client.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        (client, server)
    }

    /// Reads to the end of the stream; an error (a reset) fails the test.
    fn read_to_end(mut client: &TcpStream) -> Vec<u8> {
        let mut got = Vec::new();
        client
            .read_to_end(&mut got)
            .expect("the answer and a clean end, no reset");
        got
    }

    #[test]
    fn the_answer_reaches_a_peer_whose_bytes_were_never_read() {
        let (client, server) = pair();
        // The peer sends a request the server never reads, then waits for
        // the answer: closing with those bytes unread would reset the
        // connection and could destroy the answer in flight.
        (&client).write_all(&[b'x'; 64 * 1024]).unwrap();
        let closer = thread::spawn(move || answer_and_close(&server, b"HTTP/1.1 400 Bad Request\r\n\r\n"));
        thread::sleep(Duration::from_millis(50));
        assert_eq!(read_to_end(&client), b"HTTP/1.1 400 Bad Request\r\n\r\n");
        drop(client);
        assert!(closer.join().unwrap().is_ok());
    }

    #[test]
    fn a_lingering_close_lets_the_peer_finish_sending_without_a_reset() {
        let (client, server) = pair();
        (&server).write_all(b"last words").unwrap();
        let writer = client.try_clone().unwrap();
        // The peer keeps sending after our FIN: every byte is taken (and
        // dropped), none answered with a reset.
        let sender = thread::spawn(move || {
            let sent = (0..20)
                .take_while(|_| {
                    thread::sleep(Duration::from_millis(5));
                    (&writer).write_all(&[b'y'; 4096]).is_ok()
                })
                .count();
            let _ = writer.shutdown(Shutdown::Write);
            sent
        });
        let closer = thread::spawn(move || linger_close(&server, Duration::from_secs(5)));
        assert_eq!(read_to_end(&client), b"last words");
        assert_eq!(sender.join().unwrap(), 20, "every write after the FIN was accepted");
        closer.join().unwrap();
    }

    #[test]
    fn a_peer_that_never_closes_holds_the_last_words_for_at_most_the_linger_time() {
        let (client, server) = pair();
        let started = Instant::now();
        answer_and_close(&server, b"bye").unwrap();
        let took = started.elapsed();
        assert!(took >= LINGER - Duration::from_millis(50), "gave up early: {took:?}");
        assert!(took < LINGER * 4, "held for {took:?}");
        assert_eq!(read_to_end(&client), b"bye");
    }

    #[test]
    fn a_deadline_stream_times_out_at_its_deadline_not_per_read() {
        let (client, server) = pair();
        let mut timed = DeadlineStream::new(server);
        timed.set_limits(Some(Instant::now() + Duration::from_millis(300)), None);
        let trickler = thread::spawn(move || {
            for _ in 0..20 {
                thread::sleep(Duration::from_millis(50));
                if (&client).write_all(b".").is_err() {
                    break;
                }
            }
        });
        let started = Instant::now();
        let mut buf = [0u8; 16];
        let error = loop {
            match timed.read(&mut buf) {
                Ok(0) => panic!("read to the end: no deadline"),
                Ok(_) => {}
                Err(e) => break e,
            }
        };
        let took = started.elapsed();
        assert!(
            matches!(error.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock),
            "{error}"
        );
        assert!(
            took < Duration::from_millis(900),
            "a byte every 50 ms kept it reading for {took:?}"
        );
        drop(timed);
        trickler.join().unwrap();
    }

    #[test]
    fn a_passed_deadline_is_no_time_left_and_a_near_one_is_never_zero() {
        assert_eq!(time_left(Instant::now() - Duration::from_millis(1)), None);
        assert!(time_left(Instant::now() + Duration::from_nanos(10)).map_or(true, |t| t >= SHORTEST));
        assert_eq!(never_zero(Duration::ZERO), SHORTEST);
        assert_eq!(never_zero(Duration::from_secs(2)), Duration::from_secs(2));
    }

    #[test]
    fn a_lingerer_answers_hundreds_of_refusals_without_waiting_and_each_peer_reads_its_answer() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let lingerer = Lingerer::start("test-linger");
        let clients: Vec<TcpStream> = (0..300)
            .map(|_| {
                let client = TcpStream::connect(addr).unwrap();
                client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                // Half of them send a request the server never reads.
                (&client).write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
                let (server, _) = listener.accept().unwrap();
                let started = Instant::now();
                lingerer.answer_and_close(server, b"no");
                assert!(started.elapsed() < Duration::from_millis(100), "it waited");
                client
            })
            .collect();
        assert!(lingerer.held() <= LINGER_SLOTS);
        for client in &clients {
            let mut got = Vec::new();
            let _ = (&*client).read_to_end(&mut got);
            assert_eq!(got, b"no");
        }
    }

    #[test]
    fn parts_written_together_arrive_as_one_stream_in_order() {
        let (client, server) = pair();
        let parts: Vec<Vec<u8>> = (0..300u32)
            .map(|i| vec![(i % 251) as u8; (i as usize * 37) % 5000])
            .collect();
        let expected: Vec<u8> = parts.concat();
        let reader = thread::spawn(move || {
            let mut got = Vec::new();
            (&client).read_to_end(&mut got).unwrap();
            got
        });
        let slices: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        write_parts_within(&server, &slices, Duration::from_secs(5)).unwrap();
        drop(server);
        assert_eq!(reader.join().unwrap(), expected);
    }
}
