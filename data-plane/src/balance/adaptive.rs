//! `adaptive`: weights recomputed from live load every `updateInterval`. A background task per
//! adaptive pool samples each endpoint's signals — CPU and memory the agent reports (the ORCA
//! `endpoint-load-metrics` header on its responses, or its health check's JSON body), the latency
//! EWMA and the requests in flight the gateway measures — into a window of `historyWindow`, and turns
//! them into a factor per endpoint that picks read from an atomic. Recent intervals count most (each
//! one back counts half as much), so traffic moves within a few intervals of a change; reports older
//! than the window are forgotten, and an agent that reports nothing is balanced on what the gateway
//! measures. No healthy endpoint gets less than [`FLOOR`] of its weighted share.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use openclaw_config::{Adaptive, AdaptiveMetric};
use tokio::runtime::Handle;
use tokio::time::MissedTickBehavior;

use crate::upstream::Endpoint;

/// The least share of its weight a healthy endpoint keeps, however loaded it reports itself.
pub const FLOOR: f64 = 0.05;

/// The factors of one adaptive pool, in thousandths, by endpoint index.
#[derive(Debug)]
pub(crate) struct Factors {
    milli: Box<[AtomicU32]>,
    /// The largest factor, so draws can be accepted in proportion to it.
    max_milli: AtomicU32,
}

/// The sampler's view of a pool: its endpoints, settings and recent samples.
struct Sampler {
    endpoints: Box<[Arc<Endpoint>]>,
    settings: Adaptive,
    /// Per endpoint, the latest samples first (at most the window's worth).
    history: Vec<VecDeque<Sample>>,
}

/// One interval's signals of one endpoint, each in 0..=1 (higher is more loaded), `None` when
/// unknown.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    cpu: Option<f64>,
    memory: Option<f64>,
    latency: Option<f64>,
    queue: Option<f64>,
}

// === impl Factors ===

impl Factors {
    /// Factors of 1 for `n` endpoints.
    pub(crate) fn new(n: usize) -> Self {
        Self {
            milli: (0..n).map(|_| AtomicU32::new(1000)).collect(),
            max_milli: AtomicU32::new(1000),
        }
    }

    /// Endpoint `i`'s factor in [`FLOOR`]..=1.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> f64 {
        self.milli
            .get(i)
            .map_or(1.0, |f| f64::from(f.load(Ordering::Relaxed)) / 1000.0)
    }

    /// The largest factor.
    #[inline]
    pub(crate) fn max(&self) -> f64 {
        f64::from(self.max_milli.load(Ordering::Relaxed).max(1)) / 1000.0
    }

    fn set(&self, values: &[f64]) {
        let mut max = 0;
        for (slot, v) in self.milli.iter().zip(values) {
            let m = (v.clamp(FLOOR, 1.0) * 1000.0).round() as u32;
            slot.store(m, Ordering::Relaxed);
            max = max.max(m);
        }
        self.max_milli.store(max.max(1), Ordering::Relaxed);
    }
}

/// Starts the sampler of a pool on `rt`; it stops once `factors` is dropped (with the table).
pub(crate) fn spawn(
    rt: &Handle,
    endpoints: &[Arc<Endpoint>],
    settings: &Adaptive,
    factors: &Arc<Factors>,
) {
    let sampler = Sampler {
        endpoints: endpoints.into(),
        settings: settings.clone(),
        history: vec![VecDeque::new(); endpoints.len()],
    };
    rt.spawn(run(sampler, Arc::downgrade(factors)));
}

async fn run(mut s: Sampler, factors: Weak<Factors>) {
    let interval = s
        .settings
        .update_interval
        .get()
        .max(Duration::from_millis(1));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(f) = factors.upgrade() else {
            return;
        };
        f.set(&s.update());
    }
}

// === impl Sampler ===

impl Sampler {
    /// Takes one interval's samples and returns each endpoint's factor.
    fn update(&mut self) -> Vec<f64> {
        let window = self.settings.history_window.get();
        let interval = self
            .settings
            .update_interval
            .get()
            .max(Duration::from_millis(1));
        let keep = (window.as_nanos() / interval.as_nanos()).max(1) as usize;
        let now = crate::upstream::now();
        // Latency and queue depth are relative to the pool's mean, so they need the whole pool.
        let lat: Vec<Option<f64>> = self
            .endpoints
            .iter()
            .map(|e| {
                let l = e.load();
                (l.has_latency()).then(|| l.decayed_latency(now))
            })
            .collect();
        let known: Vec<f64> = lat.iter().flatten().copied().collect();
        let mean_lat = mean(&known);
        let queue: Vec<f64> = self
            .endpoints
            .iter()
            .map(|e| e.in_flight() as f64)
            .collect();
        let mean_q = mean(&queue).unwrap_or(0.0);
        let mut out = Vec::with_capacity(self.endpoints.len());
        for (i, e) in self.endpoints.iter().enumerate() {
            let sample = Sample {
                cpu: e.load().cpu(window),
                memory: e.load().memory(window),
                latency: lat[i].zip(mean_lat).map(|(l, m)| l / (l + m.max(1.0))),
                queue: Some(queue[i] / (queue[i] + mean_q + 1.0)),
            };
            let h = &mut self.history[i];
            h.push_front(sample);
            h.truncate(keep);
            out.push(factor(&self.settings, h));
        }
        out
    }
}

/// The factor of an endpoint with these samples: 1 minus its weighted load.
fn factor(settings: &Adaptive, history: &VecDeque<Sample>) -> f64 {
    let mut load = 0.0;
    let mut weight = 0.0;
    for m in &settings.metrics {
        let Some(v) = recent_mean(history, *m) else {
            // Unknown (an agent that reports nothing): left out, the others renormalised.
            continue;
        };
        let w = settings
            .weights
            .get(m)
            .copied()
            .unwrap_or(if settings.weights.is_empty() {
                1.0
            } else {
                0.0
            });
        load += w * v;
        weight += w;
    }
    if weight <= 0.0 {
        return 1.0;
    }
    (1.0 - load / weight).clamp(FLOOR, 1.0)
}

/// The mean of metric `m` over `history`, each sample half as important as the next newer one.
fn recent_mean(history: &VecDeque<Sample>, m: AdaptiveMetric) -> Option<f64> {
    let (mut sum, mut weight, mut w) = (0.0, 0.0, 1.0);
    for s in history {
        let v = match m {
            AdaptiveMetric::Cpu => s.cpu,
            AdaptiveMetric::Memory => s.memory,
            AdaptiveMetric::Latency => s.latency,
            AdaptiveMetric::QueueDepth => s.queue,
        };
        if let Some(v) = v {
            sum += w * v.clamp(0.0, 1.0);
            weight += w;
        }
        w *= 0.5;
    }
    (weight > 0.0).then(|| sum / weight)
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::LoadReport;

    fn settings(metrics: &[AdaptiveMetric]) -> Adaptive {
        Adaptive {
            metrics: metrics.to_vec(),
            update_interval: openclaw_config::Duration::secs(5),
            history_window: openclaw_config::Duration::secs(60),
            ..Adaptive::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn factors_follow_reported_cpu_every_interval_and_recover() {
        let eps = crate::balance::tests::endpoints(2);
        let factors = Arc::new(Factors::new(2));
        spawn(
            &Handle::current(),
            &eps,
            &settings(&[AdaptiveMetric::Cpu]),
            &factors,
        );
        let report = |i: usize, cpu: f64| {
            eps[i].load().report(LoadReport {
                cpu: Some(cpu),
                memory: None,
            })
        };
        report(0, 0.9);
        report(1, 0.1);
        // Nothing changes before the first interval ends.
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!((factors.get(0), factors.get(1)), (1.0, 1.0));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!((factors.get(0) - 0.1).abs() < 1e-3, "{}", factors.get(0));
        assert!((factors.get(1) - 0.9).abs() < 1e-3);
        // Recovered: within a few intervals the factor is back near the other's.
        for _ in 0..4 {
            report(0, 0.1);
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        assert!(factors.get(0) > 0.85, "{}", factors.get(0));
        // Reports older than the window are forgotten, and then their samples leave the window:
        // no signal, full weight.
        tokio::time::sleep(Duration::from_secs(125)).await;
        assert_eq!(factors.get(0), 1.0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_floor_keeps_every_endpoint_in_the_pool_and_the_sampler_stops_with_its_table() {
        let eps = crate::balance::tests::endpoints(2);
        let factors = Arc::new(Factors::new(2));
        spawn(
            &Handle::current(),
            &eps,
            &settings(&[AdaptiveMetric::Cpu, AdaptiveMetric::Memory]),
            &factors,
        );
        eps[0].load().report(LoadReport {
            cpu: Some(1.0),
            memory: Some(1.0),
        });
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_eq!(factors.get(0), FLOOR);
        let weak = Arc::downgrade(&factors);
        drop(factors);
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert!(weak.upgrade().is_none());
        // The task ended, so it holds the endpoints no more.
        assert_eq!(Arc::strong_count(&eps[0]), 1);
    }
}
