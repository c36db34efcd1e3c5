//! The strategies that ignore weights and load: `roundRobin` (the default, the path every request
//! takes unless configured otherwise) and `random`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::rng;
use crate::upstream::{Endpoint, health_epoch};

/// [`round_robin`]'s memory: the health epoch at which the whole pool was last seen healthy
/// (`u64::MAX`: not known to be), so a pool of any size is picked in O(1) while nothing changes.
#[derive(Debug)]
pub(super) struct AllHealthy(AtomicU64);

impl AllHealthy {
    pub(super) fn new() -> Self {
        Self(AtomicU64::new(u64::MAX))
    }
}

/// The next healthy endpoint in turn; `None` when none is healthy.
#[inline]
pub(super) fn round_robin<'e>(
    all: &'e [Arc<Endpoint>],
    next: &AtomicUsize,
    seen: &AllHealthy,
) -> Option<&'e Arc<Endpoint>> {
    if let [only] = all {
        return only.is_healthy().then_some(only);
    }
    let epoch = health_epoch();
    if seen.0.load(Ordering::Relaxed) == epoch && !all.is_empty() {
        // No endpoint's health changed since the whole pool was healthy.
        return Some(&all[next.fetch_add(1, Ordering::Relaxed) % all.len()]);
    }
    let healthy = || all.iter().filter(|e| e.is_healthy());
    // Two passes instead of collecting, so picking never allocates.
    let count = healthy().count();
    if count == 0 {
        return None;
    }
    if count == all.len() {
        seen.0.store(epoch, Ordering::Relaxed);
    }
    let n = next.fetch_add(1, Ordering::Relaxed) % count;
    // Health may change between the passes; then any healthy one will do.
    healthy().nth(n).or_else(|| healthy().next())
}

/// A healthy endpoint drawn uniformly; `None` when none is healthy.
pub(super) fn random(all: &[Arc<Endpoint>]) -> Option<&Arc<Endpoint>> {
    if all.is_empty() {
        return None;
    }
    let start = rng::below(all.len());
    // Usually the first draw is healthy; else the next healthy one after it.
    (0..all.len())
        .map(|k| &all[(start + k) % all.len()])
        .find(|e| e.is_healthy())
}
