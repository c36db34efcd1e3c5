//! Routing changes under load: 50 patches through the control plane while a client keeps sending
//! requests (none may fail, each answered by the agent the config in force named), and file edits
//! picked up by a standalone data plane (broken edits are refused and the old config keeps serving).

#![allow(clippy::unwrap_used)] // Test helpers may panic: a panic is a test failure.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openclaw_e2e::{ControlPlane, CpOptions, DataPlane, HttpConn, TestAgent, json_ok};
use serde_json::{Value, json};

const PATCHES: usize = 50;
const SOON: Duration = Duration::from_secs(10);

fn chat_rules(target: &str) -> Value {
    json!([{"name": "chat", "match": {"type": "prefix", "pattern": "/api/v1/chat"}, "target": target}])
}

fn doc(agents: &[&TestAgent], target: &str) -> Value {
    let list: Vec<Value> = agents.iter().map(|a| a.config_entry(&[])).collect();
    json!({"gateway": {
        "agents": {"discovery": {"static": list}},
        "routing": {"rules": chat_rules(target)}
    }})
}

/// One response seen by the load client.
struct Seen {
    sent: Instant,
    done: Instant,
    outcome: Result<String, String>,
}

/// One patch: when the CLI started, when `--wait` returned, and the target it set.
struct Applied {
    started: Instant,
    acked: Instant,
    target: &'static str,
}

/// Polls `f` until it returns `Some`, for at most `SOON`.
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + SOON;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Which targets may have answered a request in flight during `[sent, done]`: version `k` may be in
/// force from the moment its patch started until the next patch's `--wait` returned.
fn allowed(seen: &Seen, initial: &'static str, patches: &[Applied]) -> Vec<&'static str> {
    let mut out = Vec::new();
    for k in 0..=patches.len() {
        let (from, target) = match k {
            0 => (None, initial),
            _ => (Some(patches[k - 1].started), patches[k - 1].target),
        };
        let until = patches.get(k).map(|p| p.acked);
        let starts_in_time = from.is_none_or(|f| f <= seen.done);
        let ends_in_time = until.is_none_or(|u| seen.sent <= u);
        if starts_in_time && ends_in_time && !out.contains(&target) {
            out.push(target);
        }
    }
    out
}

#[test]
fn fifty_patches_under_load_fail_no_request_and_switch_exactly_at_patch_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let a = TestAgent::start("ag-a");
    let b = TestAgent::start("ag-b");
    let cp = ControlPlane::start(
        dir.path(),
        CpOptions {
            bootstrap: Some(doc(&[&a, &b], "ag-a")),
            ..CpOptions::default()
        },
    );
    let dp = DataPlane::managed(dir.path(), &cp, "swap-1", &[("zone", "a")], None);
    let first = dp.get("/api/v1/chat");
    assert_eq!(first.agent(), Some("ag-a"), "{}", first.text());

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::<Seen>::new()));
    let client = {
        let (stop, seen, addr) = (stop.clone(), seen.clone(), dp.addr);
        std::thread::spawn(move || {
            let mut conn = HttpConn::connect(addr).unwrap();
            while !stop.load(Ordering::SeqCst) {
                let sent = Instant::now();
                let r = conn.request("GET", "/api/v1/chat/msg", &[], b"");
                let done = Instant::now();
                let outcome = match r {
                    Ok(r) if r.status == 200 => r
                        .agent()
                        .map(str::to_string)
                        .ok_or_else(|| format!("no x-agent-id: {}", r.text())),
                    Ok(r) => Err(format!("status {}: {}", r.status, r.text())),
                    Err(e) => {
                        conn = HttpConn::connect(addr).unwrap();
                        Err(format!("io: {e}"))
                    }
                };
                seen.lock().unwrap().push(Seen {
                    sent,
                    done,
                    outcome,
                });
                // Sequential, a few hundred requests per second.
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };

    let mut applied = Vec::new();
    for i in 0..PATCHES {
        let target = if i % 2 == 0 { "ag-b" } else { "ag-a" };
        let f = dir.path().join(format!("patch-{i}.json"));
        std::fs::write(
            &f,
            json!({"gateway": {"routing": {"rules": chat_rules(target)}}}).to_string(),
        )
        .unwrap();
        let started = Instant::now();
        let out = cp.cli(&[
            "config.patch",
            "--file",
            f.to_str().unwrap(),
            "--message",
            &format!("swap {i}"),
            "--wait",
            "--wait-timeout",
            "10s",
        ]);
        let acked = Instant::now();
        let w = json_ok(&out);
        assert_eq!(w["version"], i as u64 + 2, "{w}");
        applied.push(Applied {
            started,
            acked,
            target,
        });
        // Let the client see this version before the next patch starts.
        eventually("a response after the patch was applied", || {
            seen.lock()
                .unwrap()
                .iter()
                .rev()
                .any(|s| s.sent > acked)
                .then_some(())
        });
    }
    stop.store(true, Ordering::SeqCst);
    client.join().unwrap();

    let seen = seen.lock().unwrap();
    let failed: Vec<&String> = seen
        .iter()
        .filter_map(|s| s.outcome.as_ref().err())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed, first: {:?}\n{}",
        failed.len(),
        seen.len(),
        failed.first(),
        dp.logs()
    );
    let t0 = seen[0].sent;
    let mut wrong = Vec::new();
    for (n, s) in seen.iter().enumerate() {
        let agent = s.outcome.as_ref().unwrap();
        let ok = allowed(s, "ag-a", &applied);
        if !ok.contains(&agent.as_str()) {
            wrong.push(format!(
                "#{n} sent at {:?} answered by {agent}, allowed {ok:?}",
                s.sent.duration_since(t0)
            ));
        }
    }
    let edges: Vec<String> = applied
        .iter()
        .map(|p| {
            format!(
                "{:?}..{:?}->{}",
                p.started.saturating_duration_since(t0),
                p.acked.saturating_duration_since(t0),
                p.target
            )
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} responses came from an agent no config in force named:\n{}\npatches: {edges:?}",
        wrong.len(),
        wrong
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(seen.len() >= PATCHES * 2, "only {} requests", seen.len());
    assert_eq!(dp.health()["configVersion"], PATCHES as u64 + 1);
}

/// Waits until new log lines (after `from` bytes) mention one of `needles`.
fn wait_log(dp: &DataPlane, from: usize, needles: &[&str]) -> String {
    eventually(&format!("a log line mentioning one of {needles:?}"), || {
        let logs = dp.logs();
        let new = logs.get(from..).unwrap_or_default().to_string();
        needles.iter().any(|n| new.contains(n)).then_some(new)
    })
}

fn serves(dp: &DataPlane, agent: &str) -> bool {
    dp.get("/api/v1/chat").agent() == Some(agent)
}

#[test]
fn standalone_reloads_good_edits_and_keeps_serving_through_broken_ones() {
    let dir = tempfile::tempdir().unwrap();
    let a = TestAgent::start("ag-a");
    let b = TestAgent::start("ag-b");
    let c = TestAgent::start("ag-c");
    let dp = DataPlane::standalone(dir.path(), doc(&[&a, &b, &c], "ag-a"));
    assert!(serves(&dp, "ag-a"));

    dp.rewrite_config(doc(&[&a, &b, &c], "ag-b"));
    eventually("the edit to be served", || {
        serves(&dp, "ag-b").then_some(())
    });

    // Not JSON at all.
    let from = dp.logs().len();
    dp.rewrite_config_raw("{\"gateway\": {\"routing\": ");
    wait_log(&dp, from, &["user.json"]);
    for _ in 0..10 {
        assert!(serves(&dp, "ag-b"), "{}", dp.logs());
    }
    assert_eq!(dp.get("/ready").status, 200);

    // JSON, but an invalid config: the target names no agent.
    let from = dp.logs().len();
    dp.rewrite_config(doc(&[&a, &b, &c], "ghost"));
    let logged = wait_log(&dp, from, &["ghost", "gateway.routing.rules[0].target"]);
    for _ in 0..10 {
        assert!(serves(&dp, "ag-b"), "after:\n{logged}");
    }
    assert_eq!(dp.get("/ready").status, 200);

    // A good edit after the broken ones is picked up again.
    dp.rewrite_config(doc(&[&a, &b, &c], "ag-c"));
    eventually("the repaired edit to be served", || {
        serves(&dp, "ag-c").then_some(())
    });
}
