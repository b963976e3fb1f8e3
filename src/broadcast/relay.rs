//! The smallest broadcast server: what `examples/ws_broadcast.rs` runs.

use super::config::{SubscriberConfig, RELAY_MAX_MESSAGE};
use super::hub::Hub;
use super::subscriber::serve_subscriber;

/// Every text message a client sends goes out verbatim to every connected
/// client, the sender included. Any path is accepted. Each connection
/// publishes through a [`Publisher`](super::Publisher) of its own, so the
/// hub takes turns between clients. Returns the server's handle and its hub.
///
/// A client's message may be at most [`RELAY_MAX_MESSAGE`] bytes (larger
/// is refused with 1009 from its frame header), and must arrive whole
/// within [`SubscriberConfig::pong_wait`], however its bytes are paced: a
/// client trickling a message cannot hold its thread. The descriptor and
/// connection limits are `server`'s (`ServerBudget::broadcast` in
/// `crate::limits` states the relay's).
pub fn spawn_relay(
    addr: impl std::net::ToSocketAddrs,
    server: crate::server::ServerConfig,
    subscriber: SubscriberConfig,
) -> std::io::Result<(crate::server::ServerHandle, Hub)> {
    let hub = Hub::start();
    let bound = crate::server::Server::bind(addr, server)?;
    let relay_hub = hub.clone();
    let options = crate::websocket::AcceptConfig::with_max_message(RELAY_MAX_MESSAGE);
    let message_wait = subscriber.pong_wait;
    let handle = bound.spawn(move |stream, info| {
        let mut ws = match crate::websocket::accept_with(stream, &options) {
            Ok(ws) => ws,
            Err(e) => {
                log::info!("{info}: {e}");
                return;
            }
        };
        // Each message (or pong) must arrive whole within the keepalive
        // wait: a deadline for the message, not for each read.
        ws.set_message_timeout(Some(message_wait));
        log::info!("{info}: joined ({} connected)", relay_hub.subscribers() + 1);
        let publisher = relay_hub.publisher();
        let departure = serve_subscriber(
            ws,
            &relay_hub,
            &subscriber,
            |_| Ok(()),
            |msg| publisher.publish_text(&msg.text),
        );
        log::info!("{info}: left, {departure}");
    });
    Ok((handle, hub))
}
