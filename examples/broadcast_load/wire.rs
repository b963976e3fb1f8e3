//! The client side of the protocols, written here from scratch: the
//! opening handshake, masked frames, lines; and splitting what the server
//! sends back into messages.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::options::Proto;
use crate::target::Target;

/// xorshift64*: masking keys and handshake keys. Not for secrets.
pub struct Rng(pub u64);

impl Rng {
    pub fn new() -> Rng {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Rng(t | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Connects one client: TCP, then for `ws://` the opening handshake,
/// offering permessage-deflate (RFC 7692 §5) if `deflate`. Returns the
/// socket, any bytes read past the handshake response, and whether the
/// server agreed to compress (§5.1: it answers with the extension).
pub fn connect(target: &Target, rng: &mut Rng, deflate: bool) -> std::io::Result<(TcpStream, Vec<u8>, bool)> {
    let mut s = TcpStream::connect_timeout(&target.addr, Duration::from_secs(10))?;
    s.set_nodelay(true)?;
    if target.proto == Proto::Tcp {
        return Ok((s, Vec::new(), false));
    }
    use base64::Engine as _;
    let key =
        base64::engine::general_purpose::STANDARD.encode([rng.next().to_le_bytes(), rng.next().to_le_bytes()].concat());
    write!(
        s,
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{}\r\n",
        target.path,
        target.host,
        if deflate {
            "Sec-WebSocket-Extensions: permessage-deflate\r\n"
        } else {
            ""
        }
    )?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    let end = loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if head.len() > 16 * 1024 {
            return Err(ErrorKind::InvalidData.into());
        }
    };
    if !head.starts_with(b"HTTP/1.1 101") {
        let first = String::from_utf8_lossy(&head[..head.len().min(60)]).into_owned();
        return Err(std::io::Error::other(format!("no upgrade: {first}")));
    }
    s.set_read_timeout(None)?;
    let agreed = String::from_utf8_lossy(&head[..end]).lines().any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("sec-websocket-extensions") && value.contains("permessage-deflate")
        })
    });
    Ok((s, head[end..].to_vec(), agreed))
}

/// Appends one message to `out`: "PUBLISHER SEQ SENT_NS xxxx…", `size`
/// bytes of payload, as a masked text frame or as a line.
pub fn encode(out: &mut Vec<u8>, proto: Proto, publisher: usize, seq: u64, sent_ns: u64, size: usize, rng: &mut Rng) {
    let mut payload = format!("{publisher} {seq} {sent_ns} ").into_bytes();
    payload.resize(size.max(payload.len()), b'x');
    match proto {
        Proto::Tcp => {
            out.extend_from_slice(&payload);
            out.push(b'\n');
        }
        Proto::Ws => frame(out, 0x1, &payload, rng),
    }
}

/// Appends a masked client frame (RFC 6455 §5.2): FIN, opcode, length, key, payload.
pub fn frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], rng: &mut Rng) {
    out.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let key = (rng.next() as u32).to_ne_bytes();
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
}

/// How many more bytes the message begun in `pending` needs, looking at
/// `next` (the bytes that follow) for the end of a line; 0 when complete.
pub fn missing(proto: Proto, pending: &[u8], next: &[u8]) -> usize {
    match proto {
        Proto::Tcp if pending.last() == Some(&b'\n') => 0,
        Proto::Tcp => next.iter().position(|&b| b == b'\n').map_or(usize::MAX, |i| i + 1),
        Proto::Ws => {
            let header = match pending.get(1).map(|b| b & 0x7f) {
                None => return 2 - pending.len(),
                Some(126) => 4,
                Some(127) => 10,
                Some(_) => 2,
            };
            if pending.len() < header {
                return header - pending.len();
            }
            let len = match header {
                4 => u16::from_be_bytes([pending[2], pending[3]]) as usize,
                10 => u64::from_be_bytes(pending[2..10].try_into().expect("8 bytes")) as usize,
                _ => (pending[1] & 0x7f) as usize,
            };
            (header + len).saturating_sub(pending.len())
        }
    }
}

/// Splits one server frame off the front of `buf`: (payload, opcode with
/// the RSV1 bit, `0x40`, which marks a compressed message, frame length),
/// or `None` if it is not all there yet. Server frames are unmasked.
pub fn server_frame(buf: &[u8]) -> Option<(&[u8], u8, usize)> {
    let (b0, b1) = (*buf.first()?, *buf.get(1)?);
    let (len, header): (usize, usize) = match b1 & 0x7f {
        126 => (u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]) as usize, 4),
        127 => (u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize, 10),
        n => (n as usize, 2),
    };
    let payload = buf.get(header..header.checked_add(len)?)?;
    Some((payload, b0 & 0x4f, header + len))
}
