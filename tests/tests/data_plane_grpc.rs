//! gRPC through the data plane (h2c from the client, HTTP/2 to a tonic agent): unary calls, a server
//! stream, and a `grpc-status` error carried in trailers.

#![allow(clippy::unwrap_used)] // Test helpers may panic: a panic is a test failure.

use openclaw_e2e::{DataPlane, GrpcAgent};
use openclaw_proto::admin::admin_client::AdminClient;
use openclaw_proto::admin::{GetRequest, WatchRolloutRequest};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_streaming_and_errors_pass_through() {
    let dir = tempfile::tempdir().unwrap();
    let agent = GrpcAgent::start();
    let config = json!({"gateway": {
        "agents": {"discovery": {"static": [{"id": "grpc", "endpoint": agent.url()}]},
                   "healthCheck": {"enabled": false}},
        "routing": {"rules": [{"name": "admin-svc", "match": {"type": "prefix", "pattern": "/openclaw.admin.v1.Admin"}, "target": "grpc"}]}
    }});
    let dp = DataPlane::standalone(dir.path(), config);
    let mut client = AdminClient::connect(dp.url()).await.unwrap();

    let r = client
        .get(GetRequest {
            version: None,
            key: "hello".into(),
        })
        .await
        .unwrap();
    assert_eq!(r.get_ref().version, 7);
    assert_eq!(r.get_ref().json, "{\"echo\":\"hello\"}");

    let err = client
        .get(GetRequest {
            version: None,
            key: "fail".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
    assert_eq!(err.message(), "no such key: fail");

    let mut stream = client
        .watch_rollout(WatchRolloutRequest { version: 5 })
        .await
        .unwrap()
        .into_inner();
    let mut seen = Vec::new();
    while let Some(ev) = stream.message().await.unwrap() {
        seen.push(ev.node_id);
    }
    assert_eq!(
        seen,
        ["event-1", "event-2", "event-3", "event-4", "event-5"]
    );
}
