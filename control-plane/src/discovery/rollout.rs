//! What the admin API sees of the data planes: the node list, and rollout watches.
//!
//! A rollout watch of version `v` counts the connected nodes *targeted* by `v` (their desired version
//! is `v` or newer) and those of them that applied `v` or newer. It sends one event per state change
//! of a targeted node, ends with `done` once every targeted node applied, and ends early with
//! `nacked` when one of them refuses `v` or newer.

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

/// Applied and total among the connected nodes targeted by `version`.
fn progress(registry: &Registry, target: Option<&Target>, version: u64) -> (u32, u32) {
    registry.inspect(|nodes| {
        let mut applied = 0u32;
        let mut total = 0u32;
        for r in nodes.values().filter(|r| r.connected) {
            if targeted(target, r, version) {
                total += 1;
                if r.applied_version >= version {
                    applied += 1;
                }
            }
        }
        (applied, total)
    })
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
    let mut first = true;
    loop {
        let target = desired.borrow_and_update().clone();
        // A NACK recorded before this watch subscribed would never arrive as a change: report it now.
        if first && let Some(event) = earlier_nack(&registry, target.as_deref(), version) {
            let _ = tx.send(Ok(event)).await;
            return;
        }
        first = false;
        let (applied, total) = progress(&registry, target.as_deref(), version);
        if published(target.as_deref(), version) && applied == total {
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
            changed = desired.changed() => if changed.is_err() {
                let _ = tx.send(Err(Status::unavailable("the control plane is shutting down"))).await;
                return;
            },
            change = changes.recv() => match change {
                Ok(change) => {
                    let target = desired.borrow().clone();
                    if let Some(event) = event(&registry, target.as_deref(), version, change) {
                        let last = event.done || event.nacked;
                        if tx.send(Ok(event)).await.is_err() || last {
                            return;
                        }
                    }
                }
                // Fell behind: recount at the top of the loop.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

/// A connected, targeted node that already refused `version` or newer, as a `nacked` event.
fn earlier_nack(
    registry: &Registry,
    target: Option<&Target>,
    version: u64,
) -> Option<RolloutEvent> {
    let (applied, total) = progress(registry, target, version);
    registry.inspect(|nodes| {
        nodes
            .values()
            .find(|r| {
                r.connected
                    && targeted(target, r, version)
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

/// The event for `change`, if it concerns a node targeted by `version`.
fn event(
    registry: &Registry,
    target: Option<&Target>,
    version: u64,
    change: NodeChange,
) -> Option<RolloutEvent> {
    let concerned = registry.inspect(|nodes| {
        nodes
            .get(&change.node_id)
            .is_some_and(|r| targeted(target, r, version))
    });
    if !concerned {
        return None;
    }
    let (applied, total) = progress(registry, target, version);
    let (nacked, error) = match change.nacked {
        Some((v, error)) if v >= version => (true, error),
        _ => (false, String::new()),
    };
    Some(RolloutEvent {
        node_id: change.node_id,
        applied_version: change.applied_version,
        nacked,
        error,
        applied,
        total,
        done: !nacked && published(target, version) && applied == total,
    })
}
