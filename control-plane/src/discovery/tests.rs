//! Discovery against real tonic servers on loopback and real gRPC clients.

mod nodes;
mod protocol;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openclaw_config::content_hash;
use openclaw_config::resources::assemble;
use openclaw_proto::admin::NodeStatus;
use openclaw_proto::discovery::discovery_client::DiscoveryClient;
use openclaw_proto::discovery::{DiscoveryRequest, DiscoveryResponse, ErrorDetail, Node};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};

use super::{DiscoveryService, Hub};
use crate::admin::NodeView;
use crate::store::{StoredVersion, VersionMeta};
use crate::versions::Desired;

/// How long a test waits for something that should happen.
const PATIENCE: Duration = Duration::from_secs(5);
/// How long a test listens to be sure nothing is sent.
const QUIET: Duration = Duration::from_millis(300);

/// A document with agents `a`, `b` (endpoint of `a` given) and optionally `c`, and two rules.
fn doc(endpoint_a: &str, with_c: bool) -> Value {
    let mut agents = vec![
        json!({"id": "a", "endpoint": endpoint_a}),
        json!({"id": "b", "endpoint": "http://b:1"}),
    ];
    if with_c {
        agents.push(json!({"id": "c", "endpoint": "http://c:1"}));
    }
    json!({"gateway": {
        "http": {"listen": "0.0.0.0:8080"},
        "agents": {"discovery": {"static": agents}},
        "routing": {"rules": [
            {"name": "api", "match": {"type": "prefix", "pattern": "/api"}, "target": "b"},
            {"name": "rest", "match": {"type": "default"}, "target": "a"}
        ]}
    }})
}

fn stored(version: u64, doc: &Value) -> Arc<StoredVersion> {
    Arc::new(StoredVersion {
        meta: VersionMeta {
            version,
            parent: version.saturating_sub(1),
            author: "test".into(),
            time: "2026-01-01T00:00:00Z".into(),
            message: String::new(),
            hash: content_hash(doc),
        },
        doc: doc.clone(),
    })
}

fn stable(version: u64, doc: &Value) -> Desired {
    Desired {
        stable: stored(version, doc),
        canary: None,
    }
}

/// Saved node statuses, as a store would keep them.
#[derive(Clone, Default)]
struct Saved(Arc<Mutex<BTreeMap<String, Vec<u8>>>>);

impl Saved {
    fn list(&self) -> Vec<(String, Vec<u8>)> {
        let saved = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        saved.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

/// A hub serving `initial`, saving nodes into `saved`, on a real server; returns its address.
async fn serve(initial: Option<Desired>, saved: &Saved) -> (Arc<Hub>, SocketAddr) {
    let sink = saved.0.clone();
    let hub = Hub::new(
        initial,
        saved.list(),
        Box::new(move |id: &str, bytes: &[u8]| {
            if let Ok(mut m) = sink.lock() {
                m.insert(id.to_owned(), bytes.to_vec());
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let service = DiscoveryService::new(hub.clone());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    (hub, addr)
}

/// A data plane speaking the protocol by hand.
struct TestNode {
    tx: mpsc::Sender<DiscoveryRequest>,
    rx: tonic::Streaming<DiscoveryResponse>,
    /// Name → value of what it holds (after its ACKs).
    held: BTreeMap<String, Value>,
}

impl TestNode {
    async fn connect(addr: SocketAddr, id: &str, labels: &[(&str, &str)]) -> TestNode {
        Self::reconnect(addr, id, labels, BTreeMap::new(), 0).await
    }

    async fn reconnect(
        addr: SocketAddr,
        id: &str,
        labels: &[(&str, &str)],
        held: BTreeMap<String, Value>,
        version: u64,
    ) -> TestNode {
        let first = DiscoveryRequest {
            node: Some(Node {
                id: id.into(),
                labels: labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                software_version: "test-1".into(),
                local_overrides: vec!["http.listen".into()],
                restart_required: vec![],
            }),
            initial_resource_versions: held
                .iter()
                .map(|(n, v)| (n.clone(), content_hash(v)))
                .collect(),
            version_info: version,
            ..DiscoveryRequest::default()
        };
        let (tx, rx) = Self::open(addr, first).await.expect("stream opens");
        TestNode { tx, rx, held }
    }

    async fn open(
        addr: SocketAddr,
        first: DiscoveryRequest,
    ) -> Result<
        (
            mpsc::Sender<DiscoveryRequest>,
            tonic::Streaming<DiscoveryResponse>,
        ),
        tonic::Status,
    > {
        let mut client = DiscoveryClient::connect(format!("http://{addr}"))
            .await
            .expect("connect");
        let (tx, rx) = mpsc::channel(8);
        tx.send(first).await.expect("queue first request");
        let inbound = client.stream(ReceiverStream::new(rx)).await?.into_inner();
        Ok((tx, inbound))
    }

    async fn recv(&mut self) -> DiscoveryResponse {
        tokio::time::timeout(PATIENCE, self.rx.message())
            .await
            .expect("a response in time")
            .expect("no stream error")
            .expect("stream still open")
    }

    async fn assert_quiet(&mut self) {
        if let Ok(m) = tokio::time::timeout(QUIET, self.rx.message()).await {
            panic!("expected nothing, got {m:?}");
        }
    }

    /// Applies `r` to what it holds and checks the reassembled document against `snapshot_hash`.
    fn apply(&mut self, r: &DiscoveryResponse) -> Value {
        for res in &r.resources {
            let value: Value = serde_json::from_slice(&res.body).expect("JSON body");
            assert_eq!(
                res.version,
                content_hash(&value),
                "{} version is its hash",
                res.name
            );
            self.held.insert(res.name.clone(), value);
        }
        for name in &r.removed_resources {
            self.held.remove(name);
        }
        let doc = assemble(&self.held).expect("reassembles");
        assert_eq!(content_hash(&doc), r.snapshot_hash);
        doc
    }

    async fn ack(&mut self, r: &DiscoveryResponse) -> Value {
        let doc = self.apply(r);
        self.send(r.version_info, &r.nonce, None).await;
        doc
    }

    async fn nack(&mut self, r: &DiscoveryResponse, held_version: u64, error: &str) {
        self.send(held_version, &r.nonce, Some(error)).await;
    }

    async fn send(&mut self, version: u64, nonce: &str, error: Option<&str>) {
        let request = DiscoveryRequest {
            version_info: version,
            response_nonce: nonce.into(),
            error_detail: error.map(|m| ErrorDetail { message: m.into() }),
            ..DiscoveryRequest::default()
        };
        self.tx.send(request).await.expect("request sent");
    }
}

fn names(r: &DiscoveryResponse) -> Vec<&str> {
    r.resources.iter().map(|r| r.name.as_str()).collect()
}

/// Polls `hub.nodes()` until `check` holds for node `id`; returns its status.
async fn wait_node(hub: &Hub, id: &str, check: impl Fn(&NodeStatus) -> bool) -> NodeStatus {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let found = hub.nodes().into_iter().find(|n| n.node_id == id);
        if let Some(n) = found.filter(|n| check(n)) {
            return n;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "node {id} never got there: {:?}",
            hub.nodes()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn snapshots_carry_their_set_digest_and_share_deltas() {
    use super::snapshot::{Holding, Snapshot};
    use openclaw_config::resources::{SetDigest, split};

    let (d1, d2) = (doc("http://a:1", true), doc("http://a:2", false));
    let v1 = Arc::new(Snapshot::encode(&stored(1, &d1)));
    let v2 = Snapshot::encode(&stored(2, &d2));
    let hashes: Vec<(String, String)> = split(&d2)
        .iter()
        .map(|(n, v)| (n.clone(), content_hash(v)))
        .collect();
    let expected = SetDigest::of(hashes.iter().map(|(n, h)| (n.as_str(), h.as_str())));
    assert_eq!(v2.set_digest, expected.to_hex());

    let delta = v2.delta(&Holding::Snapshot(v1.clone()));
    let sent: Vec<&str> = delta.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        (sent, delta.removed.clone()),
        (
            vec!["agent/a", "section/agents"],
            vec!["agent/c".to_owned()]
        )
    );
    // Every stream whose node holds v1 gets the same delta, computed once.
    assert!(Arc::ptr_eq(&delta, &v2.delta(&Holding::Snapshot(v1))));
    // So does every node that holds nothing yet: one full snapshot, encoded once.
    let nothing = || Holding::Announced(HashMap::new());
    let full = v2.delta(&nothing());
    assert_eq!(full.resources.len(), hashes.len());
    assert!(Arc::ptr_eq(&full, &v2.delta(&nothing())));
}
