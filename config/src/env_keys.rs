//! `OPENCLAW_HTTP__RATE_LIMIT__BURST` ↔ `gateway.http.rateLimit.burst`: environment names of config keys.
//!
//! Only a name with `__` is a config key; `OPENCLAW_ADMIN_TOKEN` and the like are process settings.
//! Each segment is matched against the schema's own key names (so `DEFAULT_TTL` finds `defaultTTL` and
//! `QUEUE_DEPTH` finds `queue_depth`); a segment that names no schema key (a label name, say) becomes
//! camelCase.

use crate::Path;
use crate::path::Segment;

/// Every key name the schema uses, in its exact spelling.
pub const SCHEMA_KEYS: &[&str] = &[
    "gateway",
    "http",
    "listen",
    "tls",
    "enabled",
    "cert",
    "key",
    "minVersion",
    "ciphers",
    "cors",
    "allowedOrigins",
    "allowedMethods",
    "allowedHeaders",
    "rateLimit",
    "requestsPerMinute",
    "burst",
    "mode",
    "maxConcurrent",
    "bodyBytesPerMinute",
    "trustedProxies",
    "redis",
    "timeouts",
    "read",
    "write",
    "idle",
    "shutdown",
    "limits",
    "maxBodySize",
    "maxHeaderSize",
    "underscoresInHeaders",
    "upgrades",
    "performance",
    "workerThreads",
    "maxConcurrentRequests",
    "eventLoop",
    "agents",
    "discovery",
    "method",
    "static",
    "k8s",
    "namespace",
    "selector",
    "port",
    "id",
    "endpoint",
    "weight",
    "tags",
    "healthCheck",
    "path",
    "interval",
    "timeout",
    "failThreshold",
    "passThreshold",
    "connectionPool",
    "maxIdleConns",
    "maxIdleConnsPerHost",
    "idleTimeout",
    "routing",
    "rules",
    "name",
    "match",
    "type",
    "pattern",
    "threshold",
    "categories",
    "target",
    "fallback",
    "requiresAuth",
    "methods",
    "headers",
    "allowAgentOverride",
    "cache",
    "loadBalancing",
    "retry",
    "attempts",
    "on",
    "strategy",
    "hashOn",
    "stickyCookie",
    "locality",
    "spillover",
    "peakEwma",
    "decay",
    "endpoints",
    "url",
    "adaptive",
    "metrics",
    "updateInterval",
    "historyWindow",
    "weights",
    "cpu",
    "memory",
    "latency",
    "queue_depth",
    "slowStart",
    "duration",
    "initialWeight",
    "circuitBreaker",
    "errorThreshold",
    "minRequests",
    "cooldown",
    "connect",
    "firstByte",
    "budgetPercent",
    "minRetriesPerSecond",
    "backoff",
    "window",
    "maxCooldown",
    "halfOpenRequests",
    "layers",
    "maxSize",
    "ttl",
    "keyPattern",
    "password",
    "db",
    "defaultTTL",
    "cacheControl",
    "maxAge",
    "logging",
    "level",
    "format",
    "outputs",
    "maxBackups",
    "compress",
    "network",
    "address",
    "sampling",
    "initial",
    "thereafter",
    "monitoring",
    "histogramBuckets",
    "detailed",
    "openTelemetry",
    "samplingRatio",
    "serviceName",
    "controlPlane",
    "nodeId",
    "labels",
    "token",
    "ca",
    "stateDir",
    "auth",
    "apiKeys",
    "keyHash",
    "semantic",
    "encoder",
    "topK",
    "margin",
    "maxTokens",
    "textPointer",
    "hybridWeight",
    "utterances",
    "openai",
    "baseUrl",
    "model",
    "apiKey",
    "cacheSize",
    "failureThreshold",
    "model2vec",
    "fallbackToKeyword",
];

const PREFIX: &str = "OPENCLAW_";

/// The config path an environment variable sets: `None` when the name is not a config key at all,
/// `Some(Err)` when it looks like one but cannot be read.
pub fn env_name_to_path(name: &str) -> Option<Result<Path, String>> {
    let rest = name.strip_prefix(PREFIX)?;
    if !rest.contains("__") {
        return None;
    }
    let mut path = Path::gateway();
    for seg in rest.split("__") {
        if seg.is_empty() || !seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Some(Err(format!(
                "`{seg}` is not a key segment: use A-Z, 0-9 and _ between `__`"
            )));
        }
        path.push(Segment::Key(segment_to_key(seg)));
    }
    Some(Ok(path))
}

/// The environment variable that sets `path` (object keys only).
pub fn path_to_env_name(path: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for seg in path.segments().iter().skip(1) {
        let Segment::Key(k) = seg else { return None };
        parts.push(key_to_segment(k));
    }
    (!parts.is_empty()).then(|| format!("{PREFIX}{}", parts.join("__")))
}

fn normalize(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

fn segment_to_key(seg: &str) -> String {
    let want = normalize(seg);
    if let Some(k) = SCHEMA_KEYS.iter().find(|k| normalize(k) == want) {
        return (*k).to_string();
    }
    let mut out = String::new();
    for (i, word) in seg.split('_').filter(|w| !w.is_empty()).enumerate() {
        let lower = word.to_lowercase();
        if i == 0 {
            out.push_str(&lower);
        } else {
            let mut chars = lower.chars();
            if let Some(first) = chars.next() {
                out.extend(first.to_uppercase());
                out.push_str(chars.as_str());
            }
        }
    }
    out
}

fn key_to_segment(key: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = key.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        let prev_lower =
            i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
        if c.is_ascii_uppercase() && prev_lower {
            out.push('_');
        }
        if *c == '-' || *c == '.' {
            out.push('_');
        } else {
            out.push(c.to_ascii_uppercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Path {
        Path::parse_relative(s).unwrap()
    }

    #[test]
    fn maps_names_to_paths() {
        assert_eq!(
            env_name_to_path("OPENCLAW_HTTP__RATE_LIMIT__BURST")
                .unwrap()
                .unwrap(),
            p("http.rateLimit.burst")
        );
        assert_eq!(
            env_name_to_path("OPENCLAW_HTTP__LISTEN").unwrap().unwrap(),
            p("http.listen")
        );
        assert_eq!(
            env_name_to_path("OPENCLAW_CACHE__DEFAULT_TTL")
                .unwrap()
                .unwrap(),
            p("cache.defaultTTL")
        );
        assert_eq!(
            env_name_to_path("OPENCLAW_LOAD_BALANCING__ADAPTIVE__WEIGHTS__QUEUE_DEPTH")
                .unwrap()
                .unwrap(),
            p("loadBalancing.adaptive.weights.queue_depth")
        );
        assert_eq!(
            env_name_to_path("OPENCLAW_AGENTS__CONNECTION_POOL__MAX_IDLE_CONNS_PER_HOST")
                .unwrap()
                .unwrap(),
            p("agents.connectionPool.maxIdleConnsPerHost")
        );
        assert_eq!(
            env_name_to_path("OPENCLAW_CONTROL_PLANE__LABELS__ZONE")
                .unwrap()
                .unwrap(),
            p("controlPlane.labels.zone")
        );
        assert!(env_name_to_path("OPENCLAW_ADMIN_TOKEN").is_none());
        assert!(env_name_to_path("HOME").is_none());
        assert!(env_name_to_path("OPENCLAW_HTTP____X").unwrap().is_err());
    }

    #[test]
    fn every_schema_key_round_trips() {
        for key in SCHEMA_KEYS.iter().filter(|k| **k != "gateway") {
            let path = Path::gateway().key("http").key(*key);
            let name = path_to_env_name(&path).unwrap();
            assert_eq!(env_name_to_path(&name).unwrap().unwrap(), path, "{name}");
        }
    }
}
