//! What the admin API sees of the data planes: the node list, and rollout watches.
//!
//! A rollout watch of version `v` counts the connected nodes *targeted* by `v` (their desired version
//! is `v` or newer) and those of them that applied `v` or newer. It sends one event per state change
//! of a targeted node, ends with `done` once every targeted node applied, and ends early with
//! `nacked` when one of them refuses `v` or newer. The count is kept incrementally (`Progress`), so a
//! rollout to a thousand nodes does not recount a thousand nodes a thousand times.

use std::collections::HashMap;
use std::sync::Arc;

use openclaw_proto::admin::{NodeStatus, RolloutEvent};
use tokio::sync::{broadcast, mpsc, watch};
use tonic::Status;

use super::Hub;
use super::registry::{NodeChange, NodeRecord, Registry};
use super::snapshot::Target;
use crate::admin::NodeView;

/// Events a slow watcher may have queued before the watch waits for it.
const EVENTS_BUFFER: usize = 64;

impl NodeView for Hub {
    fn nodes(&self) -> Vec<NodeStatus> {
        let target = self.target();
        self.registry
            .records()
            .into_iter()
            .map(|r| status(r, target.as_deref()))
            .collect()
    }

    fn rollout(&self, version: u64) -> mpsc::Receiver<Result<RolloutEvent, Status>> {
        let (tx, rx) = mpsc::channel(EVENTS_BUFFER);
        // Subscribe before counting, so no change falls between the count and the first event.
        let changes = self.registry.subscribe();
        let desired = self.subscribe();
        tokio::spawn(watch_rollout(
            self.registry.clone(),
            changes,
            desired,
            version,
            tx,
        ));
        rx
    }
}

fn status(r: NodeRecord, target: Option<&Target>) -> NodeStatus {
    let (desired_version, canary) = target.map_or((0, false), |t| {
        let (snapshot, canary) = t.for_labels(&r.labels);
        (snapshot.version, canary)
    });
    NodeStatus {
        node_id: r.id,
        labels: r.labels.into_iter().collect(),
        address: r.address,
        connected: r.connected,
        applied_version: r.applied_version,
        last_ack: r.last_ack,
        last_nack: r.last_nack,
        nack_error: r.nack_error,
        canary,
        software_version: r.software_version,
        local_overrides: r.local_overrides,
        restart_required: r.restart_required,
        desired_version,
    }
}

/// The count a rollout watch keeps: which connected nodes `version` targets and which of them applied
/// it. Counted over every node when the watch starts, when the desired state changes and when the
/// watch fell behind the changes; otherwise updated per change from that one node's record, so a
/// rollout to N nodes costs O(N log N), not O(N²).
struct Progress {
    version: u64,
    target: Option<Arc<Target>>,
    /// Connected nodes targeted by `version`, and whether each applied it (or newer).
    nodes: HashMap<String, bool>,
    applied: u32,
}

// === impl Progress ===

impl Progress {
    fn new(version: u64) -> Self {
        Self {
            version,
            target: None,
            nodes: HashMap::new(),
            applied: 0,
        }
    }

    /// Counts every node again, against `target`.
    fn recount(&mut self, registry: &Registry, target: Option<Arc<Target>>) {
        self.target = target;
        self.nodes.clear();
        self.applied = 0;
        let target = self.target.as_deref();
        let version = self.version;
        registry.inspect(|nodes| {
            for r in nodes.values().filter(|r| r.connected) {
                if targeted(target, r, version) {
                    let applied = r.applied_version >= version;
                    self.applied += u32::from(applied);
                    self.nodes.insert(r.id.clone(), applied);
                }
            }
        });
    }

    /// Takes one node's record as it is now; returns whether `version` targets the node.
    fn update(&mut self, id: &str, record: Option<&NodeRecord>) -> bool {
        let target = self.target.as_deref();
        let concerned = record.is_some_and(|r| targeted(target, r, self.version));
        let now = record
            .filter(|r| r.connected && concerned)
            .map(|r| r.applied_version >= self.version);
        let before = match now {
            Some(applied) => self.nodes.insert(id.to_owned(), applied),
            None => self.nodes.remove(id),
        };
        self.applied =
            self.applied - u32::from(before == Some(true)) + u32::from(now == Some(true));
        concerned
    }

    /// Applied and total among the connected nodes targeted by `version`.
    fn counts(&self) -> (u32, u32) {
        (
            self.applied,
            u32::try_from(self.nodes.len()).unwrap_or(u32::MAX),
        )
    }

    fn done(&self) -> bool {
        let (applied, total) = self.counts();
        published(self.target.as_deref(), self.version) && applied == total
    }
}

fn targeted(target: Option<&Target>, r: &NodeRecord, version: u64) -> bool {
    target.is_some_and(|t| t.for_labels(&r.labels).0.version >= version)
}

/// True once `version` is being sent to someone (a watch may start before its version is published).
fn published(target: Option<&Target>, version: u64) -> bool {
    version == 0 || target.is_some_and(|t| t.newest_version() >= version)
}

async fn watch_rollout(
    registry: Arc<Registry>,
    mut changes: broadcast::Receiver<NodeChange>,
    mut desired: watch::Receiver<Option<Arc<Target>>>,
    version: u64,
    tx: mpsc::Sender<Result<RolloutEvent, Status>>,
) {
    let version = match version {
        0 => desired.borrow().as_ref().map_or(0, |t| t.current_version()),
        v => v,
    };
    let mut progress = Progress::new(version);
    progress.recount(&registry, desired.borrow_and_update().clone());
    // A NACK recorded before this watch subscribed would never arrive as a change: report it now.
    if let Some(event) = earlier_nack(&registry, &progress) {
        let _ = tx.send(Ok(event)).await;
        return;
    }
    loop {
        if progress.done() {
            let (applied, total) = progress.counts();
            let done = RolloutEvent {
                applied_version: version,
                applied,
                total,
                done: true,
                ..RolloutEvent::default()
            };
            let _ = tx.send(Ok(done)).await;
            return;
        }
        tokio::select! {
            () = tx.closed() => return,
            changed = desired.changed() => {
                if changed.is_err() {
                    let _ = tx.send(Err(Status::unavailable("the control plane is shutting down"))).await;
                    return;
                }
                progress.recount(&registry, desired.borrow_and_update().clone());
            },
            change = changes.recv() => match change {
                Ok(change) => {
                    if let Some(event) = event(&registry, &mut progress, change) {
                        let last = event.done || event.nacked;
                        if tx.send(Ok(event)).await.is_err() || last {
                            return;
                        }
                    }
                }
                // Fell behind: the changes missed are unknown, so count everything again.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    progress.recount(&registry, desired.borrow_and_update().clone());
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

/// A connected, targeted node that already refused `version` or newer, as a `nacked` event.
fn earlier_nack(registry: &Registry, progress: &Progress) -> Option<RolloutEvent> {
    let (applied, total) = progress.counts();
    let version = progress.version;
    registry.inspect(|nodes| {
        nodes
            .values()
            .find(|r| {
                r.connected
                    && targeted(progress.target.as_deref(), r, version)
                    && r.nacked_version >= version
                    && r.nacked_version > 0
            })
            .map(|r| RolloutEvent {
                node_id: r.id.clone(),
                applied_version: r.applied_version,
                nacked: true,
                error: r.nack_error.clone(),
                applied,
                total,
                done: false,
            })
    })
}

/// Updates `progress` for `change` and returns its event, if it concerns a node targeted by the
/// watched version.
fn event(registry: &Registry, progress: &mut Progress, change: NodeChange) -> Option<RolloutEvent> {
    let concerned =
        registry.inspect(|nodes| progress.update(&change.node_id, nodes.get(&change.node_id)));
    if !concerned {
        return None;
    }
    let (applied, total) = progress.counts();
    let (nacked, error) = match change.nacked {
        Some((v, error)) if v >= progress.version => (true, error),
        _ => (false, String::new()),
    };
    Some(RolloutEvent {
        node_id: change.node_id,
        applied_version: change.applied_version,
        nacked,
        error,
        applied,
        total,
        done: !nacked && progress.done(),
    })
}
