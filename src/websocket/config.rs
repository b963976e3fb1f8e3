//! The settings every connection shares: which end it is, and its limits.

use std::time::Duration;

use crate::budget::MessageBudget;

/// Which end of the connection we are. It decides who masks (§5.1) and who
/// closes TCP first (§7.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Accepted the connection; sends unmasked frames, requires masked ones.
    Server,
    /// Opened the connection; masks every frame it sends.
    Client,
}

/// Default largest frame: 16 MiB, as large as the biggest Autobahn case.
pub const DEFAULT_MAX_FRAME: usize = 16 << 20;
/// Default largest message: 64 MiB.
pub const DEFAULT_MAX_MESSAGE: usize = 64 << 20;
/// Default wait for the peer's side of a closing handshake.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Limits and timing of a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Largest frame payload accepted; larger fails with 1009.
    pub max_frame_size: usize,
    /// Largest message accepted, all fragments together; larger fails with 1009.
    pub max_message_size: usize,
    /// How long to wait for the peer to finish closing (its close frame,
    /// or its end of TCP) before closing anyway.
    pub close_timeout: Duration,
    /// The server-wide budget for bytes held in unfinished messages, shared
    /// by every connection that has a clone of it (`None`: only the
    /// per-message limit applies). A message that needs more than is left
    /// fails with 1013.
    pub budget: Option<MessageBudget>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_size: DEFAULT_MAX_FRAME,
            max_message_size: DEFAULT_MAX_MESSAGE,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
            budget: None,
        }
    }
}
