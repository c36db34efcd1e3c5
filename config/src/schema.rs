//! The typed config document `{"gateway": {...}}`: one file per section, each with its defaults and checks.

mod agents;
mod auth;
mod cache;
mod control_plane;
mod http;
mod load_balancing;
mod logging;
mod monitoring;
mod performance;
mod routing;
mod semantic;
mod upstream_timeouts;

use serde::{Deserialize, Serialize};

pub use agents::{
    AgentEndpoint, Agents, ConnectionPool, Discovery, DiscoveryMethod, HealthCheck, K8sDiscovery,
    StaticAgent,
};
pub use auth::{ApiKey, Auth};
pub use cache::{Cache, CacheControl, CacheKind, CacheLayer};
pub use control_plane::{ControlPlane, ControlPlaneTls};
pub use http::{
    Cors, Http, Limits, RateLimit, RateLimitMode, RateLimitRedis, TLS12_CIPHERS, TLS13_CIPHERS,
    Timeouts, Tls, TlsVersion, UpgradeProtocol,
};
pub use load_balancing::{
    Adaptive, AdaptiveMetric, CircuitBreaker, HashOn, LoadBalancing, Locality, PeakEwma,
    RuleLoadBalancing, SlowStart, StickyCookie, Strategy,
};
pub use logging::{
    LogFormat, LogLevel, LogOutput, LogOutputKind, Logging, Sampling, SyslogNetwork,
};
pub use monitoring::{HealthEndpoint, Metrics, Monitoring, OpenTelemetry};
pub use performance::{EventLoop, Performance};
pub use routing::{Match, MatchKind, Retry, RetryOn, Routing, Rule};
pub use semantic::{
    BUILTIN_CATEGORIES, Category, EncoderKind, MAX_SEMANTIC_BODY, Model2Vec, OpenAi, Semantic,
};
pub use upstream_timeouts::{TimeoutOverride, UpstreamTimeouts};

use crate::Path;
use crate::problem::Check;

/// The whole document as stored and served: everything lives under `gateway`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Document {
    /// The gateway's settings.
    pub gateway: Gateway,
}

/// Every section of the gateway config; each has documented defaults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Gateway {
    /// The client-facing HTTP server.
    pub http: Http,
    /// Runtime sizing.
    pub performance: Performance,
    /// The agents and how to reach them.
    pub agents: Agents,
    /// Rules that pick an agent.
    pub routing: Routing,
    /// Endpoint selection.
    pub load_balancing: LoadBalancing,
    /// Response caching.
    pub cache: Cache,
    /// Logs.
    pub logging: Logging,
    /// Metrics, health and traces.
    pub monitoring: Monitoring,
    /// The link of a managed data plane to its control plane.
    pub control_plane: ControlPlane,
    /// Client API keys.
    pub auth: Auth,
}

// === impl Gateway ===

impl Gateway {
    /// Runs every semantic check (ranges, references, regexes, combinations) into `c`.
    pub(crate) fn validate(&self, c: &mut Check) {
        let at = Path::gateway();
        self.http.validate(&at.key("http"), c);
        self.performance.validate(&at.key("performance"), c);
        self.agents.validate(&at.key("agents"), c);
        self.routing.validate(
            &at.key("routing"),
            &self.agents.known(),
            &self.load_balancing,
            c,
        );
        self.load_balancing
            .validate(&at.key("loadBalancing"), &self.routing.rules, c);
        self.cache.validate(&at.key("cache"), c);
        self.logging.validate(&at.key("logging"), c);
        self.monitoring.validate(&at.key("monitoring"), c);
        self.control_plane.validate(&at.key("controlPlane"), c);
        self.auth.validate(&at.key("auth"), c);
        http::validate_global_limits(self, c);
    }
}
