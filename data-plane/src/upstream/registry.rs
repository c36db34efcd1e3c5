//! The long-lived registry of agent endpoints: reconciled with each snapshot by [`Registry::sync`],
//! it keeps every unchanged endpoint (and its state) and owns the endpoints' health checkers.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use http::uri::PathAndQuery;
use openclaw_config::{HealthCheck, StaticAgent};
use tokio::runtime::Handle;

use super::agent_set::AgentSet;
use super::checker::Checker;
use super::endpoint::{Endpoint, EndpointHealth};
use super::error::UpstreamError;
use super::probe::{HttpProbe, Probe};

/// Every agent endpoint the node knows, with the state that must survive config swaps.
///
/// Share it as `Arc<Registry>`. Dropping it (or calling [`shutdown`](Self::shutdown)) stops every
/// health checker; endpoints still referenced by route tables or requests live on.
pub struct Registry {
    probe: Arc<dyn Probe>,
    inner: Mutex<Inner>,
    /// Consistent-hash tables of the balancers, shared across swaps.
    tables: crate::balance::Tables,
    /// The node's own labels (`--label`), for the `locality` strategy.
    node_labels: Mutex<Option<std::collections::BTreeMap<String, String>>>,
    /// Retry budgets by agent id (kept for agents that leave: a returning agent finds its own).
    budgets: Mutex<HashMap<String, Arc<super::RetryBudget>>>,
}

#[derive(Default)]
struct Inner {
    /// By (agent id, endpoint URL).
    entries: HashMap<(String, String), Entry>,
    /// True after the first sync: endpoints that join later ramp up under slow start, while those
    /// of a node's first config start at full weight.
    synced: bool,
    /// The settings the running checkers use.
    health_check: Option<Arc<HealthCheck>>,
    shut_down: bool,
}

struct Entry {
    endpoint: Arc<Endpoint>,
    checker: Option<Checker>,
}

// === impl Registry ===

impl Registry {
    /// An empty registry checking endpoints with an [`HttpProbe`].
    pub fn new() -> Self {
        Self::with_probe(Arc::new(HttpProbe::new()))
    }

    /// An empty registry checking endpoints with `probe`.
    pub fn with_probe(probe: Arc<dyn Probe>) -> Self {
        Self {
            probe,
            inner: Mutex::new(Inner::default()),
            tables: crate::balance::Tables::default(),
            node_labels: Mutex::new(None),
            budgets: Mutex::new(HashMap::new()),
        }
    }

    /// [`sync_with`](Self::sync_with) the default latency decay.
    pub fn sync(
        &self,
        agents: &[StaticAgent],
        hc: &HealthCheck,
    ) -> Result<AgentSet, UpstreamError> {
        self.sync_with(agents, hc, super::load::DEFAULT_DECAY)
    }

    /// Reconciles the registry with a snapshot's agents and health-check settings, and returns the
    /// set the snapshot's route table should use.
    ///
    /// An endpoint whose agent id and URL are unchanged keeps its [`Endpoint`] and all its state
    /// (weight, tags and labels are updated in place); a new one gets a new, healthy endpoint whose
    /// slow-start clock starts now (unless this is the first sync); a removed one leaves the registry
    /// and its checker stops. Changed health-check settings restart every checker with the new
    /// settings. `decay` is the latency EWMA's (`loadBalancing.peakEwma.decay`). On error nothing
    /// changes.
    pub fn sync_with(
        &self,
        agents: &[StaticAgent],
        hc: &HealthCheck,
        decay: std::time::Duration,
    ) -> Result<AgentSet, UpstreamError> {
        let mut parsed = Vec::with_capacity(agents.len());
        let mut seen = HashSet::with_capacity(agents.len());
        for a in agents {
            if !seen.insert(a.id.as_str()) {
                return Err(UpstreamError::DuplicateAgent(a.id.clone()));
            }
            let eps = a.all_endpoints();
            if eps.is_empty() {
                return Err(UpstreamError::InvalidEndpoint {
                    agent: a.id.clone(),
                    endpoint: String::new(),
                    reason: "the agent has no endpoint".into(),
                });
            }
            for e in eps {
                let url = Endpoint::parse_url(&a.id, &e.url)?;
                // Integer maths: 100 × 100 is the largest common product, far from overflow.
                let weight = (u64::from(a.weight) * u64::from(e.weight) / 100).max(1);
                let labels: Vec<(String, String)> = e.labels.into_iter().collect();
                parsed.push((a, url, u32::try_from(weight).unwrap_or(u32::MAX), labels));
            }
        }
        let mut inner = self.lock();
        let checking = hc.enabled && !inner.shut_down;
        let rt = if checking {
            PathAndQuery::try_from(hc.path.as_str()).map_err(|e| UpstreamError::InvalidPath {
                path: hc.path.clone(),
                reason: e.to_string(),
            })?;
            Some(Handle::try_current().map_err(|_| UpstreamError::NoRuntime)?)
        } else {
            None
        };

        let restart = inner.health_check.as_deref() != Some(hc);
        let settings = if restart {
            Arc::new(hc.clone())
        } else {
            inner
                .health_check
                .clone()
                .unwrap_or_else(|| Arc::new(hc.clone()))
        };
        let first = !inner.synced;
        let mut old = std::mem::take(&mut inner.entries);
        let mut endpoints = Vec::with_capacity(parsed.len());
        for (a, url, weight, labels) in parsed {
            let key = (a.id.clone(), url.to_string());
            let mut entry = match old.remove(&key) {
                Some(e) => {
                    e.endpoint.update(weight, &a.tags, &labels);
                    e
                }
                None => {
                    tracing::info!(agent = %a.id, endpoint = %url, "agent endpoint added");
                    let endpoint = Endpoint::new(&a.id, url, weight, &a.tags, &labels);
                    if !first {
                        endpoint.load().start_ramp();
                    }
                    Entry {
                        endpoint: Arc::new(endpoint),
                        checker: None,
                    }
                }
            };
            entry.endpoint.load().set_decay(decay);
            match &rt {
                Some(rt) if entry.checker.is_none() || restart => {
                    // Stop the old checker before its successor starts.
                    entry.checker = None;
                    entry.checker = self.start_checker(rt, &entry.endpoint, &settings);
                }
                Some(_) => {}
                None => {
                    if entry.checker.take().is_some() {
                        entry.endpoint.forget_checks("health checks stopped");
                    }
                }
            }
            endpoints.push(Arc::clone(&entry.endpoint));
            inner.entries.insert(key, entry);
        }
        for (id, url) in old.keys() {
            tracing::info!(agent = %id, endpoint = %url, "agent endpoint removed");
        }
        drop(old);
        inner.synced = true;
        inner.health_check = checking.then_some(settings);
        Ok(AgentSet::new(endpoints))
    }

    /// Every endpoint's health, sorted by agent id, for `/health`.
    pub fn health(&self) -> Vec<EndpointHealth> {
        let inner = self.lock();
        let mut out: Vec<_> = inner
            .entries
            .values()
            .map(|e| e.endpoint.health())
            .collect();
        out.sort_by(|a, b| (&a.agent, &a.endpoint).cmp(&(&b.agent, &b.endpoint)));
        out
    }

    /// The first endpoint of agent `id` (in URL order), as of the latest sync.
    pub fn get(&self, id: &str) -> Option<Arc<Endpoint>> {
        let inner = self.lock();
        let mut mine: Vec<_> = inner.entries.iter().filter(|((a, _), _)| a == id).collect();
        mine.sort_by(|x, y| x.0.1.cmp(&y.0.1));
        mine.first().map(|(_, e)| Arc::clone(&e.endpoint))
    }

    /// The balancers' consistent-hash tables.
    pub fn tables(&self) -> &crate::balance::Tables {
        &self.tables
    }

    /// Sets the node's own labels (from `--label`), which `locality` prefers.
    pub fn set_node_labels(&self, labels: std::collections::BTreeMap<String, String>) {
        *self
            .node_labels
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(labels);
    }

    /// The retry budget of agent `id`, made on first use.
    pub fn retry_budget(&self, id: &str) -> Arc<super::RetryBudget> {
        let mut budgets = self.budgets.lock().unwrap_or_else(PoisonError::into_inner);
        budgets.entry(id.to_string()).or_default().clone()
    }

    /// Retries taken so far, by agent id.
    pub fn retries(&self) -> Vec<(String, u64)> {
        let budgets = self.budgets.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<(String, u64)> = budgets
            .iter()
            .map(|(id, b)| (id.clone(), b.retries_total()))
            .collect();
        out.sort();
        out
    }

    /// The node's labels, if set.
    pub fn node_labels(&self) -> Option<std::collections::BTreeMap<String, String>> {
        self.node_labels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stops every health checker; later syncs still reconcile endpoints but start no checker.
    pub fn shutdown(&self) {
        let mut inner = self.lock();
        inner.shut_down = true;
        inner.health_check = None;
        for e in inner.entries.values_mut() {
            e.checker = None;
        }
    }

    fn start_checker(
        &self,
        rt: &Handle,
        endpoint: &Arc<Endpoint>,
        hc: &Arc<HealthCheck>,
    ) -> Option<Checker> {
        match endpoint.uri_for(&hc.path) {
            Ok(uri) => Some(Checker::spawn(
                rt,
                Arc::clone(endpoint),
                uri,
                Arc::clone(hc),
                Arc::clone(&self.probe),
            )),
            Err(e) => {
                tracing::warn!(
                    agent = endpoint.agent_id(),
                    error = %e,
                    "endpoint not health-checked"
                );
                endpoint.forget_checks("health checks cannot run");
                None
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Inner is consistent between statements, so a panic elsewhere does not poison its meaning.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("Registry")
            .field("agents", &inner.entries.len())
            .field("health_check", &inner.health_check)
            .field("shut_down", &inner.shut_down)
            .finish_non_exhaustive()
    }
}
