//! `gateway.agents`: where agents are found, how they are health-checked, how connections to them are pooled.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::upstream_timeouts::{TimeoutOverride, UpstreamTimeouts};
use crate::checks::{is_url, is_url_path};
use crate::problem::Check;
use crate::{Duration, Path};

/// The agents behind the gateway.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Agents {
    /// Where the agents come from.
    pub discovery: Discovery,
    /// Active health checks of each endpoint.
    pub health_check: HealthCheck,
    /// Pooled connections to agents.
    pub connection_pool: ConnectionPool,
    /// How long requests wait on agents.
    pub timeouts: UpstreamTimeouts,
}

/// Agent discovery.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Discovery {
    /// `static` (the default): the `static` list; `k8s`: pods found through the Kubernetes API.
    pub method: DiscoveryMethod,
    /// Agents listed in the config.
    #[serde(rename = "static")]
    pub static_agents: Vec<StaticAgent>,
    /// Kubernetes discovery settings (`method: "k8s"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k8s: Option<K8sDiscovery>,
}

/// How agents are discovered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiscoveryMethod {
    /// From `discovery.static`.
    #[default]
    Static,
    /// From the Kubernetes API.
    K8s,
}

/// One agent listed in the config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct StaticAgent {
    /// Unique id that rules name as `target`/`fallback` (required).
    pub id: String,
    /// Base URL, `http://host:port` (required unless `endpoints` lists them).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub endpoint: String,
    /// Several endpoints of the agent, balanced by `gateway.loadBalancing`: a URL, or
    /// `{"url": …, "weight": 50, "labels": {"zone": "a"}}`. Instead of `endpoint`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<AgentEndpoint>,
    /// Relative share of traffic for weighted strategies; default 100, must be > 0.
    pub weight: u32,
    /// Labels that `tag:<name>` targets select.
    pub tags: Vec<String>,
    /// This agent's own `firstByte` and `idle` timeouts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<TimeoutOverride>,
}

/// One endpoint of an agent: a URL alone, or with a weight and labels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "EndpointForm")]
pub struct AgentEndpoint {
    /// Base URL, `http://host:port` (required).
    pub url: String,
    /// Share of the agent's traffic relative to its other endpoints; default 100, must be > 0.
    pub weight: u32,
    /// Labels the `locality` strategy compares with the node's own `--label`s.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// The two ways an endpoint may be written.
#[derive(Deserialize)]
#[serde(untagged)]
enum EndpointForm {
    Url(String),
    Full(FullEndpoint),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FullEndpoint {
    #[serde(default)]
    url: String,
    #[serde(default = "default_weight")]
    weight: u32,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

fn default_weight() -> u32 {
    100
}

/// Kubernetes discovery.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct K8sDiscovery {
    /// Namespace to watch; default `default`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Label selector of agent pods (`app=openclaw-agent`), required.
    pub selector: String,
    /// Port the agents listen on, required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// Active health checks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct HealthCheck {
    /// Run checks; default true.
    pub enabled: bool,
    /// Path requested on each endpoint; default `/health`.
    pub path: String,
    /// Time between checks; default 10s.
    pub interval: Duration,
    /// Time a check may take; default 3s.
    pub timeout: Duration,
    /// Consecutive failures that mark an endpoint unhealthy; default 3.
    pub fail_threshold: u32,
    /// Consecutive successes that mark it healthy again; default 2.
    pub pass_threshold: u32,
}

/// Connection pooling towards agents.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ConnectionPool {
    /// Idle connections kept across all agents; default 100.
    pub max_idle_conns: u32,
    /// Idle connections kept per agent endpoint; default 10.
    pub max_idle_conns_per_host: u32,
    /// Idle connections are closed after this; default 90s.
    pub idle_timeout: Duration,
}

/// What routing rules may reference: agent ids and tags.
#[derive(Debug, Default)]
pub(crate) struct Known {
    pub(crate) ids: BTreeMap<String, ()>,
    pub(crate) tags: BTreeMap<String, ()>,
    /// Agents come from a live source, so names cannot be checked against the document.
    pub(crate) dynamic: bool,
}

// === impl Agents ===

impl Agents {
    pub(crate) fn validate(&self, at: &Path, c: &mut Check) {
        self.discovery.validate(&at.key("discovery"), c);
        self.health_check.validate(&at.key("healthCheck"), c);
        self.connection_pool.validate(&at.key("connectionPool"), c);
        self.timeouts.validate(&at.key("timeouts"), c);
    }

    /// The ids and tags that targets may name.
    pub(crate) fn known(&self) -> Known {
        let d = &self.discovery;
        Known {
            ids: d.static_agents.iter().map(|a| (a.id.clone(), ())).collect(),
            tags: d
                .static_agents
                .iter()
                .flat_map(|a| a.tags.iter().map(|t| (t.clone(), ())))
                .collect(),
            dynamic: d.method != DiscoveryMethod::Static,
        }
    }
}

// === impl Discovery ===

impl Discovery {
    fn validate(&self, at: &Path, c: &mut Check) {
        let mut seen = BTreeMap::new();
        for (i, a) in self.static_agents.iter().enumerate() {
            let p = at.key("static").index(i);
            if c.require(&p.key("id"), &a.id) {
                if let Some(first) = seen.insert(a.id.clone(), i) {
                    c.fail(
                        &p.key("id"),
                        format!("duplicate agent id (also at static[{first}])"),
                        &a.id,
                    );
                } else if a.id.starts_with("tag:") {
                    c.fail(
                        &p.key("id"),
                        "must not start with `tag:` (that prefix selects by tag)",
                        &a.id,
                    );
                }
            }
            match (a.endpoint.trim().is_empty(), a.endpoints.is_empty()) {
                (true, true) => c.missing(
                    &p.key("endpoint"),
                    "is required: an agent needs an endpoint (or a non-empty endpoints list)",
                ),
                (false, false) => c.fail(
                    &p.key("endpoints"),
                    "use either endpoint or endpoints, not both",
                    &a.endpoints,
                ),
                (false, true) => check_url(&p.key("endpoint"), &a.endpoint, c),
                (true, false) => {
                    let mut urls = BTreeMap::new();
                    for (j, e) in a.endpoints.iter().enumerate() {
                        let ep = p.key("endpoints").index(j);
                        if c.require(&ep.key("url"), &e.url) {
                            check_url(&ep.key("url"), &e.url, c);
                            if let Some(first) = urls.insert(e.url.trim().to_string(), j) {
                                c.fail(
                                    &ep.key("url"),
                                    format!("duplicate endpoint (also at endpoints[{first}])"),
                                    &e.url,
                                );
                            }
                        }
                        if e.weight == 0 {
                            c.fail(&ep.key("weight"), "must be greater than 0", &e.weight);
                        }
                        for k in e.labels.keys() {
                            c.require(&ep.key("labels").key(k.clone()), k);
                        }
                    }
                }
            }
            if a.weight == 0 {
                c.fail(&p.key("weight"), "must be greater than 0", &a.weight);
            }
            if let Some(t) = &a.timeouts {
                t.validate(&p.key("timeouts"), c);
            }
            for (j, t) in a.tags.iter().enumerate() {
                c.require(&p.key("tags").index(j), t);
            }
        }
        match self.method {
            DiscoveryMethod::K8s => match &self.k8s {
                None => c.missing(
                    &at.key("k8s"),
                    "is required when discovery.method is \"k8s\"",
                ),
                Some(k) => {
                    c.require(&at.key("k8s").key("selector"), &k.selector);
                    match k.port {
                        None => c.missing(&at.key("k8s").key("port"), "is required"),
                        Some(0) => {
                            c.fail(&at.key("k8s").key("port"), "must be within 1..=65535", &0)
                        }
                        Some(_) => {}
                    }
                }
            },
            DiscoveryMethod::Static => {
                if self.k8s.is_some() {
                    c.fail(
                        &at.key("k8s"),
                        "is only used when discovery.method is \"k8s\"",
                        &self.k8s,
                    );
                }
            }
        }
    }
}

/// Checks one endpoint URL.
fn check_url(at: &Path, url: &str, c: &mut Check) {
    if url.trim_start().starts_with("https://") {
        // Refused rather than accepted and failed on every request.
        c.fail(
            at,
            "https:// agents are not supported yet (TLS towards agents is not \
             built): use an http:// URL",
            url,
        );
    } else if !is_url(url, &["http"]) {
        c.fail(at, "must be an http:// URL with a host", url);
    }
}

// === impl StaticAgent ===

impl StaticAgent {
    /// The agent's endpoints: `endpoints`, or `endpoint` alone (weight 100, no labels).
    pub fn all_endpoints(&self) -> Vec<AgentEndpoint> {
        if self.endpoints.is_empty() && !self.endpoint.trim().is_empty() {
            vec![AgentEndpoint {
                url: self.endpoint.clone(),
                weight: 100,
                labels: BTreeMap::new(),
            }]
        } else {
            self.endpoints.clone()
        }
    }
}

// === impl AgentEndpoint ===

impl From<EndpointForm> for AgentEndpoint {
    fn from(f: EndpointForm) -> Self {
        match f {
            EndpointForm::Url(url) => Self {
                url,
                weight: 100,
                labels: BTreeMap::new(),
            },
            EndpointForm::Full(e) => Self {
                url: e.url,
                weight: e.weight,
                labels: e.labels,
            },
        }
    }
}

impl Default for StaticAgent {
    fn default() -> Self {
        Self {
            id: String::new(),
            endpoint: String::new(),
            endpoints: Vec::new(),
            weight: 100,
            tags: Vec::new(),
            timeouts: None,
        }
    }
}

// === impl HealthCheck ===

impl Default for HealthCheck {
    fn default() -> Self {
        Self {
            enabled: true,
            path: "/health".into(),
            interval: Duration::secs(10),
            timeout: Duration::secs(3),
            fail_threshold: 3,
            pass_threshold: 2,
        }
    }
}

impl HealthCheck {
    fn validate(&self, at: &Path, c: &mut Check) {
        if !is_url_path(&self.path) {
            c.fail(
                &at.key("path"),
                "must be a path starting with /",
                &self.path,
            );
        }
        if self.interval.get().is_zero() {
            c.fail(
                &at.key("interval"),
                "must be greater than 0",
                &self.interval,
            );
        }
        if self.timeout.get().is_zero() {
            c.fail(&at.key("timeout"), "must be greater than 0", &self.timeout);
        }
        if self.fail_threshold == 0 {
            c.fail(
                &at.key("failThreshold"),
                "must be at least 1",
                &self.fail_threshold,
            );
        }
        if self.pass_threshold == 0 {
            c.fail(
                &at.key("passThreshold"),
                "must be at least 1",
                &self.pass_threshold,
            );
        }
    }
}

// === impl ConnectionPool ===

impl Default for ConnectionPool {
    fn default() -> Self {
        Self {
            max_idle_conns: 100,
            max_idle_conns_per_host: 10,
            idle_timeout: Duration::secs(90),
        }
    }
}

impl ConnectionPool {
    fn validate(&self, at: &Path, c: &mut Check) {
        if self.max_idle_conns_per_host > self.max_idle_conns {
            c.fail(
                &at.key("maxIdleConnsPerHost"),
                format!("must not exceed maxIdleConns ({})", self.max_idle_conns),
                &self.max_idle_conns_per_host,
            );
        }
    }
}
