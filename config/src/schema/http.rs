//! `gateway.http`: the listener, TLS, CORS, client rate limit, timeouts and request size limits.

use serde::{Deserialize, Serialize};

use crate::checks::{is_header_name, is_http_method, is_socket_addr, is_url};
use crate::problem::Check;
use crate::{ByteSize, Duration, Path};

/// The client-facing HTTP server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Http {
    /// Address the data plane listens on; default `0.0.0.0:8080`. Changing it needs a restart.
    pub listen: String,
    /// TLS termination; off by default.
    pub tls: Tls,
    /// Cross-origin rules; off (no origin allowed) by default.
    pub cors: Cors,
    /// Per-client request rate limit; off by default.
    pub rate_limit: RateLimit,
    /// Connection and drain timeouts.
    pub timeouts: Timeouts,
    /// Request size limits.
    pub limits: Limits,
    /// Keep request header fields whose names contain `_` (nginx's `underscores_in_headers`); by
    /// default they are dropped, since CGI-style agents read `X_Forwarded_For` and
    /// `X-Forwarded-For` as one name.
    pub underscores_in_headers: bool,
    /// Protocols an HTTP/1.1 `Upgrade` may switch to; default `["websocket"]`. A request asking for
    /// any other (`h2c` included) is served as a plain request, its `Upgrade` removed.
    pub upgrades: Vec<UpgradeProtocol>,
}

/// A protocol an HTTP/1.1 client may switch to through the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpgradeProtocol {
    /// WebSocket (RFC 6455): the key, version and the agent's accept are checked.
    #[serde(rename = "websocket")]
    Websocket,
}

/// TLS settings of the listener.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Tls {
    /// Serve HTTPS instead of plain HTTP; default false.
    pub enabled: bool,
    /// PEM certificate chain file (on the machine that runs the data plane).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<String>,
    /// PEM private key file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Lowest protocol version offered; default `TLS1.2`.
    pub min_version: TlsVersion,
    /// Cipher suites offered, by IANA name; empty (the default) offers every supported suite.
    pub ciphers: Vec<String>,
}

/// A TLS protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TlsVersion {
    /// TLS 1.2.
    #[serde(rename = "TLS1.2")]
    Tls12,
    /// TLS 1.3.
    #[serde(rename = "TLS1.3")]
    Tls13,
}

/// Cross-origin resource sharing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Cors {
    /// Origins allowed (`https://example.com`, or `*`); empty disables CORS.
    pub allowed_origins: Vec<String>,
    /// Methods allowed in preflight answers.
    pub allowed_methods: Vec<String>,
    /// Request headers allowed in preflight answers.
    pub allowed_headers: Vec<String>,
}

/// A token-bucket rate limit; the same shape serves `http.rateLimit` and a rule's `rateLimit`
/// (`redis` and `trustedProxies` are read from `http.rateLimit` only).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct RateLimit {
    /// Enforce the limit; default false.
    pub enabled: bool,
    /// Sustained rate; default 600.
    pub requests_per_minute: u32,
    /// Requests allowed at once above the sustained rate; default 100.
    pub burst: u32,
    /// `local` (per node, in memory; the default) or `global` (one limit across every data plane,
    /// kept in Redis).
    pub mode: RateLimitMode,
    /// What a client is: `client` (the default: the API key id when the request authenticated,
    /// else the client IP), `ip`, `header:<name>` or `body:<field>` (a JSON body field such as
    /// `user` or `session_id`).
    pub key: String,
    /// Requests of one client in flight at once (an open SSE stream counts until it ends); none by
    /// default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u32>,
    /// Request body bytes one client may send per minute (a cheap stand-in for tokens); none by
    /// default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_bytes_per_minute: Option<ByteSize>,
    /// Send `RateLimit-Limit`/`-Remaining`/`-Reset` on allowed responses too (429s always carry
    /// them); default true.
    pub headers: bool,
    /// Proxies (IPs or CIDRs) whose `X-Forwarded-For` names the client; none by default.
    pub trusted_proxies: Vec<String>,
    /// The Redis of `global` mode; without it, the `redis` layer of `cache.layers`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<RateLimitRedis>,
}

/// Where a rate limit counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateLimitMode {
    /// In this node's memory.
    #[default]
    Local,
    /// In Redis, shared by every data plane.
    Global,
}

/// The Redis server of global rate limiting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct RateLimitRedis {
    /// `redis://host:port` or `rediss://` (TLS) URL (required).
    pub endpoint: String,
    /// Password, usually `${REDIS_PASSWORD}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Database index; default 0.
    pub db: u32,
    /// Bound on each Redis call, past which the node falls back to its local limit; default 50ms.
    pub timeout: Duration,
}

/// Timeouts of client connections.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Timeouts {
    /// Bound on receiving request headers and each read of a body; default 30s.
    pub read: Duration,
    /// Bound on each write to a client; default 60s.
    pub write: Duration,
    /// Idle keep-alive connections are closed after this; default 120s.
    pub idle: Duration,
    /// Drain deadline on SIGTERM; default 30s.
    pub shutdown: Duration,
}

/// Request size limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Limits {
    /// Largest request body accepted (413 past it); default `10MiB`.
    pub max_body_size: ByteSize,
    /// Largest request header section accepted (431 past it); default `64KiB`.
    pub max_header_size: ByteSize,
}

/// TLS 1.3 suites we can offer, by IANA name.
pub const TLS13_CIPHERS: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// TLS 1.2 suites we can offer, by IANA name.
pub const TLS12_CIPHERS: &[&str] = &[
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
];

// === impl Http ===

impl Default for Http {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:8080".into(),
            tls: Tls::default(),
            cors: Cors::default(),
            rate_limit: RateLimit::default(),
            timeouts: Timeouts::default(),
            limits: Limits::default(),
            underscores_in_headers: false,
            upgrades: vec![UpgradeProtocol::Websocket],
        }
    }
}

impl Http {
    pub(crate) fn validate(&self, at: &Path, c: &mut Check) {
        if !is_socket_addr(&self.listen) {
            c.fail(
                &at.key("listen"),
                "must be host:port (e.g. \"0.0.0.0:8080\")",
                &self.listen,
            );
        }
        self.tls.validate(&at.key("tls"), c);
        self.cors.validate(&at.key("cors"), c);
        self.rate_limit.validate(&at.key("rateLimit"), c);
        self.timeouts.validate(&at.key("timeouts"), c);
        self.limits.validate(&at.key("limits"), c);
    }
}

// === impl Tls ===

impl Default for Tls {
    fn default() -> Self {
        Self {
            enabled: false,
            cert: None,
            key: None,
            min_version: TlsVersion::Tls12,
            ciphers: Vec::new(),
        }
    }
}

impl Tls {
    fn validate(&self, at: &Path, c: &mut Check) {
        if self.enabled {
            for (name, v) in [("cert", &self.cert), ("key", &self.key)] {
                if v.as_deref().is_none_or(|s| s.trim().is_empty()) {
                    c.missing(&at.key(name), "is required when tls.enabled is true");
                }
            }
        }
        let mut offers_any = false;
        let mut unknown = false;
        for (i, name) in self.ciphers.iter().enumerate() {
            let p = at.key("ciphers").index(i);
            if TLS13_CIPHERS.contains(&name.as_str()) {
                offers_any = true;
            } else if TLS12_CIPHERS.contains(&name.as_str()) {
                offers_any |= self.min_version == TlsVersion::Tls12;
            } else {
                unknown = true;
                let known = [TLS13_CIPHERS, TLS12_CIPHERS].concat().join(", ");
                c.fail(&p, format!("unknown cipher suite (known: {known})"), name);
            }
        }
        if !self.ciphers.is_empty() && !offers_any && !unknown {
            c.fail(
                &at.key("ciphers"),
                "no listed suite is usable with minVersion TLS1.3 (list a TLS_AES_* suite)",
                &self.ciphers,
            );
        }
    }
}

// === impl Cors ===

impl Cors {
    fn validate(&self, at: &Path, c: &mut Check) {
        for (i, o) in self.allowed_origins.iter().enumerate() {
            let ok = o == "*"
                || (o.starts_with("http://") || o.starts_with("https://"))
                    && !o
                        .trim_end_matches('/')
                        .contains(|ch: char| ch.is_whitespace())
                    && o.split("://")
                        .nth(1)
                        .is_some_and(|h| !h.is_empty() && !h.contains('/'));
            if !ok {
                c.fail(&at.key("allowedOrigins").index(i), "must be \"*\" or an origin such as \"https://example.com\" (scheme and host, no path)", o);
            }
        }
        for (i, m) in self.allowed_methods.iter().enumerate() {
            if !is_http_method(m) {
                c.fail(
                    &at.key("allowedMethods").index(i),
                    "must be an upper-case HTTP method",
                    m,
                );
            }
        }
        for (i, h) in self.allowed_headers.iter().enumerate() {
            if !(h == "*" || is_header_name(h)) {
                c.fail(
                    &at.key("allowedHeaders").index(i),
                    "must be a header name or \"*\"",
                    h,
                );
            }
        }
    }
}

// === impl RateLimit ===

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            enabled: false,
            requests_per_minute: 600,
            burst: 100,
            mode: RateLimitMode::Local,
            key: "client".into(),
            max_concurrent: None,
            body_bytes_per_minute: None,
            headers: true,
            trusted_proxies: Vec::new(),
            redis: None,
        }
    }
}

impl RateLimit {
    pub(crate) fn validate(&self, at: &Path, c: &mut Check) {
        if self.requests_per_minute == 0 {
            c.fail(
                &at.key("requestsPerMinute"),
                "must be greater than 0",
                &self.requests_per_minute,
            );
        }
        if self.burst == 0 {
            c.fail(&at.key("burst"), "must be greater than 0", &self.burst);
        }
        let key_ok = match self.key.split_once(':') {
            None => matches!(self.key.as_str(), "client" | "ip"),
            Some(("header", name)) => is_header_name(name),
            Some(("body", field)) => !field.trim().is_empty(),
            Some(_) => false,
        };
        if !key_ok {
            c.fail(
                &at.key("key"),
                "must be \"client\", \"ip\", \"header:<name>\" or \"body:<field>\"",
                &self.key,
            );
        }
        if self.max_concurrent == Some(0) {
            c.fail(&at.key("maxConcurrent"), "must be greater than 0", &0);
        }
        if let Some(b) = self.body_bytes_per_minute
            && b.bytes() == 0
        {
            c.fail(&at.key("bodyBytesPerMinute"), "must be greater than 0", &b);
        }
        for (i, p) in self.trusted_proxies.iter().enumerate() {
            if !is_ip_or_cidr(p) {
                c.fail(
                    &at.key("trustedProxies").index(i),
                    "must be an IP address or a CIDR block such as \"10.0.0.0/8\"",
                    p,
                );
            }
        }
        if let Some(r) = &self.redis {
            let at = at.key("redis");
            if !is_url(&r.endpoint, &["redis", "rediss"]) {
                c.fail(
                    &at.key("endpoint"),
                    "must be a redis:// or rediss:// URL",
                    &crate::secrets::redact_url(&r.endpoint),
                );
            }
            c.range(&at.key("db"), r.db, 0, 15);
            if r.timeout.get().is_zero() {
                c.fail(&at.key("timeout"), "must be greater than 0", &r.timeout);
            }
        }
    }

    /// Checks what a rule's limit may not set, and that a global limit has a Redis to reach.
    pub(crate) fn validate_in_rule(&self, at: &Path, c: &mut Check) {
        if self.redis.is_some() {
            c.missing(
                &at.key("redis"),
                "is read from gateway.http.rateLimit.redis only",
            );
        }
        if !self.trusted_proxies.is_empty() {
            c.missing(
                &at.key("trustedProxies"),
                "is read from gateway.http.rateLimit.trustedProxies only",
            );
        }
    }

    /// True when the limit counts in Redis.
    pub fn is_global(&self) -> bool {
        self.enabled && self.mode == RateLimitMode::Global
    }
}

/// Checks that every enabled global limit (`http` at `at`, and each rule's) has a Redis to reach:
/// `http.rateLimit.redis`, else a `redis` layer of `cache.layers`.
pub(crate) fn validate_global_limits(g: &crate::Gateway, c: &mut Check) {
    let has_redis = g.http.rate_limit.redis.is_some()
        || g.cache
            .layers
            .iter()
            .any(|l| l.kind == Some(crate::CacheKind::Redis));
    if has_redis {
        return;
    }
    let at = Path::gateway();
    let problem = "is global, but there is no Redis: set gateway.http.rateLimit.redis or add a redis layer to gateway.cache.layers";
    if g.http.rate_limit.is_global() {
        c.fail(
            &at.key("http").key("rateLimit").key("mode"),
            problem,
            "global",
        );
    }
    for (i, r) in g.routing.rules.iter().enumerate() {
        if r.rate_limit.as_ref().is_some_and(RateLimit::is_global) {
            let p = at
                .key("routing")
                .key("rules")
                .index(i)
                .key("rateLimit")
                .key("mode");
            c.fail(&p, problem, "global");
        }
    }
}

/// `10.0.0.1`, `::1`, `10.0.0.0/8` or `fd00::/8`.
fn is_ip_or_cidr(s: &str) -> bool {
    match s.split_once('/') {
        None => s.parse::<std::net::IpAddr>().is_ok(),
        Some((ip, bits)) => match (ip.parse::<std::net::IpAddr>(), bits.parse::<u8>()) {
            (Ok(std::net::IpAddr::V4(_)), Ok(b)) => b <= 32,
            (Ok(std::net::IpAddr::V6(_)), Ok(b)) => b <= 128,
            _ => false,
        },
    }
}

// === impl RateLimitRedis ===

impl Default for RateLimitRedis {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            password: None,
            db: 0,
            timeout: Duration::millis(50),
        }
    }
}

// === impl Timeouts ===

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            read: Duration::secs(30),
            write: Duration::secs(60),
            idle: Duration::secs(120),
            shutdown: Duration::secs(30),
        }
    }
}

impl Timeouts {
    fn validate(&self, at: &Path, c: &mut Check) {
        for (name, d) in [
            ("read", self.read),
            ("write", self.write),
            ("idle", self.idle),
        ] {
            if d.get().is_zero() {
                c.fail(&at.key(name), "must be greater than 0", &d);
            }
        }
    }
}

// === impl Limits ===

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_size: ByteSize::mib(10),
            max_header_size: ByteSize::kib(64),
        }
    }
}

impl Limits {
    fn validate(&self, at: &Path, c: &mut Check) {
        if self.max_body_size.bytes() == 0 {
            c.fail(
                &at.key("maxBodySize"),
                "must be greater than 0",
                &self.max_body_size,
            );
        }
        if self.max_header_size.bytes() < 1024 {
            c.fail(
                &at.key("maxHeaderSize"),
                "must be at least 1KiB",
                &self.max_header_size,
            );
        }
    }
}
