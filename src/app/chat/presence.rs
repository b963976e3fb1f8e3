//! Who is online: people, not connections, and who may speak as whom.
//!
//! A nickname is online while at least one tab uses it, over any transport.
//! A second tab with the same nickname is the same person; a tab that
//! switches transport opens the new one before closing the old, so nobody
//! seems to leave and come back. The callers announce a join or a leave
//! from inside [`Presence::join`] and [`Presence::depart`], under the
//! presence lock, so "online" counts and event ids always go up and down
//! in the same order.
//!
//! Identity: the first tab to take a nickname gets a *session token*, a
//! secret of 128 random bits. Every other tab of that person (a second
//! tab, the same tab on another transport) must present it to join, and a
//! polling tab presents it with every message it posts: without it nobody
//! can speak under a nickname someone else is using. (A WebSocket tab
//! presented it, or received it, when it joined: its connection is its
//! proof from then on.) The token lives as long as the person is online;
//! once the last tab has gone, the nickname is free again.
//!
//! Bounds: at most `max_online` people, so a storm of joins under
//! thousands of names is refused with a clear answer instead of growing
//! the table (and the join announcements) without end; and each person's
//! messages go through a rate with a burst ([`crate::app::rate`]).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::app::rate::{Bucket, Rate};

/// How a tab is connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// A WebSocket: its end is noticed when the connection ends.
    WebSocket,
    /// Short or long polling: it says goodbye, or stops polling.
    Polling,
}

/// One person's open tabs, token and message rate.
#[derive(Clone, Debug)]
struct Person {
    token: String,
    websocket: usize,
    polling: usize,
    /// When a polling tab of this person last joined or polled.
    last_poll: Option<Instant>,
    says: Bucket,
}

impl Person {
    fn count(&mut self, via: Via) -> &mut usize {
        match via {
            Via::WebSocket => &mut self.websocket,
            Via::Polling => &mut self.polling,
        }
    }
}

/// Why a join was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JoinRefused {
    /// Someone online uses the nickname, and the join did not bring their token.
    InUse,
    /// `max_online` people are online.
    Full(usize),
}

impl JoinRefused {
    /// What the page shows.
    pub fn reason(&self, nick: &str) -> String {
        match self {
            JoinRefused::InUse => format!("the nickname {nick} is in use by someone online: pick another"),
            JoinRefused::Full(max) => format!("the chat is full ({max} people online): try again later"),
        }
    }
}

#[derive(Debug, Default)]
struct People {
    by_nick: HashMap<String, Person>,
    by_token: HashMap<String, String>,
}

/// Who is online, and through how many tabs of each kind.
#[derive(Debug)]
pub struct Presence {
    people: Mutex<People>,
    max_online: usize,
    says: Rate,
}

/// A fresh session token: 128 bits from the OS, in hex.
fn new_token() -> String {
    let mut bytes = [0u8; 16];
    crate::random::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two secrets in time that does not depend on where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Presence {
    /// At most `max_online` people, each saying at most `says`.
    pub fn new(max_online: usize, says: Rate) -> Presence {
        Presence {
            people: Mutex::new(People::default()),
            max_online,
            says,
        }
    }

    fn lock(&self) -> MutexGuard<'_, People> {
        self.people.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// People online: distinct nicknames with at least one tab open.
    pub fn online(&self) -> usize {
        self.lock().by_nick.len()
    }

    /// Whether `nick` has a tab open.
    pub fn is_online(&self, nick: &str) -> bool {
        self.lock().by_nick.contains_key(nick)
    }

    /// The person a session token belongs to.
    pub fn who(&self, token: &str) -> Option<String> {
        self.lock().by_token.get(token).cloned()
    }

    /// Whether a tab of `nick` with `token` could join now (see
    /// [`Presence::join`]), without joining.
    pub fn may_join(&self, nick: &str, token: Option<&str>) -> Result<(), JoinRefused> {
        let people = self.lock();
        match people.by_nick.get(nick) {
            Some(person) if token.is_some_and(|t| same_secret(t, &person.token)) => Ok(()),
            Some(_) => Err(JoinRefused::InUse),
            None if people.by_nick.len() >= self.max_online => Err(JoinRefused::Full(self.max_online)),
            None => Ok(()),
        }
    }

    /// A tab of `nick` joins `via`, with the person's `token` if it has
    /// one. If `nick` is online, the token must be theirs; if not, a place
    /// must be free. If it is the person's first tab, `announce_join` is
    /// called with the new number of people online. Returns the token.
    pub fn join(
        &self,
        nick: &str,
        token: Option<&str>,
        via: Via,
        announce_join: impl FnOnce(usize),
    ) -> Result<String, JoinRefused> {
        let mut people = self.lock();
        let people = &mut *people;
        let first = match people.by_nick.get(nick) {
            Some(person) if token.is_some_and(|t| same_secret(t, &person.token)) => false,
            Some(_) => return Err(JoinRefused::InUse),
            None if people.by_nick.len() >= self.max_online => return Err(JoinRefused::Full(self.max_online)),
            None => true,
        };
        if first {
            let token = new_token();
            people.by_token.insert(token.clone(), nick.to_string());
            people.by_nick.insert(
                nick.to_string(),
                Person {
                    token,
                    websocket: 0,
                    polling: 0,
                    last_poll: None,
                    says: Bucket::full(self.says),
                },
            );
        }
        let person = people.by_nick.get_mut(nick).expect("just checked or inserted");
        *person.count(via) += 1;
        if via == Via::Polling {
            person.last_poll = Some(Instant::now());
        }
        let token = person.token.clone();
        if first {
            announce_join(people.by_nick.len());
        }
        Ok(token)
    }

    /// A tab of `nick` connected `via` is gone. If it was the person's last
    /// tab, `announce_leave` is called with the new number of people
    /// online. Returns false if there was no such tab.
    pub fn depart(&self, nick: &str, via: Via, announce_leave: impl FnOnce(usize)) -> bool {
        let mut people = self.lock();
        let Some(person) = people.by_nick.get_mut(nick) else {
            return false;
        };
        let count = person.count(via);
        if *count == 0 {
            return false;
        }
        *count -= 1;
        if person.websocket + person.polling == 0 {
            let token = person.token.clone();
            people.by_nick.remove(nick);
            people.by_token.remove(&token);
            announce_leave(people.by_nick.len());
        }
        true
    }

    /// `nick` wants to say something: allowed within the person's rate, or
    /// how long to wait.
    pub fn may_say(&self, nick: &str) -> Result<(), Duration> {
        match self.lock().by_nick.get_mut(nick) {
            Some(person) => person.says.take(self.says, Instant::now()),
            None => Ok(()),
        }
    }

    /// The rate each person speaks at, at most.
    pub fn say_rate(&self) -> Rate {
        self.says
    }

    /// A polling tab of the person holding `token` is still there: it polled.
    pub fn polled(&self, token: &str) {
        let mut people = self.lock();
        let Some(nick) = people.by_token.get(token).cloned() else {
            return;
        };
        if let Some(person) = people.by_nick.get_mut(&nick).filter(|p| p.polling > 0) {
            person.last_poll = Some(Instant::now());
        }
    }

    /// Polling tabs that have not polled for `wait` are gone; for each
    /// person left with no tab at all, `announce_leave(nick, online)`.
    pub fn forget_silent_pollers(&self, wait: Duration, mut announce_leave: impl FnMut(&str, usize)) {
        let mut people = self.lock();
        let silent: Vec<String> = people
            .by_nick
            .iter()
            .filter(|(_, p)| p.polling > 0 && p.last_poll.map_or(true, |at| at.elapsed() > wait))
            .map(|(nick, _)| nick.clone())
            .collect();
        for nick in silent {
            log::info!("{nick}: no poll for {wait:?}: the polling tab is presumed gone");
            let Some(person) = people.by_nick.get_mut(&nick) else {
                continue;
            };
            person.polling = 0;
            if person.websocket == 0 {
                let token = person.token.clone();
                people.by_nick.remove(&nick);
                people.by_token.remove(&token);
                announce_leave(&nick, people.by_nick.len());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAYS: Rate = Rate {
        burst: 2,
        per_second: 1.0,
    };

    #[test]
    fn a_person_joins_with_the_first_tab_and_leaves_with_the_last() {
        let presence = Presence::new(10, SAYS);
        let mut said = Vec::new();
        let token = presence
            .join("ann", None, Via::Polling, |n| said.push(format!("join {n}")))
            .unwrap();
        presence
            .join("ann", Some(&token), Via::WebSocket, |n| said.push(format!("join {n}")))
            .unwrap();
        assert!(presence.depart("ann", Via::Polling, |n| said.push(format!("leave {n}"))));
        assert!(!presence.depart("ann", Via::Polling, |n| said.push(format!("leave {n}"))));
        assert!(presence.is_online("ann"));
        assert!(presence.depart("ann", Via::WebSocket, |n| said.push(format!("leave {n}"))));
        assert_eq!(said, ["join 1", "leave 0"]);
        assert_eq!(presence.online(), 0);
        assert_eq!(presence.who(&token), None, "the token went with the person");
    }

    #[test]
    fn a_nickname_in_use_needs_its_token_and_a_full_chat_refuses_newcomers() {
        let presence = Presence::new(2, SAYS);
        let token = presence.join("ann", None, Via::WebSocket, |_| {}).unwrap();
        assert_eq!(token.len(), 32);
        assert_eq!(presence.who(&token).as_deref(), Some("ann"));
        assert_eq!(
            presence.join("ann", None, Via::Polling, |_| {}),
            Err(JoinRefused::InUse)
        );
        assert_eq!(
            presence.join("ann", Some("0123456789abcdef0123456789abcdef"), Via::Polling, |_| {}),
            Err(JoinRefused::InUse)
        );
        presence.join("bob", None, Via::Polling, |_| {}).unwrap();
        assert_eq!(
            presence.join("cy", None, Via::Polling, |_| {}),
            Err(JoinRefused::Full(2))
        );
        // A person already online may still open tabs.
        assert_eq!(presence.join("ann", Some(&token), Via::Polling, |_| {}), Ok(token));
    }

    #[test]
    fn each_person_speaks_within_a_rate_with_a_burst() {
        let presence = Presence::new(10, SAYS);
        presence.join("ann", None, Via::WebSocket, |_| {}).unwrap();
        assert!(presence.may_say("ann").is_ok());
        assert!(presence.may_say("ann").is_ok());
        let wait = presence.may_say("ann").unwrap_err();
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
    }

    #[test]
    fn a_polling_tab_that_stops_polling_is_forgotten_but_a_websocket_tab_is_not() {
        let presence = Presence::new(10, SAYS);
        presence.join("ann", None, Via::Polling, |_| {}).unwrap();
        let bob = presence.join("bob", None, Via::Polling, |_| {}).unwrap();
        presence.join("bob", Some(&bob), Via::WebSocket, |_| {}).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let mut left = Vec::new();
        presence.forget_silent_pollers(Duration::from_millis(1), |nick, online| {
            left.push((nick.to_string(), online))
        });
        assert_eq!(left, [("ann".to_string(), 1)]);
        assert!(presence.is_online("bob"));
    }
}
