//! `ws_interop`: our client against any WebSocket echo server, with
//! permessage-deflate (RFC 7692): the check CI runs against Python's
//! `websockets` server.
//!
//! ```text
//! cargo run --example ws_interop ws://127.0.0.1:PORT/
//! ```
//!
//! It connects offering the extension (as [`ClientConfig::default`]
//! does), requires the server to accept it, then sends text and binary
//! messages of 0 B to 4 MiB and checks that each comes back intact, and
//! that large repetitive text went compressed both ways. The last line is
//! `ws_interop: N passed, M failed`; the exit status is 1 if any failed.

use std::time::Duration;

use wirelab::websocket::{self, ClientConfig, Config, Message, WebSocket};

const SIZES: [usize; 9] = [0, 1, 125, 126, 1000, 65_535, 65_536, 1 << 20, 4 << 20];

/// Text that compresses like chat or JSON does.
fn json_like(len: usize) -> String {
    let unit = "{\"nick\":\"ada\",\"text\":\"hello, compressed world\",\"seq\":12345}\n";
    unit.repeat(len / unit.len() + 1)[..len].to_string()
}

/// Bytes that do not compress.
fn noise(len: usize, seed: u32) -> Vec<u8> {
    wirelab::random::XorShift::new(u64::from(seed)).bytes(len)
}

fn echo(ws: &mut WebSocket, sent: Message) -> Result<(), String> {
    let len = sent.len();
    ws.send(sent.clone()).map_err(|e| e.to_string())?;
    loop {
        match ws.read().map_err(|e| e.to_string())? {
            m @ (Message::Text(_) | Message::Binary(_)) if m == sent => return Ok(()),
            Message::Text(_) | Message::Binary(_) => return Err(format!("a message of {len} bytes came back changed")),
            _ => {}
        }
    }
}

fn run(url: &str) -> Vec<(&'static str, Result<(), String>)> {
    let config = ClientConfig {
        connection: Config {
            max_frame_size: 16 << 20,
            max_message_size: 16 << 20,
            ..Config::default()
        },
        ..ClientConfig::default()
    };
    let mut ws = match websocket::connect_with(url, &config) {
        Ok(ws) => ws,
        Err(e) => return vec![("connect", Err(e.to_string()))],
    };
    let _ = ws.set_read_timeout(Some(Duration::from_secs(20)));
    let mut results = Vec::new();
    results.push((
        "permessage-deflate is negotiated",
        ws.compression()
            .map(|p| println!("  agreed: {p}"))
            .ok_or_else(|| "the server declined the offer".to_string()),
    ));
    let text = SIZES
        .iter()
        .try_for_each(|&n| echo(&mut ws, Message::text(json_like(n))));
    results.push(("text messages of 0 B to 4 MiB come back intact", text));
    let binary = SIZES
        .iter()
        .try_for_each(|&n| echo(&mut ws, Message::binary(noise(n, n as u32))));
    results.push(("binary messages of 0 B to 4 MiB come back intact", binary));
    let both_ways = echo(&mut ws, Message::text(json_like(100_000))).and_then(|()| {
        let sent = ws.writer().last_sent();
        let got = ws.last_message_wire();
        println!(
            "  100 000 bytes of JSON-like text: {} bytes sent, {} bytes received",
            sent.payload_bytes, got.payload_bytes
        );
        match sent.compressed && got.compressed && got.payload_bytes < 10_000 {
            true => Ok(()),
            false => Err(format!("not compressed: sent {sent:?}, received {got:?}")),
        }
    });
    results.push(("repetitive text is compressed both ways", both_ways));
    let _ = ws.close(None);
    results
}

fn main() {
    wirelab::init_logging();
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: ws_interop ws://HOST:PORT/");
        std::process::exit(2);
    };
    let results = run(&url);
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    for (name, result) in &results {
        match result {
            Ok(()) => println!("ok   {name}"),
            Err(e) => println!("FAIL {name}: {e}"),
        }
    }
    println!("ws_interop: {} passed, {failed} failed", results.len() - failed);
    std::process::exit(i32::from(failed > 0));
}
