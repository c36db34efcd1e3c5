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
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
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
        }
    }

    /// Reconciles the registry with a snapshot's agents and health-check settings, and returns the
    /// set the snapshot's route table should use.
    ///
    /// An agent whose id and endpoint URL are unchanged keeps its endpoint and all its state
    /// (weight and tags are updated in place); a new or moved one gets a new, healthy endpoint; a
    /// removed one leaves the registry and its checker stops. Changed health-check settings restart every
    /// checker with the new settings. On error nothing changes.
    pub fn sync(
        &self,
        agents: &[StaticAgent],
        hc: &HealthCheck,
    ) -> Result<AgentSet, UpstreamError> {
        let mut urls = Vec::with_capacity(agents.len());
        let mut seen = HashSet::with_capacity(agents.len());
        for a in agents {
            if !seen.insert(a.id.as_str()) {
                return Err(UpstreamError::DuplicateAgent(a.id.clone()));
            }
            urls.push(Endpoint::parse_url(&a.id, &a.endpoint)?);
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
        let mut old = std::mem::take(&mut inner.entries);
        let mut endpoints = Vec::with_capacity(agents.len());
        for (a, url) in agents.iter().zip(urls) {
            let mut entry = match old.remove(&a.id) {
                Some(e) if *e.endpoint.url() == url => {
                    e.endpoint.update(a.weight, &a.tags);
                    e
                }
                moved => {
                    if let Some(e) = moved {
                        tracing::info!(
                            agent = %a.id,
                            from = %e.endpoint.url(),
                            to = %url,
                            "agent endpoint changed"
                        );
                    }
                    Entry {
                        endpoint: Arc::new(Endpoint::new(&a.id, url, a.weight, &a.tags)),
                        checker: None,
                    }
                }
            };
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
            inner.entries.insert(a.id.clone(), entry);
        }
        for id in old.keys() {
            tracing::info!(agent = %id, "agent removed");
        }
        drop(old);
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
        out.sort_by(|a, b| a.agent.cmp(&b.agent));
        out
    }

    /// The endpoint of agent `id`, as of the latest sync.
    pub fn get(&self, id: &str) -> Option<Arc<Endpoint>> {
        self.lock().entries.get(id).map(|e| Arc::clone(&e.endpoint))
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
