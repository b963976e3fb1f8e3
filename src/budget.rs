//! A server-wide budget for memory that peers make the server hold.
//!
//! Every per-connection allowance looks harmless alone and is ruinous
//! multiplied by the connection cap: a 64 MiB message limit times 8,000
//! connections is 512 GB. Holding an *unfinished* message costs the
//! sender only the bytes it sends, and it can send them slowly; the
//! server must keep them all until the last frame arrives.
//!
//! A [`MessageBudget`] is one counter shared by every connection of a
//! server. A message may grow past [`MessageBudget::FREE`] bytes only by
//! taking what it grows from the budget; the bytes go back when the message
//! is complete (or its connection ends). When the budget is spent, the
//! connection whose message needed more is failed with 1013 (try again
//! later, RFC 6455 §7.4.1 and the IANA registry): the server is
//! temporarily short, not the message at fault. Small messages never
//! touch it, so a spent budget stops large uploads, not conversation.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A shared budget of bytes; cheap to clone (every clone is the same budget).
#[derive(Clone)]
pub struct MessageBudget(Arc<Inner>);

struct Inner {
    limit: usize,
    used: AtomicUsize,
    peak: AtomicUsize,
}

impl MessageBudget {
    /// Bytes a message may hold without drawing on the budget: every
    /// connection may have this much in flight whatever the budget says.
    pub const FREE: usize = 64 * 1024;

    /// A budget of `limit` bytes, none used.
    pub fn new(limit: usize) -> MessageBudget {
        MessageBudget(Arc::new(Inner {
            limit,
            used: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }))
    }

    /// Takes `n` bytes if that many are left; false (and nothing taken) if not.
    pub fn try_take(&self, n: usize) -> bool {
        match self.0.used.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
            used.checked_add(n).filter(|&after| after <= self.0.limit)
        }) {
            Ok(before) => {
                self.0.peak.fetch_max(before + n, Ordering::SeqCst);
                true
            }
            Err(_) => false,
        }
    }

    /// Gives back `n` bytes taken earlier.
    pub fn give_back(&self, n: usize) {
        self.0.used.fetch_sub(n, Ordering::SeqCst);
    }

    /// Holds a complete message of `len` bytes that the server keeps a
    /// while longer (an echo server writing it back to a client that may
    /// not read): the part beyond [`MessageBudget::FREE`] is taken from
    /// the budget until the returned [`Held`] is dropped. `None` if that
    /// much is not left. Without this, a message stops counting the moment
    /// it is complete, and clients that send large messages and never read
    /// the answers make the server hold them all, outside the budget.
    pub fn try_hold(&self, len: usize) -> Option<Held> {
        let bytes = len.saturating_sub(Self::FREE);
        self.try_take(bytes).then(|| Held {
            budget: self.clone(),
            bytes,
        })
    }

    /// Bytes taken right now.
    pub fn used(&self) -> usize {
        self.0.used.load(Ordering::SeqCst)
    }

    /// The most bytes ever taken at once: what the budget actually had to
    /// cover, for tests and for sizing it.
    pub fn peak(&self) -> usize {
        self.0.peak.load(Ordering::SeqCst)
    }

    /// The budget's size.
    pub fn limit(&self) -> usize {
        self.0.limit
    }
}

/// Bytes of a complete message held against a [`MessageBudget`]
/// ([`MessageBudget::try_hold`]); given back when dropped.
#[must_use = "the bytes go back to the budget when this is dropped"]
#[derive(Debug)]
pub struct Held {
    budget: MessageBudget,
    bytes: usize,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.give_back(self.bytes);
    }
}

impl fmt::Debug for MessageBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageBudget({} of {} bytes used)", self.used(), self.limit())
    }
}

/// Two budgets are equal when they are the same budget.
impl PartialEq for MessageBudget {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for MessageBudget {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_gives_out_at_most_its_limit_and_takes_back_what_was_taken() {
        let budget = MessageBudget::new(100);
        let other = budget.clone();
        assert!(budget.try_take(60));
        assert!(!other.try_take(41), "shared: 60 of 100 are gone");
        assert!(other.try_take(40));
        assert_eq!(budget.used(), 100);
        budget.give_back(60);
        assert_eq!(budget.peak(), 100, "the high-water mark stays");
        assert!(budget.try_take(60));
        assert!(!budget.try_take(usize::MAX), "no overflow");
        assert_eq!(budget, other);
        assert_ne!(budget, MessageBudget::new(100));
    }

    #[test]
    fn a_held_message_pays_beyond_its_free_part_until_it_is_dropped() {
        let budget = MessageBudget::new(100);
        let small = budget.try_hold(MessageBudget::FREE).expect("free");
        assert_eq!(budget.used(), 0);
        let large = budget.try_hold(MessageBudget::FREE + 60).expect("60 of 100");
        assert_eq!(budget.used(), 60);
        assert!(
            budget.try_hold(MessageBudget::FREE + 41).is_none(),
            "41 more than is left"
        );
        drop(large);
        drop(small);
        assert_eq!(budget.used(), 0);
    }
}
