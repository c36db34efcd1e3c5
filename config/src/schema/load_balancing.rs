//! `gateway.loadBalancing`: how an endpoint is picked, slow start, and circuit breaking.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::problem::Check;
use crate::{Duration, Path};

/// Balancing across an agent's endpoints and across agents of a tag.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct LoadBalancing {
    /// The strategy; default `roundRobin`.
    pub strategy: Strategy,
    /// Settings of the `adaptive` strategy.
    pub adaptive: Adaptive,
    /// Ramp traffic up to new endpoints; off by default.
    pub slow_start: SlowStart,
    /// Stop sending to failing endpoints for a while; off by default.
    pub circuit_breaker: CircuitBreaker,
}

/// A balancing strategy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Strategy {
    /// Each endpoint in turn.
    #[default]
    RoundRobin,
    /// In turn, in proportion to `weight`.
    WeightedRoundRobin,
    /// The endpoint with the fewest requests in flight.
    LeastConnections,
    /// The same client IP to the same endpoint.
    IpHash,
    /// Weights adjusted from live load signals.
    Adaptive,
}

/// The `adaptive` strategy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Adaptive {
    /// Signals used; default `["latency", "queue_depth"]`.
    pub metrics: Vec<AdaptiveMetric>,
    /// How often weights are recomputed; default 5s.
    pub update_interval: Duration,
    /// How far back signals are averaged; default 1m.
    pub history_window: Duration,
    /// Relative importance of each listed signal (normalised); default equal.
    pub weights: BTreeMap<AdaptiveMetric, f64>,
}

/// A load signal of an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdaptiveMetric {
    /// CPU use the agent reports.
    Cpu,
    /// Memory use the agent reports.
    Memory,
    /// Response latency the gateway observes.
    Latency,
    /// Requests in flight to the endpoint.
    QueueDepth,
}

/// Slow start of endpoints that just became healthy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct SlowStart {
    /// Ramp new endpoints up; default false.
    pub enabled: bool,
    /// How long the ramp lasts; default 30s.
    pub duration: Duration,
    /// Share of its weight, in percent, an endpoint starts at; default 10.
    pub initial_weight: u32,
}

/// Circuit breaking per endpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct CircuitBreaker {
    /// Break circuits; default false.
    pub enabled: bool,
    /// Error ratio in 0..=1 that opens the circuit; default 0.5.
    pub error_threshold: f64,
    /// Requests in the window before the ratio counts; default 20.
    pub min_requests: u32,
    /// Time an open circuit waits before a trial request; default 10s.
    pub cooldown: Duration,
}

// === impl LoadBalancing ===

impl LoadBalancing {
    pub(crate) fn validate(&self, at: &Path, c: &mut Check) {
        self.adaptive.validate(&at.key("adaptive"), c);
        let s = &self.slow_start;
        c.range(
            &at.key("slowStart").key("initialWeight"),
            s.initial_weight,
            1,
            100,
        );
        if s.duration.get().is_zero() {
            c.fail(
                &at.key("slowStart").key("duration"),
                "must be greater than 0",
                &s.duration,
            );
        }
        let b = &self.circuit_breaker;
        let p = at.key("circuitBreaker");
        c.range(&p.key("errorThreshold"), b.error_threshold, 0.0, 1.0);
        if b.min_requests == 0 {
            c.fail(&p.key("minRequests"), "must be at least 1", &b.min_requests);
        }
        if b.cooldown.get().is_zero() {
            c.fail(&p.key("cooldown"), "must be greater than 0", &b.cooldown);
        }
    }
}

// === impl Adaptive ===

impl Default for Adaptive {
    fn default() -> Self {
        Self {
            metrics: vec![AdaptiveMetric::Latency, AdaptiveMetric::QueueDepth],
            update_interval: Duration::secs(5),
            history_window: Duration::secs(60),
            weights: BTreeMap::new(),
        }
    }
}

impl Adaptive {
    fn validate(&self, at: &Path, c: &mut Check) {
        if self.metrics.is_empty() {
            c.missing(
                &at.key("metrics"),
                "needs at least one of cpu, memory, latency, queue_depth",
            );
        }
        for (m, w) in &self.weights {
            let p = at.key("weights").key(m.name());
            if !w.is_finite() || *w < 0.0 {
                c.fail(&p, "must be a number >= 0", w);
            }
            if !self.metrics.contains(m) {
                c.fail(
                    &p,
                    "weights a metric that adaptive.metrics does not list",
                    w,
                );
            }
        }
        if !self.weights.is_empty() && self.weights.values().all(|w| *w <= 0.0) {
            c.fail(
                &at.key("weights"),
                "at least one weight must be greater than 0",
                &self.weights,
            );
        }
        if self.update_interval.get().is_zero() {
            c.fail(
                &at.key("updateInterval"),
                "must be greater than 0",
                &self.update_interval,
            );
        }
        if self.history_window < self.update_interval {
            c.fail(
                &at.key("historyWindow"),
                "must be at least updateInterval",
                &self.history_window,
            );
        }
    }
}

// === impl AdaptiveMetric ===

impl AdaptiveMetric {
    /// The name used in documents.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Memory => "memory",
            Self::Latency => "latency",
            Self::QueueDepth => "queue_depth",
        }
    }
}

// === impl SlowStart ===

impl Default for SlowStart {
    fn default() -> Self {
        Self {
            enabled: false,
            duration: Duration::secs(30),
            initial_weight: 10,
        }
    }
}

// === impl CircuitBreaker ===

impl Default for CircuitBreaker {
    fn default() -> Self {
        Self {
            enabled: false,
            error_threshold: 0.5,
            min_requests: 20,
            cooldown: Duration::secs(10),
        }
    }
}
