use std::sync::Mutex as StdMutex;

use serde_json::json;

use super::*;

/// A [`Publish`] that remembers every desired state.
#[derive(Default)]
struct Recorder(StdMutex<Vec<Desired>>);

impl Publish for Recorder {
    fn publish(&self, desired: Desired) {
        self.0.lock().unwrap().push(desired);
    }
}

impl Recorder {
    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    fn last(&self) -> Desired {
        self.0.lock().unwrap().last().cloned().unwrap()
    }
}

fn doc(port: u16) -> Value {
    json!({"gateway": {"http": {"listen": format!("127.0.0.1:{port}")}}})
}

struct Fixture {
    _dir: tempfile::TempDir,
    versions: Versions,
    published: Arc<Recorder>,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let published = Arc::new(Recorder::default());
    let versions = Versions::new(store, published.clone());
    versions.bootstrap(doc(1)).await.unwrap().unwrap();
    Fixture {
        _dir: dir,
        versions,
        published,
    }
}

fn merge(patch: Value) -> PatchArgs {
    PatchArgs {
        patch,
        format: PatchFormat::Merge,
        expect: None,
        author: "alice".into(),
        message: "m".into(),
        dry_run: false,
        canary: BTreeMap::new(),
    }
}

fn selector() -> BTreeMap<String, String> {
    BTreeMap::from([("ring".to_string(), "canary".to_string())])
}

#[tokio::test]
async fn bootstrap_stores_only_into_an_empty_store() {
    let f = fixture().await;
    assert_eq!(f.versions.head_version().unwrap(), 1);
    assert!(f.versions.bootstrap(doc(9)).await.unwrap().is_none());
    assert_eq!(f.versions.head_version().unwrap(), 1);
    let desired = f.versions.desired().await.unwrap().unwrap();
    assert_eq!(desired.stable.meta.version, 1);
    assert!(desired.canary.is_none());
    // Bootstrap leaves publishing to the caller.
    assert_eq!(f.published.count(), 0);
}

#[tokio::test]
async fn invalid_documents_are_refused_with_every_problem() {
    let f = fixture().await;
    let bad = json!({"gateway": {"http": {"listen": 7, "nope": true}}});
    let err = f.versions.put(bad, None, "a", "m").await.unwrap_err();
    let VersionsError::Invalid(problems) = &err else {
        panic!("{err:?}");
    };
    assert!(problems.len() >= 2, "{problems:?}");
    assert!(
        problems.iter().any(|p| p.contains("gateway.http.nope")),
        "{problems:?}"
    );
    assert_eq!(err.to_string(), problems.join("\n"));
    assert_eq!(err.kind(), "invalid");
    assert_eq!(f.versions.head_version().unwrap(), 1);
    assert_eq!(f.published.count(), 0);
}

#[tokio::test]
async fn unchanged_content_creates_no_version() {
    let f = fixture().await;
    let w = f.versions.put(doc(1), Some(1), "a", "same").await.unwrap();
    assert!(!w.changed);
    assert_eq!(w.meta.version, 1);
    assert!(w.changes.is_empty());
    assert_eq!(f.published.count(), 0);

    let w = f.versions.put(doc(2), Some(1), "bob", "new").await.unwrap();
    assert!(w.changed);
    assert_eq!((w.meta.version, w.meta.parent), (2, 1));
    assert_eq!(w.meta.author, "bob");
    assert_eq!(w.changes.len(), 1);
    assert_eq!(f.published.last().stable.meta.version, 2);
}

#[tokio::test]
async fn stale_expect_is_a_conflict() {
    let f = fixture().await;
    f.versions.put(doc(2), None, "a", "m").await.unwrap();
    let err = f.versions.put(doc(3), Some(1), "a", "m").await.unwrap_err();
    assert!(matches!(
        err,
        VersionsError::Conflict {
            expected: 1,
            actual: 2
        }
    ));
    assert_eq!(err.to_string(), "head is at version 2, expected 1");
    let mut args = merge(json!({"gateway": {"logging": {"level": "debug"}}}));
    args.expect = Some(7);
    let err = f.versions.patch(args).await.unwrap_err();
    assert_eq!(err.to_string(), "head is at version 2, expected 7");
}

#[tokio::test]
async fn concurrent_writers_on_the_same_head_one_wins() {
    let f = Arc::new(fixture().await);
    let mut tasks = Vec::new();
    for port in 10..18u16 {
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            f.versions.put(doc(port), Some(1), "a", "race").await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(w) => {
                assert_eq!(w.meta.version, 2);
                ok += 1;
            }
            Err(e) => assert_eq!(e.kind(), "conflict"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(f.versions.head_version().unwrap(), 2);
}

#[tokio::test]
async fn merge_and_json_patches_are_rooted_at_gateway() {
    let f = fixture().await;
    let w = f
        .versions
        .patch(merge(json!({"gateway": {"logging": {"level": "debug"}}})))
        .await
        .unwrap();
    assert_eq!(w.meta.version, 2);
    let (_, level) = f.versions.get(None, "logging.level").unwrap();
    assert_eq!(level, "debug");

    let mut args = merge(json!([
        {"op": "replace", "path": "/gateway/http/listen", "value": "127.0.0.1:5"}
    ]));
    args.format = PatchFormat::JsonPatch;
    let w = f.versions.patch(args).await.unwrap();
    assert_eq!(w.meta.version, 3);
    assert_eq!(
        f.versions.get(None, "http.listen").unwrap().1,
        "127.0.0.1:5"
    );

    let err = f
        .versions
        .patch(merge(json!({"http": {}})))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "bad_request");
    let mut args = merge(json!([{"op": "remove", "path": "/gateway/missing"}]));
    args.format = PatchFormat::JsonPatch;
    assert_eq!(
        f.versions.patch(args).await.unwrap_err().kind(),
        "bad_request"
    );
    assert_eq!(f.versions.head_version().unwrap(), 3);
}

#[tokio::test]
async fn dry_run_returns_diff_and_problems_without_storing() {
    let f = fixture().await;
    let mut args =
        merge(json!({"gateway": {"http": {"listen": 5}, "logging": {"level": "debug"}}}));
    args.dry_run = true;
    let w = f.versions.patch(args).await.unwrap();
    assert!(w.dry_run && w.changed);
    assert_eq!(w.meta.version, 1);
    assert_eq!(w.changes.len(), 2, "{:?}", w.changes);
    assert!(
        w.problems.iter().any(|p| p.contains("gateway.http.listen")),
        "{:?}",
        w.problems
    );
    assert_eq!(f.versions.head_version().unwrap(), 1);
    assert_eq!(f.published.count(), 0);
}

#[tokio::test]
async fn canary_survives_restart_and_promote_ends_it() {
    let dir = tempfile::tempdir().unwrap();
    let published = Arc::new(Recorder::default());
    {
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let versions = Versions::new(store, published.clone());
        versions.bootstrap(doc(1)).await.unwrap();
        let mut args = merge(json!({"gateway": {"logging": {"level": "debug"}}}));
        args.canary = selector();
        let w = versions.patch(args).await.unwrap();
        assert_eq!(w.meta.version, 2);
        assert_eq!(w.canary, selector());
        let d = published.last();
        assert_eq!(d.stable.meta.version, 1);
        let (canary, sel) = d.canary.unwrap();
        assert_eq!((canary.meta.version, sel), (2, selector()));
        let d = versions.desired().await.unwrap().unwrap();
        assert_eq!(
            d.canary.map(|(c, s)| (c.meta.version, s)),
            Some((2, selector()))
        );

        let err = versions.put(doc(3), None, "a", "m").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "a canary of version 2 is active: promote or rollback first"
        );
        let err = versions
            .patch(merge(json!({"gateway": {}})))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), "canary_active");
    }

    let store = Arc::new(crate::store::tests::open_when_released(dir.path()));
    let versions = Versions::new(store, published.clone());
    let d = versions.desired().await.unwrap().unwrap();
    assert_eq!(d.stable.meta.version, 1);
    assert_eq!(d.canary.as_ref().map(|(c, _)| c.meta.version), Some(2));

    let before = published.count();
    let w = versions.promote("carol").await.unwrap();
    assert_eq!(w.meta.version, 2);
    assert!(!w.changed && w.canary.is_empty());
    assert_eq!(w.changes.len(), 1);
    assert_eq!(published.count(), before + 1);
    let d = published.last();
    assert_eq!((d.stable.meta.version, d.canary.is_none()), (2, true));
    assert_eq!(versions.desired().await.unwrap().unwrap(), d);
    assert_eq!(versions.head_version().unwrap(), 2);

    assert_eq!(
        versions.promote("carol").await.unwrap_err().kind(),
        "no_canary"
    );
    versions
        .put(doc(3), None, "a", "after promote")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_canary_needs_a_stable_version() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let versions = Versions::new(store, Arc::new(Recorder::default()));
    let mut args = merge(json!({"gateway": {}}));
    args.canary = selector();
    assert_eq!(
        versions.patch(args).await.unwrap_err().kind(),
        "bad_request"
    );
    assert_eq!(versions.head_version().unwrap(), 0);
}

#[tokio::test]
async fn rollback_stores_old_content_and_ends_the_canary() {
    let f = fixture().await;
    let mut args = merge(json!({"gateway": {"logging": {"level": "debug"}}}));
    args.canary = selector();
    f.versions.patch(args).await.unwrap();

    let w = f.versions.rollback(1, "dave", "").await.unwrap();
    assert!(w.changed);
    assert_eq!((w.meta.version, w.meta.parent), (3, 2));
    assert_eq!(w.meta.message, "rollback to 1");
    assert_eq!(w.meta.author, "dave");
    let v1 = f.versions.get(Some(1), "").unwrap().1;
    assert_eq!(f.versions.get(None, "").unwrap(), (3, v1));
    let d = f.published.last();
    assert_eq!((d.stable.meta.version, d.canary.is_none()), (3, true));
    assert!(
        f.versions
            .desired()
            .await
            .unwrap()
            .unwrap()
            .canary
            .is_none()
    );

    // Back to what head already holds: nothing new, nothing published.
    let published = f.published.count();
    let w = f.versions.rollback(1, "dave", "again").await.unwrap();
    assert!(!w.changed);
    assert_eq!(f.published.count(), published);
    assert_eq!(w.meta.version, 3);
    let w = f.versions.rollback(2, "dave", "why not").await.unwrap();
    assert_eq!(w.meta.message, "why not");

    let err = f.versions.rollback(42, "dave", "").await.unwrap_err();
    assert_eq!(err.to_string(), "version 42 not found");
    assert_eq!(err.kind(), "not_found");
}

#[tokio::test]
async fn get_redacts_and_names_missing_keys() {
    let f = fixture().await;
    let secret = json!({"gateway": {"cache": {"layers": [{
        "name": "L2", "type": "redis", "endpoint": "redis://10.0.0.1:6379",
        "password": "hunter2", "ttl": "5m"
    }]}}});
    f.versions.patch(merge(secret)).await.unwrap();
    let (v, whole) = f.versions.get(None, "").unwrap();
    assert_eq!(v, 2);
    assert!(!whole.to_string().contains("hunter2"), "{whole}");
    let (_, pw) = f.versions.get(None, "cache.layers[0].password").unwrap();
    assert_ne!(pw, "hunter2");
    let (_, listen) = f.versions.get(Some(1), "gateway.http.listen").unwrap();
    assert_eq!(listen, "127.0.0.1:1");

    let err = f.versions.get(None, "routing.nope").unwrap_err();
    assert_eq!(err.to_string(), "key `routing.nope` not found in version 2");
    assert_eq!(f.versions.get(Some(9), "").unwrap_err().kind(), "not_found");
    assert_eq!(
        f.versions.get(None, "a[x]").unwrap_err().kind(),
        "bad_request"
    );
}

#[tokio::test]
async fn history_and_diff() {
    let f = fixture().await;
    for port in 2..6 {
        f.versions.put(doc(port), None, "a", "m").await.unwrap();
    }
    let versions: Vec<u64> = f
        .versions
        .history(2, None)
        .unwrap()
        .iter()
        .map(|m| m.version)
        .collect();
    assert_eq!(versions, [5, 4]);
    let versions: Vec<u64> = f
        .versions
        .history(10, Some(4))
        .unwrap()
        .iter()
        .map(|m| m.version)
        .collect();
    assert_eq!(versions, [3, 2, 1]);

    let changes = f.versions.diff(1, 0).unwrap();
    assert_eq!(
        diff::Display(&changes).to_string(),
        "~ gateway.http.listen: \"127.0.0.1:1\" -> \"127.0.0.1:5\""
    );
    assert!(f.versions.diff(3, 3).unwrap().is_empty());
    assert_eq!(
        f.versions.diff(1, 99).unwrap_err().to_string(),
        "version 99 not found"
    );
}

#[tokio::test]
async fn validate_lists_problems() {
    let f = fixture().await;
    assert!(f.versions.validate(&doc(1)).is_empty());
    assert!(
        !f.versions
            .validate(&json!({"gateway": {"http": {"listen": 1}}}))
            .is_empty()
    );
}

#[tokio::test]
async fn rollback_to_the_canary_content_ends_the_canary() {
    let f = fixture().await;
    let mut args = merge(json!({"gateway": {"logging": {"level": "debug"}}}));
    args.canary = selector();
    f.versions.patch(args).await.unwrap();
    let w = f.versions.rollback(2, "dave", "").await.unwrap();
    assert!(!w.changed);
    assert_eq!(w.meta.version, 2);
    let d = f.published.last();
    assert_eq!((d.stable.meta.version, d.canary.is_none()), (2, true));
    assert!(
        f.versions
            .desired()
            .await
            .unwrap()
            .unwrap()
            .canary
            .is_none()
    );
}
