//! HTTP/1.1 on the wire through a real standalone `openclaw-data-plane`: pipelined requests, HTTP/1.0
//! clients, malformed heads, chunked uploads, `Expect: 100-continue`, connections to agents reused
//! across requests, and a client that goes away before its answer.

#![allow(clippy::unwrap_used)] // Test helpers may panic: a panic is a test failure.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use openclaw_e2e::{DataPlane, TestAgent};
use serde_json::{Value, json};

fn serve(agent: &TestAgent) -> (DataPlane, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let doc = json!({"gateway": {
        "agents": {"discovery": {"static": [agent.config_entry(&[])]}},
        "routing": {"rules": [{"name": "all", "match": {"type": "default"}, "target": agent.id()}]}
    }});
    (DataPlane::standalone(dir.path(), doc), dir)
}

fn connect(dp: &DataPlane) -> TcpStream {
    let s = TcpStream::connect(dp.url().trim_start_matches("http://")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Everything the gateway sends until it closes the connection.
fn read_to_close(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// The JSON bodies in a stream of responses (the test agent answers JSON objects).
fn bodies(wire: &str) -> Vec<Value> {
    wire.split("\r\n\r\n")
        .skip(1)
        .map(|part| part.split("HTTP/1.").next().unwrap_or(""))
        .filter(|b| !b.is_empty())
        .map(|b| serde_json::from_str(b).unwrap())
        .collect()
}

#[test]
fn pipelined_requests_are_answered_in_order_on_one_connection() {
    let agent = TestAgent::start("agent-chat-001");
    let (dp, _dir) = serve(&agent);
    let mut s = connect(&dp);
    s.write_all(
        b"POST /api/v1/chat HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\n\r\nfirst\
          POST /api/v1/chat HTTP/1.1\r\nHost: gw\r\nContent-Length: 6\r\n\r\nsecond\
          GET /api/v1/third HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let wire = read_to_close(&mut s);
    assert_eq!(wire.matches("HTTP/1.1 200 OK\r\n").count(), 3, "{wire}");
    let seen: Vec<_> = bodies(&wire)
        .iter()
        .map(|b| format!("{} {} {}", b["method"], b["path"], b["body"]))
        .collect();
    assert_eq!(
        seen,
        [
            r#""POST" "/api/v1/chat" "first""#,
            r#""POST" "/api/v1/chat" "second""#,
            r#""GET" "/api/v1/third" """#,
        ],
        "{wire}"
    );
    assert!(
        wire.contains("connection: close\r\n"),
        "the last answer says it closes: {wire}"
    );
}

#[test]
fn http10_clients_are_answered_in_http10_and_the_connection_closes() {
    let agent = TestAgent::start("agent-chat-001");
    let (dp, _dir) = serve(&agent);
    let mut s = connect(&dp);
    s.write_all(b"GET /api/v1/old HTTP/1.0\r\n\r\n").unwrap();
    let wire = read_to_close(&mut s);
    assert!(wire.starts_with("HTTP/1.0 200 OK\r\n"), "{wire}");
    assert_eq!(bodies(&wire)[0]["path"], "/api/v1/old");
}

#[test]
fn malformed_heads_get_a_json_400_and_a_close() {
    let agent = TestAgent::start("agent-chat-001");
    let (dp, _dir) = serve(&agent);
    for bad in [
        &b"GET / HTTP/1.1\r\nNo Colon Here\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
    ] {
        let mut s = connect(&dp);
        s.write_all(bad).unwrap();
        let wire = read_to_close(&mut s);
        assert!(wire.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{wire}");
        assert!(
            wire.contains("application/json") && wire.contains("\"error\":\"bad request: "),
            "{wire}"
        );
    }
    assert_eq!(agent.requests(), 0, "nothing malformed reaches the agent");
}

#[test]
fn a_chunked_upload_reaches_the_agent_whole() {
    let agent = TestAgent::start("agent-chat-001");
    let (dp, _dir) = serve(&agent);
    let mut s = connect(&dp);
    s.write_all(b"POST /api/v1/chat HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    s.write_all(b"7\r\n, world\r\n0\r\n\r\n").unwrap();
    let wire = read_to_close(&mut s);
    assert!(wire.starts_with("HTTP/1.1 200 OK\r\n"), "{wire}");
    let last = agent.last_request().unwrap();
    assert_eq!(last.body, "hello, world");
    assert!(last.complete);
}

#[test]
fn a_body_is_invited_with_100_continue_only_when_the_request_goes_on() {
    let agent = TestAgent::start("agent-chat-001");
    let dir = tempfile::tempdir().unwrap();
    let doc = json!({"gateway": {
        "http": {"limits": {"maxBodySize": "1KiB"}},
        "agents": {"discovery": {"static": [agent.config_entry(&[])]}},
        "routing": {"rules": [{"name": "all", "match": {"type": "default"}, "target": agent.id()}]}
    }});
    let dp = DataPlane::standalone(dir.path(), doc);

    // Proxied: the body is invited, then reaches the agent.
    let mut s = connect(&dp);
    s.write_all(b"POST /api/v1/chat HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut cont = [0u8; 25];
    s.read_exact(&mut cont).unwrap();
    assert_eq!(&cont, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"hello").unwrap();
    let wire = read_to_close(&mut s);
    assert!(wire.starts_with("HTTP/1.1 200 OK\r\n"), "{wire}");
    assert_eq!(agent.last_request().unwrap().body, "hello");

    // Refused for its declared size: answered at once, the body never invited.
    let mut s = connect(&dp);
    s.write_all(b"POST /api/v1/chat HTTP/1.1\r\nHost: gw\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n")
        .unwrap();
    let wire = read_to_close(&mut s);
    assert!(wire.starts_with("HTTP/1.1 413 "), "{wire}");
    assert!(!wire.contains("100 Continue"), "{wire}");
    assert_eq!(
        agent.requests(),
        1,
        "the refused request never reached the agent"
    );
}

#[test]
fn connections_to_the_agent_are_reused_across_requests() {
    let agent = TestAgent::start("agent-chat-001");
    let (dp, _dir) = serve(&agent);
    let mut connections = std::collections::BTreeSet::new();
    for i in 0..20 {
        let r = dp.request("POST", "/api/v1/chat", &[], format!("n{i}").as_bytes());
        assert_eq!(r.status, 200);
        let last = agent.last_request().unwrap();
        assert_eq!(last.body, format!("n{i}"));
        connections.insert(last.connection);
    }
    assert_eq!(
        connections.len(),
        1,
        "sequential requests share one kept-alive agent connection"
    );
}

/// An agent that answers `/fast` at once and holds `/slow` requests unanswered (for up to a minute),
/// counting the held requests and the held connections the gateway closed.
fn start_holding_agent() -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (held, closed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (h, c) = (held.clone(), closed.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let (held, closed) = (h.clone(), c.clone());
            std::thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                loop {
                    match s.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                    if !head.ends_with(b"\r\n\r\n") {
                        continue;
                    }
                    if head.starts_with(b"GET /slow ") {
                        held.fetch_add(1, Ordering::SeqCst);
                        // Held: the next thing the gateway does on this connection is close it.
                        if let Ok(0) = s.read(&mut byte) {
                            closed.fetch_add(1, Ordering::SeqCst);
                        }
                        return;
                    }
                    head.clear();
                    if s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (url, held, closed)
}

#[test]
fn a_client_that_goes_away_ends_its_agent_call_and_frees_its_place() {
    let (url, held, closed) = start_holding_agent();
    let dir = tempfile::tempdir().unwrap();
    let doc = json!({"gateway": {
        "performance": {"maxConcurrentRequests": 1},
        "agents": {"discovery": {"static": [{"id": "holder", "endpoint": url}]},
                   "healthCheck": {"enabled": false}},
        "routing": {"rules": [{"name": "all", "match": {"type": "default"}, "target": "holder"}]}
    }});
    let dp = DataPlane::standalone(dir.path(), doc);
    assert_eq!(dp.get("/fast").status, 200);

    let mut client = connect(&dp);
    client
        .write_all(b"GET /slow HTTP/1.1\r\nHost: gw\r\n\r\n")
        .unwrap();
    wait_for("the agent holds the request", || {
        held.load(Ordering::SeqCst) == 1
    });
    assert_eq!(
        dp.get("/fast").status,
        503,
        "the held request has the only place"
    );

    drop(client);
    wait_for("the gateway closes the agent's connection", || {
        closed.load(Ordering::SeqCst) == 1
    });
    wait_for("the place is free again", || dp.get("/fast").status == 200);
    let metrics = dp.metrics();
    assert!(
        metrics.contains("gateway_error_total{kind=\"client_closed\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("gateway_requests_total{route=\"all\",code=\"4xx\"} 1\n"),
        "the abandoned request is counted once, as a 4xx (499): {metrics}"
    );
}

/// Waits until `cond` holds, failing with `what` after ten seconds.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
