//! Randomness without a crate: handshake keys and masking keys.
//!
//! RFC 6455 needs unpredictable bytes in two places: the client's 16-byte
//! `Sec-WebSocket-Key` (§4.1, "randomly selected") and the 4-byte masking key
//! of every client frame (§5.3: "derived from a strong source of entropy", so
//! that a script cannot choose the bytes a proxy sees on the wire, §10.3).
//!
//! - [`fill`] reads the operating system's random device (`/dev/urandom` on
//!   Unix, which never blocks once the kernel is seeded). Where there is no
//!   such device it falls back to std's `RandomState`, whose SipHash keys std
//!   itself draws from the OS generator.
//! - [`MaskKeys`] is for the hot path, one key per frame: SipHash, keyed once
//!   from [`fill`], over a counter. Reading the device for 4 bytes per frame
//!   would cost a system call each time.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// Fills `buf` with bytes from the OS random device (see the module docs).
pub fn fill(buf: &mut [u8]) {
    if !os_fill(buf) {
        fallback_fill(buf);
    }
}

#[cfg(unix)]
fn os_fill(buf: &mut [u8]) -> bool {
    use std::io::Read;
    match std::fs::File::open("/dev/urandom") {
        Ok(mut f) => f.read_exact(buf).is_ok(),
        Err(e) => {
            log::warn!("/dev/urandom unavailable ({e}); using std's RandomState");
            false
        }
    }
}

#[cfg(not(unix))]
fn os_fill(_buf: &mut [u8]) -> bool {
    false
}

/// SipHash under fresh OS-seeded keys, over a counter.
fn fallback_fill(buf: &mut [u8]) {
    let state = RandomState::new();
    for (i, chunk) in buf.chunks_mut(8).enumerate() {
        let mut h = state.build_hasher();
        h.write_usize(i);
        chunk.copy_from_slice(&h.finish().to_le_bytes()[..chunk.len()]);
    }
}

/// A generator of 4-byte masking keys: a keyed pseudo-random function
/// (SipHash with secret keys from [`fill`]) applied to a counter.
#[derive(Debug)]
pub struct MaskKeys {
    state: RandomState,
    secret: u64,
    counter: u64,
}

impl MaskKeys {
    /// A generator seeded from the OS.
    pub fn new() -> MaskKeys {
        let mut seed = [0u8; 8];
        fill(&mut seed);
        MaskKeys {
            state: RandomState::new(),
            secret: u64::from_le_bytes(seed),
            counter: 0,
        }
    }

    /// The next masking key.
    pub fn next_key(&mut self) -> [u8; 4] {
        self.counter = self.counter.wrapping_add(1);
        let mut h = self.state.build_hasher();
        h.write_u64(self.secret);
        h.write_u64(self.counter);
        (h.finish() as u32).to_le_bytes()
    }
}

impl Default for MaskKeys {
    fn default() -> Self {
        MaskKeys::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_fills_differ() {
        let (mut a, mut b) = ([0u8; 16], [0u8; 16]);
        fill(&mut a);
        fill(&mut b);
        assert_ne!(a, b);
        assert_ne!(a, [0u8; 16]);
    }

    #[test]
    fn fallback_fills_every_byte_and_differs() {
        let (mut a, mut b) = ([0u8; 13], [0u8; 13]);
        fallback_fill(&mut a);
        fallback_fill(&mut b);
        assert_ne!(a, b);
    }

    #[test]
    fn mask_keys_do_not_repeat_in_a_short_run() {
        let mut g = MaskKeys::new();
        let keys: std::collections::HashSet<[u8; 4]> = (0..1000).map(|_| g.next_key()).collect();
        // 1000 draws from 2^32 values: a collision has probability ~1e-4.
        assert!(keys.len() >= 999);
    }
}
