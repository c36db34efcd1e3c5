//! Prometheus metrics of the data plane: the seed's five (`gateway_requests_total`,
//! `gateway_request_duration_seconds`, `gateway_active_connections`, `gateway_cache_hit_ratio`,
//! `gateway_error_total`) plus `gateway_config_version`, `gateway_shed_total` and the semantic stage's
//! `gateway_semantic_skipped_total` and `gateway_semantic_fallback_total`, rendered as text on the metrics path.
//!
//! Series for every rule and error kind exist from the moment a config is applied, at zero, so
//! dashboards and alerts see them before the first request.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::semantic::Skip;
use fxhash::FxHashMap;

/// Label value of requests no rule took.
pub const NO_ROUTE: &str = "(none)";

/// Error kinds counted in `gateway_error_total`, known from startup.
pub const ERROR_KINDS: &[&str] = &[
    "no_route",
    "unauthorized",
    "bad_request",
    "no_healthy_endpoint",
    "upstream_connect",
    "upstream_error",
    "upstream_timeout",
    "circuit_open",
    "not_ready",
    "payload_too_large",
    "headers_too_large",
    "cors_refused",
    "overloaded",
    "request_timeout",
    "rate_limited",
    CLIENT_CLOSED,
];

/// The error kind of a request whose client closed its connection before the answer.
pub const CLIENT_CLOSED: &str = "client_closed";

/// Response status classes used as the `code` label.
const CLASSES: &[&str] = &["2xx", "3xx", "4xx", "5xx"];

/// All metrics of one node; cheap to update from many tasks.
pub struct Metrics {
    series: RwLock<Series>,
    active_connections: AtomicI64,
    config_version: AtomicU64,
    shed: AtomicU64,
    semantic_skipped: [AtomicU64; Skip::ALL.len()],
    semantic_fallback: AtomicU64,
}

struct Series {
    buckets: Arc<[f64]>,
    /// Hashed: every request looks its route up here (rendering sorts the names).
    routes: FxHashMap<Arc<str>, RouteSeries>,
    errors: BTreeMap<&'static str, AtomicU64>,
}

/// One route's counters per status class and its duration histogram.
struct RouteSeries {
    classes: [AtomicU64; 4],
    durations: Histogram,
}

struct Histogram {
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

/// Decrements the active connection gauge when dropped.
pub struct ConnectionGuard(Arc<Metrics>);

// === impl Metrics ===

impl Metrics {
    /// Metrics with the default buckets and no rules yet.
    pub fn new(buckets: &[f64]) -> Arc<Self> {
        let mut series = Series {
            buckets: buckets.into(),
            routes: FxHashMap::default(),
            errors: BTreeMap::new(),
        };
        for kind in ERROR_KINDS {
            series.errors.insert(kind, AtomicU64::new(0));
        }
        series.ensure_route(NO_ROUTE);
        Arc::new(Self {
            series: RwLock::new(series),
            active_connections: AtomicI64::new(0),
            config_version: AtomicU64::new(0),
            shed: AtomicU64::new(0),
            semantic_skipped: Default::default(),
            semantic_fallback: AtomicU64::new(0),
        })
    }

    /// Prepares zero series for `routes` and adopts new histogram buckets (a bucket change restarts histograms).
    pub fn configure(&self, routes: &[String], buckets: &[f64], version: u64) {
        let Ok(mut s) = self.series.write() else {
            return;
        };
        if *s.buckets != *buckets {
            s.buckets = buckets.into();
            s.routes.clear();
        }
        for r in routes {
            s.ensure_route(r);
        }
        s.ensure_route(NO_ROUTE);
        self.config_version.store(version, Ordering::Relaxed);
    }

    /// Counts one request of `route` answered with `status` after `elapsed`.
    pub fn observe(&self, route: &str, status: u16, elapsed: Duration) {
        let class = match status {
            200..=299 => 0,
            300..=399 => 1,
            400..=499 => 2,
            _ => 3,
        };
        let hit = self
            .series
            .read()
            .is_ok_and(|s| s.record(route, class, elapsed));
        if !hit && let Ok(mut s) = self.series.write() {
            s.ensure_route(route);
            s.record(route, class, elapsed);
        }
    }

    /// Counts one error of `kind` (one of [`ERROR_KINDS`]).
    pub fn error(&self, kind: &'static str) {
        if let Ok(s) = self.series.read()
            && let Some(c) = s.errors.get(kind)
        {
            c.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if let Ok(mut s) = self.series.write() {
            s.errors
                .entry(kind)
                .or_insert_with(|| AtomicU64::new(0))
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a request semantic matching did not read.
    pub fn semantic_skipped(&self, why: Skip) {
        self.semantic_skipped[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request scored by a fallback encoder because the configured one could not answer.
    pub fn semantic_fallback(&self) {
        self.semantic_fallback.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one request refused because `performance.maxConcurrentRequests` were in flight.
    pub fn shed(&self) {
        self.shed.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an accepted connection until the guard drops.
    pub fn connection(self: &Arc<Self>) -> ConnectionGuard {
        self.active_connections.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard(self.clone())
    }

    /// The text exposition format.
    pub fn render(&self, cache_hit_ratio: f64) -> String {
        let mut out = String::with_capacity(4096);
        let Ok(s) = self.series.read() else {
            return out;
        };
        let mut routes: Vec<_> = s.routes.iter().collect();
        routes.sort_unstable_by(|a, b| a.0.cmp(b.0));
        out.push_str("# HELP gateway_requests_total Requests answered, by route and status class.\n# TYPE gateway_requests_total counter\n");
        for &(route, r) in &routes {
            for (class, c) in CLASSES.iter().zip(&r.classes) {
                let _ = writeln!(
                    out,
                    "gateway_requests_total{{route=\"{}\",code=\"{class}\"}} {}",
                    escape(route),
                    c.load(Ordering::Relaxed)
                );
            }
        }
        out.push_str("# HELP gateway_request_duration_seconds Time to the response headers, by route.\n# TYPE gateway_request_duration_seconds histogram\n");
        for &(route, r) in &routes {
            let h = &r.durations;
            let route = escape(route);
            let mut cumulative = 0;
            for (i, le) in s.buckets.iter().enumerate() {
                cumulative += h.counts[i].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "gateway_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let count = h.count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "gateway_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}"
            );
            let sum = h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "gateway_request_duration_seconds_sum{{route=\"{route}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "gateway_request_duration_seconds_count{{route=\"{route}\"}} {count}"
            );
        }
        let _ = write!(
            out,
            "# HELP gateway_active_connections Client connections open now.\n# TYPE gateway_active_connections gauge\ngateway_active_connections {}\n",
            self.active_connections.load(Ordering::Relaxed)
        );
        let _ = write!(
            out,
            "# HELP gateway_cache_hit_ratio Share of cacheable requests answered from cache.\n# TYPE gateway_cache_hit_ratio gauge\ngateway_cache_hit_ratio {cache_hit_ratio}\n"
        );
        out.push_str("# HELP gateway_error_total Requests that ended in an error, by kind.\n# TYPE gateway_error_total counter\n");
        for (kind, c) in &s.errors {
            let _ = writeln!(
                out,
                "gateway_error_total{{kind=\"{kind}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        let _ = write!(
            out,
            "# HELP gateway_config_version Version of the config this node serves (0 before the first).\n# TYPE gateway_config_version gauge\ngateway_config_version {}\n",
            self.config_version.load(Ordering::Relaxed)
        );
        let _ = write!(
            out,
            "# HELP gateway_shed_total Requests refused with 503 because too many were in flight.\n# TYPE gateway_shed_total counter\ngateway_shed_total {}\n",
            self.shed.load(Ordering::Relaxed)
        );
        out.push_str("# HELP gateway_semantic_skipped_total Requests semantic matching did not read (they fall to the default rule), by reason.\n# TYPE gateway_semantic_skipped_total counter\n");
        for (why, c) in Skip::ALL.iter().zip(&self.semantic_skipped) {
            let _ = writeln!(
                out,
                "gateway_semantic_skipped_total{{reason=\"{}\"}} {}",
                why.label(),
                c.load(Ordering::Relaxed)
            );
        }
        let _ = write!(
            out,
            "# HELP gateway_semantic_fallback_total Requests scored by a fallback encoder because the configured one could not answer in time.\n# TYPE gateway_semantic_fallback_total counter\ngateway_semantic_fallback_total {}\n",
            self.semantic_fallback.load(Ordering::Relaxed)
        );
        out
    }
}

// === impl Series ===

impl Series {
    fn ensure_route(&mut self, route: &str) {
        if self.routes.contains_key(route) {
            return;
        }
        let n = self.buckets.len();
        self.routes.insert(
            Arc::from(route),
            RouteSeries {
                classes: Default::default(),
                durations: Histogram {
                    counts: (0..n).map(|_| AtomicU64::new(0)).collect(),
                    sum_micros: AtomicU64::new(0),
                    count: AtomicU64::new(0),
                },
            },
        );
    }

    /// Records into existing series; false when the route has none yet.
    fn record(&self, route: &str, class: usize, elapsed: Duration) -> bool {
        let Some(r) = self.routes.get(route) else {
            return false;
        };
        let h = &r.durations;
        r.classes[class].fetch_add(1, Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        if let Some(i) = self.buckets.iter().position(|le| secs <= *le) {
            h.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        h.sum_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        h.count.fetch_add(1, Ordering::Relaxed);
        true
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.active_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `gateway_circuit_state{agent,endpoint}` (0 closed, 1 open, 2 half-open) and
/// `gateway_circuit_transitions_total{agent,endpoint,to}` of every endpoint.
pub fn render_circuits(endpoints: &[crate::upstream::EndpointHealth]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if endpoints.is_empty() {
        return out;
    }
    out.push_str("# HELP gateway_circuit_state Circuit breaker state per endpoint: 0 closed, 1 open, 2 half-open.\n# TYPE gateway_circuit_state gauge\n");
    for h in endpoints {
        let _ = writeln!(
            out,
            "gateway_circuit_state{{agent=\"{}\",endpoint=\"{}\"}} {}",
            escape(&h.agent),
            escape(&h.endpoint),
            h.circuit as u8
        );
    }
    out.push_str("# HELP gateway_circuit_transitions_total Circuit breaker state changes per endpoint.\n# TYPE gateway_circuit_transitions_total counter\n");
    for h in endpoints {
        for (to, n) in ["closed", "open", "halfOpen"]
            .iter()
            .zip(h.circuit_transitions)
        {
            let _ = writeln!(
                out,
                "gateway_circuit_transitions_total{{agent=\"{}\",endpoint=\"{}\",to=\"{to}\"}} {n}",
                escape(&h.agent),
                escape(&h.endpoint),
            );
        }
    }
    out
}

/// `gateway_retries_total{agent}`: retries the proxy sent, by agent.
pub fn render_retries(retries: &[(String, u64)]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if retries.is_empty() {
        return out;
    }
    out.push_str("# HELP gateway_retries_total Requests sent again to an agent under a rule's retry policy.\n# TYPE gateway_retries_total counter\n");
    for (agent, n) in retries {
        let _ = writeln!(
            out,
            "gateway_retries_total{{agent=\"{}\"}} {n}",
            escape(agent)
        );
    }
    out
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_exist_from_startup_and_count() {
        let m = Metrics::new(&[0.01, 0.1]);
        m.configure(&["chat".into()], &[0.01, 0.1], 3);
        let text = m.render(0.0);
        for name in [
            "gateway_requests_total{route=\"chat\",code=\"2xx\"} 0",
            "gateway_error_total{kind=\"no_route\"} 0",
            "gateway_active_connections 0",
            "gateway_cache_hit_ratio 0",
            "gateway_config_version 3",
            "gateway_shed_total 0",
            "gateway_error_total{kind=\"overloaded\"} 0",
            "gateway_semantic_skipped_total{reason=\"body_too_large\"} 0",
            "gateway_semantic_fallback_total 0",
        ] {
            assert!(text.contains(name), "{name} missing in\n{text}");
        }
        m.observe("chat", 200, Duration::from_millis(5));
        m.observe("chat", 503, Duration::from_millis(50));
        m.error("upstream_connect");
        m.shed();
        let _g = m.connection();
        let text = m.render(0.0);
        assert!(text.contains("gateway_requests_total{route=\"chat\",code=\"2xx\"} 1"));
        assert!(
            text.contains("gateway_request_duration_seconds_bucket{route=\"chat\",le=\"0.01\"} 1")
        );
        assert!(
            text.contains("gateway_request_duration_seconds_bucket{route=\"chat\",le=\"0.1\"} 2")
        );
        assert!(text.contains("gateway_error_total{kind=\"upstream_connect\"} 1"));
        assert!(text.contains("gateway_active_connections 1"));
        assert!(text.contains("gateway_shed_total 1"));
    }
}
