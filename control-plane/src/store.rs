//! The versioned config store: every version of the gateway document, kept in sled.
//!
//! Three trees:
//!
//! - `versions`: big-endian `u64` version → JSON `{meta, doc}` ([`StoredVersion`]);
//! - `meta`: the head version, plus small keyed blobs for other durable state (the canary);
//! - `nodes`: node id → the last status seen from that data plane.
//!
//! A write is a compare-and-swap on the head version inside one sled transaction over `versions` and
//! `meta`, and it is flushed to disk before [`Store::commit`] returns, so an answered write survives a
//! crash. Version numbers start at 1 and grow by one; 0 means "no version".

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[cfg(test)]
pub(crate) mod tests;

/// The `meta` key holding the head version (big-endian `u64`).
const HEAD_KEY: &[u8] = b"head";
/// Prefix of the `meta` keys written through [`Store::put_meta`], so they never collide with `head`.
const BLOB_PREFIX: &str = "blob/";

/// Who wrote a version, when, why, on top of what, and the hash of its content.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionMeta {
    /// The version number, from 1.
    pub version: u64,
    /// The head this version was written on top of (0 for the first).
    pub parent: u64,
    /// Who wrote it.
    pub author: String,
    /// When it was written, RFC 3339 in UTC.
    pub time: String,
    /// Why it was written.
    pub message: String,
    /// Hex SHA-256 of the canonical document ([`openclaw_config::content_hash`]).
    pub hash: String,
}

/// One stored version: its metadata and the whole document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredVersion {
    /// Who, when, why.
    pub meta: VersionMeta,
    /// The document, `{"gateway": {...}}`.
    pub doc: Value,
}

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The head moved: the write was based on `expected` but head is at `actual`.
    #[error("head is at version {actual}, expected {expected}")]
    Conflict {
        /// The head the caller based its write on.
        expected: u64,
        /// The head actually stored.
        actual: u64,
    },
    /// No such version.
    #[error("version {0} not found")]
    NotFound(u64),
    /// Stored bytes that cannot be read back.
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// The system clock cannot be formatted as RFC 3339.
    #[error("cannot format the current time: {0}")]
    Clock(String),
    /// sled failed (I/O, or the database is already open elsewhere).
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
}

/// The sled database and its trees; `Send + Sync`, shared behind an `Arc`.
#[derive(Clone, Debug)]
pub struct Store {
    db: sled::Db,
    versions: sled::Tree,
    meta: sled::Tree,
    nodes: sled::Tree,
}

// === impl StoreError ===

impl StoreError {
    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Conflict { .. } => "conflict",
            Self::NotFound(_) => "not_found",
            Self::Corrupt(_) => "corrupt",
            Self::Clock(_) => "clock",
            Self::Sled(_) => "sled",
        }
    }
}

// === impl Store ===

impl Store {
    /// Opens (creating if needed) the store in directory `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let db = sled::open(dir)?;
        Ok(Store {
            versions: db.open_tree("versions")?,
            meta: db.open_tree("meta")?,
            nodes: db.open_tree("nodes")?,
            db,
        })
    }

    /// The head version number; 0 when nothing is stored yet.
    pub fn head_version(&self) -> Result<u64, StoreError> {
        decode_head(self.meta.get(HEAD_KEY)?.as_deref())
    }

    /// The head version, or `None` when nothing is stored yet.
    pub fn head(&self) -> Result<Option<StoredVersion>, StoreError> {
        match self.head_version()? {
            0 => Ok(None),
            v => match self.get(v)? {
                Some(sv) => Ok(Some(sv)),
                None => Err(StoreError::Corrupt(format!(
                    "head points at version {v}, which is not stored"
                ))),
            },
        }
    }

    /// Version `version`, or `None` when there is no such version.
    pub fn get(&self, version: u64) -> Result<Option<StoredVersion>, StoreError> {
        self.versions
            .get(version.to_be_bytes())?
            .map(|bytes| decode_version(version, &bytes))
            .transpose()
    }

    /// Version `version`, or [`StoreError::NotFound`].
    pub fn require(&self, version: u64) -> Result<StoredVersion, StoreError> {
        self.get(version)?.ok_or(StoreError::NotFound(version))
    }

    /// Stores `doc` as version `expect_head + 1` if head is still `expect_head`, then flushes.
    ///
    /// The caller validates `doc`; the store only records it, with `hash = content_hash(doc)`.
    pub fn commit(
        &self,
        expect_head: u64,
        doc: &Value,
        author: &str,
        message: &str,
    ) -> Result<VersionMeta, StoreError> {
        self.commit_with_meta(expect_head, doc, author, message, &[])
    }

    /// Like [`Store::commit`], and in the same transaction sets (`Some`) or removes (`None`) the
    /// [`put_meta`](Store::put_meta) blobs in `meta_updates`, so a version and the state that goes
    /// with it (a canary, say) are stored together or not at all.
    pub fn commit_with_meta(
        &self,
        expect_head: u64,
        doc: &Value,
        author: &str,
        message: &str,
        meta_updates: &[(&str, Option<&[u8]>)],
    ) -> Result<VersionMeta, StoreError> {
        let version = expect_head
            .checked_add(1)
            .ok_or_else(|| StoreError::Corrupt("version numbers exhausted".into()))?;
        let meta = VersionMeta {
            version,
            parent: expect_head,
            author: author.to_string(),
            time: now_rfc3339()?,
            message: message.to_string(),
            hash: openclaw_config::content_hash(doc),
        };
        let record = serde_json::to_vec(&StoredVersion {
            meta: meta.clone(),
            doc: doc.clone(),
        })
        .map_err(|e| StoreError::Corrupt(format!("cannot encode version {version}: {e}")))?;
        let updates: Vec<(Vec<u8>, Option<&[u8]>)> = meta_updates
            .iter()
            .map(|(k, v)| (blob_key(k), *v))
            .collect();

        let result = (&self.versions, &self.meta).transaction(|(versions, meta_tree)| {
            let actual = decode_head(meta_tree.get(HEAD_KEY)?.as_deref())
                .map_err(ConflictableTransactionError::Abort)?;
            if actual != expect_head {
                return Err(ConflictableTransactionError::Abort(StoreError::Conflict {
                    expected: expect_head,
                    actual,
                }));
            }
            versions.insert(&version.to_be_bytes(), record.as_slice())?;
            meta_tree.insert(HEAD_KEY, &version.to_be_bytes())?;
            for (key, value) in &updates {
                match value {
                    Some(v) => meta_tree.insert(key.as_slice(), *v)?,
                    None => meta_tree.remove(key.as_slice())?,
                };
            }
            Ok(())
        });
        match result {
            Ok(()) => {}
            Err(TransactionError::Abort(e)) => return Err(e),
            Err(TransactionError::Storage(e)) => return Err(StoreError::Sled(e)),
        }
        self.db.flush()?;
        Ok(meta)
    }

    /// Up to `limit` versions older than `before` (all when `None`), newest first.
    pub fn history(
        &self,
        limit: usize,
        before: Option<u64>,
    ) -> Result<Vec<VersionMeta>, StoreError> {
        let end = before.unwrap_or(u64::MAX);
        let mut out = Vec::new();
        for entry in self.versions.range(..end.to_be_bytes()).rev() {
            if out.len() >= limit {
                break;
            }
            let (key, bytes) = entry?;
            let version = decode_u64(&key)?;
            out.push(decode_version(version, &bytes)?.meta);
        }
        Ok(out)
    }

    /// Writes everything (node status included) to disk; for shutdown.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// Sets the small blob `key` in the `meta` tree and flushes.
    pub fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.meta.insert(blob_key(key), value)?;
        self.db.flush()?;
        Ok(())
    }

    /// The blob `key` from the `meta` tree, if set.
    pub fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.meta.get(blob_key(key))?.map(|v| v.to_vec()))
    }

    /// Removes the blob `key` from the `meta` tree and flushes.
    pub fn delete_meta(&self, key: &str) -> Result<(), StoreError> {
        self.meta.remove(blob_key(key))?;
        self.db.flush()?;
        Ok(())
    }

    /// Records the last status of node `id`; not flushed, since node status is rebuilt as nodes reconnect.
    pub fn put_node(&self, id: &str, status: &[u8]) -> Result<(), StoreError> {
        self.nodes.insert(id.as_bytes(), status)?;
        Ok(())
    }

    /// Every node's last recorded status, ordered by node id.
    pub fn nodes(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.nodes
            .iter()
            .map(|entry| {
                let (k, v) = entry?;
                let id = String::from_utf8(k.to_vec())
                    .map_err(|_| StoreError::Corrupt("a node id is not UTF-8".into()))?;
                Ok((id, v.to_vec()))
            })
            .collect()
    }
}

fn blob_key(key: &str) -> Vec<u8> {
    format!("{BLOB_PREFIX}{key}").into_bytes()
}

fn decode_head(bytes: Option<&[u8]>) -> Result<u64, StoreError> {
    bytes.map_or(Ok(0), decode_u64)
}

fn decode_u64(bytes: &[u8]) -> Result<u64, StoreError> {
    let arr: [u8; 8] = bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("a version key has {} bytes", bytes.len())))?;
    Ok(u64::from_be_bytes(arr))
}

fn decode_version(version: u64, bytes: &[u8]) -> Result<StoredVersion, StoreError> {
    let sv: StoredVersion = serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Corrupt(format!("version {version}: {e}")))?;
    if sv.meta.version != version {
        return Err(StoreError::Corrupt(format!(
            "key {version} holds version {}",
            sv.meta.version
        )));
    }
    Ok(sv)
}

fn now_rfc3339() -> Result<String, StoreError> {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .map_err(|e| StoreError::Clock(e.to_string()))
}
