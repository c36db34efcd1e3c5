//! The load-aware strategies, reading each endpoint's requests in flight and latency EWMA:
//! `leastConnections`, `weightedLeastConnections`, `powerOfTwoChoices`, `peakEwma` and
//! `leastResponseTime`. Ties go round the pool from a moving start, so an idle pool is not all
//! sent to its first endpoint. A pool larger than [`WINDOW`] is compared a window of that many
//! endpoints at a time, the window moving on at each pick, so a pick stays bounded (Envoy's
//! least-request compares a sample for the same reason); every endpoint is looked at within a few
//! picks.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::rng;
use crate::upstream::Endpoint;

/// The latency assumed for an endpoint that has not answered yet (linkerd assumes one too): low
/// enough that a new endpoint is tried, high enough that it does not take every request at once.
const UNMEASURED_NS: f64 = 1_000_000.0;

/// The most endpoints one pick compares.
pub(super) const WINDOW: usize = 48;

/// The healthy endpoint with the lowest `cost` (ties: the first after a moving start), among the
/// next [`WINDOW`] endpoints; the whole pool when none of those is healthy.
#[inline]
pub(super) fn lowest<'e>(
    all: &'e [Arc<Endpoint>],
    next: &AtomicUsize,
    cost: impl Fn(usize, &Endpoint) -> f64,
) -> Option<&'e Arc<Endpoint>> {
    let n = all.len();
    if n == 0 {
        return None;
    }
    let start = if n > WINDOW {
        next.fetch_add(WINDOW / 2, Ordering::Relaxed) % n
    } else {
        next.fetch_add(1, Ordering::Relaxed) % n
    };
    lowest_from(all, start, n.min(WINDOW), &cost).or_else(|| {
        (n > WINDOW)
            .then(|| lowest_from(all, start, n, &cost))
            .flatten()
    })
}

/// The lowest-cost healthy endpoint of the `span` endpoints from `start` (wrapping).
#[inline]
fn lowest_from<'e>(
    all: &'e [Arc<Endpoint>],
    start: usize,
    span: usize,
    cost: &impl Fn(usize, &Endpoint) -> f64,
) -> Option<&'e Arc<Endpoint>> {
    let n = all.len();
    let mut best: Option<(usize, f64)> = None;
    for k in 0..span {
        let i = if start + k >= n {
            start + k - n
        } else {
            start + k
        };
        let e = &all[i];
        if !e.is_healthy() {
            continue;
        }
        let c = cost(i, e);
        if best.is_none_or(|(_, b)| c < b) {
            best = Some((i, c));
        }
    }
    best.map(|(i, _)| &all[i])
}

/// Of two healthy endpoints drawn at random, the one with the lower `cost`.
#[inline]
pub(super) fn two_choices<'e>(
    all: &'e [Arc<Endpoint>],
    next: &AtomicUsize,
    cost: impl Fn(usize, &Endpoint) -> f64,
) -> Option<&'e Arc<Endpoint>> {
    let n = all.len();
    match n {
        0 => return None,
        1 => return all[0].is_healthy().then_some(&all[0]),
        2 => return lowest(all, next, cost),
        _ => {}
    }
    let mut drawn: [Option<usize>; 2] = [None, None];
    for k in 0..2 {
        for _ in 0..4 {
            let i = rng::below(n);
            if all[i].is_healthy() && Some(i) != drawn[0] {
                drawn[k] = Some(i);
                break;
            }
        }
    }
    match drawn {
        [Some(a), Some(b)] => {
            let (ca, cb) = (cost(a, &all[a]), cost(b, &all[b]));
            Some(if cb < ca { &all[b] } else { &all[a] })
        }
        // Mostly unhealthy: look at them all.
        _ => lowest(all, next, cost),
    }
}

/// Requests in flight to `e`, plus one (so weights still order an idle pool).
#[inline]
pub(super) fn busy(e: &Endpoint) -> f64 {
    e.in_flight() as f64 + 1.0
}

/// `e`'s latency EWMA as of `now` (its clock), or [`UNMEASURED_NS`] before its first answer.
#[inline]
pub(super) fn latency(e: &Endpoint, now: u64) -> f64 {
    let l = e.load();
    if l.has_latency() {
        l.decayed_latency(now).max(1.0)
    } else {
        UNMEASURED_NS
    }
}
