//! The weighted strategies' tables, built when a rule's pool is compiled: the smooth weighted
//! round-robin schedule (nginx's interleaving, so a 5:1:1 pool goes a,a,b,a,c,a,a rather than
//! a,a,a,a,a,b,c) and the cumulative weights a weighted draw searches. Slow start, adaptive
//! factors and health are applied at pick time by rejection: a drawn endpoint is kept with the
//! probability of its current share of its configured weight, so a pick stays O(1) or O(log n).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::rng;
use crate::upstream::Endpoint;

/// Longest schedule kept; larger weight sums are scaled down to it.
const MAX_SCHEDULE: u64 = 8192;

/// Draws tried before falling back to a scan over the whole pool.
pub(super) const TRIES: usize = 16;

/// The smooth weighted round-robin order of a pool, as endpoint indices.
#[derive(Debug)]
pub(super) struct Schedule {
    order: Box<[u32]>,
    next: AtomicUsize,
}

/// Cumulative weights of a pool, for weighted draws.
#[derive(Debug)]
pub(super) struct Cumulative {
    /// `upto[i]` = the sum of the weights of endpoints `0..=i`.
    upto: Box<[u64]>,
}

// === impl Schedule ===

impl Schedule {
    /// The schedule of `weights` (each > 0).
    pub(super) fn new(weights: &[u32]) -> Self {
        let g = weights
            .iter()
            .fold(0u64, |g, &w| gcd(g, u64::from(w)))
            .max(1);
        let mut w: Vec<u64> = weights.iter().map(|&x| u64::from(x) / g).collect();
        let sum: u64 = w.iter().sum();
        if sum > MAX_SCHEDULE {
            for x in &mut w {
                *x = (*x * MAX_SCHEDULE / sum).max(1);
            }
        }
        let total: i64 = w.iter().map(|&x| x as i64).sum();
        let mut current = vec![0i64; w.len()];
        let mut order = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        for _ in 0..total {
            // Every endpoint gains its weight; the one now highest is picked and pays the total.
            let (mut bi, mut bv) = (0, i64::MIN);
            for (i, c) in current.iter_mut().enumerate() {
                *c += w[i] as i64;
                if *c > bv {
                    (bi, bv) = (i, *c);
                }
            }
            current[bi] -= total;
            order.push(u32::try_from(bi).unwrap_or(0));
        }
        Self {
            order: order.into(),
            next: AtomicUsize::new(0),
        }
    }

    /// The next endpoint in the schedule that `accept` keeps, trying at most [`TRIES`] slots.
    #[inline]
    pub(super) fn pick<'e>(
        &self,
        all: &'e [Arc<Endpoint>],
        accept: impl Fn(usize, &Endpoint) -> bool,
    ) -> Option<&'e Arc<Endpoint>> {
        if self.order.is_empty() {
            return None;
        }
        for _ in 0..TRIES {
            let slot = self.next.fetch_add(1, Ordering::Relaxed) % self.order.len();
            let i = self.order[slot] as usize;
            let e = &all[i];
            if accept(i, e) {
                return Some(e);
            }
        }
        None
    }

    /// The schedule's length.
    #[cfg(test)]
    pub(super) fn order(&self) -> &[u32] {
        &self.order
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

// === impl Cumulative ===

impl Cumulative {
    /// The cumulative sums of `weights`.
    pub(super) fn new(weights: &[u32]) -> Self {
        let mut sum = 0u64;
        let upto = weights
            .iter()
            .map(|&w| {
                sum += u64::from(w);
                sum
            })
            .collect();
        Self { upto }
    }

    /// An endpoint drawn in proportion to its weight, kept if `accept` says so; at most [`TRIES`]
    /// draws.
    #[inline]
    pub(super) fn pick<'e>(
        &self,
        all: &'e [Arc<Endpoint>],
        accept: impl Fn(usize, &Endpoint) -> bool,
    ) -> Option<&'e Arc<Endpoint>> {
        let total = *self.upto.last()?;
        for _ in 0..TRIES {
            let r = ((u128::from(rng::next()) * u128::from(total)) >> 64) as u64;
            let i = self.upto.partition_point(|&u| u <= r);
            let e = all.get(i)?;
            if accept(i, e) {
                return Some(e);
            }
        }
        None
    }
}

/// An endpoint drawn in proportion to `weight(i)` over those with a positive one: the exact but
/// O(n) draw the table picks fall back to.
pub(super) fn scan(
    all: &[Arc<Endpoint>],
    weight: impl Fn(usize, &Endpoint) -> f64,
) -> Option<&Arc<Endpoint>> {
    let total: f64 = all.iter().enumerate().map(|(i, e)| weight(i, e)).sum();
    if total <= 0.0 {
        return None;
    }
    let mut r = rng::unit() * total;
    let mut last = None;
    for (i, e) in all.iter().enumerate() {
        let w = weight(i, e);
        if w <= 0.0 {
            continue;
        }
        last = Some(e);
        if r < w {
            return Some(e);
        }
        r -= w;
    }
    last
}
