//! `gateway.cache`: the response cache layers (L1 memory, L2 Redis) and Cache-Control handling.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::checks::is_url;
use crate::problem::Check;
use crate::{Duration, Path};

/// Response caching.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Cache {
    /// Layers looked up in order; none (the default) disables caching.
    pub layers: Vec<CacheLayer>,
    /// TTL of a layer that sets none; default 10m.
    #[serde(rename = "defaultTTL")]
    pub default_ttl: Duration,
    /// How `Cache-Control` is honoured and emitted.
    pub cache_control: CacheControl,
}

/// One cache layer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct CacheLayer {
    /// Unique name, used in metrics (required).
    pub name: String,
    /// `memory` or `redis` (required).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<CacheKind>,
    /// Entries kept by a memory layer; default 1000.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_size: Option<u64>,
    /// Entry lifetime; default `cache.defaultTTL`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Duration>,
    /// Glob patterns of cache keys this layer keeps; empty keeps every key.
    pub key_pattern: Vec<String>,
    /// `redis://` or `rediss://` URL of a redis layer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Redis password, usually `${REDIS_PASSWORD}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Redis database index; default 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db: Option<u32>,
}

/// The storage of a cache layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheKind {
    /// In-process LRU (moka).
    Memory,
    /// A Redis server shared by the data planes.
    Redis,
}

/// Cache-Control behaviour.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct CacheControl {
    /// Honour the request's and agent's `Cache-Control` and send `max-age` on cached responses; default true.
    pub enabled: bool,
    /// `max-age` in seconds sent on cacheable responses that carry none; default 300.
    pub max_age: u64,
}

// === impl Cache ===

impl Default for Cache {
    fn default() -> Self {
        Self {
            layers: Vec::new(),
            default_ttl: Duration::secs(600),
            cache_control: CacheControl::default(),
        }
    }
}

impl Cache {
    pub(crate) fn validate(&self, at: &Path, c: &mut Check) {
        let mut names = BTreeMap::new();
        for (i, layer) in self.layers.iter().enumerate() {
            let p = at.key("layers").index(i);
            if c.require(&p.key("name"), &layer.name)
                && let Some(first) = names.insert(layer.name.clone(), i)
            {
                c.fail(
                    &p.key("name"),
                    format!("duplicate layer name (also at layers[{first}])"),
                    &layer.name,
                );
            }
            layer.validate(&p, c);
        }
        if self.default_ttl.get().is_zero() {
            c.fail(
                &at.key("defaultTTL"),
                "must be greater than 0",
                &self.default_ttl,
            );
        }
    }
}

// === impl CacheLayer ===

impl CacheLayer {
    fn validate(&self, at: &Path, c: &mut Check) {
        if let Some(ttl) = self.ttl
            && ttl.get().is_zero()
        {
            c.fail(&at.key("ttl"), "must be greater than 0", &ttl);
        }
        for (i, pat) in self.key_pattern.iter().enumerate() {
            c.require(&at.key("keyPattern").index(i), pat);
        }
        match self.kind {
            None => c.missing(&at.key("type"), "is required: memory or redis"),
            Some(CacheKind::Memory) => {
                if self.max_size == Some(0) {
                    c.fail(&at.key("maxSize"), "must be greater than 0", &0);
                }
                for (name, set) in [
                    ("endpoint", self.endpoint.is_some()),
                    ("password", self.password.is_some()),
                    ("db", self.db.is_some()),
                ] {
                    if set {
                        c.missing(&at.key(name), "is only used by a redis layer");
                    }
                }
            }
            Some(CacheKind::Redis) => {
                match &self.endpoint {
                    None => c.missing(&at.key("endpoint"), "is required for a redis layer"),
                    Some(e) if !is_url(e, &["redis", "rediss"]) => {
                        c.fail(
                            &at.key("endpoint"),
                            "must be a redis:// or rediss:// URL",
                            &crate::secrets::redact_url(e),
                        );
                    }
                    Some(_) => {}
                }
                if let Some(db) = self.db {
                    c.range(&at.key("db"), db, 0, 15);
                }
                if self.max_size.is_some() {
                    c.missing(
                        &at.key("maxSize"),
                        "is only used by a memory layer (Redis evicts by its own maxmemory policy)",
                    );
                }
            }
        }
    }
}

// === impl CacheControl ===

impl Default for CacheControl {
    fn default() -> Self {
        Self {
            enabled: true,
            max_age: 300,
        }
    }
}
