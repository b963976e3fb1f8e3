//! The publish queue: bounded in bytes, one queue per publisher, taken in
//! turns.
//!
//! Everything the hub thread is asked to do arrives here, under one lock:
//! frames to publish, joins, leaves, stop. Publishers wait in
//! [`Inbox::publish`] when their queue (or the whole inbox) is full; that
//! wait is how the pressure of slow sockets reaches the clients that
//! publish (see `docs/broadcast.md`, flow control).

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use super::config::HubConfig;
use super::hub::{Batch, Frame, Join};

/// What the hub thread is given to do next.
#[derive(Debug, Default)]
pub(super) struct Work {
    pub joins: Vec<Join>,
    pub leaves: Vec<u64>,
    pub batch: Option<Batch>,
    pub stopped: bool,
}

#[derive(Debug, Default)]
struct Queue {
    frames: VecDeque<Frame>,
    bytes: usize,
}

#[derive(Debug, Default)]
struct State {
    /// Publishers with frames waiting (an emptied queue is removed).
    queues: HashMap<u64, Queue>,
    /// The same publishers, in the order of their next turn.
    turns: VecDeque<u64>,
    bytes: usize,
    joins: Vec<Join>,
    leaves: Vec<u64>,
    stopped: bool,
    hub_waiting: bool,
    publishers_waiting: usize,
}

/// The hub's inbox.
#[derive(Debug)]
pub(super) struct Inbox {
    state: Mutex<State>,
    /// The hub thread waits here for work.
    work: Condvar,
    /// Publishers wait here for room.
    room: Condvar,
    config: HubConfig,
}

impl Inbox {
    pub fn new(config: HubConfig) -> Inbox {
        Inbox {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            room: Condvar::new(),
            config,
        }
    }

    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing here panics while holding the lock; if something did, the
        // queues are still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `frame` from `publisher`, waiting while its queue or the
    /// inbox is full. A publisher with nothing queued is always let in.
    /// After [`Inbox::stop`] the frame is dropped.
    pub fn publish(&self, publisher: u64, frame: Frame) {
        let len = frame.len();
        let mut st = self.lock();
        loop {
            if st.stopped {
                return;
            }
            let own = st.queues.get(&publisher).map_or(0, |q| q.bytes);
            if own == 0 || (own + len <= self.config.publisher_bytes && st.bytes + len <= self.config.queue_bytes) {
                break;
            }
            st.publishers_waiting += 1;
            st = self.room.wait(st).unwrap_or_else(|p| p.into_inner());
            st.publishers_waiting -= 1;
        }
        let queue = st.queues.entry(publisher).or_default();
        let first = queue.frames.is_empty();
        queue.frames.push_back(frame);
        queue.bytes += len;
        st.bytes += len;
        if first {
            st.turns.push_back(publisher);
        }
        if st.hub_waiting {
            self.work.notify_one();
        }
    }

    /// Hands the hub a join, a leave or a stop.
    pub fn post(&self, change: impl FnOnce(&mut Vec<Join>, &mut Vec<u64>, &mut bool)) {
        let mut st = self.lock();
        let st = &mut *st;
        change(&mut st.joins, &mut st.leaves, &mut st.stopped);
        if st.stopped {
            // Publishers blocked on a hub that is gone would wait forever.
            self.room.notify_all();
        }
        self.work.notify_one();
    }

    /// Waits until there is something to do, or until `until` (the next
    /// ping), and takes it: joins, leaves, and a batch of frames.
    pub fn next(&self, until: Option<Instant>) -> Work {
        let mut st = self.lock();
        loop {
            let batch = self.take_batch(&mut st);
            if batch.is_some() || st.stopped || !st.joins.is_empty() || !st.leaves.is_empty() {
                return Work {
                    joins: std::mem::take(&mut st.joins),
                    leaves: std::mem::take(&mut st.leaves),
                    batch,
                    stopped: st.stopped,
                };
            }
            st.hub_waiting = true;
            st = match until {
                Some(t) => match t.checked_duration_since(Instant::now()) {
                    Some(left) => self.work.wait_timeout(st, left).unwrap_or_else(|p| p.into_inner()).0,
                    None => {
                        st.hub_waiting = false;
                        return Work::default();
                    }
                },
                None => self.work.wait(st).unwrap_or_else(|p| p.into_inner()),
            };
            st.hub_waiting = false;
        }
    }

    /// Joins queued frames into one batch: publishers take turns, each
    /// giving up to a quantum of bytes (at least one frame) per turn, until
    /// the batch is full or nothing is left.
    fn take_batch(&self, st: &mut State) -> Option<Batch> {
        if st.turns.is_empty() {
            return None;
        }
        // Sized once: a batch may sit in outboxes for a while, and a vector
        // grown by doubling would hold up to twice its bytes.
        let mut batch = Batch {
            bytes: Vec::with_capacity(self.config.batch_bytes),
            ..Batch::default()
        };
        while batch.bytes.len() < self.config.batch_bytes {
            let Some(publisher) = st.turns.pop_front() else { break };
            let Some(queue) = st.queues.get_mut(&publisher) else {
                continue;
            };
            let mut taken = 0;
            while let Some(frame) = queue.frames.front() {
                let len = frame.len();
                if taken > 0 && (taken + len > self.config.quantum || batch.bytes.len() + len > self.config.batch_bytes)
                {
                    break;
                }
                let frame = queue.frames.pop_front().expect("a frame in front");
                batch.push(frame);
                taken += len;
            }
            queue.bytes -= taken;
            st.bytes -= taken;
            if queue.frames.is_empty() {
                st.queues.remove(&publisher);
            } else {
                st.turns.push_back(publisher);
            }
        }
        if st.publishers_waiting > 0 {
            self.room.notify_all();
        }
        Some(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;
    use std::time::Duration;

    fn frame(publisher: u8, n: usize) -> Frame {
        Arc::from(vec![publisher; n])
    }

    /// Which publisher each frame of a batch came from (frames are filled
    /// with their publisher's number).
    fn sources(batch: &Batch) -> Vec<u8> {
        batch.frames.iter().map(|f| f[0]).collect()
    }

    #[test]
    fn publishers_take_turns_so_a_flood_waits_a_quantum_behind_anyone_else() {
        let inbox = Inbox::new(HubConfig {
            quantum: 300,
            batch_bytes: 1000,
            ..HubConfig::default()
        });
        for _ in 0..20 {
            inbox.publish(1, frame(1, 100));
        }
        inbox.publish(2, frame(2, 100));
        let batch = inbox.next(None).batch.unwrap();
        // Three frames (one quantum) of the flood, then the other message.
        assert_eq!(sources(&batch)[..4], [1, 1, 1, 2]);
        assert!(batch.bytes.len() <= 1000);
    }

    #[test]
    fn a_full_publisher_queue_makes_publish_wait_until_the_hub_takes_from_it() {
        let inbox = Arc::new(Inbox::new(HubConfig {
            publisher_bytes: 250,
            ..HubConfig::default()
        }));
        inbox.publish(1, frame(1, 100));
        inbox.publish(1, frame(1, 100));
        let publisher = {
            let inbox = Arc::clone(&inbox);
            thread::spawn(move || inbox.publish(1, frame(1, 100)))
        };
        thread::sleep(Duration::from_millis(100));
        assert!(!publisher.is_finished(), "a third frame does not fit in 250 bytes");
        // Another publisher is not held up by the full queue.
        inbox.publish(2, frame(2, 100));
        let taken = inbox.next(None).batch.unwrap();
        assert_eq!(sources(&taken), [1, 1, 2]);
        publisher.join().unwrap();
        assert_eq!(sources(&inbox.next(None).batch.unwrap()), [1]);
    }

    #[test]
    fn a_publisher_with_nothing_queued_is_let_in_even_when_the_inbox_is_full() {
        let inbox = Inbox::new(HubConfig {
            queue_bytes: 150,
            ..HubConfig::default()
        });
        inbox.publish(1, frame(1, 100));
        // Over the total, but publisher 2 has nothing queued: it may add one.
        inbox.publish(2, frame(2, 100));
        assert_eq!(sources(&inbox.next(None).batch.unwrap()), [1, 2]);
    }
}
