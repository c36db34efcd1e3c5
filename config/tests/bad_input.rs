//! Bad input: each mistake is named by its exact path, and several at once are all reported.

#![allow(clippy::unwrap_used)] // Test helpers may panic: a panic is a test failure.

use openclaw_config::{validate, validate_with_env};
use serde_json::{Value, json};

fn problems(doc: Value) -> Vec<String> {
    validate(&doc)
        .unwrap_err()
        .iter()
        .map(|p| p.to_string())
        .collect()
}

fn agents() -> Value {
    json!({"discovery": {"static": [
        {"id": "chat", "endpoint": "http://127.0.0.1:9001", "tags": ["chat"]},
        {"id": "code", "endpoint": "http://127.0.0.1:9002"}
    ]}})
}

#[test]
fn unknown_key() {
    let p = problems(json!({"gateway": {"http": {"listen": "0.0.0.0:1", "lisen": "x"}}}));
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].starts_with("gateway.http.lisen: unknown key (known keys here: listen, tls"),
        "{}",
        p[0]
    );
    assert!(p[0].ends_with("got \"x\""), "{}", p[0]);
    let top = problems(json!({"gateway": {"routing": {"rules": []}, "routes": []}}));
    assert!(top[0].starts_with("gateway.routes: unknown key"), "{top:?}");
}

#[test]
fn wrong_type() {
    let p = problems(json!({"gateway": {"http": {"rateLimit": {"burst": "lots"}}}}));
    assert_eq!(
        p,
        vec!["gateway.http.rateLimit.burst: wrong type, expected u32, got \"lots\""]
    );
}

#[test]
fn out_of_range_threshold() {
    let p = problems(
        json!({"gateway": {"agents": agents(), "routing": {"rules": [
            {"name": "a", "match": {"type": "prefix", "pattern": "/a"}, "target": "chat"},
            {"name": "b", "match": {"type": "semantic", "threshold": 1.7, "categories": ["code"]}, "target": "code"}
        ]}}}),
    );
    assert_eq!(
        p,
        vec!["gateway.routing.rules[1].match.threshold: must be within 0..=1, got 1.7"]
    );
}

#[test]
fn dangling_target_and_tag() {
    let p = problems(
        json!({"gateway": {"agents": agents(), "routing": {"rules": [
            {"name": "a", "match": {"type": "default"}, "target": "ghost"},
            {"name": "b", "match": {"type": "prefix", "pattern": "/b/*"}, "target": "tag:chat", "fallback": "tag:none"}
        ]}}}),
    );
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(
        p[0].starts_with("gateway.routing.rules[0].target: must name an agent"),
        "{}",
        p[0]
    );
    assert!(
        p[1].starts_with("gateway.routing.rules[1].fallback: no agent"),
        "{}",
        p[1]
    );
}

#[test]
fn broken_regex() {
    let p = problems(
        json!({"gateway": {"agents": agents(), "routing": {"rules": [
            {"name": "r", "match": {"type": "regex", "pattern": "^/agents/([^/]+/chat$"}, "target": "chat"}
        ]}}}),
    );
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].starts_with("gateway.routing.rules[0].match.pattern: is not a valid regex"),
        "{}",
        p[0]
    );
}

#[test]
fn bad_duration_and_size() {
    let p = problems(
        json!({"gateway": {"http": {"timeouts": {"read": "30 seconds"}, "limits": {"maxBodySize": "10 megs"}}}}),
    );
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(
        p.iter()
            .any(|l| l.starts_with("gateway.http.timeouts.read: unknown duration unit `seconds`")),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|l| l.starts_with("gateway.http.limits.maxBodySize: unknown size unit `megs`")),
        "{p:?}"
    );
}

#[test]
fn missing_env_var() {
    let doc = json!({"gateway": {"controlPlane": {"token": "${NODE_TOKEN_FOR_TEST}"}}});
    let p = validate_with_env(&doc, &|_| None).unwrap_err().to_string();
    assert_eq!(
        p,
        "gateway.controlPlane.token: environment variable NODE_TOKEN_FOR_TEST is not set, got \"${NODE_TOKEN_FOR_TEST}\""
    );
}

#[test]
fn several_at_once_are_all_reported_with_original_indices() {
    let p = problems(json!({"gateway": {
        "http": {"listen": "nowhere", "colour": "blue"},
        "agents": {"discovery": {"static": [
            "not-an-agent",
            {"id": "chat", "endpoint": "http://127.0.0.1:9001", "weight": 0},
            {"id": "chat", "endpoint": "ftp://x"}
        ]}},
        "loadBalancing": {"strategy": "fastest"},
        "routing": {"rules": [{"name": "x", "match": {"type": "semantic", "threshold": -1, "categories": ["c"]}, "target": "nobody"}]},
        "logging": {"level": "loud"}
    }}));
    let want = [
        "gateway.http.colour: unknown key",
        "gateway.agents.discovery.static[0]: wrong type",
        "gateway.loadBalancing.strategy: must be one of roundRobin, weightedRoundRobin, random, weightedRandom, leastConnections, weightedLeastConnections, powerOfTwoChoices, peakEwma, leastResponseTime, ipHash, ringHash, maglev, rendezvousHash, stickyCookie, locality, adaptive, got \"fastest\"",
        "gateway.logging.level: must be one of",
        "gateway.http.listen: must be host:port",
        "gateway.agents.discovery.static[1].weight: must be greater than 0, got 0",
        "gateway.agents.discovery.static[2].id: duplicate agent id",
        "gateway.agents.discovery.static[2].endpoint: must be an http:// URL",
        "gateway.routing.rules[0].match.threshold: must be within 0..=1, got -1",
        "gateway.routing.rules[0].target: must name an agent",
        "gateway.routing.rules[0].match.categories[0]: names no category",
    ];
    assert_exactly(&p, &want);
}

#[test]
fn bad_pools_and_balancing_settings_are_named_by_path() {
    let p = problems(json!({"gateway": {
        "agents": {"discovery": {"static": [
            {"id": "none"},
            {"id": "empty", "endpoints": []},
            {"id": "both", "endpoint": "http://a:1", "endpoints": ["http://b:1"]},
            {"id": "pool", "endpoints": [
                "http://c:1",
                {"url": "http://c:1", "weight": 0},
                {"url": "ftp://d"}
            ]}
        ]}},
        "loadBalancing": {
            "strategy": "roundRobin",
            "hashOn": "header:x-session",
            "stickyCookie": {"name": "bad name", "ttl": "0s"},
            "locality": {"spillover": 0.5},
            "peakEwma": {"decay": "0s"}
        },
        "routing": {"rules": [
            {"name": "a", "match": {"type": "default"}, "target": "pool",
             "loadBalancing": {"strategy": "maglev", "hashOn": "body:"}},
            {"name": "b", "match": {"type": "exact", "pattern": "/b"}, "target": "pool",
             "loadBalancing": {"strategy": "random", "hashOn": "cookie:sid",
                               "slowStart": {"enabled": true, "initialWeight": 0}}},
            {"name": "c", "match": {"type": "exact", "pattern": "/c"}, "target": "pool",
             "loadBalancing": {"hashOn": "path:x"}}
        ]}
    }}));
    let want = [
        "gateway.agents.discovery.static[0].endpoint: is required: an agent needs an endpoint",
        "gateway.agents.discovery.static[1].endpoint: is required: an agent needs an endpoint",
        "gateway.agents.discovery.static[2].endpoints: use either endpoint or endpoints, not both",
        "gateway.agents.discovery.static[3].endpoints[1].url: duplicate endpoint (also at endpoints[0])",
        "gateway.agents.discovery.static[3].endpoints[1].weight: must be greater than 0, got 0",
        "gateway.agents.discovery.static[3].endpoints[2].url: must be an http:// URL",
        "gateway.routing.rules[0].loadBalancing.hashOn: needs a name after `body:`",
        "gateway.routing.rules[1].loadBalancing.slowStart.initialWeight: must be within 1..=100, got 0",
        "gateway.routing.rules[1].loadBalancing.hashOn: is only used by the ringHash, maglev and rendezvousHash strategies",
        "gateway.routing.rules[2].loadBalancing.hashOn: `path:` is not a key source",
        "gateway.routing.rules[2].loadBalancing.hashOn: is only used by the ringHash",
        "gateway.loadBalancing.hashOn: is only used by the ringHash, maglev and rendezvousHash strategies",
        "gateway.loadBalancing.stickyCookie.name: must be a cookie name",
        "gateway.loadBalancing.stickyCookie.ttl: must be greater than 0",
        "gateway.loadBalancing.locality.spillover: must be a number >= 1, got 0.5",
        "gateway.loadBalancing.peakEwma.decay: must be greater than 0",
    ];
    assert_exactly(&p, &want);
    let p = problems(json!({"gateway": {"agents": {"discovery": {"static": [
        {"id": "x", "endpoints": [{"url": "http://a:1", "colour": "red"}]}
    ]}}}}));
    assert!(
        p[0].starts_with("gateway.agents.discovery.static[0]"),
        "{p:?}"
    );
}

#[test]
fn https_agents_are_refused_until_tls_to_agents_exists() {
    let p = problems(json!({"gateway": {"agents": {"discovery": {"static": [
        {"id": "chat", "endpoint": "https://10.0.1.10:9090"}
    ]}}}}));
    assert_exactly(
        &p,
        &["gateway.agents.discovery.static[0].endpoint: https:// agents are not supported yet"],
    );
}

#[test]
fn secrets_never_appear_in_errors() {
    let p = problems(json!({"gateway": {"cache": {"layers": [
        {"name": "r", "type": "redis", "endpoint": "redis://:hunter2@h:6379", "password": 12345}
    ]}, "auth": {"apiKeys": [{"id": "k", "key": "sk-plain-secret"}]}}}));
    let text = p.join("\n");
    assert!(
        !text.contains("12345") && !text.contains("sk-plain-secret"),
        "{text}"
    );
    assert!(
        text.contains("gateway.cache.layers[0].password: wrong type"),
        "{text}"
    );
    assert!(
        text.contains("gateway.auth.apiKeys[0].key: must be an environment placeholder"),
        "{text}"
    );
}

#[test]
fn beyond_seed_values_we_do_not_support_are_rejected() {
    let p = problems(json!({"gateway": {
        "cache": {"layers": [{"name": "cdn", "type": "cdn"}]},
        "agents": {"discovery": {"method": "consul"}},
        "http": {"tls": {"minVersion": "TLS1.1", "ciphers": ["TLS_RSA_WITH_RC4_128_SHA"]}}
    }}));
    let text = p.join("\n");
    assert!(
        text.contains("gateway.cache.layers[0].type: must be one of memory, redis, got \"cdn\""),
        "{text}"
    );
    assert!(
        text.contains(
            "gateway.agents.discovery.method: must be one of static, k8s, got \"consul\""
        ),
        "{text}"
    );
    assert!(
        text.contains("gateway.http.tls.minVersion: must be one of TLS1.2, TLS1.3"),
        "{text}"
    );
    assert!(
        text.contains("gateway.http.tls.ciphers[0]: unknown cipher suite"),
        "{text}"
    );
    assert_eq!(p.len(), 4, "{text}");
}

#[test]
fn semantic_settings_are_checked_by_name() {
    let p = problems(json!({"gateway": {"routing": {"semantic": {
        "encoder": "openai",
        "topK": 0,
        "margin": 2,
        "textPointer": "input",
        "maxBodySize": "10MiB",
        "categories": {"billing": {"utterances": []}, "code": {"utterances": [""]}},
        "openai": {"baseUrl": "ftp://x", "apiKey": "sk-plain-secret", "timeout": "1m"},
        "model2vec": {"path": "/models/x"}
    }}}}));
    let want = [
        "gateway.routing.semantic.topK: must be within 1..=50, got 0",
        "gateway.routing.semantic.margin: must be within 0..=1, got 2",
        "gateway.routing.semantic.maxBodySize: must be at most 1MiB",
        "gateway.routing.semantic.textPointer: must be a JSON pointer",
        "gateway.routing.semantic.categories.billing.utterances: a new category needs at least one utterance",
        "gateway.routing.semantic.categories.code.utterances[0]: is required",
        "gateway.routing.semantic.openai.baseUrl: must be an http:// or https:// URL",
        "gateway.routing.semantic.openai.model: is required",
        "gateway.routing.semantic.openai.apiKey: must be an environment placeholder",
        "gateway.routing.semantic.openai.timeout: must be within 1ms..=10s",
        "gateway.routing.semantic.model2vec: is only used when encoder is model2vec, not openai",
    ];
    assert_exactly(&p, &want);
    assert!(!p.join("\n").contains("sk-plain-secret"));
    let p = problems(json!({"gateway": {"routing": {"semantic": {"encoder": "neural"}}}}));
    assert!(
        p[0].starts_with("gateway.routing.semantic.encoder: must be one of builtin, keyword, hybrid, openai, model2vec"),
        "{p:?}"
    );
    let p = problems(json!({"gateway": {"routing": {"semantic": {"encoder": "model2vec"}}}}));
    assert!(
        p[0].starts_with(
            "gateway.routing.semantic.model2vec: is required when encoder is model2vec"
        ),
        "{p:?}"
    );
}

/// Every line of `want` starts one of the problems `p`, and there are no others.
fn assert_exactly(p: &[String], want: &[&str]) {
    for w in want {
        assert!(
            p.iter().any(|l| l.starts_with(w)),
            "missing {w:?} in\n{}",
            p.join("\n")
        );
    }
    assert_eq!(p.len(), want.len(), "{}", p.join("\n"));
}
