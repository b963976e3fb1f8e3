//! Who is online: people, not connections.
//!
//! A nickname is online while at least one tab uses it, over any transport.
//! A second tab with the same nickname is the same person; a tab that
//! switches transport opens the new one before closing the old, so nobody
//! seems to leave and come back. The callers announce a join or a leave
//! from inside [`Presence::arrive`] and [`Presence::depart`], under the
//! presence lock, so "online" counts and event ids always go up and down
//! in the same order.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How a tab is connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// A WebSocket: its end is noticed when the connection ends.
    WebSocket,
    /// Short or long polling: it says goodbye, or stops polling.
    Polling,
}

/// One person's open tabs.
#[derive(Clone, Copy, Debug, Default)]
struct Tabs {
    websocket: usize,
    polling: usize,
    /// When a polling tab of this person last joined or polled
    /// (`GET /api/chat/poll?nick=…`).
    last_poll: Option<Instant>,
}

impl Tabs {
    fn count(&mut self, via: Via) -> &mut usize {
        match via {
            Via::WebSocket => &mut self.websocket,
            Via::Polling => &mut self.polling,
        }
    }
}

/// Who is online, and through how many tabs of each kind.
#[derive(Debug, Default)]
pub struct Presence {
    people: Mutex<HashMap<String, Tabs>>,
}

impl Presence {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Tabs>> {
        self.people.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// People online: distinct nicknames with at least one tab open.
    pub fn online(&self) -> usize {
        self.lock().len()
    }

    /// Whether `nick` has a tab open.
    pub fn is_online(&self, nick: &str) -> bool {
        self.lock().contains_key(nick)
    }

    /// A tab of `nick` connected `via`. If it is the person's first tab,
    /// `announce_join` is called with the new number of people online.
    pub fn arrive(&self, nick: &str, via: Via, announce_join: impl FnOnce(usize)) {
        let mut people = self.lock();
        let tabs = people.entry(nick.to_string()).or_default();
        let first = tabs.websocket + tabs.polling == 0;
        *tabs.count(via) += 1;
        if via == Via::Polling {
            tabs.last_poll = Some(Instant::now());
        }
        if first {
            announce_join(people.len());
        }
    }

    /// A tab of `nick` connected `via` is gone. If it was the person's last
    /// tab, `announce_leave` is called with the new number of people
    /// online. Returns false if there was no such tab.
    pub fn depart(&self, nick: &str, via: Via, announce_leave: impl FnOnce(usize)) -> bool {
        let mut people = self.lock();
        let Some(tabs) = people.get_mut(nick) else {
            return false;
        };
        let count = tabs.count(via);
        if *count == 0 {
            return false;
        }
        *count -= 1;
        if tabs.websocket + tabs.polling == 0 {
            people.remove(nick);
            announce_leave(people.len());
        }
        true
    }

    /// A polling tab of `nick` is still there: it polled.
    pub fn polled(&self, nick: &str) {
        if let Some(tabs) = self.lock().get_mut(nick).filter(|t| t.polling > 0) {
            tabs.last_poll = Some(Instant::now());
        }
    }

    /// Polling tabs that have not polled for `wait` are gone; for each
    /// person left with no tab at all, `announce_leave(nick, online)`.
    pub fn forget_silent_pollers(&self, wait: Duration, mut announce_leave: impl FnMut(&str, usize)) {
        let mut people = self.lock();
        let silent: Vec<String> = people
            .iter()
            .filter(|(_, t)| t.polling > 0 && t.last_poll.map_or(true, |at| at.elapsed() > wait))
            .map(|(nick, _)| nick.clone())
            .collect();
        for nick in silent {
            log::info!("{nick}: no poll for {wait:?}: the polling tab is presumed gone");
            let Some(tabs) = people.get_mut(&nick) else { continue };
            tabs.polling = 0;
            if tabs.websocket == 0 {
                people.remove(&nick);
                announce_leave(&nick, people.len());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_joins_with_the_first_tab_and_leaves_with_the_last() {
        let presence = Presence::default();
        let mut said = Vec::new();
        presence.arrive("ann", Via::Polling, |n| said.push(format!("join {n}")));
        presence.arrive("ann", Via::WebSocket, |n| said.push(format!("join {n}")));
        assert!(presence.depart("ann", Via::Polling, |n| said.push(format!("leave {n}"))));
        assert!(!presence.depart("ann", Via::Polling, |n| said.push(format!("leave {n}"))));
        assert!(presence.is_online("ann"));
        assert!(presence.depart("ann", Via::WebSocket, |n| said.push(format!("leave {n}"))));
        assert_eq!(said, ["join 1", "leave 0"]);
        assert_eq!(presence.online(), 0);
    }

    #[test]
    fn a_polling_tab_that_stops_polling_is_forgotten_but_a_websocket_tab_is_not() {
        let presence = Presence::default();
        presence.arrive("ann", Via::Polling, |_| {});
        presence.arrive("bob", Via::Polling, |_| {});
        presence.arrive("bob", Via::WebSocket, |_| {});
        std::thread::sleep(Duration::from_millis(5));
        let mut left = Vec::new();
        presence.forget_silent_pollers(Duration::from_millis(1), |nick, online| {
            left.push((nick.to_string(), online))
        });
        assert_eq!(left, [("ann".to_string(), 1)]);
        assert!(presence.is_online("bob"));
    }
}
