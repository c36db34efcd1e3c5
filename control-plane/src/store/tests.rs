use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::json;

use super::*;

/// Opens the store in `dir`, waiting for a handle dropped in this process to let go: sled's
/// background flusher releases the directory lock a moment after the last `Db` is dropped.
pub(crate) fn open_when_released(dir: &std::path::Path) -> Store {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match Store::open(dir) {
            Ok(store) => return store,
            Err(e) if std::time::Instant::now() < deadline => {
                assert!(e.to_string().contains("lock"), "{e}");
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => panic!("store still locked: {e}"),
        }
    }
}

fn doc(n: u32) -> Value {
    json!({"gateway": {"http": {"listen": format!("127.0.0.1:{n}")}}})
}

#[test]
fn empty_store_has_no_head() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.head_version().unwrap(), 0);
    assert!(store.head().unwrap().is_none());
    assert!(store.get(1).unwrap().is_none());
    assert!(matches!(store.require(1), Err(StoreError::NotFound(1))));
    assert!(store.history(10, None).unwrap().is_empty());
}

#[test]
fn commit_records_meta_and_checks_head() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let m1 = store.commit(0, &doc(1), "alice", "first").unwrap();
    assert_eq!((m1.version, m1.parent), (1, 0));
    assert_eq!(m1.author, "alice");
    assert_eq!(m1.message, "first");
    assert_eq!(m1.hash, openclaw_config::content_hash(&doc(1)));
    assert!(
        OffsetDateTime::parse(&m1.time, &Rfc3339).is_ok(),
        "{}",
        m1.time
    );

    let err = store.commit(0, &doc(2), "bob", "stale").unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                expected: 0,
                actual: 1
            }
        ),
        "{err}"
    );
    assert_eq!(err.to_string(), "head is at version 1, expected 0");
    assert_eq!(err.kind(), "conflict");
    assert_eq!(store.head_version().unwrap(), 1);

    let m2 = store.commit(1, &doc(2), "bob", "second").unwrap();
    assert_eq!((m2.version, m2.parent), (2, 1));
    let head = store.head().unwrap().unwrap();
    assert_eq!(head.meta, m2);
    assert_eq!(head.doc, doc(2));
}

#[test]
fn history_pages_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for n in 0..7u32 {
        store.commit(u64::from(n), &doc(n), "a", "m").unwrap();
    }
    let versions = |ms: Vec<VersionMeta>| ms.iter().map(|m| m.version).collect::<Vec<_>>();
    assert_eq!(versions(store.history(3, None).unwrap()), [7, 6, 5]);
    assert_eq!(versions(store.history(3, Some(5)).unwrap()), [4, 3, 2]);
    assert_eq!(versions(store.history(3, Some(2)).unwrap()), [1]);
    assert!(store.history(3, Some(1)).unwrap().is_empty());
    assert!(store.history(3, Some(0)).unwrap().is_empty());
    assert!(store.history(0, None).unwrap().is_empty());
    assert_eq!(store.history(100, None).unwrap().len(), 7);
}

#[test]
fn meta_blobs_and_nodes_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store.put_meta("canary", b"{\"version\":3}").unwrap();
        // A blob named `head` must not clobber the head version.
        store.put_meta("head", b"not a number").unwrap();
        store.commit(0, &doc(1), "a", "m").unwrap();
        store.put_node("node-b", b"b").unwrap();
        store.put_node("node-a", b"a").unwrap();
        store.put_meta("gone", b"x").unwrap();
        store.delete_meta("gone").unwrap();
        store.db.flush().unwrap();
    }
    let store = open_when_released(dir.path());
    assert_eq!(store.head_version().unwrap(), 1);
    assert_eq!(
        store.get_meta("canary").unwrap().as_deref(),
        Some(&b"{\"version\":3}"[..])
    );
    assert_eq!(
        store.get_meta("head").unwrap().as_deref(),
        Some(&b"not a number"[..])
    );
    assert!(store.get_meta("gone").unwrap().is_none());
    assert_eq!(
        store.nodes().unwrap(),
        vec![
            ("node-a".to_string(), b"a".to_vec()),
            ("node-b".to_string(), b"b".to_vec())
        ]
    );
}

#[test]
fn commit_with_meta_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.put_meta("old", b"1").unwrap();
    store
        .commit_with_meta(
            0,
            &doc(1),
            "a",
            "m",
            &[("canary", Some(b"c")), ("old", None)],
        )
        .unwrap();
    assert_eq!(
        store.get_meta("canary").unwrap().as_deref(),
        Some(&b"c"[..])
    );
    assert!(store.get_meta("old").unwrap().is_none());

    let err = store
        .commit_with_meta(0, &doc(2), "a", "m", &[("canary", None)])
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }));
    assert_eq!(
        store.get_meta("canary").unwrap().as_deref(),
        Some(&b"c"[..])
    );
}

#[derive(Clone, Debug)]
enum Op {
    /// Commit document `n`, on top of the right head or one that is `offset` off.
    Commit {
        n: u32,
        wrong_by: Option<u64>,
    },
    Reopen,
    Get(u64),
    History {
        limit: usize,
        before: Option<u64>,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<u32>(), proptest::option::weighted(0.3, 1..3u64))
            .prop_map(|(n, wrong_by)| Op::Commit { n: n % 5, wrong_by }),
        1 => Just(Op::Reopen),
        2 => (0..12u64).prop_map(Op::Get),
        2 => (0..6usize, proptest::option::of(0..12u64))
            .prop_map(|(limit, before)| Op::History { limit, before }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The store behaves exactly like a `BTreeMap` of versions, across reopens.
    #[test]
    fn behaves_like_a_btreemap(ops in proptest::collection::vec(op(), 1..30)) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let mut model: BTreeMap<u64, (VersionMeta, Value)> = BTreeMap::new();

        for op in ops {
            let head = model.keys().next_back().copied().unwrap_or(0);
            match op {
                Op::Commit { n, wrong_by } => {
                    let expect = match wrong_by {
                        None => head,
                        Some(d) if d % 2 == 0 || head < d => head + d,
                        Some(d) => head - d,
                    };
                    let result = store.commit(expect, &doc(n), "a", &format!("doc {n}"));
                    if expect == head {
                        let meta = result.unwrap();
                        prop_assert_eq!(meta.version, head + 1);
                        prop_assert_eq!(meta.parent, head);
                        prop_assert_eq!(&meta.hash, &openclaw_config::content_hash(&doc(n)));
                        model.insert(meta.version, (meta, doc(n)));
                    } else {
                        let conflict = matches!(
                            result,
                            Err(StoreError::Conflict { expected, actual })
                                if expected == expect && actual == head
                        );
                        prop_assert!(conflict);
                    }
                }
                Op::Reopen => {
                    drop(store);
                    store = open_when_released(dir.path());
                }
                Op::Get(v) => {
                    let got = store.get(v).unwrap().map(|sv| (sv.meta, sv.doc));
                    prop_assert_eq!(got, model.get(&v).cloned());
                }
                Op::History { limit, before } => {
                    let got = store.history(limit, before).unwrap();
                    let want: Vec<VersionMeta> = model
                        .range(..before.unwrap_or(u64::MAX))
                        .rev()
                        .take(limit)
                        .map(|(_, (m, _))| m.clone())
                        .collect();
                    prop_assert_eq!(got, want);
                }
            }
            let head = model.keys().next_back().copied().unwrap_or(0);
            prop_assert_eq!(store.head_version().unwrap(), head);
            prop_assert_eq!(
                store.head().unwrap().map(|sv| sv.meta),
                model.get(&head).map(|(m, _)| m.clone())
            );
        }
    }
}
