//! One configured limit (`http.rateLimit`, or a rule's `rateLimit`) with its buckets: requests per
//! minute, body bytes per minute and requests in flight, per key; local or in Redis.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use openclaw_config::{RateLimit, RateLimitMode};

use super::concurrent::{Concurrency, Permit};
use super::gcra::{Decision, Gcra};
use super::key::KeyKind;
use super::local::LocalTable;
use super::redis::Global;

/// Keys one local table holds at most.
const MAX_KEYS: usize = 100_000;

/// One limit and its state, kept across config swaps while its settings do not change.
pub(crate) struct Scope {
    /// `gateway` or the rule's name (the `rule` label).
    pub(crate) name: String,
    /// `g` for the gateway-wide limit, `r:<rule>` for a rule's: its buckets' prefix in Redis.
    id: String,
    /// The settings it was built from.
    pub(crate) settings: RateLimit,
    /// What a client is.
    pub(crate) kind: KeyKind,
    requests: Gcra,
    bytes: Option<Gcra>,
    table: LocalTable,
    byte_table: LocalTable,
    concurrency: Arc<Concurrency>,
    /// Redis, in global mode.
    pub(crate) global: Option<Arc<Global>>,
    allowed: AtomicU64,
    rejected: AtomicU64,
}

/// What one limit said of a request.
pub(crate) enum Checked {
    /// Go on, holding the permit (when `maxConcurrent` is set) until the response ends.
    Allowed(Decision, Option<Permit>),
    /// Refuse with 429; the reason is `requests`, `bytes` or `concurrent`.
    Refused(Decision, &'static str),
}

// === impl Scope ===

impl Scope {
    /// The limit `settings` named `name` (and `id`), in Redis through `global` when its mode is
    /// global.
    pub(crate) fn new(
        name: String,
        id: String,
        settings: RateLimit,
        global: Option<Arc<Global>>,
    ) -> Self {
        let global = global.filter(|_| settings.mode == RateLimitMode::Global);
        Self {
            name,
            id,
            kind: KeyKind::parse(&settings.key),
            requests: Gcra::per_minute(
                u64::from(settings.requests_per_minute),
                u64::from(settings.burst),
            ),
            // A minute's worth of bytes may come at once.
            bytes: settings
                .body_bytes_per_minute
                .map(|b| Gcra::per_minute(b.bytes(), b.bytes())),
            table: LocalTable::new(MAX_KEYS),
            byte_table: LocalTable::new(if settings.body_bytes_per_minute.is_some() {
                MAX_KEYS
            } else {
                0
            }),
            concurrency: Arc::new(Concurrency::default()),
            settings,
            global,
            allowed: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        }
    }

    /// `local` or `global` (the `mode` label).
    pub(crate) fn mode(&self) -> &'static str {
        match self.settings.mode {
            RateLimitMode::Local => "local",
            RateLimitMode::Global => "global",
        }
    }

    /// Requests allowed and refused so far.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.allowed.load(Ordering::Relaxed),
            self.rejected.load(Ordering::Relaxed),
        )
    }

    /// Decides a request of `key` whose body is `body_bytes` long (when known).
    pub(crate) async fn check(&self, key: &str, body_bytes: u64) -> Checked {
        let checked = self.decide(key, body_bytes).await;
        let counter = match &checked {
            Checked::Allowed(..) => &self.allowed,
            Checked::Refused(..) => &self.rejected,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        checked
    }

    async fn decide(&self, key: &str, body_bytes: u64) -> Checked {
        let permit = match self.settings.max_concurrent {
            Some(max) => match self.concurrency.acquire(key, max) {
                Some(p) => Some(p),
                None => {
                    let d = Decision {
                        allowed: false,
                        limit: u64::from(max),
                        remaining: 0,
                        reset: 1_000_000_000,
                        retry_after: 1_000_000_000,
                    };
                    return Checked::Refused(d, "concurrent");
                }
            },
            None => None,
        };
        let d = self.bucket(&self.table, 'r', key, self.requests, 1).await;
        if !d.allowed {
            return Checked::Refused(d, "requests");
        }
        if let Some(bytes) = self.bytes
            && body_bytes > 0
        {
            let b = self
                .bucket(&self.byte_table, 'b', key, bytes, body_bytes)
                .await;
            if !b.allowed {
                return Checked::Refused(b, "bytes");
            }
        }
        Checked::Allowed(d, permit)
    }

    /// One bucket: in Redis in global mode (unless Redis is failing: then locally, with this
    /// node's share of the limit), else in `table`.
    async fn bucket(
        &self,
        table: &LocalTable,
        tag: char,
        key: &str,
        g: Gcra,
        cost: u64,
    ) -> Decision {
        if let Some(global) = &self.global {
            let redis_key = format!("openclaw:ratelimit:{}:{tag}:{key}", self.id);
            if let Some(d) = global.check(&redis_key, g, cost).await {
                return d;
            }
            return table.check(key, g.divided(global.nodes()), cost);
        }
        table.check(key, g, cost)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limit(v: serde_json::Value) -> RateLimit {
        serde_json::from_value(v).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn requests_bytes_and_concurrency_are_each_limited() {
        let s = Scope::new(
            "gateway".into(),
            "g".into(),
            limit(
                serde_json::json!({"enabled": true, "requestsPerMinute": 60, "burst": 2,
                "maxConcurrent": 1, "bodyBytesPerMinute": "1KiB"}),
            ),
            None,
        );
        let Checked::Allowed(d, permit) = s.check("a", 600).await else {
            panic!("first request refused")
        };
        assert_eq!(d.remaining, 1);
        assert!(matches!(
            s.check("a", 0).await,
            Checked::Refused(_, "concurrent")
        ));
        drop(permit);
        assert!(matches!(
            s.check("a", 600).await,
            Checked::Refused(_, "bytes")
        ));
        assert!(matches!(
            s.check("a", 0).await,
            Checked::Refused(_, "requests")
        ));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(matches!(s.check("a", 10).await, Checked::Allowed(..)));
        assert_eq!(s.counts(), (2, 3));
    }
}
