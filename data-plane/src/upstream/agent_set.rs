//! The agents one route table sees: an immutable map from agent id to the registry's long-lived
//! [`Endpoint`], and round-robin selection among the healthy ones.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::endpoint::Endpoint;
use fxhash::FxHashMap;

/// Agent id → endpoint, as of one snapshot; built by [`Registry::sync`](super::Registry::sync).
///
/// Cheap to clone. Endpoints are shared with the registry, so their health and counters stay live.
#[derive(Clone, Debug, Default)]
pub struct AgentSet {
    inner: Arc<Inner>,
}

/// The endpoints of one target list (a rule's target or fallback), resolved when the table is
/// compiled, and its round-robin cursor: picking then looks nothing up by name.
#[derive(Debug, Default)]
pub struct Choices {
    /// In the list's order; ids the set does not hold are left out.
    endpoints: Box<[Arc<Endpoint>]>,
    next: AtomicUsize,
}

#[derive(Debug, Default)]
struct Inner {
    /// In configuration order.
    endpoints: Vec<Arc<Endpoint>>,
    by_id: FxHashMap<String, usize>,
}

// === impl AgentSet ===

impl AgentSet {
    /// A set of `endpoints`, in configuration order; ids must be unique.
    pub(super) fn new(endpoints: Vec<Arc<Endpoint>>) -> Self {
        let by_id = endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| (e.agent_id().to_owned(), i))
            .collect();
        Self {
            inner: Arc::new(Inner { endpoints, by_id }),
        }
    }

    /// The endpoint of agent `id`.
    pub fn get(&self, id: &str) -> Option<&Arc<Endpoint>> {
        self.inner.by_id.get(id).map(|&i| &self.inner.endpoints[i])
    }

    /// Every endpoint, in configuration order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Arc<Endpoint>> {
        self.inner.endpoints.iter()
    }

    /// How many agents the set holds.
    pub fn len(&self) -> usize {
        self.inner.endpoints.len()
    }

    /// True when the set holds no agent.
    pub fn is_empty(&self) -> bool {
        self.inner.endpoints.is_empty()
    }

    /// The endpoints of `agents` (ids this set does not hold are skipped), to pick among.
    pub fn choices(&self, agents: &[String]) -> Choices {
        Choices {
            endpoints: agents
                .iter()
                .filter_map(|id| self.get(id))
                .cloned()
                .collect(),
            next: AtomicUsize::new(0),
        }
    }
}

// === impl Choices ===

impl Choices {
    /// The next healthy endpoint, round robin; `None` when none is healthy.
    pub fn pick(&self) -> Option<Arc<Endpoint>> {
        let all = &*self.endpoints;
        if let [only] = all {
            return only.is_healthy().then(|| only.clone());
        }
        let healthy = || all.iter().filter(|e| e.is_healthy());
        // Two passes instead of collecting, so picking never allocates.
        let count = healthy().count();
        if count == 0 {
            return None;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed) % count;
        // Health may change between the passes; then any healthy one will do.
        healthy().nth(n).or_else(|| healthy().next()).cloned()
    }
}
