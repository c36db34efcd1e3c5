//! `openclaw up` end to end: one process with a control plane, a data plane and the demo agents, driven
//! with the seed's client examples, then stopped with SIGTERM.

#![allow(clippy::unwrap_used)] // Test helpers may panic: a panic is a test failure.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use openclaw_e2e::{Child, bin, free_port, json_ok};
use serde_json::{Value, json};

/// A parsed HTTP/1.1 response.
struct Reply {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

/// One request on a fresh connection (`Connection: close`); de-chunks the body.
fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    try_http(addr, method, path, headers, body).unwrap()
}

fn try_http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<Reply> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no response head"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let status = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("bad status line"))?;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Ok(Reply {
        status,
        headers: head,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_text = String::from_utf8_lossy(&b[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
}

fn wait_ready(addr: SocketAddr, up: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        // The port may accept and reset while `up` checks that it is free: retry on any error.
        if try_http(addr, "GET", "/ready", &[], "").is_ok_and(|r| r.status == 200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "openclaw up was not ready:\n{}",
        std::fs::read_to_string(up.join("up.log")).unwrap_or_default()
    );
}

#[test]
fn up_serves_the_seed_examples_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let gw: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let cp: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let cp_metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let args: Vec<String> = [
        "up",
        "--listen",
        &gw.to_string(),
        "--control-plane-listen",
        &cp.to_string(),
        "--control-plane-metrics-listen",
        &cp_metrics.to_string(),
        "--agent-ports",
        "0,0,0",
        "--data-dir",
        &dir.path()
            .join(".openclaw/control-plane")
            .display()
            .to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let env = [
        ("OPENCLAW_GLOBAL_CONFIG", String::new()),
        ("OPENCLAW_USER_CONFIG", String::new()),
    ];
    let mut up = Child::spawn("up", &bin("openclaw"), &args, &env, dir.path());
    wait_ready(gw, dir.path());
    let log = || std::fs::read_to_string(dir.path().join("up.log")).unwrap_or_default();

    // The seed's Python client: GatewayClient("…", "sk-xxxxxxxxxxxx").chat("请帮我优化这段代码的性能").
    let payload =
        json!({"message": "请帮我优化这段代码的性能", "agent": "agent-chat-001", "stream": false});
    let r = http(
        gw,
        "POST",
        "/api/v1/chat",
        &[
            ("Authorization", "Bearer sk-xxxxxxxxxxxx"),
            ("Content-Type", "application/json"),
        ],
        &payload.to_string(),
    );
    let body: Value = serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", String::from_utf8_lossy(&r.body), log()));
    assert_eq!(r.status, 200, "{}\n{body}", r.headers);
    assert_eq!(body["agent"], "agent-chat-001", "{body}");
    assert_eq!(body["received"], payload, "{body}");
    assert!(!body["reply"].as_str().unwrap().is_empty(), "{body}");

    // The seed's Node streaming client: SSE lines `data: {"content": …}`.
    let r = http(
        gw,
        "POST",
        "/api/v1/chat/stream",
        &[("Content-Type", "application/json")],
        &json!({"message": "讲一个关于 AI 的笑话", "agent": "agent-chat-001", "stream": true})
            .to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.headers);
    assert!(
        r.headers
            .to_ascii_lowercase()
            .contains("content-type: text/event-stream"),
        "{}",
        r.headers
    );
    let text = String::from_utf8(r.body).unwrap();
    let events: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(events.last(), Some(&"[DONE]"), "{text}");
    let content: String = events[..events.len() - 1]
        .iter()
        .map(|e| {
            serde_json::from_str::<Value>(e).unwrap()["content"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(content.contains("讲一个关于 AI 的笑话"), "{content}");
    assert!(events.len() > 5, "several events: {text}");

    // The admin CLI against the embedded control plane (no token: local only).
    let out = std::process::Command::new(bin("openclaw"))
        .args([
            "gateway",
            "--server",
            &format!("http://{cp}"),
            "config.get",
            "--key",
            "routing.rules",
        ])
        .env_remove("OPENCLAW_TOKEN")
        .output()
        .unwrap();
    let rules = json_ok(&out);
    let names: Vec<&str> = rules
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"chat-api"), "{rules}");
    assert!(names.contains(&"code-route"), "{rules}");

    let status = up
        .terminate(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("openclaw up did not stop on SIGTERM:\n{}", log()));
    assert!(status.success(), "exit {status:?}:\n{}", log());
    assert!(log().contains("curl -s"), "prints what to try:\n{}", log());
}
