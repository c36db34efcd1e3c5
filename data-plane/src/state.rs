//! What outlives a config swap: the current compiled table (swapped atomically), the agent registry,
//! metrics, the upstream client, the log handle, and the node's status for `/health`.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use arc_swap::{ArcSwap, ArcSwapOption};
use openclaw_config::{EventLoop, Layered};
use serde_json::Value;
use tokio::sync::watch;

use crate::compiled::{ApplyError, Compiled};
use crate::discovery::ClientStatus;
use crate::limit::LimitState;
use crate::logging::LogHandle;
use crate::metrics::Metrics;
use crate::proxy::UpstreamClient;
use crate::semantic::ModelStore;
use crate::tls::CertReloader;
use crate::upstream::Registry;

/// Settings fixed when the node started; a change to them is reported as "restart required".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Boot {
    /// The listen address in force.
    pub listen: String,
    /// Worker threads in force (`None`: one per core).
    pub worker_threads: Option<u32>,
}

/// How this node gets its config.
#[derive(Clone, Debug)]
pub enum Mode {
    /// Following a control plane.
    Managed {
        /// Its URL.
        address: String,
        /// The discovery client's state.
        status: watch::Receiver<ClientStatus>,
    },
    /// From local files.
    Standalone,
}

/// The node-wide state every request and every apply sees.
pub struct Shared {
    /// The table in force; `None` until the first config is applied.
    pub current: ArcSwapOption<Compiled>,
    /// Agents and endpoint health, kept across swaps.
    pub registry: Registry,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// The pooled client towards agents (rebuilt only when pool settings change).
    pub client: ArcSwap<UpstreamClient>,
    /// How the config arrives.
    pub mode: Mutex<Mode>,
    /// Restart-bound settings.
    pub boot: Boot,
    /// The log level switch.
    pub log: LogHandle,
    /// Requests in flight, against `performance.maxConcurrentRequests` (survives swaps).
    pub in_flight: crate::proxy::InFlightLimit,
    /// The listener's certificates and TLS settings, when the node started with TLS on.
    pub tls: Option<Arc<CertReloader>>,
    /// Loaded semantic models and built indexes, re-used across swaps.
    pub models: ModelStore,
    /// Rate-limit buckets and the Redis connection, kept across swaps.
    pub limits: LimitState,
    /// This process's id among the nodes sharing global rate limits.
    limit_node_id: String,
    report: Mutex<Report>,
}

/// What `/health` says beyond the table itself.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Keys set by node-local layers.
    pub local_overrides: Vec<String>,
    /// Central settings that changed but need a restart.
    pub restart_required: Vec<String>,
    /// Why the last config change was refused (the config in force kept serving); `None` once a later
    /// change applies.
    pub last_reload_error: Option<String>,
    logged_not_enforced: BTreeSet<String>,
}

// === impl Shared ===

impl Shared {
    /// State for a node started with `boot` settings.
    pub fn new(
        boot: Boot,
        log: LogHandle,
        tls: Option<Arc<CertReloader>>,
        first: &openclaw_config::Gateway,
        models: ModelStore,
    ) -> Arc<Self> {
        Arc::new(Self {
            current: ArcSwapOption::empty(),
            registry: Registry::new(),
            metrics: Metrics::new(&first.monitoring.metrics.histogram_buckets),
            client: ArcSwap::from_pointee(UpstreamClient::new(
                &first.agents.connection_pool,
                first.agents.discovery.static_agents.len(),
                first.agents.timeouts.connect.get(),
            )),
            mode: Mutex::new(Mode::Standalone),
            boot,
            log,
            in_flight: crate::proxy::InFlightLimit::new(),
            tls,
            models,
            limits: LimitState::default(),
            limit_node_id: format!("{:016x}", rand::random::<u64>()),
            report: Mutex::new(Report::default()),
        })
    }

    /// Compiles `layered` as `version` and swaps it in; on error nothing changes.
    ///
    /// Returns the settings that need a restart to take effect.
    pub fn apply(&self, layered: &Layered, version: u64) -> Result<Vec<String>, ApplyError> {
        let env = |name: &str| std::env::var(name).ok();
        let mut compiled = Compiled::build(
            &layered.effective,
            version,
            &self.registry,
            &env,
            &self.models,
        )?;
        compiled.rate_limits = self.limits.plan(&compiled.gateway, &self.limit_node_id)?;
        let g = &compiled.gateway;
        let mut restart = Vec::new();
        if g.http.listen != self.boot.listen {
            restart.push("gateway.http.listen".to_string());
        }
        if g.performance.worker_threads != self.boot.worker_threads {
            restart.push("gateway.performance.workerThreads".to_string());
        }
        if !self.log.update(g.logging.level, g.logging.format) {
            restart.push("gateway.logging.format".to_string());
        }
        // Switching TLS on or off changes the kind of listener; other TLS changes apply to new handshakes.
        match (&self.tls, &compiled.tls) {
            (Some(reloader), Some(settings)) => reloader.update_settings(settings)?,
            (None, None) => {}
            _ => restart.push("gateway.http.tls.enabled".to_string()),
        }
        let current_client = self.client.load();
        let connect = g.agents.timeouts.connect.get();
        if !current_client.matches(
            &g.agents.connection_pool,
            g.agents.discovery.static_agents.len(),
            connect,
        ) {
            self.client.store(Arc::new(UpstreamClient::new(
                &g.agents.connection_pool,
                g.agents.discovery.static_agents.len(),
                connect,
            )));
        }
        let routes: Vec<String> = compiled
            .routes
            .rules()
            .iter()
            .map(|r| r.name.clone())
            .collect();
        self.metrics
            .configure(&routes, &g.monitoring.metrics.histogram_buckets, version);
        if let Ok(mut r) = self.report.lock() {
            for key in &compiled.not_enforced {
                if r.logged_not_enforced.insert(key.clone()) {
                    tracing::warn!(key = %key, "setting accepted but not yet enforced by this node");
                }
            }
            if g.performance.event_loop == EventLoop::IoUring
                && r.logged_not_enforced.insert("eventLoop".into())
            {
                tracing::warn!(
                    "performance.eventLoop is io_uring, but no io_uring listener exists yet: serving with epoll"
                );
            }
            r.local_overrides = layered.local_overrides();
            r.restart_required = restart.clone();
            r.last_reload_error = None;
        }
        tracing::info!(version, hash = %compiled.hash, rules = compiled.routes.rules().len(), agents = compiled.agents.len(), "config applied");
        self.current.store(Some(Arc::new(compiled)));
        Ok(restart)
    }

    /// Records a refused config change, for `/health` (`lastReloadError`), and logs it.
    pub fn reload_refused(&self, error: &str) {
        tracing::error!(error = %error, "config change rejected, keeping the config in force");
        if let Ok(mut r) = self.report.lock() {
            r.last_reload_error = Some(error.to_string());
        }
    }

    /// The status report for `/health`.
    pub fn report(&self) -> Report {
        self.report.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// The `/health` body.
    pub fn health(&self) -> Value {
        let table = self.current.load_full();
        let report = self.report();
        let mut v = serde_json::json!({
            "status": if table.is_some() { "ok" } else { "starting" },
            "configVersion": table.as_ref().map_or(0, |t| t.version),
            // The document served: defaults, snapshot and local layers merged (differs from the
            // control plane's `snapshotHash` as soon as any default or local key is in it).
            "configHash": table.as_ref().map(|t| t.hash.clone()),
            "agents": self.registry.health().iter().map(|h| {
                serde_json::json!({"id": h.agent, "endpoint": h.endpoint, "healthy": h.healthy, "inFlight": h.in_flight,
                    "consecutiveFailures": h.consecutive_failures, "connectFailures": h.connect_failures_total,
                    "circuit": h.circuit.as_str()})
            }).collect::<Vec<_>>(),
            "notEnforced": table.as_ref().map(|t| t.not_enforced.clone()).unwrap_or_default(),
            "localOverrides": report.local_overrides,
            "restartRequired": report.restart_required,
            "lastReloadError": report.last_reload_error,
            "eventLoop": match table.as_ref().map(|t| t.gateway.performance.event_loop) {
                Some(EventLoop::IoUring) => "epoll (io_uring requested, not available)",
                _ => "epoll",
            },
        });
        v["semantic"] = table
            .as_ref()
            .and_then(|t| t.semantic.as_ref())
            .map_or(Value::Null, |i| {
                serde_json::json!({"encoder": i.status(), "warning": i.warning(), "complete": i.is_complete()})
            });
        v["rateLimit"] = table
            .as_ref()
            .map_or(Value::Null, |t| t.rate_limits.health());
        v["tls"] = self
            .tls
            .as_ref()
            .map_or(Value::Null, |r| r.status().to_json());
        match self.mode.lock().map(|m| m.clone()) {
            Ok(Mode::Managed { address, status }) => {
                let s = status.borrow().clone();
                v["mode"] = "managed".into();
                v["controlPlane"] = serde_json::json!({"address": address, "connected": s.connected, "appliedVersion": s.applied_version, "lastError": s.last_error});
                // The control plane's hash of the version in force, as `config.history` shows it.
                v["snapshotHash"] = (!s.applied_hash.is_empty())
                    .then_some(s.applied_hash)
                    .into();
            }
            _ => v["mode"] = "standalone".into(),
        }
        v
    }
}
