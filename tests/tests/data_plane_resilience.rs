//! Resilience towards agents through the real data plane: an agent that accepts and never answers
//! gets the client a 504 naming it at `firstByte` (an agent's own bound over the default), and a
//! rule's `idle` bound cuts a stream that pauses longer while another rule's stream lives on.

#![allow(clippy::unwrap_used)] // Test helpers may panic: a panic is a test failure.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use openclaw_e2e::{AgentOptions, DataPlane, TestAgent};
use serde_json::json;

/// An agent that accepts connections and reads requests but never answers; counts connections.
fn start_silent_agent() -> (String, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            count.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                // Read until the gateway gives up and closes.
                while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    (url, accepted)
}

#[test]
fn an_agent_that_never_answers_gets_504_naming_it_at_its_first_byte_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (url, accepted) = start_silent_agent();
    let dp = DataPlane::standalone(
        dir.path(),
        json!({"gateway": {
            "agents": {
                "discovery": {"static": [
                    {"id": "silent", "endpoint": url, "timeouts": {"firstByte": "1s"}}
                ]},
                "healthCheck": {"enabled": false},
                "timeouts": {"firstByte": "300s"}
            },
            "routing": {"rules": [
                {"name": "all", "match": {"type": "prefix", "pattern": "/"}, "target": "silent"}
            ]}
        }}),
    );
    let started = Instant::now();
    let r = dp.request(
        "POST",
        "/api/v1/chat",
        &[("content-type", "application/json")],
        b"{}",
    );
    let took = started.elapsed();
    assert_eq!(r.status, 504, "{}", r.text());
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(10),
        "answered after {took:?}"
    );
    let body = r.json();
    assert_eq!(body["agent"], "silent", "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("timed out"),
        "{body}"
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "the agent was reached");
    assert!(
        dp.metrics()
            .contains("gateway_error_total{kind=\"upstream_timeout\"} 1"),
        "{}",
        dp.metrics()
    );
}

#[test]
fn a_rules_idle_timeout_cuts_a_stream_that_pauses_longer_and_others_live_on() {
    let dir = tempfile::tempdir().unwrap();
    let agent = TestAgent::start_with(
        "slow",
        AgentOptions {
            sse_events: 3,
            sse_gap: Duration::from_millis(1500),
        },
    );
    let dp = DataPlane::standalone(
        dir.path(),
        json!({"gateway": {
            "agents": {
                "discovery": {"static": [agent.config_entry(&[])]},
                "healthCheck": {"enabled": false},
                "timeouts": {"idle": "10s"}
            },
            "routing": {"rules": [
                {"name": "strict", "match": {"type": "prefix", "pattern": "/strict"},
                 "target": "slow", "timeouts": {"idle": "500ms"}},
                {"name": "all", "match": {"type": "prefix", "pattern": "/"}, "target": "slow"}
            ]}
        }}),
    );
    let whole = dp.request("POST", "/api/v1/chat/stream", &[], b"{}");
    assert_eq!(whole.status, 200);
    assert!(whole.text().contains("chunk-3"), "{}", whole.text());
    // The strict rule's stream starts, then is cut at the first pause past 500ms.
    let started = Instant::now();
    let cut = openclaw_e2e::http_request(
        "POST",
        &format!("{}/strict/chat/stream", dp.url()),
        &[],
        b"{}",
    );
    let took = started.elapsed();
    // An error is the connection broken off mid-body: cut, as wanted.
    if let Ok(r) = cut {
        assert!(!r.text().contains("chunk-3"), "not cut: {}", r.text());
    }
    assert!(took < Duration::from_secs(3), "cut after {took:?}");
}

fn breaker_config(flaky: &TestAgent, fallback: Option<&TestAgent>) -> serde_json::Value {
    let mut agents = vec![flaky.config_entry(&[])];
    let mut rule = json!({"name": "chat", "match": {"type": "prefix", "pattern": "/"},
                          "target": flaky.id()});
    if let Some(f) = fallback {
        agents.push(f.config_entry(&[]));
        rule["fallback"] = f.id().into();
    }
    json!({"gateway": {
        "agents": {"discovery": {"static": agents}, "healthCheck": {"enabled": false}},
        "loadBalancing": {"circuitBreaker": {
            "enabled": true, "errorThreshold": 0.5, "minRequests": 4,
            "cooldown": "2s", "window": "30s"
        }},
        "routing": {"rules": [rule]}
    }})
}

/// The `circuit` of `agent`'s endpoint in `/health`.
fn circuit(dp: &DataPlane, agent: &str) -> String {
    let h = dp.health();
    let a = h["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == agent)
        .unwrap_or_else(|| panic!("{agent} not in {h}"));
    a["circuit"].as_str().unwrap().to_string()
}

#[test]
fn a_failing_agent_trips_its_breaker_traffic_goes_to_the_fallback_then_it_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let flaky = TestAgent::start("flaky");
    let backup = TestAgent::start("backup");
    let dp = DataPlane::standalone(dir.path(), breaker_config(&flaky, Some(&backup)));
    assert_eq!(circuit(&dp, "flaky"), "closed");
    let not_enforced = dp.health()["notEnforced"].to_string();
    assert!(!not_enforced.contains("circuitBreaker"), "{not_enforced}");
    flaky.set_status(500);
    // minRequests failures open the circuit; until then the agent's 500s pass through.
    for _ in 0..4 {
        let r = dp.request("POST", "/api/v1/chat", &[], b"{}");
        assert_eq!(r.status, 500, "{}", r.text());
    }
    assert_eq!(flaky.requests(), 4);
    assert_eq!(circuit(&dp, "flaky"), "open");
    // While open the agent receives nothing: the fallback answers.
    for _ in 0..5 {
        let r = dp.request("POST", "/api/v1/chat", &[], b"{}");
        assert_eq!(r.served_by(), "backup");
    }
    assert_eq!(flaky.requests(), 4, "the open circuit let requests through");
    let metrics = dp.metrics();
    assert!(
        metrics.contains(&format!(
            "gateway_circuit_state{{agent=\"flaky\",endpoint=\"{}/\"}} 1",
            flaky.url()
        )),
        "{metrics}"
    );
    assert!(dp.logs().contains("circuit opened"), "{}", dp.logs());
    // The agent recovers; after the cooldown a trial reaches it and closes the circuit.
    flaky.set_status(200);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = dp.request("POST", "/api/v1/chat", &[], b"{}");
        if r.served_by() == "flaky" {
            break;
        }
        assert!(Instant::now() < deadline, "the circuit never half-opened");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(circuit(&dp, "flaky"), "closed");
    for _ in 0..3 {
        let r = dp.request("POST", "/api/v1/chat", &[], b"{}");
        assert_eq!(r.served_by(), "flaky");
    }
    let metrics = dp.metrics();
    for to in ["open", "halfOpen", "closed"] {
        assert!(
            metrics.contains(&format!(
                "gateway_circuit_transitions_total{{agent=\"flaky\",endpoint=\"{}/\",to=\"{to}\"}} 1",
                flaky.url()
            )),
            "{to}: {metrics}"
        );
    }
}

#[test]
fn an_open_circuit_without_fallback_answers_503_with_retry_after_naming_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let flaky = TestAgent::start("flaky");
    let dp = DataPlane::standalone(dir.path(), breaker_config(&flaky, None));
    flaky.set_status(503);
    for _ in 0..4 {
        dp.request("GET", "/x", &[], b"");
    }
    let r = dp.request("GET", "/x", &[], b"");
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["agent"], "flaky", "{}", r.text());
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "Retry-After: {wait}");
    assert_eq!(flaky.requests(), 4);
}
