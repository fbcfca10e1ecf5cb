//! Non-cryptographic randomness for command ids, temp names and retry jitter, from std's
//! per-process random hasher keys plus a counter, so the crate needs no RNG dependency.
//! Nothing here protects a secret: names are made private by the 0700 directory they live in.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

static COUNTER: AtomicU64 = AtomicU64::new(0);
static KEYS: OnceLock<RandomState> = OnceLock::new();

pub(crate) fn next_u64() -> u64 {
    let mut hasher = KEYS.get_or_init(RandomState::new).build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// A number in `[0, 1)`, like Ruby's `rand`.
pub(crate) fn fraction() -> f64 {
    (next_u64() >> 11) as f64 / (1u64 << 53) as f64
}
