//! Routing through a real standalone `openclaw-data-plane` to real test agents: every match kind and
//! their priority, method and header conditions, API keys, agent overrides, tag targets, fallback,
//! 404s, and the headers the proxy adds and strips.

#![allow(clippy::unwrap_used)] // Test helpers may panic: a panic is a test failure.

use openclaw_e2e::{DataPlane, HttpResponse, TestAgent};
use serde_json::{Value, json};

/// `{"gateway": {agents, routing}}` from test agents (with tags) and rules.
fn doc(agents: &[(&TestAgent, &[&str])], rules: Value) -> Value {
    let list: Vec<Value> = agents.iter().map(|(a, t)| a.config_entry(t)).collect();
    json!({"gateway": {
        "agents": {"discovery": {"static": list}},
        "routing": {"rules": rules}
    }})
}

fn post_json(dp: &DataPlane, path: &str, body: Value) -> HttpResponse {
    dp.request(
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
}

#[test]
fn match_kinds_follow_priority_not_rule_order() {
    let dir = tempfile::tempdir().unwrap();
    let names = [
        "ag-exact",
        "ag-prefix",
        "ag-prefix-long",
        "ag-regex1",
        "ag-regex2",
        "ag-code",
        "ag-default",
    ];
    let agents: Vec<TestAgent> = names.iter().map(|n| TestAgent::start(n)).collect();
    let with_tags: Vec<(&TestAgent, &[&str])> = agents.iter().map(|a| (a, &[][..])).collect();
    // Listed lowest priority first: the kind decides, not the order.
    let rules = json!([
        {"name": "r-default", "match": {"type": "default"}, "target": "ag-default"},
        {"name": "r-semantic", "match": {"type": "semantic", "threshold": 0.8, "categories": ["code", "programming", "debug"]}, "target": "ag-code"},
        {"name": "r-regex1", "match": {"type": "regex", "pattern": "^/agents/[^/]+/chat$"}, "target": "ag-regex1"},
        {"name": "r-regex2", "match": {"type": "regex", "pattern": "^/agents/.*$"}, "target": "ag-regex2"},
        {"name": "r-prefix", "match": {"type": "prefix", "pattern": "/api/v1/*"}, "target": "ag-prefix"},
        {"name": "r-prefix-long", "match": {"type": "prefix", "pattern": "/api/v1/chat"}, "target": "ag-prefix-long"},
        {"name": "r-exact", "match": {"type": "exact", "pattern": "/api/v1/chat"}, "target": "ag-exact"},
        {"name": "r-exact2", "match": {"type": "exact", "pattern": "/agents/special/chat"}, "target": "ag-exact"}
    ]);
    let dp = DataPlane::standalone(dir.path(), doc(&with_tags, rules));

    let cases: &[(&str, &str, &str)] = &[
        ("/api/v1/chat", "ag-exact", "r-exact"),
        ("/api/v1/chat/sessions", "ag-prefix-long", "r-prefix-long"),
        ("/api/v1/other", "ag-prefix", "r-prefix"),
        ("/api/v1", "ag-prefix", "r-prefix"),
        ("/agents/special/chat", "ag-exact", "r-exact2"),
        ("/agents/x/chat", "ag-regex1", "r-regex1"),
        ("/agents/x/info", "ag-regex2", "r-regex2"),
        ("/api/v10/chat", "ag-default", "r-default"),
        ("/nothing/here", "ag-default", "r-default"),
    ];
    for (path, agent, rule) in cases {
        let r = dp.get(path);
        assert_eq!(r.served_by(), *agent, "GET {path}");
        assert_eq!(r.header("x-openclaw-route"), Some(*rule), "GET {path}");
        assert_eq!(r.json()["path"], *path, "the agent sees the original path");
    }

    // The query string travels with the path.
    let r = dp.get("/api/v1/other?x=1&y=two");
    assert_eq!(r.json()["path"], "/api/v1/other?x=1&y=two");

    // Semantic: code text reaches the code agent, other text the default rule.
    let code = json!({"message": "write a python function to reverse a list"});
    let r = post_json(&dp, "/ask", code.clone());
    assert_eq!(r.served_by(), "ag-code");
    assert_eq!(r.header("x-openclaw-route"), Some("r-semantic"));
    assert_eq!(
        r.json()["body"],
        code.to_string(),
        "the body reaches the agent unchanged"
    );
    let r = post_json(
        &dp,
        "/ask",
        json!({"message": "tell me about the history of rome"}),
    );
    assert_eq!(r.served_by(), "ag-default");

    // Path matches outrank semantic ones even when the text is about code.
    assert_eq!(
        post_json(&dp, "/agents/x/chat", code.clone()).served_by(),
        "ag-regex1"
    );
    assert_eq!(
        post_json(&dp, "/api/v1/other", code).served_by(),
        "ag-prefix"
    );
}

#[test]
fn methods_and_headers_conditions_skip_to_the_next_candidate() {
    let dir = tempfile::tempdir().unwrap();
    let post = TestAgent::start("ag-post");
    let any = TestAgent::start("ag-any");
    let gold = TestAgent::start("ag-gold");
    let dflt = TestAgent::start("ag-default");
    let rules = json!([
        {"name": "submit-post", "match": {"type": "exact", "pattern": "/api/v1/submit"}, "methods": ["POST"], "target": "ag-post"},
        {"name": "submit-any", "match": {"type": "exact", "pattern": "/api/v1/submit"}, "target": "ag-any"},
        {"name": "tenant-gold", "match": {"type": "prefix", "pattern": "/api/v1/tenant"}, "headers": {"x-tenant": "gold"}, "target": "ag-gold"},
        {"name": "default", "match": {"type": "default"}, "target": "ag-default"}
    ]);
    let dp = DataPlane::standalone(
        dir.path(),
        doc(
            &[(&post, &[]), (&any, &[]), (&gold, &[]), (&dflt, &[])],
            rules,
        ),
    );
    assert_eq!(
        dp.request("POST", "/api/v1/submit", &[], b"x").served_by(),
        "ag-post"
    );
    assert_eq!(dp.get("/api/v1/submit").served_by(), "ag-any");
    assert_eq!(
        dp.request("PUT", "/api/v1/submit", &[], b"x").served_by(),
        "ag-any"
    );
    assert_eq!(
        dp.request("GET", "/api/v1/tenant/a", &[("X-Tenant", "gold")], b"")
            .served_by(),
        "ag-gold"
    );
    assert_eq!(
        dp.request("GET", "/api/v1/tenant/a", &[("x-tenant", "silver")], b"")
            .served_by(),
        "ag-default"
    );
    assert_eq!(dp.get("/api/v1/tenant/a").served_by(), "ag-default");
}

#[test]
fn requires_auth_wants_a_known_bearer_key() {
    let dir = tempfile::tempdir().unwrap();
    let admin = TestAgent::start("ag-admin");
    let open = TestAgent::start("ag-open");
    let mut d = doc(
        &[(&admin, &[]), (&open, &[])],
        json!([
            {"name": "admin", "match": {"type": "prefix", "pattern": "/api/v1/admin"}, "target": "ag-admin", "requiresAuth": true},
            {"name": "open", "match": {"type": "prefix", "pattern": "/api/v1/open"}, "target": "ag-open"}
        ]),
    );
    d["gateway"]["auth"] = json!({"apiKeys": [
        {"id": "k", "keyHash": openclaw_config::hash_api_key("secret-key")}
    ]});
    let dp = DataPlane::standalone(dir.path(), d);

    for headers in [
        vec![],
        vec![("Authorization", "Bearer wrong-key")],
        vec![("Authorization", "secret-key")],
    ] {
        let r = dp.request("GET", "/api/v1/admin/users", &headers, b"");
        assert_eq!(r.status, 401, "{headers:?}: {}", r.text());
        let www = r.header("www-authenticate").unwrap_or_default();
        assert!(www.starts_with("Bearer"), "WWW-Authenticate: {www:?}");
        assert!(
            www.contains("realm=\"openclaw\""),
            "WWW-Authenticate: {www:?}"
        );
        let body = r.json();
        assert!(body["error"].is_string(), "{body}");
        assert!(body["requestId"].is_string(), "{body}");
    }
    assert_eq!(
        admin.requests(),
        0,
        "refused requests never reach the agent"
    );

    let ok = dp.request(
        "GET",
        "/api/v1/admin/users",
        &[("Authorization", "Bearer secret-key")],
        b"",
    );
    assert_eq!(ok.served_by(), "ag-admin");
    // Rules without requiresAuth need no key.
    assert_eq!(dp.get("/api/v1/open").served_by(), "ag-open");
}

#[test]
fn agent_override_only_where_the_rule_allows_it() {
    let dir = tempfile::tempdir().unwrap();
    let chat = TestAgent::start("ag-chat");
    let special = TestAgent::start("ag-special");
    let dp = DataPlane::standalone(
        dir.path(),
        doc(
            &[(&chat, &[]), (&special, &[])],
            json!([
                {"name": "chat", "match": {"type": "prefix", "pattern": "/api/v1/chat"}, "target": "ag-chat", "allowAgentOverride": true},
                {"name": "locked", "match": {"type": "prefix", "pattern": "/api/v1/locked"}, "target": "ag-chat"}
            ]),
        ),
    );
    let by_body = json!({"message": "hello", "agent": "ag-special", "stream": false});
    let r = post_json(&dp, "/api/v1/chat", by_body.clone());
    assert_eq!(r.served_by(), "ag-special", "body field `agent`");
    assert_eq!(
        r.json()["body"],
        by_body.to_string(),
        "body forwarded intact"
    );
    let r = dp.request(
        "GET",
        "/api/v1/chat",
        &[("x-openclaw-agent", "ag-special")],
        b"",
    );
    assert_eq!(r.served_by(), "ag-special", "header x-openclaw-agent");
    assert_eq!(
        post_json(&dp, "/api/v1/chat", json!({"message": "hello"})).served_by(),
        "ag-chat"
    );

    // The rule without allowAgentOverride ignores both.
    assert_eq!(
        post_json(&dp, "/api/v1/locked", by_body).served_by(),
        "ag-chat"
    );
    let r = dp.request(
        "GET",
        "/api/v1/locked",
        &[("x-openclaw-agent", "ag-special")],
        b"",
    );
    assert_eq!(r.served_by(), "ag-chat");

    // Naming an unknown agent where overrides are allowed is a client error.
    let r = dp.request("GET", "/api/v1/chat", &[("x-openclaw-agent", "ghost")], b"");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.json()["error"].is_string());
}

#[test]
fn tag_target_spreads_over_every_tagged_agent() {
    let dir = tempfile::tempdir().unwrap();
    let t1 = TestAgent::start("ag-pool-1");
    let t2 = TestAgent::start("ag-pool-2");
    let other = TestAgent::start("ag-other");
    let dp = DataPlane::standalone(
        dir.path(),
        doc(
            &[(&t1, &["pool"]), (&other, &["solo"]), (&t2, &["pool", "x"])],
            json!([{"name": "pool", "match": {"type": "prefix", "pattern": "/pool"}, "target": "tag:pool"}]),
        ),
    );
    for i in 0..20 {
        let a = dp.get(&format!("/pool/{i}")).served_by();
        assert!(a == "ag-pool-1" || a == "ag-pool-2", "{a}");
    }
    assert!(
        t1.requests() > 0 && t2.requests() > 0,
        "{} / {}",
        t1.requests(),
        t2.requests()
    );
    assert_eq!(t1.requests() + t2.requests(), 20);
    assert_eq!(other.requests(), 0);
}

#[test]
fn fallback_answers_when_the_target_refuses_connections() {
    let dir = tempfile::tempdir().unwrap();
    let mut primary = TestAgent::start("ag-primary");
    let backup = TestAgent::start("ag-backup");
    let dp = DataPlane::standalone(
        dir.path(),
        doc(
            &[(&primary, &[]), (&backup, &[])],
            json!([{"name": "fb", "match": {"type": "prefix", "pattern": "/api/v1/fb"}, "target": "ag-primary", "fallback": "ag-backup"}]),
        ),
    );
    assert_eq!(dp.get("/api/v1/fb").served_by(), "ag-primary");
    primary.stop();
    for i in 0..5 {
        let r = dp.get(&format!("/api/v1/fb/{i}"));
        assert_eq!(
            r.served_by(),
            "ag-backup",
            "request {i} after the target stopped"
        );
    }
    assert_eq!(backup.requests(), 5);
}

#[test]
fn no_rule_and_no_default_is_a_json_404_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let a = TestAgent::start("ag-a");
    let dp = DataPlane::standalone(
        dir.path(),
        doc(
            &[(&a, &[])],
            json!([{"name": "only", "match": {"type": "exact", "pattern": "/only"}, "target": "ag-a"}]),
        ),
    );
    let r = dp.get("/nope/at/all?q=1");
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .contains("application/json"),
        "{:?}",
        r.headers
    );
    let body = r.json();
    assert!(body["error"].is_string(), "{body}");
    assert!(body["requestId"].is_string(), "{body}");
    assert!(
        body["path"]
            .as_str()
            .unwrap_or_default()
            .starts_with("/nope/at/all"),
        "{body}"
    );
    assert_eq!(a.requests(), 0);
    assert_eq!(dp.get("/only").served_by(), "ag-a");
}

#[test]
fn forwarded_headers_are_added_and_hop_by_hop_ones_stripped() {
    let dir = tempfile::tempdir().unwrap();
    let a = TestAgent::start("ag-a");
    let dp = DataPlane::standalone(
        dir.path(),
        doc(
            &[(&a, &[])],
            json!([{"name": "all", "match": {"type": "default"}, "target": "ag-a"}]),
        ),
    );
    let r = dp.request(
        "GET",
        "/api/v1/x",
        &[
            ("Connection", "keep-alive, x-hop"),
            ("x-hop", "1"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Authorization", "Basic Zm9vOmJhcg=="),
            ("x-custom", "yes"),
            ("x-request-id", "rid-123"),
        ],
        b"",
    );
    assert_eq!(r.served_by(), "ag-a");
    assert_eq!(r.header("x-request-id"), Some("rid-123"), "echoed");
    let seen = a.last_headers();
    assert!(
        seen.get("x-forwarded-for")
            .is_some_and(|v| v.contains("127.0.0.1")),
        "{seen:?}"
    );
    assert_eq!(
        seen.get("x-forwarded-proto").map(String::as_str),
        Some("http"),
        "{seen:?}"
    );
    assert!(seen.contains_key("x-forwarded-host"), "{seen:?}");
    assert!(
        seen.get("via").is_some_and(|v| v.contains("openclaw")),
        "{seen:?}"
    );
    assert_eq!(
        seen.get("x-request-id").map(String::as_str),
        Some("rid-123")
    );
    assert_eq!(seen.get("x-custom").map(String::as_str), Some("yes"));
    for hop in ["x-hop", "keep-alive", "proxy-authorization"] {
        assert!(!seen.contains_key(hop), "{hop} was forwarded: {seen:?}");
    }
    assert!(
        !seen.get("connection").is_some_and(|v| v.contains("x-hop")),
        "{seen:?}"
    );

    // Without one, the proxy makes a request id, sends it on and echoes it.
    let r = dp.get("/api/v1/y");
    let sent = a
        .last_headers()
        .get("x-request-id")
        .cloned()
        .unwrap_or_default();
    assert!(
        !sent.is_empty(),
        "no generated x-request-id: {:?} / {:?}",
        a.last_request(),
        r.headers
    );
    assert_eq!(r.header("x-request-id"), Some(sent.as_str()));
}
