//! The chat facing strangers: other sites' pages, forged senders, floods
//! of messages and storms of joins, pages that trickle. Each test names
//! the defence it checks.

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use wirelab::app::chat::{self, ChatConfig, ChatLimits};
use wirelab::app::json;
use wirelab::app::rate::Rate;
use wirelab::http::{read_response_head, Limits};
use wirelab::websocket::frame::{encode_frame, OpCode};
use wirelab::websocket::handshake::{client_request, generate_key};
use wirelab::websocket::{self, Message, WebSocket};

const WAIT: Duration = Duration::from_secs(10);

fn start(limits: ChatLimits) -> (wirelab::server::ServerHandle, Arc<chat::Chat>) {
    let config = ChatConfig {
        limits,
        ..ChatConfig::default()
    };
    chat::spawn_with("127.0.0.1:0", config).unwrap()
}

/// The next event, past the size reports that follow compressed ones
/// (`"type":"wire"`, checked in `tests/chat.rs`).
fn event(ws: &mut WebSocket) -> json::Value {
    loop {
        match ws.read().unwrap() {
            Message::Text(t) if t.starts_with(r#"{"type":"wire""#) => {}
            Message::Text(t) => return json::parse(&t).unwrap(),
            Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => {}
        }
    }
}

fn field<'a>(v: &'a json::Value, key: &str) -> &'a str {
    v.get(key).and_then(json::Value::as_str).unwrap_or("")
}

/// Joins over WebSocket; returns the socket once the history has arrived.
fn join(addr: SocketAddr, nick: &str) -> WebSocket {
    let mut ws = websocket::connect(&format!("ws://{addr}/ws")).unwrap();
    ws.set_read_timeout(Some(WAIT)).unwrap();
    ws.send(Message::text(format!(r#"{{"type":"join","nick":"{nick}"}}"#)))
        .unwrap();
    assert_eq!(field(&event(&mut ws), "type"), "history");
    ws
}

/// One request on its own connection, with `extra` header lines; the
/// status and the body.
fn request(addr: SocketAddr, method: &str, target: &str, extra: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        s,
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    let _ = s.read_to_string(&mut response);
    let status = response.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_string();
    (status, body)
}

fn post(addr: SocketAddr, target: &str, body: &str) -> (u16, String) {
    request(addr, "POST", target, "Content-Type: application/json\r\n", body)
}

/// The status a WebSocket handshake to `/ws` gets with this Host and Origin.
fn handshake_status(addr: SocketAddr, host: &str, origin: Option<&str>) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(&client_request(host, "/ws", &generate_key(), &[], origin))
        .unwrap();
    read_response_head(&mut BufReader::new(&s), &Limits::default())
        .unwrap()
        .status
}

#[test]
fn a_page_of_another_site_cannot_open_the_chat_websocket_nor_a_rebinding_name() {
    let (server, _chat) = start(ChatLimits::default());
    let addr = server.local_addr();
    let me = addr.to_string();
    let port = addr.port();
    // Cross-site WebSocket hijacking: another site's page opens our /ws.
    assert_eq!(handshake_status(addr, &me, Some("http://evil.example")), 403);
    assert_eq!(handshake_status(addr, &me, Some("null")), 403);
    assert_eq!(
        handshake_status(addr, &me, Some(&format!("http://127.0.0.1:{}", port + 1))),
        403
    );
    // DNS rebinding: our address under another name.
    let rebound = format!("evil.example:{port}");
    assert_eq!(
        handshake_status(addr, &rebound, Some(&format!("http://{rebound}"))),
        421
    );
    // Our own pages, under our names, and clients that are not pages.
    assert_eq!(handshake_status(addr, &me, Some(&format!("http://{me}"))), 101);
    assert_eq!(
        handshake_status(
            addr,
            &format!("localhost:{port}"),
            Some(&format!("http://localhost:{port}"))
        ),
        101
    );
    assert_eq!(handshake_status(addr, &me, None), 101);
}

#[test]
fn the_polling_api_refuses_what_another_sites_page_could_send() {
    let (server, _chat) = start(ChatLimits::default());
    let addr = server.local_addr();
    let join = r#"{"nick":"mallory"}"#;
    // A form or a text/plain fetch needs no CORS preflight: refused.
    let (status, body) = request(addr, "POST", "/api/chat/join", "Content-Type: text/plain\r\n", join);
    assert_eq!(status, 415, "{body}");
    let form = "Content-Type: application/x-www-form-urlencoded\r\n";
    assert_eq!(request(addr, "POST", "/api/chat/join", form, "nick=mallory").0, 415);
    // JSON from another site's page: refused by its Origin.
    let foreign = "Content-Type: application/json\r\nOrigin: http://evil.example\r\n";
    assert_eq!(request(addr, "POST", "/api/chat/join", foreign, join).0, 403);
    // Reading under a rebinding name: refused by its Host.
    let (status, _) = request(addr, "GET", "/api/chat/poll?since=0", "", "");
    assert_eq!(status, 200);
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        s,
        "GET /api/chat/poll?since=0 HTTP/1.1\r\nHost: evil.example:{}\r\n\r\n",
        addr.port()
    )
    .unwrap();
    let head = read_response_head(&mut BufReader::new(&s), &Limits::default()).unwrap();
    assert_eq!(head.status, 421);
    // A page of ours may.
    let own = format!("Content-Type: application/json\r\nOrigin: http://{addr}\r\n");
    assert_eq!(request(addr, "POST", "/api/chat/join", &own, join).0, 200);
}

#[test]
fn nobody_can_post_as_someone_who_is_online() {
    let (server, _chat) = start(ChatLimits::default());
    let addr = server.local_addr();
    let mut alice = join(addr, "alice");
    assert_eq!(field(&event(&mut alice), "type"), "join");
    // A forged say under alice's name, over HTTP: no token, a made-up one.
    let (status, body) = post(addr, "/api/chat/say", r#"{"nick":"alice","text":"forged"}"#);
    assert_eq!(status, 403, "{body}");
    let made_up = r#"{"token":"00000000000000000000000000000000","text":"forged"}"#;
    assert_eq!(post(addr, "/api/chat/say", made_up).0, 403);
    // Joining as alice without her token: the nickname is taken.
    let (status, body) = post(addr, "/api/chat/join", r#"{"nick":"alice"}"#);
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("in use"), "{body}");
    let mut impostor = websocket::connect(&format!("ws://{addr}/ws")).unwrap();
    impostor.set_read_timeout(Some(WAIT)).unwrap();
    impostor
        .send(Message::text(r#"{"type":"join","nick":"alice"}"#))
        .unwrap();
    let answer = event(&mut impostor);
    assert_eq!(field(&answer, "type"), "error");
    assert!(field(&answer, "text").contains("in use"), "{answer:?}");
    // A forged leave does not make her leave either.
    assert_eq!(post(addr, "/api/chat/leave", r#"{"nick":"alice"}"#).0, 403);
    // Nothing forged reached her: her next event is her own message.
    alice
        .send(Message::text(r#"{"type":"say","text":"really me"}"#))
        .unwrap();
    let next = event(&mut alice);
    assert_eq!(
        (field(&next, "nick"), field(&next, "text")),
        ("alice", "really me"),
        "{next:?}"
    );
}

#[test]
fn a_page_sending_faster_than_its_rate_is_told_so_and_nothing_queues() {
    let limits = ChatLimits {
        says: Rate {
            burst: 5,
            per_second: 2.0,
        },
        ..ChatLimits::default()
    };
    let (server, _chat) = start(limits);
    let addr = server.local_addr();
    let mut alice = join(addr, "alice");
    assert_eq!(field(&event(&mut alice), "type"), "join");
    for i in 0..12 {
        alice
            .send(Message::text(format!(r#"{{"type":"say","text":"m{i}"}}"#)))
            .unwrap();
    }
    let (mut said, mut refused) = (Vec::new(), 0);
    for _ in 0..12 {
        let e = event(&mut alice);
        match field(&e, "type") {
            "message" => said.push(field(&e, "text").to_string()),
            "error" => {
                assert!(
                    field(&e, "text").contains("faster than 2 a second (bursts of 5)"),
                    "{e:?}"
                );
                refused += 1;
            }
            other => panic!("{other}: {e:?}"),
        }
    }
    // The burst went out; the rest was refused, not queued for later (a
    // token may come back while they are read, on a loaded machine).
    assert_eq!(said[..5], ["m0", "m1", "m2", "m3", "m4"]);
    assert!(said.len() <= 6 && refused >= 6, "{said:?}, {refused} refused");
    // Half a second later, one more may go out.
    thread::sleep(Duration::from_millis(600));
    alice.send(Message::text(r#"{"type":"say","text":"later"}"#)).unwrap();
    assert_eq!(field(&event(&mut alice), "text"), "later");
    // Over HTTP: 429, with how long to wait.
    let (_, body) = post(addr, "/api/chat/join", r#"{"nick":"bob"}"#);
    let bob = field(&json::parse(&body).unwrap(), "token").to_string();
    let say = format!(r#"{{"token":"{bob}","text":"hi"}}"#);
    let statuses: Vec<u16> = (0..7).map(|_| post(addr, "/api/chat/say", &say).0).collect();
    assert_eq!(statuses[..5], [201; 5], "{statuses:?}");
    assert!(statuses[5..].contains(&429), "{statuses:?}");
}

#[test]
fn a_storm_of_joins_keeps_websocket_subscribers_connected_and_presence_bounded() {
    let limits = ChatLimits {
        max_online: 100,
        ..ChatLimits::default()
    };
    let (server, chat) = start(limits);
    let addr = server.local_addr();
    // Three subscribers; one reads slowly (a browser busy drawing).
    let received: Arc<Vec<AtomicUsize>> = Arc::new((0..3).map(|_| AtomicUsize::new(0)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    // Whoever speaks after the storm joined before it: the storm may fill
    // the room.
    let mut speaker = join(addr, "speaker");
    let subscribers: Vec<_> = (0..3)
        .map(|i| {
            let mut ws = join(addr, &format!("reader{i}"));
            let received = Arc::clone(&received);
            thread::spawn(move || {
                // Until the final message, counting events; the slow one
                // takes 1 ms over each.
                loop {
                    match ws.read() {
                        Ok(Message::Text(t)) => {
                            received[i].fetch_add(1, Ordering::SeqCst);
                            if t.contains("after the storm") {
                                return Ok(ws);
                            }
                            if i == 0 {
                                thread::sleep(Duration::from_millis(1));
                            }
                        }
                        Ok(Message::Close(frame)) => return Err(format!("reader{i} closed: {frame:?}")),
                        Ok(_) => {}
                        Err(e) => return Err(format!("reader{i}: {e}")),
                    }
                }
            })
        })
        .collect();
    // The storm: 20,000 joins under distinct names, over keep-alive
    // connections from ten addresses.
    let started = Instant::now();
    let storms: Vec<_> = (0..10)
        .map(|a| {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let s = connect_from(&format!("127.0.0.{}", 2 + a), addr);
                let mut reader = BufReader::new(s.try_clone().unwrap());
                let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
                for n in 0..2000 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let body = format!(r#"{{"nick":"storm-{a}-{n}"}}"#);
                    // One write per request (write! would make several small
                    // ones, and Nagle's algorithm would hold them back).
                    let request = format!(
                        "POST /api/chat/join HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    let sent = (&s).write_all(request.as_bytes());
                    let Ok(head) = sent.map_err(|_| ()).and_then(|_| read_response_head(&mut reader, &Limits::default()).map_err(|_| ())) else {
                        break;
                    };
                    let len: usize = head.headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
                    let mut skip = vec![0u8; len];
                    if reader.read_exact(&mut skip).is_err() {
                        break;
                    }
                    *statuses.entry(head.status).or_default() += 1;
                }
                statuses
            })
        })
        .collect();
    let mut totals = std::collections::BTreeMap::<u16, usize>::new();
    for storm in storms {
        for (status, n) in storm.join().unwrap() {
            *totals.entry(status).or_default() += n;
        }
    }
    stop.store(true, Ordering::SeqCst);
    let took = started.elapsed();
    assert_eq!(totals.values().sum::<usize>(), 20_000, "{totals:?}");
    assert!(chat.online() <= 100, "{} online", chat.online());
    assert!(totals.get(&200).copied().unwrap_or(0) <= 100, "{totals:?}");
    // The subscribers are still there, and still hear the room.
    speaker
        .send(Message::text(r#"{"type":"say","text":"after the storm"}"#))
        .unwrap();
    for (i, subscriber) in subscribers.into_iter().enumerate() {
        let outcome = subscriber.join().unwrap();
        assert!(
            outcome.is_ok(),
            "subscriber {i}: {outcome:?} (storm {totals:?} in {took:?})"
        );
    }
}

/// A client socket connected from `ip` (any 127.0.0.x is this machine).
fn connect_from(ip: &str, addr: SocketAddr) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&format!("{ip}:0").parse::<SocketAddr>().unwrap().into())
        .unwrap();
    socket.connect(&addr.into()).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream
}

#[test]
fn a_join_trickled_byte_by_byte_is_cut_off_at_the_join_wait() {
    let limits = ChatLimits {
        join_wait: Duration::from_millis(400),
        ..ChatLimits::default()
    };
    let (server, _chat) = start(limits);
    let addr = server.local_addr();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(&client_request(&addr.to_string(), "/ws", &generate_key(), &[], None))
        .unwrap();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    assert_eq!(read_response_head(&mut reader, &Limits::default()).unwrap().status, 101);
    // The join, one byte every 50 ms: never a silence as long as the wait,
    // never done either.
    let mut frame = Vec::new();
    encode_frame(
        &mut frame,
        true,
        OpCode::Text,
        br#"{"type":"join","nick":"slow"}"#,
        Some([1, 2, 3, 4]),
    );
    let started = Instant::now();
    let writer = s.try_clone().unwrap();
    let trickle = thread::spawn(move || {
        for byte in frame {
            thread::sleep(Duration::from_millis(50));
            if (&writer).write_all(&[byte]).is_err() {
                return;
            }
        }
    });
    // The server says why, then closes with 1008, within the wait (twice
    // it at most: the deadline is checked between reads).
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&rest);
    assert!(text.contains("no join within"), "{text:?}");
    assert!(took < Duration::from_millis(1200), "held for {took:?}");
    trickle.join().unwrap();
}
