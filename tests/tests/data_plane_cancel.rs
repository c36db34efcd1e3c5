//! A client that goes away before its answer, through a real standalone `openclaw-data-plane`: over
//! HTTP/1.1 (it closes its connection) and over HTTP/2 (it resets its stream), the agent call ends,
//! the request's `maxConcurrentRequests` place is freed, and the request is counted as
//! `client_closed` (logged as 499).

#![allow(clippy::unwrap_used)] // Test helpers may panic: a panic is a test failure.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo};
use openclaw_e2e::{DataPlane, wait_until};
use serde_json::json;

/// An agent that answers `/fast` at once and holds `/slow` requests unanswered (for up to a
/// minute).
struct HoldingAgent {
    url: String,
    /// `/slow` requests received.
    held: Arc<AtomicUsize>,
    /// Held connections the gateway closed.
    closed: Arc<AtomicUsize>,
}

impl HoldingAgent {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (held, closed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (h, c) = (held.clone(), closed.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(s) = stream else { return };
                let (held, closed) = (h.clone(), c.clone());
                std::thread::spawn(move || serve(s, &held, &closed));
            }
        });
        Self { url, held, closed }
    }
}

/// Serves one agent connection: `/fast` answered, kept alive; `/slow` held until the peer closes.
fn serve(mut s: TcpStream, held: &AtomicUsize, closed: &AtomicUsize) {
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
}

/// A data plane with one place for requests in flight, routing everything to `agent`.
fn serve_one_at_a_time(agent: &HoldingAgent) -> (DataPlane, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let doc = json!({"gateway": {
        "performance": {"maxConcurrentRequests": 1},
        "agents": {"discovery": {"static": [{"id": "holder", "endpoint": agent.url}]},
                   "healthCheck": {"enabled": false}},
        "routing": {"rules": [{"name": "all", "match": {"type": "default"}, "target": "holder"}]}
    }});
    (DataPlane::standalone(dir.path(), doc), dir)
}

/// How long a test waits for the gateway to act.
const WAIT: Duration = Duration::from_secs(10);

/// The request held by the agent has the only place; once its client is gone (`leave`), the agent's
/// connection is closed, the place is free, and the request is counted once as a `client_closed`
/// 4xx.
fn assert_leaving_ends_the_call(dp: &DataPlane, agent: &HoldingAgent, leave: impl FnOnce()) {
    wait_until("the agent holds the request", WAIT, || {
        agent.held.load(Ordering::SeqCst) == 1
    });
    assert_eq!(
        dp.get("/fast").status,
        503,
        "the held request has the only place"
    );
    leave();
    wait_until("the gateway closes the agent's connection", WAIT, || {
        agent.closed.load(Ordering::SeqCst) == 1
    });
    wait_until("the place is free again", WAIT, || {
        dp.get("/fast").status == 200
    });
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

#[test]
fn an_http1_client_that_closes_its_connection_ends_its_agent_call() {
    let agent = HoldingAgent::start();
    let (dp, _dir) = serve_one_at_a_time(&agent);
    let mut client = TcpStream::connect(dp.addr).unwrap();
    client
        .write_all(b"GET /slow HTTP/1.1\r\nHost: gw\r\n\r\n")
        .unwrap();
    assert_leaving_ends_the_call(&dp, &agent, || drop(client));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_client_that_resets_its_stream_ends_its_agent_call() {
    let agent = HoldingAgent::start();
    let (dp, _dir) = serve_one_at_a_time(&agent);
    // h2c with prior knowledge: the connection stays open, only the stream is reset.
    let tcp = tokio::net::TcpStream::connect(dp.addr).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    let connection = tokio::spawn(conn);
    let req = hyper::Request::get(format!("http://{}/slow", dp.addr))
        .body(Empty::<bytes::Bytes>::new())
        .unwrap();
    // A second handle keeps the client's connection open after the waiting one is dropped.
    let keep = send.clone();
    let waiting = tokio::spawn(async move {
        let _ = send.send_request(req).await;
    });
    tokio::task::block_in_place(|| {
        // Dropping the response future resets the stream (RST_STREAM with CANCEL).
        assert_leaving_ends_the_call(&dp, &agent, || waiting.abort());
    });
    assert!(!connection.is_finished(), "the HTTP/2 connection lives on");
    drop(keep);
    connection.abort();
}
