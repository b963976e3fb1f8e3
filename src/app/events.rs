//! An event log that clients read by polling: the server side of short and
//! long polling.
//!
//! Before WebSocket, a page that wanted news from the server had to ask for
//! it (the note "WebSocket示例", "轮询" and "长轮询"):
//!
//! - **short polling**: ask every few seconds, "anything after event N?"; the
//!   server answers at once, usually "no". Latency is up to one interval, and
//!   every empty answer costs a full request and response.
//! - **long polling**: ask the same, but the server *holds* the request until
//!   there is news or a timeout passes, then the client asks again at once.
//!   Latency is close to push; the cost is a held request (here: a thread)
//!   per waiting client, and a full request/response per event.
//!
//! [`EventLog`] supports both: [`EventLog::since`] answers at once,
//! [`EventLog::wait_since`] blocks on a condition variable that every
//! [`EventLog::push`] signals. Ids increase by one per event and are never
//! reused, so "since N" is exact even after old events are dropped.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now: the timestamp the demos put on
/// their events (a chat message, a ticker's tick, a stored message).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A bounded, append-mostly log of events with increasing ids.
#[derive(Debug)]
pub struct EventLog<T> {
    inner: Mutex<Inner<T>>,
    changed: Condvar,
    waiting: AtomicUsize,
    max_waiting: usize,
}

#[derive(Debug)]
struct Inner<T> {
    /// The id the next event gets; ids start at 1.
    next_id: u64,
    events: VecDeque<(u64, T)>,
    capacity: usize,
}

/// A long poll could not be held: too many clients are already waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooManyWaiting;

impl<T: Clone> EventLog<T> {
    /// A log keeping the last `capacity` events, letting at most
    /// `max_waiting` long polls wait at once (each holds a thread).
    pub fn new(capacity: usize, max_waiting: usize) -> EventLog<T> {
        EventLog {
            inner: Mutex::new(Inner {
                next_id: 1,
                events: VecDeque::new(),
                capacity: capacity.max(1),
            }),
            changed: Condvar::new(),
            waiting: AtomicUsize::new(0),
            max_waiting,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends an event built from its id (so the event can carry it), wakes
    /// every waiting long poll, and returns the id.
    pub fn push_with(&self, make: impl FnOnce(u64) -> T) -> u64 {
        let mut inner = self.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        let event = make(id);
        inner.events.push_back((id, event));
        while inner.events.len() > inner.capacity {
            inner.events.pop_front();
        }
        drop(inner);
        self.changed.notify_all();
        id
    }

    /// Appends an event; returns its id.
    pub fn push(&self, event: T) -> u64 {
        self.push_with(|_| event)
    }

    /// Events with an id greater than `id`, oldest first (short polling).
    pub fn since(&self, id: u64) -> Vec<(u64, T)> {
        collect_since(&self.lock(), id)
    }

    /// Like [`EventLog::since`], but if there is nothing newer, waits up to
    /// `timeout` for something to arrive (long polling). Returns an empty
    /// vector on timeout.
    pub fn wait_since(&self, id: u64, timeout: Duration) -> Result<Vec<(u64, T)>, TooManyWaiting> {
        self.wait_since_while(id, timeout, timeout, || true)
    }

    /// Like [`EventLog::wait_since`], but every `check_every` asks
    /// `still_wanted` (without holding the log's lock) and stops waiting,
    /// empty-handed, as soon as it says no: a long poll whose client has
    /// disconnected gives its thread and its waiting slot back at once
    /// instead of at the timeout.
    pub fn wait_since_while(
        &self,
        id: u64,
        timeout: Duration,
        check_every: Duration,
        mut still_wanted: impl FnMut() -> bool,
    ) -> Result<Vec<(u64, T)>, TooManyWaiting> {
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(TooManyWaiting);
        }
        let check_every = check_every.max(Duration::from_millis(1));
        let deadline = Instant::now() + timeout;
        let mut next_check = Instant::now() + check_every;
        let mut inner = self.lock();
        let found = loop {
            let found = collect_since(&inner, id);
            let now = Instant::now();
            let left = deadline.saturating_duration_since(now);
            if !found.is_empty() || left.is_zero() {
                break found;
            }
            if now >= next_check {
                drop(inner);
                let wanted = still_wanted();
                inner = self.lock();
                if !wanted {
                    break Vec::new();
                }
                next_check = now + check_every;
                continue;
            }
            let nap = left.min(next_check - now);
            inner = match self.changed.wait_timeout(inner, nap) {
                Ok((guard, _)) => guard,
                Err(p) => p.into_inner().0,
            };
        };
        drop(inner);
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        Ok(found)
    }

    /// The id of the newest event (0 when there has been none).
    pub fn last_id(&self) -> u64 {
        self.lock().next_id - 1
    }

    /// The newest `n` events, oldest first.
    pub fn recent(&self, n: usize) -> Vec<(u64, T)> {
        let inner = self.lock();
        let skip = inner.events.len().saturating_sub(n);
        inner.events.iter().skip(skip).cloned().collect()
    }

    /// The event with this id, if still kept.
    pub fn get(&self, id: u64) -> Option<T> {
        let inner = self.lock();
        inner.events.iter().find(|(i, _)| *i == id).map(|(_, e)| e.clone())
    }

    /// Removes the event with this id; returns whether it was there.
    pub fn remove(&self, id: u64) -> bool {
        let mut inner = self.lock();
        let before = inner.events.len();
        inner.events.retain(|(i, _)| *i != id);
        before != inner.events.len()
    }

    /// Long polls waiting right now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

fn collect_since<T: Clone>(inner: &Inner<T>, id: u64) -> Vec<(u64, T)> {
    // Ids are increasing: find the first newer one from the back.
    let start = inner.events.partition_point(|(i, _)| *i <= id);
    inner.events.range(start..).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;

    #[test]
    fn since_returns_exactly_the_newer_events() {
        let log = EventLog::new(10, 4);
        for s in ["a", "b", "c"] {
            log.push(s);
        }
        assert_eq!(log.since(0), [(1, "a"), (2, "b"), (3, "c")]);
        assert_eq!(log.since(2), [(3, "c")]);
        assert!(log.since(3).is_empty());
        assert_eq!(log.last_id(), 3);
    }

    #[test]
    fn old_events_fall_off_but_ids_keep_counting() {
        let log = EventLog::new(2, 4);
        for i in 0..5 {
            log.push(i);
        }
        assert_eq!(log.since(0), [(4, 3), (5, 4)]);
        assert!(log.remove(4));
        assert!(!log.remove(4));
        assert_eq!(log.push(9), 6);
    }

    #[test]
    fn a_long_poll_wakes_as_soon_as_an_event_arrives() {
        let log = Arc::new(EventLog::new(10, 4));
        let waiter = {
            let log = Arc::clone(&log);
            thread::spawn(move || {
                let started = Instant::now();
                let got = log.wait_since(0, Duration::from_secs(5)).unwrap();
                (got, started.elapsed())
            })
        };
        while log.waiting() == 0 {
            thread::yield_now();
        }
        log.push("news");
        let (got, waited) = waiter.join().unwrap();
        assert_eq!(got, [(1, "news")]);
        assert!(waited < Duration::from_secs(1), "woke after {waited:?}");
    }

    #[test]
    fn a_long_poll_stops_waiting_when_it_is_no_longer_wanted() {
        let log: EventLog<u8> = EventLog::new(10, 4);
        let started = Instant::now();
        let mut asked = 0;
        let got = log.wait_since_while(0, Duration::from_secs(10), Duration::from_millis(5), || {
            asked += 1;
            asked < 3
        });
        assert_eq!(got, Ok(vec![]));
        assert_eq!(asked, 3);
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        assert_eq!(log.waiting(), 0, "the slot is given back");
    }

    #[test]
    fn a_long_poll_times_out_empty_and_too_many_are_refused() {
        let log: EventLog<u8> = EventLog::new(10, 0);
        assert_eq!(log.wait_since(0, Duration::from_millis(1)), Err(TooManyWaiting));
        let log: EventLog<u8> = EventLog::new(10, 1);
        assert_eq!(log.wait_since(0, Duration::from_millis(20)), Ok(vec![]));
        assert_eq!(log.waiting(), 0);
    }
}
