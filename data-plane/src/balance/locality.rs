//! `locality`: endpoints whose labels match the node's own `--label`s take the traffic (the least
//! loaded of them, by weight); the pool spills over to every healthy endpoint when no local one is
//! healthy, or when even the least busy local one has more than `spillover` times the pool's mean
//! requests in flight, plus one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use super::least;
use crate::upstream::Endpoint;

/// True when `labels` share a key with the node's labels and agree on every key they share.
pub(super) fn is_local(labels: &[(String, String)], node: &BTreeMap<String, String>) -> bool {
    let mut shared = false;
    for (k, v) in labels {
        if let Some(mine) = node.get(k) {
            if mine != v {
                return false;
            }
            shared = true;
        }
    }
    shared
}

/// The pick: local first, spilling over as described above. `cost` orders endpoints (in flight
/// per weight). `local` lists the local endpoints' indices. Pools larger than [`least::WINDOW`] are
/// judged on a moving window of local endpoints and of the pool, so a pick stays bounded.
pub(super) fn pick<'e>(
    all: &'e [Arc<Endpoint>],
    local: &[u32],
    spillover: f64,
    next: &AtomicUsize,
    cost: impl Fn(usize, &Endpoint) -> f64,
) -> Option<&'e Arc<Endpoint>> {
    let turn = next.load(std::sync::atomic::Ordering::Relaxed);
    // The pool's mean in flight, over a window of it.
    let (mut total, mut healthy) = (0usize, 0usize);
    let span = all.len().min(least::WINDOW);
    for k in 0..span {
        let e = &all[(turn + k) % all.len()];
        if e.is_healthy() {
            total += e.in_flight();
            healthy += 1;
        }
    }
    // The least busy local endpoint, over a window of them.
    let mut best: Option<(usize, f64, usize)> = None;
    let lspan = local.len().min(least::WINDOW);
    for k in 0..lspan {
        let i = local[(turn + k) % local.len()] as usize;
        let e = &all[i];
        if !e.is_healthy() {
            continue;
        }
        let c = cost(i, e);
        if best.is_none_or(|(_, b, _)| c < b) {
            best = Some((i, c, e.in_flight()));
        }
    }
    if let Some((i, _, busy)) = best {
        let mean = total as f64 / healthy.max(1) as f64;
        if (busy as f64) <= spillover * mean + 1.0 {
            next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Some(&all[i]);
        }
    }
    least::lowest(all, next, cost)
}
