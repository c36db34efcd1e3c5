//! Load balancing through the real data plane and test agents: weighted round robin's 3:1, ring
//! hashing on a body `session_id` across a config swap, slow start of an added endpoint, `peakEwma`
//! and `adaptive` moving traffic off a slow or loaded agent and back, and `locality` preferring the
//! node's own zone and spilling over.

#![allow(clippy::unwrap_used)] // Test helpers may panic: a panic is a test failure.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use openclaw_e2e::{ControlPlane, CpOptions, DataPlane, TestAgent};
use serde_json::{Value, json};

const SOON: Duration = Duration::from_secs(20);

/// Polls `f` until it returns `Some`, for at most `SOON`.
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + SOON;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn entry(a: &TestAgent, weight: u32, tags: &[&str]) -> Value {
    json!({"id": a.id(), "endpoint": a.url(), "weight": weight, "tags": tags})
}

fn doc(agents: Vec<Value>, lb: Value, target: &str) -> Value {
    json!({"gateway": {
        "agents": {"discovery": {"static": agents}},
        "loadBalancing": lb,
        "routing": {"rules": [
            {"name": "chat", "match": {"type": "prefix", "pattern": "/api/v1/chat"}, "target": target}
        ]}
    }})
}

/// Who answered each of `n` sequential requests.
fn counts(dp: &DataPlane, n: usize) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for _ in 0..n {
        *out.entry(dp.get("/api/v1/chat").served_by()).or_default() += 1;
    }
    out
}

fn share(c: &BTreeMap<String, usize>, id: &str) -> f64 {
    let total: usize = c.values().sum();
    c.get(id).copied().unwrap_or(0) as f64 / total.max(1) as f64
}

fn not_enforced(dp: &DataPlane) -> String {
    dp.health()["notEnforced"].to_string()
}

#[test]
fn weighted_round_robin_gives_3_to_1_traffic_for_3_to_1_weights() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (TestAgent::start("wrr-a"), TestAgent::start("wrr-b"));
    let dp = DataPlane::standalone(
        dir.path(),
        doc(
            vec![entry(&a, 300, &["chat"]), entry(&b, 100, &["chat"])],
            json!({"strategy": "weightedRoundRobin"}),
            "tag:chat",
        ),
    );
    let c = counts(&dp, 400);
    assert_eq!(c["wrr-a"], 300, "{c:?}");
    assert_eq!(c["wrr-b"], 100, "{c:?}");
    assert!(!not_enforced(&dp).contains("loadBalancing"));
}

#[test]
fn ring_hash_on_a_body_session_id_keeps_sessions_across_a_swap_that_changes_another_agent() {
    let dir = tempfile::tempdir().unwrap();
    let agents: Vec<TestAgent> = (0..3)
        .map(|i| TestAgent::start(&format!("ring-{i}")))
        .collect();
    let other = TestAgent::start("ring-other");
    let config = |other_weight: u32| {
        let mut list: Vec<Value> = agents.iter().map(|a| entry(a, 100, &["chat"])).collect();
        list.push(entry(&other, other_weight, &[]));
        let mut d = doc(list, json!({"strategy": "roundRobin"}), "tag:chat");
        d["gateway"]["routing"]["rules"][0]["loadBalancing"] =
            json!({"strategy": "ringHash", "hashOn": "body:session_id"});
        d
    };
    let dp = DataPlane::standalone(dir.path(), config(100));
    let ask = |session: usize| {
        let body = json!({"session_id": format!("conv-{session}"), "message": "hi"}).to_string();
        dp.request(
            "POST",
            "/api/v1/chat",
            &[("content-type", "application/json")],
            body.as_bytes(),
        )
        .served_by()
    };
    let before: Vec<String> = (0..40).map(ask).collect();
    // Each session sticks to one agent, and sessions spread over the pool.
    for (s, agent) in before.iter().enumerate() {
        assert_eq!(&ask(s), agent, "session {s}");
    }
    let used: std::collections::BTreeSet<_> = before.iter().collect();
    assert!(used.len() >= 2, "{before:?}");

    let hash = dp.health()["configHash"].clone();
    dp.rewrite_config(config(50));
    eventually("the swap", || {
        (dp.health()["configHash"] != hash).then_some(())
    });
    let after: Vec<String> = (0..40).map(ask).collect();
    assert_eq!(before, after);
}

#[test]
fn slow_start_ramps_a_newly_added_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        TestAgent::start("slow-a"),
        TestAgent::start("slow-b"),
        TestAgent::start("slow-c"),
    );
    let lb = json!({"strategy": "weightedRandom",
        "slowStart": {"enabled": true, "duration": "8s", "initialWeight": 5}});
    let dp = DataPlane::standalone(
        dir.path(),
        doc(
            vec![entry(&a, 100, &["chat"]), entry(&b, 100, &["chat"])],
            lb.clone(),
            "tag:chat",
        ),
    );
    let hash = dp.health()["configHash"].clone();
    dp.rewrite_config(doc(
        vec![
            entry(&a, 100, &["chat"]),
            entry(&b, 100, &["chat"]),
            entry(&c, 100, &["chat"]),
        ],
        lb,
        "tag:chat",
    ));
    eventually("the new endpoint to be added", || {
        (dp.health()["configHash"] != hash).then_some(())
    });
    let added = Instant::now();
    let early = counts(&dp, 200);
    let early_share = share(&early, "slow-c");
    // Within the first seconds its weight is a fraction of the others'.
    if added.elapsed() < Duration::from_secs(3) {
        assert!(early_share < 0.2, "{early:?}");
    }
    // Once the ramp is over it takes its full third. 300 picks and a bar of 0.28 (reached at about
    // 6 s of the 8 s ramp) keep random picks from crossing it early: before 3 s its true share is
    // under 0.18, more than four standard deviations below the bar.
    let full = eventually("the ramp to end", || {
        let c = counts(&dp, 300);
        (share(&c, "slow-c") > 0.28).then_some(c)
    });
    assert!(added.elapsed() > Duration::from_secs(3), "{full:?}");
}

#[test]
fn peak_ewma_sends_less_to_a_slow_agent_and_traffic_returns_when_it_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let (fast, slow) = (TestAgent::start("ewma-fast"), TestAgent::start("ewma-slow"));
    slow.set_delay(Duration::from_millis(40));
    let dp = DataPlane::standalone(
        dir.path(),
        doc(
            vec![entry(&fast, 100, &["chat"]), entry(&slow, 100, &["chat"])],
            json!({"strategy": "peakEwma", "peakEwma": {"decay": "1s"}}),
            "tag:chat",
        ),
    );
    // Both start unmeasured; once timed, the slow one is avoided.
    let c = counts(&dp, 200);
    assert!(share(&c, "ewma-slow") < 0.1, "{c:?}");
    slow.set_delay(Duration::ZERO);
    eventually("traffic to return to the recovered agent", || {
        let c = counts(&dp, 100);
        (share(&c, "ewma-slow") > 0.2).then_some(())
    });
}

#[test]
fn adaptive_sends_less_to_an_agent_reporting_high_cpu_and_traffic_returns_when_it_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let (busy, idle) = (TestAgent::start("ad-busy"), TestAgent::start("ad-idle"));
    busy.set_cpu(Some(0.9));
    idle.set_cpu(Some(0.1));
    let dp = DataPlane::standalone(
        dir.path(),
        doc(
            vec![entry(&busy, 100, &["chat"]), entry(&idle, 100, &["chat"])],
            json!({"strategy": "adaptive", "adaptive": {
                "metrics": ["cpu", "latency", "queue_depth"],
                "weights": {"cpu": 0.8, "latency": 0.1, "queue_depth": 0.1},
                "updateInterval": "200ms", "historyWindow": "2s"}}),
            "tag:chat",
        ),
    );
    assert!(!not_enforced(&dp).contains("loadBalancing"));
    // Reports arrive with answers; within a few intervals the busy agent's share falls.
    eventually("traffic to move off the busy agent", || {
        let c = counts(&dp, 200);
        (share(&c, "ad-busy") < 0.3).then_some(())
    });
    // It is never starved to zero (the floor), so it is heard when it recovers.
    busy.set_cpu(Some(0.1));
    eventually("traffic to return to the recovered agent", || {
        let c = counts(&dp, 200);
        (share(&c, "ad-busy") > 0.4).then_some(())
    });
}

#[test]
fn locality_prefers_the_nodes_zone_and_spills_over_when_it_is_loaded_or_down() {
    let dir = tempfile::tempdir().unwrap();
    let mut near = TestAgent::start("loc-near");
    let far1 = TestAgent::start("loc-far1");
    let far2 = TestAgent::start("loc-far2");
    let endpoint = |a: &TestAgent, zone: &str| json!({"url": a.url(), "labels": {"zone": zone}});
    let cp = ControlPlane::start(
        dir.path(),
        CpOptions {
            bootstrap: Some(json!({"gateway": {
                "agents": {
                    "discovery": {"static": [{"id": "svc", "endpoints": [
                        endpoint(&far1, "b"), endpoint(&near, "a"), endpoint(&far2, "b")
                    ]}]},
                    "healthCheck": {"interval": "100ms", "timeout": "1s", "failThreshold": 1}
                },
                "loadBalancing": {"strategy": "locality", "locality": {"spillover": 1.0}},
                "routing": {"rules": [
                    {"name": "chat", "match": {"type": "prefix", "pattern": "/api/v1/chat"}, "target": "svc"}
                ]}
            }})),
            ..CpOptions::default()
        },
    );
    let dp = DataPlane::managed(dir.path(), &cp, "loc-1", &[("zone", "a")], None);
    let c = counts(&dp, 50);
    assert_eq!(c.get("loc-near"), Some(&50), "{c:?}");

    // Loaded: with the local endpoint slow and many requests in flight, some spill over.
    near.set_delay(Duration::from_millis(300));
    let addr = dp.addr;
    let clients: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                let url = format!("http://{addr}/api/v1/chat");
                (0..3)
                    .map(|_| {
                        openclaw_e2e::http_request("GET", &url, &[], b"")
                            .unwrap()
                            .served_by()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let served: Vec<String> = clients
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert!(
        served.iter().any(|s| s.starts_with("loc-far")),
        "{served:?}"
    );
    assert!(served.iter().any(|s| s == "loc-near"), "{served:?}");
    near.set_delay(Duration::ZERO);

    // Down: everything spills over.
    near.stop();
    let port = format!(":{}", near.addr().port());
    eventually("the local endpoint to be marked down", || {
        let h = dp.health();
        let down =
            h["agents"].as_array().unwrap().iter().any(|a| {
                a["endpoint"].as_str().unwrap_or("").contains(&port) && a["healthy"] == false
            });
        down.then_some(())
    });
    let c = counts(&dp, 40);
    assert_eq!(c.get("loc-near"), None, "{c:?}");
    assert!(
        c.contains_key("loc-far1") && c.contains_key("loc-far2"),
        "{c:?}"
    );
}

#[test]
fn sticky_cookie_pins_a_client_with_an_http_only_cookie() {
    let dir = tempfile::tempdir().unwrap();
    let agents: Vec<TestAgent> = (0..3)
        .map(|i| TestAgent::start(&format!("sticky-{i}")))
        .collect();
    let dp = DataPlane::standalone(
        dir.path(),
        doc(
            agents.iter().map(|a| entry(a, 100, &["chat"])).collect(),
            json!({"strategy": "stickyCookie", "stickyCookie": {"name": "aff", "ttl": "10m"}}),
            "tag:chat",
        ),
    );
    let first = dp.get("/api/v1/chat");
    let agent = first.served_by();
    let set = first.header("set-cookie").unwrap().to_string();
    assert!(
        set.starts_with("aff=") && set.contains("HttpOnly") && set.contains("Max-Age=600"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_string();
    for _ in 0..20 {
        let r = dp.request("GET", "/api/v1/chat", &[("cookie", &cookie)], b"");
        assert_eq!(r.served_by(), agent);
        assert!(
            r.header("set-cookie").is_none(),
            "a valid cookie is not set again"
        );
    }
    // Without the cookie, clients are spread (and each told where it went).
    let c = counts(&dp, 30);
    assert_eq!(c.len(), 3, "{c:?}");
}
