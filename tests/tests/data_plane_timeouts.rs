//! The listener's time bounds through the real binary: a slowloris client is cut off at
//! `http.timeouts.read`, a client that stops reading at `write` while a slow but flowing stream lives
//! on, idle keep-alive connections are closed at `idle` while busy ones stay, and SIGTERM drains a
//! running stream while refusing new connections.

#![allow(clippy::unwrap_used)] // Test helpers may panic: a panic is a test failure.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use openclaw_e2e::{AgentOptions, DataPlane, HttpConn, TestAgent};
use serde_json::json;

fn config(agent: &TestAgent, read: &str) -> serde_json::Value {
    config_with(
        agent.config_entry(&[]),
        agent.id(),
        json!({"read": read, "shutdown": "20s"}),
    )
}

fn config_with(
    agent: serde_json::Value,
    id: &str,
    timeouts: serde_json::Value,
) -> serde_json::Value {
    json!({"gateway": {
        "http": {"timeouts": timeouts},
        "agents": {"discovery": {"static": [agent]}, "healthCheck": {"enabled": false}},
        "routing": {"rules": [{"name": "all", "match": {"type": "prefix", "pattern": "/"}, "target": id}]}
    }})
}

/// An agent that answers every request with an endless chunked body (64 KiB chunks), and records
/// when it could no longer write.
fn start_flood_agent() -> (String, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stopped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stopped.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let flag = flag.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n");
                let chunk = vec![b'x'; 64 * 1024];
                let started = Instant::now();
                while started.elapsed() < Duration::from_secs(20) {
                    let head = format!("{:x}\r\n", chunk.len());
                    if s.write_all(head.as_bytes())
                        .and_then(|()| s.write_all(&chunk))
                        .and_then(|()| s.write_all(b"\r\n"))
                        .is_err()
                    {
                        flag.store(true, std::sync::atomic::Ordering::SeqCst);
                        return;
                    }
                }
            });
        }
    });
    (url, stopped)
}

#[test]
fn a_client_that_stops_reading_is_cut_off_at_the_write_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (url, agent_stopped) = start_flood_agent();
    let dp = DataPlane::standalone(
        dir.path(),
        config_with(
            json!({"id": "flood", "endpoint": url}),
            "flood",
            json!({"write": "1s"}),
        ),
    );
    let addr = dp.url().trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(b"GET /download HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 1024];
    assert!(s.read(&mut first).unwrap() > 0);
    // Stop reading: the gateway's writes stall once the socket buffers are full.
    std::thread::sleep(Duration::from_secs(4));
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut total = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
        assert!(total < 512 << 20, "the stalled client was never cut off");
    }
    // Closing the client also ends the upstream response: the agent sees its writes fail.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !agent_stopped.load(std::sync::atomic::Ordering::SeqCst) {
        assert!(
            Instant::now() < deadline,
            "the agent kept streaming to a cut-off client"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_slow_but_flowing_stream_outlives_the_write_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let agent = TestAgent::start_with(
        "slow",
        AgentOptions {
            sse_events: 3,
            sse_gap: Duration::from_millis(1500),
        },
    );
    let dp = DataPlane::standalone(
        dir.path(),
        config_with(
            agent.config_entry(&[]),
            "slow",
            json!({"write": "1s", "idle": "1s"}),
        ),
    );
    let addr = dp.url().trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(b"POST /api/v1/chat/stream HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}").unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let body = String::from_utf8_lossy(&out);
    assert!(body.contains("chunk-3"), "the stream was cut short: {body}");
}

#[test]
fn idle_keep_alive_connections_are_closed_and_busy_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let agent = TestAgent::start("idle");
    let dp = DataPlane::standalone(
        dir.path(),
        config_with(agent.config_entry(&[]), "idle", json!({"idle": "1s"})),
    );
    let mut quiet = HttpConn::connect(dp.addr).unwrap();
    let mut busy = HttpConn::connect(dp.addr).unwrap();
    assert_eq!(quiet.request("GET", "/a", &[], b"").unwrap().status, 200);
    let served = Instant::now();
    // The busy connection sends a request every 300 ms for 3 s: never idle for 1 s, never closed.
    while served.elapsed() < Duration::from_secs(3) {
        let r = busy.request("GET", "/b", &[], b"").unwrap();
        assert_eq!(r.status, 200);
        assert_ne!(r.header("connection"), Some("close"));
        std::thread::sleep(Duration::from_millis(300));
    }
    // The quiet one was closed by the gateway (within 1 s + a quarter), and well before the 3 s.
    assert!(
        quiet.closed_within(Duration::from_millis(100)),
        "idle connection still open"
    );
    assert!(
        !busy.closed_within(Duration::from_millis(100)),
        "busy connection was closed"
    );
    // A fresh connection left alone closes between 1 s and 2 s.
    let mut fresh = HttpConn::connect(dp.addr).unwrap();
    let opened = Instant::now();
    assert!(
        !fresh.closed_within(Duration::from_millis(800)),
        "closed before idle"
    );
    assert!(fresh.closed_within(Duration::from_secs(2)), "never closed");
    assert!(
        opened.elapsed() < Duration::from_millis(2000),
        "{:?}",
        opened.elapsed()
    );
}

#[test]
fn a_client_that_stops_sending_its_body_gets_408_at_the_read_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let agent = TestAgent::start("a");
    let dp = DataPlane::standalone(dir.path(), config(&agent, "1s"));
    for head in [
        "POST /x HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n0123456789",
        "POST /x HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\na\r\n0123456789\r\n",
    ] {
        let mut conn = HttpConn::connect(dp.addr).unwrap();
        let started = Instant::now();
        // Bytes trickle in every 600 ms (within the timeout), then stop.
        let mut raw = conn.raw();
        raw.write_all(head.as_bytes()).unwrap();
        for _ in 0..2 {
            std::thread::sleep(Duration::from_millis(600));
            let more: &[u8] = if head.contains("chunked") {
                b"1\r\nx\r\n"
            } else {
                b"x"
            };
            raw.write_all(more).unwrap();
        }
        let (status, headers) = conn.read_head().unwrap();
        let waited = started.elapsed();
        assert_eq!(status, 408, "{head:?}");
        assert!(
            headers
                .iter()
                .any(|(k, v)| k == "connection" && v == "close")
        );
        assert!(
            waited >= Duration::from_millis(2100) && waited < Duration::from_secs(4),
            "answered after {waited:?}"
        );
    }
    assert!(
        dp.metrics()
            .contains("gateway_error_total{kind=\"request_timeout\"} 2")
    );
}

#[test]
fn a_slowloris_client_is_cut_off_at_the_read_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let agent = TestAgent::start("a");
    let dp = DataPlane::standalone(dir.path(), config(&agent, "1s"));
    let addr = dp.url().trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let started = Instant::now();
    s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n").unwrap();
    // Trickle one header byte every 200 ms, as a slowloris does, until the gateway hangs up.
    let closed_after = loop {
        let mut buf = [0u8; 256];
        match s.read(&mut buf) {
            Ok(0) => break started.elapsed(),
            Ok(_) => break started.elapsed(),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break started.elapsed(),
        }
        if s.write_all(b"x").is_err() {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the slow client was never cut off"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        closed_after >= Duration::from_millis(900),
        "cut off too early: {closed_after:?}"
    );
    assert!(
        closed_after < Duration::from_secs(5),
        "cut off too late: {closed_after:?}"
    );
    assert_eq!(agent.requests(), 0);
    // Well-behaved clients are still served.
    assert_eq!(dp.get("/ok").status, 200);
}

#[test]
fn sigterm_drains_a_running_stream_and_refuses_new_connections() {
    let dir = tempfile::tempdir().unwrap();
    let agent = TestAgent::start_with(
        "s",
        AgentOptions {
            sse_events: 5,
            sse_gap: Duration::from_millis(300),
        },
    );
    let mut dp = DataPlane::standalone(dir.path(), config(&agent, "30s"));
    let addr = dp.url().trim_start_matches("http://").to_string();
    let stream_addr = addr.clone();
    let reader = std::thread::spawn(move || {
        let mut s = TcpStream::connect(&stream_addr).unwrap();
        s.write_all(b"POST /api/v1/chat/stream HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}").unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        String::from_utf8_lossy(&out).into_owned()
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while agent.requests() == 0 {
        assert!(
            Instant::now() < deadline,
            "the stream never reached the agent"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::process::Command::new("kill")
        .args(["-TERM", &dp.pid().to_string()])
        .status()
        .unwrap();
    // New connections are refused once the node stops accepting.
    let refused_by = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(&addr).is_ok() {
        assert!(
            Instant::now() < refused_by,
            "still accepting connections after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let body = reader.join().unwrap();
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.contains("chunk-5"), "the stream was cut short: {body}");
    let status = dp.terminate().expect("exited");
    assert!(status.success(), "{status:?}\n{}", dp.logs());
}
