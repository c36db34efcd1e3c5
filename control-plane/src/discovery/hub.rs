//! The hub: the desired state every stream follows, and the registry of nodes.
//!
//! [`Hub::publish`] encodes a new desired state once and replaces the value of a `watch` channel;
//! each stream task reads the latest value when it is ready to send, so a slow node skips straight to
//! the newest version and never holds up the others (no per-node queue, no global lock held while
//! streams send).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::watch;

use super::registry::{Registry, SaveNode};
use super::snapshot::Target;
use crate::versions::{Desired, Publish};

/// The desired state and every node's bookkeeping, shared by the discovery streams and the admin API.
pub(crate) struct Hub {
    desired: watch::Sender<Option<Arc<Target>>>,
    pub(super) registry: Arc<Registry>,
    nonces: AtomicU64,
}

// === impl Hub ===

impl Hub {
    /// A hub serving `initial` (`None`: nothing to send until the first publish), remembering the
    /// `persisted_nodes` (id, bytes as saved) and saving each node's status through `save_node`.
    pub(crate) fn new(
        initial: impl Into<Option<Desired>>,
        persisted_nodes: Vec<(String, Vec<u8>)>,
        save_node: SaveNode,
    ) -> Arc<Hub> {
        let target = initial.into().map(|d| Arc::new(encode(&d, None)));
        Arc::new(Hub {
            desired: watch::Sender::new(target),
            registry: Arc::new(Registry::new(persisted_nodes, save_node)),
            nonces: AtomicU64::new(1),
        })
    }

    /// Follows the desired state.
    pub(super) fn subscribe(&self) -> watch::Receiver<Option<Arc<Target>>> {
        self.desired.subscribe()
    }

    /// The desired state now.
    pub(super) fn target(&self) -> Option<Arc<Target>> {
        self.desired.borrow().clone()
    }

    /// A nonce never used before on this control plane: a counter, plus randomness so nonces of a
    /// restarted control plane do not repeat the previous one's.
    pub(super) fn next_nonce(&self) -> String {
        let n = self.nonces.fetch_add(1, Ordering::Relaxed);
        format!("{n:x}-{:08x}", rand::random::<u32>())
    }
}

impl Publish for Hub {
    fn publish(&self, desired: Desired) {
        let previous = self.target();
        let target = encode(&desired, previous.as_deref());
        tracing::debug!(
            stable = target.stable.version,
            canary = target.canary.as_ref().map(|(s, _)| s.version),
            "publishing desired state"
        );
        self.desired.send_replace(Some(Arc::new(target)));
    }
}

fn encode(desired: &Desired, previous: Option<&Target>) -> Target {
    let canary = desired
        .canary
        .as_ref()
        .map(|(v, sel): &(_, BTreeMap<String, String>)| (v.as_ref(), sel));
    Target::encode(&desired.stable, canary, previous)
}
