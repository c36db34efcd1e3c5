//! The agents one route table sees: an immutable map from agent id to the registry's long-lived
//! [`Endpoint`]s of that agent (one or several), for the balancers to pick among.

use std::ops::Range;
use std::sync::Arc;

use super::endpoint::Endpoint;
use fxhash::FxHashMap;

/// Agent id → endpoints, as of one snapshot; built by [`Registry::sync`](super::Registry::sync).
///
/// Cheap to clone. Endpoints are shared with the registry, so their health and counters stay live.
#[derive(Clone, Debug, Default)]
pub struct AgentSet {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// In configuration order, each agent's endpoints together.
    endpoints: Vec<Arc<Endpoint>>,
    /// Each agent's run in `endpoints`.
    by_id: FxHashMap<String, Range<usize>>,
    /// Agent ids in configuration order.
    ids: Vec<String>,
}

// === impl AgentSet ===

impl AgentSet {
    /// A set of `endpoints`, in configuration order, each agent's endpoints next to each other.
    pub(super) fn new(endpoints: Vec<Arc<Endpoint>>) -> Self {
        let mut by_id: FxHashMap<String, Range<usize>> = FxHashMap::default();
        let mut ids = Vec::new();
        for (i, e) in endpoints.iter().enumerate() {
            match by_id.get_mut(e.agent_id()) {
                Some(r) => r.end = i + 1,
                None => {
                    ids.push(e.agent_id().to_owned());
                    by_id.insert(e.agent_id().to_owned(), i..i + 1);
                }
            }
        }
        Self {
            inner: Arc::new(Inner {
                endpoints,
                by_id,
                ids,
            }),
        }
    }

    /// The first endpoint of agent `id` (its only one, for an agent with a single `endpoint`).
    pub fn get(&self, id: &str) -> Option<&Arc<Endpoint>> {
        self.endpoints_of(id).and_then(<[_]>::first)
    }

    /// Every endpoint of agent `id`.
    pub fn endpoints_of(&self, id: &str) -> Option<&[Arc<Endpoint>]> {
        self.inner
            .by_id
            .get(id)
            .map(|r| &self.inner.endpoints[r.clone()])
    }

    /// Every endpoint, in configuration order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Arc<Endpoint>> {
        self.inner.endpoints.iter()
    }

    /// The agent ids, in configuration order.
    pub fn ids(&self) -> impl ExactSizeIterator<Item = &str> {
        self.inner.ids.iter().map(String::as_str)
    }

    /// How many endpoints the set holds.
    pub fn len(&self) -> usize {
        self.inner.endpoints.len()
    }

    /// True when the set holds no endpoint.
    pub fn is_empty(&self) -> bool {
        self.inner.endpoints.is_empty()
    }

    /// The endpoints of `agents`, in order (ids this set does not hold are skipped): a pool to
    /// balance over.
    pub fn pool(&self, agents: &[String]) -> Vec<Arc<Endpoint>> {
        agents
            .iter()
            .filter_map(|id| self.endpoints_of(id))
            .flatten()
            .cloned()
            .collect()
    }
}
