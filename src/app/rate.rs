//! Rates with a burst: the token bucket.
//!
//! A bucket holds up to `burst` tokens and gains `per_second` of them
//! every second; each action takes one. A person may send ten messages at
//! once (a burst), then one a second (the rate); a script sending faster
//! finds the bucket empty and is told so, with how long to wait. Nothing
//! queues: an action over the rate is refused, not delayed, so a flood
//! costs the server one refusal per attempt and never a growing queue.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// A rate with a burst: `burst` actions at once, then `per_second`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// Actions allowed at once after a quiet spell.
    pub burst: u32,
    /// Actions allowed per second, sustained.
    pub per_second: f64,
}

impl Rate {
    /// How the rate reads in a refusal: "1 a second (bursts of 10)".
    pub fn describe(&self) -> String {
        let rate = if self.per_second >= 1.0 {
            format!("{} a second", self.per_second)
        } else {
            format!("one every {:.0} s", 1.0 / self.per_second.max(1e-9))
        };
        format!("{rate} (bursts of {})", self.burst)
    }
}

/// A token bucket for one [`Rate`].
#[derive(Clone, Copy, Debug)]
pub struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// A full bucket.
    pub fn full(rate: Rate) -> Bucket {
        Bucket {
            tokens: f64::from(rate.burst),
            at: Instant::now(),
        }
    }

    fn refill(&mut self, rate: Rate, now: Instant) {
        let gained = now.saturating_duration_since(self.at).as_secs_f64() * rate.per_second;
        self.tokens = (self.tokens + gained).min(f64::from(rate.burst));
        self.at = now;
    }

    /// Takes a token at `now`, or says how long until one is there.
    pub fn take(&mut self, rate: Rate, now: Instant) -> Result<(), Duration> {
        self.refill(rate, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / rate.per_second.max(1e-9);
            Err(Duration::from_secs_f64(wait.min(86_400.0)))
        }
    }

    /// Whether the bucket is full again at `now` (its owner has been quiet
    /// long enough that forgetting it changes nothing).
    pub fn is_full(&mut self, rate: Rate, now: Instant) -> bool {
        self.refill(rate, now);
        self.tokens >= f64::from(rate.burst)
    }
}

/// A bucket per key (an address, a person), in a table of bounded size:
/// the table itself must not be a way to make the server hold memory.
#[derive(Debug)]
pub struct Buckets<K> {
    rate: Rate,
    max_keys: usize,
    buckets: HashMap<K, Bucket>,
}

impl<K: Eq + Hash + Clone> Buckets<K> {
    /// Buckets for `rate`, for at most `max_keys` keys at once.
    pub fn new(rate: Rate, max_keys: usize) -> Buckets<K> {
        Buckets {
            rate,
            max_keys: max_keys.max(1),
            buckets: HashMap::new(),
        }
    }

    /// Takes a token from `key`'s bucket. When the table is full, the keys
    /// whose buckets are full again are forgotten first; if none is, the
    /// action is refused (a flood of new keys is itself over the rate).
    pub fn take(&mut self, key: &K, now: Instant) -> Result<(), Duration> {
        if !self.buckets.contains_key(key) && self.buckets.len() >= self.max_keys {
            let rate = self.rate;
            self.buckets.retain(|_, b| !b.is_full(rate, now));
            if self.buckets.len() >= self.max_keys {
                return Err(Duration::from_secs_f64(1.0 / rate.per_second.max(1e-9)));
            }
        }
        let rate = self.rate;
        self.buckets
            .entry(key.clone())
            .or_insert_with(|| Bucket::full(rate))
            .take(rate, now)
    }

    /// Keys tracked right now.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: Rate = Rate {
        burst: 3,
        per_second: 2.0,
    };

    #[test]
    fn a_burst_then_the_rate_and_a_refusal_says_how_long_to_wait() {
        let t0 = Instant::now();
        let mut b = Bucket::full(RATE);
        for _ in 0..3 {
            assert_eq!(b.take(RATE, t0), Ok(()));
        }
        let wait = b.take(RATE, t0).unwrap_err();
        assert!(
            (Duration::from_millis(490)..=Duration::from_millis(510)).contains(&wait),
            "{wait:?}"
        );
        assert_eq!(b.take(RATE, t0 + Duration::from_millis(500)), Ok(()));
        assert!(b.take(RATE, t0 + Duration::from_millis(500)).is_err());
        assert_eq!(RATE.describe(), "2 a second (bursts of 3)");
    }

    #[test]
    fn the_table_of_buckets_stays_bounded_and_forgets_quiet_keys_first() {
        let t0 = Instant::now();
        let mut table = Buckets::new(RATE, 2);
        assert!(table.take(&1, t0).is_ok());
        assert!(table.take(&2, t0).is_ok());
        assert!(table.take(&3, t0).is_err(), "full of keys still over their rate");
        // Two seconds later both are full again: forgotten to make room.
        assert!(table.take(&3, t0 + Duration::from_secs(2)).is_ok());
        assert_eq!(table.len(), 1);
    }
}
