//! `chat`: the main classroom demo. A chat page in the browser, served by
//! our own HTTP server, talking over WebSocket, long polling or short
//! polling, switchable live.
//!
//! ```text
//! cargo run --example chat [ADDR]      # default 127.0.0.1:8080
//! ```
//!
//! Then open the printed address in two browser tabs, pick two nicknames and
//! talk. The panel on the right of each page shows what every message cost
//! on the wire: the WebSocket frame header against its payload, or, when a
//! tab is switched to polling, the HTTP request and response heads against
//! the bodies. Browsers agree on permessage-deflate with the chat, so the
//! page sees messages after the browser inflated them; after each message
//! the hub compressed, a `{"type":"wire",...}` note tells the page its size
//! on the wire, and the panel keeps the running ratio. Newcomers get the last 50 events; closing a tab (even by
//! killing the browser) is announced as a leave.
//!
//! How it is built: `src/app/chat/` (routes, event log, presence, the
//! WebSocket session, the polling API), `src/broadcast/` (the hub thread,
//! which writes every message to every socket itself; one reader thread per
//! WebSocket), `src/http/` (serving the
//! page and the polling requests), `src/websocket/` (the Upgrade on `/ws`);
//! `docs/architecture.md` follows one message through all of them. Runs
//! until Ctrl-C.

use wirelab::broadcast::SubscriberConfig;

fn main() {
    wirelab::init_logging();
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8080".to_string());
    let (server, _chat) = match wirelab::app::chat::spawn(&addr, SubscriberConfig::default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("chat: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    let base = format!("http://{}", server.local_addr());
    println!("chat: open {base}/ in two browser tabs, pick two nicknames, and talk");
    println!("  WebSocket endpoint: ws://{}/ws", server.local_addr());
    println!("  switch a tab to long or short polling with the buttons at the top, and watch the byte counts");
    println!("  polling API by hand: curl -v '{base}/api/chat/poll?since=0'");
    println!(
        "  WebSocket by hand: cargo run --example ws_client ws://{}/ws, then type {{\"type\":\"join\",\"nick\":\"raw\"}} and {{\"type\":\"say\",\"text\":\"hi\"}}",
        server.local_addr()
    );
    println!("  every frame the server reads, with its header fields: RUST_LOG=trace");
    println!("  {}", wirelab::limits::ServerBudget::chat());
    println!("  Ctrl-C to stop");
    server.wait();
}
