//! The in-memory GCRA table of one limit on this node: one TAT per key in hashed shards, each shard
//! behind its own short lock, bounded in size and cleaned of idle keys.
//!
//! A key whose TAT is in the past holds nothing a fresh key would not (its bucket is full), so it is
//! idle and dropping it changes no decision: shards drop their idle keys every few thousand inserts
//! and whenever they are full.

use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use fxhash::{FxHashMap, FxHasher};
use tokio::time::Instant;

use super::gcra::{Decision, Gcra};

const SHARDS: usize = 32;
/// Inserts into a shard between two sweeps of its idle keys.
const SWEEP_EVERY: u32 = 4096;

/// One limit's buckets on this node.
pub(crate) struct LocalTable {
    epoch: Instant,
    shards: [Mutex<Shard>; SHARDS],
    /// Keys one shard holds at most.
    shard_capacity: usize,
}

#[derive(Default)]
struct Shard {
    tats: FxHashMap<Box<str>, u64>,
    inserts: u32,
}

// === impl LocalTable ===

impl LocalTable {
    /// A table holding at most about `max_keys` keys.
    pub(crate) fn new(max_keys: usize) -> Self {
        Self {
            epoch: Instant::now(),
            shards: std::array::from_fn(|_| Mutex::new(Shard::default())),
            shard_capacity: (max_keys / SHARDS).max(1),
        }
    }

    /// Nanoseconds since the table was made (never 0, which means "never seen").
    pub(crate) fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .saturating_add(1)
    }

    /// Decides a request of `cost` units for `key` under `gcra`, now.
    pub(crate) fn check(&self, key: &str, gcra: Gcra, cost: u64) -> Decision {
        let now = self.now();
        let mut h = FxHasher::default();
        key.hash(&mut h);
        let i = (h.finish() as usize) % SHARDS;
        let Ok(mut shard) = self.shards[i].lock() else {
            // A panic while holding the lock: decide from a fresh bucket rather than fail.
            return gcra.decide(0, now, cost).0;
        };
        if let Some(tat) = shard.tats.get_mut(key) {
            let (d, new_tat) = gcra.decide(*tat, now, cost);
            *tat = new_tat;
            return d;
        }
        let (d, new_tat) = gcra.decide(0, now, cost);
        if d.allowed {
            shard.insert(key, new_tat, now, self.shard_capacity);
        }
        d
    }

    /// Keys held now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.tats.len()))
            .sum()
    }
}

// === impl Shard ===

impl Shard {
    fn insert(&mut self, key: &str, tat: u64, now: u64, capacity: usize) {
        self.inserts += 1;
        if self.inserts >= SWEEP_EVERY || self.tats.len() >= capacity {
            self.inserts = 0;
            self.tats.retain(|_, t| *t > now);
        }
        if self.tats.len() >= capacity {
            // Every key is busy: the one closest to full goes (its client regains at most that
            // little).
            if let Some(k) = self
                .tats
                .iter()
                .min_by_key(|(_, t)| **t)
                .map(|(k, _)| k.clone())
            {
                self.tats.remove(&k);
            }
        }
        self.tats.insert(key.into(), tat);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn buckets_refill_with_time_and_keys_are_separate() {
        let t = LocalTable::new(1000);
        // 120/min = one every 500ms, burst 2.
        let g = Gcra::per_minute(120, 2);
        assert!(t.check("a", g, 1).allowed);
        assert!(t.check("a", g, 1).allowed);
        let refused = t.check("a", g, 1);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, 500_000_000);
        assert!(t.check("b", g, 1).allowed, "another key has its own bucket");
        tokio::time::advance(Duration::from_millis(499)).await;
        assert!(!t.check("a", g, 1).allowed);
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(t.check("a", g, 1).allowed);
        assert!(!t.check("a", g, 1).allowed);
        tokio::time::advance(Duration::from_secs(1)).await;
        let d = t.check("a", g, 1);
        assert!(d.allowed);
        assert_eq!(d.remaining, 1, "full again after a second");
    }

    #[tokio::test(start_paused = true)]
    async fn the_table_stays_bounded_and_drops_idle_keys() {
        let t = LocalTable::new(SHARDS * 4);
        let g = Gcra::per_minute(60, 5);
        for i in 0..10_000 {
            t.check(&format!("k{i}"), g, 1);
        }
        assert!(t.len() <= SHARDS * 4, "{}", t.len());
        // Once every bucket is full again, the next inserts sweep the idle keys out.
        tokio::time::advance(Duration::from_secs(10)).await;
        for i in 0..SHARDS * 8 {
            t.check(&format!("fresh{i}"), g, 1);
        }
        assert!(t.len() <= SHARDS * 4);
        assert!(t.len() >= SHARDS, "some fresh keys are kept");
    }
}
