//! The smallest broadcast server: what `examples/ws_broadcast.rs` runs.

use super::config::SubscriberConfig;
use super::hub::Hub;
use super::subscriber::serve_subscriber;

/// The largest message the relay takes from a client: the whole publish
/// queue ([`PUBLISH_QUEUE_BYTES`](super::config::PUBLISH_QUEUE_BYTES)).
/// Anything longer is refused with 1009. With permessage-deflate a client
/// can send 64 MiB of text as 64 KiB on the wire; the WebSocket default of
/// 64 MiB would let each connection make the server inflate, hold and fan
/// out a thousand times what it sent.
pub const RELAY_MAX_MESSAGE: usize = super::config::PUBLISH_QUEUE_BYTES;

/// Every text message a client sends goes out verbatim to every connected
/// client, the sender included. Any path is accepted. Each connection
/// publishes through a [`Publisher`](super::Publisher) of its own, so the
/// hub takes turns between clients. Returns the server's handle and its hub.
pub fn spawn_relay(
    addr: impl std::net::ToSocketAddrs,
    server: crate::server::ServerConfig,
    subscriber: SubscriberConfig,
) -> std::io::Result<(crate::server::ServerHandle, Hub)> {
    let hub = Hub::start();
    let bound = crate::server::Server::bind(addr, server)?;
    let relay_hub = hub.clone();
    let options = crate::websocket::AcceptConfig::with_max_message(RELAY_MAX_MESSAGE);
    let handle = bound.spawn(move |stream, info| {
        let ws = match crate::websocket::accept_with(stream, &options) {
            Ok(ws) => ws,
            Err(e) => {
                log::info!("{info}: {e}");
                return;
            }
        };
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
