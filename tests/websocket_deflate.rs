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
