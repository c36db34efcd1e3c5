//! Every JSON example of the seed article parses and validates as the article intends.

#![allow(clippy::unwrap_used)] // Test helpers may panic: a panic is a test failure.

use openclaw_config::{parse, validate, validate_with_env};
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

const ALL: &[&str] = &[
    "seed-http",
    "seed-agents",
    "seed-routing",
    "seed-load-balancing",
    "seed-cache",
    "seed-logging",
    "seed-monitoring",
    "seed-production",
];

#[test]
fn every_seed_example_parses() {
    for name in ALL {
        parse(&fixture(name)).unwrap_or_else(|e| panic!("{name} does not parse:\n{e}"));
    }
}

#[test]
fn every_self_contained_seed_example_validates() {
    for name in ALL.iter().filter(|n| **n != "seed-routing") {
        validate(&fixture(name)).unwrap_or_else(|e| panic!("{name} is invalid:\n{e}"));
    }
}

#[test]
fn production_template_needs_redis_password() {
    let doc = fixture("seed-production");
    let with = |n: &str| (n == "REDIS_PASSWORD").then(|| "pw".to_string());
    validate_with_env(&doc, &with).unwrap();
    let err = validate_with_env(&doc, &|_| None).unwrap_err().to_string();
    assert_eq!(
        err,
        "gateway.cache.layers[1].password: environment variable REDIS_PASSWORD is not set, got \"${REDIS_PASSWORD}\""
    );
}

#[test]
fn routing_example_names_each_dangling_reference() {
    let err = validate(&fixture("seed-routing")).unwrap_err();
    let lines: Vec<String> = err.iter().map(|p| p.to_string()).collect();
    let expect = [
        ("gateway.routing.rules[0].target", "agent-chat-001"),
        ("gateway.routing.rules[0].fallback", "agent-chat-002"),
        ("gateway.routing.rules[1].target", "agent-code-001"),
        ("gateway.routing.rules[2].target", "agent-admin-001"),
    ];
    assert_eq!(lines.len(), expect.len(), "{lines:#?}");
    for ((path, agent), line) in expect.iter().zip(&lines) {
        assert!(
            line.starts_with(&format!("{path}: must name an agent")),
            "{line}"
        );
        assert!(line.ends_with(&format!("got \"{agent}\"")), "{line}");
    }
}

#[test]
fn routing_example_validates_once_its_agents_exist() {
    let mut doc = fixture("seed-routing");
    let agents: Vec<Value> = [
        "agent-chat-001",
        "agent-chat-002",
        "agent-code-001",
        "agent-admin-001",
    ]
    .iter()
    .enumerate()
    .map(|(i, id)| json!({"id": id, "endpoint": format!("http://127.0.0.1:{}", 9000 + i)}))
    .collect();
    doc["gateway"]["agents"] = json!({"discovery": {"method": "static", "static": agents}});
    validate(&doc).unwrap();
}

#[test]
fn seed_keys_are_typed_as_written() {
    let d = parse(&fixture("seed-production")).unwrap().gateway;
    assert_eq!(d.http.listen, "0.0.0.0:8443");
    assert_eq!(d.http.timeouts.write.get().as_secs(), 120);
    assert_eq!(d.performance.worker_threads, Some(16));
    assert_eq!(
        d.performance.event_loop,
        openclaw_config::EventLoop::IoUring
    );
    assert_eq!(d.agents.discovery.k8s.as_ref().unwrap().port, Some(9090));
    assert_eq!(d.cache.layers[0].max_size, Some(5000));
    assert_eq!(d.logging.outputs[0].max_size.unwrap().bytes(), 500_000_000);
    let lb = parse(&fixture("seed-load-balancing"))
        .unwrap()
        .gateway
        .load_balancing;
    assert_eq!(lb.strategy, openclaw_config::Strategy::Adaptive);
    assert_eq!(lb.adaptive.weights.len(), 4);
    assert_eq!(lb.slow_start.initial_weight, 10);
}

#[test]
fn docker_example_validates() {
    let path = format!(
        "{}/../docker/examples/bootstrap.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    validate(&doc).unwrap();
}
