//! A real `openclaw-control-plane` process on free loopback ports, and the CLI pointed at it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::{Child, bin, free_port, wait_for_port};

/// The admin token every sandboxed control plane requires.
pub const ADMIN_TOKEN: &str = "admin-token-for-tests";
/// The node token every sandboxed control plane requires.
pub const NODE_TOKEN: &str = "node-token-for-tests";

/// How to start a control plane.
#[derive(Clone, Default)]
pub struct CpOptions {
    /// A document stored as version 1.
    pub bootstrap: Option<serde_json::Value>,
    /// `(cert, key, client CA)` PEM file paths for TLS / mTLS.
    pub tls: Option<(PathBuf, PathBuf, Option<PathBuf>)>,
    /// More command-line arguments.
    pub args: Vec<String>,
}

/// A running control plane with its own data directory and logs.
pub struct ControlPlane {
    child: Option<Child>,
    /// gRPC address.
    pub grpc: SocketAddr,
    /// `/metrics` + `/health` address.
    pub metrics: SocketAddr,
    /// Working directory: `data/`, logs, bootstrap file.
    pub dir: PathBuf,
    opts: CpOptions,
}

// === impl ControlPlane ===

impl ControlPlane {
    /// Starts a control plane in `dir` and waits until it accepts connections.
    pub fn start(dir: &Path, opts: CpOptions) -> Self {
        let grpc: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let mut cp = Self {
            child: None,
            grpc,
            metrics,
            dir: dir.to_path_buf(),
            opts,
        };
        cp.spawn();
        cp
    }

    fn spawn(&mut self) {
        let mut args = vec![
            "--listen".to_string(),
            self.grpc.to_string(),
            "--metrics-listen".into(),
            self.metrics.to_string(),
            "--data-dir".into(),
            self.dir.join("data").display().to_string(),
        ];
        if let Some(doc) = &self.opts.bootstrap {
            let f = self.dir.join("bootstrap.json");
            std::fs::write(&f, doc.to_string()).expect("write bootstrap");
            args.extend(["--bootstrap".into(), f.display().to_string()]);
        }
        args.extend(self.opts.args.iter().cloned());
        if let Some((cert, key, ca)) = &self.opts.tls {
            args.extend([
                "--tls-cert".into(),
                cert.display().to_string(),
                "--tls-key".into(),
                key.display().to_string(),
            ]);
            if let Some(ca) = ca {
                args.extend(["--client-ca".into(), ca.display().to_string()]);
            }
        }
        let env = [
            ("OPENCLAW_ADMIN_TOKEN", ADMIN_TOKEN.to_string()),
            ("OPENCLAW_NODE_TOKEN", NODE_TOKEN.to_string()),
            // Empty: no config file at all (a named file must exist).
            ("OPENCLAW_GLOBAL_CONFIG", String::new()),
            ("OPENCLAW_USER_CONFIG", String::new()),
        ];
        self.child = Some(Child::spawn(
            "control-plane",
            &bin("openclaw-control-plane"),
            &args,
            &env,
            &self.dir,
        ));
        assert!(
            wait_for_port(self.grpc, Duration::from_secs(20)),
            "control plane did not start:\n{}",
            self.logs()
        );
    }

    /// The OS process id (0 when not running).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::pid)
    }

    /// The admin/discovery URL.
    pub fn url(&self) -> String {
        let scheme = if self.opts.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.grpc)
    }

    /// Kills the process with SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill();
        }
    }

    /// SIGTERM; the exit status if it stopped in time.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .take()
            .and_then(|mut c| c.terminate(Duration::from_secs(10)))
    }

    /// Starts it again on the same ports and data directory.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Its log so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.join("control-plane.log")).unwrap_or_default()
    }

    /// Runs `openclaw gateway --server … --token … <args>`.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_with_token(Some(ADMIN_TOKEN), args, None)
    }

    /// Runs the CLI with a chosen token and optional standard input.
    pub fn cli_with_token(
        &self,
        token: Option<&str>,
        args: &[&str],
        stdin: Option<&str>,
    ) -> Output {
        let mut cmd = Command::new(bin("openclaw"));
        cmd.arg("gateway").arg("--server").arg(self.url());
        if let Some(t) = token {
            cmd.arg("--token").arg(t);
        }
        cmd.args(args)
            .env_remove("OPENCLAW_TOKEN")
            .env_remove("OPENCLAW_SERVER");
        match stdin {
            None => cmd
                .stdin(std::process::Stdio::null())
                .output()
                .expect("run openclaw"),
            Some(input) => {
                use std::io::Write;
                cmd.stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped());
                let mut child = cmd.spawn().expect("run openclaw");
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(input.as_bytes())
                    .expect("write stdin");
                child.wait_with_output().expect("wait openclaw")
            }
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Stdout of a successful command parsed as JSON; panics with stderr otherwise.
pub fn json_ok(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "command failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}
