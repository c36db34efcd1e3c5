use http::{HeaderMap, Method};
use serde_json::json;

use super::*;

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
    text: Option<&str>,
) -> Option<&'a str> {
    let req = RequestInfo {
        method: &method,
        path,
        headers,
    };
    match t.route(&req, text, &KeywordMatcher::default()) {
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
            Some("write a python function")
        ),
        Some("sem")
    );
    assert_eq!(
        route(&t, Method::GET, "/else", &h, Some("nothing relevant")),
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
