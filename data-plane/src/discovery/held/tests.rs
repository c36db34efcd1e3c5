use openclaw_config::resources::{SetDigest, split};
use std::collections::HashMap;

use openclaw_config::{canonical_bytes, content_hash};
use openclaw_proto::discovery::{DiscoveryResponse, Resource};
use serde_json::{Value, json};

use super::*;

fn doc(endpoint_a: &str, with_c: bool) -> Value {
    let mut agents = vec![
        json!({"id": "a", "endpoint": endpoint_a}),
        json!({"id": "b", "endpoint": "http://b:1"}),
    ];
    if with_c {
        agents.push(json!({"id": "c", "endpoint": "http://c:1"}));
    }
    json!({"gateway": {
        "agents": {"discovery": {"static": agents}},
        "routing": {"rules": [{"name": "r", "match": {"type": "default"}, "target": "a"}]}
    }})
}

fn resource(name: &str, value: &Value) -> Resource {
    Resource {
        name: name.into(),
        version: content_hash(value),
        body: canonical_bytes(value).into(),
    }
}

/// What a correct control plane sends to a node holding `held` so that it holds `target`.
fn delta(held: &Held, version: u64, target: &Value) -> DiscoveryResponse {
    response(&held.resource_versions(), version, target)
}

/// What a correct control plane sends to a node holding `have` (name → hash) so it holds `target`.
pub(crate) fn response(
    have: &HashMap<String, String>,
    version: u64,
    target: &Value,
) -> DiscoveryResponse {
    let parts = split(target);
    DiscoveryResponse {
        version_info: version,
        nonce: format!("nonce-{version}"),
        resources: parts
            .iter()
            .filter(|(n, v)| have.get(*n) != Some(&content_hash(v)))
            .map(|(n, v)| resource(n, v))
            .collect(),
        removed_resources: have
            .keys()
            .filter(|n| !parts.contains_key(*n))
            .cloned()
            .collect(),
        snapshot_hash: content_hash(target),
        set_digest: digest_of(target).to_hex(),
    }
}

#[test]
fn full_snapshot_then_delta_then_removal() {
    let mut held = Held::new();
    let v1 = doc("http://a:1", true);
    let (staged, snap) = held.stage(&delta(&held, 1, &v1)).expect("v1 stages");
    assert_eq!(snap.document().ok(), Some(&v1));
    assert_eq!(snap.hash, content_hash(&v1));
    assert!(held.is_empty(), "staging leaves what is held alone");
    held.commit(staged);
    assert_eq!((held.version(), held.len()), (1, 6));
    assert_eq!(held.document(), Some(v1.clone()));

    let v2 = doc("http://a:2", true);
    let r2 = delta(&held, 2, &v2);
    assert_eq!(r2.resources.len(), 1);
    assert_eq!(r2.resources[0].name, "agent/a");
    let (staged, snap) = held.stage(&r2).expect("v2 stages");
    assert_eq!(snap.document().ok(), Some(&v2));
    held.commit(staged);

    let v3 = doc("http://a:2", false);
    let r3 = delta(&held, 3, &v3);
    assert_eq!(r3.removed_resources, ["agent/c"]);
    let (staged, snap) = held.stage(&r3).expect("v3 stages");
    assert_eq!(snap.document().ok(), Some(&v3));
    held.commit(staged);
    assert_eq!(held.snapshot_hash(), content_hash(&v3));
    assert_eq!(held, Held::from_snapshot(3, &v3));
}

#[test]
fn a_wrong_snapshot_hash_is_rejected_when_the_document_is_assembled() {
    let held = Held::from_snapshot(1, &doc("http://a:1", true));
    let mut r = delta(&held, 2, &doc("http://a:2", true));
    r.snapshot_hash = "00".into();
    // The set of resources checks out: staging (O(changed)) accepts it ...
    let (_, snap) = held.stage(&r).expect("the set digest matches");
    // ... and the node that assembles the document finds the mismatch (twice: the result is cached).
    for _ in 0..2 {
        let err = snap
            .document()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("version 2") && err.contains("expected 00"),
            "{err}"
        );
    }
    assert_eq!(held, Held::from_snapshot(1, &doc("http://a:1", true)));
}

#[test]
fn a_wrong_set_digest_is_rejected_and_nothing_changes() {
    let held = Held::from_snapshot(1, &doc("http://a:1", true));
    let mut r = delta(&held, 2, &doc("http://a:2", true));
    r.set_digest = "00".into();
    let err = held.stage(&r).err();
    assert_eq!(
        err.as_ref().map(ClientError::kind),
        Some("invalid_response")
    );
    let msg = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        msg.contains("set digest") && msg.contains("expected 00"),
        "{msg}"
    );
    assert_eq!(held, Held::from_snapshot(1, &doc("http://a:1", true)));
}

#[test]
fn the_set_digest_follows_changes_and_removals() {
    let v1 = doc("http://a:1", true);
    let mut held = Held::from_snapshot(1, &v1);
    assert_eq!(held.set_digest(), digest_of(&v1));

    // A removal the server does not account for (it still counts agent/c): NACKed.
    let v2 = doc("http://a:1", false);
    let mut r = delta(&held, 2, &v2);
    assert_eq!(r.removed_resources, ["agent/c"]);
    r.set_digest = digest_of(&v1).to_hex();
    let msg = held
        .stage(&r)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(msg.contains("set digest"), "{msg}");

    // The same removal, counted: the digest drops agent/c.
    let (staged, _) = held.stage(&delta(&held, 2, &v2)).expect("stages");
    held.commit(staged);
    assert_eq!(held.set_digest(), digest_of(&v2));
    assert_eq!(held, Held::from_snapshot(2, &v2));

    // Removing something not held, or the same name twice, leaves the digest alone.
    let mut r = delta(&held, 3, &v2);
    r.removed_resources = vec!["agent/zz".into(), "agent/b".into(), "agent/b".into()];
    let msg = held
        .stage(&r)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        msg.contains("set digest"),
        "removing agent/b changes the set: {msg}"
    );
    let mut r = delta(&held, 3, &v2);
    r.removed_resources = vec!["agent/zz".into(), "agent/zz".into()];
    assert!(held.stage(&r).is_ok());
}

#[test]
fn a_control_plane_without_set_digest_gets_the_whole_document_checked() {
    let held = Held::from_snapshot(1, &doc("http://a:1", true));
    let mut r = delta(&held, 2, &doc("http://a:2", true));
    r.set_digest.clear();
    assert!(held.stage(&r).is_ok());
    r.snapshot_hash = "00".into();
    let msg = held
        .stage(&r)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(msg.contains("expected 00"), "{msg}");
}

#[test]
fn committing_does_not_disturb_a_copy() {
    let v1 = doc("http://a:1", true);
    let mut held = Held::from_snapshot(1, &v1);
    let copy = held.clone();
    let v2 = doc("http://a:2", false);
    let (staged, _) = held.stage(&delta(&held, 2, &v2)).expect("stages");
    held.commit(staged);
    assert_eq!(held, Held::from_snapshot(2, &v2));
    assert_eq!(copy, Held::from_snapshot(1, &v1));
}

fn digest_of(doc: &Value) -> SetDigest {
    let parts: Vec<(String, String)> = split(doc)
        .iter()
        .map(|(n, v)| (n.clone(), content_hash(v)))
        .collect();
    SetDigest::of(parts.iter().map(|(n, h)| (n.as_str(), h.as_str())))
}

#[test]
fn bad_resources_are_rejected() {
    let held = Held::from_snapshot(1, &doc("http://a:1", true));
    let target = doc("http://a:2", true);
    let good = delta(&held, 2, &target);

    let mut twice = good.clone();
    twice.resources.push(twice.resources[0].clone());
    let mut wrong_version = good.clone();
    wrong_version.resources[0].version = "ab".into();
    let mut not_json = good.clone();
    not_json.resources[0].body = b"{nope".to_vec().into();
    let mut sent_and_removed = good.clone();
    sent_and_removed.removed_resources.push("agent/a".into());
    // A delta that forgets a new agent: the node's set is not the server's.
    let with_d = json!({"gateway": {"agents": {"discovery": {"static": [{"id": "d"}]}}}});
    let mut forgot = delta(&held, 3, &with_d);
    forgot.resources.retain(|r| r.name != "agent/d");

    for (response, needle) in [
        (twice, "sent twice"),
        (wrong_version, "hashes to"),
        (not_json, "not JSON"),
        (sent_and_removed, "both sent and removed"),
        (forgot, "set digest"),
    ] {
        let err = held.stage(&response).err();
        assert_eq!(
            err.as_ref().map(ClientError::kind),
            Some("invalid_response")
        );
        let msg = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains(needle), "{msg} lacks {needle}");
    }
}

#[test]
fn removing_what_is_not_held_is_harmless() {
    let held = Held::from_snapshot(1, &doc("http://a:1", true));
    let mut r = delta(&held, 2, &doc("http://a:2", true));
    r.removed_resources.push("agent/zz".into());
    assert!(held.stage(&r).is_ok());
}

#[test]
fn an_empty_delta_only_moves_the_version() {
    let v = doc("http://a:1", true);
    let mut held = Held::from_snapshot(4, &v);
    let r = delta(&held, 7, &v);
    assert!(r.resources.is_empty() && r.removed_resources.is_empty());
    let (staged, snap) = held.stage(&r).expect("stages");
    assert_eq!((snap.version, snap.document().ok()), (7, Some(&v)));
    held.commit(staged);
    assert_eq!(held.version(), 7);
}
