//! The listener's time bounds through the real binary: a slowloris client is cut off at
//! `http.timeouts.read`, and SIGTERM drains a running stream while refusing new connections.

#![allow(clippy::unwrap_used)] // Test helpers may panic: a panic is a test failure.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use openclaw_e2e::{AgentOptions, DataPlane, TestAgent};
use serde_json::json;

fn config(agent: &TestAgent, read: &str) -> serde_json::Value {
    json!({"gateway": {
        "http": {"timeouts": {"read": read, "shutdown": "20s"}},
        "agents": {"discovery": {"static": [agent.config_entry(&[])]}},
        "routing": {"rules": [{"name": "all", "match": {"type": "prefix", "pattern": "/"}, "target": agent.id()}]}
    }})
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
