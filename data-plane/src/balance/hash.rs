//! The hashing strategies but Maglev: `ipHash` (the key modulo the healthy endpoints), `ringHash`
//! (a Ketama ring of virtual nodes, built when the pool's membership or weights change) and
//! `rendezvousHash` (highest random weight, weighted by Schindelhauer's logarithm method). A request
//! without its key is balanced round robin (the documented behaviour); an unhealthy endpoint's keys
//! go to the next one on the ring, and only those move.

use std::sync::Arc;

use super::mix;
use crate::upstream::Endpoint;

/// Virtual nodes per endpoint of the smallest weight; more for heavier ones.
const POINTS_PER_ENDPOINT: u64 = 160;

/// Most points a ring holds; heavier pools get fewer per endpoint.
const MAX_POINTS: u64 = 1 << 17;

/// A consistent-hash ring: points sorted by hash, each naming an endpoint index.
#[derive(Debug)]
pub(crate) struct Ring {
    points: Box<[(u64, u32)]>,
}

// === impl Ring ===

impl Ring {
    /// The ring of endpoints with these stable ids and weights.
    pub(crate) fn new(ids: &[u64], weights: &[u32]) -> Self {
        let min = weights.iter().copied().min().unwrap_or(1).max(1);
        let wanted: u64 = weights
            .iter()
            .map(|&w| POINTS_PER_ENDPOINT * u64::from(w) / u64::from(min))
            .sum();
        let scale = if wanted > MAX_POINTS {
            MAX_POINTS as f64 / wanted as f64
        } else {
            1.0
        };
        let mut points = Vec::with_capacity(wanted.min(MAX_POINTS) as usize + ids.len());
        for (i, (&id, &w)) in ids.iter().zip(weights).enumerate() {
            let n = ((POINTS_PER_ENDPOINT * u64::from(w) / u64::from(min)) as f64 * scale)
                .round()
                .max(1.0) as u64;
            for v in 0..n {
                points.push((mix(id ^ mix(v + 1)), u32::try_from(i).unwrap_or(0)));
            }
        }
        points.sort_unstable();
        Self {
            points: points.into(),
        }
    }

    /// The endpoint owning `key`: the first point at or after it that `accept` keeps.
    #[inline]
    pub(crate) fn pick<'e>(
        &self,
        all: &'e [Arc<Endpoint>],
        key: u64,
        accept: impl Fn(usize, &Endpoint) -> bool,
    ) -> Option<&'e Arc<Endpoint>> {
        let n = self.points.len();
        if n == 0 {
            return None;
        }
        let start = self.points.partition_point(|p| p.0 < key);
        let mut last_rejected = usize::MAX;
        for k in 0..n {
            let i = self.points[(start + k) % n].1 as usize;
            if i == last_rejected {
                continue;
            }
            let e = all.get(i)?;
            if accept(i, e) {
                return Some(e);
            }
            last_rejected = i;
        }
        None
    }
}

/// `ipHash`: the key modulo the healthy endpoints.
#[inline]
pub(super) fn modulo(all: &[Arc<Endpoint>], key: u64) -> Option<&Arc<Endpoint>> {
    let n = all.len() as u64;
    if n == 0 {
        return None;
    }
    let e = &all[(key % n) as usize];
    if e.is_healthy() {
        return Some(e);
    }
    let healthy = all.iter().filter(|e| e.is_healthy()).count() as u64;
    if healthy == 0 {
        return None;
    }
    all.iter()
        .filter(|e| e.is_healthy())
        .nth((key % healthy) as usize)
}

/// `rendezvousHash`: the healthy endpoint with the highest weighted score for `key`.
#[inline]
pub(super) fn rendezvous(
    all: &[Arc<Endpoint>],
    key: u64,
    uniform: bool,
    weight: impl Fn(usize, &Endpoint) -> f64,
) -> Option<&Arc<Endpoint>> {
    let mut best: Option<(usize, f64)> = None;
    for (i, e) in all.iter().enumerate() {
        if !e.is_healthy() {
            continue;
        }
        let h = mix(key ^ e.sticky_id());
        let score = if uniform {
            // Equal weights: the order of the hashes alone decides, no logarithm needed.
            h as f64
        } else {
            let w = weight(i, e);
            if w <= 0.0 {
                continue;
            }
            // u in (0, 1); the score -w / ln(u) is highest for the winner.
            let u = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
            -w / fast_ln(u)
        };
        if best.is_none_or(|(_, b)| score > b) {
            best = Some((i, score));
        }
    }
    best.map(|(i, _)| &all[i])
}

/// ln(x) for x in (0, 1), to about 1e-9 relative: the exponent, plus an odd series in
/// (m - 1) / (m + 1) for the mantissa m in [√½, √2) — several times cheaper than `f64::ln`, which rendezvous calls once per
/// endpoint.
#[inline]
fn fast_ln(x: f64) -> f64 {
    let bits = x.to_bits();
    let mut exp = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    // m in [√½, √2): the series converges fast and stays exact in relative terms near x = 1.
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        exp += 1;
    }
    let t = (m - 1.0) / (m + 1.0);
    let t2 = t * t;
    let series =
        2.0 * t * (1.0 + t2 * (1.0 / 3.0 + t2 * (1.0 / 5.0 + t2 * (1.0 / 7.0 + t2 / 9.0))));
    exp as f64 * std::f64::consts::LN_2 + series
}

#[cfg(test)]
mod tests {
    #[test]
    fn fast_ln_is_close_to_ln() {
        for x in [1e-12, 0.001, 0.1, 0.3, 0.5, 0.72, 0.9, 0.999_999] {
            let (fast, exact) = (super::fast_ln(x), f64::ln(x));
            assert!(
                (fast - exact).abs() <= 1e-6 * exact.abs().max(1.0),
                "{x}: {fast} vs {exact}"
            );
        }
    }
}
