//! Compress once per group: the hub's side of permessage-deflate.
//!
//! RFC 7692 compresses each message with the sender's DEFLATE stream. A
//! server that keeps no context between messages (`server_no_context_takeover`,
//! §7.1.1.1) produces bytes that depend only on the message, the window size
//! and the effort, not on the connection. So subscribers that negotiated the
//! extension with that parameter and the same `server_max_window_bits`
//! (§7.1.2.1) form a group: the hub compresses each published frame once per
//! group and writes the same bytes to every socket in it.
//!
//! A subscriber whose connection kept server context takeover (only if the
//! server was configured to grant it; [`Compression::SERVER`] never does)
//! would need a compressor of its own, fed in exactly the order its frames
//! reach the socket. The hub sends it uncompressed frames instead: a message
//! without RSV1 is valid on every connection (compression is chosen per
//! message, §6), and the connection's own compressor, used by direct sends
//! such as a greeting, is left untouched.

use std::sync::atomic::Ordering;

use super::hub::{Batch, Frame, HubStats};
use crate::deflate::{DeflateConfig, Deflater, WindowBits};
use crate::websocket::frame::{compressed_server_frame, FrameHeader, OpCode};
use crate::websocket::{Compression, DeflateParams};

/// Which bytes a subscriber gets: `None` the frames as published
/// (uncompressed), `Some(bits)` the frames compressed without context with
/// a window of `bits`.
pub(super) type Group = Option<WindowBits>;

/// The group of a connection that negotiated `params`, for a hub that
/// compresses as `compression` says.
pub(super) fn group_of(params: Option<DeflateParams>, compression: &Compression) -> Group {
    match params {
        Some(p) if compression.enabled && p.server_no_context_takeover => Some(p.server_max_window_bits),
        _ => None,
    }
}

/// The compressed payload the hub sends for `payload` to subscribers whose
/// group has a window of `bits`, or `None` when it sends it uncompressed
/// (compression off, or `payload` under the threshold). The hub's own
/// encoder and settings, so the same bytes: what the chat quotes to pages
/// as the size of a message on the wire.
pub fn deflated(payload: &[u8], bits: WindowBits, compression: &Compression) -> Option<Vec<u8>> {
    if !compression.enabled || payload.len() < compression.threshold {
        return None;
    }
    let mut out = Vec::new();
    deflater(bits, compression).compress_message(payload, &mut out);
    Some(out)
}

/// A deflater as the hub uses it: no context kept between messages.
fn deflater(bits: WindowBits, compression: &Compression) -> Deflater {
    Deflater::new(DeflateConfig {
        window_bits: bits,
        level: compression.level,
        context_takeover: false,
    })
}

/// The frames of a batch, each data message of at least
/// `compression.threshold` bytes compressed with a window of `bits` and no
/// context; everything else (control frames, fragments, short messages)
/// as it was published. Counts the compressions in `stats`.
pub(super) fn compress_batch(frames: &[Frame], bits: WindowBits, compression: &Compression, stats: &HubStats) -> Batch {
    let mut deflater = deflater(bits, compression);
    let mut batch = Batch::default();
    let mut out = Vec::new();
    for frame in frames {
        match data_payload(frame) {
            Some((opcode, payload)) if payload.len() >= compression.threshold => {
                out.clear();
                deflater.compress_message(payload, &mut out);
                let compressed = compressed_server_frame(opcode, &out);
                stats.compressed.fetch_add(1, Ordering::Relaxed);
                stats.deflate_in.fetch_add(payload.len() as u64, Ordering::Relaxed);
                stats.deflate_out.fetch_add(out.len() as u64, Ordering::Relaxed);
                batch.push_bytes(&compressed);
            }
            _ => batch.push_bytes(frame),
        }
    }
    batch.bytes.shrink_to_fit();
    batch
}

/// The opcode and payload of a published frame that is a whole, unmasked,
/// uncompressed text or binary message; `None` for anything else.
fn data_payload(frame: &[u8]) -> Option<(OpCode, &[u8])> {
    let (header, len) = FrameHeader::parse(frame).ok()??;
    let whole = header.fin && header.rsv == 0 && header.mask.is_none();
    let data = matches!(header.opcode, OpCode::Text | OpCode::Binary);
    let payload = frame.get(len..)?;
    (whole && data && payload.len() as u64 == header.payload_len).then_some((header.opcode, payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::Inflater;
    use crate::websocket::frame::{server_frame, RSV1};

    #[test]
    fn long_data_frames_are_compressed_and_the_rest_pass_through() {
        let text = "{\"type\":\"message\",\"from\":\"ada\",\"text\":\"hello hello hello hello\"}".repeat(3);
        let frames: Vec<Frame> = vec![
            server_frame(OpCode::Text, text.as_bytes()).into(),
            server_frame(OpCode::Text, b"short").into(),
            server_frame(OpCode::Ping, b"").into(),
        ];
        let stats = HubStats::default();
        let batch = compress_batch(&frames, WindowBits::MAX, &Compression::SERVER, &stats);
        assert_eq!(stats.compressed.load(Ordering::Relaxed), 1);
        let (header, len) = FrameHeader::parse(&batch.bytes).unwrap().unwrap();
        assert_eq!(header.rsv, RSV1, "the compressed message has RSV1");
        let end = batch.ends[0];
        assert!(end < frames[0].len(), "smaller than the original");
        let mut inflated = Vec::new();
        Inflater::new(WindowBits::MAX, false)
            .inflate_message(&batch.bytes[len..end], &mut inflated, 1 << 20)
            .unwrap();
        assert_eq!(inflated, text.as_bytes());
        assert_eq!(&batch.bytes[end..], [&frames[1][..], &frames[2][..]].concat());
    }

    #[test]
    fn only_connections_without_server_context_takeover_share_compressed_bytes() {
        let mut params = Compression::SERVER.accept(["permessage-deflate"]).unwrap();
        assert_eq!(group_of(Some(params), &Compression::SERVER), Some(WindowBits::MAX));
        assert_eq!(group_of(Some(params), &Compression::OFF), None);
        assert_eq!(group_of(None, &Compression::SERVER), None);
        params.server_no_context_takeover = false;
        assert_eq!(group_of(Some(params), &Compression::SERVER), None);
    }
}
