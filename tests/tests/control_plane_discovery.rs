//! The discovery stream against a real control plane process: deltas, ACK/NACK, reconnects, canaries,
//! mTLS, and `--wait` rollouts.

#![allow(clippy::unwrap_used)] // Test helpers may panic: a panic is a test failure.

use std::collections::HashMap;
use std::time::Duration;

use openclaw_e2e::{ControlPlane, CpOptions, NODE_TOKEN, RawNode, TestCa, holdings, json_ok};
use serde_json::{Value, json};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

const QUIET: Duration = Duration::from_millis(600);
const SOON: Duration = Duration::from_secs(10);

fn doc() -> Value {
    json!({"gateway": {
        "agents": {"discovery": {"static": [
            {"id": "agent-chat-001", "endpoint": "http://127.0.0.1:9101"},
            {"id": "agent-code-001", "endpoint": "http://127.0.0.1:9102"}
        ]}},
        "routing": {"rules": [
            {"name": "chat", "match": {"type": "prefix", "pattern": "/api/v1/chat"}, "target": "agent-chat-001"}
        ]}
    }})
}

fn start(dir: &std::path::Path) -> ControlPlane {
    ControlPlane::start(
        dir,
        CpOptions {
            bootstrap: Some(doc()),
            ..CpOptions::default()
        },
    )
}

fn patch(
    cp: &ControlPlane,
    dir: &std::path::Path,
    v: Value,
    extra: &[&str],
) -> std::process::Output {
    let f = dir.join(format!("patch-{}.json", rand_suffix()));
    std::fs::write(&f, v.to_string()).unwrap();
    let mut args = vec!["config.patch", "--file", f.to_str().unwrap()];
    args.extend_from_slice(extra);
    cp.cli(&args)
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn node_status(cp: &ControlPlane, id: &str) -> Value {
    let nodes = json_ok(&cp.cli(&["nodes"]));
    nodes
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["nodeId"] == id)
        .cloned()
        .unwrap_or(Value::Null)
}

/// Polls `nodes` until `pred` holds for node `id`.
fn wait_node(cp: &ControlPlane, id: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + SOON;
    loop {
        let n = node_status(cp, id);
        if pred(&n) {
            return n;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "node {id} never reached the expected state: {n}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_ack_delta_nack_and_reconnect() {
    let dir = tempfile::tempdir().unwrap();
    let cp = start(dir.path());
    let url = cp.url();

    let mut n = RawNode::connect(
        &url,
        Some(NODE_TOKEN),
        None,
        "node-1",
        &[("zone", "a")],
        HashMap::new(),
        0,
    )
    .await
    .unwrap();
    let first = n.recv(SOON).await.unwrap().expect("initial snapshot");
    assert_eq!(first.version_info, 1);
    let names: Vec<&str> = first.resources.iter().map(|r| r.name.as_str()).collect();
    assert!(
        names.contains(&"agent/agent-chat-001") && names.contains(&"agent/agent-code-001"),
        "{names:?}"
    );
    assert!(names.contains(&"rule/chat"), "{names:?}");
    let rule_pos = names.iter().position(|n| n.starts_with("rule/")).unwrap();
    assert!(
        names[..rule_pos].iter().any(|n| n.starts_with("agent/")),
        "agents come before rules: {names:?}"
    );
    n.ack(&first).await;
    let mut held = holdings(&first);
    let st = wait_node(&cp, "node-1", |s| s["appliedVersion"] == 1);
    assert_eq!(st["connected"], true);
    assert_eq!(st["labels"]["zone"], "a");
    assert!(st["lastAck"].is_string());

    // A patch that touches one agent sends only that resource.
    json_ok(&patch(
        &cp,
        dir.path(),
        json!({"gateway": {"agents": {"discovery": {"static": [
            {"id": "agent-chat-001", "endpoint": "http://127.0.0.1:9201"},
            {"id": "agent-code-001", "endpoint": "http://127.0.0.1:9102"}
        ]}}}}),
        &[],
    ));
    let delta = n.recv(SOON).await.unwrap().expect("delta");
    assert_eq!(delta.version_info, 2);
    let names: Vec<&str> = delta.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["agent/agent-chat-001"]);
    assert!(delta.removed_resources.is_empty());
    n.ack(&delta).await;
    held.extend(holdings(&delta));
    wait_node(&cp, "node-1", |s| s["appliedVersion"] == 2);

    // A NACK is recorded and the same version is not sent again.
    json_ok(&patch(
        &cp,
        dir.path(),
        json!({"gateway": {"routing": {"rules": [
            {"name": "chat", "match": {"type": "prefix", "pattern": "/api/v3/chat"}, "target": "agent-chat-001"}
        ]}}}),
        &[],
    ));
    let v3 = n.recv(SOON).await.unwrap().expect("v3");
    assert_eq!(v3.version_info, 3);
    n.nack(&v3, 2, "regex engine exploded on this node").await;
    let st = wait_node(&cp, "node-1", |s| s["nackError"].is_string());
    assert_eq!(st["nackError"], "regex engine exploded on this node");
    assert_eq!(st["appliedVersion"], 2);
    assert!(st["lastNack"].is_string());
    assert!(
        n.recv(QUIET).await.unwrap().is_none(),
        "a NACKed version must not be resent"
    );
    drop(n);
    wait_node(&cp, "node-1", |s| s["connected"] == false);

    // Reconnecting with everything of version 3 already held: nothing new is sent.
    let mut held3 = held.clone();
    held3.extend(holdings(&v3));
    let mut again = RawNode::connect(
        &url,
        Some(NODE_TOKEN),
        None,
        "node-1",
        &[("zone", "a")],
        held3,
        3,
    )
    .await
    .unwrap();
    assert!(
        again.recv(QUIET).await.unwrap().is_none(),
        "an up-to-date node receives nothing"
    );
    let st = wait_node(&cp, "node-1", |s| {
        s["connected"] == true && s["appliedVersion"] == 3
    });
    assert_eq!(st["appliedVersion"], 3);

    // Reconnecting with version 2's resources: only the difference (the rule) is sent.
    drop(again);
    let mut stale = RawNode::connect(
        &url,
        Some(NODE_TOKEN),
        None,
        "node-1",
        &[("zone", "a")],
        held,
        2,
    )
    .await
    .unwrap();
    let d = stale.recv(SOON).await.unwrap().expect("difference");
    let names: Vec<&str> = d.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["rule/chat"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_node_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cp = start(dir.path());
    for token in [None, Some("not-the-node-token")] {
        let r = RawNode::connect(&cp.url(), token, None, "intruder", &[], HashMap::new(), 0).await;
        let err = match r {
            Err(e) => e,
            Ok(mut n) => n.recv(SOON).await.expect_err("no snapshot for a bad token"),
        };
        assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err:?}");
    }
    assert!(!cp.logs().contains("not-the-node-token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_goes_to_matching_nodes_until_promoted_or_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let cp = start(dir.path());
    let url = cp.url();
    let mut a = RawNode::connect(
        &url,
        Some(NODE_TOKEN),
        None,
        "node-a",
        &[("zone", "a")],
        HashMap::new(),
        0,
    )
    .await
    .unwrap();
    let mut b = RawNode::connect(
        &url,
        Some(NODE_TOKEN),
        None,
        "node-b",
        &[("zone", "b")],
        HashMap::new(),
        0,
    )
    .await
    .unwrap();
    for n in [&mut a, &mut b] {
        let r = n.recv(SOON).await.unwrap().unwrap();
        n.ack(&r).await;
    }
    let canary_patch = json!({"gateway": {"http": {"rateLimit": {"burst": 7}}}});
    let out = json_ok(&patch(
        &cp,
        dir.path(),
        canary_patch,
        &["--canary", "zone=a"],
    ));
    assert_eq!(out["version"], 2);
    let ra = a.recv(SOON).await.unwrap().expect("canary node gets v2");
    assert_eq!(ra.version_info, 2);
    a.ack(&ra).await;
    assert!(
        b.recv(QUIET).await.unwrap().is_none(),
        "non-canary node keeps v1"
    );
    let sa = wait_node(&cp, "node-a", |s| s["appliedVersion"] == 2);
    assert_eq!(sa["canary"], true);
    assert_eq!(node_status(&cp, "node-b")["canary"], false);

    json_ok(&cp.cli(&["config.promote"]));
    let rb = b
        .recv(SOON)
        .await
        .unwrap()
        .expect("promotion reaches node-b");
    assert_eq!(rb.version_info, 2);
    b.ack(&rb).await;
    wait_node(&cp, "node-b", |s| s["appliedVersion"] == 2);

    // A second canary, withdrawn by rolling back to version 2.
    json_ok(&patch(
        &cp,
        dir.path(),
        json!({"gateway": {"http": {"rateLimit": {"burst": 9}}}}),
        &["--canary", "zone=a"],
    ));
    let ra3 = a.recv(SOON).await.unwrap().expect("v3 to canary");
    assert_eq!(ra3.version_info, 3);
    a.ack(&ra3).await;
    json_ok(&cp.cli(&["config.rollback", "--to", "2"]));
    let ra4 = a
        .recv(SOON)
        .await
        .unwrap()
        .expect("rollback withdraws the canary");
    assert_eq!(ra4.version_info, 4);
    let burst: Value = ra4
        .resources
        .iter()
        .find(|r| r.name == "section/http")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .expect("http section changed back");
    assert_eq!(burst["rateLimit"]["burst"], 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_follows_the_rollout_and_fails_on_nack() {
    let dir = tempfile::tempdir().unwrap();
    let cp = start(dir.path());
    let url = cp.url();
    // Two nodes: one ACKs everything, one NACKs anything past version 2.
    let mut good = RawNode::connect(&url, Some(NODE_TOKEN), None, "good", &[], HashMap::new(), 0)
        .await
        .unwrap();
    let mut picky = RawNode::connect(
        &url,
        Some(NODE_TOKEN),
        None,
        "picky",
        &[],
        HashMap::new(),
        0,
    )
    .await
    .unwrap();
    let responder = tokio::spawn(async move {
        loop {
            tokio::select! {
                r = good.recv(Duration::from_secs(60)) => match r { Ok(Some(r)) => good.ack(&r).await, _ => break },
                r = picky.recv(Duration::from_secs(60)) => match r {
                    Ok(Some(r)) if r.version_info > 2 => picky.nack(&r, 2, "picky says no").await,
                    Ok(Some(r)) => picky.ack(&r).await,
                    _ => break,
                },
            }
        }
    });
    wait_node(&cp, "picky", |s| s["appliedVersion"] == 1);
    let ok = patch(
        &cp,
        dir.path(),
        json!({"gateway": {"http": {"rateLimit": {"burst": 5}}}}),
        &["--wait", "--wait-timeout", "20s"],
    );
    json_ok(&ok);
    assert!(
        String::from_utf8_lossy(&ok.stderr).contains("2/2"),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = patch(
        &cp,
        dir.path(),
        json!({"gateway": {"http": {"rateLimit": {"burst": 6}}}}),
        &["--wait", "--wait-timeout", "20s"],
    );
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("picky") && err.contains("picky says no"),
        "{err}"
    );
    responder.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_refuses_clients_without_a_valid_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = TestCa::new("openclaw test CA");
    let server = ca.issue(&["localhost", "127.0.0.1"]);
    let client = ca.issue(&["node-tls"]);
    let rogue = TestCa::new("rogue CA").issue(&["node-rogue"]);
    for (name, pem) in [
        ("ca.pem", ca.pem()),
        ("server.pem", server.cert.clone()),
        ("server.key", server.key.clone()),
    ] {
        std::fs::write(d.join(name), pem).unwrap();
    }
    let cp = ControlPlane::start(
        d,
        CpOptions {
            bootstrap: Some(doc()),
            tls: Some((
                d.join("server.pem"),
                d.join("server.key"),
                Some(d.join("ca.pem")),
            )),
            ..CpOptions::default()
        },
    );
    let url = format!("https://localhost:{}", cp.grpc.port());
    let tls = |id: Option<&openclaw_e2e::CertPem>| {
        let mut t = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(ca.pem()))
            .domain_name("localhost");
        if let Some(c) = id {
            t = t.identity(Identity::from_pem(&c.cert, &c.key));
        }
        t
    };
    let mut ok = RawNode::connect(
        &url,
        Some(NODE_TOKEN),
        Some(tls(Some(&client))),
        "node-tls",
        &[],
        HashMap::new(),
        0,
    )
    .await
    .unwrap();
    assert_eq!(
        ok.recv(SOON)
            .await
            .unwrap()
            .expect("snapshot over mTLS")
            .version_info,
        1
    );
    for (what, cert) in [
        ("no certificate", None),
        ("a certificate from another CA", Some(&rogue)),
    ] {
        let refused = match RawNode::connect(
            &url,
            Some(NODE_TOKEN),
            Some(tls(cert)),
            "node-x",
            &[],
            HashMap::new(),
            0,
        )
        .await
        {
            Err(_) => true,
            Ok(mut n) => n.recv(SOON).await.is_err(),
        };
        assert!(refused, "a client with {what} was served");
    }
    // Operators' CLI calls need no client certificate.
    let ca_file = d.join("ca.pem");
    let out = std::process::Command::new(openclaw_e2e::bin("openclaw"))
        .args([
            "gateway",
            "--server",
            &url,
            "--token",
            openclaw_e2e::ADMIN_TOKEN,
            "--ca",
            ca_file.to_str().unwrap(),
            "config.history",
        ])
        .output()
        .unwrap();
    assert_eq!(json_ok(&out).as_array().unwrap().len(), 1);
}
