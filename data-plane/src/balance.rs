//! Load balancing: which endpoint of a rule's pool serves a request, by the sixteen strategies of
//! `gateway.loadBalancing` (a rule's own `loadBalancing` overrides the global one).
//!
//! A [`Balancer`] is built per pool when a table is compiled — off the request path, so the tables
//! some strategies need (the smooth weighted round-robin schedule, cumulative weights, consistent-hash
//! rings and Maglev tables, shared across swaps through [`Tables`]) are ready before a request
//! arrives. A pick reads only atomics of the long-lived [`Endpoint`]s (health, requests in flight, the
//! latency EWMA, reported load, the slow-start clock) and of the balancer (cursors, adaptive factors):
//! it allocates nothing and takes no lock. Families live in their own files: [`simple`] (round robin,
//! random), [`weighted`], [`least`] (connections and latency), [`hash`] (ipHash, ring, rendezvous),
//! [`maglev`], [`locality`], [`adaptive`]; [`key`] reads a request's hash key.

mod adaptive;
mod hash;
mod key;
mod least;
mod locality;
mod maglev;
mod rng;
mod simple;
mod tables;
mod weighted;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use openclaw_config::{AdaptiveMetric, LoadBalancing, StickyCookie, Strategy};
use serde_json::{Value, json};
use tokio::runtime::Handle;

use crate::upstream::Endpoint;
use adaptive::Factors;
use hash::Ring;
use maglev::Maglev;
use weighted::{Cumulative, Schedule};

pub use adaptive::FLOOR as ADAPTIVE_FLOOR;
pub use key::{KeyInput, KeySource};
pub use tables::Tables;

/// What a balancer is built with besides its pool and settings.
#[derive(Clone, Copy, Debug)]
pub struct BuildContext<'a> {
    /// Shared consistent-hash tables.
    pub tables: &'a Tables,
    /// The node's own labels, for `locality`.
    pub node_labels: &'a BTreeMap<String, String>,
    /// Where `adaptive` runs its sampler; without one its factors stay at 1.
    pub runtime: Option<&'a Handle>,
}

/// One pool and how to pick from it.
#[derive(Debug)]
pub struct Balancer {
    endpoints: Box<[Arc<Endpoint>]>,
    strategy: Strategy,
    algo: Algo,
    key: KeySource,
    /// Slow start: the initial share and the ramp's length, when enabled.
    ramp: Option<(f64, Duration)>,
    /// All weights equal (rendezvous then needs no logarithm).
    uniform: bool,
    next: AtomicUsize,
    all_healthy: simple::AllHealthy,
}

/// The per-strategy tables and state.
#[derive(Debug)]
enum Algo {
    Plain,
    Schedule(Schedule),
    Cumulative(Cumulative),
    Ring(Arc<Ring>),
    Maglev(Arc<Maglev>),
    Sticky {
        schedule: Schedule,
        /// Endpoint ids, sorted, with their index.
        by_id: Box<[(u64, u32)]>,
        cookie: StickyCookie,
    },
    Locality {
        /// Indices of the endpoints local to the node.
        local: Box<[u32]>,
        spillover: f64,
    },
    Adaptive {
        table: Cumulative,
        factors: Arc<Factors>,
    },
}

// === impl Balancer ===

impl Balancer {
    /// The balancer of `endpoints` under `lb` (global settings with a rule's over them).
    pub fn new(endpoints: Vec<Arc<Endpoint>>, lb: &LoadBalancing, ctx: BuildContext<'_>) -> Self {
        let weights: Vec<u32> = endpoints.iter().map(|e| e.weight()).collect();
        let ids: Vec<u64> = endpoints.iter().map(|e| e.sticky_id()).collect();
        let uniform = weights.windows(2).all(|w| w[0] == w[1]);
        let mut key = KeySource::None;
        let algo = match lb.strategy {
            Strategy::WeightedRoundRobin => Algo::Schedule(Schedule::new(&weights)),
            Strategy::WeightedRandom => Algo::Cumulative(Cumulative::new(&weights)),
            Strategy::IpHash => {
                key = KeySource::ClientIp;
                Algo::Plain
            }
            Strategy::RingHash => {
                key = KeySource::from_config(&lb.hash_key());
                Algo::Ring(ctx.tables.ring(&ids, &weights))
            }
            Strategy::Maglev => {
                key = KeySource::from_config(&lb.hash_key());
                Algo::Maglev(ctx.tables.maglev(&ids, &weights))
            }
            Strategy::RendezvousHash => {
                key = KeySource::from_config(&lb.hash_key());
                Algo::Plain
            }
            Strategy::StickyCookie => {
                key = KeySource::Sticky(lb.sticky_cookie.name.clone());
                let mut by_id: Vec<(u64, u32)> = ids
                    .iter()
                    .enumerate()
                    .map(|(i, &id)| (id, u32::try_from(i).unwrap_or(0)))
                    .collect();
                by_id.sort_unstable();
                Algo::Sticky {
                    schedule: Schedule::new(&weights),
                    by_id: by_id.into(),
                    cookie: lb.sticky_cookie.clone(),
                }
            }
            Strategy::Locality => Algo::Locality {
                local: endpoints
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| locality::is_local(&e.labels(), ctx.node_labels))
                    .map(|(i, _)| u32::try_from(i).unwrap_or(0))
                    .collect(),
                spillover: lb.locality.spillover,
            },
            Strategy::Adaptive => {
                let factors = Arc::new(Factors::new(endpoints.len()));
                if let Some(rt) = ctx.runtime.filter(|_| !endpoints.is_empty()) {
                    adaptive::spawn(rt, &endpoints, &lb.adaptive, &factors);
                }
                Algo::Adaptive {
                    table: Cumulative::new(&weights),
                    factors,
                }
            }
            _ => Algo::Plain,
        };
        let s = &lb.slow_start;
        Self {
            endpoints: endpoints.into(),
            strategy: lb.strategy,
            algo,
            key,
            ramp: s
                .enabled
                .then(|| (f64::from(s.initial_weight) / 100.0, s.duration.get())),
            uniform,
            next: AtomicUsize::new(0),
            all_healthy: simple::AllHealthy::new(),
        }
    }

    /// A round-robin balancer of `endpoints` (the default strategy), for tests and tools.
    pub fn round_robin(endpoints: Vec<Arc<Endpoint>>) -> Self {
        Self {
            endpoints: endpoints.into(),
            strategy: Strategy::RoundRobin,
            algo: Algo::Plain,
            key: KeySource::None,
            ramp: None,
            uniform: true,
            next: AtomicUsize::new(0),
            all_healthy: simple::AllHealthy::new(),
        }
    }

    /// The strategy.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// Where the pool's key comes from.
    pub fn key_source(&self) -> &KeySource {
        &self.key
    }

    /// The pool.
    pub fn endpoints(&self) -> &[Arc<Endpoint>] {
        &self.endpoints
    }

    /// The affinity cookie, for `stickyCookie`.
    pub fn sticky_cookie(&self) -> Option<&StickyCookie> {
        match &self.algo {
            Algo::Sticky { cookie, .. } => Some(cookie),
            _ => None,
        }
    }

    /// True when the strategy reads the latency EWMA, so answers must be timed.
    pub fn measures_latency(&self, lb: &LoadBalancing) -> bool {
        matches!(
            self.strategy,
            Strategy::PeakEwma | Strategy::LeastResponseTime
        ) || (self.strategy == Strategy::Adaptive
            && lb.adaptive.metrics.contains(&AdaptiveMetric::Latency))
    }

    /// True when the strategy reads the load agents report in `endpoint-load-metrics`.
    pub fn reads_reports(&self, lb: &LoadBalancing) -> bool {
        self.strategy == Strategy::Adaptive
            && lb
                .adaptive
                .metrics
                .iter()
                .any(|m| matches!(m, AdaptiveMetric::Cpu | AdaptiveMetric::Memory))
    }

    /// The endpoint for a request; `None` when no endpoint of the pool is healthy.
    #[inline]
    pub fn pick(&self, req: &KeyInput<'_>) -> Option<Arc<Endpoint>> {
        if self.strategy == Strategy::RoundRobin {
            // The default: exactly the path requests took before balancing had strategies.
            return simple::round_robin(&self.endpoints, &self.next, &self.all_healthy).cloned();
        }
        self.pick_with(self.key.key(req)).cloned()
    }

    /// The pick for a request whose key (hashed) is `key`.
    fn pick_with(&self, key: Option<u64>) -> Option<&Arc<Endpoint>> {
        let all = &*self.endpoints;
        let w = |i: usize, e: &Endpoint| self.weight(i, e);
        let per_weight = |i: usize, e: &Endpoint| least::busy(e) / self.weight(i, e).max(1e-9);
        let any = || simple::round_robin(all, &self.next, &self.all_healthy);
        match (&self.algo, self.strategy) {
            (_, Strategy::RoundRobin) => any(),
            (_, Strategy::Random) => simple::random(all),
            (Algo::Schedule(s), _) => s
                .pick(all, |i, e| self.accept(i, e))
                .or_else(|| weighted::scan(all, w)),
            (Algo::Cumulative(c), _) => c
                .pick(all, |i, e| self.accept(i, e))
                .or_else(|| weighted::scan(all, w)),
            (_, Strategy::LeastConnections) => {
                least::lowest(all, &self.next, |_, e| least::busy(e))
            }
            (_, Strategy::WeightedLeastConnections) => least::lowest(all, &self.next, per_weight),
            (_, Strategy::PowerOfTwoChoices) => least::two_choices(all, &self.next, per_weight),
            (_, Strategy::PeakEwma) => {
                let now = crate::upstream::now();
                least::two_choices(all, &self.next, |i, e| {
                    least::latency(e, now) * per_weight(i, e)
                })
            }
            (_, Strategy::LeastResponseTime) => {
                let now = crate::upstream::now();
                least::lowest(all, &self.next, |i, e| {
                    least::latency(e, now) * per_weight(i, e)
                })
            }
            (_, Strategy::IpHash) => key.and_then(|k| hash::modulo(all, k)).or_else(any),
            (Algo::Ring(r), _) => key
                .and_then(|k| r.pick(all, k, |i, e| self.accept_keyed(k, i, e)))
                .or_else(any),
            (Algo::Maglev(m), _) => key
                .and_then(|k| m.pick(all, k, |i, e| self.accept_keyed(k, i, e)))
                .or_else(any),
            (_, Strategy::RendezvousHash) => key
                .and_then(|k| hash::rendezvous(all, k, self.uniform && self.ramp.is_none(), w))
                .or_else(any),
            (
                Algo::Sticky {
                    schedule, by_id, ..
                },
                _,
            ) => key
                .and_then(|k| {
                    let at = by_id.binary_search_by_key(&k, |p| p.0).ok()?;
                    let e = &all[by_id[at].1 as usize];
                    e.is_healthy().then_some(e)
                })
                .or_else(|| schedule.pick(all, |i, e| self.accept(i, e)))
                .or_else(|| weighted::scan(all, w)),
            (Algo::Locality { local, spillover }, _) => {
                locality::pick(all, local, *spillover, &self.next, per_weight)
            }
            (Algo::Adaptive { table, factors }, _) => {
                let max = factors.max();
                table
                    .pick(all, |i, e| {
                        self.accept(i, e) && rng::unit() * max < factors.get(i)
                    })
                    .or_else(|| weighted::scan(all, w))
            }
            _ => any(),
        }
    }

    /// The share of its configured weight endpoint `i` gets now: slow start's ramp times the
    /// adaptive factor.
    #[inline]
    fn share(&self, i: usize, e: &Endpoint) -> f64 {
        let ramp = match self.ramp {
            Some((initial, duration)) => e.load().ramp(initial, duration),
            None => 1.0,
        };
        match &self.algo {
            Algo::Adaptive { factors, .. } => ramp * factors.get(i),
            _ => ramp,
        }
    }

    /// Endpoint `i`'s effective weight now (0 when unhealthy).
    #[inline]
    fn weight(&self, i: usize, e: &Endpoint) -> f64 {
        if !e.is_healthy() {
            return 0.0;
        }
        f64::from(e.weight()) * self.share(i, e)
    }

    /// Keeps a drawn endpoint when healthy, with the probability of its slow-start ramp.
    #[inline]
    fn accept(&self, _i: usize, e: &Endpoint) -> bool {
        if !e.is_healthy() {
            return false;
        }
        match self.ramp {
            Some((initial, duration)) if e.load().ramping() => {
                rng::unit() < e.load().ramp(initial, duration)
            }
            _ => true,
        }
    }

    /// As [`accept`](Self::accept), but the same for every request with this key, so a ramping
    /// endpoint takes over a growing, stable share of keys.
    #[inline]
    fn accept_keyed(&self, key: u64, _i: usize, e: &Endpoint) -> bool {
        if !e.is_healthy() {
            return false;
        }
        match self.ramp {
            Some((initial, duration)) if e.load().ramping() => {
                let u = (mix(key ^ e.sticky_id()) >> 11) as f64 / (1u64 << 53) as f64;
                u < e.load().ramp(initial, duration)
            }
            _ => true,
        }
    }

    /// `route.explain`'s view: the strategy, the key it would hash, and the candidates with their
    /// effective weights.
    pub fn explain(&self, req: &KeyInput<'_>) -> Value {
        let candidates: Vec<Value> = self
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let mut c = json!({
                    "agent": e.agent_id(),
                    "endpoint": e.url().to_string(),
                    "healthy": e.is_healthy(),
                    "weight": e.weight(),
                    "effectiveWeight": (self.weight(i, e) * 100.0).round() / 100.0,
                    "inFlight": e.in_flight(),
                });
                if let Algo::Locality { local, .. } = &self.algo {
                    c["local"] = json!(local.iter().any(|&l| l as usize == i));
                }
                if e.load().has_latency() {
                    let now = crate::upstream::now();
                    c["latencyMs"] = json!((e.load().decayed_latency(now) / 1e4).round() / 100.0);
                }
                c
            })
            .collect();
        let mut out = json!({
            "strategy": self.strategy.name(),
            "candidates": candidates,
        });
        if self.key != KeySource::None {
            out["hashOn"] = json!(self.key.describe());
            out["key"] = json!(self.key.text(req));
            if self.key.key(req).is_none() {
                out["keyMissing"] = json!("the request has no key: balanced round robin");
            }
        }
        out
    }
}

/// A uniform number in `[0, 1)` from the balancers' cheap per-thread generator (retry jitter).
pub(crate) fn unit_random() -> f64 {
    rng::unit()
}

/// A 64-bit finaliser (splitmix64's): spreads any input over all bits.
#[inline]
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A stable hash of the concatenated `parts` (FNV-1a, then [`mix`]): the same on every node and
/// every run, so keys map alike across a fleet.
#[inline]
pub fn hash_parts(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in *p {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01B3);
        }
    }
    mix(h)
}

#[cfg(test)]
pub(crate) mod tests;
