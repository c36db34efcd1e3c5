//! A desired snapshot split into resources and encoded once, shared by every stream.
//!
//! Splitting, canonical encoding and hashing happen here, once per published version; streams only
//! compare hashes and copy the ready [`Resource`]s into their responses (go-control-plane once
//! marshalled per client, its issue #238). Likewise the delta from one snapshot to the next is
//! computed once and shared by every stream whose node holds the first: a patch costs each stream
//! O(changed resources), not a walk over the whole document. A delta is also encoded once
//! ([`Delta::encoded`]): a thousand nodes syncing from nothing share one buffer of the full snapshot
//! instead of each holding its own copy until its stream has sent it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use openclaw_config::resources::{AGENT_PREFIX, RULE_PREFIX, SetDigest, split};
use openclaw_config::{canonical_bytes, content_hash};
use openclaw_proto::discovery::{DiscoveryResponse, Resource};
use prost::Message;

use crate::store::StoredVersion;

/// One version of the document as resources, ready to send.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// The stored version number.
    pub(crate) version: u64,
    /// Hex SHA-256 of the canonical document (`snapshot_hash`).
    pub(crate) hash: String,
    /// The [`SetDigest`] of its resources, hex (`set_digest`).
    pub(crate) set_digest: String,
    /// Every resource by name.
    by_name: BTreeMap<String, Arc<Resource>>,
    /// The same resources in sending order: agents, then sections, then rules ("make before break").
    ordered: Vec<Arc<Resource>>,
    /// Deltas to this snapshot from the snapshots nodes held, by the held snapshot's hash (a few).
    deltas: Mutex<Vec<(String, Arc<Delta>)>>,
}

/// How many deltas a snapshot remembers (from the previous versions nodes still hold).
const DELTAS_KEPT: usize = 8;

/// What the nodes should run: the encoded form of [`Desired`](crate::versions::Desired).
#[derive(Debug)]
pub(crate) struct Target {
    /// For every node the canary does not select.
    pub(crate) stable: Arc<Snapshot>,
    /// The canary snapshot and its label selector.
    pub(crate) canary: Option<(Arc<Snapshot>, BTreeMap<String, String>)>,
}

/// What a node holds: either exactly a snapshot it ACKed, or the names and hashes it announced.
#[derive(Debug, Clone)]
pub(crate) enum Holding {
    /// The resources of this snapshot (shared, not copied per node).
    Snapshot(Arc<Snapshot>),
    /// Name → hash, as announced in `initial_resource_versions`.
    Announced(HashMap<String, String>),
}

/// The resources to send and the names to remove to bring a node to a snapshot.
#[derive(Debug, Default)]
pub(crate) struct Delta {
    /// Added or changed, in sending order (shared with the snapshot).
    pub(crate) resources: Vec<Arc<Resource>>,
    /// `resources` as the protobuf encoding of `DiscoveryResponse.resources`, shared by every
    /// response carrying this delta.
    pub(crate) encoded: Bytes,
    /// Held but gone.
    pub(crate) removed: Vec<String>,
}

/// The delta cache's key for a node that announced holding nothing (a snapshot hash is never empty).
const FROM_NOTHING: &str = "";

// === impl Snapshot ===

impl Snapshot {
    /// Splits and encodes one stored version.
    pub(crate) fn encode(stored: &StoredVersion) -> Self {
        let by_name: BTreeMap<String, Arc<Resource>> = split(&stored.doc)
            .into_iter()
            .map(|(name, value)| {
                let resource = Resource {
                    name: name.clone(),
                    version: content_hash(&value),
                    body: canonical_bytes(&value).into(),
                };
                (name, Arc::new(resource))
            })
            .collect();
        let mut ordered: Vec<Arc<Resource>> = by_name.values().cloned().collect();
        ordered.sort_by(|a, b| rank(&a.name).cmp(&rank(&b.name)));
        let digest = SetDigest::of(
            by_name
                .values()
                .map(|r| (r.name.as_str(), r.version.as_str())),
        );
        Self {
            version: stored.meta.version,
            hash: content_hash(&stored.doc),
            set_digest: digest.to_hex(),
            by_name,
            ordered,
            deltas: Mutex::new(Vec::new()),
        }
    }

    /// The content hash of resource `name`, if the snapshot has it.
    pub(crate) fn hash_of(&self, name: &str) -> Option<&str> {
        self.by_name.get(name).map(|r| r.version.as_str())
    }

    /// True when `holding` is exactly this snapshot's resources.
    pub(crate) fn is_held_in(&self, holding: &Holding) -> bool {
        match holding {
            Holding::Snapshot(s) => s.hash == self.hash && s.by_name.len() == self.by_name.len(),
            Holding::Announced(map) => {
                map.len() == self.by_name.len()
                    && map.iter().all(|(n, h)| self.hash_of(n) == Some(h.as_str()))
            }
        }
    }

    /// What to send a node holding `holding` so it holds this snapshot: computed once per held
    /// snapshot (or for holding nothing) and shared, or computed afresh for a node that announced
    /// some other set.
    pub(crate) fn delta(&self, holding: &Holding) -> Arc<Delta> {
        let key = match holding {
            Holding::Snapshot(from) => from.hash.as_str(),
            Holding::Announced(map) if map.is_empty() => FROM_NOTHING,
            Holding::Announced(_) => return Arc::new(self.compute_delta(holding)),
        };
        let cached = self
            .deltas
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|(hash, _)| *hash == key)
            .map(|(_, d)| d.clone());
        if let Some(delta) = cached {
            return delta;
        }
        // Computed outside the lock; streams racing here at most compute it twice.
        let delta = Arc::new(self.compute_delta(holding));
        let mut deltas = self.deltas.lock().unwrap_or_else(PoisonError::into_inner);
        if !deltas.iter().any(|(hash, _)| *hash == key) {
            if deltas.len() >= DELTAS_KEPT {
                deltas.remove(0);
            }
            deltas.push((key.to_owned(), delta.clone()));
        }
        delta
    }

    fn compute_delta(&self, holding: &Holding) -> Delta {
        let resources: Vec<Arc<Resource>> = self
            .ordered
            .iter()
            .filter(|r| holding.hash_of(&r.name) != Some(r.version.as_str()))
            .cloned()
            .collect();
        // Only `resources` set: every other field is at its default, so this is exactly the
        // encoding of the repeated field, which a response may carry next to its own fields.
        let encoded = DiscoveryResponse {
            resources: resources.iter().map(|r| Resource::clone(r)).collect(),
            ..DiscoveryResponse::default()
        }
        .encode_to_vec()
        .into();
        let removed = holding
            .names()
            .into_iter()
            .filter(|n| !self.by_name.contains_key(*n))
            .map(str::to_owned)
            .collect();
        Delta {
            resources,
            encoded,
            removed,
        }
    }
}

// === impl Target ===

impl Target {
    /// Encodes `stable` and the canary, reusing snapshots of `previous` whose version and hash match.
    pub(crate) fn encode(
        stable: &StoredVersion,
        canary: Option<(&StoredVersion, &BTreeMap<String, String>)>,
        previous: Option<&Target>,
    ) -> Self {
        let reuse = |v: &StoredVersion| {
            previous
                .into_iter()
                .flat_map(Target::snapshots)
                .find(|s| s.version == v.meta.version && s.hash == v.meta.hash)
                .cloned()
                .unwrap_or_else(|| Arc::new(Snapshot::encode(v)))
        };
        Self {
            stable: reuse(stable),
            canary: canary.map(|(v, selector)| (reuse(v), selector.clone())),
        }
    }

    /// The snapshot for a node with `labels`, and whether it is the canary's.
    pub(crate) fn for_labels(&self, labels: &BTreeMap<String, String>) -> (&Arc<Snapshot>, bool) {
        match &self.canary {
            Some((snapshot, selector)) if selects(selector, labels) => (snapshot, true),
            _ => (&self.stable, false),
        }
    }

    /// The version a rollout watch without a version follows: the canary's, else the stable one.
    pub(crate) fn current_version(&self) -> u64 {
        self.canary
            .as_ref()
            .map_or(self.stable.version, |(s, _)| s.version)
    }

    /// The newest version any node is sent.
    pub(crate) fn newest_version(&self) -> u64 {
        self.snapshots().map(|s| s.version).max().unwrap_or(0)
    }

    fn snapshots(&self) -> impl Iterator<Item = &Arc<Snapshot>> {
        std::iter::once(&self.stable).chain(self.canary.as_ref().map(|(s, _)| s))
    }
}

// === impl Holding ===

impl Holding {
    fn hash_of(&self, name: &str) -> Option<&str> {
        match self {
            Holding::Snapshot(s) => s.hash_of(name),
            Holding::Announced(map) => map.get(name).map(String::as_str),
        }
    }

    fn names(&self) -> Vec<&str> {
        match self {
            Holding::Snapshot(s) => s.by_name.keys().map(String::as_str).collect(),
            Holding::Announced(map) => map.keys().map(String::as_str).collect(),
        }
    }
}

/// True when `labels` carry every pair of `selector` (an empty selector selects every node).
pub(crate) fn selects(
    selector: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Sending order: what others reference (agents, sections) before what references them (rules).
fn rank(name: &str) -> (u8, &str) {
    if name.starts_with(AGENT_PREFIX) {
        (0, name)
    } else if name.starts_with(RULE_PREFIX) {
        (2, name)
    } else {
        (1, name)
    }
}
