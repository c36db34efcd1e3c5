//! A snapshot compiled for serving: resolved secrets, the typed config, the route table, the agents it
//! names (from the long-lived registry) and per-rule balancing cursors. Immutable once built; a node
//! swaps whole `Compiled` values atomically.

use std::sync::Arc;

use openclaw_config::{Gateway, secrets};
use serde_json::Value;

use crate::not_enforced::not_enforced;
use crate::routing::{RouteTable, SemanticMatcher};
use crate::upstream::{AgentSet, Registry, RoundRobin};

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
    /// The agents cannot be registered.
    #[error("{0}")]
    Agents(#[from] crate::upstream::UpstreamError),
}

/// Round-robin cursors of one rule: its target and its fallback.
#[derive(Default)]
pub struct RuleCursors {
    /// Over the target's agents.
    pub target: RoundRobin,
    /// Over the fallback's agents.
    pub fallback: RoundRobin,
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
    /// One cursor pair per rule, by rule index.
    pub cursors: Vec<RuleCursors>,
    /// The cursor of agent overrides.
    pub override_cursor: RoundRobin,
    /// `(id, "sha256:<hex>")` of every accepted API key.
    pub api_keys: Vec<(String, String)>,
    /// Settings accepted but not enforced yet.
    pub not_enforced: Vec<String>,
    /// The semantic matcher of this table.
    pub semantic: Arc<dyn SemanticMatcher>,
}

// === impl Compiled ===

impl Compiled {
    /// Resolves, validates and compiles `effective`, then registers its agents; nothing changes on error.
    pub fn build(
        effective: &Value,
        version: u64,
        registry: &Registry,
        env: &dyn Fn(&str) -> Option<String>,
        semantic: Arc<dyn SemanticMatcher>,
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
        let routes = RouteTable::compile(&gateway)?;
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
        let agents = registry.sync(
            &gateway.agents.discovery.static_agents,
            &gateway.agents.health_check,
        )?;
        let cursors = routes
            .rules()
            .iter()
            .map(|_| RuleCursors::default())
            .collect();
        Ok(Self {
            version,
            hash: openclaw_config::content_hash(effective),
            not_enforced: not_enforced(&gateway),
            gateway,
            routes,
            agents,
            cursors,
            override_cursor: RoundRobin::default(),
            api_keys,
            semantic,
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
