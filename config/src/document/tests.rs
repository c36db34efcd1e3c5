use serde_json::json;

use super::*;

#[test]
fn sparse_documents_take_defaults() {
    let d = validate(&json!({})).unwrap().gateway;
    assert_eq!(d.http.listen, "0.0.0.0:8080");
    assert!(!d.http.tls.enabled);
    assert!(d.http.cors.allowed_origins.is_empty());
    assert!(!d.http.rate_limit.enabled);
    assert_eq!(d.http.timeouts.read.get().as_secs(), 30);
    assert_eq!(d.http.timeouts.write.get().as_secs(), 60);
    assert_eq!(d.http.timeouts.idle.get().as_secs(), 120);
    assert_eq!(d.http.timeouts.shutdown.get().as_secs(), 30);
    assert_eq!(d.http.limits.max_body_size.bytes(), 10 << 20);
    assert_eq!(d.http.limits.max_header_size.bytes(), 64 << 10);
    assert!(!d.http.underscores_in_headers);
    assert_eq!(d.http.upgrades, [crate::UpgradeProtocol::Websocket]);
    assert!(d.agents.health_check.enabled);
    assert!(!d.load_balancing.slow_start.enabled);
    assert!(!d.load_balancing.circuit_breaker.enabled);
    assert_eq!(d.load_balancing.strategy, crate::Strategy::RoundRobin);
    assert!(d.cache.layers.is_empty());
    assert!(d.monitoring.metrics.enabled);
    assert_eq!(d.monitoring.metrics.path, "/metrics");
    assert!(d.monitoring.health_check.detailed);
    assert!(!d.monitoring.open_telemetry.enabled);
    assert_eq!(d.logging.level, crate::LogLevel::Info);
    assert_eq!(d.logging.format, crate::LogFormat::Json);
    assert_eq!(
        d.logging.outputs[0].kind,
        Some(crate::LogOutputKind::Stdout)
    );
    assert!(!d.logging.sampling.enabled);
}

#[test]
fn the_defaults_layer_is_valid_and_round_trips() {
    let defaults = crate::layers::defaults();
    let typed = validate(&defaults).unwrap();
    assert_eq!(typed, Document::default());
}

#[test]
fn root_must_be_an_object() {
    let err = validate(&json!([1])).unwrap_err();
    assert_eq!(err.len(), 1);
    assert!(
        err.to_string()
            .starts_with("(document): must be a JSON object"),
        "{err}"
    );
}

#[test]
fn removed_array_elements_keep_original_indices() {
    let doc = json!({"gateway": {"routing": {"rules": [
        5,
        "x",
        {"name": "ok", "match": {"type": "default", "bogus": 1}, "target": "t"}
    ]}}});
    let lines: Vec<String> = validate(&doc)
        .unwrap_err()
        .iter()
        .map(|p| p.path.to_string())
        .collect();
    assert_eq!(
        lines,
        [
            "gateway.routing.rules[0]",
            "gateway.routing.rules[1]",
            "gateway.routing.rules[2].match.bogus",
            "gateway.routing.rules[2].target"
        ]
    );
}

#[test]
fn rate_limit_settings_are_checked_by_path() {
    let doc = json!({"gateway": {
        "http": {"rateLimit": {"enabled": true, "mode": "global", "key": "cookie:x",
            "maxConcurrent": 0, "trustedProxies": ["10.0.0.0/33", "nope"], "bodyBytesPerMinute": "0B"}},
        "agents": {"discovery": {"static": [{"id": "a", "endpoint": "http://127.0.0.1:1"}]}},
        "routing": {"rules": [{"name": "r", "match": {"type": "default"}, "target": "a",
            "rateLimit": {"enabled": true, "mode": "global", "trustedProxies": ["10.0.0.1"]}}]}
    }});
    let err = validate(&doc).unwrap_err().to_string();
    for needle in [
        "gateway.http.rateLimit.key: must be",
        "gateway.http.rateLimit.maxConcurrent: must be greater than 0",
        "gateway.http.rateLimit.bodyBytesPerMinute: must be greater than 0",
        "gateway.http.rateLimit.trustedProxies[0]: must be an IP address or a CIDR",
        "gateway.http.rateLimit.trustedProxies[1]",
        "gateway.http.rateLimit.mode: is global, but there is no Redis",
        "gateway.routing.rules[0].rateLimit.mode: is global, but there is no Redis",
        "gateway.routing.rules[0].rateLimit.trustedProxies: is read from gateway.http.rateLimit",
    ] {
        assert!(err.contains(needle), "{needle} not in {err}");
    }
}

#[test]
fn a_global_limit_may_use_the_cache_redis_layer() {
    let doc = json!({"gateway": {
        "http": {"rateLimit": {"enabled": true, "mode": "global", "key": "body:user", "trustedProxies": ["::1", "10.0.0.0/8"]}},
        "cache": {"layers": [{"name": "l2", "type": "redis", "endpoint": "redis://127.0.0.1:6379"}]}
    }});
    let g = validate(&doc).unwrap().gateway;
    assert!(g.http.rate_limit.is_global());
    assert!(g.http.rate_limit.headers);
    let unknown = json!({"gateway": {"http": {"rateLimit": {"tokensPerMinute": 1}}}});
    assert!(
        validate(&unknown)
            .unwrap_err()
            .to_string()
            .contains("tokensPerMinute")
    );
}

#[test]
fn upgrades_name_only_websocket() {
    let d = validate(&json!({"gateway": {"http": {"upgrades": [], "underscoresInHeaders": true}}}))
        .unwrap()
        .gateway;
    assert!(d.http.upgrades.is_empty() && d.http.underscores_in_headers);
    let err = validate(&json!({"gateway": {"http": {"upgrades": ["h2c"]}}})).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("gateway.http.upgrades") && text.contains("h2c"),
        "{text}"
    );
}
