//! A data plane and its control plane: serving through a control-plane outage, reconnecting and
//! catching up, starting from the on-disk snapshot, NACKing a config one node cannot apply, and the
//! node's own `/health`, `/ready` and `/metrics`.

#![allow(clippy::unwrap_used)] // Test helpers may panic: a panic is a test failure.

use std::path::Path;
use std::time::{Duration, Instant};

use openclaw_e2e::{ControlPlane, CpOptions, DataPlane, TestAgent, json_ok};
use serde_json::{Value, json};

const SOON: Duration = Duration::from_secs(10);
/// Reconnecting goes through exponential backoff, so it may take longer than a local change.
const RECONNECT: Duration = Duration::from_secs(30);

fn doc(agents: &[Value], rules: Value) -> Value {
    json!({"gateway": {
        "agents": {"discovery": {"static": agents}},
        "routing": {"rules": rules}
    }})
}

fn chat_to(target: &str) -> Value {
    json!([{"name": "chat", "match": {"type": "prefix", "pattern": "/api/v1/chat"}, "target": target}])
}

fn start_cp(dir: &Path, bootstrap: Value) -> ControlPlane {
    ControlPlane::start(
        dir,
        CpOptions {
            bootstrap: Some(bootstrap),
            ..CpOptions::default()
        },
    )
}

fn patch(cp: &ControlPlane, dir: &Path, name: &str, v: &Value, wait: bool) -> std::process::Output {
    let f = dir.join(format!("{name}.json"));
    std::fs::write(&f, v.to_string()).unwrap();
    let mut args = vec!["config.patch", "--file", f.to_str().unwrap()];
    if wait {
        args.extend(["--wait", "--wait-timeout", "20s"]);
    }
    cp.cli(&args)
}

/// Polls `f` until it returns `Some`, for at most `within`.
fn eventually<T>(within: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn agent_for(dp: &DataPlane, path: &str) -> String {
    let r = dp.get(path);
    assert_eq!(r.status, 200, "GET {path}: {}\n{}", r.text(), dp.logs());
    r.agent().unwrap_or_default().to_string()
}

fn node(cp: &ControlPlane, id: &str) -> Value {
    json_ok(&cp.cli(&["nodes"]))
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["nodeId"] == id)
        .cloned()
        .unwrap_or(Value::Null)
}

#[test]
fn serves_through_a_control_plane_outage_then_reconnects_and_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let a = TestAgent::start("ag-a");
    let b = TestAgent::start("ag-b");
    let agents = [a.config_entry(&[]), b.config_entry(&[])];
    let mut cp = start_cp(dir.path(), doc(&agents, chat_to("ag-a")));
    let dp = DataPlane::managed(dir.path(), &cp, "node-1", &[("zone", "a")], None);
    // The first snapshot comes on a short session; the long-lived stream follows right after.
    let h = eventually(SOON, "health to report the control plane connected", || {
        let h = dp.health();
        (h["controlPlane"]["connected"] == true).then_some(h)
    });
    assert_eq!(h["status"], "ok");
    assert_eq!(h["mode"], "managed");
    assert_eq!(h["configVersion"], 1);
    assert_eq!(h["controlPlane"]["address"], cp.url(), "{h}");
    assert_eq!(agent_for(&dp, "/api/v1/chat"), "ag-a");

    cp.kill();
    eventually(SOON, "health to report the control plane gone", || {
        (dp.health()["controlPlane"]["connected"] == false).then_some(())
    });
    for _ in 0..10 {
        assert_eq!(agent_for(&dp, "/api/v1/chat"), "ag-a");
    }
    assert_eq!(dp.get("/ready").status, 200);

    cp.restart();
    eventually(RECONNECT, "the node to reconnect", || {
        (dp.health()["controlPlane"]["connected"] == true).then_some(())
    });
    let w = json_ok(&patch(
        &cp,
        dir.path(),
        "to-b",
        &json!({"gateway": {"routing": {"rules": chat_to("ag-b")}}}),
        true,
    ));
    assert_eq!(w["version"], 2);
    assert_eq!(agent_for(&dp, "/api/v1/chat"), "ag-b");
    assert_eq!(dp.health()["configVersion"], 2);
    let n = node(&cp, "node-1");
    assert_eq!(n["appliedVersion"], 2, "{n}");
    assert_eq!(n["connected"], true, "{n}");
}

#[test]
fn state_dir_lets_a_node_start_while_the_control_plane_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let a = TestAgent::start("ag-a");
    let b = TestAgent::start("ag-b");
    let agents = [a.config_entry(&[]), b.config_entry(&[])];
    let mut cp = start_cp(dir.path(), doc(&agents, chat_to("ag-a")));
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let mut dp = DataPlane::managed(dir.path(), &cp, "node-1", &[], Some(&state));
    json_ok(&patch(
        &cp,
        dir.path(),
        "to-b",
        &json!({"gateway": {"routing": {"rules": chat_to("ag-b")}}}),
        true,
    ));
    assert_eq!(agent_for(&dp, "/api/v1/chat"), "ag-b");

    cp.kill();
    // restart() waits for /ready: the node must come up from its snapshot on disk.
    dp.restart();
    assert_eq!(dp.get("/ready").json(), json!({"ready": true}));
    assert_eq!(agent_for(&dp, "/api/v1/chat"), "ag-b");
    let h = dp.health();
    assert_eq!(h["configVersion"], 2, "{h}");
    assert_eq!(h["controlPlane"]["connected"], false, "{h}");

    cp.restart();
    eventually(RECONNECT, "the node to reconnect", || {
        (dp.health()["controlPlane"]["connected"] == true).then_some(())
    });
    assert_eq!(agent_for(&dp, "/api/v1/chat"), "ag-b");
}

#[test]
fn a_managed_node_is_unready_until_its_first_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let a = TestAgent::start("ag-a");
    let mut cp = start_cp(dir.path(), doc(&[a.config_entry(&[])], chat_to("ag-a")));
    cp.kill();
    // Without a state dir the node has nothing to serve until the control plane is back; the
    // contract still has it answer `/ready` with 503.
    let fresh = DataPlane::managed_builder(dir.path(), &cp, "node-2", &[], None).start_unready();
    let r = fresh.get("/ready");
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json(), json!({"ready": false}));

    cp.restart();
    fresh.wait_ready(RECONNECT);
    assert_eq!(agent_for(&fresh, "/api/v1/chat"), "ag-a");
}

#[test]
fn a_config_one_node_cannot_resolve_is_nacked_there_and_acked_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let a = TestAgent::start("ag-a");
    let var = TestAgent::start("ag-var");
    let mut cp = start_cp(dir.path(), doc(&[a.config_entry(&[])], chat_to("ag-a")));
    let good = DataPlane::managed_builder(dir.path(), &cp, "node-good", &[], None)
        .env("AGENT_URL_VAR", var.url())
        .start();
    let bad = DataPlane::managed(dir.path(), &cp, "node-bad", &[], None);

    let mut rules = chat_to("ag-a");
    rules.as_array_mut().unwrap().push(
        json!({"name": "var", "match": {"type": "prefix", "pattern": "/api/v1/var"}, "target": "ag-var"}),
    );
    let change = json!({"gateway": {
        "agents": {"discovery": {"static": [
            a.config_entry(&[]),
            {"id": "ag-var", "endpoint": "${AGENT_URL_VAR}"}
        ]}},
        "routing": {"rules": rules}
    }});
    let w = json_ok(&patch(&cp, dir.path(), "var", &change, false));
    assert_eq!(w["version"], 2);

    let (g, n) = eventually(SOON, "one ACK and one NACK", || {
        let g = node(&cp, "node-good");
        let n = node(&cp, "node-bad");
        (g["appliedVersion"] == 2 && n["nackError"].is_string()).then_some((g, n))
    });
    assert!(g["nackError"].is_null(), "{g}");
    assert_eq!(n["appliedVersion"], 1, "{n}");
    assert!(
        n["nackError"].as_str().unwrap().contains("AGENT_URL_VAR"),
        "the NACK names the variable: {n}"
    );
    assert!(n["lastNack"].is_string(), "{n}");

    assert_eq!(agent_for(&good, "/api/v1/var"), "ag-var");
    assert_eq!(good.health()["configVersion"], 2);
    // The NACKing node keeps serving its previous table.
    assert_eq!(bad.get("/api/v1/var").status, 404);
    assert_eq!(agent_for(&bad, "/api/v1/chat"), "ag-a");
    assert_eq!(bad.health()["configVersion"], 1);
    assert_eq!(bad.get("/ready").status, 200);
    cp.kill();
}

#[test]
fn health_ready_and_metrics_from_startup() {
    let dir = tempfile::tempdir().unwrap();
    let a = TestAgent::start("ag-a");
    let dp = DataPlane::standalone(
        dir.path(),
        doc(&[a.config_entry(&["chat"])], chat_to("ag-a")),
    );

    assert_eq!(dp.get("/ready").json(), json!({"ready": true}));
    let metrics = dp.metrics();
    for name in [
        "gateway_requests_total",
        "gateway_request_duration_seconds",
        "gateway_active_connections",
        "gateway_cache_hit_ratio",
        "gateway_error_total",
        "gateway_config_version",
    ] {
        assert!(
            metrics.contains(name),
            "{name} missing from /metrics:\n{metrics}"
        );
    }
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("gateway_config_version")),
        "gateway_config_version has no sample:\n{metrics}"
    );

    let h = dp.health();
    assert_eq!(h["status"], "ok", "{h}");
    assert_eq!(h["mode"], "standalone", "{h}");
    assert!(h["configVersion"].is_u64(), "{h}");
    assert!(h["configHash"].is_string(), "{h}");
    let agents = h["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 1, "{h}");
    assert_eq!(agents[0]["id"], "ag-a");
    assert_eq!(
        agents[0]["endpoint"]
            .as_str()
            .unwrap()
            .trim_end_matches('/'),
        a.url()
    );
    assert!(agents[0]["healthy"].is_boolean(), "{h}");

    assert_eq!(agent_for(&dp, "/api/v1/chat"), "ag-a");
    let metrics = dp.metrics();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("gateway_requests_total") && !l.ends_with(" 0")),
        "a proxied request is counted:\n{metrics}"
    );
}
