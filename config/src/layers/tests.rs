use serde_json::json;

use super::*;

fn write(dir: &std::path::Path, name: &str, doc: Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, doc.to_string()).unwrap();
    p
}

fn listen_of(s: &Sources) -> (Value, Layer) {
    let l = load(s).unwrap();
    let path = Path::parse_relative("http.listen").unwrap();
    (path.lookup(&l.effective).unwrap().clone(), l.origins[&path])
}

/// One key set in every layer; removing the layers from the top down uncovers each in turn.
#[test]
fn precedence_layer_by_layer() {
    let dir = std::env::temp_dir().join(format!("openclaw-layers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let global = write(
        &dir,
        "global.json",
        json!({"gateway": {"http": {"listen": "0.0.0.0:2"}}}),
    );
    let user = write(
        &dir,
        "user.json",
        json!({"gateway": {"http": {"listen": "0.0.0.0:3"}}}),
    );
    let mut s = Sources {
        snapshot: Some(json!({"gateway": {"http": {"listen": "0.0.0.0:1"}}})),
        global_file: Some(global),
        user_file: Some(user),
        env: vec![("OPENCLAW_HTTP__LISTEN".into(), "0.0.0.0:4".into())],
        flags: vec![(
            Path::parse_relative("http.listen").unwrap(),
            json!("0.0.0.0:5"),
        )],
        explicit: Vec::new(),
    };
    assert_eq!(listen_of(&s), (json!("0.0.0.0:5"), Layer::Flag));
    s.flags.clear();
    assert_eq!(listen_of(&s), (json!("0.0.0.0:4"), Layer::Env));
    s.env.clear();
    assert_eq!(listen_of(&s), (json!("0.0.0.0:3"), Layer::User));
    s.user_file = None;
    assert_eq!(listen_of(&s), (json!("0.0.0.0:2"), Layer::Global));
    s.global_file = Some(dir.join("missing.json"));
    assert_eq!(listen_of(&s), (json!("0.0.0.0:1"), Layer::ControlPlane));
    s.snapshot = None;
    assert_eq!(listen_of(&s), (json!("0.0.0.0:8080"), Layer::Default));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn layers_merge_key_by_key_and_arrays_replace() {
    let l = merge_layers(vec![
        (Layer::Default, defaults()),
        (
            Layer::ControlPlane,
            json!({"gateway": {"http": {"cors": {"allowedOrigins": ["https://a", "https://b"]}, "rateLimit": {"burst": 7}}}}),
        ),
        (
            Layer::Env,
            json!({"gateway": {"http": {"cors": {"allowedOrigins": ["https://c"]}}}}),
        ),
    ]);
    let g = &l.effective["gateway"]["http"];
    assert_eq!(g["cors"]["allowedOrigins"], json!(["https://c"]));
    assert_eq!(g["rateLimit"]["burst"], 7);
    assert_eq!(g["rateLimit"]["requestsPerMinute"], 600);
    assert_eq!(
        l.local_overrides(),
        vec!["gateway.http.cors.allowedOrigins".to_string()]
    );
    assert_eq!(
        l.origin_of(&Path::parse_relative("http").unwrap()),
        Some(Layer::Env)
    );
}

#[test]
fn env_values_are_json_or_strings() {
    let env = vec![
        (
            "OPENCLAW_HTTP__RATE_LIMIT__BURST".to_string(),
            "200".to_string(),
        ),
        (
            "OPENCLAW_HTTP__LISTEN".to_string(),
            "127.0.0.1:9".to_string(),
        ),
        (
            "OPENCLAW_HTTP__CORS__ALLOWED_ORIGINS".to_string(),
            "[\"https://x\"]".to_string(),
        ),
        ("OPENCLAW_ADMIN_TOKEN".to_string(), "not-a-key".to_string()),
    ];
    let doc = env_layer(&env).unwrap();
    assert_eq!(
        doc,
        json!({"gateway": {"http": {"rateLimit": {"burst": 200}, "listen": "127.0.0.1:9", "cors": {"allowedOrigins": ["https://x"]}}}})
    );
}

#[test]
fn config_flags_are_split_out() {
    let args = [
        "openclaw",
        "--config.http.listen=0.0.0.0:9090",
        "gateway",
        "--config.performance.workerThreads",
        "4",
        "x",
    ];
    let (rest, flags) = extract_config_flags(args.iter().map(|s| s.to_string()).collect()).unwrap();
    assert_eq!(rest, ["openclaw", "gateway", "x"]);
    assert_eq!(
        flags[0],
        (
            Path::parse_relative("http.listen").unwrap(),
            json!("0.0.0.0:9090")
        )
    );
    assert_eq!(
        flags[1],
        (
            Path::parse_relative("performance.workerThreads").unwrap(),
            json!(4)
        )
    );
    assert!(extract_config_flags(vec!["--config.routing.rules[0].target=x".into()]).is_err());
    assert!(extract_config_flags(vec!["--config.http.listen".into()]).is_err());
}

#[test]
fn bad_files_name_the_file() {
    let dir = std::env::temp_dir().join(format!("openclaw-badfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("g.json");
    std::fs::write(&f, "{ not json").unwrap();
    let err = load(&Sources {
        global_file: Some(f.clone()),
        ..Sources::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with(&format!("{}: not a valid JSON document", f.display())),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_file_named_by_a_variable_must_exist_and_an_empty_variable_means_none() {
    let dir = std::env::temp_dir().join(format!("openclaw-explicit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("missing.json");
    let env = vec![
        (
            "OPENCLAW_USER_CONFIG".to_string(),
            missing.display().to_string(),
        ),
        ("OPENCLAW_GLOBAL_CONFIG".to_string(), String::new()),
        ("HOME".to_string(), dir.display().to_string()),
    ];
    let s = Sources::from_env(env, Vec::new());
    assert_eq!(s.global_file, None);
    let err = load(&s).unwrap_err().to_string();
    assert!(
        err.contains(&missing.display().to_string()) && err.contains("OPENCLAW_USER_CONFIG"),
        "{err}"
    );
    // The standard path may be absent.
    let env = vec![
        ("OPENCLAW_GLOBAL_CONFIG".to_string(), String::new()),
        ("HOME".to_string(), dir.display().to_string()),
    ];
    assert!(load(&Sources::from_env(env, Vec::new())).is_ok());
    std::fs::remove_dir_all(dir).unwrap();
}
