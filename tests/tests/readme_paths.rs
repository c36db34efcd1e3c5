//! The README stays true about the repository: every repository path it names exists.

#![allow(clippy::unwrap_used)] // Test helpers may panic: a panic is a test failure.

use std::path::Path;

/// Top-level names a repository path in the README starts with (and `shared/`, which is not in the
/// repository, so naming it is caught too).
const ROOTS: &[&str] = &[
    "proto",
    "config",
    "control-plane",
    "data-plane",
    "cli",
    "tests",
    "bench",
    "tools",
    "docker",
    "docs",
    ".ci",
    "shared",
    "target",
];

/// Every `code span` of `text` that reads as a path inside the repository.
fn repository_paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, span) in text.split('`').enumerate() {
        if i % 2 == 0 || span.contains(char::is_whitespace) || !span.contains('/') {
            continue;
        }
        let first = span.split('/').next().unwrap_or_default();
        if ROOTS.contains(&first) && !span.contains(['<', '{', '=', ':']) {
            out.push(span.trim_end_matches('/').to_string());
        }
    }
    out
}

#[test]
fn every_repository_path_the_readme_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let paths = repository_paths(&readme);
    assert!(paths.len() > 10, "found too few paths to check: {paths:?}");
    let missing: Vec<&String> = paths
        .iter()
        // Build outputs are made by the commands the README gives, not kept in the repository.
        .filter(|p| !p.starts_with("target/"))
        .filter(|p| {
            // `config/src/schema/*.rs`: the directory must exist and hold such files.
            match p.split_once('*') {
                Some((dir, ext)) => std::fs::read_dir(root.join(dir))
                    .map(|entries| {
                        !entries
                            .flatten()
                            .any(|e| e.file_name().to_string_lossy().ends_with(ext))
                    })
                    .unwrap_or(true),
                None => !root.join(p).exists(),
            }
        })
        .collect();
    assert!(
        missing.is_empty(),
        "README.md names paths that do not exist: {missing:?}"
    );
}

#[test]
fn the_path_finder_sees_what_a_reader_sees() {
    let found = repository_paths(
        "see `shared/research/x.md`, `data-plane/src/proxy/h1_server`, `cli/`, `a b/c`, `http://x/y`, `--config.http.listen=0.0.0.0:9090`",
    );
    assert_eq!(
        found,
        [
            "shared/research/x.md",
            "data-plane/src/proxy/h1_server",
            "cli"
        ]
    );
}
