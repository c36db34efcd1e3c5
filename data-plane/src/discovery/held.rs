//! What a node holds, and how one response changes it.
//!
//! The node keeps every resource of its last applied snapshot (name → content hash and value). A
//! response is first *staged* on a copy: each resource is parsed and its hash checked, removals are
//! applied, the snapshot is reassembled with [`openclaw_config::resources::assemble`] and its hash
//! compared with `snapshot_hash`. Only an ACK *commits* the staged copy; a NACK drops it, so the node
//! keeps exactly what it held and the control plane's bookkeeping stays in step with it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use openclaw_config::content_hash;
use openclaw_config::resources::{assemble, split};
use openclaw_proto::discovery::DiscoveryResponse;
use serde_json::Value;

use super::ClientError;

/// One resource held: the hex SHA-256 of its canonical JSON, and the value.
#[derive(Clone, Debug, PartialEq)]
struct Entry {
    hash: String,
    value: Arc<Value>,
}

/// The resources a node holds, with the version and hash of the snapshot they make up.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Held {
    resources: BTreeMap<String, Entry>,
    version: u64,
    hash: String,
}

/// A response checked against what the node holds, waiting for the node's ACK (commit) or NACK (drop).
#[derive(Clone, Debug)]
pub struct Staged {
    resources: BTreeMap<String, Entry>,
    version: u64,
    hash: String,
}

/// A whole document received from the control plane, reassembled and verified.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// The control plane's version number of this document.
    pub version: u64,
    /// Hex SHA-256 of the canonical document ([`openclaw_config::content_hash`]).
    pub hash: String,
    /// The document, `{"gateway": {...}}`, with `${VAR}` placeholders as stored.
    pub doc: Value,
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
        let resources = split(doc)
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
            resources,
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
        assemble(&values(&self.resources)).ok()
    }

    /// Checks `response` against what is held and builds the snapshot it leads to; an error is the
    /// message to NACK with.
    pub fn stage(&self, response: &DiscoveryResponse) -> Result<(Staged, Snapshot), ClientError> {
        let version = response.version_info;
        let reject =
            |msg: String| ClientError::InvalidResponse(format!("version {version}: {msg}"));
        let mut next = self.resources.clone();
        let mut seen = HashSet::new();
        for r in &response.resources {
            if !seen.insert(r.name.as_str()) {
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
            next.insert(
                r.name.clone(),
                Entry {
                    hash,
                    value: Arc::new(value),
                },
            );
        }
        for name in &response.removed_resources {
            if seen.contains(name.as_str()) {
                return Err(reject(format!("resource {name} both sent and removed")));
            }
            // Removing what the node does not hold is harmless: the end state is what counts.
            next.remove(name);
        }
        let doc =
            assemble(&values(&next)).map_err(|e| reject(format!("cannot reassemble: {e}")))?;
        let hash = content_hash(&doc);
        if hash != response.snapshot_hash {
            return Err(reject(format!(
                "reassembled snapshot hashes to {hash}, expected {}",
                response.snapshot_hash
            )));
        }
        let staged = Staged {
            resources: next,
            version,
            hash: hash.clone(),
        };
        Ok((staged, Snapshot { version, hash, doc }))
    }

    /// Makes a staged response what the node holds (after it was applied and ACKed).
    pub fn commit(&mut self, staged: Staged) {
        self.resources = staged.resources;
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

    /// The hash of the document it leads to.
    pub fn snapshot_hash(&self) -> &str {
        &self.hash
    }
}

fn values(resources: &BTreeMap<String, Entry>) -> BTreeMap<String, Value> {
    resources
        .iter()
        .map(|(name, e)| (name.clone(), Value::clone(&e.value)))
        .collect()
}

#[cfg(test)]
pub(crate) mod tests;
