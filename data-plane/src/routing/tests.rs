use std::sync::Arc;

use http::{HeaderMap, Method};
use serde_json::json;

use super::*;
use crate::semantic::{CategoryScore, Scores};

/// Scores as an encoder would give them: `(category, confidence)`.
fn scores(list: &[(&str, f64)]) -> Scores {
    Scores {
        encoder: "test".into(),
        fallback: None,
        categories: list
            .iter()
            .map(|(n, c)| CategoryScore {
                name: Arc::from(*n),
                raw: *c as f32,
                confidence: *c,
            })
            .collect(),
    }
}

fn table(rules: serde_json::Value) -> RouteTable {
    let doc = json!({"gateway": {
        "agents": {"discovery": {"static": [
            {"id": "a", "endpoint": "http://127.0.0.1:1", "tags": ["t"]},
            {"id": "b", "endpoint": "http://127.0.0.1:2", "tags": ["t"]},
            {"id": "c", "endpoint": "http://127.0.0.1:3"}
        ]}},
        "routing": {"rules": rules}
    }});
    let d = openclaw_config::validate(&doc).unwrap();
    RouteTable::compile(&d.gateway).unwrap()
}

fn route<'a>(
    t: &'a RouteTable,
    method: Method,
    path: &str,
    headers: &HeaderMap,
    text: Option<&Scores>,
) -> Option<&'a str> {
    let headers = crate::proxy::ReqHeaders::Map(headers.clone());
    let req = RequestInfo {
        method: &method,
        path,
        headers: &headers,
    };
    match t.route(&req, text) {
        Decision::Matched { rule, .. } => Some(rule.name.as_str()),
        Decision::NeedsText => Some("<needs text>"),
        Decision::NoRoute => None,
    }
}

#[test]
fn priority_exact_prefix_regex_semantic_default() {
    let t = table(json!([
        {"name": "def", "match": {"type": "default"}, "target": "c"},
        {"name": "sem", "match": {"type": "semantic", "threshold": 0.8, "categories": ["code"]}, "target": "b"},
        {"name": "re", "match": {"type": "regex", "pattern": "^/agents/[^/]+/chat$"}, "target": "a"},
        {"name": "short", "match": {"type": "prefix", "pattern": "/api/*"}, "target": "a"},
        {"name": "long", "match": {"type": "prefix", "pattern": "/api/v1/*"}, "target": "b"},
        {"name": "ex", "match": {"type": "exact", "pattern": "/api/v1/chat"}, "target": "c"}
    ]));
    let h = HeaderMap::new();
    assert_eq!(
        route(&t, Method::POST, "/api/v1/chat", &h, None),
        Some("ex")
    );
    assert_eq!(
        route(&t, Method::POST, "/api/v1/other", &h, None),
        Some("long")
    );
    assert_eq!(route(&t, Method::POST, "/api/v1", &h, None), Some("long"));
    assert_eq!(route(&t, Method::POST, "/api/v10", &h, None), Some("short"));
    assert_eq!(
        route(&t, Method::GET, "/agents/x/chat", &h, None),
        Some("re")
    );
    assert_eq!(
        route(&t, Method::GET, "/else", &h, None),
        Some("<needs text>")
    );
    assert_eq!(
        route(
            &t,
            Method::GET,
            "/else",
            &h,
            Some(&scores(&[("code", 0.85)]))
        ),
        Some("sem")
    );
    assert_eq!(
        route(
            &t,
            Method::GET,
            "/else",
            &h,
            Some(&scores(&[("code", 0.79)]))
        ),
        Some("def")
    );
}

#[test]
fn methods_and_headers_skip_to_the_next_candidate() {
    let t = table(json!([
        {"name": "post-only", "match": {"type": "exact", "pattern": "/x"}, "target": "a", "methods": ["POST"]},
        {"name": "tenant", "match": {"type": "prefix", "pattern": "/x"}, "target": "b", "headers": {"x-tenant": "acme"}},
        {"name": "any", "match": {"type": "prefix", "pattern": "/"}, "target": "c"}
    ]));
    let mut acme = HeaderMap::new();
    acme.insert("x-tenant", "acme".parse().unwrap());
    assert_eq!(
        route(&t, Method::POST, "/x", &HeaderMap::new(), None),
        Some("post-only")
    );
    assert_eq!(route(&t, Method::GET, "/x", &acme, None), Some("tenant"));
    assert_eq!(
        route(&t, Method::GET, "/x", &HeaderMap::new(), None),
        Some("any")
    );
}

#[test]
fn no_default_means_no_route_and_tags_expand() {
    let t = table(
        json!([{"name": "tagged", "match": {"type": "exact", "pattern": "/t"}, "target": "tag:t"}]),
    );
    assert_eq!(
        route(&t, Method::GET, "/nope", &HeaderMap::new(), None),
        None
    );
    assert_eq!(
        &*t.rules()[0].target.agents,
        ["a".to_string(), "b".to_string()]
    );
}

#[test]
fn semantic_leader_needs_its_threshold_and_the_margin() {
    let t = table(json!([
        {"name": "chat", "match": {"type": "semantic", "threshold": 0.82, "categories": ["conversation", "qa"]}, "target": "a"},
        {"name": "code", "match": {"type": "semantic", "threshold": 0.78, "categories": ["code", "debug"]}, "target": "b"},
        {"name": "def", "match": {"type": "default"}, "target": "c"}
    ]));
    let h = HeaderMap::new();
    let r =
        |s: &[(&str, f64)]| route(&t, Method::POST, "/x", &h, Some(&scores(s))).map(str::to_string);
    // The best category of each rule counts.
    assert_eq!(
        r(&[("conversation", 0.2), ("qa", 0.9), ("code", 0.3)]).as_deref(),
        Some("chat")
    );
    assert_eq!(
        r(&[("debug", 0.8), ("conversation", 0.1)]).as_deref(),
        Some("code")
    );
    // Below its threshold: default.
    assert_eq!(r(&[("qa", 0.81), ("code", 0.1)]).as_deref(), Some("def"));
    // Both qualify but their similarities are too close to tell: default (margin 0.01).
    assert_eq!(r(&[("qa", 0.90), ("code", 0.895)]).as_deref(), Some("def"));
    assert_eq!(r(&[("qa", 0.90), ("code", 0.88)]).as_deref(), Some("chat"));
    let h = crate::proxy::ReqHeaders::Map(h);
    let req = RequestInfo {
        method: &Method::POST,
        path: "/x",
        headers: &h,
    };
    let ranking = t.rank_semantic(&req, &scores(&[("qa", 0.90), ("code", 0.895)]));
    assert_eq!(ranking.winner, None);
    assert!(ranking.reason.unwrap().contains("margin"));
    assert_eq!(ranking.ranked[0].category.as_deref(), Some("qa"));
    assert_eq!(
        t.semantic_categories(),
        ["code", "conversation", "debug", "qa"]
    );
}
