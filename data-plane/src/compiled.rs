//! A snapshot compiled for serving: resolved secrets, the typed config, the route table, the agents it
//! names (from the long-lived registry) and each rule's endpoints to balance over. Immutable once
//! built; a node swaps whole `Compiled` values atomically.

use fxhash::FxHashMap;
use openclaw_config::{Gateway, LoadBalancing, secrets};
use serde_json::Value;

use crate::balance::{Balancer, BuildContext};
use crate::not_enforced::not_enforced;
use crate::proxy::CorsPolicy;
use crate::routing::RouteTable;
use crate::semantic::{ModelStore, SemanticError, SemanticIndex};
use crate::upstream::{AgentSet, Registry};

/// Why a snapshot cannot be served (the node NACKs with this text and keeps its current table).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// `${VAR}` placeholders this node cannot resolve.
    #[error("{0}")]
    Env(String),
    /// The document does not validate.
    #[error("{0}")]
    Invalid(String),
    /// The routing rules do not compile.
    #[error("{0}")]
    Routes(#[from] crate::routing::CompileError),
    /// The TLS settings or files are unusable (missing, unparsable, key not matching, unknown cipher).
    #[error("{0}")]
    Tls(#[from] crate::tls::TlsError),
    /// The agents cannot be registered.
    #[error("{0}")]
    Agents(#[from] crate::upstream::UpstreamError),
    /// A rate limit cannot be set up (an unusable Redis endpoint).
    #[error("{0}")]
    RateLimit(#[from] crate::limit::RedisError),
    /// Semantic matching cannot be set up (a model that does not load, say).
    #[error("{path}: {source}")]
    Semantic {
        /// The JSON path of the setting at fault.
        path: &'static str,
        /// What went wrong.
        source: SemanticError,
    },
}

/// The endpoints one rule balances over: its target's and its fallback's, each with the rule's
/// strategy.
pub struct RuleChoices {
    /// The target's endpoints.
    pub target: Balancer,
    /// The fallback's endpoints (none without a fallback).
    pub fallback: Balancer,
    /// The rule's balancing settings (the global ones with the rule's over them).
    pub settings: LoadBalancing,
}

/// Everything a request needs from one config version.
pub struct Compiled {
    /// The snapshot version (0 in standalone mode, where versions count reloads).
    pub version: u64,
    /// Content hash of the effective document as written (placeholders unresolved).
    pub hash: String,
    /// The typed, resolved config.
    pub gateway: Gateway,
    /// The routing rules.
    pub routes: RouteTable,
    /// The agents, by id.
    pub agents: AgentSet,
    /// Per rule, by rule index: the endpoints it picks from.
    pub choices: Vec<RuleChoices>,
    /// Per agent: its endpoints, balanced by the global strategy, for requests that name it.
    pub agent_pools: FxHashMap<String, Balancer>,
    /// True when some strategy reads latency EWMAs: agents' answers are timed.
    pub measure_latency: bool,
    /// True when some strategy reads the load agents report in `endpoint-load-metrics`.
    pub read_load_reports: bool,
    /// `(id, "sha256:<hex>")` of every accepted API key.
    pub api_keys: Vec<(String, String)>,
    /// Settings accepted but not enforced yet.
    pub not_enforced: Vec<String>,
    /// The TLS settings of the listener, when TLS is on.
    pub tls: Option<crate::tls::TlsSettings>,
    /// The semantic index of this table's semantic rules (none without such rules).
    pub semantic: Option<SemanticIndex>,
    /// `http.cors` ready for requests; `None` when CORS is off.
    pub cors: Option<CorsPolicy>,
    /// The rate limits in force (set by the node when it applies the table; empty when built alone).
    pub rate_limits: crate::limit::Plan,
    /// `loadBalancing.circuitBreaker`'s settings; `None` when breaking is off.
    pub breaker: Option<crate::upstream::BreakerSettings>,
    /// Retry budgets by agent id (only when some rule retries).
    pub retry_budgets: FxHashMap<String, std::sync::Arc<crate::upstream::RetryBudget>>,
    /// The time bounds towards agents, per rule and agent.
    pub(crate) deadlines: crate::proxy::Deadlines,
}

// === impl Compiled ===

impl Compiled {
    /// Resolves, validates and compiles `effective`, then registers its agents; nothing changes on error.
    pub fn build(
        effective: &Value,
        version: u64,
        registry: &Registry,
        env: &dyn Fn(&str) -> Option<String>,
        models: &ModelStore,
    ) -> Result<Self, ApplyError> {
        let resolved = secrets::resolve(effective, env).map_err(|p| {
            ApplyError::Env(
                p.iter()
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        })?;
        // Validate the document as written (placeholders pass format checks) and the resolved one's types.
        openclaw_config::validate(effective).map_err(|p| ApplyError::Invalid(p.to_string()))?;
        let gateway = openclaw_config::parse(&resolved)
            .map_err(|p| ApplyError::Invalid(p.to_string()))?
            .gateway;
        // A node must be able to serve the certificate it is given: otherwise it NACKs.
        let tls = crate::tls::TlsSettings::from_config(&gateway.http.tls)?;
        if let Some(settings) = &tls {
            crate::tls::build_server_config(settings)?;
        }
        let routes = RouteTable::compile(&gateway)?;
        let semantic = if routes.has_semantic() {
            let cfg = &gateway.routing.semantic;
            let index = SemanticIndex::build(cfg, &routes.semantic_categories(), models).map_err(
                |source| ApplyError::Semantic {
                    path: match &source {
                        SemanticError::Model { .. } => "gateway.routing.semantic.model2vec.path",
                        SemanticError::Remote(_) => "gateway.routing.semantic.openai",
                        SemanticError::UnknownCategory(_) | SemanticError::Library(_) => {
                            "gateway.routing.rules"
                        }
                    },
                    source,
                },
            )?;
            Some(index)
        } else {
            None
        };
        let api_keys = gateway
            .auth
            .api_keys
            .iter()
            .filter_map(|k| match (&k.key_hash, &k.key) {
                (Some(h), _) => Some((k.id.clone(), h.to_ascii_lowercase())),
                (None, Some(key)) => Some((k.id.clone(), openclaw_config::hash_api_key(key))),
                (None, None) => None,
            })
            .collect();
        // Registering agents is the last step: it is the only one with effects outside this value.
        let lb = &gateway.load_balancing;
        let agents = registry.sync_with(
            &gateway.agents.discovery.static_agents,
            &gateway.agents.health_check,
            lb.peak_ewma.decay.get(),
        )?;
        let labels = registry
            .node_labels()
            .unwrap_or_else(|| gateway.control_plane.labels.clone());
        let rt = tokio::runtime::Handle::try_current().ok();
        let ctx = BuildContext {
            tables: registry.tables(),
            node_labels: &labels,
            runtime: rt.as_ref(),
        };
        let choices: Vec<RuleChoices> = routes
            .rules()
            .iter()
            .zip(&gateway.routing.rules)
            .map(|(r, cfg)| {
                let settings = lb.with_rule(cfg.load_balancing.as_ref());
                RuleChoices {
                    target: Balancer::new(agents.pool(&r.target.agents), &settings, ctx),
                    fallback: Balancer::new(
                        r.fallback
                            .as_ref()
                            .map(|f| agents.pool(&f.agents))
                            .unwrap_or_default(),
                        &settings,
                        ctx,
                    ),
                    settings,
                }
            })
            .collect();
        let overrides = routes.rules().iter().any(|r| r.allow_agent_override);
        let agent_pools: FxHashMap<String, Balancer> = if overrides {
            agents
                .ids()
                .map(|id| {
                    let pool = agents.endpoints_of(id).unwrap_or_default().to_vec();
                    (id.to_string(), Balancer::new(pool, lb, ctx))
                })
                .collect()
        } else {
            FxHashMap::default()
        };
        let measure_latency = choices
            .iter()
            .any(|c| c.target.measures_latency(&c.settings))
            || agent_pools.values().any(|b| b.measures_latency(lb));
        let read_load_reports = choices.iter().any(|c| c.target.reads_reports(&c.settings))
            || agent_pools.values().any(|b| b.reads_reports(lb));
        let breaker = crate::upstream::BreakerSettings::from_config(&lb.circuit_breaker);
        if breaker.is_none() {
            // Switched off: no circuit stays open from an earlier config.
            for e in agents.iter() {
                if e.breaker().reset() {
                    crate::upstream::health_changed();
                }
            }
        }
        let retry_budgets = if gateway.routing.rules.iter().any(|r| r.retry.is_some()) {
            agents
                .ids()
                .map(|id| (id.to_string(), registry.retry_budget(id)))
                .collect()
        } else {
            FxHashMap::default()
        };
        Ok(Self {
            retry_budgets,
            breaker,
            version,
            hash: openclaw_config::content_hash(effective),
            not_enforced: not_enforced(&gateway),
            cors: CorsPolicy::compile(&gateway.http.cors),
            deadlines: crate::proxy::Deadlines::new(&gateway),
            gateway,
            routes,
            agents,
            choices,
            agent_pools,
            measure_latency,
            read_load_reports,
            api_keys,
            tls,
            semantic,
            rate_limits: crate::limit::Plan::default(),
        })
    }

    /// The id of the API key `presented` matches, comparing hashes in constant time.
    pub fn authenticate(&self, presented: &str) -> Option<&str> {
        let hash = openclaw_config::hash_api_key(presented);
        let mut found = None;
        for (id, h) in &self.api_keys {
            if constant_time_eq(h.as_bytes(), hash.as_bytes()) {
                found = Some(id.as_str());
            }
        }
        found
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn build(doc: Value, env: &dyn Fn(&str) -> Option<String>) -> Result<Compiled, ApplyError> {
        let registry = Registry::new();
        Compiled::build(&doc, 1, &registry, env, &ModelStore::new())
    }

    #[tokio::test]
    async fn missing_variables_and_tls_files_are_refused_by_name() {
        let doc = json!({"gateway": {"agents": {"discovery": {"static": [{"id": "a", "endpoint": "${AGENT_URL_X}"}]}}}});
        let err = build(doc.clone(), &|_| None).err().unwrap().to_string();
        assert!(
            err.contains("gateway.agents.discovery.static[0].endpoint")
                && err.contains("AGENT_URL_X"),
            "{err}"
        );
        let ok = build(doc, &|_| Some("http://127.0.0.1:9".into())).unwrap();
        assert_eq!(ok.agents.get("a").unwrap().url().port_u16(), Some(9));

        let dir = std::env::temp_dir().join(format!("openclaw-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let garbage = dir.join("cert.pem");
        std::fs::write(&garbage, "not a certificate").unwrap();
        for (cert, want) in [
            (dir.join("missing.pem"), "gateway.http.tls.cert"),
            (garbage, "no certificate"),
        ] {
            let doc = json!({"gateway": {"http": {"tls": {"enabled": true, "cert": cert, "key": dir.join("key.pem")}}}});
            let err = build(doc, &|_| None).err().unwrap().to_string();
            assert!(err.contains(want), "{err}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn api_keys_match_by_hash() {
        let doc = json!({"gateway": {"auth": {"apiKeys": [
            {"id": "hashed", "keyHash": openclaw_config::hash_api_key("k1")},
            {"id": "env", "key": "${API_KEY_FOR_TEST}"}
        ]}}});
        let c = build(doc, &|_| Some("k2".into())).unwrap();
        assert_eq!(c.authenticate("k1"), Some("hashed"));
        assert_eq!(c.authenticate("k2"), Some("env"));
        assert_eq!(c.authenticate("k3"), None);
    }
}
