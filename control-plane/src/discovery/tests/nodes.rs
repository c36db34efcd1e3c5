//! The node registry and rollout watches, as the admin API sees them.

use openclaw_proto::admin::RolloutEvent;

use super::*;
use crate::versions::Publish;

async fn next_event(rx: &mut mpsc::Receiver<Result<RolloutEvent, tonic::Status>>) -> RolloutEvent {
    tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .expect("an event in time")
        .expect("watch still open")
        .expect("not an error")
}

#[tokio::test]
async fn nodes_survive_a_restart_shown_disconnected() {
    let saved = Saved::default();
    let v1 = doc("http://a:1", true);
    {
        let (hub, addr) = serve(Some(stable(1, &v1)), &saved).await;
        let mut node = TestNode::connect(addr, "n1", &[("zone", "z1")]).await;
        let r = node.recv().await;
        node.ack(&r).await;
        wait_node(&hub, "n1", |n| n.applied_version == 1).await;
    }
    // A new hub (a restarted control plane) over what was saved.
    let hub = Hub::new(
        stable(2, &doc("http://a:2", true)),
        saved.list(),
        Box::new(|_: &str, _: &[u8]| {}),
    );
    let nodes = hub.nodes();
    assert_eq!(nodes.len(), 1);
    let n = &nodes[0];
    assert_eq!(
        (
            n.node_id.as_str(),
            n.connected,
            n.applied_version,
            n.desired_version
        ),
        ("n1", false, 1, 2)
    );
    assert_eq!(n.labels, labels(&[("zone", "z1")]));
    assert!(!n.last_ack.is_empty());
}

#[tokio::test]
async fn unreadable_saved_nodes_are_skipped() {
    let persisted = vec![("bad".to_string(), b"{nope".to_vec())];
    let hub = Hub::new(None, persisted, Box::new(|_: &str, _: &[u8]| {}));
    assert!(hub.nodes().is_empty());
}

#[tokio::test]
async fn a_rollout_counts_targeted_nodes_until_done() {
    let (hub, addr) = serve(Some(stable(1, &doc("http://a:1", true))), &Saved::default()).await;
    let mut n1 = TestNode::connect(addr, "n1", &[]).await;
    let mut n2 = TestNode::connect(addr, "n2", &[]).await;
    for node in [&mut n1, &mut n2] {
        let r = node.recv().await;
        node.ack(&r).await;
    }
    wait_node(&hub, "n2", |n| n.applied_version == 1).await;

    // Already applied everywhere: done at once.
    let mut watch = hub.rollout(0);
    let e = next_event(&mut watch).await;
    assert!(e.done && e.applied == 2 && e.total == 2, "{e:?}");

    // Watching before the version exists waits for it.
    let mut watch = hub.rollout(2);
    hub.publish(stable(2, &doc("http://a:2", true)));
    let r = n1.recv().await;
    n1.ack(&r).await;
    let e = next_event(&mut watch).await;
    assert_eq!(
        (
            e.node_id.as_str(),
            e.applied_version,
            e.applied,
            e.total,
            e.done
        ),
        ("n1", 2, 1, 2, false)
    );
    let r = n2.recv().await;
    n2.ack(&r).await;
    let e = next_event(&mut watch).await;
    assert_eq!(
        (e.node_id.as_str(), e.applied, e.total, e.done),
        ("n2", 2, 2, true)
    );
    assert!(watch.recv().await.is_none(), "the watch ends after done");
}

#[tokio::test]
async fn a_rollout_reports_a_nack_and_ends() {
    let (hub, addr) = serve(Some(stable(1, &doc("http://a:1", true))), &Saved::default()).await;
    let mut node = TestNode::connect(addr, "n1", &[]).await;
    let r = node.recv().await;
    node.ack(&r).await;
    wait_node(&hub, "n1", |n| n.applied_version == 1).await;

    hub.publish(stable(2, &doc("http://a:2", true)));
    let mut watch = hub.rollout(2);
    let r = node.recv().await;
    node.nack(&r, 1, "bad regex").await;
    let e = next_event(&mut watch).await;
    assert!(e.nacked && !e.done, "{e:?}");
    assert_eq!(
        (e.node_id.as_str(), e.error.as_str(), e.applied_version),
        ("n1", "bad regex", 1)
    );
    assert!(watch.recv().await.is_none());
}

#[tokio::test]
async fn a_rollout_of_a_canary_counts_only_selected_nodes() {
    let v1 = doc("http://a:1", true);
    let selector = std::collections::BTreeMap::from([("ring".to_string(), "canary".to_string())]);
    let (hub, addr) = serve(Some(stable(1, &v1)), &Saved::default()).await;
    let mut c = TestNode::connect(addr, "c", &[("ring", "canary")]).await;
    let mut s = TestNode::connect(addr, "s", &[]).await;
    for node in [&mut c, &mut s] {
        let r = node.recv().await;
        node.ack(&r).await;
    }
    wait_node(&hub, "s", |n| n.applied_version == 1).await;
    hub.publish(Desired {
        stable: stored(1, &v1),
        canary: Some((stored(2, &doc("http://a:2", true)), selector)),
    });
    let mut watch = hub.rollout(0);
    let r = c.recv().await;
    c.ack(&r).await;
    let e = next_event(&mut watch).await;
    assert!(e.done && e.applied == 1 && e.total == 1, "{e:?}");
    s.assert_quiet().await;
}

#[tokio::test]
async fn a_node_is_disconnected_when_its_stream_ends() {
    let (hub, addr) = serve(Some(stable(1, &doc("http://a:1", true))), &Saved::default()).await;
    let node = TestNode::connect(addr, "n1", &[]).await;
    wait_node(&hub, "n1", |n| n.connected).await;
    drop(node);
    wait_node(&hub, "n1", |n| !n.connected).await;
}
