//! The node registry: every data plane seen, its stream, and what it applied or refused.
//!
//! Kept in memory and saved (best effort) through a callback after each change, so `nodes` survives a
//! restart of the control plane, every node shown disconnected until it comes back. Every change is
//! announced on a broadcast channel that rollout watches follow.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use openclaw_proto::discovery::Node;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::broadcast;

/// Saves one node's status (id, JSON bytes); the server passes a closure around the store.
pub(crate) type SaveNode = Box<dyn Fn(&str, &[u8]) + Send + Sync>;

/// Rollout watches that fall this far behind recount from the registry instead: room for a few changes
/// of every node of a large fleet, so a watch keeping up with a rollout does not lag.
const CHANGES_BUFFER: usize = 8192;

/// What is known about one node; the persisted form is this struct as JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct NodeRecord {
    /// The node's id.
    pub(crate) id: String,
    /// Its labels, as last announced.
    pub(crate) labels: BTreeMap<String, String>,
    /// Peer address of its last stream.
    pub(crate) address: String,
    /// The version it last applied (ACKed, or announced holding exactly).
    pub(crate) applied_version: u64,
    /// RFC 3339 time of the last ACK, empty when never.
    pub(crate) last_ack: String,
    /// RFC 3339 time of the last NACK, empty when never.
    pub(crate) last_nack: String,
    /// Why it refused the last version it NACKed; cleared by a later ACK.
    pub(crate) nack_error: String,
    /// The version it NACKed last, 0 when none since its last ACK.
    pub(crate) nacked_version: u64,
    /// Its software version.
    pub(crate) software_version: String,
    /// Keys its local layers override.
    pub(crate) local_overrides: Vec<String>,
    /// Central settings that need its restart.
    pub(crate) restart_required: Vec<String>,
    /// A stream of it is open (never persisted: after a restart every node is disconnected).
    #[serde(skip)]
    pub(crate) connected: bool,
    /// Which stream is the current one, so the end of a replaced stream does not disconnect it.
    #[serde(skip)]
    stream: u64,
}

/// One change of a node's state, for rollout watches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NodeChange {
    /// The node.
    pub(crate) node_id: String,
    /// Its applied version after the change.
    pub(crate) applied_version: u64,
    /// Set when the change is a NACK: the version refused and why.
    pub(crate) nacked: Option<(u64, String)>,
}

/// Every node seen.
pub(crate) struct Registry {
    nodes: Mutex<BTreeMap<String, NodeRecord>>,
    save: SaveNode,
    changes: broadcast::Sender<NodeChange>,
    streams: AtomicU64,
}

// === impl Registry ===

impl Registry {
    /// A registry starting from persisted records (unreadable ones are skipped with a warning).
    pub(crate) fn new(persisted: Vec<(String, Vec<u8>)>, save: SaveNode) -> Self {
        let mut nodes = BTreeMap::new();
        for (id, bytes) in persisted {
            match serde_json::from_slice::<NodeRecord>(&bytes) {
                Ok(mut record) => {
                    record.id.clone_from(&id);
                    nodes.insert(id, record);
                }
                Err(e) => tracing::warn!(node = %id, error = %e, "skipping unreadable node status"),
            }
        }
        Self {
            nodes: Mutex::new(nodes),
            save,
            changes: broadcast::channel(CHANGES_BUFFER).0,
            streams: AtomicU64::new(1),
        }
    }

    /// Follows every change from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<NodeChange> {
        self.changes.subscribe()
    }

    /// Every node, by id.
    pub(crate) fn records(&self) -> Vec<NodeRecord> {
        self.lock().values().cloned().collect()
    }

    /// Reads every node in place (no copies; keep `f` short, it holds the registry's lock).
    pub(crate) fn inspect<R>(&self, f: impl FnOnce(&BTreeMap<String, NodeRecord>) -> R) -> R {
        f(&self.lock())
    }

    /// A stream of `node` opened from `address`; returns the stream's token for [`Self::disconnect`].
    pub(crate) fn connect(&self, node: &Node, address: Option<SocketAddr>) -> u64 {
        let stream = self.streams.fetch_add(1, Ordering::Relaxed);
        self.change(&node.id, None, |r| {
            describe(r, node);
            r.address = address.map(|a| a.to_string()).unwrap_or_default();
            r.connected = true;
            r.stream = stream;
        });
        stream
    }

    /// A later request repeated `node`: its labels, overrides or restart list may have changed.
    pub(crate) fn describe(&self, id: &str, node: &Node) {
        self.change(id, None, |r| describe(r, node));
    }

    /// The node applied `version` (ACK, or it announced holding exactly that).
    pub(crate) fn applied(&self, id: &str, version: u64) {
        let now = now();
        self.change(id, None, |r| {
            r.applied_version = version;
            r.last_ack = now;
            r.nack_error.clear();
            r.nacked_version = 0;
        });
    }

    /// The node refused `version`; it keeps running what it applied before.
    pub(crate) fn nacked(&self, id: &str, version: u64, error: &str) {
        let now = now();
        let nack = Some((version, error.to_owned()));
        self.change(id, nack, |r| {
            r.last_nack = now;
            r.nack_error = error.to_owned();
            r.nacked_version = version;
        });
    }

    /// Stream `stream` of node `id` ended; the node is disconnected unless a newer stream replaced it.
    pub(crate) fn disconnect(&self, id: &str, stream: u64) {
        let current = self.lock().get(id).is_some_and(|r| r.stream == stream);
        if current {
            self.change(id, None, |r| r.connected = false);
        }
    }

    /// Applies `edit` to node `id` (created if new), saves it and announces the change.
    fn change(&self, id: &str, nacked: Option<(u64, String)>, edit: impl FnOnce(&mut NodeRecord)) {
        let (bytes, applied_version) = {
            let mut nodes = self.lock();
            let record = nodes.entry(id.to_owned()).or_insert_with(|| NodeRecord {
                id: id.to_owned(),
                ..NodeRecord::default()
            });
            edit(record);
            (serde_json::to_vec(&*record), record.applied_version)
        };
        match bytes {
            // Saved outside the lock: a slow disk never stalls other streams' bookkeeping.
            Ok(bytes) => (self.save)(id, &bytes),
            Err(e) => tracing::warn!(node = %id, error = %e, "cannot encode node status"),
        }
        // No subscriber is fine: nobody is watching a rollout.
        let _ = self.changes.send(NodeChange {
            node_id: id.to_owned(),
            applied_version,
            nacked,
        });
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, NodeRecord>> {
        self.nodes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn describe(r: &mut NodeRecord, node: &Node) {
    r.labels = node
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    r.software_version.clone_from(&node.software_version);
    r.local_overrides.clone_from(&node.local_overrides);
    r.restart_required.clone_from(&node.restart_required);
}

/// Now, RFC 3339 in UTC (empty if the clock cannot be formatted).
fn now() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}
