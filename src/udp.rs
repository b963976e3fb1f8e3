//! UDP: datagrams, no connection (RFC 768).
//!
//! Where TCP gives a connected byte stream, UDP gives single datagrams: each
//! `send_to` is one packet with an 8-byte header (source port, destination
//! port, length, checksum), delivered whole or not at all, with no
//! handshake, no acknowledgement, no retransmission and no ordering between
//! datagrams. The note "HTTP、TCP与UDP、Socket与Websocket之间的联系与区别" compares the two (TCP like a
//! phone call, UDP like a text message); `tests/transport.rs` checks the
//! user-visible parts:
//!
//! - `udp_keeps_datagram_boundaries`: two sends, two receives, never merged;
//! - `a_datagram_bigger_than_the_receive_buffer_is_cut_not_split`;
//! - `a_udp_payload_over_65507_bytes_cannot_be_sent`: the 16-bit length
//!   field (65 535) minus the 8-byte UDP header and 20-byte IPv4 header
//!   ([`MAX_PAYLOAD_V4`]);
//! - `udp_sends_without_a_connection_tcp_connect_is_refused`.
//!
//! Two details the note glosses over: "无序" means UDP does not *restore*
//! order, not that it shuffles (on one path datagrams usually arrive in
//! order); and "不可靠" means losses are not repaired. Loss happens even on
//! loopback: once a receiver's socket buffer is full, the kernel drops what
//! does not fit and tells nobody
//! (`udp_drops_datagrams_on_loopback_once_the_receive_buffer_is_full` in
//! `tests/udp.rs`).

use std::io;
use std::net::UdpSocket;

/// Largest UDP payload over IPv4: 65 535 − 20 (IP header) − 8 (UDP header).
pub const MAX_PAYLOAD_V4: usize = 65_507;

/// Echoes every datagram back to its sender, forever (until the socket
/// fails). The buffer holds the largest possible datagram, so nothing is
/// ever cut.
pub fn serve_echo(socket: &UdpSocket) -> io::Result<()> {
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, from) = socket.recv_from(&mut buf)?;
        log::info!("datagram of {n} bytes from {from}");
        if let Err(e) = socket.send_to(&buf[..n], from) {
            log::info!("could not answer {from}: {e}");
        }
    }
}
