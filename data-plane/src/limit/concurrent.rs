//! `maxConcurrent`: requests of one client in flight at once on this node. A request holds a
//! [`Permit`] until its response body ends (an SSE stream holds it while it is open).

use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use fxhash::{FxHashMap, FxHasher};

const SHARDS: usize = 16;

/// In-flight counts per key; a key leaves the table when its count falls to zero.
#[derive(Default)]
pub(crate) struct Concurrency {
    shards: [Mutex<FxHashMap<Box<str>, u32>>; SHARDS],
}

/// One request's place in its client's in-flight count, given back on drop.
pub(crate) struct Permit {
    table: Arc<Concurrency>,
    key: Box<str>,
}

// === impl Concurrency ===

impl Concurrency {
    fn shard(&self, key: &str) -> &Mutex<FxHashMap<Box<str>, u32>> {
        let mut h = FxHasher::default();
        key.hash(&mut h);
        &self.shards[(h.finish() as usize) % SHARDS]
    }

    /// A permit for `key` when it has fewer than `max` requests in flight; else `None`.
    pub(crate) fn acquire(self: &Arc<Self>, key: &str, max: u32) -> Option<Permit> {
        let mut shard = self.shard(key).lock().ok()?;
        let n = shard.entry(key.into()).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Permit {
            table: Arc::clone(self),
            key: key.into(),
        })
    }

    /// Requests of `key` in flight.
    #[cfg(test)]
    pub(crate) fn in_flight(&self, key: &str) -> u32 {
        self.shard(key)
            .lock()
            .map_or(0, |s| s.get(key).copied().unwrap_or(0))
    }
}

// === impl Permit ===

impl Drop for Permit {
    fn drop(&mut self) {
        if let Ok(mut shard) = self.table.shard(&self.key).lock()
            && let Some(n) = shard.get_mut(&self.key)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                shard.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_are_counted_per_key_and_given_back_on_drop() {
        let t = Arc::new(Concurrency::default());
        let a1 = t.acquire("a", 2).unwrap();
        let _a2 = t.acquire("a", 2).unwrap();
        assert!(t.acquire("a", 2).is_none());
        let _b = t.acquire("b", 2).unwrap();
        drop(a1);
        assert_eq!(t.in_flight("a"), 1);
        let _a3 = t.acquire("a", 2).unwrap();
        drop((_a2, _a3));
        assert_eq!(t.in_flight("a"), 0);
        assert!(
            t.shard("a").lock().unwrap().get("a").is_none(),
            "no idle key is kept"
        );
    }
}
