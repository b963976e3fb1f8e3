//! `frame_anatomy`: what WebSocket frames look like on the wire, byte by byte.
//!
//! ```text
//! cargo run --example frame_anatomy
//! ```
//!
//! Encodes a few messages the way a server and a client would send them and
//! prints each frame's header fields, its size, and the first bytes in hex.
//! It shows three facts from `docs/frames.md`:
//!
//! - a header is 2 bytes for payloads up to 125 bytes, 4 bytes up to 65 535,
//!   10 bytes beyond;
//! - a client adds a 4-byte masking key to every frame, so client headers
//!   are 6, 8 or 14 bytes (the notes' "2-10 bytes" counts only server frames);
//! - masking changes every payload byte, with a fresh key per frame.
//!
//! It prints and exits. Next: `RUST_LOG=trace cargo run --example ws_echo`
//! and connect a client, to see the same fields for live traffic.

use wirelab::websocket::frame::{encode_frame, FrameHeader, OpCode};

fn main() {
    let mut masks = wirelab::random::MaskKeys::new();
    let samples: Vec<(&str, OpCode, Vec<u8>)> = vec![
        ("text \"Hello\"", OpCode::Text, b"Hello".to_vec()),
        ("empty ping", OpCode::Ping, Vec::new()),
        (
            "close 1000 \"bye\"",
            OpCode::Close,
            [&1000u16.to_be_bytes()[..], b"bye"].concat(),
        ),
        ("125-byte text", OpCode::Text, vec![b'a'; 125]),
        ("126-byte text", OpCode::Text, vec![b'a'; 126]),
        ("64 KiB binary", OpCode::Binary, vec![0u8; 65_536]),
    ];
    println!(
        "{:<18} {:<7} {:>7} {:>8}  header fields / first bytes",
        "message", "from", "header", "payload"
    );
    for (name, opcode, payload) in &samples {
        for (from, mask) in [("server", None), ("client", Some(masks.next_key()))] {
            let mut frame = Vec::new();
            encode_frame(&mut frame, true, *opcode, payload, mask);
            let (header, header_len) = FrameHeader::parse(&frame).unwrap().unwrap();
            println!(
                "{name:<18} {from:<7} {header_len:>5} B {:>6} B  {header}",
                payload.len()
            );
            let shown = &frame[..frame.len().min(header_len + 8)];
            let hex: Vec<String> = shown.iter().map(|b| format!("{b:02x}")).collect();
            println!(
                "{:<45}  {} | {}{}",
                "",
                hex[..header_len].join(" "),
                hex[header_len..].join(" "),
                if frame.len() > shown.len() { " …" } else { "" }
            );
        }
    }
    println!();
    println!("A fragmented text message, \"Hello, world\" in three frames (server side):");
    for (fin, opcode, part) in [
        (false, OpCode::Text, &b"Hel"[..]),
        (false, OpCode::Continuation, b"lo, "),
        (true, OpCode::Continuation, b"world"),
    ] {
        let mut frame = Vec::new();
        encode_frame(&mut frame, fin, opcode, part, None);
        let (header, _) = FrameHeader::parse(&frame).unwrap().unwrap();
        println!("  {header}  payload {:?}", String::from_utf8_lossy(part));
    }
    println!();
    println!("next: RUST_LOG=trace cargo run --example ws_echo, then cargo run --example ws_client");
}
