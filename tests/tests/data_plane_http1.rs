//! HTTP/1.1 on the wire through a real standalone `openclaw-data-plane`: pipelined requests, HTTP/1.0
//! clients, malformed heads, chunked uploads, `Expect: 100-continue`, and connections to agents
//! reused across requests.

#![allow(clippy::unwrap_used)] // Test helpers may panic: a panic is a test failure.

use std::io::{Read, Write};
use std::net::TcpStream;
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
