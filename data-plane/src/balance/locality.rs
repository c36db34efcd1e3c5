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
/// per weight).
pub(super) fn pick<'e>(
    all: &'e [Arc<Endpoint>],
    local: &[bool],
    spillover: f64,
    next: &AtomicUsize,
    cost: impl Fn(usize, &Endpoint) -> f64,
) -> Option<&'e Arc<Endpoint>> {
    let (mut total, mut healthy) = (0usize, 0usize);
    let mut least_local: Option<usize> = None;
    for (i, e) in all.iter().enumerate() {
        if !e.is_healthy() {
            continue;
        }
        let q = e.in_flight();
        total += q;
        healthy += 1;
        if local[i] {
            least_local = Some(least_local.map_or(q, |l| l.min(q)));
        }
    }
    if let Some(l) = least_local {
        let mean = total as f64 / healthy.max(1) as f64;
        if (l as f64) <= spillover * mean + 1.0 {
            return least::lowest(
                all,
                next,
                |i, e| {
                    if local[i] { cost(i, e) } else { f64::INFINITY }
                },
            );
        }
    }
    least::lowest(all, next, cost)
}
