//! Rate limiting through real standalone data planes and a real `redis-server`: a local burst, 429
//! with its fields and the refill; keys (API keys, `X-Forwarded-For` from trusted proxies only);
//! one global limit across two nodes; Redis killed and brought back; `maxConcurrent` with open SSE
//! streams.

#![allow(clippy::unwrap_used)] // Test helpers may panic: a panic is a test failure.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use openclaw_e2e::{
    AgentOptions, DataPlane, HttpConn, HttpResponse, RedisServer, TestAgent, wait_until,
};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

/// One agent behind a default rule (with `rule_limit` as its `rateLimit`), `http` merged into
/// `gateway.http`, `extra` into `gateway`.
fn doc(agent: &TestAgent, http: Value, rule_limit: Option<Value>, extra: Value) -> Value {
    let mut rule = json!({"name": "all", "match": {"type": "default"}, "target": agent.id()});
    if let Some(l) = rule_limit {
        rule["rateLimit"] = l;
    }
    let mut g = json!({
        "http": http,
        "agents": {"discovery": {"static": [agent.config_entry(&[])]}},
        "routing": {"rules": [rule]}
    });
    if let (Some(g), Some(extra)) = (g.as_object_mut(), extra.as_object()) {
        g.extend(extra.clone());
    }
    json!({"gateway": g})
}

fn serve(config: Value) -> (DataPlane, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (DataPlane::standalone(dir.path(), config), dir)
}

fn serve_with_redis(config: Value, redis: &RedisServer) -> (DataPlane, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let dp = DataPlane::standalone_builder(dir.path(), config)
        .env("REDIS_PASSWORD", redis.password())
        .start();
    (dp, dir)
}

fn global_limit(redis: &RedisServer, rpm: u32, burst: u32, key: &str) -> Value {
    json!({"rateLimit": {"enabled": true, "mode": "global", "requestsPerMinute": rpm, "burst": burst,
        "key": key, "redis": {"endpoint": redis.url(), "password": "${REDIS_PASSWORD}", "timeout": "100ms"}}})
}

fn assert_429(r: &HttpResponse) {
    assert_eq!(r.status, 429, "{:?} {}", r.headers, r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    assert!(v["error"].as_str().unwrap().contains("rate limit"), "{v}");
    assert_eq!(
        v["requestId"].as_str(),
        r.header("x-request-id"),
        "the body names the request id"
    );
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(retry >= 1, "Retry-After {retry}");
    assert_eq!(r.header("ratelimit-remaining"), Some("0"));
    assert!(r.header("ratelimit-limit").is_some());
    assert!(r.header("ratelimit-reset").is_some());
}

fn redis_state(dp: &DataPlane) -> String {
    dp.health()["rateLimit"]["redis"]["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_local_burst_passes_then_429_with_its_fields_then_the_bucket_refills() {
    let agent = TestAgent::start("ag-rl-local");
    // One request a second, three at once.
    let http = json!({"rateLimit": {"enabled": true, "requestsPerMinute": 60, "burst": 3}});
    let (dp, _dir) = serve(doc(&agent, http, None, json!({})));
    assert!(
        !dp.health()["notEnforced"].to_string().contains("rateLimit"),
        "{}",
        dp.health()
    );
    for left in ["2", "1", "0"] {
        let r = dp.get("/api/x");
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("ratelimit-limit"), Some("3"));
        assert_eq!(r.header("ratelimit-remaining"), Some(left));
    }
    let refused = dp.get("/api/x");
    assert_429(&refused);
    assert_eq!(
        agent.requests(),
        3,
        "a refused request never reaches the agent"
    );

    // A refused upload is answered before its body is read: the body is never sent here.
    let mut s = TcpStream::connect(dp.url().trim_start_matches("http://")).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(b"POST /upload HTTP/1.1\r\nHost: gw\r\nContent-Length: 5000000\r\n\r\n")
        .unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 429"), "{line}");

    // The bucket refills at one a second.
    let start = Instant::now();
    wait_until("the bucket refills", Duration::from_secs(3), || {
        dp.get("/api/x").status == 200
    });
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "refilled too early"
    );
    assert_eq!(
        dp.get("/api/x").status,
        429,
        "one request refilled, not more"
    );

    let metrics = dp.metrics();
    for line in [
        "gateway_rate_limit_requests_total{rule=\"gateway\",mode=\"local\",decision=\"allowed\"} 4",
        "gateway_error_total{kind=\"rate_limited\"}",
    ] {
        assert!(metrics.contains(line), "{line} missing in\n{metrics}");
    }
    assert_eq!(dp.health()["rateLimit"]["limits"][0]["mode"], "local");
    assert!(
        dp.logs().contains("rejected:requests"),
        "the access log carries the decision"
    );
}

#[test]
fn api_keys_have_their_own_buckets_and_forwarded_for_is_believed_only_from_trusted_proxies() {
    let agent = TestAgent::start("ag-rl-keys");
    let auth = json!({"auth": {"apiKeys": [
        {"id": "team-a", "keyHash": openclaw_config::hash_api_key("key-a")},
        {"id": "team-b", "keyHash": openclaw_config::hash_api_key("key-b")}
    ]}});
    let trusting = json!({"rateLimit": {"enabled": true, "requestsPerMinute": 1, "burst": 1,
        "trustedProxies": ["127.0.0.1"]}});
    let (dp, _d1) = serve(doc(&agent, trusting, None, auth));
    let a = [("Authorization", "Bearer key-a")];
    let b = [("Authorization", "Bearer key-b")];
    assert_eq!(dp.request("GET", "/x", &a, b"").status, 200);
    assert_429(&dp.request("GET", "/x", &a, b""));
    assert_eq!(
        dp.request("GET", "/x", &b, b"").status,
        200,
        "team-b has its own bucket"
    );
    let from = |ip: &'static str| [("X-Forwarded-For", ip)];
    assert_eq!(
        dp.request("GET", "/x", &from("203.0.113.1"), b"").status,
        200
    );
    assert_429(&dp.request("GET", "/x", &from("203.0.113.1"), b""));
    assert_eq!(
        dp.request("GET", "/x", &from("203.0.113.2"), b"").status,
        200,
        "another client behind the trusted proxy"
    );

    // Here the connection's peer (127.0.0.1) is no trusted proxy: its X-Forwarded-For is ignored.
    // The limit is the rule's, with the fields on refusals only.
    let untrusting = json!({"rateLimit": {"enabled": false, "trustedProxies": ["10.0.0.0/8"]}});
    let rule_limit = json!({"enabled": true, "requestsPerMinute": 1, "burst": 1, "headers": false});
    let (dp2, _d2) = serve(doc(&agent, untrusting, Some(rule_limit), json!({})));
    let first = dp2.request("GET", "/x", &from("203.0.113.1"), b"");
    assert_eq!(first.status, 200);
    assert!(first.header("ratelimit-limit").is_none(), "headers: false");
    assert_429(&dp2.request("GET", "/x", &from("203.0.113.2"), b""));
    assert!(
        dp2.metrics().contains(
            "gateway_rate_limit_requests_total{rule=\"all\",mode=\"local\",decision=\"rejected\"} 1"
        ),
        "{}",
        dp2.metrics()
    );
}

#[test]
fn a_global_limit_holds_across_two_data_planes() {
    let redis = RedisServer::start();
    let agent = TestAgent::start("ag-rl-global");
    // One request a second, five at once, for everyone through both nodes.
    let config = doc(&agent, global_limit(&redis, 60, 5, "ip"), None, json!({}));
    let (a, _da) = serve_with_redis(config.clone(), &redis);
    let (b, _db) = serve_with_redis(config, &redis);
    wait_until("both nodes decide in Redis", WAIT, || {
        redis_state(&a) == "global" && redis_state(&b) == "global"
    });
    let start = Instant::now();
    let mut allowed = 0u64;
    for i in 0..20 {
        let node = if i % 2 == 0 { &a } else { &b };
        let r = node.get("/x");
        match r.status {
            200 => allowed += 1,
            429 => assert_429(&r),
            s => panic!("unexpected {s}: {}", r.text()),
        }
    }
    let window = start.elapsed().as_secs() + 1;
    assert!(allowed >= 5, "the burst passes: {allowed}");
    assert!(
        allowed <= 5 + window,
        "{allowed} allowed in {window}s: more than the burst plus the rate"
    );
    assert!(
        a.metrics()
            .contains("gateway_rate_limit_requests_total{rule=\"gateway\",mode=\"global\",decision=\"rejected\"}"),
        "{}",
        a.metrics()
    );
    wait_until("each node knows of the other through Redis", WAIT, || {
        a.health()["rateLimit"]["redis"]["liveNodes"] == 2
    });
}

#[test]
fn with_redis_killed_no_request_fails_the_local_fallback_applies_and_redis_back_is_global_again() {
    let mut redis = RedisServer::start();
    let agent = TestAgent::start("ag-rl-fallback");
    let config = doc(
        &agent,
        global_limit(&redis, 60, 3, "header:x-user"),
        None,
        json!({}),
    );
    let (dp, _d) = serve_with_redis(config, &redis);
    wait_until("the node decides in Redis", WAIT, || {
        redis_state(&dp) == "global"
    });
    assert_eq!(
        dp.request("GET", "/x", &[("x-user", "u1")], b"").status,
        200
    );

    redis.kill();
    // Requests never fail for it: each is decided, locally now.
    for i in 0..10 {
        let user = format!("load-{i}");
        let r = dp.request("GET", "/x", &[("x-user", user.as_str())], b"");
        assert_eq!(r.status, 200, "{}", r.text());
    }
    wait_until("/health says the node falls back", WAIT, || {
        redis_state(&dp) == "fallback"
    });
    let h = dp.health();
    assert!(
        h["rateLimit"]["redis"]["detail"]
            .as_str()
            .unwrap()
            .contains("deciding locally"),
        "{h}"
    );
    assert!(
        h["rateLimit"]["redis"]["fallbacks"].as_u64().unwrap() > 0,
        "{h}"
    );
    // The local fallback limits: a fresh client gets its burst, then 429.
    let fresh = [("x-user", "fresh")];
    for _ in 0..3 {
        assert_eq!(dp.request("GET", "/x", &fresh, b"").status, 200);
    }
    assert_429(&dp.request("GET", "/x", &fresh, b""));
    let m = dp.metrics();
    assert!(
        m.contains("gateway_rate_limit_redis_fallbacks_total")
            && !m.contains("gateway_rate_limit_redis_fallbacks_total 0\n"),
        "{m}"
    );

    redis.restart();
    wait_until("the node decides in Redis again", WAIT, || {
        redis_state(&dp) == "global"
    });
    assert_eq!(
        dp.request("GET", "/x", &[("x-user", "after")], b"").status,
        200
    );
    assert_eq!(
        redis
            .command(&["EXISTS", "openclaw:ratelimit:g:r:h:after"])
            .unwrap(),
        ":1",
        "the bucket lives in Redis again"
    );
}

#[test]
fn max_concurrent_counts_open_sse_streams() {
    let agent = TestAgent::start_with(
        "ag-rl-sse",
        AgentOptions {
            sse_events: 1000,
            sse_gap: Duration::from_millis(20),
        },
    );
    let http = json!({"rateLimit": {"enabled": true, "requestsPerMinute": 6000, "burst": 100,
        "maxConcurrent": 2}});
    let (dp, _d) = serve(doc(&agent, http, None, json!({})));
    let addr = dp.url().trim_start_matches("http://").parse().unwrap();
    let mut streams = Vec::new();
    for _ in 0..2 {
        let mut c = HttpConn::connect(addr).unwrap();
        c.send("GET", "/v1/stream", &[("Accept", "text/event-stream")], b"")
            .unwrap();
        let (status, _) = c.read_head().unwrap();
        assert_eq!(status, 200);
        assert!(c.read_chunk().unwrap().is_some(), "the stream flows");
        streams.push(c);
    }
    let third = dp.get("/v1/stream");
    assert_429(&third);
    assert!(
        third.json()["error"]
            .as_str()
            .unwrap()
            .contains("concurrent")
    );
    drop(streams.pop());
    wait_until("a closed stream frees its place", WAIT, || {
        dp.get("/plain").status == 200
    });
    assert!(dp.logs().contains("rejected:concurrent"));
}
