//! Semantic routing through the real data plane: the seed's example (Chinese and English requests reach
//! the code and chat agents by meaning), thresholds deciding between a rule and the default,
//! `route.explain` against a real control plane, the `openai` encoder against a test embeddings server
//! (and its fallback when that server hangs), and models that cannot be loaded.

#![allow(clippy::unwrap_used)] // Test helpers may panic: a panic is a test failure.

use std::time::{Duration, Instant};

use openclaw_e2e::{
    ControlPlane, CpOptions, DataPlane, EmbeddingServer, HttpResponse, TestAgent, json_ok,
};
use serde_json::{Value, json};

/// The seed's two semantic rules, plus a default rule so unmatched text is visible.
fn seed_rules() -> Value {
    json!([
        {"name": "chat-route", "match": {"type": "semantic", "threshold": 0.82, "categories": ["conversation", "qa", "general"]},
         "target": "agent-chat-001", "fallback": "agent-chat-002"},
        {"name": "code-route", "match": {"type": "semantic", "threshold": 0.78, "categories": ["code", "programming", "debug"]},
         "target": "agent-code-001"},
        {"name": "api-prefix-route", "match": {"type": "prefix", "pattern": "/api/v1/admin"}, "target": "agent-admin-001", "requiresAuth": true},
        {"name": "default-route", "match": {"type": "default"}, "target": "agent-default"}
    ])
}

struct Agents(Vec<TestAgent>);

impl Agents {
    fn start() -> Self {
        Self(
            [
                "agent-chat-001",
                "agent-chat-002",
                "agent-code-001",
                "agent-admin-001",
                "agent-default",
            ]
            .iter()
            .map(|n| TestAgent::start(n))
            .collect(),
        )
    }

    fn config(&self) -> Value {
        Value::Array(self.0.iter().map(|a| a.config_entry(&[])).collect())
    }
}

fn doc(agents: &Agents, rules: Value, semantic: Value) -> Value {
    json!({"gateway": {
        "agents": {"discovery": {"static": agents.config()}},
        "routing": {"rules": rules, "semantic": semantic}
    }})
}

/// Posts `{"message": text}` to `/api/v1/chat`, as the seed's Python client does.
fn ask(dp: &DataPlane, text: &str) -> HttpResponse {
    let body = json!({"message": text, "user_id": "u1"}).to_string();
    dp.request(
        "POST",
        "/api/v1/chat",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

fn metric(dp: &DataPlane, name: &str) -> f64 {
    dp.metrics()
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("{name} missing"))
}

#[test]
fn seed_example_routes_chinese_and_english_by_meaning() {
    let dir = tempfile::tempdir().unwrap();
    let agents = Agents::start();
    let dp = DataPlane::standalone(dir.path(), doc(&agents, seed_rules(), json!({})));
    for text in [
        "帮我写代码",
        "这段代码报错了怎么调试",
        "write a Python function to reverse a list",
    ] {
        let r = ask(&dp, text);
        assert_eq!(r.served_by(), "agent-code-001", "{text}");
        assert_eq!(r.header("x-openclaw-route"), Some("code-route"), "{text}");
    }
    for text in ["你好，今天天气怎么样", "hello, how are you?"] {
        let r = ask(&dp, text);
        assert_eq!(r.served_by(), "agent-chat-001", "{text}");
    }
    // The body reaches the agent unchanged; an OpenAI-style body is read from its last user message.
    let openai = json!({"model": "m", "messages": [
        {"role": "user", "content": "hello there"},
        {"role": "assistant", "content": "hi"},
        {"role": "user", "content": "debug this segfault in my C code"}
    ]});
    let r = dp.request(
        "POST",
        "/v1/chat/completions",
        &[("Content-Type", "application/json")],
        openai.to_string().as_bytes(),
    );
    assert_eq!(r.served_by(), "agent-code-001");
    assert_eq!(r.json()["body"], openai.to_string());
    // Off-topic text and bodies without text fall to the default rule.
    assert_eq!(
        ask(&dp, "请帮我把客厅的灯关掉").served_by(),
        "agent-default"
    );
    let r = dp.request(
        "POST",
        "/api/v1/chat",
        &[("Content-Type", "application/json")],
        b"{\"n\": 1}",
    );
    assert_eq!(r.served_by(), "agent-default");
    assert_eq!(
        metric(&dp, "gateway_semantic_skipped_total{reason=\"no_text\"}"),
        1.0
    );
    let health = dp.health();
    assert_eq!(health["semantic"]["encoder"], "builtin", "{health}");
}

#[test]
fn bodies_over_the_semantic_size_limit_skip_matching() {
    let dir = tempfile::tempdir().unwrap();
    let agents = Agents::start();
    let dp = DataPlane::standalone(
        dir.path(),
        doc(&agents, seed_rules(), json!({"maxBodySize": "1KiB"})),
    );
    let long = format!("write a python function {}", "x".repeat(2000));
    let r = ask(&dp, &long);
    assert_eq!(r.served_by(), "agent-default");
    assert!(
        r.json()["body"].as_str().unwrap().len() > 2000,
        "forwarded whole"
    );
    assert_eq!(
        metric(
            &dp,
            "gateway_semantic_skipped_total{reason=\"body_too_large\"}"
        ),
        1.0
    );
    assert_eq!(
        ask(&dp, "write a python function").served_by(),
        "agent-code-001"
    );
}

#[test]
fn openai_encoder_routes_and_falls_back_within_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let agents = Agents::start();
    let server = EmbeddingServer::start();
    // The test server's vectors are crude (a few cue words and hashed bigrams): its calibrated
    // confidences are lower than a real model's, so this test routes at 0.5.
    let mut rules = seed_rules();
    for r in rules.as_array_mut().unwrap().iter_mut().take(2) {
        r["match"]["threshold"] = json!(0.5);
    }
    let semantic = json!({"encoder": "openai", "openai": {
        "baseUrl": server.base_url(), "model": "test-embed", "apiKey": "${EMBED_KEY_FOR_TEST}",
        "timeout": "300ms", "failureThreshold": 2, "cooldown": "30s"
    }});
    let dp = DataPlane::standalone_builder(dir.path(), doc(&agents, rules, semantic))
        .env("EMBED_KEY_FOR_TEST", "embed-secret-key")
        .start();
    // The library is embedded in the background; until then the built-in table answers.
    let deadline = Instant::now() + Duration::from_secs(20);
    while dp.health()["semantic"]["complete"] != true {
        assert!(
            Instant::now() < deadline,
            "library never embedded: {}",
            dp.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        server.last_authorization().as_deref(),
        Some("Bearer embed-secret-key")
    );
    let embedded = server.inputs();
    assert!(embedded > 100, "the library was embedded: {embedded}");
    assert!(
        dp.health()["semantic"]["encoder"]
            .as_str()
            .unwrap()
            .starts_with("openai:test-embed")
    );

    assert_eq!(
        ask(&dp, "please debug my python code").served_by(),
        "agent-code-001"
    );
    assert_eq!(
        ask(&dp, "你好，今天天气怎么样").served_by(),
        "agent-chat-001"
    );
    // The same text again comes from the cache.
    let calls = server.requests();
    assert_eq!(
        ask(&dp, "please debug my python code").served_by(),
        "agent-code-001"
    );
    assert_eq!(server.requests(), calls);
    assert_eq!(metric(&dp, "gateway_semantic_fallback_total"), 0.0);

    // The server hangs: each request waits at most the timeout, then the built-in table routes it.
    server.set_hang(true);
    for text in [
        "write a function that parses JSON in rust",
        "这段代码报错了怎么调试",
    ] {
        let started = Instant::now();
        let r = ask(&dp, text);
        assert_eq!(r.served_by(), "agent-code-001", "{text}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
    assert_eq!(metric(&dp, "gateway_semantic_fallback_total"), 2.0);
    // Two failures opened the breaker: no more waiting at all.
    let calls = server.requests();
    let started = Instant::now();
    assert_eq!(
        ask(&dp, "hello, how are you?").served_by(),
        "agent-chat-001"
    );
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.requests(), calls, "an open breaker sends nothing");
    assert!(!dp.logs().contains("embed-secret-key"));
    assert!(!dp.health().to_string().contains("embed-secret-key"));
}

/// Runs a standalone data plane on `config` until it exits (it must: the config cannot be served).
fn boot_fails(dir: &std::path::Path, config: &Value) -> String {
    let user = dir.join("boot.json");
    std::fs::write(&user, config.to_string()).unwrap();
    let out = std::process::Command::new(openclaw_e2e::bin("openclaw-data-plane"))
        .env("OPENCLAW_GLOBAL_CONFIG", "")
        .env("OPENCLAW_USER_CONFIG", &user)
        .env(
            "OPENCLAW_HTTP__LISTEN",
            format!("127.0.0.1:{}", openclaw_e2e::free_port()),
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success(),
        "booted on a config it cannot serve: {stderr}"
    );
    stderr
}

#[test]
fn models_that_cannot_load_are_refused_or_replaced_by_keyword() {
    let dir = tempfile::tempdir().unwrap();
    let agents = Agents::start();
    let missing = dir.path().join("no-such-model");
    let corrupt = dir.path().join("corrupt-model");
    std::fs::create_dir_all(&corrupt).unwrap();
    for f in ["model.safetensors", "tokenizer.json", "config.json"] {
        std::fs::write(corrupt.join(f), b"\x00garbage{").unwrap();
    }
    let with_model = |path: &std::path::Path, fallback: bool| {
        let semantic = json!({"encoder": "model2vec", "model2vec": {"path": path, "fallbackToKeyword": fallback}});
        doc(&agents, seed_rules(), semantic)
    };
    // At boot: a clear error naming the setting and the file, never a panic.
    for (model, want) in [
        (&missing, "cannot read tokenizer.json"),
        (&corrupt, "cannot load the model"),
    ] {
        let err = boot_fails(dir.path(), &with_model(model, false));
        assert!(
            err.contains("gateway.routing.semantic.model2vec.path"),
            "{err}"
        );
        assert!(
            err.contains(want) && err.contains(&*model.to_string_lossy()),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    // With fallbackToKeyword the node serves, matches with keyword BM25, and says so loudly.
    let dp = DataPlane::standalone(dir.path(), with_model(&missing, true));
    let health = dp.health();
    assert_eq!(
        health["semantic"]["encoder"], "keyword (fallback)",
        "{health}"
    );
    assert!(
        health["semantic"]["warning"]
            .as_str()
            .unwrap()
            .contains("no-such-model"),
        "{health}"
    );
    assert!(dp.logs().contains("SEMANTIC MATCHING IS DEGRADED"));
    assert_eq!(
        ask(&dp, "帮我写一段Python代码").served_by(),
        "agent-code-001"
    );
    // A running node given a model it cannot load keeps serving its current table.
    dp.rewrite_config(with_model(&corrupt, false));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dp.logs().contains("cannot load the model") {
        assert!(Instant::now() < deadline, "no reload error: {}", dp.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(dp.health()["semantic"]["encoder"], "keyword (fallback)");
    assert_eq!(
        ask(&dp, "帮我写一段Python代码").served_by(),
        "agent-code-001"
    );
}

#[test]
fn route_explain_shows_the_numbers_and_thresholds_decide() {
    let dir = tempfile::tempdir().unwrap();
    let agents = Agents::start();
    let cp = ControlPlane::start(
        dir.path(),
        CpOptions {
            bootstrap: Some(doc(&agents, seed_rules(), json!({}))),
            ..CpOptions::default()
        },
    );
    let dp = DataPlane::managed(dir.path(), &cp, "sem-1", &[], None);
    let text = TEXT_NEAR_THRESHOLD;
    let explain = |threshold_note: &str| -> Value {
        let body = json!({"message": text}).to_string();
        let v = json_ok(&cp.cli(&["route.explain", "--path", "/api/v1/chat", "--body", &body]));
        eprintln!("{threshold_note}: {v:#}");
        v
    };
    let v = explain("seed thresholds");
    let sem = &v["semantic"];
    assert_eq!(sem["encoder"], "builtin");
    assert_eq!(sem["margin"], 0.01);
    let code = sem["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "code-route")
        .unwrap()
        .clone();
    let confidence = code["confidence"].as_f64().unwrap();
    assert!(code["similarity"].as_f64().unwrap() > 0.0);
    assert_eq!(code["threshold"], 0.78);
    assert!(sem["categories"].as_array().unwrap().len() == 6, "{sem}");
    assert!(
        (0.05..0.95).contains(&confidence),
        "pick a text near a threshold: {confidence}"
    );

    // Threshold just above the confidence: default. Just below: the code rule, in explain and in the node.
    for (threshold, rule, agent) in [
        (
            (confidence + 0.02).min(1.0),
            "default-route",
            "agent-default",
        ),
        ((confidence - 0.02).max(0.0), "code-route", "agent-code-001"),
    ] {
        let patch = json!({"gateway": {"routing": {"rules": [
            {"name": "code-route", "match": {"type": "semantic", "threshold": threshold, "categories": ["code", "programming", "debug"]}, "target": "agent-code-001"},
            {"name": "default-route", "match": {"type": "default"}, "target": "agent-default"}
        ]}}});
        let file = dir.path().join("patch.json");
        std::fs::write(&file, patch.to_string()).unwrap();
        json_ok(&cp.cli(&[
            "config.patch",
            "--file",
            file.to_str().unwrap(),
            "--wait",
            "--wait-timeout",
            "10s",
        ]));
        let v = explain(&format!("threshold {threshold}"));
        assert_eq!(v["rule"]["name"], rule, "{v}");
        assert_eq!(v["pick"]["agent"], agent, "{v}");
        let url = agents.0.iter().find(|a| a.id() == agent).unwrap().url();
        assert!(
            v["pick"]["endpoint"].as_str().unwrap().starts_with(&url),
            "{v}"
        );
        let r = ask(&dp, text);
        assert_eq!(r.served_by(), agent, "threshold {threshold}");
    }
}

/// A request the built-in encoder scores as plausibly, not surely, about code.
const TEXT_NEAR_THRESHOLD: &str = "帮我看看这个";
