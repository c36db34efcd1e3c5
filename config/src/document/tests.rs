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
