//! Who is connected: every live connection, where it comes from, and
//! whether it is idle. The table decides who gets in when the server is
//! full.
//!
//! Three rules, applied in this order to a new connection:
//!
//! 1. its address has [`ServerConfig::max_per_peer`] connections already:
//!    refused (one machine cannot take every slot);
//! 2. the server has room: admitted;
//! 3. the server is full, but some connection is *idle* (an HTTP keep-alive
//!    connection waiting for its next request, see [`mark_idle`], or a new
//!    one still silent after a grace for its first request, see
//!    [`mark_idle_after`]): the one idle the longest is closed and the new
//!    one admitted. A keep-alive
//!    connection is a convenience to its client, who reconnects when it
//!    needs to; a server that kept idle ones and turned new clients away
//!    could be held shut by connections that send one request every few
//!    seconds. Otherwise: refused.
//!
//! The table holds each connection's socket so that it can shut it down
//! (a server that stops, an idle connection evicted): the *same* socket the
//! connection's thread serves, shared through an `Arc<TcpStream>`. A socket
//! shared by reference costs one descriptor however many hold it (`Read`,
//! `Write` and `shutdown` all work on `&TcpStream`); a copy made with
//! `try_clone` (a `dup`) costs a descriptor more, halves the connections a
//! descriptor limit allows, and keeps the connection open until every copy
//! is closed.
//!
//! [`ServerConfig::max_per_peer`]: super::ServerConfig::max_per_peer

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where a connection comes from, for the per-address limit: an IPv4
/// address, or the /64 prefix of an IPv6 address (a single host usually
/// has a whole /64 to pick addresses from).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PeerKey(u128);

impl PeerKey {
    /// The key of `ip`. An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) is
    /// its IPv4 address.
    pub fn of(ip: IpAddr) -> PeerKey {
        match ip {
            IpAddr::V4(v4) => PeerKey(u128::from(u32::from(v4))),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => PeerKey(u128::from(u32::from(v4))),
                None => PeerKey(u128::from(v6) >> 64 << 64 | 1 << 32),
            },
        }
    }
}

/// When a connection became idle, in ms since the table's start plus one;
/// 0 while it is busy. Shared between the table and the connection's thread.
type IdleSince = Arc<AtomicU64>;

#[derive(Debug)]
struct Entry {
    /// The connection's socket, shared with the thread that serves it (the
    /// same descriptor, not a copy): to shut it down (server shutdown,
    /// eviction).
    stream: Arc<TcpStream>,
    peer: PeerKey,
    idle: IdleSince,
}

/// Why a connection was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The server is at its cap and nothing idle can make room.
    Full,
    /// Its address is at the per-address limit.
    PeerFull,
}

/// The live connections.
#[derive(Debug)]
pub struct Table {
    entries: HashMap<u64, Entry>,
    per_peer: HashMap<PeerKey, usize>,
    started: Instant,
    evicted: u64,
}

/// What a connection thread needs to mark itself idle or busy.
#[derive(Clone, Debug)]
pub struct IdleMark {
    idle: IdleSince,
    started: Instant,
}

impl Default for Table {
    fn default() -> Self {
        Table {
            entries: HashMap::new(),
            per_peer: HashMap::new(),
            started: Instant::now(),
            evicted: 0,
        }
    }
}

impl Table {
    /// Live connections.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Idle connections closed so far to make room for new ones.
    pub fn evictions(&self) -> u64 {
        self.evicted
    }

    /// Connections from `peer`.
    pub fn from_peer(&self, peer: PeerKey) -> usize {
        self.per_peer.get(&peer).copied().unwrap_or(0)
    }

    /// Admits connection `id` (its socket in `stream`, which the table
    /// then shares) if the rules allow, evicting the longest-idle
    /// connection if that is what makes room. Returns the mark its thread
    /// uses to say it is idle.
    pub fn admit(
        &mut self,
        id: u64,
        stream: &Arc<TcpStream>,
        peer: PeerKey,
        cap: usize,
        per_peer: usize,
    ) -> Result<IdleMark, Refused> {
        if self.from_peer(peer) >= per_peer {
            return Err(Refused::PeerFull);
        }
        if self.entries.len() >= cap {
            // Idle since a time not yet come: a grace still running.
            let now = self.started.elapsed().as_millis() as u64 + 1;
            let longest_idle = self
                .entries
                .iter()
                .filter_map(|(id, e)| match e.idle.load(Ordering::SeqCst) {
                    0 => None,
                    since if since > now => None,
                    since => Some((since, *id)),
                })
                .min();
            let Some((_, victim)) = longest_idle else {
                return Err(Refused::Full);
            };
            if let Some(entry) = self.remove(victim) {
                log::debug!("#{victim}: idle, closed to make room for #{id}");
                let _ = entry.stream.shutdown(Shutdown::Both);
                self.evicted += 1;
            }
        }
        let idle = Arc::new(AtomicU64::new(0));
        *self.per_peer.entry(peer).or_default() += 1;
        self.entries.insert(
            id,
            Entry {
                stream: Arc::clone(stream),
                peer,
                idle: Arc::clone(&idle),
            },
        );
        Ok(IdleMark {
            idle,
            started: self.started,
        })
    }

    /// Removes connection `id` (no-op if it is already gone, evicted).
    fn remove(&mut self, id: u64) -> Option<Entry> {
        let entry = self.entries.remove(&id)?;
        if let Some(n) = self.per_peer.get_mut(&entry.peer) {
            *n -= 1;
            if *n == 0 {
                self.per_peer.remove(&entry.peer);
            }
        }
        Some(entry)
    }

    /// Connection `id` ended. Returns the table's share of its socket
    /// (`None` if it was evicted), for the caller to drop once the table
    /// is unlocked: if the handler has let go of the socket already, that
    /// drop closes its descriptor, which does TCP's teardown, too long to
    /// hold up the thread admitting the next one.
    pub fn release(&mut self, id: u64) -> Option<Arc<TcpStream>> {
        self.remove(id).map(|entry| entry.stream)
    }

    /// Shuts every live socket down, so that blocked reads return.
    pub fn shut_all(&self) {
        for entry in self.entries.values() {
            let _ = entry.stream.shutdown(Shutdown::Both);
        }
    }
}

thread_local! {
    /// The idle mark of the connection this thread serves, if it serves one.
    static CURRENT: RefCell<Option<IdleMark>> = const { RefCell::new(None) };
}

impl IdleMark {
    /// Makes this the mark of the connection the calling thread serves,
    /// until the returned guard is dropped: a thread serves several
    /// connections in turn, and one must never mark another's.
    pub fn install(self) -> Installed {
        CURRENT.with(|c| *c.borrow_mut() = Some(self));
        Installed(())
    }
}

/// The calling thread serves a connection whose [`IdleMark`] is installed;
/// dropped, the thread serves none.
#[derive(Debug)]
pub struct Installed(());

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| *c.borrow_mut() = None);
    }
}

/// Tells the server whether the connection the calling thread serves is
/// idle: waiting for a request to begin, with nothing in progress and
/// nothing owed to the client (`true`), or busy again (`false`). When the
/// server is full, the connection idle the longest is closed to make room
/// for a new one (see the module docs). Called by the HTTP connection loop
/// around its wait for the next request; a no-op on a thread that serves
/// no connection.
pub fn mark_idle(idle: bool) {
    mark(idle.then_some(Duration::ZERO));
}

/// Tells the server that the connection the calling thread serves will
/// count as idle once `grace` has passed, unless [`mark_idle`]`(false)`
/// comes first: for a new connection, whose first request is on its way
/// for a moment but which, silent longer, only holds a place.
pub fn mark_idle_after(grace: Duration) {
    mark(Some(grace));
}

/// Idle from `after` on (`None`: busy).
fn mark(after: Option<Duration>) {
    CURRENT.with(|c| {
        if let Some(mark) = &*c.borrow() {
            let since = after.map_or(0, |after| (mark.started.elapsed() + after).as_millis() as u64 + 1);
            mark.idle.store(since, Ordering::SeqCst);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr, TcpListener};

    fn socket() -> Arc<TcpStream> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        Arc::new(TcpStream::connect(listener.local_addr().unwrap()).unwrap())
    }

    fn key(ip: &str) -> PeerKey {
        PeerKey::of(ip.parse().unwrap())
    }

    #[test]
    fn an_ipv6_host_is_its_slash_64_and_a_mapped_ipv4_is_its_ipv4() {
        assert_eq!(key("2001:db8::1"), key("2001:db8::ffff:2"));
        assert_ne!(key("2001:db8::1"), key("2001:db8:0:1::1"));
        assert_eq!(
            PeerKey::of(IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped())),
            key("10.0.0.1")
        );
        assert_ne!(key("127.0.0.1"), key("127.0.0.2"));
        assert_ne!(PeerKey::of(IpAddr::V6(Ipv6Addr::LOCALHOST)), key("0.0.0.1"));
    }

    #[test]
    fn one_address_gets_at_most_its_share_and_a_full_table_evicts_the_longest_idle() {
        let mut table = Table::default();
        let (a, b) = (key("10.0.0.1"), key("10.0.0.2"));
        let m1 = table.admit(1, &socket(), a, 3, 2).unwrap();
        let _m2 = table.admit(2, &socket(), a, 3, 2).unwrap();
        assert_eq!(table.admit(3, &socket(), a, 3, 2).unwrap_err(), Refused::PeerFull);
        let m3 = table.admit(3, &socket(), b, 3, 2).unwrap();
        // Full, nobody idle: refused.
        assert_eq!(table.admit(4, &socket(), b, 3, 2).unwrap_err(), Refused::Full);
        // Idle only from a time to come (a grace running): not yet.
        m1.idle.store(60_000, Ordering::SeqCst);
        assert_eq!(table.admit(4, &socket(), b, 3, 2).unwrap_err(), Refused::Full);
        // Two idle: the one idle longer goes.
        std::thread::sleep(std::time::Duration::from_millis(10));
        m1.idle.store(5, Ordering::SeqCst);
        m3.idle.store(9, Ordering::SeqCst);
        table.admit(4, &socket(), key("10.0.0.3"), 3, 2).unwrap();
        assert_eq!(table.len(), 3);
        assert_eq!(table.from_peer(a), 1, "connection 1 was evicted");
        assert_eq!(table.evictions(), 1);
        table.release(1); // its thread ends later: nothing left to remove
        assert_eq!(table.len(), 3);
        table.release(2);
        assert_eq!(table.from_peer(a), 0);
    }
}
