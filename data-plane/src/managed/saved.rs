//! The last applied snapshot, kept in the state directory so a node can start while its control
//! plane is away: written whole (temporary file, fsync, rename, fsync of the directory) and checked
//! on load (JSON, version, and the document's hash against the one saved with it).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// The file in the state directory.
const STATE_FILE: &str = "snapshot.json";

/// A saved snapshot that checked out.
#[derive(Debug)]
pub(crate) struct Saved {
    /// Its version.
    pub(crate) version: u64,
    /// The document.
    pub(crate) doc: Value,
}

/// Why a saved snapshot cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SavedError {
    /// The file exists but cannot be read.
    #[error("cannot read {file}: {source}")]
    Read {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not what this node writes.
    #[error("{file} is corrupt: {why}")]
    Corrupt {
        /// The file.
        file: PathBuf,
        /// What is wrong with it.
        why: String,
    },
}

/// Saves `doc` as `version` (with its `hash`) in `dir`; logs and carries on when the disk refuses.
pub(crate) fn save(dir: Option<&Path>, version: u64, hash: &str, doc: &Value) {
    let Some(dir) = dir else { return };
    if let Err(e) = write(dir, version, hash, doc) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot save the applied snapshot");
    }
}

fn write(dir: &Path, version: u64, hash: &str, doc: &Value) -> std::io::Result<()> {
    let body = json!({"version": version, "hash": hash, "doc": doc}).to_string();
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{STATE_FILE}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(body.as_bytes())?;
    // The bytes reach the disk before the rename makes them the saved snapshot.
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, dir.join(STATE_FILE))?;
    // And the rename itself survives a crash.
    std::fs::File::open(dir)?.sync_all()
}

/// The snapshot saved in `dir`: `Ok(None)` when there is none, an error when there is one that cannot
/// be used (unreadable, not JSON, or its document does not hash to the hash saved with it).
pub(crate) fn load(dir: &Path) -> Result<Option<Saved>, SavedError> {
    let file = dir.join(STATE_FILE);
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(SavedError::Read { file, source }),
    };
    let corrupt = |why: String| SavedError::Corrupt {
        file: file.clone(),
        why,
    };
    let v: Value =
        serde_json::from_str(&text).map_err(|e| corrupt(format!("not valid JSON: {e}")))?;
    let version = v
        .get("version")
        .and_then(Value::as_u64)
        .ok_or_else(|| corrupt("no version".into()))?;
    let hash = v
        .get("hash")
        .and_then(Value::as_str)
        .ok_or_else(|| corrupt("no hash".into()))?;
    let doc = v
        .get("doc")
        .filter(|d| d.is_object())
        .ok_or_else(|| corrupt("no document".into()))?;
    let actual = openclaw_config::content_hash(doc);
    if actual != hash {
        return Err(corrupt(format!(
            "version {version}: the document hashes to {actual}, not to the saved {hash}"
        )));
    }
    Ok(Some(Saved {
        version,
        doc: doc.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_snapshots_round_trip_and_damage_is_named() {
        let dir = std::env::temp_dir().join(format!("openclaw-saved-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(load(&dir).unwrap().is_none());
        let doc = json!({"gateway": {"http": {"listen": "127.0.0.1:1"}}});
        save(Some(&dir), 7, &openclaw_config::content_hash(&doc), &doc);
        let s = load(&dir).unwrap().unwrap();
        assert_eq!((s.version, s.doc), (7, doc.clone()));

        std::fs::write(dir.join(STATE_FILE), "{\"version\": 7, \"ha").unwrap();
        let e = load(&dir).unwrap_err().to_string();
        assert!(
            e.contains("not valid JSON") && e.contains(STATE_FILE),
            "{e}"
        );

        save(Some(&dir), 7, "0000", &doc);
        let e = load(&dir).unwrap_err().to_string();
        assert!(e.contains("hashes to") && e.contains("0000"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
