//! What a node holds, and how one response changes it.
//!
//! The node keeps every resource of its last applied snapshot (name → content hash and value) in a
//! shared map, with the [`SetDigest`] of the (name, hash) pairs. A response is first *staged* as a
//! delta, without copying what is held: each resource sent is parsed and its hash checked, and the
//! digest is updated for what is sent and removed and compared with the response's `set_digest`, all in
//! O(changed resources). Only an ACK *commits* the delta; a NACK drops it, so the node keeps exactly what
//! it held and the control plane's bookkeeping stays in step with it.
//!
//! Reassembling the whole document and checking `snapshot_hash` is left to [`Snapshot::document`], so
//! only a node that applies the document pays for it (once per snapshot, cached).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use openclaw_config::content_hash;
use openclaw_config::resources::{SetDigest, assemble, split};
use openclaw_proto::discovery::DiscoveryResponse;
use serde_json::Value;

use super::ClientError;

/// One resource held: the hex SHA-256 of its canonical JSON, and the value.
#[derive(Clone, Debug, PartialEq)]
struct Entry {
    hash: String,
    value: Arc<Value>,
}

/// Every resource held, by name; shared by [`Held`] and the [`Snapshot`]s staged on it.
type Resources = Arc<BTreeMap<String, Entry>>;

/// What one response changes: a resource set (`Some`) or removed (`None`), in the response's order.
type Changes = Arc<Vec<(String, Option<Entry>)>>;

/// The resources a node holds, with the version and hash of the snapshot they make up.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Held {
    resources: Resources,
    digest: SetDigest,
    version: u64,
    hash: String,
}

/// A response checked against what the node holds, waiting for the node's ACK (commit) or NACK (drop).
#[derive(Clone, Debug)]
pub struct Staged {
    changes: Changes,
    digest: SetDigest,
    version: u64,
    hash: String,
}

/// A snapshot received from the control plane: what was held plus one checked delta.
///
/// Its set of resources is verified (each resource's hash and the set digest); the whole document is
/// reassembled, and checked against [`hash`](Self::hash), only when [`document`](Self::document) is
/// first called.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// The control plane's version number of this document.
    pub version: u64,
    /// Hex SHA-256 of the canonical document ([`openclaw_config::content_hash`]), as announced.
    pub hash: String,
    base: Resources,
    changes: Changes,
    doc: OnceLock<Result<Value, String>>,
}

// === impl Held ===

impl Held {
    /// Holds nothing: the first stream asks for everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Holds the resources of `doc`, a snapshot applied before (e.g. read back from disk at start), so
    /// the first stream asks only for what changed since.
    pub fn from_snapshot(version: u64, doc: &Value) -> Self {
        let resources: BTreeMap<String, Entry> = split(doc)
            .into_iter()
            .map(|(name, value)| {
                let entry = Entry {
                    hash: content_hash(&value),
                    value: Arc::new(value),
                };
                (name, entry)
            })
            .collect();
        Self {
            digest: SetDigest::of(resources.iter().map(|(n, e)| (n.as_str(), e.hash.as_str()))),
            resources: Arc::new(resources),
            version,
            hash: content_hash(doc),
        }
    }

    /// The version of the snapshot held (0 when none).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The hash of the snapshot held (empty when none).
    pub fn snapshot_hash(&self) -> &str {
        &self.hash
    }

    /// The digest of the (name, hash) set held ([`SetDigest`]).
    pub fn set_digest(&self) -> SetDigest {
        self.digest
    }

    /// How many resources are held.
    pub fn len(&self) -> usize {
        self.resources.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    /// Name → content hash of every resource held: a new stream's `initial_resource_versions`.
    pub fn resource_versions(&self) -> HashMap<String, String> {
        self.resources
            .iter()
            .map(|(name, e)| (name.clone(), e.hash.clone()))
            .collect()
    }

    /// The document held, reassembled (`None` when nothing is held).
    pub fn document(&self) -> Option<Value> {
        if self.resources.is_empty() {
            return None;
        }
        assemble(&values(&self.resources, &[])).ok()
    }

    /// Checks `response` against what is held, in O(resources sent and removed), and returns the
    /// delta to commit on ACK with the snapshot it leads to; an error is the message to NACK with.
    pub fn stage(&self, response: &DiscoveryResponse) -> Result<(Staged, Snapshot), ClientError> {
        let version = response.version_info;
        let reject =
            |msg: String| ClientError::InvalidResponse(format!("version {version}: {msg}"));
        let mut changes = Vec::with_capacity(response.resources.len());
        let mut digest = self.digest;
        let mut sent = HashSet::with_capacity(response.resources.len());
        for r in &response.resources {
            if !sent.insert(r.name.as_str()) {
                return Err(reject(format!("resource {} sent twice", r.name)));
            }
            let value: Value = serde_json::from_slice(&r.body)
                .map_err(|e| reject(format!("resource {} is not JSON: {e}", r.name)))?;
            let hash = content_hash(&value);
            if hash != r.version {
                return Err(reject(format!(
                    "resource {} has version {} but its content hashes to {hash}",
                    r.name, r.version
                )));
            }
            if let Some(old) = self.resources.get(&r.name) {
                digest.toggle(&r.name, &old.hash);
            }
            digest.toggle(&r.name, &hash);
            let entry = Entry {
                hash,
                value: Arc::new(value),
            };
            changes.push((r.name.clone(), Some(entry)));
        }
        let mut removed = HashSet::new();
        for name in &response.removed_resources {
            if sent.contains(name.as_str()) {
                return Err(reject(format!("resource {name} both sent and removed")));
            }
            // Removing what the node does not hold (or twice) is harmless: the end state is what counts.
            if let Some(old) = self.resources.get(name)
                && removed.insert(name.as_str())
            {
                digest.toggle(name, &old.hash);
                changes.push((name.clone(), None));
            }
        }
        let changes = Arc::new(changes);
        let snapshot = Snapshot {
            version,
            hash: response.snapshot_hash.clone(),
            base: self.resources.clone(),
            changes: changes.clone(),
            doc: OnceLock::new(),
        };
        if response.set_digest.is_empty() {
            // A control plane that predates the set digest: check the whole document now instead.
            snapshot.document().map_err(|e| reject(e.to_string()))?;
        } else if digest.to_hex() != response.set_digest {
            return Err(reject(format!(
                "the resources held after this response have set digest {digest}, expected {}",
                response.set_digest
            )));
        }
        let staged = Staged {
            changes,
            digest,
            version,
            hash: response.snapshot_hash.clone(),
        };
        Ok((staged, snapshot))
    }

    /// Makes a staged response what the node holds (after it was applied and ACKed). Updates the held
    /// map in place, in O(changed resources), when no [`Snapshot`] or clone of this `Held` still
    /// shares it (otherwise the map is copied once).
    pub fn commit(&mut self, staged: Staged) {
        let resources = Arc::make_mut(&mut self.resources);
        let changes = Arc::try_unwrap(staged.changes).unwrap_or_else(|shared| (*shared).clone());
        for (name, entry) in changes {
            match entry {
                Some(entry) => resources.insert(name, entry),
                None => resources.remove(&name),
            };
        }
        self.digest = staged.digest;
        self.version = staged.version;
        self.hash = staged.hash;
    }
}

// === impl Staged ===

impl Staged {
    /// The version the response completes.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The hash of the document it leads to, as announced.
    pub fn snapshot_hash(&self) -> &str {
        &self.hash
    }
}

// === impl Snapshot ===

impl Snapshot {
    /// The document, `{"gateway": {...}}`, with `${VAR}` placeholders as stored: reassembled from the
    /// resources on the first call (later calls return the same result) and checked against
    /// [`hash`](Self::hash). An error is the message to NACK with.
    pub fn document(&self) -> Result<&Value, ClientError> {
        let version = self.version;
        self.doc
            .get_or_init(|| {
                let doc = assemble(&values(&self.base, &self.changes))
                    .map_err(|e| format!("version {version}: cannot reassemble: {e}"))?;
                let hash = content_hash(&doc);
                if hash != self.hash {
                    return Err(format!(
                        "version {version}: reassembled snapshot hashes to {hash}, expected {}",
                        self.hash
                    ));
                }
                Ok(doc)
            })
            .as_ref()
            .map_err(|e| ClientError::InvalidResponse(e.clone()))
    }
}

/// Owned copies of the values of `base` with `changes` applied, for [`assemble`].
fn values(
    base: &BTreeMap<String, Entry>,
    changes: &[(String, Option<Entry>)],
) -> BTreeMap<String, Value> {
    let mut out: BTreeMap<String, Value> = base
        .iter()
        .map(|(name, e)| (name.clone(), Value::clone(&e.value)))
        .collect();
    for (name, entry) in changes {
        match entry {
            Some(e) => out.insert(name.clone(), Value::clone(&e.value)),
            None => out.remove(name),
        };
    }
    out
}

#[cfg(test)]
pub(crate) mod tests;
