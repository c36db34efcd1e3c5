//! The CLI as a new user meets it: editing routing rules by patch (the seed's example 1), typos, and
//! positional arguments.

#![allow(clippy::unwrap_used)] // Test helpers may panic: a panic is a test failure.

use openclaw_e2e::{ADMIN_TOKEN, ControlPlane, CpOptions, TestAgent, bin, json_ok};
use serde_json::{Value, json};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn rule(name: &str, pattern: &str, target: &str) -> Value {
    json!({"name": name, "match": {"type": "prefix", "pattern": pattern}, "target": target})
}

fn start(dir: &std::path::Path) -> (ControlPlane, TestAgent, TestAgent) {
    let a = TestAgent::start("agent-chat-001");
    let b = TestAgent::start("agent-code-001");
    let cp = ControlPlane::start(
        dir,
        CpOptions {
            bootstrap: Some(json!({"gateway": {
                "agents": {"discovery": {"static": [a.config_entry(&[]), b.config_entry(&[])]}},
                "auth": {"apiKeys": [{"id": "k", "keyHash": openclaw_config::hash_api_key("secret")}]},
                "routing": {"rules": [
                    rule("chat-api", "/api/v1/chat", "agent-chat-001"),
                    rule("code-api", "/api/v1/code", "agent-code-001"),
                ]}
            }})),
            ..CpOptions::default()
        },
    );
    (cp, a, b)
}

fn stdin(cp: &ControlPlane, args: &[&str], input: &str) -> std::process::Output {
    cp.cli_with_token(Some(ADMIN_TOKEN), args, Some(input))
}

#[test]
fn as_patch_output_goes_back_unchanged_and_rules_are_edited_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let (cp, _a, _b) = start(dir.path());

    // A key as a merge patch, taken back as is: nothing changes.
    let out = cp.cli(&["config.get", "--key", "routing", "--as-patch"]);
    let patch = json_ok(&out);
    assert!(patch["gateway"]["routing"]["rules"].is_array(), "{patch}");
    let r = json_ok(&stdin(
        &cp,
        &["config.patch", "--file", "-"],
        &patch.to_string(),
    ));
    assert_eq!(r["changed"], false, "{r}");
    // An array element as a JSON Patch `replace`, taken back as is.
    let patch = json_ok(&cp.cli(&["config.get", "routing.rules[1]", "--as-patch"]));
    assert_eq!(patch[0]["op"], "replace", "{patch}");
    let r = json_ok(&stdin(
        &cp,
        &["config.patch", "--json-patch", "--file", "-"],
        &patch.to_string(),
    ));
    assert_eq!(r["changed"], false, "{r}");
    // Secrets stay out of it, and a section with one cannot be sent back as `<redacted>`.
    let auth = json_ok(&cp.cli(&["config.get", "--key", "auth", "--as-patch"]));
    assert!(!auth.to_string().contains("sha256:"), "{auth}");
    let out = stdin(&cp, &["config.patch", "--file", "-"], &auth.to_string());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("<redacted>"),
        "{}",
        text(&out.stderr)
    );

    // Add one rule (the seed's example 1), with the diff showing that rule alone.
    let add = json!([{"op": "add", "path": "/routing/rules/-", "value": rule("data-api", "/api/v1/data", "agent-code-001")}]);
    let out = stdin(
        &cp,
        &["config.patch", "--json-patch", "--file", "-"],
        &add.to_string(),
    );
    let r = json_ok(&out);
    assert_eq!(r["version"], 2, "{r}");
    let diff = text(&out.stderr);
    assert!(
        diff.contains("rules[2]") && diff.contains("data-api"),
        "{diff}"
    );
    assert!(
        !diff.contains("chat-api") && !diff.contains("code-api"),
        "{diff}"
    );

    // Replace a field of a rule by its name.
    let replace = json!([{"op": "replace", "path": "/routing/rules/name=chat-api/target", "value": "agent-code-001"}]);
    json_ok(&stdin(
        &cp,
        &["config.patch", "--json-patch", "--file", "-"],
        &replace.to_string(),
    ));
    assert_eq!(
        json_ok(&cp.cli(&["config.get", "routing.rules[0].target"])),
        "agent-code-001"
    );

    // Remove a rule by its name; an unknown name is refused, naming it.
    let remove = json!([{"op": "remove", "path": "/routing/rules/name=code-api"}]);
    json_ok(&stdin(
        &cp,
        &["config.patch", "--json-patch", "--file", "-"],
        &remove.to_string(),
    ));
    let names: Vec<Value> = json_ok(&cp.cli(&["config.get", "routing.rules"]))
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].clone())
        .collect();
    assert_eq!(names, [json!("chat-api"), json!("data-api")]);
    let out = stdin(
        &cp,
        &["config.patch", "--json-patch", "--file", "-"],
        &remove.to_string(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("name = code-api"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn typos_get_the_closest_suggestion_first() {
    let dir = tempfile::tempdir().unwrap();
    let (cp, _a, _b) = start(dir.path());
    let out = std::process::Command::new(bin("openclaw"))
        .args(["gateway", "config.gte"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("did you mean: config.get"), "{err}");

    let out = cp.cli(&["config.get", "--key", "routing.rulez"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("did you mean `routing.rules`"), "{err}");
    // A key that exists in the schema but is not stored says so, with its default.
    let out = cp.cli(&["config.get", "--key", "http.listen"]);
    assert!(
        text(&out.stderr).contains("default"),
        "{}",
        text(&out.stderr)
    );

    // `validate` takes its file positionally too.
    let f = dir.path().join("ok.json");
    std::fs::write(&f, r#"{"gateway": {}}"#).unwrap();
    let out = std::process::Command::new(bin("openclaw"))
        .args(["gateway", "validate", f.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("valid"));
}
