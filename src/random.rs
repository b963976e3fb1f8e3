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
//!
//! And one thing that is not randomness for security at all: [`XorShift`],
//! a small *seeded* generator. The same seed gives the same sequence, which
//! is what a simulation (the ticker's prices) and a fuzzer (`src/fuzz/`:
//! case 12,345 of seed 7 is the same input on every machine) need, and what
//! a key must never be.

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

/// xorshift64* (Marsaglia's xorshift with a multiplying output step, as
/// Vigna analyses it): a fast, small, *predictable* generator. Seeded, it
/// repeats its sequence exactly, for simulations and fuzzing; never for
/// keys or masks, where predictability is the attack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator that produces the same sequence for the same `seed`
    /// (any value: zero, which xorshift cannot leave, is mapped away).
    pub fn new(seed: u64) -> XorShift {
        // Spread the seed (splitmix64's finaliser) so that seeds 1, 2, 3
        // do not start with nearly the same state.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        XorShift((z ^ (z >> 31)) | 1)
    }

    /// A generator seeded from the OS: a different sequence every run.
    pub fn seeded() -> XorShift {
        let mut seed = [0u8; 8];
        fill(&mut seed);
        XorShift::new(u64::from_le_bytes(seed))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (0 when `n` is 0). The tiny bias of a modulo is
    /// irrelevant to the uses here.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// True with probability `1 / n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// One of `items` (which must not be empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// `len` random bytes: data that no compressor can shrink.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(len);
        out
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

    #[test]
    fn a_seeded_generator_repeats_its_sequence_and_seeds_differ() {
        let run = |seed| {
            let mut g = XorShift::new(seed);
            (0..8).map(|_| g.next_u64()).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        assert!(run(0).iter().all(|&x| x != 0), "seed 0 does not stick at zero");
        let mut g = XorShift::new(1);
        assert!((0..1000).all(|_| g.below(10) < 10));
        assert!((0..1000).map(|_| g.unit()).all(|x| (0.0..1.0).contains(&x)));
    }

    #[test]
    fn random_bytes_have_the_length_asked_for_and_do_not_compress() {
        let mut g = XorShift::new(3);
        assert!(g.bytes(0).is_empty());
        assert_eq!(g.bytes(13).len(), 13);
        let data = g.bytes(64 * 1024);
        let packed = crate::deflate::deflate(&data, crate::deflate::Level::BEST);
        assert!(packed.len() >= data.len(), "{} of {} bytes", packed.len(), data.len());
    }
}
