//! The consistent-hash tables (rings and Maglev tables) of every pool, shared across config swaps:
//! a table is built only when a pool's membership or weights change, when a table is compiled (off
//! the request path), and reused by every later table whose pool is the same.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use super::hash::Ring;
use super::maglev::Maglev;

/// Tables by a fingerprint of their pool (endpoint ids and weights, in order).
#[derive(Debug, Default)]
pub struct Tables {
    rings: Mutex<HashMap<u64, Weak<Ring>>>,
    maglevs: Mutex<HashMap<u64, Weak<Maglev>>>,
    built: std::sync::atomic::AtomicU64,
}

// === impl Tables ===

impl Tables {
    /// The ring of this pool, built unless a live one exists.
    pub(crate) fn ring(&self, ids: &[u64], weights: &[u32]) -> Arc<Ring> {
        get_or_build(&self.rings, &self.built, ids, weights, Ring::new)
    }

    /// The Maglev table of this pool, built unless a live one exists.
    pub(crate) fn maglev(&self, ids: &[u64], weights: &[u32]) -> Arc<Maglev> {
        get_or_build(&self.maglevs, &self.built, ids, weights, Maglev::new)
    }

    /// How many tables have been built, to show that unchanged pools reuse theirs.
    pub fn built(&self) -> u64 {
        self.built.load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn get_or_build<T>(
    cache: &Mutex<HashMap<u64, Weak<T>>>,
    built: &std::sync::atomic::AtomicU64,
    ids: &[u64],
    weights: &[u32],
    make: fn(&[u64], &[u32]) -> T,
) -> Arc<T> {
    let mut fp = super::hash_parts(&[&(ids.len() as u64).to_le_bytes()]);
    for (id, w) in ids.iter().zip(weights) {
        fp = super::mix(fp ^ super::mix(*id ^ u64::from(*w).rotate_left(32)));
    }
    let mut map = cache.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(t) = map.get(&fp).and_then(Weak::upgrade) {
        return t;
    }
    map.retain(|_, w| w.strong_count() > 0);
    let t = Arc::new(make(ids, weights));
    built.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    map.insert(fp, Arc::downgrade(&t));
    t
}
