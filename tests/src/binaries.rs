//! The workspace's binaries, built once per test run with the same profile and the same features as
//! the tests.
//!
//! `CARGO_BIN_EXE_*` names only the binaries of the test's own package, so the binaries of the other
//! crates are built here with `cargo build --workspace --bins --tests`. `--tests` matters: cargo turns
//! on the features that dev-dependencies ask for (tokio's `test-util`, say) only when test targets are
//! part of the build, so a plain `--bins` build resolved different features from `cargo test
//! --workspace`, and the two kept recompiling the workspace (and the build scripts they share) for
//! each other. With `--tests` both builds resolve the same features and the same units: after
//! `cargo test --workspace` this build finds everything fresh but the three binaries themselves.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The path of a workspace binary (`openclaw`, `openclaw-control-plane`, `openclaw-data-plane`).
///
/// The first call runs `cargo build --workspace --bins --tests` (a no-op when up to date), so a plain
/// `cargo test --workspace` exercises binaries built from the code under test.
pub fn bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = BUILT
        .get_or_init(build)
        .as_ref()
        .unwrap_or_else(|e| panic!("{e}"));
    dir.join(name)
}

fn build() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // target/<profile>/deps/<test-binary>, or target/<profile>/<bench-binary>
    let parent = exe.parent().ok_or("cannot locate the target directory")?;
    let profile_dir = if parent.file_name().is_some_and(|n| n == "deps") {
        parent
            .parent()
            .ok_or("cannot locate the target directory")?
            .to_path_buf()
    } else {
        parent.to_path_buf()
    };
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--workspace",
        "--bins",
        "--tests",
        "--locked",
        "--quiet",
        "--manifest-path",
        manifest,
    ]);
    if release {
        cmd.arg("--release");
    }
    if let Some(target_dir) = profile_dir.parent() {
        cmd.env("CARGO_TARGET_DIR", target_dir);
    }
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run cargo build: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build --bins failed: {status}"));
    }
    Ok(profile_dir)
}
