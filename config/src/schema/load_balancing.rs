//! `gateway.loadBalancing`: how an endpoint is picked, slow start, and circuit breaking.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::routing::Rule;
use crate::problem::Check;
use crate::{Duration, Path};

/// Balancing across an agent's endpoints and across agents of a tag.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct LoadBalancing {
    /// The strategy; default `roundRobin`.
    pub strategy: Strategy,
    /// What the hashing strategies (`ringHash`, `maglev`, `rendezvousHash`) hash: `clientIp` (the
    /// default), `header:<name>`, `cookie:<name>`, `query:<name>` or `body:<field>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_on: Option<String>,
    /// The affinity cookie of the `stickyCookie` strategy.
    pub sticky_cookie: StickyCookie,
    /// Settings of the `locality` strategy.
    pub locality: Locality,
    /// The latency EWMA that `peakEwma`, `leastResponseTime` and `adaptive` read.
    pub peak_ewma: PeakEwma,
    /// Settings of the `adaptive` strategy.
    pub adaptive: Adaptive,
    /// Ramp traffic up to new endpoints; off by default.
    pub slow_start: SlowStart,
    /// Stop sending to failing endpoints for a while; off by default.
    pub circuit_breaker: CircuitBreaker,
}

/// A balancing strategy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Strategy {
    /// Each endpoint in turn.
    #[default]
    RoundRobin,
    /// In turn, in proportion to `weight`, interleaved (nginx's smooth weighted round robin).
    WeightedRoundRobin,
    /// Any endpoint, uniformly at random.
    Random,
    /// At random, in proportion to `weight`.
    WeightedRandom,
    /// The endpoint with the fewest requests in flight.
    LeastConnections,
    /// The fewest requests in flight relative to `weight`.
    WeightedLeastConnections,
    /// The less busy of two endpoints drawn at random.
    PowerOfTwoChoices,
    /// Of two drawn at random, the lower latency EWMA (peak-sensitive) times requests in flight.
    PeakEwma,
    /// The lowest average response time times requests in flight, over every endpoint.
    LeastResponseTime,
    /// The same client IP to the same endpoint.
    IpHash,
    /// Consistent hashing on a ring of `hashOn`.
    RingHash,
    /// Google's Maglev consistent hashing of `hashOn`.
    Maglev,
    /// Highest-random-weight hashing of `hashOn`.
    RendezvousHash,
    /// A client keeps the endpoint named by an affinity cookie the gateway sets.
    StickyCookie,
    /// Endpoints sharing the node's labels first, spilling over when they fail or are loaded.
    Locality,
    /// Weights adjusted from live load signals.
    Adaptive,
}

/// Where a hashing strategy finds its key, parsed from `hashOn`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum HashOn {
    /// The client's IP address.
    ClientIp,
    /// A request header (lower case).
    Header(String),
    /// A cookie of the request.
    Cookie(String),
    /// A query parameter.
    Query(String),
    /// A top-level field of a JSON request body.
    Body(String),
}

/// The latency EWMA of each endpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct PeakEwma {
    /// How fast older answers are forgotten, and how fast an idle endpoint's estimate falls back
    /// towards zero so it is tried again; default 10s (linkerd's).
    pub decay: Duration,
}

/// The `stickyCookie` strategy's cookie.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct StickyCookie {
    /// The cookie's name; default `openclaw_affinity`.
    pub name: String,
    /// How long a client keeps its endpoint (`Max-Age`); default 1h.
    pub ttl: Duration,
}

/// The `locality` strategy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Locality {
    /// Spill over to other endpoints once every local one has more than this many times the
    /// pool's mean requests in flight (plus one); default 2.
    pub spillover: f64,
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
    /// Time an open circuit waits before a trial request; default 10s. Doubled at each failed
    /// trial, up to `maxCooldown`.
    pub cooldown: Duration,
    /// The rolling window the error ratio is measured over; default 10s.
    pub window: Duration,
    /// The longest cooldown; default 5m (never below `cooldown`).
    pub max_cooldown: Duration,
    /// Trial requests let through at once while half-open; default 1.
    pub half_open_requests: u32,
}

// === impl LoadBalancing ===

impl LoadBalancing {
    pub(crate) fn validate(&self, at: &Path, rules: &[Rule], c: &mut Check) {
        self.validate_balancing(at, c);
        if let Some(h) = &self.hash_on {
            let used = self.strategy.hashes()
                || rules.iter().any(|r| {
                    r.load_balancing.as_ref().is_some_and(|lb| {
                        lb.hash_on.is_none() && lb.strategy.is_some_and(Strategy::hashes)
                    })
                });
            if !used {
                c.fail(
                    &at.key("hashOn"),
                    "is only used by the ringHash, maglev and rendezvousHash strategies",
                    h,
                );
            }
        }
        if self.peak_ewma.decay.get().is_zero() {
            c.fail(
                &at.key("peakEwma").key("decay"),
                "must be greater than 0",
                &self.peak_ewma.decay,
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
        if b.window.get() < std::time::Duration::from_millis(10) {
            c.fail(&p.key("window"), "must be at least 10ms", &b.window);
        }
        if b.max_cooldown.get() < b.cooldown.get() {
            c.fail(
                &p.key("maxCooldown"),
                "must not be shorter than cooldown",
                &b.max_cooldown,
            );
        }
        c.range(&p.key("halfOpenRequests"), b.half_open_requests, 1, 1000);
    }

    /// The checks a rule's own `loadBalancing` shares with the global one.
    pub(crate) fn validate_balancing(&self, at: &Path, c: &mut Check) {
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
        if let Some(h) = &self.hash_on
            && let Err(e) = HashOn::parse(h)
        {
            c.fail(&at.key("hashOn"), e, h);
        }
        let sc = &self.sticky_cookie;
        if !crate::checks::is_header_name(&sc.name) {
            c.fail(
                &at.key("stickyCookie").key("name"),
                "must be a cookie name (letters, digits and !#$%&'*+-.^_`|~)",
                &sc.name,
            );
        }
        if sc.ttl.get().is_zero() {
            c.fail(
                &at.key("stickyCookie").key("ttl"),
                "must be greater than 0",
                &sc.ttl,
            );
        }
        let sp = self.locality.spillover;
        if !sp.is_finite() || sp < 1.0 {
            c.fail(
                &at.key("locality").key("spillover"),
                "must be a number >= 1",
                &sp,
            );
        }
    }

    /// These settings with a rule's own `loadBalancing` keys over them.
    pub fn with_rule(&self, rule: Option<&RuleLoadBalancing>) -> LoadBalancing {
        let mut lb = self.clone();
        if let Some(r) = rule {
            if let Some(s) = r.strategy {
                lb.strategy = s;
            }
            if let Some(h) = &r.hash_on {
                lb.hash_on = Some(h.clone());
            }
            if let Some(v) = &r.sticky_cookie {
                lb.sticky_cookie = v.clone();
            }
            if let Some(v) = &r.locality {
                lb.locality = v.clone();
            }
            if let Some(v) = &r.adaptive {
                lb.adaptive = v.clone();
            }
            if let Some(v) = &r.slow_start {
                lb.slow_start = v.clone();
            }
        }
        lb
    }

    /// `hashOn` parsed, `clientIp` when unset (validation has refused anything unparsable).
    pub fn hash_key(&self) -> HashOn {
        self.hash_on
            .as_deref()
            .and_then(|h| HashOn::parse(h).ok())
            .unwrap_or(HashOn::ClientIp)
    }
}

/// A rule's own balancing: any of the keys of `gateway.loadBalancing` but `circuitBreaker`, each
/// replacing the global one for this rule.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct RuleLoadBalancing {
    /// The strategy for this rule's endpoints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
    /// What a hashing strategy hashes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_on: Option<String>,
    /// The `stickyCookie` cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sticky_cookie: Option<StickyCookie>,
    /// The `locality` settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locality: Option<Locality>,
    /// The `adaptive` settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adaptive: Option<Adaptive>,
    /// Slow start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slow_start: Option<SlowStart>,
}

// === impl RuleLoadBalancing ===

impl RuleLoadBalancing {
    pub(crate) fn validate(&self, at: &Path, global: &LoadBalancing, c: &mut Check) {
        let lb = global.with_rule(Some(self));
        // Only the keys the rule sets are checked here; the global ones are checked at their path.
        let mut own = Check::default();
        lb.validate_balancing(at, &mut own);
        for p in own.into_problems() {
            let set = |k: &str| p.path.to_string().starts_with(&at.key(k).to_string());
            let mine = (self.adaptive.is_some() && set("adaptive"))
                || (self.slow_start.is_some() && set("slowStart"))
                || (self.hash_on.is_some() && set("hashOn"))
                || (self.sticky_cookie.is_some() && set("stickyCookie"))
                || (self.locality.is_some() && set("locality"));
            if mine {
                c.push(p);
            }
        }
        if let Some(h) = &self.hash_on
            && !lb.strategy.hashes()
        {
            c.fail(
                &at.key("hashOn"),
                "is only used by the ringHash, maglev and rendezvousHash strategies",
                h,
            );
        }
    }
}

// === impl Strategy ===

impl Strategy {
    /// Every strategy, in documentation order.
    pub const ALL: [Strategy; 16] = [
        Self::RoundRobin,
        Self::WeightedRoundRobin,
        Self::Random,
        Self::WeightedRandom,
        Self::LeastConnections,
        Self::WeightedLeastConnections,
        Self::PowerOfTwoChoices,
        Self::PeakEwma,
        Self::LeastResponseTime,
        Self::IpHash,
        Self::RingHash,
        Self::Maglev,
        Self::RendezvousHash,
        Self::StickyCookie,
        Self::Locality,
        Self::Adaptive,
    ];

    /// The name used in documents.
    pub fn name(self) -> &'static str {
        match self {
            Self::RoundRobin => "roundRobin",
            Self::WeightedRoundRobin => "weightedRoundRobin",
            Self::Random => "random",
            Self::WeightedRandom => "weightedRandom",
            Self::LeastConnections => "leastConnections",
            Self::WeightedLeastConnections => "weightedLeastConnections",
            Self::PowerOfTwoChoices => "powerOfTwoChoices",
            Self::PeakEwma => "peakEwma",
            Self::LeastResponseTime => "leastResponseTime",
            Self::IpHash => "ipHash",
            Self::RingHash => "ringHash",
            Self::Maglev => "maglev",
            Self::RendezvousHash => "rendezvousHash",
            Self::StickyCookie => "stickyCookie",
            Self::Locality => "locality",
            Self::Adaptive => "adaptive",
        }
    }

    /// True for the strategies that hash `hashOn`.
    pub fn hashes(self) -> bool {
        matches!(self, Self::RingHash | Self::Maglev | Self::RendezvousHash)
    }
}

// === impl HashOn ===

impl HashOn {
    /// Parses a `hashOn` value.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s == "clientIp" {
            return Ok(Self::ClientIp);
        }
        let (kind, name) = s.split_once(':').ok_or_else(|| {
            "must be clientIp, header:<name>, cookie:<name>, query:<name> or body:<field>"
                .to_string()
        })?;
        if name.trim().is_empty() || name.trim() != name {
            return Err(format!("needs a name after `{kind}:`"));
        }
        match kind {
            "header" if crate::checks::is_header_name(name) => {
                Ok(Self::Header(name.to_ascii_lowercase()))
            }
            "header" => Err(format!("`{name}` is not a header name")),
            "cookie" => Ok(Self::Cookie(name.to_string())),
            "query" => Ok(Self::Query(name.to_string())),
            "body" => Ok(Self::Body(name.to_string())),
            _ => Err(format!(
                "`{kind}:` is not a key source: use clientIp, header:, cookie:, query: or body:"
            )),
        }
    }

    /// The `hashOn` text of this key.
    pub fn describe(&self) -> String {
        match self {
            Self::ClientIp => "clientIp".into(),
            Self::Header(n) => format!("header:{n}"),
            Self::Cookie(n) => format!("cookie:{n}"),
            Self::Query(n) => format!("query:{n}"),
            Self::Body(n) => format!("body:{n}"),
        }
    }
}

// === impl StickyCookie ===

impl Default for StickyCookie {
    fn default() -> Self {
        Self {
            name: "openclaw_affinity".into(),
            ttl: Duration::secs(3600),
        }
    }
}

// === impl PeakEwma ===

impl Default for PeakEwma {
    fn default() -> Self {
        Self {
            decay: Duration::secs(10),
        }
    }
}

// === impl Locality ===

impl Default for Locality {
    fn default() -> Self {
        Self { spillover: 2.0 }
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
            window: Duration::secs(10),
            max_cooldown: Duration::secs(300),
            half_open_requests: 1,
        }
    }
}
