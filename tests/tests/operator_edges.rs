//! What an operator runs into: a named config file that is missing or vanishes, a control plane that
//! accepts connections but never answers, a corrupt saved snapshot, an invalid local config, two
//! control planes on one machine, a config over gRPC's default 4 MiB, and whether `/health` agrees
//! with the control plane about the version and hash in force.

#![allow(clippy::unwrap_used)] // Test helpers may panic: a panic is a test failure.

use std::process::Command;
use std::time::{Duration, Instant};

use openclaw_e2e::{
    ControlPlane, CpOptions, DataPlane, TestAgent, bin, free_port, json_ok, wait_until,
};
use serde_json::{Value, json};

const SOON: Duration = Duration::from_secs(20);

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn doc(agents: &[Value], rules: Value) -> Value {
    json!({"gateway": {"agents": {"discovery": {"static": agents}}, "routing": {"rules": rules}}})
}

fn chat_to(target: &str) -> Value {
    json!([{"name": "chat", "match": {"type": "prefix", "pattern": "/api/v1/chat"}, "target": target}])
}

/// Runs the data plane to its exit with `env` (no control plane); its stderr.
fn data_plane_exit(env: &[(&str, String)]) -> (Option<i32>, String) {
    let mut cmd = Command::new(bin("openclaw-data-plane"));
    cmd.env("OPENCLAW_GLOBAL_CONFIG", "")
        .env_remove("OPENCLAW_CONTROL_PLANE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (out.status.code(), text(&out.stderr))
}

#[test]
fn a_named_config_file_must_exist_and_a_vanished_or_broken_one_keeps_the_config_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let (code, err) = data_plane_exit(&[("OPENCLAW_USER_CONFIG", missing.display().to_string())]);
    assert_ne!(code, Some(0), "{err}");
    assert!(
        err.contains(&missing.display().to_string()) && err.contains("OPENCLAW_USER_CONFIG"),
        "{err}"
    );

    let agent = TestAgent::start("agent-a");
    let dp = DataPlane::standalone(
        dir.path(),
        doc(&[agent.config_entry(&[])], chat_to("agent-a")),
    );
    assert_eq!(dp.get("/api/v1/chat").status, 200);
    assert_eq!(dp.health()["lastReloadError"], Value::Null);

    // Deleted while running: the config in force stays, and /health says why nothing changed.
    std::fs::remove_file(dir.path().join("user.json")).unwrap();
    wait_until("lastReloadError after the file vanished", SOON, || {
        dp.health()["lastReloadError"]
            .as_str()
            .is_some_and(|e| e.contains("user.json") && e.contains("removed"))
    });
    assert_eq!(dp.get("/api/v1/chat").status, 200, "{}", dp.logs());

    // Broken JSON: refused the same way.
    dp.rewrite_config_raw("{\"gateway\": ");
    wait_until("lastReloadError after a broken edit", SOON, || {
        dp.health()["lastReloadError"]
            .as_str()
            .is_some_and(|e| e.contains("not a valid JSON document"))
    });
    assert_eq!(dp.get("/api/v1/chat").status, 200);
    assert!(
        dp.logs().contains("config change rejected"),
        "{}",
        dp.logs()
    );

    // A good file applies and clears the error.
    dp.rewrite_config(doc(&[agent.config_entry(&[])], json!([])));
    wait_until("the fixed file applies", SOON, || {
        dp.health()["lastReloadError"].is_null() && dp.get("/api/v1/chat").status == 404
    });
}

#[test]
fn the_data_plane_reports_every_problem_validate_reports() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.json");
    let bad = json!({"gateway": {
        "http": {"listen": "nowhere", "bogus": 1},
        "performance": {"workerThreads": "many"},
        "agents": {"discovery": {"static": [{"id": "a", "endpoint": "http://127.0.0.1:9"}]}},
        "routing": {"rules": [
            {"name": "r0", "match": {"type": "prefix", "pattern": "/x"}, "target": "ghost"},
            {"name": "r1", "match": {"type": "semantic", "threshold": 1.7, "categories": ["code"]}, "target": "a"}
        ]}
    }});
    std::fs::write(&f, bad.to_string()).unwrap();
    let out = Command::new(bin("openclaw"))
        .args(["gateway", "validate", f.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let problems: Vec<String> = text(&out.stderr).lines().map(str::to_string).collect();
    assert!(problems.len() >= 5, "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("1.7")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("ghost")), "{problems:?}");
    let (code, err) = data_plane_exit(&[("OPENCLAW_USER_CONFIG", f.display().to_string())]);
    assert_ne!(code, Some(0));
    for p in &problems {
        assert!(
            err.contains(p.as_str()),
            "the data plane did not say `{p}`:\n{err}"
        );
    }
}

#[test]
fn the_cli_gives_up_on_a_control_plane_that_never_answers() {
    // The kernel completes TCP handshakes for a listener nobody accepts on, like a stopped process.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let started = Instant::now();
    let out = Command::new(bin("openclaw"))
        .args(["gateway", "--server", &url, "--timeout", "1s", "config.get"])
        .env_remove("OPENCLAW_TOKEN")
        .output()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("did not answer within") && err.contains("--timeout"),
        "{err}"
    );

    // Nothing listening at all: say what should be running there and how to point elsewhere.
    let port = free_port();
    let out = Command::new(bin("openclaw"))
        .args([
            "gateway",
            "--server",
            &format!("http://127.0.0.1:{port}"),
            "nodes",
        ])
        .env_remove("OPENCLAW_TOKEN")
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(
        err.contains("openclaw up") && err.contains(&port.to_string()) && err.contains("--server"),
        "{err}"
    );
}

#[test]
fn an_unusable_saved_snapshot_is_named_and_never_served() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    // No control plane on this port.
    let gone = format!("http://127.0.0.1:{}", free_port());
    for (case, content) in [
        ("truncated", "{\"version\": 3, \"hash\": \"ab".to_string()),
        (
            "tampered",
            json!({"version": 3, "hash": "0".repeat(64), "doc": {"gateway": {}}}).to_string(),
        ),
    ] {
        std::fs::write(state.join("snapshot.json"), content).unwrap();
        let mut dp = DataPlane::standalone_builder(dir.path(), json!({"gateway": {}}))
            .arg("--control-plane")
            .arg(gone.clone())
            .arg("--node-id")
            .arg(case)
            .state_dir(&state)
            .start_unready();
        let want = if case == "truncated" {
            "not valid JSON"
        } else {
            "hashes to"
        };
        wait_until("the saved snapshot is reported unusable", SOON, || {
            let logs = dp.logs();
            logs.contains("saved snapshot is unusable") && logs.contains(want)
        });
        assert_eq!(dp.get("/ready").status, 503, "never serves it");
        dp.kill();
    }
}

#[test]
fn health_reports_the_version_and_hash_the_control_plane_shows() {
    let dir = tempfile::tempdir().unwrap();
    let agent = TestAgent::start("agent-a");
    let cp = ControlPlane::start(
        dir.path(),
        CpOptions {
            bootstrap: Some(doc(&[agent.config_entry(&[])], chat_to("agent-a"))),
            ..CpOptions::default()
        },
    );
    let dp = DataPlane::managed(dir.path(), &cp, "n1", &[], None);
    let h = dp.health();
    assert_eq!(h["configVersion"], 1, "{h}");
    assert_eq!(h["controlPlane"]["appliedVersion"], 1, "{h}");
    let history = json_ok(&cp.cli(&["config.history"]));
    let v1 = history
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == 1)
        .unwrap();
    assert_eq!(h["snapshotHash"], v1["hash"], "{h}\n{history}");
    let nodes = json_ok(&cp.cli(&["nodes"]));
    assert_eq!(nodes[0]["appliedVersion"], h["configVersion"], "{nodes}");
}

#[test]
fn two_control_planes_on_one_machine_need_only_different_listen_addresses() {
    let dir = tempfile::tempdir().unwrap();
    // Two ports whose next ports are free too.
    let pick = || loop {
        let p = free_port();
        if p < 65535 && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    };
    let mut children = Vec::new();
    for (i, port) in [pick(), pick()].into_iter().enumerate() {
        let d = dir.path().join(format!("cp{i}"));
        std::fs::create_dir_all(&d).unwrap();
        let child = openclaw_e2e::Child::spawn(
            "control-plane",
            &bin("openclaw-control-plane"),
            &[
                "--listen".to_string(),
                format!("127.0.0.1:{port}"),
                "--data-dir".into(),
                d.join("data").display().to_string(),
            ],
            &[
                ("OPENCLAW_GLOBAL_CONFIG", String::new()),
                ("OPENCLAW_USER_CONFIG", String::new()),
            ],
            &d,
        );
        let metrics = format!("127.0.0.1:{}", port + 1).parse().unwrap();
        assert!(
            openclaw_e2e::wait_for_port(metrics, SOON),
            "control plane {i}: no /metrics on the port after --listen:\n{}",
            std::fs::read_to_string(d.join("control-plane.log")).unwrap_or_default()
        );
        children.push(child);
    }
    // A metrics port in use is named with the flag that moves it.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let out = Command::new(bin("openclaw-control-plane"))
        .args([
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--metrics-listen",
            &taken.local_addr().unwrap().to_string(),
            "--data-dir",
            &dir.path().join("cp-taken").display().to_string(),
        ])
        .env("OPENCLAW_GLOBAL_CONFIG", "")
        .env("OPENCLAW_USER_CONFIG", "")
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("--metrics-listen"), "{err}");
    assert_eq!(err.matches("in use").count(), 1, "{err}");
}

/// `n` prefix rules of about 6 KB each.
fn many_rules(n: usize) -> Value {
    let filler = "x".repeat(6000);
    Value::Array(
        (0..n)
            .map(|i| {
                json!({"name": format!("rule-{i}"), "match": {"type": "prefix", "pattern": format!("/big/{i}/{filler}")}, "target": "agent-a"})
            })
            .collect(),
    )
}

#[test]
fn a_config_over_four_mib_goes_through_put_and_discovery_and_the_limit_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let agent = TestAgent::start("agent-a");
    let cp = ControlPlane::start(
        dir.path(),
        CpOptions {
            bootstrap: Some(doc(&[agent.config_entry(&[])], chat_to("agent-a"))),
            ..CpOptions::default()
        },
    );
    let dp = DataPlane::managed(dir.path(), &cp, "big", &[], None);
    let mut rules = many_rules(720);
    rules
        .as_array_mut()
        .unwrap()
        .extend(chat_to("agent-a").as_array().unwrap().iter().cloned());
    let big = doc(&[agent.config_entry(&[])], rules);
    let f = dir.path().join("big.json");
    std::fs::write(&f, big.to_string()).unwrap();
    assert!(std::fs::metadata(&f).unwrap().len() > 4 * 1024 * 1024);
    json_ok(&cp.cli(&["config.put", "--file", f.to_str().unwrap()]));
    wait_until(
        "the data plane applies the big version",
        Duration::from_secs(60),
        || dp.health()["configVersion"] == 2,
    );
    assert_eq!(dp.get("/big/17/x").status, 404, "not the full pattern");
    let rules = json_ok(&cp.cli(&["config.get", "--key", "routing.rules"]));
    assert_eq!(rules.as_array().unwrap().len(), 721);

    // Over a limit: the size and the flag are named.
    let out = cp.cli(&[
        "--max-message-size",
        "1MiB",
        "config.put",
        "--file",
        f.to_str().unwrap(),
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--max-message-size") && err.contains("bytes"),
        "{err}"
    );

    // The control plane's own limit, refused there and said the same way.
    let small_dir = dir.path().join("small");
    std::fs::create_dir_all(&small_dir).unwrap();
    let small = ControlPlane::start(
        &small_dir,
        CpOptions {
            args: vec!["--max-message-size".into(), "1MiB".into()],
            ..CpOptions::default()
        },
    );
    let out = small.cli(&["config.put", "--file", f.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--max-message-size") && err.contains("1048576"),
        "{err}"
    );
}

#[test]
fn a_data_plane_names_its_own_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    let agent = TestAgent::start("agent-a");
    let mut rules = many_rules(200);
    rules
        .as_array_mut()
        .unwrap()
        .push(chat_to("agent-a")[0].clone());
    let cp = ControlPlane::start(
        dir.path(),
        CpOptions {
            bootstrap: Some(doc(&[agent.config_entry(&[])], rules)),
            ..CpOptions::default()
        },
    );
    let dp = DataPlane::managed_builder(dir.path(), &cp, "small", &[], None)
        .arg("--max-message-size")
        .arg("256KiB")
        .start_unready();
    wait_until("the data plane names the limit", SOON, || {
        let logs = dp.logs();
        logs.contains("--max-message-size") && logs.contains("262144")
    });
}

#[test]
fn config_files_named_in_the_environment_are_listed_in_help() {
    let out = Command::new(bin("openclaw-data-plane"))
        .arg("--help")
        .output()
        .unwrap();
    let help = text(&out.stdout);
    for want in [
        "--config.",
        "OPENCLAW_USER_CONFIG",
        "OPENCLAW_GLOBAL_CONFIG",
        "--max-message-size",
    ] {
        assert!(help.contains(want), "{want} missing from:\n{help}");
    }
}
