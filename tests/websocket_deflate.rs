//! permessage-deflate (RFC 7692): negotiation on strings, then compressed
//! messages over real loopback sockets, both ends ours.

mod support;

use wirelab::deflate::WindowBits;
use wirelab::http::{read_response_head, Limits};
use wirelab::websocket::extension::{check_response, parse};
use wirelab::websocket::{Compression, DeflateParams};

fn accept(offer: &str) -> Option<String> {
    Compression::SERVER.accept([offer]).map(|p| p.response())
}

fn bits(n: u8) -> WindowBits {
    WindowBits::new(n).unwrap()
}

#[test]
fn parsing_handles_several_offers_headers_and_quoted_values() {
    let ext = parse([
        "permessage-deflate; client_max_window_bits=\"10\"; server_no_context_takeover, x-other",
        " permessage-deflate ;client_max_window_bits ",
    ])
    .unwrap();
    assert_eq!(ext.len(), 3);
    assert_eq!(ext[0].params[0], ("client_max_window_bits".into(), Some("10".into())));
    assert_eq!(ext[0].params[1], ("server_no_context_takeover".into(), None));
    assert_eq!(ext[1].name, "x-other");
    assert_eq!(ext[2].params, [("client_max_window_bits".into(), None)]);
    assert!(parse(["permessage-deflate; a=\"unterminated"]).is_err());
    assert!(parse(["permessage-deflate; =1"]).is_err());
}

#[test]
fn the_server_answers_each_parameter_as_rfc_7692_allows() {
    // What browsers offer: the client takes a 12-bit window; we keep no context.
    assert_eq!(
        accept("permessage-deflate; client_max_window_bits").as_deref(),
        Some("permessage-deflate; server_no_context_takeover; client_max_window_bits=12")
    );
    // No client_max_window_bits offered: it may not be named, so the
    // client is asked to keep no context instead (bounded memory here).
    assert_eq!(
        accept("permessage-deflate").as_deref(),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
    );
    // Values are honoured, the smaller of theirs and ours wins.
    assert_eq!(
        accept("permessage-deflate; server_max_window_bits=10; client_max_window_bits=9").as_deref(),
        Some("permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9")
    );
    assert_eq!(
        accept("permessage-deflate; client_max_window_bits=\"15\"; client_no_context_takeover").as_deref(),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=12")
    );
    // With context takeover allowed by the configuration.
    let keep = Compression {
        server_context_takeover: true,
        client_max_window_bits: WindowBits::MAX,
        ..Compression::SERVER
    };
    assert_eq!(
        keep.accept(["permessage-deflate"]).unwrap().response(),
        "permessage-deflate"
    );
}

#[test]
fn malformed_offers_are_declined_and_the_next_one_is_taken() {
    for bad in [
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; client_max_window_bits=16",
        "permessage-deflate; client_max_window_bits=010",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; unknown_parameter",
        "x-webkit-deflate-frame",
    ] {
        assert_eq!(accept(bad), None, "{bad}");
    }
    let two = Compression::SERVER
        .accept(["permessage-deflate; foo, permessage-deflate; server_max_window_bits=9"])
        .unwrap();
    assert_eq!(two.server_max_window_bits, bits(9));
    assert_eq!(Compression::OFF.accept(["permessage-deflate"]), None);
}

fn response(extensions: &str) -> wirelab::http::ResponseHead {
    let raw =
        format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{extensions}\r\n");
    read_response_head(&mut raw.as_bytes(), &Limits::default()).unwrap()
}

#[test]
fn the_client_accepts_what_it_offered_and_fails_on_anything_else() {
    let offer = Compression::CLIENT;
    assert_eq!(
        offer.offer().as_deref(),
        Some("permessage-deflate; client_max_window_bits")
    );
    assert_eq!(check_response(&response(""), &offer), Ok(None));
    let p: DeflateParams = check_response(
        &response(
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_max_window_bits=8\r\n",
        ),
        &offer,
    )
    .unwrap()
    .unwrap();
    assert!(p.server_no_context_takeover && !p.client_no_context_takeover);
    assert_eq!(p.client_max_window_bits, bits(8));
    // zlib's 8-bit quirk: a peer held to 8 bits is inflated with 9.
    assert_eq!(p.inflate_window(false), bits(9));
    for bad in [
        "x-unknown",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; bogus",
        "permessage-deflate, permessage-deflate",
    ] {
        let head = response(&format!("Sec-WebSocket-Extensions: {bad}\r\n"));
        assert!(check_response(&head, &offer).is_err(), "{bad}");
    }
    // Nothing offered: any extension fails the connection.
    let head = response("Sec-WebSocket-Extensions: permessage-deflate\r\n");
    assert!(check_response(&head, &Compression::OFF).is_err());
    // A limit we asked for must be in the answer, and not exceeded.
    let strict = Compression {
        server_context_takeover: false,
        server_max_window_bits: bits(10),
        ..Compression::CLIENT
    };
    for bad in [
        "permessage-deflate; server_max_window_bits=10",
        "permessage-deflate; server_no_context_takeover",
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=11",
    ] {
        let head = response(&format!("Sec-WebSocket-Extensions: {bad}\r\n"));
        assert!(check_response(&head, &strict).is_err(), "{bad}");
    }
}

/// A fake server that answers any Upgrade with 101 and the given
/// `Sec-WebSocket-Extensions` value; returns the client's error text.
fn refused_answer(extensions: &'static str, client: Compression) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut key = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(v) = line.strip_prefix("Sec-WebSocket-Key:") {
                key = v.trim().to_string();
            }
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        let accept = wirelab::websocket::handshake::accept_key(&key);
        let answer = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Extensions: {extensions}\r\n\r\n"
        );
        (&stream).write_all(answer.as_bytes()).unwrap();
    });
    let config = wirelab::websocket::ClientConfig {
        compression: client,
        ..Default::default()
    };
    let Err(err) = wirelab::websocket::connect_with(&format!("ws://{addr}/"), &config) else {
        panic!("the answer must be refused");
    };
    server.join().unwrap();
    err.to_string()
}

#[test]
fn a_refused_extension_answer_is_explained_once() {
    // Offered compression, got an unknown extension.
    let text = refused_answer("x-unknown", Compression::CLIENT);
    assert_eq!(text.matches("not offered").count(), 1, "{text}");
    assert!(text.contains("x-unknown"), "{text}");
    // Offered nothing, got permessage-deflate.
    let text = refused_answer("permessage-deflate", Compression::OFF);
    assert_eq!(text.matches("not offered").count(), 1, "{text}");
    assert!(text.contains("permessage-deflate"), "{text}");
    // Offered compression, but the answer breaks the offer's terms: the
    // reason is given, not a false "not offered".
    let text = refused_answer("permessage-deflate; server_max_window_bits=16", Compression::CLIENT);
    assert!(!text.contains("not offered"), "{text}");
    assert!(text.contains("server_max_window_bits"), "{text}");
}

mod sockets {
    use std::net::TcpListener;
    use std::thread;

    use super::support::{echo_server, Raw, WAIT};
    use wirelab::deflate::{DeflateConfig, Deflater};
    use wirelab::server::ServerConfig;
    use wirelab::websocket::frame::{OpCode, RSV1};
    use wirelab::websocket::{self, AcceptConfig, ClientConfig, CloseCode, Compression, Message};

    /// Text that compresses like chat or JSON does.
    fn text_of(len: usize) -> String {
        let unit = "{\"nick\":\"ada\",\"text\":\"hello, compressed world\",\"seq\":12345}\n";
        unit.repeat(len / unit.len() + 1)[..len].to_string()
    }

    fn pseudo_random(len: usize) -> Vec<u8> {
        wirelab::random::XorShift::new(0x2545_f491).bytes(len)
    }

    #[test]
    fn messages_from_0_bytes_to_4_mib_survive_compression_both_ways() {
        let server = echo_server(ServerConfig::default());
        let mut ws = websocket::connect(&format!("ws://{}/", server.local_addr())).unwrap();
        ws.set_read_timeout(Some(WAIT)).unwrap();
        let params = ws.compression().expect("both ends offer and accept it by default");
        assert!(params.server_no_context_takeover, "{params}");
        for len in [0, 1, 63, 64, 1000, 70_000, 1 << 20, 4 << 20] {
            let text = text_of(len);
            ws.send(Message::text(text.clone())).unwrap();
            assert_eq!(ws.read().unwrap(), Message::text(text), "text of {len}");
            let wire = ws.writer().last_sent();
            assert_eq!(wire.compressed, len >= 64, "{len}: {wire:?}");
            if len >= 1000 {
                assert!(wire.payload_bytes * 5 < len, "{len}: {wire:?}");
            }
            let binary = pseudo_random(len);
            ws.send(Message::binary(binary.clone())).unwrap();
            assert_eq!(ws.read().unwrap(), Message::binary(binary), "binary of {len}");
        }
        // What the echo sent back was compressed too.
        ws.send(Message::text(text_of(10_000))).unwrap();
        ws.read().unwrap();
        let wire = ws.last_message_wire();
        assert!(wire.compressed && wire.payload_bytes < 1000, "{wire:?}");
    }

    #[test]
    fn either_side_can_turn_it_off() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let config = AcceptConfig {
                compression: Compression::OFF,
                ..AcceptConfig::default()
            };
            let ws = websocket::accept_with(listener.accept().unwrap().0, &config).unwrap();
            ws.compression()
        });
        let ws = websocket::connect(&format!("ws://{addr}/")).unwrap();
        assert_eq!(ws.compression(), None);
        assert_eq!(server.join().unwrap(), None);
        // A client that offers nothing gets nothing from a willing server.
        let server = echo_server(ServerConfig::default());
        let config = ClientConfig {
            compression: Compression::OFF,
            ..ClientConfig::default()
        };
        let mut ws = websocket::connect_with(&format!("ws://{}/", server.local_addr()), &config).unwrap();
        ws.set_read_timeout(Some(WAIT)).unwrap();
        assert_eq!(ws.compression(), None);
        ws.send(Message::text(text_of(5000))).unwrap();
        assert_eq!(ws.read().unwrap(), Message::text(text_of(5000)));
        assert!(!ws.writer().last_sent().compressed);
    }

    fn compressed(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        Deflater::new(DeflateConfig {
            context_takeover: false,
            ..DeflateConfig::default()
        })
        .compress_message(data, &mut out);
        out
    }

    fn negotiated_raw(addr: std::net::SocketAddr) -> Raw {
        let (raw, answer) = Raw::connect_offering(addr, Some("permessage-deflate; client_max_window_bits"));
        assert!(answer.unwrap().starts_with("permessage-deflate"));
        raw
    }

    #[test]
    fn rsv1_is_allowed_only_on_the_first_frame_of_a_data_message() {
        let server = echo_server(ServerConfig::default());
        let addr = server.local_addr();
        // Without the extension, RSV1 is a protocol error.
        let mut raw = Raw::connect(addr);
        raw.send_rsv(true, RSV1, OpCode::Text, &compressed(b"hello"));
        assert_eq!(raw.recv_close_code(), CloseCode::PROTOCOL_ERROR.0);
        // With it: a compressed message in two fragments is echoed.
        let mut raw = negotiated_raw(addr);
        let data = compressed(b"hello hello hello hello hello");
        raw.send_rsv(false, RSV1, OpCode::Text, &data[..3]);
        raw.send_rsv(true, 0, OpCode::Continuation, &data[3..]);
        assert_eq!(raw.recv().0, OpCode::Text);
        // RSV1 on a continuation frame, or on a ping: 1002.
        raw.send_rsv(false, RSV1, OpCode::Text, &data[..3]);
        raw.send_rsv(true, RSV1, OpCode::Continuation, &data[3..]);
        assert_eq!(raw.recv_close_code(), CloseCode::PROTOCOL_ERROR.0);
        let mut raw = negotiated_raw(addr);
        raw.send_rsv(true, RSV1, OpCode::Ping, b"");
        assert_eq!(raw.recv_close_code(), CloseCode::PROTOCOL_ERROR.0);
        // Invalid DEFLATE data, and invalid UTF-8 once inflated: 1007.
        let mut raw = negotiated_raw(addr);
        raw.send_rsv(true, RSV1, OpCode::Binary, &[0xff, 0xff, 0xff]);
        assert_eq!(raw.recv_close_code(), CloseCode::INVALID_PAYLOAD.0);
        let mut raw = negotiated_raw(addr);
        raw.send_rsv(true, RSV1, OpCode::Text, &compressed(b"ok \xff not UTF-8"));
        assert_eq!(raw.recv_close_code(), CloseCode::INVALID_PAYLOAD.0);
    }

    #[test]
    fn a_compression_bomb_is_refused_with_1009_at_the_message_limit() {
        // 16 MiB of zeros compress to about 16 KiB; the limit is 1 MiB.
        let bomb = compressed(&vec![0u8; 16 << 20]);
        assert!(bomb.len() < 32 * 1024, "{}", bomb.len());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let config = AcceptConfig::with_max_message(1 << 20);
            let mut ws = websocket::accept_with(listener.accept().unwrap().0, &config).unwrap();
            ws.set_read_timeout(Some(WAIT)).unwrap();
            ws.read()
        });
        let mut raw = negotiated_raw(addr);
        raw.send_rsv(true, RSV1, OpCode::Binary, &bomb);
        assert_eq!(raw.recv_close_code(), CloseCode::TOO_BIG.0);
        let err = server.join().unwrap().unwrap_err();
        assert!(err.to_string().contains("limit"), "{err}");
    }

    #[test]
    fn context_takeover_makes_repeated_messages_smaller_on_the_wire() {
        let sizes = |takeover: bool| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = thread::spawn(move || {
                let config = AcceptConfig {
                    compression: Compression {
                        server_context_takeover: takeover,
                        ..Compression::SERVER
                    },
                    ..AcceptConfig::default()
                };
                let ws = websocket::accept_with(listener.accept().unwrap().0, &config).unwrap();
                let mut sizes = Vec::new();
                for _ in 0..3 {
                    ws.writer().send_text(&text_of(300)).unwrap();
                    sizes.push(ws.writer().last_sent().payload_bytes);
                }
                sizes
            });
            let mut ws = websocket::connect(&format!("ws://{addr}/")).unwrap();
            ws.set_read_timeout(Some(WAIT)).unwrap();
            for _ in 0..3 {
                assert_eq!(ws.read().unwrap(), Message::text(text_of(300)));
            }
            server.join().unwrap()
        };
        let kept = sizes(true);
        let reset = sizes(false);
        assert_eq!(reset[0], reset[2], "{reset:?}");
        assert!(kept[1] * 3 < reset[1], "kept {kept:?}, reset {reset:?}");
    }

    #[test]
    fn messages_below_the_threshold_go_uncompressed() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let config = AcceptConfig {
                compression: Compression {
                    threshold: 1000,
                    ..Compression::SERVER
                },
                ..AcceptConfig::default()
            };
            let ws = websocket::accept_with(listener.accept().unwrap().0, &config).unwrap();
            ws.writer().send_text(&text_of(999)).unwrap();
            ws.writer().send_text(&text_of(1000)).unwrap();
        });
        let mut raw = negotiated_raw(addr);
        let (op, payload) = raw.recv();
        assert_eq!((op, payload.len()), (OpCode::Text, 999));
        let (op, payload) = raw.recv();
        assert!(op == OpCode::Text && payload.len() < 200, "{}", payload.len());
        server.join().unwrap();
    }
}

mod memory {
    use std::net::TcpListener;
    use std::thread;

    use super::support::WAIT;
    use wirelab::websocket::{self, ClientConfig, Compression, Message};

    /// What an idle server connection keeps for compression after a chat
    /// session, for a browser's offer and for an offer without
    /// `client_max_window_bits`.
    fn idle_server_memory(client: Compression) -> usize {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let mut ws = websocket::accept(listener.accept().unwrap().0).unwrap();
            ws.set_read_timeout(Some(WAIT)).unwrap();
            for _ in 0..200 {
                let m = ws.read().unwrap();
                ws.send(m).unwrap();
            }
            assert!(ws.compression().is_some());
            ws.compression_memory()
        });
        let config = ClientConfig {
            compression: client,
            ..ClientConfig::default()
        };
        let mut ws = websocket::connect_with(&format!("ws://{addr}/"), &config).unwrap();
        ws.set_read_timeout(Some(WAIT)).unwrap();
        for i in 0..200 {
            // Chat-like messages, and now and then a large one.
            let text = match i % 50 {
                0 => format!("{{\"nick\":\"ada\",\"text\":\"{}\"}}", "long line ".repeat(10_000)),
                _ => format!("{{\"nick\":\"ada\",\"seq\":{i},\"text\":\"hello everyone\"}}"),
            };
            ws.send(Message::text(text.clone())).unwrap();
            assert_eq!(ws.read().unwrap(), Message::text(text));
        }
        server.join().unwrap()
    }

    #[test]
    fn an_idle_server_connection_keeps_a_4_kib_window_at_most_for_compression() {
        // Browsers offer client_max_window_bits: the server answers 12 bits
        // and keeps the client's last 4 KiB; its own messages keep nothing.
        // (plus the buffer of the last small compressed message).
        let browser_like = idle_server_memory(Compression::CLIENT);
        assert!((4096..=8192).contains(&browser_like), "{browser_like}");
        // A client that keeps no context leaves the server no window to keep.
        let no_context = idle_server_memory(Compression {
            client_context_takeover: false,
            ..Compression::CLIENT
        });
        assert!(no_context < 4096, "{no_context}");
    }
}
