//! The delta protocol: full snapshot, deltas, ACK/NACK, reconnects, slow nodes, canaries.

use std::collections::BTreeMap;

use openclaw_config::content_hash;
use openclaw_config::resources::split;
use openclaw_proto::discovery::DiscoveryRequest;

use super::*;
use crate::versions::Publish;

#[tokio::test]
async fn full_snapshot_then_ack() {
    let v1 = doc("http://a:1", true);
    let (hub, addr) = serve(Some(stable(1, &v1)), &Saved::default()).await;
    let mut node = TestNode::connect(addr, "n1", &[("zone", "z1")]).await;

    let r = node.recv().await;
    assert_eq!(r.version_info, 1);
    assert_eq!(r.snapshot_hash, content_hash(&v1));
    assert!(r.removed_resources.is_empty() && !r.nonce.is_empty());
    assert_eq!(
        names(&r),
        [
            "agent/a",
            "agent/b",
            "agent/c",
            "section/agents",
            "section/http",
            "section/routing",
            "rule/api",
            "rule/rest"
        ],
        "agents and sections before rules"
    );
    assert_eq!(node.ack(&r).await, v1);

    let n = wait_node(&hub, "n1", |n| n.applied_version == 1).await;
    assert!(n.connected && !n.last_ack.is_empty() && n.last_nack.is_empty());
    assert!(n.address.starts_with("127.0.0.1:"), "{}", n.address);
    assert_eq!((n.desired_version, n.canary), (1, false));
    assert_eq!(n.labels, labels(&[("zone", "z1")]));
    assert_eq!(
        (n.software_version.as_str(), n.local_overrides.clone()),
        ("test-1", vec!["http.listen".to_string()])
    );
    node.assert_quiet().await;
}

#[tokio::test]
async fn a_change_to_one_agent_sends_only_that_agent() {
    let (hub, addr) = serve(Some(stable(1, &doc("http://a:1", true))), &Saved::default()).await;
    let mut node = TestNode::connect(addr, "n1", &[]).await;
    let r = node.recv().await;
    node.ack(&r).await;

    let v2 = doc("http://a:2", true);
    hub.publish(stable(2, &v2));
    let r = node.recv().await;
    assert_eq!((r.version_info, names(&r)), (2, vec!["agent/a"]));
    assert!(r.removed_resources.is_empty());
    assert_eq!(node.ack(&r).await, v2);

    let v3 = doc("http://a:2", false);
    hub.publish(stable(3, &v3));
    let r = node.recv().await;
    assert_eq!(names(&r), ["section/agents"]);
    assert_eq!(r.removed_resources, ["agent/c"]);
    assert_eq!(node.ack(&r).await, v3);
    wait_node(&hub, "n1", |n| n.applied_version == 3).await;
    node.assert_quiet().await;
}

#[tokio::test]
async fn a_nack_is_recorded_and_the_version_not_resent() {
    let (hub, addr) = serve(Some(stable(1, &doc("http://a:1", true))), &Saved::default()).await;
    let mut node = TestNode::connect(addr, "n1", &[]).await;
    let r = node.recv().await;
    node.ack(&r).await;

    hub.publish(stable(2, &doc("http://a:2", true)));
    let r = node.recv().await;
    node.nack(&r, 1, "cannot compile rule api").await;
    let n = wait_node(&hub, "n1", |n| !n.nack_error.is_empty()).await;
    assert_eq!(
        (n.applied_version, n.nack_error.as_str()),
        (1, "cannot compile rule api")
    );
    assert!(!n.last_nack.is_empty());
    node.assert_quiet().await;

    // A newer version is sent, as a delta against what the node kept (version 1).
    let v3 = doc("http://a:3", false);
    hub.publish(stable(3, &v3));
    let r = node.recv().await;
    assert_eq!(r.version_info, 3);
    assert_eq!(names(&r), ["agent/a", "section/agents"]);
    assert_eq!(node.ack(&r).await, v3);
    let n = wait_node(&hub, "n1", |n| n.applied_version == 3).await;
    assert!(n.nack_error.is_empty(), "an ACK clears the NACK error");
}

#[tokio::test]
async fn a_stale_nonce_is_ignored() {
    let (hub, addr) = serve(Some(stable(1, &doc("http://a:1", true))), &Saved::default()).await;
    let mut node = TestNode::connect(addr, "n1", &[]).await;
    let r = node.recv().await;
    node.apply(&r);
    node.send(1, "not-a-nonce", None).await;
    node.send(1, "not-a-nonce", Some("boom")).await;
    node.assert_quiet().await;
    let n = wait_node(&hub, "n1", |n| n.connected).await;
    assert_eq!((n.applied_version, n.nack_error.as_str()), (0, ""));
    node.send(1, &r.nonce, None).await;
    wait_node(&hub, "n1", |n| n.applied_version == 1).await;
}

#[tokio::test]
async fn a_reconnect_with_what_is_current_receives_nothing() {
    let v1 = doc("http://a:1", true);
    let (hub, addr) = serve(Some(stable(1, &v1)), &Saved::default()).await;
    let mut node = TestNode::connect(addr, "n1", &[]).await;
    let r = node.recv().await;
    node.ack(&r).await;
    wait_node(&hub, "n1", |n| n.applied_version == 1).await;
    drop(node);
    wait_node(&hub, "n1", |n| !n.connected).await;

    let mut node = TestNode::reconnect(addr, "n1", &[], split(&v1), 1).await;
    node.assert_quiet().await;
    let n = wait_node(&hub, "n1", |n| n.connected).await;
    assert_eq!(n.applied_version, 1);

    // Reconnecting with an older copy gets only the difference.
    drop(node);
    wait_node(&hub, "n1", |n| !n.connected).await;
    let old = split(&doc("http://a:0", true));
    let mut node = TestNode::reconnect(addr, "n1", &[], old, 0).await;
    let r = node.recv().await;
    assert_eq!((r.version_info, names(&r)), (1, vec!["agent/a"]));
    assert_eq!(node.ack(&r).await, v1);
}

#[tokio::test]
async fn the_canary_selector_routes_versions_by_labels() {
    let v1 = doc("http://a:1", true);
    let v2 = doc("http://a:2", true);
    let selector = BTreeMap::from([("ring".to_string(), "canary".to_string())]);
    let desired = Desired {
        stable: stored(1, &v1),
        canary: Some((stored(2, &v2), selector)),
    };
    let (hub, addr) = serve(Some(desired), &Saved::default()).await;
    let mut canary = TestNode::connect(addr, "c1", &[("ring", "canary"), ("zone", "z")]).await;
    let mut other = TestNode::connect(addr, "s1", &[("ring", "main")]).await;
    let rc = canary.recv().await;
    let rs = other.recv().await;
    assert_eq!((rc.version_info, rs.version_info), (2, 1));
    assert_eq!(canary.ack(&rc).await, v2);
    assert_eq!(other.ack(&rs).await, v1);
    let c = wait_node(&hub, "c1", |n| n.applied_version == 2).await;
    let s = wait_node(&hub, "s1", |n| n.applied_version == 1).await;
    assert_eq!((c.canary, c.desired_version), (true, 2));
    assert_eq!((s.canary, s.desired_version), (false, 1));

    // Promotion: the canary's version becomes stable; the canary node already runs it.
    hub.publish(Desired {
        stable: stored(2, &v2),
        canary: None,
    });
    let r = other.recv().await;
    assert_eq!((r.version_info, names(&r)), (2, vec!["agent/a"]));
    other.ack(&r).await;
    canary.assert_quiet().await;
    wait_node(&hub, "s1", |n| n.applied_version == 2).await;
}

#[tokio::test]
async fn a_slow_node_gets_only_the_latest_version_and_slows_nobody() {
    let (hub, addr) = serve(Some(stable(1, &doc("http://a:1", true))), &Saved::default()).await;
    let mut slow = TestNode::connect(addr, "slow", &[]).await;
    let mut fast = TestNode::connect(addr, "fast", &[]).await;
    let first = slow.recv().await;
    let r = fast.recv().await;
    fast.ack(&r).await;

    for v in 2..=5 {
        let endpoint = format!("http://a:{v}");
        hub.publish(stable(v, &doc(&endpoint, v % 2 == 0)));
        let r = fast.recv().await;
        assert_eq!(r.version_info, v);
        fast.ack(&r).await;
    }
    slow.assert_quiet().await;

    slow.ack(&first).await;
    let r = slow.recv().await;
    assert_eq!(r.version_info, 5, "skips 2, 3 and 4");
    assert_eq!(slow.ack(&r).await, doc("http://a:5", false));
    slow.assert_quiet().await;
}

#[tokio::test]
async fn an_unchanged_document_under_a_new_version_sends_one_empty_response() {
    let v = doc("http://a:1", true);
    let (hub, addr) = serve(Some(stable(3, &v)), &Saved::default()).await;
    let mut node = TestNode::connect(addr, "n1", &[]).await;
    let r = node.recv().await;
    node.ack(&r).await;
    // A rollback to identical content under version 4.
    hub.publish(stable(4, &v));
    let r = node.recv().await;
    assert!(r.resources.is_empty() && r.removed_resources.is_empty());
    assert_eq!(r.version_info, 4);
    node.ack(&r).await;
    wait_node(&hub, "n1", |n| n.applied_version == 4).await;
    node.assert_quiet().await;
}

#[tokio::test]
async fn the_first_request_must_name_the_node() {
    let (_hub, addr) = serve(Some(stable(1, &doc("http://a:1", true))), &Saved::default()).await;
    let outcome = match TestNode::open(addr, DiscoveryRequest::default()).await {
        Ok((_tx, mut rx)) => rx.message().await.map(|_| ()),
        Err(status) => Err(status),
    };
    let code = outcome.err().map(|s| s.code());
    assert_eq!(code, Some(tonic::Code::InvalidArgument));
}

#[tokio::test]
async fn nothing_is_sent_before_the_first_publish() {
    let (hub, addr) = serve(None, &Saved::default()).await;
    let mut node = TestNode::connect(addr, "n1", &[]).await;
    node.assert_quiet().await;
    let v1 = doc("http://a:1", true);
    hub.publish(stable(1, &v1));
    let r = node.recv().await;
    assert_eq!(node.ack(&r).await, v1);
}
