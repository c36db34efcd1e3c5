//! The admin API through the real `openclaw` CLI against a real control plane process.

#![allow(clippy::unwrap_used)] // Test helpers may panic: a panic is a test failure.

use openclaw_e2e::{ControlPlane, CpOptions, json_ok};
use serde_json::{Value, json};

fn base_doc() -> Value {
    json!({"gateway": {
        "agents": {"discovery": {"static": [
            {"id": "agent-chat-001", "endpoint": "http://127.0.0.1:9101", "tags": ["chat"]},
            {"id": "agent-code-001", "endpoint": "http://127.0.0.1:9102", "tags": ["code"]}
        ]}},
        "routing": {"rules": [
            {"name": "chat", "match": {"type": "prefix", "pattern": "/api/v1/chat"}, "target": "agent-chat-001"},
            {"name": "fallback", "match": {"type": "default"}, "target": "agent-code-001"}
        ]}
    }})
}

fn start(dir: &std::path::Path) -> ControlPlane {
    ControlPlane::start(
        dir,
        CpOptions {
            bootstrap: Some(base_doc()),
            ..CpOptions::default()
        },
    )
}

fn write(dir: &std::path::Path, name: &str, v: &Value) -> String {
    let p = dir.join(name);
    std::fs::write(&p, v.to_string()).unwrap();
    p.display().to_string()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn patch_history_diff_rollback_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let cp = start(dir.path());
    assert_eq!(
        json_ok(&cp.cli(&["config.get", "--key", "agents.discovery.static[0].id"])),
        json!("agent-chat-001")
    );
    let rules = json_ok(&cp.cli(&["config.get", "routing.rules"]));
    assert_eq!(rules.as_array().unwrap().len(), 2);

    let patch = write(
        dir.path(),
        "p.json",
        &json!({"gateway": {"routing": {"rules": [
            {"name": "chat", "match": {"type": "prefix", "pattern": "/api/v2/chat"}, "target": "agent-chat-001"}
        ]}}}),
    );
    let w = json_ok(&cp.cli(&["config.patch", "--file", &patch, "--message", "v2 chat"]));
    assert_eq!(w["version"], 2);
    assert_eq!(w["parent"], 1);
    assert_eq!(w["changed"], true);
    assert!(
        w["diff"].as_array().unwrap().iter().any(|c| c["path"]
            .as_str()
            .unwrap()
            .starts_with("gateway.routing.rules")),
        "{w}"
    );

    let again = json_ok(&cp.cli(&["config.patch", "--file", &patch]));
    assert_eq!(
        again["changed"], false,
        "a patch that changes nothing creates no version"
    );

    let hist = json_ok(&cp.cli(&["config.history", "--limit", "10"]));
    let versions: Vec<u64> = hist
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [2, 1]);
    assert_eq!(hist[0]["message"], "v2 chat");
    for key in ["version", "parent", "author", "time", "message", "hash"] {
        assert!(
            hist[0].get(key).is_some(),
            "history entry lacks {key}: {}",
            hist[0]
        );
    }

    let diff = cp.cli(&["config.diff", "1", "2"]);
    let changes = json_ok(&diff);
    assert!(!changes.as_array().unwrap().is_empty());
    assert!(
        stderr(&diff).contains("gateway.routing.rules"),
        "{}",
        stderr(&diff)
    );

    let rb = json_ok(&cp.cli(&["config.rollback", "--to", "1"]));
    assert_eq!(rb["version"], 3);
    let v1 = json_ok(&cp.cli(&["config.get", "--version", "1"]));
    let v3 = json_ok(&cp.cli(&["config.get"]));
    assert_eq!(v1, v3);
    assert_eq!(
        json_ok(&cp.cli(&["config.history"]))
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn concurrent_patches_with_expect_version_exactly_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let cp = start(dir.path());
    let a = write(
        dir.path(),
        "a.json",
        &json!({"gateway": {"http": {"rateLimit": {"burst": 11}}}}),
    );
    let b = write(
        dir.path(),
        "b.json",
        &json!({"gateway": {"http": {"rateLimit": {"requestsPerMinute": 22}}}}),
    );
    let (ra, rb) = std::thread::scope(|s| {
        let ha = s.spawn(|| cp.cli(&["config.patch", "--file", &a, "--expect-version", "1"]));
        let hb = s.spawn(|| cp.cli(&["config.patch", "--file", &b, "--expect-version", "1"]));
        (ha.join().unwrap(), hb.join().unwrap())
    });
    let wins = [&ra, &rb].iter().filter(|o| o.status.success()).count();
    assert_eq!(wins, 1, "a: {}\nb: {}", stderr(&ra), stderr(&rb));
    let loser = if ra.status.success() { &rb } else { &ra };
    assert_eq!(loser.status.code(), Some(1));
    assert!(stderr(loser).contains("conflict"), "{}", stderr(loser));
    // The loser retries against the new head: no update is lost.
    let loser_file = if ra.status.success() { &b } else { &a };
    json_ok(&cp.cli(&[
        "config.patch",
        "--file",
        loser_file,
        "--expect-version",
        "2",
    ]));
    let rl = json_ok(&cp.cli(&["config.get", "--key", "http.rateLimit"]));
    assert_eq!(rl["burst"], 11);
    assert_eq!(rl["requestsPerMinute"], 22);
}

#[test]
fn sigkill_after_acknowledged_patch_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut cp = start(dir.path());
    for i in 0..5 {
        let p = write(
            dir.path(),
            "p.json",
            &json!({"gateway": {"http": {"rateLimit": {"burst": 100 + i}}}}),
        );
        json_ok(&cp.cli(&[
            "config.patch",
            "--file",
            &p,
            "--message",
            &format!("patch {i}"),
        ]));
    }
    cp.kill();
    cp.restart();
    let hist = json_ok(&cp.cli(&["config.history", "--limit", "100"]));
    let versions: Vec<u64> = hist
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [6, 5, 4, 3, 2, 1]);
    assert_eq!(hist[0]["message"], "patch 4");
    assert_eq!(
        json_ok(&cp.cli(&["config.get", "--key", "http.rateLimit.burst"])),
        json!(104)
    );
}

#[test]
fn invalid_patch_lists_every_error_and_keeps_head() {
    let dir = tempfile::tempdir().unwrap();
    let cp = start(dir.path());
    let bad = write(
        dir.path(),
        "bad.json",
        &json!({"gateway": {
            "http": {"listen": "nowhere"},
            "routing": {"rules": [{"name": "s", "match": {"type": "semantic", "threshold": 1.7, "categories": ["code"]}, "target": "ghost"}]}
        }}),
    );
    let out = cp.cli(&["config.patch", "--file", &bad]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("gateway.http.listen: must be host:port"),
        "{err}"
    );
    assert!(
        err.contains("gateway.routing.rules[0].match.threshold: must be within 0..=1, got 1.7"),
        "{err}"
    );
    assert!(
        err.contains("gateway.routing.rules[0].target: must name an agent"),
        "{err}"
    );
    let hist = json_ok(&cp.cli(&["config.history"]));
    assert_eq!(hist.as_array().unwrap().len(), 1, "nothing stored");

    let dry = cp.cli(&["config.patch", "--file", &bad, "--dry-run"]);
    assert_eq!(dry.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["problems"].as_array().unwrap().len(), 3, "{v}");
}

#[test]
fn json_patch_from_stdin_and_validate() {
    let dir = tempfile::tempdir().unwrap();
    let cp = start(dir.path());
    let ops = json!([{"op": "replace", "path": "/gateway/routing/rules/0/target", "value": "agent-code-001"}]).to_string();
    let out = cp.cli_with_token(
        Some(openclaw_e2e::ADMIN_TOKEN),
        &["config.patch", "--json-patch", "--file", "-"],
        Some(&ops),
    );
    json_ok(&out);
    assert_eq!(
        json_ok(&cp.cli(&["config.get", "--key", "routing.rules[0].target"])),
        json!("agent-code-001")
    );
    let good = write(dir.path(), "good.json", &base_doc());
    assert_eq!(
        json_ok(&cp.cli(&["config.validate", "--file", &good]))["valid"],
        true
    );
}

#[test]
fn admin_api_refuses_missing_or_wrong_token_and_never_logs_it() {
    let dir = tempfile::tempdir().unwrap();
    let cp = start(dir.path());
    for token in [None, Some("wrong-token-xyz")] {
        let out = cp.cli_with_token(token, &["config.get"], None);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains("unauthenticated"), "{}", stderr(&out));
    }
    let logs = cp.logs();
    assert!(logs.contains("refused"), "{logs}");
    assert!(
        !logs.contains("wrong-token-xyz") && !logs.contains(openclaw_e2e::ADMIN_TOKEN),
        "{logs}"
    );
}

#[test]
fn secrets_are_redacted_in_get_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut cp = start(dir.path());
    let p = write(
        dir.path(),
        "p.json",
        &json!({"gateway": {"cache": {"layers": [
            {"name": "l2", "type": "redis", "endpoint": "redis://127.0.0.1:6379", "password": "plain-pw-123"},
            {"name": "l3", "type": "redis", "endpoint": "redis://127.0.0.1:6380", "password": "${REDIS_PASSWORD}"}
        ]}}}),
    );
    json_ok(&cp.cli(&["config.patch", "--file", &p]));
    let layers = json_ok(&cp.cli(&["config.get", "--key", "cache.layers"]));
    assert_eq!(layers[0]["password"], "<redacted>");
    assert_eq!(layers[1]["password"], "${REDIS_PASSWORD}");
    let h = json_ok(&cp.cli(&["config.history"]));
    assert!(!h.to_string().contains("plain-pw-123"));
    let status = cp.terminate().expect("stopped within 10s");
    assert!(status.success(), "{status:?}\n{}", cp.logs());
    assert!(!cp.logs().contains("plain-pw-123"));
}
