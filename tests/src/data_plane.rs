//! A real `openclaw-data-plane` process on a free loopback port, standalone or managed by a
//! [`ControlPlane`], and a tiny blocking HTTP/1.1 client to talk to it.
//!
//! The client speaks just enough HTTP/1.1 (Content-Length and chunked bodies, keep-alive) to drive the
//! proxy and to watch a streamed body arrive piece by piece, without pulling a client crate into the
//! sandbox.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{Child, ControlPlane, NODE_TOKEN, bin, free_port, wait_for_port};

/// How long a data plane may take to listen and get ready: a debug build loading the semantic model
/// while other test binaries run beside it (a loaded 2-core CI machine) has taken over 20 s.
const START: Duration = Duration::from_secs(60);
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// How to start a data plane; finish with [`start`](Self::start) or [`start_unready`](Self::start_unready).
pub struct DataPlaneBuilder {
    dir: PathBuf,
    name: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    user_config: PathBuf,
    standalone: bool,
}

/// A running data plane with its logs in `dir/<name>.log`.
pub struct DataPlane {
    child: Option<Child>,
    /// The main listener.
    pub addr: SocketAddr,
    /// Working directory: user config, logs.
    pub dir: PathBuf,
    name: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    user_config: PathBuf,
    standalone: bool,
    wait_ready: bool,
}

/// A response read by [`http_request`] or [`HttpConn`].
#[derive(Clone, Debug)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header names (lower case) and values, in the order received.
    pub headers: Vec<(String, String)>,
    /// The whole body, de-chunked.
    pub body: Vec<u8>,
}

/// One client connection, reused for sequential requests (keep-alive).
pub struct HttpConn {
    reader: BufReader<TcpStream>,
    host: String,
    framing: Framing,
}

enum Framing {
    Chunked { left: usize, done: bool },
    Length(usize),
    UntilClose,
}

// === impl DataPlaneBuilder ===

impl DataPlaneBuilder {
    fn new(dir: &Path, name: &str, user_config: PathBuf, standalone: bool) -> Self {
        Self {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            args: Vec::new(),
            env: Vec::new(),
            user_config,
            standalone,
        }
    }

    /// Adds a command-line argument.
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    /// Sets an environment variable for the process.
    pub fn env(mut self, k: &str, v: impl Into<String>) -> Self {
        self.env.push((k.to_string(), v.into()));
        self
    }

    /// Adds `--label k=v`.
    pub fn label(self, k: &str, v: &str) -> Self {
        self.arg("--label").arg(format!("{k}={v}"))
    }

    /// Adds `--state-dir DIR`.
    pub fn state_dir(self, d: &Path) -> Self {
        self.arg("--state-dir").arg(d.display().to_string())
    }

    /// Starts it and waits until `/ready` answers 200.
    pub fn start(self) -> DataPlane {
        self.launch(true)
    }

    /// Starts it and waits only until it accepts connections.
    pub fn start_unready(self) -> DataPlane {
        self.launch(false)
    }

    fn launch(self, wait_ready: bool) -> DataPlane {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let mut args = self.args;
        args.push(format!("--config.http.listen={addr}"));
        let mut dp = DataPlane {
            child: None,
            addr,
            dir: self.dir,
            name: self.name,
            args,
            env: self.env,
            user_config: self.user_config,
            standalone: self.standalone,
            wait_ready,
        };
        dp.spawn();
        dp
    }
}

// === impl DataPlane ===

impl DataPlane {
    /// A standalone data plane serving `config` (written to `dir/user.json`); waits for `/ready`.
    pub fn standalone(dir: &Path, config: Value) -> Self {
        Self::standalone_builder(dir, config).start()
    }

    /// A standalone data plane, configured further before it starts.
    pub fn standalone_builder(dir: &Path, config: Value) -> DataPlaneBuilder {
        let user = dir.join("user.json");
        std::fs::write(&user, config.to_string()).expect("write user.json");
        DataPlaneBuilder::new(dir, "data-plane", user, true)
    }

    /// A data plane managed by `cp` as `node_id`; waits for `/ready`.
    pub fn managed(
        dir: &Path,
        cp: &ControlPlane,
        node_id: &str,
        labels: &[(&str, &str)],
        state_dir: Option<&Path>,
    ) -> Self {
        Self::managed_builder(dir, cp, node_id, labels, state_dir).start()
    }

    /// A managed data plane, configured further before it starts.
    pub fn managed_builder(
        dir: &Path,
        cp: &ControlPlane,
        node_id: &str,
        labels: &[(&str, &str)],
        state_dir: Option<&Path>,
    ) -> DataPlaneBuilder {
        // No user file (an empty OPENCLAW_USER_CONFIG): a managed node takes its config centrally.
        let mut b =
            DataPlaneBuilder::new(dir, &format!("data-plane-{node_id}"), PathBuf::new(), false)
                .arg("--control-plane")
                .arg(cp.url())
                .arg("--node-id")
                .arg(node_id)
                .env("OPENCLAW_NODE_TOKEN", NODE_TOKEN);
        for (k, v) in labels {
            b = b.label(k, v);
        }
        if let Some(d) = state_dir {
            b = b.state_dir(d);
        }
        b
    }

    fn spawn(&mut self) {
        let mut env: Vec<(&str, String)> = vec![
            ("OPENCLAW_GLOBAL_CONFIG", String::new()),
            (
                "OPENCLAW_USER_CONFIG",
                self.user_config.display().to_string(),
            ),
        ];
        env.extend(self.env.iter().map(|(k, v)| (k.as_str(), v.clone())));
        self.child = Some(Child::spawn(
            &self.name,
            &bin("openclaw-data-plane"),
            &self.args,
            &env,
            &self.dir,
        ));
        assert!(
            wait_for_port(self.addr, START),
            "data plane did not listen on {}:\n{}",
            self.addr,
            self.logs()
        );
        if self.wait_ready {
            self.wait_ready(START);
        }
    }

    /// Polls `/ready` until it answers 200; panics with the logs after `timeout`.
    pub fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let last = self.try_get("/ready").map(|r| r.status);
            if last == Some(200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "data plane never became ready (last /ready: {last:?}):\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The OS process id (0 when not running).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::pid)
    }

    /// `GET path` on the main listener.
    pub fn get(&self, path: &str) -> HttpResponse {
        self.request("GET", path, &[], b"")
    }

    /// Any request on the main listener (one connection, `Connection: close`).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        http_request(method, &format!("{}{path}", self.url()), headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.logs()))
    }

    fn try_get(&self, path: &str) -> Option<HttpResponse> {
        http_request("GET", &format!("{}{path}", self.url()), &[], b"").ok()
    }

    /// `GET /health` parsed as JSON.
    pub fn health(&self) -> Value {
        let r = self.get("/health");
        assert_eq!(r.status, 200, "/health: {}", r.text());
        r.json()
    }

    /// `GET /metrics` as text.
    pub fn metrics(&self) -> String {
        let r = self.get("/metrics");
        assert_eq!(r.status, 200, "/metrics: {}", r.text());
        r.text()
    }

    /// Stops it (SIGTERM, then SIGKILL) and starts it again on the same port with the same settings.
    pub fn restart(&mut self) {
        self.terminate();
        self.kill();
        self.spawn();
    }

    /// Kills it with SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill();
        }
    }

    /// SIGTERM; the exit status if it stopped within 10 s.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let st = c.terminate(Duration::from_secs(10));
        if st.is_none() {
            self.child = Some(c);
        }
        st
    }

    /// Its log so far (every run appends to the same file).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("{}.log", self.name))).unwrap_or_default()
    }

    /// Standalone: replaces `user.json` with `config` atomically (temp file + rename).
    pub fn rewrite_config(&self, config: Value) {
        self.rewrite_config_raw(&config.to_string());
    }

    /// Standalone: replaces `user.json` with `text` atomically, even when it is not valid JSON.
    pub fn rewrite_config_raw(&self, text: &str) {
        assert!(
            self.standalone,
            "only a standalone data plane reads user.json"
        );
        let tmp = self.user_config.with_extension("json.tmp");
        std::fs::write(&tmp, text).expect("write temp config");
        std::fs::rename(&tmp, &self.user_config).expect("rename config");
    }
}

impl Drop for DataPlane {
    fn drop(&mut self) {
        self.kill();
    }
}

// === impl HttpResponse ===

impl HttpResponse {
    /// The agent that answered a proxied 200 (`x-agent-id`); panics with the response otherwise.
    pub fn served_by(&self) -> String {
        assert_eq!(
            self.status,
            200,
            "expected a proxied 200, got: {} {}",
            self.status,
            self.text()
        );
        self.agent()
            .unwrap_or_else(|| panic!("no x-agent-id: {:?} {}", self.headers, self.text()))
            .to_string()
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `x-agent-id` header: which test agent answered.
    pub fn agent(&self) -> Option<&str> {
        self.header("x-agent-id")
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}), status {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// One request on a fresh connection: `url` is `http://host:port/path?query`; the client sends
/// `Connection: close` unless `headers` has its own `Connection`.
pub fn http_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<HttpResponse> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| std::io::Error::other(format!("not an http:// URL: {url}")))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr: SocketAddr = authority
        .parse()
        .map_err(|e| std::io::Error::other(format!("{authority}: {e}")))?;
    let mut conn = HttpConn::connect(addr)?;
    let mut hs: Vec<(&str, &str)> = headers.to_vec();
    if !hs.iter().any(|(k, _)| k.eq_ignore_ascii_case("connection")) {
        hs.push(("Connection", "close"));
    }
    conn.request(method, path, &hs, body)
}

// === impl HttpConn ===

impl HttpConn {
    /// Opens a connection.
    pub fn connect(addr: SocketAddr) -> std::io::Result<HttpConn> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let _ = stream.set_nodelay(true);
        Ok(HttpConn {
            reader: BufReader::new(stream),
            host: addr.to_string(),
            framing: Framing::Length(0),
        })
    }

    /// The socket, for writing raw bytes (a request sent piece by piece).
    pub fn raw(&self) -> TcpStream {
        self.reader.get_ref().try_clone().expect("clone socket")
    }

    /// True when the server closes the connection within `wait` (end of stream); false when it stays
    /// open (or sends something).
    pub fn closed_within(&mut self, wait: Duration) -> bool {
        use std::io::BufRead;
        let stream = self.reader.get_ref();
        if stream.set_read_timeout(Some(wait)).is_err() {
            return false;
        }
        let closed = match self.reader.fill_buf() {
            Ok(buf) => buf.is_empty(),
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        };
        let _ = self.reader.get_ref().set_read_timeout(Some(IO_TIMEOUT));
        closed
    }

    /// Sends a request and reads the whole response.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<HttpResponse> {
        self.send(method, path, headers, body)?;
        let (status, headers) = self.read_head()?;
        let mut all = Vec::new();
        while let Some(chunk) = self.read_chunk()? {
            all.extend_from_slice(&chunk);
        }
        Ok(HttpResponse {
            status,
            headers,
            body: all,
        })
    }

    /// Writes a request; `Host` and `Content-Length` are added.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<()> {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.host);
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() || !matches!(method, "GET" | "HEAD" | "DELETE" | "OPTIONS") {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.reader.get_mut().write_all(&bytes)?;
        self.reader.get_mut().flush()
    }

    /// Reads the status line and headers of the response to the request just sent.
    pub fn read_head(&mut self) -> std::io::Result<(u16, Vec<(String, String)>)> {
        loop {
            let line = self.line()?;
            let status: u16 = line
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| std::io::Error::other(format!("bad status line: {line:?}")))?;
            let mut headers = Vec::new();
            loop {
                let h = self.line()?;
                if h.is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
            }
            if (100..200).contains(&status) {
                continue;
            }
            let find = |n: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| v.to_ascii_lowercase())
            };
            self.framing = if status == 204 || status == 304 {
                Framing::Length(0)
            } else if find("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
                Framing::Chunked {
                    left: 0,
                    done: false,
                }
            } else if let Some(n) = find("content-length") {
                Framing::Length(n.parse().map_err(std::io::Error::other)?)
            } else {
                Framing::UntilClose
            };
            return Ok((status, headers));
        }
    }

    /// The next piece of the body as it arrives; `None` at its end.
    pub fn read_chunk(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        match &mut self.framing {
            Framing::Length(0) => Ok(None),
            Framing::Length(left) => {
                let mut buf = vec![0; (*left).min(16 * 1024)];
                let n = self.reader.read(&mut buf)?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                *left -= n;
                buf.truncate(n);
                Ok(Some(buf))
            }
            Framing::UntilClose => {
                let mut buf = vec![0; 16 * 1024];
                let n = self.reader.read(&mut buf)?;
                buf.truncate(n);
                Ok((n > 0).then_some(buf))
            }
            Framing::Chunked { done: true, .. } => Ok(None),
            Framing::Chunked { left: 0, .. } => {
                let size_line = self.line()?;
                let size =
                    usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                        .map_err(|e| {
                            std::io::Error::other(format!("chunk size {size_line:?}: {e}"))
                        })?;
                if size == 0 {
                    while !self.line()?.is_empty() {}
                    self.framing = Framing::Chunked {
                        left: 0,
                        done: true,
                    };
                    return Ok(None);
                }
                self.framing = Framing::Chunked {
                    left: size,
                    done: false,
                };
                self.read_chunk()
            }
            Framing::Chunked { left, .. } => {
                let mut buf = vec![0; (*left).min(16 * 1024)];
                let n = self.reader.read(&mut buf)?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                *left -= n;
                if *left == 0 {
                    self.line()?;
                }
                buf.truncate(n);
                Ok(Some(buf))
            }
        }
    }

    fn line(&mut self) -> std::io::Result<String> {
        let mut s = String::new();
        if self.reader.read_line(&mut s)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(s.trim_end_matches(['\r', '\n']).to_string())
    }
}
