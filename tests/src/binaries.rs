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
//!
//! The other half: cargo runs each test with `CARGO_MANIFEST_DIR`, `CARGO_PKG_NAME` and friends set to
//! the test's package, and build scripts that watch those variables (`ring`'s, through `cc`, does:
//! `rerun-if-env-changed=CARGO_PKG_NAME`) would see them change between a `cargo test` started from a
//! shell and this build started from a test, and rerun, recompiling everything above them (rustls,
//! tonic, the workspace) on every run. The build here runs without the variables cargo sets for tests.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// Variables cargo sets for the tests it runs (besides `CARGO_PKG_*` and `CARGO_BIN_EXE_*`), which a
/// cargo started from a shell does not have.
const SET_FOR_TESTS: &[&str] = &[
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_MANIFEST_LINKS",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
    "OUT_DIR",
];

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
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if SET_FOR_TESTS.contains(&name.as_ref())
            || name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_BIN_EXE_")
        {
            cmd.env_remove(name.as_ref());
        }
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
