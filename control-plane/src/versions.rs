//! Versions: the domain logic between the admin API and the [`Store`].
//!
//! Turns admin intents (put, patch, rollback, promote) into validated versions, keeps the canary state,
//! and tells the discovery hub the new [`Desired`] state through [`Publish`] after every change.
//!
//! Every write runs under one async mutex, so reading head, deciding, and committing is one step; the
//! store's compare-and-swap on the head version guards it again. Rules:
//!
//! - every document is validated before it is stored; an invalid one is refused with every problem;
//! - a write whose canonical hash equals head's creates no version;
//! - a patch with a canary selector stores the new version but sends it only to matching nodes until
//!   [`Versions::promote`]; the canary survives restarts (meta key `canary`), and other writes are
//!   refused while it is active;
//! - a rollback stores a new version with an old version's content and ends any canary.

use std::collections::BTreeMap;
use std::sync::Arc;

use openclaw_config::diff::{self, Change};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::store::{Store, StoreError, StoredVersion, VersionMeta};

mod error;
mod query;
#[cfg(test)]
mod tests;

pub(crate) use error::VersionsError;

/// The store meta key holding the active canary, JSON [`CanaryState`].
const CANARY_KEY: &str = "canary";
/// The most versions one history call returns.
const MAX_HISTORY: usize = 1000;

/// A label selector: a node matches when it carries every one of these labels with the same value.
pub(crate) type Selector = BTreeMap<String, String>;

/// Receives every new desired state; the discovery hub implements it.
pub(crate) trait Publish: Send + Sync {
    /// Takes `desired` as the state every node should converge on; must not block.
    fn publish(&self, desired: Desired);
}

/// What the control plane wants the data planes to run.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Desired {
    /// The version for every node not selected by the canary.
    pub(crate) stable: Arc<StoredVersion>,
    /// The canary version and its label selector: nodes carrying all these labels run it.
    pub(crate) canary: Option<(Arc<StoredVersion>, BTreeMap<String, String>)>,
}

/// The two patch formats the admin API accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PatchFormat {
    /// RFC 7396 merge patch, rooted at `{"gateway": …}`.
    Merge,
    /// RFC 6902 JSON Patch, paths rooted at `/gateway`.
    JsonPatch,
}

/// One patch intent, as the admin API receives it.
#[derive(Clone, Debug)]
pub(crate) struct PatchArgs {
    /// The patch document.
    pub(crate) patch: Value,
    /// How to read `patch`.
    pub(crate) format: PatchFormat,
    /// Refuse unless head is at this version.
    pub(crate) expect: Option<u64>,
    /// Who asks.
    pub(crate) author: String,
    /// Why.
    pub(crate) message: String,
    /// Return the diff and the problems without storing anything.
    pub(crate) dry_run: bool,
    /// Non-empty: start a canary of the new version on nodes carrying all these labels.
    pub(crate) canary: BTreeMap<String, String>,
}

/// The result of a write (or of a dry run).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Written {
    /// The stored version; head when nothing was stored (default when the store is empty).
    pub(crate) meta: VersionMeta,
    /// True when a new version was (or, on dry run, would be) created.
    pub(crate) changed: bool,
    /// The changes from the previous head (or previous stable version, for promote).
    pub(crate) changes: Vec<Change>,
    /// True for a dry run.
    pub(crate) dry_run: bool,
    /// Validation problems (dry run only; a failed write is [`VersionsError::Invalid`]).
    pub(crate) problems: Vec<String>,
    /// The canary selector in force after this call; empty when none.
    pub(crate) canary: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CanaryState {
    version: u64,
    selector: BTreeMap<String, String>,
}

/// What put and patch share once the new document is built.
#[derive(Clone, Copy)]
struct Intent<'a> {
    expect: Option<u64>,
    author: &'a str,
    message: &'a str,
    dry_run: bool,
    canary: &'a BTreeMap<String, String>,
}

/// The versioned document: validated writes, canaries, rollbacks, reads; see the module doc.
pub(crate) struct Versions {
    store: Arc<Store>,
    publisher: Arc<dyn Publish>,
    /// Serializes every state change, so head is read and written in one step.
    write: Mutex<()>,
}

impl Versions {
    /// Versions over `store`, telling `publisher` every new desired state.
    pub(crate) fn new(store: Arc<Store>, publisher: Arc<dyn Publish>) -> Self {
        Self {
            store,
            publisher,
            write: Mutex::new(()),
        }
    }

    /// Stores `doc` as version 1 if the store is empty; `None` when versions already exist.
    ///
    /// Does not publish: at startup, publish [`Versions::desired`] once everything is stored.
    pub(crate) async fn bootstrap(&self, doc: Value) -> Result<Option<VersionMeta>, VersionsError> {
        let _guard = self.write.lock().await;
        if self.store.head_version()? != 0 {
            return Ok(None);
        }
        check(&doc)?;
        Ok(Some(self.store.commit(
            0,
            &doc,
            "bootstrap",
            "initial version",
        )?))
    }

    /// The state every node should converge on: head, or head's parent plus head as a canary.
    ///
    /// `None` while the store is empty. Waits for any write in progress, so it never sees half of one.
    pub(crate) async fn desired(&self) -> Result<Option<Desired>, VersionsError> {
        let _guard = self.write.lock().await;
        let Some(head) = self.store.head()? else {
            return Ok(None);
        };
        let canary = self.active_canary(&head)?;
        let head = Arc::new(head);
        Ok(Some(match canary {
            Some(selector) => Desired {
                stable: Arc::new(self.store.require(head.meta.parent)?),
                canary: Some((head, selector)),
            },
            None => Desired {
                stable: head,
                canary: None,
            },
        }))
    }

    /// The head version; 0 while the store is empty.
    pub(crate) fn head_version(&self) -> Result<u64, VersionsError> {
        Ok(self.store.head_version()?)
    }

    /// Replaces the whole document.
    pub(crate) async fn put(
        &self,
        doc: Value,
        expect: Option<u64>,
        author: &str,
        message: &str,
    ) -> Result<Written, VersionsError> {
        let _guard = self.write.lock().await;
        let head = self.store.head()?;
        let intent = Intent {
            expect,
            author,
            message,
            dry_run: false,
            canary: &BTreeMap::new(),
        };
        self.write_locked(head, doc, &intent)
    }

    /// Applies a patch to head; see [`PatchArgs`].
    pub(crate) async fn patch(&self, args: PatchArgs) -> Result<Written, VersionsError> {
        let _guard = self.write.lock().await;
        let head = self.store.head()?;
        let base = head
            .as_ref()
            .map_or_else(|| Value::Object(Default::default()), |h| h.doc.clone());
        let patched = match args.format {
            PatchFormat::Merge => openclaw_config::patch::apply_merge_patch(&base, &args.patch),
            PatchFormat::JsonPatch => openclaw_config::patch::apply_json_patch(&base, &args.patch),
        }
        .map_err(|e| VersionsError::BadRequest(e.to_string()))?;
        let intent = Intent {
            expect: args.expect,
            author: &args.author,
            message: &args.message,
            dry_run: args.dry_run,
            canary: &args.canary,
        };
        self.write_locked(head, patched, &intent)
    }

    /// Stores a new version with version `to`'s content (message `rollback to N` when empty), ends
    /// any canary and sends the result to every node.
    pub(crate) async fn rollback(
        &self,
        to: u64,
        author: &str,
        message: &str,
    ) -> Result<Written, VersionsError> {
        let _guard = self.write.lock().await;
        let target = self.store.require(to)?;
        check(&target.doc)?;
        let Some(head) = self.store.head()? else {
            return Err(VersionsError::NotFound(format!("version {to} not found")));
        };
        let message = if message.trim().is_empty() {
            format!("rollback to {to}")
        } else {
            message.to_string()
        };
        let changes = diff::diff(&head.doc, &target.doc);
        let clear = [(CANARY_KEY, None)];
        let had_canary = self.active_canary(&head)?.is_some();
        let (stored, changed) = if target.meta.hash == head.meta.hash {
            // Same content: no new version, but a canary of it still ends, for everyone.
            if !had_canary {
                return Ok(Written {
                    meta: head.meta,
                    changed: false,
                    changes: Vec::new(),
                    dry_run: false,
                    problems: Vec::new(),
                    canary: BTreeMap::new(),
                });
            }
            self.store.delete_meta(CANARY_KEY)?;
            (head, false)
        } else {
            let meta = self.store.commit_with_meta(
                head.meta.version,
                &target.doc,
                author,
                &message,
                &clear,
            )?;
            (
                StoredVersion {
                    meta,
                    doc: target.doc,
                },
                true,
            )
        };
        tracing::info!(version = stored.meta.version, to, author, "rollback");
        let meta = stored.meta.clone();
        self.publisher.publish(Desired {
            stable: Arc::new(stored),
            canary: None,
        });
        Ok(Written {
            meta,
            changed,
            changes: if changed { changes } else { Vec::new() },
            dry_run: false,
            problems: Vec::new(),
            canary: BTreeMap::new(),
        })
    }

    /// Sends the active canary version to every node; creates no version.
    pub(crate) async fn promote(&self, author: &str) -> Result<Written, VersionsError> {
        let _guard = self.write.lock().await;
        let head = self.store.head()?.ok_or(VersionsError::NoCanary)?;
        if self.active_canary(&head)?.is_none() {
            return Err(VersionsError::NoCanary);
        }
        let stable = self.store.require(head.meta.parent)?;
        self.store.delete_meta(CANARY_KEY)?;
        tracing::info!(version = head.meta.version, author, "canary promoted");
        let written = Written {
            meta: head.meta.clone(),
            changed: false,
            changes: diff::diff(&stable.doc, &head.doc),
            dry_run: false,
            problems: Vec::new(),
            canary: BTreeMap::new(),
        };
        self.publisher.publish(Desired {
            stable: Arc::new(head),
            canary: None,
        });
        Ok(written)
    }

    /// any later version ends it, so stale state can never send an old canary anywhere.
    fn active_canary(&self, head: &StoredVersion) -> Result<Option<Selector>, VersionsError> {
        let Some(bytes) = self.store.get_meta(CANARY_KEY)? else {
            return Ok(None);
        };
        let state: CanaryState = serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::Corrupt(format!("canary state: {e}")))?;
        Ok(
            (state.version == head.meta.version && !state.selector.is_empty())
                .then_some(state.selector),
        )
    }

    /// The shared path of put and patch, with the write lock held and `doc` already built on `head`.
    fn write_locked(
        &self,
        head: Option<StoredVersion>,
        doc: Value,
        intent: &Intent<'_>,
    ) -> Result<Written, VersionsError> {
        let Intent {
            expect,
            author,
            message,
            dry_run,
            canary,
        } = *intent;
        let head_version = head.as_ref().map_or(0, |h| h.meta.version);
        if let Some(expected) = expect.filter(|e| *e != head_version) {
            return Err(VersionsError::Conflict {
                expected,
                actual: head_version,
            });
        }
        if let Some(bad) = canary.keys().find(|k| k.trim().is_empty()) {
            return Err(VersionsError::BadRequest(format!(
                "canary selector has an empty label name (value `{}`)",
                canary.get(bad).map_or("", String::as_str)
            )));
        }
        let active = match &head {
            Some(h) => self.active_canary(h)?,
            None => None,
        };
        let empty = Value::Object(Default::default());
        let head_doc = head.as_ref().map_or(&empty, |h| &h.doc);
        let head_meta = head.as_ref().map(|h| h.meta.clone()).unwrap_or_default();
        let changed = head
            .as_ref()
            .is_none_or(|h| h.meta.hash != openclaw_config::content_hash(&doc));
        let changes = if changed {
            diff::diff(head_doc, &doc)
        } else {
            Vec::new()
        };
        let problems = problems(&doc);

        if dry_run {
            return Ok(Written {
                meta: head_meta,
                changed,
                changes,
                dry_run: true,
                problems,
                canary: active.unwrap_or_default(),
            });
        }
        if let Some(version) = active.as_ref().map(|_| head_version) {
            return Err(VersionsError::CanaryActive { version });
        }
        if !problems.is_empty() {
            return Err(VersionsError::Invalid(problems));
        }
        if !changed {
            return Ok(Written {
                meta: head_meta,
                changed: false,
                changes,
                dry_run: false,
                problems,
                canary: BTreeMap::new(),
            });
        }

        let new_version = head_version + 1;
        let desired = if canary.is_empty() {
            let meta = self.store.commit_with_meta(
                head_version,
                &doc,
                author,
                message,
                &[(CANARY_KEY, None)],
            )?;
            Desired {
                stable: Arc::new(StoredVersion { meta, doc }),
                canary: None,
            }
        } else {
            let Some(stable) = head else {
                return Err(VersionsError::BadRequest(
                    "a canary needs a stable version to start from; store one first".into(),
                ));
            };
            let state = serde_json::to_vec(&CanaryState {
                version: new_version,
                selector: canary.clone(),
            })
            .map_err(|e| StoreError::Corrupt(format!("cannot encode canary state: {e}")))?;
            let meta = self.store.commit_with_meta(
                head_version,
                &doc,
                author,
                message,
                &[(CANARY_KEY, Some(&state))],
            )?;
            Desired {
                stable: Arc::new(stable),
                canary: Some((Arc::new(StoredVersion { meta, doc }), canary.clone())),
            }
        };
        let meta = desired
            .canary
            .as_ref()
            .map_or(&desired.stable.meta, |(c, _)| &c.meta)
            .clone();
        tracing::info!(
            version = meta.version,
            author,
            canary = !canary.is_empty(),
            "new version"
        );
        self.publisher.publish(desired);
        Ok(Written {
            meta,
            changed: true,
            changes,
            dry_run: false,
            problems: Vec::new(),
            canary: canary.clone(),
        })
    }
}

/// Every problem with `doc`, one line each.
fn problems(doc: &Value) -> Vec<String> {
    match openclaw_config::validate(doc) {
        Ok(_) => Vec::new(),
        Err(p) => p.iter().map(ToString::to_string).collect(),
    }
}

/// `Ok` when `doc` is valid, else [`VersionsError::Invalid`] with every problem.
fn check(doc: &Value) -> Result<(), VersionsError> {
    let problems = problems(doc);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(VersionsError::Invalid(problems))
    }
}
