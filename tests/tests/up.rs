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

/// Waits for `up` to be ready; `Err` with its log when it is not, or when a port it was given was
/// taken by another test process between `free_port` and `up` binding it (then the caller retries).
fn wait_ready(addr: SocketAddr, up: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let log = || std::fs::read_to_string(up.join("up.log")).unwrap_or_default();
    while Instant::now() < deadline {
        // The port may accept and reset while `up` checks that it is free: retry on any error.
        if try_http(addr, "GET", "/ready", &[], "").is_ok_and(|r| r.status == 200) {
            return Ok(());
        }
        if log().contains("already in use") {
            return Err(log());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(log())
}

/// A running `openclaw up` and its addresses.
struct Up {
    child: Child,
    gw: SocketAddr,
    cp: SocketAddr,
    log_dir: std::path::PathBuf,
}

impl Up {
    /// Starts `openclaw up` keeping its data in `data_dir`, logging to `log_dir/up.log`.
    fn start(log_dir: &Path, data_dir: &Path, extra: &[&str]) -> Up {
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start(log_dir, data_dir, extra) {
                Ok(up) => return up,
                Err(log) if log.contains("already in use") => last = log,
                Err(log) => panic!("openclaw up was not ready:\n{log}"),
            }
        }
        panic!("openclaw up found its ports taken three times:\n{last}");
    }

    /// One try of [`start`](Self::start), on newly picked ports.
    fn try_start(log_dir: &Path, data_dir: &Path, extra: &[&str]) -> Result<Up, String> {
        let _ = std::fs::remove_file(log_dir.join("up.log"));
        let gw: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let cp: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let cp_metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut args: Vec<String> = [
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
            &data_dir.display().to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let env = [
            ("OPENCLAW_GLOBAL_CONFIG", String::new()),
            ("OPENCLAW_USER_CONFIG", String::new()),
        ];
        let child = Child::spawn("up", &bin("openclaw"), &args, &env, log_dir);
        wait_ready(gw, log_dir)?;
        let up = Up {
            child,
            gw,
            cp,
            log_dir: log_dir.to_path_buf(),
        };
        wait_until_logged(&up, "Ctrl-C stops everything");
        Ok(up)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_dir.join("up.log")).unwrap_or_default()
    }

    /// `openclaw gateway --server <cp> <args>`, with `stdin`.
    fn cli(&self, args: &[&str], stdin: Option<&str>) -> std::process::Output {
        let mut cmd = std::process::Command::new(bin("openclaw"));
        cmd.args(["gateway", "--server", &format!("http://{}", self.cp)])
            .args(args)
            .env_remove("OPENCLAW_TOKEN")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .stdin(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    }

    fn stop(mut self) {
        let status = self
            .child
            .terminate(Duration::from_secs(60))
            .unwrap_or_else(|| panic!("openclaw up did not stop on SIGTERM:\n{}", self.log()));
        assert!(status.success(), "exit {status:?}:\n{}", self.log());
    }
}

fn wait_until_logged(up: &Up, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !up.log().contains(what) {
        assert!(
            Instant::now() < deadline,
            "`{what}` never logged:\n{}",
            up.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn up_serves_the_seed_examples_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("state");
    let up = Up::start(dir.path(), &data_dir, &[]);
    let gw = up.gw;
    let log = || up.log();
    assert!(log().contains("version 1: the demo config"), "{}", log());

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

    // The seed's Node streaming client JSON-parses every `data:` line, the last one included.
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
    let events: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|e| {
            serde_json::from_str::<Value>(e)
                .unwrap_or_else(|err| panic!("the seed's client cannot parse `{e}`: {err}"))
        })
        .collect();
    assert_eq!(events.last(), Some(&json!({"done": true})), "{text}");
    let content: String = events
        .iter()
        .filter_map(|e| e["content"].as_str())
        .collect();
    assert!(content.contains("讲一个关于 AI 的笑话"), "{content}");
    assert!(events.len() > 5, "several events: {text}");

    // The admin CLI against the embedded control plane (no token: local only).
    let rules = json_ok(&up.cli(&["config.get", "--key", "routing.rules"], None));
    let names: Vec<&str> = rules
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"chat-api"), "{rules}");
    assert!(names.contains(&"code-route"), "{rules}");

    // route.explain, as the banner suggests, on a config with API keys (shown redacted).
    let explained = json_ok(&up.cli(
        &[
            "route.explain",
            "--path",
            "/ask",
            "--body",
            r#"{"message": "帮我写一个 Python 函数"}"#,
        ],
        None,
    ));
    assert_eq!(explained["rule"]["name"], "code-route", "{explained}");
    let explained = json_ok(&up.cli(&["route.explain", "--path", "/api/v1/admin/stats"], None));
    assert_eq!(explained["rule"]["requiresAuth"], true, "{explained}");

    // The banner's patch, exactly as printed (with this test's --server), then a stored version 2.
    let banner = log();
    let patch_line = banner
        .lines()
        .find(|l| l.contains("config.patch --json-patch"))
        .unwrap_or_else(|| panic!("{banner}"));
    let ops = patch_line
        .split_once("echo '")
        .and_then(|(_, rest)| rest.split_once("' |"))
        .map(|(ops, _)| ops)
        .unwrap();
    let out = up.cli(
        &[
            "config.patch",
            "--json-patch",
            "--file",
            "-",
            "--wait",
            "--wait-timeout",
            "20s",
        ],
        Some(ops),
    );
    let written = json_ok(&out);
    assert_eq!(written["version"], 2, "{written}");
    // The diff names the changed field, not the whole rules array.
    let diff = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(diff.contains("rules[0].target"), "{diff}");
    assert!(!diff.contains("code-route"), "{diff}");
    let r = http(
        gw,
        "POST",
        "/api/v1/chat",
        &[("Content-Type", "application/json")],
        r#"{"message": "hello"}"#,
    );
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["agent"], "agent-code-001", "{body}");
    let banner = log();
    assert!(banner.contains("curl -s"), "prints what to try:\n{banner}");
    up.stop();

    // Everything stays under --data-dir.
    let mut entries: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(entries, ["state", "up.log"]);
    assert!(data_dir.join("control-plane").is_dir());
    assert!(data_dir.join("data-plane").join("snapshot.json").is_file());

    // Again on the same directory: it says it resumed version 2, and its commands fit version 2.
    let up = Up::start(dir.path(), &data_dir, &[]);
    let banner = up.log();
    assert!(banner.contains("version 2, resumed from"), "{banner}");
    assert!(banner.contains("config.rollback --to 2"), "{banner}");
    up.stop();

    // --fresh starts over from the demo config.
    let up = Up::start(dir.path(), &data_dir, &["--fresh"]);
    let banner = up.log();
    assert!(banner.contains("version 1: the demo config"), "{banner}");
    let rules = json_ok(&up.cli(&["config.get", "--key", "routing.rules[0].target"], None));
    assert_eq!(rules, "agent-chat-001");
    up.stop();
}
