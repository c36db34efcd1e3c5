//! One agent endpoint and the state about it that outlives a config swap: health, requests in
//! flight, the history of its health checks and the connect outcomes the proxy reports.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Uri};
use openclaw_config::HealthCheck;

use super::breaker::{Breaker, CircuitState, Transition};
use super::error::UpstreamError;
use super::load::LoadState;
use super::probe::CheckFailure;

/// One agent's endpoint: where requests to the agent go, and what is known about it.
///
/// Shared as `Arc<Endpoint>` between the [`Registry`](super::Registry), every route table built
/// while the agent's URL stays the same, and the requests in flight to it.
#[derive(Debug)]
pub struct Endpoint {
    agent_id: String,
    url: Uri,
    scheme: Scheme,
    authority: Authority,
    /// `authority` as a `Host` header value, made once instead of per request.
    host_header: Option<HeaderValue>,
    /// The effective weight: the agent's weight times the endpoint's, over 100 (at least 1).
    weight: AtomicU32,
    tags: Mutex<Arc<[String]>>,
    labels: Mutex<Arc<[(String, String)]>>,
    /// A stable id of (agent, URL): the value of the `stickyCookie` strategy's cookie.
    sticky_id: u64,
    /// What balancers learn about it.
    load: LoadState,
    healthy: AtomicBool,
    in_flight: AtomicUsize,
    connect_failures: AtomicU32,
    connect_failures_total: AtomicU64,
    successes_total: AtomicU64,
    checks: Mutex<CheckState>,
    breaker: Breaker,
}

/// Counts a request in flight to an [`Endpoint`] until dropped; returned by [`Endpoint::begin`].
#[derive(Debug)]
#[must_use = "the request stops being counted as soon as the guard is dropped"]
pub struct InFlight {
    endpoint: Arc<Endpoint>,
}

/// The outcome of an endpoint's latest health check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastCheck {
    /// When the check finished.
    pub at: SystemTime,
    /// Why it failed; `None` when it passed.
    pub error: Option<String>,
}

/// A point-in-time view of one endpoint, for the `/health` endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointHealth {
    /// The agent id.
    pub agent: String,
    /// The endpoint's base URL.
    pub endpoint: String,
    /// Whether its health checks pass.
    pub healthy: bool,
    /// Its circuit breaker's state.
    pub circuit: CircuitState,
    /// Its circuit's transitions so far into closed, open and half-open.
    pub circuit_transitions: [u64; 3],
    /// Requests in flight to it.
    pub in_flight: usize,
    /// Its configured weight.
    pub weight: u32,
    /// Health checks failed in a row.
    pub consecutive_failures: u32,
    /// Health checks passed in a row.
    pub consecutive_passes: u32,
    /// Connections the proxy failed to open in a row (reset by a success).
    pub connect_failures: u32,
    /// Connections the proxy failed to open since the endpoint was first seen.
    pub connect_failures_total: u64,
    /// Requests the proxy forwarded successfully since the endpoint was first seen.
    pub successes_total: u64,
    /// The latest health check, if one has run.
    pub last_check: Option<LastCheck>,
}

/// Health-check history; only the endpoint's checker writes it.
#[derive(Debug, Default)]
struct CheckState {
    failures: u32,
    passes: u32,
    last: Option<LastCheck>,
}

// === impl Endpoint ===

impl Endpoint {
    /// A new endpoint, healthy until a check says otherwise.
    pub(super) fn new(
        agent_id: &str,
        url: Uri,
        weight: u32,
        tags: &[String],
        labels: &[(String, String)],
    ) -> Self {
        // `parse_url` guarantees both parts; the fallbacks only keep this constructor total.
        let scheme = url.scheme().cloned().unwrap_or(Scheme::HTTP);
        let authority = url
            .authority()
            .cloned()
            .unwrap_or_else(|| Authority::from_static("invalid"));
        let host_header = HeaderValue::from_str(authority.as_str()).ok();
        let sticky_id =
            crate::balance::hash_parts(&[agent_id.as_bytes(), b"\n", url.to_string().as_bytes()]);
        Self {
            agent_id: agent_id.to_owned(),
            url,
            scheme,
            authority,
            host_header,
            weight: AtomicU32::new(weight.max(1)),
            tags: Mutex::new(tags.into()),
            labels: Mutex::new(labels.into()),
            sticky_id,
            load: LoadState::new(),
            healthy: AtomicBool::new(true),
            in_flight: AtomicUsize::new(0),
            connect_failures: AtomicU32::new(0),
            connect_failures_total: AtomicU64::new(0),
            successes_total: AtomicU64::new(0),
            checks: Mutex::new(CheckState::default()),
            breaker: Breaker::default(),
        }
    }

    /// Parses an agent's configured endpoint: an `http` URL with a host (`https` is refused until
    /// the gateway speaks TLS to agents, so a node NACKs it rather than answering 502 to every
    /// request).
    pub(super) fn parse_url(agent: &str, endpoint: &str) -> Result<Uri, UpstreamError> {
        let invalid = |reason: String| UpstreamError::InvalidEndpoint {
            agent: agent.to_owned(),
            endpoint: endpoint.to_owned(),
            reason,
        };
        let url: Uri = endpoint
            .trim()
            .parse()
            .map_err(|e| invalid(format!("{e}")))?;
        match url.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(invalid(
                    "https:// agents are not supported yet (no TLS towards agents): use http://"
                        .into(),
                ));
            }
            _ => return Err(invalid("the scheme must be http".into())),
        }
        if url.host().is_none_or(str::is_empty) {
            return Err(invalid("a host is required".into()));
        }
        if url.query().is_some() {
            return Err(invalid("a base URL takes no query".into()));
        }
        Ok(url)
    }

    /// The id of the agent this endpoint serves.
    pub fn agent_id(&self) -> &str {
        &self.agent_id
    }

    /// The endpoint's base URL as configured.
    pub fn url(&self) -> &Uri {
        &self.url
    }

    /// The URL's `host[:port]`.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// The URL's `host[:port]` as a `Host` header value (`None` if it cannot be one).
    pub fn host_header(&self) -> Option<&HeaderValue> {
        self.host_header.as_ref()
    }

    /// [`uri_for`](Self::uri_for) of an already parsed path: when the base URL has no path of its
    /// own (the usual case) the request's path is reused as is, without formatting and re-parsing.
    pub fn uri_for_parsed(&self, path_and_query: &PathAndQuery) -> Result<Uri, UpstreamError> {
        if !self.url.path().trim_end_matches('/').is_empty()
            || !path_and_query.as_str().starts_with('/')
        {
            return self.uri_for(path_and_query.as_str());
        }
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(path_and_query.clone());
        Uri::from_parts(parts).map_err(|e| UpstreamError::InvalidPath {
            path: path_and_query.as_str().to_owned(),
            reason: e.to_string(),
        })
    }

    /// The URI of `path_and_query` on this endpoint: the base URL's path, then `path_and_query`.
    pub fn uri_for(&self, path_and_query: &str) -> Result<Uri, UpstreamError> {
        let base = self.url.path().trim_end_matches('/');
        let sep = if path_and_query.starts_with('/') {
            ""
        } else {
            "/"
        };
        let joined = format!("{base}{sep}{path_and_query}");
        let invalid = |reason: String| UpstreamError::InvalidPath {
            path: path_and_query.to_owned(),
            reason,
        };
        let pq = PathAndQuery::try_from(joined).map_err(|e| invalid(e.to_string()))?;
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(pq)
            .build()
            .map_err(|e| invalid(e.to_string()))
    }

    /// Its relative share of traffic for weighted strategies.
    pub fn weight(&self) -> u32 {
        self.weight.load(Ordering::Relaxed)
    }

    /// Its agent's tags, as of the latest snapshot.
    pub fn tags(&self) -> Arc<[String]> {
        lock(&self.tags).clone()
    }

    /// Its own labels (`endpoints[i].labels`), as of the latest snapshot.
    pub fn labels(&self) -> Arc<[(String, String)]> {
        lock(&self.labels).clone()
    }

    /// Its stable id, the `stickyCookie` strategy's cookie value.
    pub fn sticky_id(&self) -> u64 {
        self.sticky_id
    }

    /// What balancers learn about it (latency, reported load, slow start).
    pub fn load(&self) -> &LoadState {
        &self.load
    }

    /// Whether requests may be sent to it: its health checks pass (true until they say otherwise)
    /// and its circuit breaker admits requests.
    pub fn is_healthy(&self) -> bool {
        self.passes_checks() && self.breaker.admits()
    }

    /// Whether its health checks pass, whatever its circuit breaker says.
    fn passes_checks(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Its circuit breaker.
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// Logs a transition of its circuit breaker (each one is a line at warn or info level) and
    /// counts it as a change of health, so balancers that skip health scans see it.
    pub fn log_transition(&self, t: Transition) {
        HEALTH_EPOCH.fetch_add(1, Ordering::Release);
        let (agent, endpoint) = (&self.agent_id, &self.url);
        match t.to {
            CircuitState::Open => tracing::warn!(
                agent = %agent, endpoint = %endpoint, cooldown_ms = t.cooldown.as_millis() as u64,
                "circuit opened: requests to this endpoint are refused until the cooldown ends"
            ),
            CircuitState::HalfOpen => tracing::info!(
                agent = %agent, endpoint = %endpoint, "circuit half-open: trial requests let through"
            ),
            CircuitState::Closed => {
                tracing::info!(agent = %agent, endpoint = %endpoint, "circuit closed")
            }
        }
    }

    /// Requests in flight to it.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Starts counting a request in flight; it stops counting when the guard drops.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight {
            endpoint: Arc::clone(self),
        }
    }

    /// Records that the proxy could not connect to this endpoint (recorded only, for now).
    pub fn mark_connect_failure(&self) {
        self.connect_failures.fetch_add(1, Ordering::Relaxed);
        self.connect_failures_total.fetch_add(1, Ordering::Relaxed);
    }

    /// Records that the proxy forwarded a request to this endpoint successfully.
    pub fn mark_success(&self) {
        self.connect_failures.store(0, Ordering::Relaxed);
        self.successes_total.fetch_add(1, Ordering::Relaxed);
    }

    /// A point-in-time view for `/health`.
    pub fn health(&self) -> EndpointHealth {
        let checks = lock(&self.checks);
        EndpointHealth {
            agent: self.agent_id.clone(),
            endpoint: self.url.to_string(),
            healthy: self.passes_checks(),
            circuit: self.breaker.state(),
            circuit_transitions: [
                CircuitState::Closed,
                CircuitState::Open,
                CircuitState::HalfOpen,
            ]
            .map(|s| self.breaker.transitions(s)),
            in_flight: self.in_flight(),
            weight: self.weight(),
            consecutive_failures: checks.failures,
            consecutive_passes: checks.passes,
            connect_failures: self.connect_failures.load(Ordering::Relaxed),
            connect_failures_total: self.connect_failures_total.load(Ordering::Relaxed),
            successes_total: self.successes_total.load(Ordering::Relaxed),
            last_check: checks.last.clone(),
        }
    }

    /// Takes a new snapshot's weight, tags and labels without touching any other state.
    pub(super) fn update(&self, weight: u32, tags: &[String], labels: &[(String, String)]) {
        self.weight.store(weight.max(1), Ordering::Relaxed);
        let mut current = lock(&self.tags);
        if **current != *tags {
            *current = tags.into();
        }
        drop(current);
        let mut current = lock(&self.labels);
        if **current != *labels {
            *current = labels.into();
        }
    }

    /// Records one health check and flips health when a threshold is crossed.
    pub(super) fn record_check(&self, outcome: Result<(), &CheckFailure>, hc: &HealthCheck) {
        let mut checks = lock(&self.checks);
        checks.last = Some(LastCheck {
            at: SystemTime::now(),
            error: outcome.err().map(ToString::to_string),
        });
        match outcome {
            Ok(()) => {
                checks.failures = 0;
                checks.passes = checks.passes.saturating_add(1);
                if !self.passes_checks() && checks.passes >= hc.pass_threshold.max(1) {
                    // Back from unhealthy: slow start (when enabled) ramps it up again.
                    self.load.start_ramp();
                    self.healthy.store(true, Ordering::Relaxed);
                    HEALTH_EPOCH.fetch_add(1, Ordering::Release);
                    tracing::info!(
                        agent = %self.agent_id,
                        endpoint = %self.url,
                        passes = checks.passes,
                        "agent endpoint is healthy again"
                    );
                }
            }
            Err(failure) => {
                checks.passes = 0;
                checks.failures = checks.failures.saturating_add(1);
                if self.passes_checks() && checks.failures >= hc.fail_threshold.max(1) {
                    self.healthy.store(false, Ordering::Relaxed);
                    HEALTH_EPOCH.fetch_add(1, Ordering::Release);
                    tracing::warn!(
                        agent = %self.agent_id,
                        endpoint = %self.url,
                        failures = checks.failures,
                        reason = %failure,
                        "agent endpoint is unhealthy"
                    );
                }
            }
        }
    }

    /// Marks the endpoint healthy because nothing checks it any more (checks were disabled, or
    /// cannot run against it), so an earlier verdict would otherwise stick forever.
    pub(super) fn forget_checks(&self, reason: &str) {
        let mut checks = lock(&self.checks);
        checks.failures = 0;
        checks.passes = 0;
        if !self.healthy.swap(true, Ordering::Relaxed) {
            HEALTH_EPOCH.fetch_add(1, Ordering::Release);
            self.load.start_ramp();
            tracing::info!(
                agent = %self.agent_id,
                endpoint = %self.url,
                reason,
                "agent endpoint is healthy again"
            );
        }
    }
}

/// Counts every change of any endpoint's health, process-wide: a balancer that saw its whole pool
/// healthy at one count knows it still is while the count has not moved, and skips the health scan.
static HEALTH_EPOCH: AtomicU64 = AtomicU64::new(0);

/// Counts a change of some endpoint's health made outside its checks (a circuit closed by config).
pub fn health_changed() {
    HEALTH_EPOCH.fetch_add(1, Ordering::Release);
}

/// The current count of health changes (see [`HEALTH_EPOCH`]).
#[inline]
pub fn health_epoch() -> u64 {
    HEALTH_EPOCH.load(Ordering::Acquire)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded values stay consistent even if a holder panicked, so poisoning is ignored.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

// === impl InFlight ===

impl InFlight {
    /// The endpoint the request went to.
    pub fn endpoint(&self) -> &Arc<Endpoint> {
        &self.endpoint
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.endpoint.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

// === impl EndpointHealth ===

impl EndpointHealth {
    /// The JSON object `/health` lists per endpoint (camelCase keys; times in Unix milliseconds).
    pub fn to_json(&self) -> serde_json::Value {
        let last_check = self.last_check.as_ref().map(|c| {
            let at_ms =
                c.at.duration_since(UNIX_EPOCH)
                    .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            serde_json::json!({ "atUnixMs": at_ms, "ok": c.error.is_none(), "error": c.error })
        });
        serde_json::json!({
            "agent": self.agent,
            "endpoint": self.endpoint,
            "healthy": self.healthy,
            "inFlight": self.in_flight,
            "weight": self.weight,
            "consecutiveFailures": self.consecutive_failures,
            "consecutivePasses": self.consecutive_passes,
            "connectFailures": self.connect_failures,
            "connectFailuresTotal": self.connect_failures_total,
            "successesTotal": self.successes_total,
            "lastCheck": last_check,
        })
    }
}
