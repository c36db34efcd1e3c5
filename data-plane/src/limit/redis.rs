//! Global mode: one GCRA bucket per key in Redis, shared by every data plane. The check is one
//! atomic Lua script (loaded once, then called by its SHA; re-loaded on `NOSCRIPT`) that reads the
//! server's clock, so nodes with skewed clocks agree; keys expire by themselves once full again.
//!
//! Every call is bounded by `redis.timeout`. A failed or late call puts the node in fallback: it
//! decides from its local table with the limit divided by the number of live nodes it knows of, and
//! a background probe (every second) puts it back on Redis as soon as Redis answers. Nodes know of
//! each other through Redis itself: each one heartbeats into a sorted set, and the count of members
//! seen in the last 10 s is kept as it was last read; a node that never reached Redis knows only
//! itself (so a lone or standalone node falls back to the whole limit).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, Script};

use super::gcra::{Decision, Gcra};

/// The GCRA script: `KEYS[1]` the bucket; `ARGV` the interval and capacity (µs, units) and the
/// cost. Returns `{allowed, µs ahead of full, µs until allowed}`.
const GCRA_LUA: &str = r"
local interval = tonumber(ARGV[1])
local tolerance = interval * tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + cost * interval
if new_tat - now > tolerance then
  return {0, tat - now, new_tat - now - tolerance}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.floor((new_tat - now) / 1000) + 1)
return {1, new_tat - now, 0}
";

/// The heartbeat: `KEYS[1]` the node set, `ARGV[1]` this node's id; returns the live node count.
const NODES_LUA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 10)
redis.call('EXPIRE', KEYS[1], 60)
return redis.call('ZCARD', KEYS[1])
";

/// The sorted set of live nodes.
const NODES_KEY: &str = "openclaw:ratelimit:nodes";
/// How often a node heartbeats and, in fallback, probes Redis.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// Where and how to reach Redis; two limiters with equal settings share one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RedisSettings {
    /// `redis://` or `rediss://` URL.
    pub(crate) endpoint: String,
    /// The password, resolved.
    pub(crate) password: Option<String>,
    /// Database index.
    pub(crate) db: u32,
    /// Bound on each call.
    pub(crate) timeout: Duration,
}

/// Why Redis could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// The endpoint does not parse as a Redis URL.
    #[error("gateway.http.rateLimit.redis.endpoint: {0}")]
    Endpoint(String),
}

/// The connection to Redis of every global limit, and its health.
pub(crate) struct Global {
    settings: RedisSettings,
    conn: ConnectionManager,
    gcra: Script,
    /// False while the node decides locally (Redis failed or was late).
    healthy: AtomicBool,
    /// Calls that failed or timed out and were decided locally instead.
    fallbacks: AtomicU64,
    /// Live nodes as last read from Redis (at least 1).
    nodes: AtomicU64,
    last_error: Mutex<Option<String>>,
}

// === impl Global ===

impl Global {
    /// Connects lazily (the first call connects) and starts the heartbeat, which stops when the
    /// returned value is dropped. Must run inside a tokio runtime.
    pub(crate) fn start(settings: RedisSettings, node_id: String) -> Result<Arc<Self>, RedisError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| RedisError::Endpoint("no async runtime to reach Redis from".into()))?;
        let mut info = settings
            .endpoint
            .as_str()
            .into_connection_info()
            .map_err(|e| RedisError::Endpoint(e.to_string()))?;
        let mut redis_info = info.redis_settings().clone().set_db(i64::from(settings.db));
        if let Some(p) = &settings.password {
            redis_info = redis_info.set_password(p);
        }
        info = info.set_redis_settings(redis_info);
        let client = redis::Client::open(info).map_err(|e| RedisError::Endpoint(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.timeout.max(Duration::from_millis(200))))
            .set_response_timeout(Some(settings.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| RedisError::Endpoint(e.to_string()))?;
        let global = Arc::new(Self {
            settings,
            conn,
            gcra: Script::new(GCRA_LUA),
            healthy: AtomicBool::new(true),
            fallbacks: AtomicU64::new(0),
            nodes: AtomicU64::new(1),
            last_error: Mutex::new(None),
        });
        runtime.spawn(heartbeat(Arc::downgrade(&global), node_id));
        Ok(global)
    }

    /// The settings this connection was made with.
    pub(crate) fn settings(&self) -> &RedisSettings {
        &self.settings
    }

    /// True while checks go to Redis.
    pub(crate) fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Live nodes as last known (at least 1).
    pub(crate) fn nodes(&self) -> u64 {
        self.nodes.load(Ordering::Relaxed).max(1)
    }

    /// Checks decided locally because Redis failed or was late.
    pub(crate) fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    /// Why the last call failed, while in fallback.
    pub(crate) fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    /// Decides `cost` units for the bucket `key` in Redis; `None` when Redis is in fallback, failed
    /// or was late (counted: the caller decides locally).
    pub(crate) async fn check(&self, key: &str, gcra: Gcra, cost: u64) -> Option<Decision> {
        if !self.is_healthy() {
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let mut conn = self.conn.clone();
        let mut call = self.gcra.key(key);
        call.arg((gcra.interval / 1000).max(1))
            .arg(gcra.capacity)
            .arg(cost);
        let answer = tokio::time::timeout(
            self.settings.timeout,
            call.invoke_async::<(u8, u64, u64)>(&mut conn),
        )
        .await;
        match answer {
            Ok(Ok((allowed, ahead, retry))) => {
                Some(gcra.decision(allowed == 1, ahead * 1000, retry * 1000))
            }
            Ok(Err(e)) => {
                self.fail(e.to_string());
                None
            }
            Err(_) => {
                self.fail(format!("no answer within {:?}", self.settings.timeout));
                None
            }
        }
    }

    fn fail(&self, why: String) {
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        if self.healthy.swap(false, Ordering::Relaxed) {
            tracing::warn!(error = %why, "rate limit: Redis unavailable, deciding locally");
        }
        if let Ok(mut e) = self.last_error.lock() {
            *e = Some(why);
        }
    }

    /// One heartbeat: counts the live nodes; true when Redis answered.
    async fn beat(&self, node_id: &str) -> bool {
        let mut conn = self.conn.clone();
        let script = Script::new(NODES_LUA);
        let mut call = script.key(NODES_KEY);
        call.arg(node_id);
        let answer = tokio::time::timeout(
            self.settings.timeout.max(Duration::from_millis(250)),
            call.invoke_async::<u64>(&mut conn),
        )
        .await;
        match answer {
            Ok(Ok(n)) => {
                self.nodes.store(n.max(1), Ordering::Relaxed);
                true
            }
            Ok(Err(e)) => {
                self.fail(e.to_string());
                false
            }
            Err(_) => {
                self.fail("heartbeat: no answer in time".into());
                false
            }
        }
    }
}

/// Heartbeats every second while the limiter lives; in fallback this is the probe that puts the
/// node back on Redis.
async fn heartbeat(global: Weak<Global>, node_id: String) {
    loop {
        let Some(g) = global.upgrade() else { return };
        if g.beat(&node_id).await && !g.healthy.swap(true, Ordering::Relaxed) {
            tracing::info!("rate limit: Redis answers again, deciding globally");
            if let Ok(mut e) = g.last_error.lock() {
                *e = None;
            }
        }
        drop(g);
        tokio::time::sleep(PROBE_EVERY).await;
    }
}
