//! Retries through the real data plane (`routing.rules[i].retry`): a GET answered 503 by one endpoint
//! is sent again to the other and says so in `x-openclaw-retries`; a POST is retried only when
//! `non-idempotent` opts in; a body streamed past what the gateway holds is never replayed; with one
//! endpoint down under steady load, retries stay within the agent's budget.

#![allow(clippy::unwrap_used)] // Test helpers may panic: a panic is a test failure.

use std::time::Instant;

use openclaw_e2e::{DataPlane, TestAgent};
use serde_json::{Value, json};

/// One agent `pool` with the two test agents as its endpoints, round robin, and `retry`.
fn config(a: &str, b: &str, retry: Value) -> Value {
    json!({"gateway": {
        "agents": {
            "discovery": {"static": [{"id": "pool", "endpoints": [a, b]}]},
            "healthCheck": {"enabled": false}
        },
        "routing": {"rules": [{"name": "all", "match": {"type": "prefix", "pattern": "/"},
                               "target": "pool", "retry": retry}]}
    }})
}

#[test]
fn a_get_answered_503_is_retried_on_the_other_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (bad, good) = (TestAgent::start("bad"), TestAgent::start("good"));
    bad.set_status(503);
    let dp = DataPlane::standalone(
        dir.path(),
        config(
            &bad.url(),
            &good.url(),
            // A floor high enough that the budget never refuses here.
            json!({"attempts": 2, "on": ["gateway-error"], "backoff": "1ms",
                   "minRetriesPerSecond": 100}),
        ),
    );
    let not_enforced = dp.health()["notEnforced"].to_string();
    assert!(!not_enforced.contains("retry"), "{not_enforced}");
    let mut retried = 0;
    for _ in 0..10 {
        let r = dp.get("/v1/models");
        assert_eq!(r.served_by(), "good");
        if let Some(n) = r.header("x-openclaw-retries") {
            assert_eq!(n, "1");
            retried += 1;
        }
    }
    assert_eq!(retried, bad.requests(), "each 503 was retried once");
    assert!(
        retried >= 4,
        "round robin sent {retried} of 10 to the bad endpoint"
    );
    assert_eq!(good.requests(), 10);
    assert!(
        dp.metrics().contains(&format!(
            "gateway_retries_total{{agent=\"pool\"}} {retried}"
        )),
        "{}",
        dp.metrics()
    );
    assert!(dp.logs().contains("\"attempts\":2"), "{}", dp.logs());
}

#[test]
fn a_post_is_retried_only_when_non_idempotent_opts_in() {
    let dir = tempfile::tempdir().unwrap();
    let (bad, good) = (TestAgent::start("bad"), TestAgent::start("good"));
    bad.set_status(503);
    let dp = DataPlane::standalone(
        dir.path(),
        config(&bad.url(), &good.url(), json!({"on": ["gateway-error"]})),
    );
    let mut failed = 0;
    for _ in 0..6 {
        let r = dp.request("POST", "/api/v1/chat", &[], b"{\"q\": 1}");
        assert!(r.header("x-openclaw-retries").is_none());
        if r.status == 503 {
            failed += 1;
        }
    }
    assert_eq!(failed, 3, "POSTs are not retried by default");
    dp.rewrite_config(config(
        &bad.url(),
        &good.url(),
        json!({"on": ["gateway-error", "non-idempotent"], "backoff": "1ms",
               "minRetriesPerSecond": 100}),
    ));
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    // Once the new config is in force, every POST ends on the good endpoint.
    let mut in_a_row = 0;
    while in_a_row < 6 {
        assert!(Instant::now() < deadline, "POSTs were never retried");
        let r = dp.request("POST", "/api/v1/chat", &[], b"{\"q\": 1}");
        in_a_row = if r.status == 200 { in_a_row + 1 } else { 0 };
    }
}

#[test]
fn a_body_streamed_past_what_is_held_is_never_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let (bad, good) = (TestAgent::start("bad"), TestAgent::start("good"));
    bad.set_status(503);
    // Only the bad endpoint is in the pool, so every request meets a 503 first.
    let dp = DataPlane::standalone(
        dir.path(),
        json!({"gateway": {
            "agents": {
                "discovery": {"static": [{"id": "pool", "endpoints": [bad.url()]}]},
                "healthCheck": {"enabled": false}
            },
            "routing": {"rules": [{"name": "all", "match": {"type": "prefix", "pattern": "/"},
                "target": "pool",
                "retry": {"attempts": 3, "on": ["gateway-error", "non-idempotent"],
                          "backoff": "1ms", "minRetriesPerSecond": 100}}]}
        }}),
    );
    drop(good);
    // A small body is in hand: retried in place (a pool of one), twice.
    let r = dp.request("POST", "/api/v1/upload", &[], b"small");
    assert_eq!(r.status, 503);
    assert_eq!(r.header("x-openclaw-retries"), Some("2"));
    assert_eq!(bad.requests(), 3);
    // 1 MiB is past what the gateway holds: sent once, never replayed.
    let big = vec![b'x'; 1 << 20];
    let r = dp.request("POST", "/api/v1/upload", &[], &big);
    assert_eq!(r.status, 503);
    assert_eq!(bad.requests(), 4, "a streamed body was replayed");
    let last = bad.last_request().unwrap();
    assert!(last.complete);
}

#[test]
fn with_one_endpoint_down_retries_stay_within_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let good = TestAgent::start("good");
    // A port nobody listens on: every connection is refused.
    let dead = format!("http://127.0.0.1:{}", openclaw_e2e::free_port());
    let dp = DataPlane::standalone(
        dir.path(),
        config(
            &dead,
            &good.url(),
            json!({"attempts": 3, "on": ["connect-failure"], "backoff": "1ms",
                   "budgetPercent": 20, "minRetriesPerSecond": 3}),
        ),
    );
    let started = Instant::now();
    let (mut ok, mut failed) = (0u64, 0u64);
    for _ in 0..200 {
        let r = dp.get("/v1/models");
        match r.status {
            200 => ok += 1,
            502 => failed += 1,
            s => panic!("unexpected {s}: {}", r.text()),
        }
    }
    let secs = started.elapsed().as_secs() + 1;
    let metrics = dp.metrics();
    let retries: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("gateway_retries_total{agent=\"pool\"} "))
        .unwrap_or("0")
        .parse()
        .unwrap();
    // 20% of 200 requests, plus the floor for each second the load ran.
    let budget = 40 + 3 * secs;
    assert!(retries <= budget, "{retries} retries, budget {budget}");
    assert!(retries > 0);
    assert_eq!(ok + failed, 200);
    assert!(failed > 0, "the budget never ran out ({retries} retries)");
    assert!(ok >= retries, "a retry of a refused connection failed");
}
