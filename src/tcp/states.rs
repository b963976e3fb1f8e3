//! TCP connection states, read from the kernel (Linux: `/proc/net/tcp`).
//!
//! A TCP connection is a state machine on each end (RFC 9293 §3.3.2):
//!
//! ```text
//! server: CLOSED → LISTEN → SYN-RECEIVED → ESTABLISHED → CLOSE-WAIT → LAST-ACK → CLOSED
//! client: CLOSED → SYN-SENT → ESTABLISHED → FIN-WAIT-1 → FIN-WAIT-2 → TIME-WAIT → CLOSED
//! ```
//!
//! (for a client that closes first). Linux publishes every socket's state
//! in `/proc/net/tcp` (IPv4) and `/proc/net/tcp6` (IPv6), one line each:
//!
//! ```text
//!   sl  local_address rem_address   st tx_queue rx_queue ...
//!    0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 ...
//! ```
//!
//! `0100007F:1F90` is 127.0.0.1:8080: the address as the kernel stores it
//! (network byte order) printed as a native-endian 32-bit hex number, so on
//! a little-endian machine the bytes appear reversed; the port is plain hex.
//! `0A` is LISTEN. [`parse`] is pure and runs anywhere; [`read_sockets`]
//! reads the files on Linux and says clearly that it cannot elsewhere.
//!
//! The note "HTTP、TCP与UDP、Socket与Websocket之间的联系与区别" names the client's state after the first
//! SYN "SYN_SEND": the RFC's name is SYN-SENT (Linux prints `SYN_SENT`).

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The states of RFC 9293 §3.3.2, with Linux's numbering in `/proc/net/tcp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcpState {
    /// 01: data flows both ways.
    Established,
    /// 02: our SYN is sent, waiting for SYN-ACK (the client, during `connect`).
    SynSent,
    /// 03: SYN received and SYN-ACK sent, waiting for the final ACK.
    SynReceived,
    /// 04: we closed (sent FIN), waiting for its ACK.
    FinWait1,
    /// 05: our FIN is acknowledged; waiting for the peer's FIN.
    FinWait2,
    /// 06: both sides closed; waiting 2×MSL so late segments die out (RFC 9293 §3.6.1).
    TimeWait,
    /// 07: no connection.
    Closed,
    /// 08: the peer closed (its FIN arrived); we have not closed yet.
    CloseWait,
    /// 09: we closed after the peer did; waiting for the ACK of our FIN.
    LastAck,
    /// 0A: a listening socket.
    Listen,
    /// 0B: both sides sent FIN at the same time.
    Closing,
}

impl TcpState {
    /// From Linux's state number.
    pub fn from_code(code: u8) -> Option<TcpState> {
        Some(match code {
            0x01 => TcpState::Established,
            0x02 => TcpState::SynSent,
            0x03 => TcpState::SynReceived,
            0x04 => TcpState::FinWait1,
            0x05 => TcpState::FinWait2,
            0x06 => TcpState::TimeWait,
            0x07 => TcpState::Closed,
            0x08 => TcpState::CloseWait,
            0x09 => TcpState::LastAck,
            0x0A => TcpState::Listen,
            0x0B => TcpState::Closing,
            _ => return None,
        })
    }

    /// The RFC's spelling, e.g. `FIN-WAIT-2`.
    pub fn rfc_name(self) -> &'static str {
        match self {
            TcpState::Established => "ESTABLISHED",
            TcpState::SynSent => "SYN-SENT",
            TcpState::SynReceived => "SYN-RECEIVED",
            TcpState::FinWait1 => "FIN-WAIT-1",
            TcpState::FinWait2 => "FIN-WAIT-2",
            TcpState::TimeWait => "TIME-WAIT",
            TcpState::Closed => "CLOSED",
            TcpState::CloseWait => "CLOSE-WAIT",
            TcpState::LastAck => "LAST-ACK",
            TcpState::Listen => "LISTEN",
            TcpState::Closing => "CLOSING",
        }
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.rfc_name())
    }
}

/// One line of `/proc/net/tcp[6]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketEntry {
    /// Our address and port.
    pub local: SocketAddr,
    /// The peer's (0.0.0.0:0 for a listening socket).
    pub remote: SocketAddr,
    /// The connection state.
    pub state: TcpState,
}

/// Parses the text of `/proc/net/tcp` or `/proc/net/tcp6`. Lines that do not
/// parse (the header among them) are skipped.
pub fn parse(text: &str) -> Vec<SocketEntry> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<SocketEntry> {
    let mut fields = line.split_whitespace();
    let slot = fields.next()?;
    if !slot.ends_with(':') {
        return None;
    }
    let local = parse_addr(fields.next()?)?;
    let remote = parse_addr(fields.next()?)?;
    let state = TcpState::from_code(u8::from_str_radix(fields.next()?, 16).ok()?)?;
    Some(SocketEntry { local, remote, state })
}

/// `0100007F:1F90` → 127.0.0.1:8080; 32 hex digits for IPv6.
fn parse_addr(field: &str) -> Option<SocketAddr> {
    let (addr, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    // The kernel prints each 32-bit word of the address in the machine's
    // byte order; convert every word back to the bytes as they are in memory.
    let words: Vec<u32> = (0..addr.len() / 8)
        .map(|i| u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16).ok())
        .collect::<Option<_>>()?;
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
    let ip = match bytes.len() {
        4 => IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])),
        16 => {
            let mut b = [0u8; 16];
            b.copy_from_slice(&bytes);
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Every TCP socket on this machine (Linux), IPv4 and IPv6.
#[cfg(target_os = "linux")]
pub fn read_sockets() -> io::Result<Vec<SocketEntry>> {
    let mut all = parse(&std::fs::read_to_string("/proc/net/tcp")?);
    if let Ok(v6) = std::fs::read_to_string("/proc/net/tcp6") {
        all.extend(parse(&v6));
    }
    Ok(all)
}

/// Every TCP socket on this machine: only Linux publishes them in
/// `/proc/net/tcp`; elsewhere this says so (use `netstat -an` instead).
#[cfg(not(target_os = "linux"))]
pub fn read_sockets() -> io::Result<Vec<SocketEntry>> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "socket states come from /proc/net/tcp, which only Linux has; try `netstat -an`",
    ))
}

/// The state of the socket with this local and remote address, if the
/// kernel lists one.
pub fn state_of(local: SocketAddr, remote: SocketAddr) -> io::Result<Option<TcpState>> {
    Ok(read_sockets()?
        .into_iter()
        .find(|e| e.local == local && e.remote == remote)
        .map(|e| e.state))
}

/// The state of a listening socket on `local`, if there is one.
pub fn listening(local: SocketAddr) -> io::Result<bool> {
    Ok(read_sockets()?
        .into_iter()
        .any(|e| e.local == local && e.state == TcpState::Listen))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE_V4: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 123 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 456 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:D431 0100007F:1F90 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000
";

    #[test]
    #[cfg(target_endian = "little")]
    fn parses_ipv4_lines_as_the_kernel_prints_them() {
        let entries = parse(SAMPLE_V4);
        assert_eq!(entries.len(), 3, "the header line is skipped");
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(
            entries[0],
            SocketEntry {
                local: a("127.0.0.1:8080"),
                remote: a("0.0.0.0:0"),
                state: TcpState::Listen
            }
        );
        assert_eq!(
            (entries[1].remote, entries[1].state),
            (a("127.0.0.1:54321"), TcpState::Established)
        );
        assert_eq!(entries[2].state, TcpState::TimeWait);
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn parses_ipv6_lines() {
        let line = "   0: 00000000000000000000000001000000:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 789 1";
        let e = parse(line);
        assert_eq!(e[0].local, "[::1]:8081".parse::<SocketAddr>().unwrap());
        assert_eq!(e[0].state, TcpState::Listen);
    }

    #[test]
    fn rejects_malformed_lines() {
        assert!(parse("garbage\n  0: zz:1 00000000:0000 0A\n  1: 0100007F:1F90 00000000:0000 FF").is_empty());
    }

    #[test]
    fn state_names_follow_the_rfc() {
        assert_eq!(TcpState::from_code(0x05).unwrap().to_string(), "FIN-WAIT-2");
        assert_eq!(TcpState::from_code(0x02).unwrap().rfc_name(), "SYN-SENT");
        assert_eq!(TcpState::from_code(0x0C), None);
    }
}
