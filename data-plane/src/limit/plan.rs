//! The limits of one config version ([`Plan`], held by the compiled table) and what outlives a swap
//! ([`LimitState`], held by the node): a limit whose settings did not change keeps its buckets, and
//! one Redis connection serves every global limit while its settings stay the same.

use std::fmt::Write;
use std::sync::{Arc, Mutex};

use fxhash::FxHashMap;
use openclaw_config::{CacheKind, Gateway, RateLimit, RateLimitRedis};
use serde_json::{Value, json};

use super::key::TrustedProxies;
use super::redis::{Global, RedisError, RedisSettings};
use super::scope::Scope;

/// The label of the gateway-wide limit.
pub(crate) const GATEWAY: &str = "gateway";

/// The rate limits in force; empty (and free) when no limit is enabled.
#[derive(Default)]
pub struct Plan {
    /// `http.rateLimit`, when enabled.
    pub(crate) gateway: Option<Arc<Scope>>,
    /// Each rule's own enabled limit, by rule name.
    pub(crate) rules: FxHashMap<Box<str>, Arc<Scope>>,
    /// Whose `X-Forwarded-For` is believed.
    pub(crate) trusted: TrustedProxies,
    global: Option<Arc<Global>>,
}

/// Limits and the Redis connection kept across config swaps.
#[derive(Default)]
pub struct LimitState {
    scopes: Mutex<FxHashMap<String, Arc<Scope>>>,
    redis: Mutex<Option<Arc<Global>>>,
}

// === impl Plan ===

impl Plan {
    /// True when no limit is enabled.
    pub fn is_empty(&self) -> bool {
        self.gateway.is_none() && self.rules.is_empty()
    }

    /// The `/health` section: each limit's mode, and Redis' state in global mode.
    pub fn health(&self) -> Value {
        if self.is_empty() {
            return Value::Null;
        }
        let limits: Vec<Value> = self
            .gateway
            .iter()
            .chain(self.rules.values())
            .map(|s| json!({"rule": s.name, "mode": s.mode()}))
            .collect();
        let redis = self.global.as_ref().map_or(Value::Null, |g| {
            json!({
                "state": if g.is_healthy() { "global" } else { "fallback" },
                "detail": if g.is_healthy() {
                    "deciding in Redis".to_string()
                } else {
                    format!("Redis unavailable: deciding locally with 1/{} of each global limit", g.nodes())
                },
                "liveNodes": g.nodes(),
                "fallbacks": g.fallbacks(),
                "lastError": g.last_error(),
            })
        });
        json!({"limits": limits, "redis": redis})
    }

    /// Prometheus lines: `gateway_rate_limit_requests_total{rule,mode,decision}` and
    /// `gateway_rate_limit_redis_fallbacks_total`.
    pub fn render(&self, out: &mut String) {
        if self.is_empty() {
            return;
        }
        out.push_str("# HELP gateway_rate_limit_requests_total Requests allowed and rejected by rate limits, per limit (gateway or rule) and mode.\n# TYPE gateway_rate_limit_requests_total counter\n");
        let mut scopes: Vec<&Arc<Scope>> = self.gateway.iter().chain(self.rules.values()).collect();
        scopes.sort_by(|a, b| a.name.cmp(&b.name));
        for s in scopes {
            let (allowed, rejected) = s.counts();
            for (decision, n) in [("allowed", allowed), ("rejected", rejected)] {
                let _ = writeln!(
                    out,
                    "gateway_rate_limit_requests_total{{rule=\"{}\",mode=\"{}\",decision=\"{decision}\"}} {n}",
                    s.name.replace('\\', "\\\\").replace('"', "\\\""),
                    s.mode(),
                );
            }
        }
        if let Some(g) = &self.global {
            let _ = writeln!(
                out,
                "# HELP gateway_rate_limit_redis_fallbacks_total Global rate-limit checks decided locally because Redis failed or was late.\n# TYPE gateway_rate_limit_redis_fallbacks_total counter\ngateway_rate_limit_redis_fallbacks_total {}",
                g.fallbacks()
            );
        }
    }
}

// === impl LimitState ===

impl LimitState {
    /// The plan of `g` (secrets resolved), re-using unchanged limits and the Redis connection.
    /// Must run inside a tokio runtime when a limit is global.
    pub fn plan(&self, g: &Gateway, node_id: &str) -> Result<Plan, RedisError> {
        let http = &g.http.rate_limit;
        // (kept under, label, settings): a rule may be called `gateway` too.
        let mut wanted: Vec<(String, &str, &RateLimit)> = Vec::new();
        if http.enabled {
            wanted.push(("g".to_string(), GATEWAY, http));
        }
        for r in &g.routing.rules {
            if let Some(l) = r.rate_limit.as_ref().filter(|l| l.enabled) {
                wanted.push((format!("r:{}", r.name), &r.name, l));
            }
        }
        let global = if wanted.iter().any(|(_, _, l)| l.is_global()) {
            Some(self.redis(redis_settings(g), node_id)?)
        } else {
            None
        };
        let Ok(mut kept) = self.scopes.lock() else {
            return Ok(Plan::default());
        };
        let mut plan = Plan {
            trusted: TrustedProxies::parse(&http.trusted_proxies),
            global: global.clone(),
            ..Plan::default()
        };
        let mut next = FxHashMap::default();
        for (id, name, settings) in wanted {
            let global = global.clone().filter(|_| settings.is_global());
            let scope = match kept.get(&id) {
                Some(s)
                    if s.settings == *settings
                        && s.global.as_ref().map(Arc::as_ptr)
                            == global.as_ref().map(Arc::as_ptr) =>
                {
                    Arc::clone(s)
                }
                _ => Arc::new(Scope::new(
                    name.to_string(),
                    id.clone(),
                    settings.clone(),
                    global,
                )),
            };
            if id == "g" {
                plan.gateway = Some(Arc::clone(&scope));
            } else {
                plan.rules.insert(name.into(), Arc::clone(&scope));
            }
            next.insert(id, scope);
        }
        *kept = next;
        if plan.global.is_none()
            && let Ok(mut r) = self.redis.lock()
        {
            *r = None;
        }
        Ok(plan)
    }

    fn redis(&self, settings: RedisSettings, node_id: &str) -> Result<Arc<Global>, RedisError> {
        let mut current = self
            .redis
            .lock()
            .map_err(|_| RedisError::Endpoint("lock poisoned".into()))?;
        if let Some(g) = current.as_ref().filter(|g| *g.settings() == settings) {
            return Ok(Arc::clone(g));
        }
        let g = Global::start(settings, node_id.to_string())?;
        *current = Some(Arc::clone(&g));
        Ok(g)
    }
}

/// `http.rateLimit.redis`, else the first `redis` layer of `cache.layers` (validation guarantees
/// one of them when a limit is global).
fn redis_settings(g: &Gateway) -> RedisSettings {
    let own = g.http.rate_limit.redis.clone();
    let from_cache = || {
        g.cache
            .layers
            .iter()
            .find(|l| l.kind == Some(CacheKind::Redis))
            .map(|l| RateLimitRedis {
                endpoint: l.endpoint.clone().unwrap_or_default(),
                password: l.password.clone(),
                db: l.db.unwrap_or(0),
                ..RateLimitRedis::default()
            })
    };
    let r = own.or_else(from_cache).unwrap_or_default();
    RedisSettings {
        endpoint: r.endpoint,
        password: r.password.filter(|p| !p.is_empty()),
        db: r.db,
        timeout: r.timeout.get(),
    }
}
