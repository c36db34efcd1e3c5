//! `gateway.monitoring`: Prometheus metrics, the health endpoint, and OpenTelemetry traces.

use serde::{Deserialize, Serialize};

use crate::Path;
use crate::checks::is_url_path;
use crate::problem::Check;

/// Observability of the data plane.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Monitoring {
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// The health endpoint.
    pub health_check: HealthEndpoint,
    /// Trace export.
    pub open_telemetry: OpenTelemetry,
}

/// Prometheus metrics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Metrics {
    /// Serve metrics; default true.
    pub enabled: bool,
    /// Path on the main listener; default `/metrics`.
    pub path: String,
    /// Upper bounds, in seconds, of the request duration histogram.
    pub histogram_buckets: Vec<f64>,
}

/// The health endpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct HealthEndpoint {
    /// Path on the main listener; default `/health`.
    pub path: String,
    /// Include version, agents and their health; default true (false gives only the status).
    pub detailed: bool,
}

/// OpenTelemetry trace export over OTLP/gRPC.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct OpenTelemetry {
    /// Export traces; default false.
    pub enabled: bool,
    /// Collector `host:port` or URL; required when enabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Share of requests traced, in 0..=1; default 1.0.
    pub sampling_ratio: f64,
    /// `service.name` of the spans; default `openclaw-gateway`.
    pub service_name: String,
}

// === impl Monitoring ===

impl Monitoring {
    pub(crate) fn validate(&self, at: &Path, c: &mut Check) {
        let m = &self.metrics;
        let p = at.key("metrics");
        if !is_url_path(&m.path) {
            c.fail(&p.key("path"), "must be a path starting with /", &m.path);
        }
        if m.histogram_buckets.is_empty() {
            c.missing(&p.key("histogramBuckets"), "needs at least one bucket");
        }
        for (i, w) in m.histogram_buckets.windows(2).enumerate() {
            if w[1] <= w[0] {
                c.fail(
                    &p.key("histogramBuckets").index(i + 1),
                    "buckets must increase strictly",
                    &w[1],
                );
            }
        }
        if m.histogram_buckets.first().is_some_and(|b| *b <= 0.0) {
            c.fail(
                &p.key("histogramBuckets").index(0),
                "must be greater than 0",
                &m.histogram_buckets[0],
            );
        }
        let h = &self.health_check;
        if !is_url_path(&h.path) {
            c.fail(
                &at.key("healthCheck").key("path"),
                "must be a path starting with /",
                &h.path,
            );
        }
        if m.enabled && h.path == m.path {
            c.fail(
                &at.key("healthCheck").key("path"),
                "must differ from monitoring.metrics.path",
                &h.path,
            );
        }
        let o = &self.open_telemetry;
        let p = at.key("openTelemetry");
        c.range(&p.key("samplingRatio"), o.sampling_ratio, 0.0, 1.0);
        if o.enabled && o.endpoint.as_deref().is_none_or(|e| e.trim().is_empty()) {
            c.missing(
                &p.key("endpoint"),
                "is required when openTelemetry.enabled is true",
            );
        }
        c.require(&p.key("serviceName"), &o.service_name);
    }
}

// === impl Metrics ===

impl Default for Metrics {
    fn default() -> Self {
        Self {
            enabled: true,
            path: "/metrics".into(),
            histogram_buckets: vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ],
        }
    }
}

// === impl HealthEndpoint ===

impl Default for HealthEndpoint {
    fn default() -> Self {
        Self {
            path: "/health".into(),
            detailed: true,
        }
    }
}

// === impl OpenTelemetry ===

impl Default for OpenTelemetry {
    fn default() -> Self {
        Self {
            enabled: false,
            endpoint: None,
            sampling_ratio: 1.0,
            service_name: "openclaw-gateway".into(),
        }
    }
}
