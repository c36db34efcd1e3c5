//! One node's discovery stream: the delta protocol, one response in flight at a time.
//!
//! The task learns what the node holds from its first request (`initial_resource_versions`), then from
//! each ACK. When nothing is in flight and the node's target snapshot differs from what it holds, it
//! sends the difference with a fresh nonce. An ACK (the latest nonce, no error) makes the sent snapshot
//! what the node holds; a NACK (error set) keeps what it held and marks that version refused, so it is
//! not sent again — only a newer desired version is. Requests with any other nonce are stale and
//! ignored. Waiting for the answer before sending again keeps the node's and the server's views of
//! what it holds identical, and means a slow node simply gets the newest version when it is ready.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use openclaw_proto::discovery::{DiscoveryRequest, DiscoveryResponse, Node};
use tokio::sync::{mpsc, watch};
use tonic::Status;

use super::Hub;
use super::snapshot::{Holding, Snapshot, Target};
use super::wire::{Encoded, Inbound, Outgoing};

/// Where responses go; closed when the node's side of the stream is gone.
pub(super) type Outbound = mpsc::Sender<Outgoing>;

/// A response sent and not yet answered.
struct InFlight {
    nonce: String,
    snapshot: Arc<Snapshot>,
}

/// The state of one stream.
struct NodeStream {
    hub: Arc<Hub>,
    id: String,
    labels: BTreeMap<String, String>,
    holding: Holding,
    /// The version the node says it runs (its request's `version_info`, or the one it ACKed).
    version: u64,
    in_flight: Option<InFlight>,
    /// The last version the node refused: never sent again on this stream.
    refused: Option<u64>,
    /// The version last recorded as applied, so a node already running its target is recorded once.
    recorded: Option<u64>,
    out: Outbound,
}

/// Serves one stream until the node goes away, then marks it disconnected.
pub(super) async fn serve(
    hub: Arc<Hub>,
    mut inbound: Inbound,
    out: Outbound,
    address: Option<SocketAddr>,
) {
    let first = match inbound.message().await {
        Ok(Some(first)) => first,
        Ok(None) => return,
        Err(e) => {
            tracing::debug!(error = %e, "discovery stream failed before its first request");
            return;
        }
    };
    let Some(node) = first.node.filter(|n| !n.id.is_empty()) else {
        let status = Status::invalid_argument("the first request must carry `node` with an `id`");
        // The node may already be gone; nothing else to do either way.
        let _ = out.send(Err(status)).await;
        return;
    };
    let stream_token = hub.registry.connect(&node, address);
    tracing::info!(node = %node.id, ?address, version = first.version_info, "node connected");
    let mut desired = hub.subscribe();
    let mut stream = NodeStream {
        id: node.id.clone(),
        labels: labels(&node),
        holding: Holding::Announced(first.initial_resource_versions),
        version: first.version_info,
        in_flight: None,
        refused: None,
        recorded: None,
        hub: hub.clone(),
        out,
    };
    let why = stream.run(&mut inbound, &mut desired).await;
    hub.registry.disconnect(&stream.id, stream_token);
    tracing::info!(node = %stream.id, reason = why, "node disconnected");
}

// === impl NodeStream ===

impl NodeStream {
    /// Answers requests and follows the desired state until the stream ends; returns why it ended.
    async fn run(
        &mut self,
        inbound: &mut Inbound,
        desired: &mut watch::Receiver<Option<Arc<Target>>>,
    ) -> &'static str {
        let mut following = true;
        loop {
            if self.send_if_needed(desired).await.is_err() {
                return "node stopped reading";
            }
            tokio::select! {
                message = inbound.message() => match message {
                    Ok(Some(request)) => self.on_request(request),
                    Ok(None) => return "stream closed by node",
                    Err(e) => {
                        tracing::debug!(node = %self.id, error = %e, "discovery stream failed");
                        return "stream failed";
                    }
                },
                changed = desired.changed(), if following => {
                    // The hub is gone only while the server shuts down: keep answering until then.
                    following = changed.is_ok();
                }
                () = self.out.closed() => return "node stopped reading",
            }
        }
    }

    /// Takes an ACK, a NACK, a stale request, or a repeated `node`.
    fn on_request(&mut self, request: DiscoveryRequest) {
        if let Some(node) = request.node.as_ref() {
            self.describe(node);
        }
        let Some(in_flight) = self
            .in_flight
            .take_if(|f| f.nonce == request.response_nonce)
        else {
            tracing::debug!(node = %self.id, nonce = %request.response_nonce, "ignoring stale request");
            return;
        };
        let version = in_flight.snapshot.version;
        match request.error_detail {
            Some(error) => {
                tracing::warn!(node = %self.id, version, error = %error.message, "node refused version");
                self.refused = Some(version);
                self.version = request.version_info;
                self.hub.registry.nacked(&self.id, version, &error.message);
            }
            None => {
                self.holding = Holding::Snapshot(in_flight.snapshot);
                self.version = version;
                self.recorded = Some(version);
                self.hub.registry.applied(&self.id, version);
            }
        }
    }

    fn describe(&mut self, node: &Node) {
        if !node.id.is_empty() && node.id != self.id {
            tracing::warn!(node = %self.id, other = %node.id, "a stream cannot change its node id");
            return;
        }
        self.labels = labels(node);
        self.hub.registry.describe(&self.id, node);
    }

    /// Sends the node what it lacks of its target, unless a response awaits its answer, the target
    /// is the version it refused, or it already runs the target.
    async fn send_if_needed(
        &mut self,
        desired: &mut watch::Receiver<Option<Arc<Target>>>,
    ) -> Result<(), ()> {
        // Always mark the latest value seen, so a change while a response is in flight does not
        // wake the loop again and again.
        let Some(target) = desired.borrow_and_update().clone() else {
            return Ok(());
        };
        if self.in_flight.is_some() {
            return Ok(());
        }
        let snapshot = target.for_labels(&self.labels).0.clone();
        if self.refused == Some(snapshot.version) {
            return Ok(());
        }
        if snapshot.is_held_in(&self.holding) {
            // A node that announced exactly this snapshot holds it: share the snapshot's table
            // rather than keep the announced map.
            if matches!(self.holding, Holding::Announced(_)) {
                self.holding = Holding::Snapshot(snapshot.clone());
            }
            if self.version == snapshot.version {
                if self.recorded != Some(self.version) {
                    self.recorded = Some(self.version);
                    self.hub.registry.applied(&self.id, self.version);
                }
                return Ok(());
            }
        }
        // Same resources under another version number (a rollback to identical content, a node that
        // forgot its version) still gets one empty response, so it learns the number it runs.
        let delta = snapshot.delta(&self.holding);
        let nonce = self.hub.next_nonce();
        // The resources go separately, encoded once for every stream sending this delta.
        let fields = DiscoveryResponse {
            version_info: snapshot.version,
            nonce: nonce.clone(),
            resources: Vec::new(),
            removed_resources: delta.removed.clone(),
            snapshot_hash: snapshot.hash.clone(),
            set_digest: snapshot.set_digest.clone(),
        };
        tracing::debug!(
            node = %self.id,
            version = snapshot.version,
            resources = delta.resources.len(),
            removed = delta.removed.len(),
            "sending"
        );
        let encoded = Encoded::new(&fields, delta.encoded.clone());
        let failed = encoded.is_err();
        self.out.send(encoded).await.map_err(|_| ())?;
        if failed {
            return Err(());
        }
        self.in_flight = Some(InFlight { nonce, snapshot });
        Ok(())
    }
}

fn labels(node: &Node) -> BTreeMap<String, String> {
    node.labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
