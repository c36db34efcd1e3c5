//! The client loop against a scripted discovery server on loopback: ACK, NACK (bad hash and apply
//! error), and a reconnect announcing what the node holds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openclaw_config::content_hash;
use openclaw_config::resources::split;
use openclaw_proto::discovery::discovery_server::{Discovery, DiscoveryServer};
use openclaw_proto::discovery::{DiscoveryRequest, DiscoveryResponse};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status, Streaming};

use super::*;
use crate::discovery::held::tests::response;

type Outbound = mpsc::Sender<Result<DiscoveryResponse, Status>>;

/// Hands every opened stream to the test, which plays the control plane by hand.
struct Scripted(mpsc::UnboundedSender<(Streaming<DiscoveryRequest>, Outbound, MetadataMap)>);

#[tonic::async_trait]
impl Discovery for Scripted {
    type StreamStream = ReceiverStream<Result<DiscoveryResponse, Status>>;

    async fn stream(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        let (tx, rx) = mpsc::channel(4);
        let metadata = request.metadata().clone();
        let _ = self.0.send((request.into_inner(), tx, metadata));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

fn doc(listen: &str, endpoint: &str) -> Value {
    json!({"gateway": {
        "http": {"listen": listen},
        "agents": {"discovery": {"static": [{"id": "a", "endpoint": endpoint}]}},
        "routing": {"rules": [{"name": "r", "match": {"type": "default"}, "target": "a"}]}
    }})
}

fn versions(doc: &Value) -> HashMap<String, String> {
    split(doc)
        .iter()
        .map(|(n, v)| (n.clone(), content_hash(v)))
        .collect()
}

async fn next(inbound: &mut Streaming<DiscoveryRequest>) -> DiscoveryRequest {
    tokio::time::timeout(Duration::from_secs(5), inbound.message())
        .await
        .expect("a request in time")
        .expect("no stream error")
        .expect("stream open")
}

#[tokio::test]
async fn acks_nacks_and_reconnects_with_what_it_holds() {
    let (streams_tx, mut streams) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(DiscoveryServer::new(Scripted(streams_tx)))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );

    let mut config = ClientConfig::new(format!("http://{addr}"), "n1");
    config.token = Some("s3cret".into());
    config.labels.insert("ring".into(), "canary".into());
    let client = DiscoveryClient::new(config).expect("client");
    let mut status = client.status();
    let applied = Arc::new(Mutex::new(Vec::new()));
    let seen = applied.clone();
    let apply = move |s: Snapshot| {
        let doc = s.document().map_err(|e| e.to_string())?;
        if doc["gateway"]["http"]["listen"] == "bad" {
            return Err("listen address refused".to_string());
        }
        seen.lock().map_err(|e| e.to_string())?.push(s.version);
        Ok(Applied::default())
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(client.run(Held::new(), apply, async move {
        let _ = stopped.await;
    }));

    // First stream: the node introduces itself, holding nothing.
    let (mut inbound, out, metadata) = streams.recv().await.expect("a stream");
    let auth = metadata.get("authorization").and_then(|v| v.to_str().ok());
    assert_eq!(auth, Some("Bearer s3cret"));
    let first = next(&mut inbound).await;
    let node = first.node.expect("node on the first request");
    assert_eq!(node.id, "n1");
    assert_eq!(node.labels.get("ring").map(String::as_str), Some("canary"));
    assert_eq!(
        (first.version_info, first.initial_resource_versions.len()),
        (0, 0)
    );

    let v1 = doc("0.0.0.0:1", "http://a:1");
    out.send(Ok(response(&HashMap::new(), 1, &v1)))
        .await
        .expect("send v1");
    let ack = next(&mut inbound).await;
    assert_eq!(
        (ack.response_nonce.as_str(), ack.version_info),
        ("nonce-1", 1)
    );
    assert!(ack.error_detail.is_none());

    // A response whose reassembled hash is wrong is NACKed when `apply` reassembles it.
    let mut bad_hash = response(&versions(&v1), 2, &doc("0.0.0.0:1", "http://a:2"));
    bad_hash.snapshot_hash = "ff".into();
    out.send(Ok(bad_hash)).await.expect("send v2");
    let nack = next(&mut inbound).await;
    assert_eq!(
        (nack.response_nonce.as_str(), nack.version_info),
        ("nonce-2", 1)
    );
    let message = nack.error_detail.map(|e| e.message).unwrap_or_default();
    assert!(message.contains("expected ff"), "{message}");

    // A snapshot `apply` refuses is NACKed with its message; the node keeps version 1.
    let v3 = doc("bad", "http://a:1");
    out.send(Ok(response(&versions(&v1), 3, &v3)))
        .await
        .expect("send v3");
    let nack = next(&mut inbound).await;
    assert_eq!(nack.version_info, 1);
    assert_eq!(
        nack.error_detail.map(|e| e.message).as_deref(),
        Some("listen address refused")
    );

    // The next delta is against version 1, as the node kept it.
    let v4 = doc("0.0.0.0:1", "http://a:4");
    let r4 = response(&versions(&v1), 4, &v4);
    assert_eq!(r4.resources.len(), 1);
    out.send(Ok(r4)).await.expect("send v4");
    let ack = next(&mut inbound).await;
    assert_eq!(
        (ack.response_nonce.as_str(), ack.version_info),
        ("nonce-4", 4)
    );
    let st = status
        .wait_for(|s| s.applied_version == 4)
        .await
        .expect("status")
        .clone();
    assert!(st.connected && st.applied_hash == content_hash(&v4));

    // The control plane drops the stream: the node comes back announcing what it holds.
    drop((inbound, out));
    let (mut inbound, _out, _) = tokio::time::timeout(Duration::from_secs(5), streams.recv())
        .await
        .expect("reconnect in time")
        .expect("a second stream");
    let again = next(&mut inbound).await;
    assert_eq!(again.version_info, 4);
    assert_eq!(again.initial_resource_versions, versions(&v4));

    let _ = stop.send(());
    let held = running.await.expect("run ends");
    assert_eq!((held.version(), held.document()), (4, Some(v4)));
    assert_eq!(*applied.lock().expect("applied list"), [1, 4]);
}
