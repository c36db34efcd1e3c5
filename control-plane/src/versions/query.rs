//! The read side of [`Versions`]: get, history, diff and validate. None of these take the write lock.

use openclaw_config::Path;
use openclaw_config::diff::{self, Change};
use serde_json::Value;

use super::{MAX_HISTORY, Versions, VersionsError, problems};
use crate::store::VersionMeta;

// === impl Versions ===

impl Versions {
    /// Every problem with `doc`, one line each; empty when it is valid.
    pub(crate) fn validate(&self, doc: &Value) -> Vec<String> {
        problems(doc)
    }

    /// The value at `key` (relative to `gateway`; empty for the whole document) in `version` (head
    /// when `None`), secrets redacted, with the version it was read from.
    pub(crate) fn get(
        &self,
        version: Option<u64>,
        key: &str,
    ) -> Result<(u64, Value), VersionsError> {
        let sv = match version {
            Some(v) => self.store.require(v)?,
            None => self
                .store
                .head()?
                .ok_or_else(|| VersionsError::NotFound("no version is stored yet".into()))?,
        };
        let redacted = openclaw_config::secrets::redact(&sv.doc);
        if key.trim().is_empty() {
            return Ok((sv.meta.version, redacted));
        }
        let path = Path::parse_relative(key).map_err(VersionsError::BadRequest)?;
        let value = path.lookup(&redacted).cloned().ok_or_else(|| {
            VersionsError::NotFound(not_found(key, &path, &redacted, sv.meta.version))
        })?;
        Ok((sv.meta.version, value))
    }

    /// Up to `limit` versions (at most 1000) older than `before`, newest first.
    pub(crate) fn history(
        &self,
        limit: usize,
        before: Option<u64>,
    ) -> Result<Vec<VersionMeta>, VersionsError> {
        Ok(self.store.history(limit.min(MAX_HISTORY), before)?)
    }

    /// The changes from version `from` to version `to`; 0 stands for head on either side.
    pub(crate) fn diff(&self, from: u64, to: u64) -> Result<Vec<Change>, VersionsError> {
        let head = self.store.head_version()?;
        let resolve = |v: u64| if v == 0 { head } else { v };
        let a = self.store.require(resolve(from))?;
        let b = self.store.require(resolve(to))?;
        Ok(diff::diff(&a.doc, &b.doc))
    }
}

/// Why `path` is not in a stored document: unset (with its default), or a name to correct.
fn not_found(key: &str, path: &Path, doc: &Value, version: u64) -> String {
    let mut full = openclaw_config::layers::defaults();
    openclaw_config::patch::merge_patch(&mut full, doc);
    if let Some(default) = path.lookup(&full) {
        return format!(
            "key `{key}` is not set in version {version}; it takes its default, {default}"
        );
    }
    let mut msg = format!("key `{key}` not found in version {version}");
    if let (Some(openclaw_config::Segment::Key(last)), Some(Value::Object(siblings))) =
        (path.last(), path.parent().lookup(&full))
    {
        let names = openclaw_config::suggest::closest(last, siblings.keys().map(String::as_str));
        if !names.is_empty() {
            let parent = path.parent().to_string();
            let parent = parent.strip_prefix("gateway").unwrap_or(&parent);
            let full_names: Vec<String> = names
                .iter()
                .map(|n| {
                    format!(
                        "`{}{n}`",
                        parent
                            .strip_prefix('.')
                            .map_or(String::new(), |p| format!("{p}."))
                    )
                })
                .collect();
            msg.push_str(&format!("; did you mean {}?", full_names.join(" or ")));
        }
    }
    msg
}
