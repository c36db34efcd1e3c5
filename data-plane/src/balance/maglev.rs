//! `maglev`: Google's Maglev lookup table (Eisenbud et al., NSDI 2016), weighted as Envoy does, so a
//! pick is one array read. Built when a pool's membership or weights change, never on the request
//! path; an unhealthy endpoint's slots fall to the next slot's endpoint.

use std::sync::Arc;

use super::mix;
use crate::upstream::Endpoint;

/// Table sizes (primes), the smallest at least 100 times the pool's size being used.
const SIZES: [u64; 4] = [65_537, 131_071, 262_147, 524_309];

/// A Maglev lookup table: slot → endpoint index.
#[derive(Debug)]
pub(crate) struct Maglev {
    slots: Box<[u32]>,
}

// === impl Maglev ===

impl Maglev {
    /// The table of endpoints with these stable ids and weights (each > 0).
    pub(crate) fn new(ids: &[u64], weights: &[u32]) -> Self {
        let n = ids.len();
        if n == 0 {
            return Self {
                slots: Box::new([]),
            };
        }
        let m = SIZES
            .iter()
            .copied()
            .find(|&m| m >= 100 * n as u64)
            .unwrap_or(SIZES[SIZES.len() - 1]);
        let perms: Vec<(u64, u64)> = ids
            .iter()
            .map(|&id| {
                (
                    mix(id ^ 0x6f66_6673) % m,
                    mix(id ^ 0x736b_6970) % (m - 1) + 1,
                )
            })
            .collect();
        let max_w = f64::from(weights.iter().copied().max().unwrap_or(1));
        let mut next = vec![0u64; n];
        let mut slots = vec![u32::MAX; m as usize];
        let mut filled = 0u64;
        let mut round = 0u64;
        while filled < m {
            round += 1;
            for i in 0..n {
                // An endpoint takes a turn in proportion to its weight (Envoy's weighted Maglev).
                let share = f64::from(weights[i]) / max_w;
                if ((round as f64) * share).floor() <= (((round - 1) as f64) * share).floor() {
                    continue;
                }
                let (offset, skip) = perms[i];
                loop {
                    let c = ((offset + next[i] * skip) % m) as usize;
                    next[i] += 1;
                    if slots[c] == u32::MAX {
                        slots[c] = u32::try_from(i).unwrap_or(0);
                        filled += 1;
                        break;
                    }
                }
                if filled == m {
                    break;
                }
            }
        }
        Self {
            slots: slots.into(),
        }
    }

    /// The endpoint of `key`'s slot, or of the first slot after it that `accept` keeps.
    #[inline]
    pub(crate) fn pick<'e>(
        &self,
        all: &'e [Arc<Endpoint>],
        key: u64,
        accept: impl Fn(usize, &Endpoint) -> bool,
    ) -> Option<&'e Arc<Endpoint>> {
        let m = self.slots.len();
        if m == 0 {
            return None;
        }
        let start = (key % m as u64) as usize;
        // Bounded: past the pool's size in distinct rejections nothing is acceptable.
        let mut rejected = 0usize;
        let mut last = u32::MAX;
        for k in 0..m {
            let i = self.slots[(start + k) % m];
            if i == last {
                continue;
            }
            last = i;
            let e = all.get(i as usize)?;
            if accept(i as usize, e) {
                return Some(e);
            }
            rejected += 1;
            if rejected > 4 * all.len() + 16 {
                break;
            }
        }
        None
    }
}
