//! The listener's guards through a real standalone `openclaw-data-plane`: CORS preflights and
//! allow-origin marking (`http.cors`), request size limits (`http.limits`: 413 for a declared or a
//! growing body, 431 for a large head) and load shedding (`performance.maxConcurrentRequests`).

#![allow(clippy::unwrap_used)] // Test helpers may panic: a panic is a test failure.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use openclaw_e2e::{AgentOptions, DataPlane, HttpConn, HttpResponse, TestAgent, wait_until};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

/// One agent behind a default rule, with `extra` merged into `gateway`.
fn doc(agent: &TestAgent, extra: Value) -> Value {
    let mut g = json!({
        "agents": {"discovery": {"static": [agent.config_entry(&[])]}},
        "routing": {"rules": [{"name": "all", "match": {"type": "default"}, "target": agent.id()}]}
    });
    if let (Some(g), Some(extra)) = (g.as_object_mut(), extra.as_object()) {
        g.extend(extra.clone());
    }
    json!({"gateway": g})
}

/// A standalone data plane serving [`doc`]`(agent, extra)`, and its directory (dropped after it).
fn serve(agent: &TestAgent, extra: Value) -> (DataPlane, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (DataPlane::standalone(dir.path(), doc(agent, extra)), dir)
}

/// `gateway_error_total{kind}` is `n`.
fn assert_errors(dp: &DataPlane, kind: &str, n: u32) {
    let metrics = dp.metrics();
    let line = format!("gateway_error_total{{kind=\"{kind}\"}} {n}\n");
    assert!(metrics.contains(&line), "{line} missing in\n{metrics}");
}

fn cors_headers(r: &HttpResponse) -> Vec<&(String, String)> {
    r.headers
        .iter()
        .filter(|(k, v)| k.starts_with("access-control-") || (k == "vary" && v.contains("Origin")))
        .collect()
}

fn assert_json_error(r: &HttpResponse, status: u16) {
    assert_eq!(r.status, status, "{:?} {}", r.headers, r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    assert!(v["error"].is_string() && v["requestId"].is_string(), "{v}");
}

#[test]
fn cors_preflights_are_answered_by_the_gateway_and_allowed_origins_marked() {
    let agent = TestAgent::start("ag-cors");
    let cors = json!({"http": {"cors": {
        "allowedOrigins": ["https://app.example"],
        "allowedMethods": ["GET", "POST"],
        "allowedHeaders": ["content-type", "x-custom"]
    }}});
    let (dp, _dir) = serve(&agent, cors);
    let app = ("Origin", "https://app.example");

    let r = dp.request(
        "OPTIONS",
        "/api/chat",
        &[
            app,
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        b"",
    );
    assert_eq!(r.status, 204, "{:?} {}", r.headers, r.text());
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(r.header("access-control-allow-methods"), Some("GET, POST"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("content-type, x-custom")
    );
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    assert_eq!(r.header("vary"), Some("Origin"));

    for refused in [
        [
            ("Origin", "https://evil.example"),
            ("Access-Control-Request-Method", "POST"),
        ],
        [app, ("Access-Control-Request-Method", "DELETE")],
    ] {
        let r = dp.request("OPTIONS", "/api/chat", &refused, b"");
        assert_json_error(&r, 403);
        assert!(cors_headers(&r).is_empty(), "{:?}", r.headers);
    }
    assert_eq!(agent.started(), 0, "preflights never reach the agent");

    let r = dp.request("POST", "/api/chat", &[app], b"{}");
    assert_eq!(r.agent(), Some("ag-cors"), "{}", r.text());
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert!(
        r.headers
            .iter()
            .any(|(k, v)| k == "vary" && v.contains("Origin"))
    );
    for other in [&[("Origin", "https://evil.example")][..], &[][..]] {
        let r = dp.request("POST", "/api/chat", other, b"{}");
        assert_eq!(r.agent(), Some("ag-cors"), "{}", r.text());
        assert!(cors_headers(&r).is_empty(), "{:?}", r.headers);
    }
    assert_errors(&dp, "cors_refused", 2);
}

#[test]
fn cors_any_origin_gets_a_star_and_cors_off_proxies_options() {
    let agent = TestAgent::start("ag-any");
    let any = json!({"http": {"cors": {"allowedOrigins": ["*"], "allowedMethods": ["PUT"]}}});
    let (dp, _dir) = serve(&agent, any);
    let origin = ("Origin", "https://anywhere.example");
    let r = dp.request(
        "OPTIONS",
        "/x",
        &[origin, ("Access-Control-Request-Method", "PUT")],
        b"",
    );
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let r = dp.request("GET", "/x", &[origin], b"");
    assert_eq!(r.agent(), Some("ag-any"));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    drop(dp);

    let (dp, _off_dir) = serve(&agent, json!({}));
    let r = dp.request(
        "OPTIONS",
        "/x",
        &[origin, ("Access-Control-Request-Method", "PUT")],
        b"",
    );
    assert_eq!(r.agent(), Some("ag-any"), "CORS off: OPTIONS is proxied");
    assert_eq!(r.json()["method"], "OPTIONS");
    assert!(cors_headers(&r).is_empty(), "{:?}", r.headers);
}

#[test]
fn a_declared_body_past_max_body_size_gets_413_before_the_agent_is_contacted() {
    let agent = TestAgent::start("ag-size");
    let limits = json!({"http": {"limits": {"maxBodySize": "1KiB"}}});
    let (dp, _dir) = serve(&agent, limits);

    let r = dp.request("POST", "/upload", &[], &[b'a'; 1024]);
    assert_eq!(r.agent(), Some("ag-size"), "a body at the limit passes");
    let r = dp.request("POST", "/upload", &[], &[b'a'; 4096]);
    assert_json_error(&r, 413);
    assert_eq!(agent.started(), 1, "the agent saw only the first request");
    assert_errors(&dp, "payload_too_large", 1);
}

#[test]
fn a_chunked_body_growing_past_max_body_size_gets_413_and_never_completes_upstream() {
    let agent = TestAgent::start("ag-chunked");
    let limits = json!({"http": {"limits": {"maxBodySize": "1KiB"}}});
    let (dp, _dir) = serve(&agent, limits);

    let mut s = TcpStream::connect(dp.addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let chunk = |n: usize| {
        let mut c = format!("{n:x}\r\n").into_bytes();
        c.extend(std::iter::repeat_n(b'a', n));
        c.extend_from_slice(b"\r\n");
        c
    };
    let mut first = format!(
        "POST /upload HTTP/1.1\r\nHost: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
        dp.addr
    )
    .into_bytes();
    first.extend(chunk(600));
    s.write_all(&first).unwrap();
    // The request is already streaming to the agent when the body crosses the limit.
    wait_until("the agent received the request head", WAIT, || {
        agent.started() == 1
    });
    s.write_all(&chunk(600)).unwrap();

    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}\n{}", dp.logs());
    assert!(text.contains("application/json"), "{text}");

    // The aborted upstream request ends on the agent's side with a broken body, never a whole one.
    wait_until("the agent finished reading", WAIT, || agent.requests() == 1);
    let rec = agent.last_request().unwrap();
    assert!(!rec.complete, "the agent saw a complete request: {rec:?}");
    assert_errors(&dp, "payload_too_large", 1);
}

#[test]
fn a_request_head_past_max_header_size_gets_431() {
    let agent = TestAgent::start("ag-head");
    let limits = json!({"http": {"limits": {"maxHeaderSize": "4KiB"}}});
    let (dp, _dir) = serve(&agent, limits);

    let small = "b".repeat(2048);
    let r = dp.request("GET", "/x", &[("X-Big", &small)], b"");
    assert_eq!(r.agent(), Some("ag-head"));
    let big = "b".repeat(6000);
    let r = dp.request("GET", "/x", &[("X-Big", &big)], b"");
    assert_json_error(&r, 431);
    assert_eq!(agent.started(), 1);
    assert_errors(&dp, "headers_too_large", 1);
}

#[test]
fn requests_past_max_concurrent_requests_are_shed_with_503() {
    let agent = TestAgent::start_with(
        "ag-slow",
        AgentOptions {
            sse_events: 200,
            sse_gap: Duration::from_millis(50),
        },
    );
    let perf = json!({"performance": {"maxConcurrentRequests": 2}});
    let (dp, _dir) = serve(&agent, perf);

    // Two streams hold both places until their bodies end.
    let mut streams: Vec<HttpConn> = (0..2)
        .map(|_| {
            let mut c = HttpConn::connect(dp.addr).unwrap();
            c.send("GET", "/api/stream", &[], b"").unwrap();
            let (status, _) = c.read_head().unwrap();
            assert_eq!(status, 200);
            assert!(c.read_chunk().unwrap().is_some(), "the stream started");
            c
        })
        .collect();
    let r = dp.get("/api/chat");
    assert_eq!(
        r.status,
        503,
        "a third request with two in flight must be shed (is the limiter in `Shared`? see \
         `proxy::concurrency::limiter`): {}",
        r.text()
    );
    assert_json_error(&r, 503);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(
        dp.get("/health").status,
        200,
        "the node's endpoints are not shed"
    );
    assert!(dp.metrics().contains("gateway_shed_total 1\n"));
    assert_errors(&dp, "overloaded", 1);

    // A place frees up when a stream's response ends (here: its client goes away).
    drop(streams.pop());
    let mut last = 0;
    wait_until("a request is admitted again", WAIT, || {
        last = dp.get("/api/chat").status;
        last == 200
    });
    assert_eq!(last, 200);
}
