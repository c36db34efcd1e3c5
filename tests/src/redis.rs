//! A real `redis-server` for the tests: on a free loopback port, with a password, in its own temp
//! dir, with no persistence; killed on drop. [`RedisServer::kill`] and [`RedisServer::restart`]
//! stop it and bring it back on the same port, for tests of a Redis that goes away mid-test.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use crate::process::{Child, free_port, wait_until};

/// A running `redis-server` (from `PATH`; `.ci/run` installs the Debian package when missing).
pub struct RedisServer {
    port: u16,
    password: String,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

// === impl RedisServer ===

impl RedisServer {
    /// Starts a server with a random password; returns once it answers `PING`.
    pub fn start() -> Self {
        let password = format!(
            "pw-{:016x}",
            std::hash::BuildHasher::hash_one(
                &std::collections::hash_map::RandomState::new(),
                std::process::id()
            )
        );
        let mut r = Self {
            port: free_port(),
            password,
            dir: tempfile::tempdir().expect("redis temp dir"),
            child: None,
        };
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        let args: Vec<String> = [
            "--port",
            &self.port.to_string(),
            "--bind",
            "127.0.0.1",
            "--requirepass",
            &self.password,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            &self.dir.path().display().to_string(),
            "--daemonize",
            "no",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        self.child = Some(Child::spawn(
            "redis",
            Path::new("redis-server"),
            &args,
            &[],
            self.dir.path(),
        ));
        wait_until("redis-server answers PING", Duration::from_secs(10), || {
            self.command(&["PING"]).is_ok_and(|r| r == "+PONG")
        });
    }

    /// The port it listens on (the same across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT` (no password in it).
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The password it requires.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// Kills it (SIGKILL): its data is gone.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill();
        }
    }

    /// Starts it again on the same port after [`RedisServer::kill`].
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Runs one command after `AUTH` on a fresh connection; the first line of the reply
    /// (`+PONG`, `:3`, `$5` …).
    pub fn command(&self, args: &[&str]) -> std::io::Result<String> {
        let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
        let stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        let mut w = stream.try_clone()?;
        let mut out = Vec::new();
        for cmd in [&["AUTH", self.password.as_str()][..], args] {
            out.extend(format!("*{}\r\n", cmd.len()).into_bytes());
            for a in cmd {
                out.extend(format!("${}\r\n{a}\r\n", a.len()).into_bytes());
            }
        }
        w.write_all(&out)?;
        let mut r = BufReader::new(stream);
        let mut line = String::new();
        r.read_line(&mut line)?;
        if line.trim_end() != "+OK" {
            return Err(std::io::Error::other(format!("AUTH: {line}")));
        }
        line.clear();
        r.read_line(&mut line)?;
        Ok(line.trim_end().to_string())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
