//! Server-sent events pass through the data plane unbuffered: the client sees the first event while
//! the agent is still writing the rest.

#![allow(clippy::unwrap_used)] // Test helpers may panic: a panic is a test failure.

use std::time::{Duration, Instant};

use openclaw_e2e::{AgentOptions, DataPlane, HttpConn, TestAgent, http_request};
use serde_json::{Value, json};

const EVENTS: usize = 5;
const GAP: Duration = Duration::from_millis(300);

/// Sends `POST path` and returns the status, content type, and each `data:` event with when it arrived.
fn read_events(addr: std::net::SocketAddr, path: &str) -> (u16, String, Vec<(Value, Instant)>) {
    let mut conn = HttpConn::connect(addr).unwrap();
    let body = json!({"message": "tell me a joke", "agent": "agent-chat-001", "stream": true});
    conn.send(
        "POST",
        path,
        &[
            ("Content-Type", "application/json"),
            ("Accept", "text/event-stream"),
        ],
        body.to_string().as_bytes(),
    )
    .unwrap();
    let (status, headers) = conn.read_head().unwrap();
    let ct = headers
        .iter()
        .find(|(k, _)| k == "content-type")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let mut buf = String::new();
    let mut events = Vec::new();
    while let Some(chunk) = conn.read_chunk().unwrap() {
        let at = Instant::now();
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            if let Some(data) = event.trim().strip_prefix("data: ") {
                events.push((serde_json::from_str(data).unwrap(), at));
            }
        }
    }
    (status, ct, events)
}

fn check_events(events: &[(Value, Instant)], agent: &str) {
    let contents: Vec<String> = events
        .iter()
        .map(|(e, _)| e["content"].as_str().unwrap_or_default().to_string())
        .collect();
    let want: Vec<String> = (1..=EVENTS).map(|i| format!("chunk-{i}")).collect();
    assert_eq!(contents, want);
    assert!(events.iter().all(|(e, _)| e["agent"] == agent));
}

#[test]
fn the_agent_fixture_streams_events_apart() {
    let agent = TestAgent::start_with(
        "agent-chat-001",
        AgentOptions {
            sse_events: EVENTS,
            sse_gap: GAP,
        },
    );
    let (status, ct, events) = read_events(agent.addr(), "/api/v1/chat/stream");
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/event-stream"), "{ct}");
    check_events(&events, "agent-chat-001");
    let first = events[0].1;
    let done = agent.sse_finished_at().unwrap();
    assert!(done.duration_since(first) >= GAP * (EVENTS as u32 - 2));

    let r = http_request("GET", &format!("{}/x?y=1", agent.url()), &[], b"").unwrap();
    assert_eq!(r.agent(), Some("agent-chat-001"));
    assert_eq!(r.json()["path"], "/x?y=1");
    assert_eq!(agent.requests(), 2);
    agent.set_status(503);
    let h = http_request("GET", &format!("{}/health", agent.url()), &[], b"").unwrap();
    assert_eq!(h.status, 503);
    assert_eq!(agent.requests(), 2, "health probes are not counted");
}

#[test]
fn sse_first_event_arrives_while_the_agent_is_still_streaming() {
    let dir = tempfile::tempdir().unwrap();
    let agent = TestAgent::start_with(
        "agent-chat-001",
        AgentOptions {
            sse_events: EVENTS,
            sse_gap: GAP,
        },
    );
    let dp = DataPlane::standalone(
        dir.path(),
        json!({"gateway": {
            "agents": {"discovery": {"static": [agent.config_entry(&["chat"])]}},
            "routing": {"rules": [
                {"name": "chat", "match": {"type": "prefix", "pattern": "/api/v1/chat"}, "target": "agent-chat-001"}
            ]}
        }}),
    );
    let (status, ct, events) = read_events(dp.addr, "/api/v1/chat/stream");
    assert_eq!(status, 200, "{}", dp.logs());
    assert!(ct.starts_with("text/event-stream"), "{ct}");
    check_events(&events, "agent-chat-001");

    let first = events[0].1;
    let last = events[EVENTS - 1].1;
    let done = agent
        .sse_finished_at()
        .expect("the agent finished its stream");
    assert!(
        first < done,
        "event 1 reached the client only after the agent wrote the last event"
    );
    assert!(
        done.duration_since(first) >= GAP,
        "event 1 arrived only {:?} before the agent finished",
        done.duration_since(first)
    );
    assert!(
        last.duration_since(first) >= GAP,
        "the events arrived in one burst ({:?} apart)",
        last.duration_since(first)
    );
}
