//! The local config verbs through the real `openclaw` binary.

#![allow(clippy::unwrap_used)] // Test helpers may panic: a panic is a test failure.

use std::process::{Command, Output};

use openclaw_e2e::bin;
use serde_json::{Value, json};

fn openclaw(args: &[&str], env: &[(&str, &str)], dir: &std::path::Path) -> Output {
    let mut cmd = Command::new(bin("openclaw"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env(
            "OPENCLAW_GLOBAL_CONFIG",
            named_if_present(&dir.join("global.json")),
        )
        .env(
            "OPENCLAW_USER_CONFIG",
            named_if_present(&dir.join("user.json")),
        );
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// The file's path when it exists, else empty (no file: a named file must exist).
fn named_if_present(f: &std::path::Path) -> String {
    if f.exists() {
        f.display().to_string()
    } else {
        String::new()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn validate_reports_every_problem_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.json");
    std::fs::write(
        &f,
        json!({"gateway": {
            "http": {"listen": "nowhere", "bogus": 1},
            "routing": {"rules": [{"name": "r", "match": {"type": "semantic", "threshold": 1.7, "categories": ["code"]}, "target": "ghost"}]}
        }})
        .to_string(),
    )
    .unwrap();
    let out = openclaw(
        &["gateway", "validate", "--file", f.to_str().unwrap()],
        &[],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 4, "{err}");
    assert!(
        lines[0].starts_with("gateway.http.bogus: unknown key"),
        "{err}"
    );
    assert!(
        err.contains("gateway.http.listen: must be host:port"),
        "{err}"
    );
    assert!(
        err.contains("gateway.routing.rules[0].match.threshold: must be within 0..=1, got 1.7"),
        "{err}"
    );
    assert!(
        err.contains("gateway.routing.rules[0].target: must name an agent"),
        "{err}"
    );
}

#[test]
fn validate_resolves_placeholders_unless_no_env() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("prod.json");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../config/tests/fixtures/seed-production.json"
        ),
        &f,
    )
    .unwrap();
    let file = f.to_str().unwrap();
    let missing = openclaw(&["gateway", "validate", "--file", file], &[], dir.path());
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("environment variable REDIS_PASSWORD is not set"));
    let ok = openclaw(
        &["gateway", "validate", "--file", file],
        &[("REDIS_PASSWORD", "pw")],
        dir.path(),
    );
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("valid"));
    let no_env = openclaw(
        &["gateway", "validate", "--no-env", "--file", file],
        &[],
        dir.path(),
    );
    assert_eq!(no_env.status.code(), Some(0));
}

#[test]
fn effective_config_merges_layers_and_shows_origins() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("global.json"),
        json!({"gateway": {"http": {"listen": "0.0.0.0:1"}, "performance": {"workerThreads": 3}}})
            .to_string(),
    )
    .unwrap();
    std::fs::write(
        d.join("user.json"),
        json!({"gateway": {"http": {"listen": "0.0.0.0:2"}}}).to_string(),
    )
    .unwrap();
    let get = |env: &[(&str, &str)], extra: &[&str]| {
        let mut args = vec!["gateway", "config.effective"];
        args.extend_from_slice(extra);
        let out = openclaw(&args, env, d);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    assert_eq!(get(&[], &["--key", "http.listen"]), json!("0.0.0.0:2"));
    assert_eq!(
        get(
            &[("OPENCLAW_HTTP__LISTEN", "0.0.0.0:3")],
            &["--key", "http.listen"]
        ),
        json!("0.0.0.0:3")
    );
    assert_eq!(
        get(
            &[("OPENCLAW_HTTP__LISTEN", "0.0.0.0:3")],
            &["--key", "http.listen", "--config.http.listen=0.0.0.0:4"]
        ),
        json!("0.0.0.0:4")
    );
    assert_eq!(
        get(
            &[("OPENCLAW_HTTP__RATE_LIMIT__BURST", "200")],
            &["--key", "http.rateLimit.burst"]
        ),
        json!(200)
    );
    let origins = get(&[("OPENCLAW_HTTP__LISTEN", "0.0.0.0:3")], &["--origin"]);
    assert_eq!(origins["gateway.http.listen"]["origin"], "env");
    assert_eq!(
        origins["gateway.performance.workerThreads"]["origin"],
        "global"
    );
    assert_eq!(origins["gateway.http.timeouts.read"]["origin"], "default");
}

#[test]
fn effective_config_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("user.json"),
        json!({"gateway": {"cache": {"layers": [{"name": "r", "type": "redis", "endpoint": "redis://:pw-in-url@h:6379", "password": "hunter2"}]}}}).to_string(),
    )
    .unwrap();
    let out = openclaw(
        &[
            "gateway",
            "config.effective",
            "--config.controlPlane.token=tok-123",
        ],
        &[],
        d,
    );
    let s = text(&out.stdout);
    assert!(s.contains("\"password\": \"<redacted>\""), "{s}");
    for secret in ["hunter2", "pw-in-url", "tok-123"] {
        assert!(!s.contains(secret), "{secret} leaked: {s}");
    }
}

#[test]
fn apikey_new_prints_a_key_and_its_hash_entry() {
    let dir = tempfile::tempdir().unwrap();
    let out = openclaw(
        &["gateway", "apikey.new", "--id", "team-a"],
        &[],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = v["key"].as_str().unwrap();
    assert_eq!(v["entry"]["id"], "team-a");
    assert_eq!(v["entry"]["keyHash"], openclaw_config_hash(key));
}

fn openclaw_config_hash(key: &str) -> String {
    // Same definition as openclaw_config::hash_api_key, computed independently with sha256sum.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("printf %s '{key}' | sha256sum"))
        .output()
        .unwrap();
    format!(
        "sha256:{}",
        text(&out.stdout).split_whitespace().next().unwrap()
    )
}
