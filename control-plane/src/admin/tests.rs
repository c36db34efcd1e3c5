use std::sync::Mutex as StdMutex;

use serde_json::json;
use tokio_stream::StreamExt;
use tonic::Code;

use super::*;
use crate::store::Store;
use crate::versions::{Desired, Publish};

struct NoPublish;

impl Publish for NoPublish {
    fn publish(&self, _: Desired) {}
}

/// A [`NodeView`] with one node that answers every rollout with one `done` event for the version asked.
#[derive(Default)]
struct FakeNodes {
    asked: StdMutex<Vec<u64>>,
}

impl NodeView for FakeNodes {
    fn nodes(&self) -> Vec<NodeStatus> {
        vec![NodeStatus {
            node_id: "dp-1".into(),
            applied_version: 1,
            ..NodeStatus::default()
        }]
    }

    fn rollout(&self, version: u64) -> mpsc::Receiver<Result<RolloutEvent, Status>> {
        self.asked.lock().unwrap().push(version);
        let (tx, rx) = mpsc::channel(1);
        tx.try_send(Ok(RolloutEvent {
            node_id: "dp-1".into(),
            applied_version: version,
            applied: 1,
            total: 1,
            done: true,
            ..RolloutEvent::default()
        }))
        .unwrap();
        rx
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    service: AdminService,
    nodes: Arc<FakeNodes>,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let versions = Arc::new(Versions::new(store, Arc::new(NoPublish)));
    versions
        .bootstrap(json!({"gateway": {"http": {"listen": "127.0.0.1:1"}}}))
        .await
        .unwrap();
    let nodes = Arc::new(FakeNodes::default());
    Fixture {
        _dir: dir,
        service: AdminService::new(versions, nodes.clone()),
        nodes,
    }
}

fn put(json: Value, expect: Option<u64>) -> Request<PutRequest> {
    Request::new(PutRequest {
        json: json.to_string(),
        expect_version: expect,
        message: "m".into(),
        author: String::new(),
    })
}

fn merge(patch: Value) -> PatchRequest {
    PatchRequest {
        patch_json: patch.to_string(),
        format: ProtoPatchFormat::Merge as i32,
        author: "alice".into(),
        ..PatchRequest::default()
    }
}

#[tokio::test]
async fn put_then_get_and_history() {
    let f = fixture().await;
    let doc = json!({"gateway": {"http": {"listen": "127.0.0.1:2"}}});
    let w = f.service.put(put(doc, Some(1))).await.unwrap().into_inner();
    assert!(w.changed);
    let info = w.version.unwrap();
    assert_eq!((info.version, info.parent), (2, 1));
    assert_eq!(info.author, "unknown");
    assert!(
        w.diff_text.contains("gateway.http.listen"),
        "{}",
        w.diff_text
    );
    let diff: Value = serde_json::from_str(&w.diff_json).unwrap();
    assert_eq!(diff[0]["op"], "replace");

    let got = f
        .service
        .get(Request::new(GetRequest {
            version: None,
            key: "http.listen".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((got.version, got.json.as_str()), (2, "\"127.0.0.1:2\""));

    let h = f
        .service
        .history(Request::new(HistoryRequest::default()))
        .await
        .unwrap()
        .into_inner();
    let versions: Vec<u64> = h.versions.iter().map(|v| v.version).collect();
    assert_eq!(versions, [2, 1]);

    let d = f
        .service
        .diff(Request::new(DiffRequest { from: 1, to: 2 }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        d.diff_text,
        "~ gateway.http.listen: \"127.0.0.1:1\" -> \"127.0.0.1:2\""
    );
}

#[tokio::test]
async fn errors_map_to_grpc_codes() {
    let f = fixture().await;
    let invalid = json!({"gateway": {"http": {"listen": 1, "bogus": 2}}});
    let err = f.service.put(put(invalid, None)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().lines().count() >= 2, "{}", err.message());

    let ok = json!({"gateway": {"http": {"listen": "127.0.0.1:3"}}});
    let err = f.service.put(put(ok, Some(5))).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(err.message(), "conflict: head is at version 1, expected 5");

    let err = f
        .service
        .put(Request::new(PutRequest {
            json: "{not json".into(),
            ..PutRequest::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    let err = f
        .service
        .get(Request::new(GetRequest {
            version: None,
            key: "routing.nope".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert!(err.message().contains("routing.nope"));

    let err = f
        .service
        .promote(Request::new(PromoteRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);

    let mut bad_format = merge(json!({"gateway": {}}));
    bad_format.format = 7;
    let err = f.service.patch(Request::new(bad_format)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn patch_dry_run_canary_promote_and_rollback() {
    let f = fixture().await;
    let mut dry = merge(json!({"gateway": {"http": {"listen": 9}}}));
    dry.dry_run = true;
    let w = f
        .service
        .patch(Request::new(dry))
        .await
        .unwrap()
        .into_inner();
    assert!(w.dry_run);
    assert_eq!(w.version.unwrap().version, 1);
    assert!(!w.problems.is_empty());

    let mut canary = merge(json!({"gateway": {"logging": {"level": "debug"}}}));
    canary.canary.insert("ring".into(), "canary".into());
    let w = f
        .service
        .patch(Request::new(canary))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(w.version.unwrap().version, 2);
    assert_eq!(w.canary.get("ring").map(String::as_str), Some("canary"));

    let err = f
        .service
        .patch(Request::new(merge(json!({"gateway": {}}))))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message().contains("canary of version 2 is active"),
        "{}",
        err.message()
    );

    let w = f
        .service
        .promote(Request::new(PromoteRequest {
            author: "bob".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(w.version.unwrap().version, 2);
    assert!(w.canary.is_empty());

    let w = f
        .service
        .rollback(Request::new(RollbackRequest {
            to_version: 1,
            ..RollbackRequest::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let info = w.version.unwrap();
    assert_eq!((info.version, info.message.as_str()), (3, "rollback to 1"));
}

#[tokio::test]
async fn validate_nodes_and_rollout() {
    let f = fixture().await;
    let v = f
        .service
        .validate(Request::new(ValidateRequest {
            json: json!({"gateway": {"http": {"listen": 1}}}).to_string(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(!v.valid && !v.problems.is_empty());

    let n = f
        .service
        .nodes(Request::new(NodesRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(n.nodes[0].node_id, "dp-1");

    let mut stream = f
        .service
        .watch_rollout(Request::new(WatchRolloutRequest { version: 0 }))
        .await
        .unwrap()
        .into_inner();
    let event = stream.next().await.unwrap().unwrap();
    assert!(event.done);
    assert_eq!(event.applied_version, 1);
    assert!(stream.next().await.is_none());
    f.service
        .watch_rollout(Request::new(WatchRolloutRequest { version: 7 }))
        .await
        .unwrap();
    assert_eq!(*f.nodes.asked.lock().unwrap(), [1, 7]);
}
