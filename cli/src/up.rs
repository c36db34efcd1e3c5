//! `openclaw up`: the whole gateway on one machine, in one process, on embedded defaults.
//!
//! It starts, in this order: three demo agents (chat, code, data), a control plane whose store is
//! bootstrapped from `up/bootstrap.json` when empty, and one data plane (node id `local`) managed by that
//! control plane. It waits until the data plane is ready, prints what runs and the commands to try, and
//! on Ctrl-C or SIGTERM stops the data plane first (it drains), then the control plane (it flushes its
//! store), then the agents. Everything listens on loopback and nothing asks for a token: it is for local
//! use only.

mod banner;
mod demo_agents;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use openclaw_config::layers::ConfigFlags;
use openclaw_control_plane::server::{ServerConfig, ServerError};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{oneshot, watch};

use self::demo_agents::DemoAgent;
use crate::output::Failure;

/// The embedded config stored as version 1 when the control plane's store is empty.
const BOOTSTRAP: &str = include_str!("up/bootstrap.json");
/// The seed's example API key; the bootstrap config accepts it (stored as its hash).
pub(crate) const EXAMPLE_KEY: &str = "sk-xxxxxxxxxxxx";
/// The node id of the data plane.
const NODE_ID: &str = "local";
/// How long startup may take before `up` gives up (a debug build on a busy machine needs most of it:
/// the data plane checks, then compiles, the first config, semantic model included).
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the data plane and the control plane get to stop.
const STOP_TIMEOUT: Duration = Duration::from_secs(35);

/// `openclaw up`.
#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    /// Where the data plane serves clients.
    #[arg(long, env = "OPENCLAW_UP_LISTEN", default_value = "127.0.0.1:8080")]
    pub(crate) listen: SocketAddr,
    /// The control plane's gRPC address (admin API and discovery).
    #[arg(
        long,
        env = "OPENCLAW_UP_CONTROL_PLANE_LISTEN",
        default_value = "127.0.0.1:18000"
    )]
    pub(crate) control_plane_listen: SocketAddr,
    /// The control plane's `/metrics` and `/health`.
    #[arg(
        long,
        env = "OPENCLAW_UP_CONTROL_PLANE_METRICS_LISTEN",
        default_value = "127.0.0.1:18001"
    )]
    pub(crate) control_plane_metrics_listen: SocketAddr,
    /// Ports of the chat, code and data demo agents on 127.0.0.1 (0 picks a free one).
    #[arg(
        long,
        env = "OPENCLAW_UP_AGENT_PORTS",
        value_delimiter = ',',
        default_value = "19001,19002,19003"
    )]
    pub(crate) agent_ports: Vec<u16>,
    /// Everything `up` keeps: the control plane's store in `control-plane/` (the demo config is
    /// stored only when it is empty, else `up` resumes it) and the data plane's state in `data-plane/`.
    #[arg(long, env = "OPENCLAW_UP_DATA_DIR", default_value = "./.openclaw")]
    pub(crate) data_dir: PathBuf,
    /// Start over: delete the stored versions and the data plane's state under --data-dir first.
    #[arg(long)]
    pub(crate) fresh: bool,
}

// === impl UpArgs ===

impl UpArgs {
    /// The control plane's sled store.
    pub(crate) fn store_dir(&self) -> PathBuf {
        self.data_dir.join("control-plane")
    }

    /// The data plane's saved snapshot.
    pub(crate) fn state_dir(&self) -> PathBuf {
        self.data_dir.join("data-plane")
    }
}

/// A listening address `up` needs, and how to change it.
struct Port {
    addr: SocketAddr,
    what: &'static str,
    flag: &'static str,
}

/// A component that ended.
enum Ended {
    Signal,
    ControlPlane(Result<(), String>),
    DataPlane(Result<(), String>),
    NotReady(String),
}

/// Runs `openclaw up` until a signal; `flags` are `--config.*` overrides for the data plane.
pub(crate) fn run(args: UpArgs, flags: ConfigFlags) -> Result<(), Failure> {
    if args.agent_ports.len() != 3 {
        return Err(Failure::usage(
            "--agent-ports takes three ports: chat,code,data",
        ));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("openclaw-up")
        .enable_all()
        .build()
        .map_err(|e| Failure::op(format!("cannot start the runtime: {e}")))?;
    rt.block_on(up(args, flags))
}

async fn up(args: UpArgs, flags: ConfigFlags) -> Result<(), Failure> {
    // Bind the agents first and check every other port, so a busy port is named before anything starts.
    let agent_ports = [
        ("chat demo agent", "--agent-ports"),
        ("code demo agent", "--agent-ports"),
        ("data demo agent", "--agent-ports"),
    ];
    let mut agent_listeners = Vec::new();
    for (port, (what, flag)) in args.agent_ports.iter().zip(agent_ports) {
        let p = Port {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), *port),
            what,
            flag,
        };
        agent_listeners.push(bind(&p).await?);
    }
    for p in [
        Port {
            addr: args.listen,
            what: "data plane",
            flag: "--listen",
        },
        Port {
            addr: args.control_plane_listen,
            what: "control plane gRPC",
            flag: "--control-plane-listen",
        },
        Port {
            addr: args.control_plane_metrics_listen,
            what: "control plane metrics",
            flag: "--control-plane-metrics-listen",
        },
    ] {
        drop(bind(&p).await?);
    }
    let mut agent_addrs = Vec::new();
    for l in &agent_listeners {
        agent_addrs.push(
            l.local_addr()
                .map_err(|e| Failure::op(format!("demo agent address: {e}")))?,
        );
    }

    let doc = bootstrap_document(&agent_addrs)?;
    if args.fresh {
        for dir in [args.store_dir(), args.state_dir()] {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => eprintln!("openclaw up: --fresh: removed {}", dir.display()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Failure::op(format!(
                        "--fresh: cannot remove {}: {e}",
                        dir.display()
                    )));
                }
            }
        }
    }
    let store_dir = args.store_dir();
    std::fs::create_dir_all(&store_dir)
        .map_err(|e| Failure::op(format!("cannot create {}: {e}", store_dir.display())))?;
    let bootstrap_file =
        std::env::temp_dir().join(format!("openclaw-up-bootstrap-{}.json", std::process::id()));
    std::fs::write(&bootstrap_file, doc.to_string())
        .map_err(|e| Failure::op(format!("cannot write {}: {e}", bootstrap_file.display())))?;
    let result = run_all(&args, flags, agent_listeners, &agent_addrs, &bootstrap_file).await;
    let _ = std::fs::remove_file(&bootstrap_file);
    result
}

async fn run_all(
    args: &UpArgs,
    flags: ConfigFlags,
    agent_listeners: Vec<tokio::net::TcpListener>,
    agent_addrs: &[SocketAddr],
    bootstrap_file: &Path,
) -> Result<(), Failure> {
    let (stop_agents, agents_stop_rx) = watch::channel(false);
    let mut agent_tasks = Vec::new();
    for (agent, listener) in DemoAgent::all().into_iter().zip(agent_listeners) {
        agent_tasks.push(tokio::spawn(agent.serve(listener, agents_stop_rx.clone())));
    }

    let (stop_cp, cp_stop_rx) = oneshot::channel::<()>();
    let cp_config = ServerConfig {
        listen: args.control_plane_listen,
        metrics_listen: args.control_plane_metrics_listen,
        max_message_size: openclaw_control_plane::server::DEFAULT_MAX_MESSAGE,
        data_dir: args.store_dir(),
        admin_token: None,
        node_token: None,
        bootstrap: Some(bootstrap_file.to_path_buf()),
        tls: None,
        local_flags: logging_flags(&flags),
    };
    let mut cp_task = tokio::spawn(openclaw_control_plane::server::run(cp_config, async {
        let _ = cp_stop_rx.await;
    }));

    // The data plane's first fetch backs off when the control plane is not there yet: wait for it.
    let cp_up = tokio::select! {
        up = wait_port(args.control_plane_listen) => up,
        r = &mut cp_task => Err(flatten_cp(r).err().unwrap_or_else(|| "stopped".into())),
    };
    if let Err(e) = cp_up {
        let _ = stop_agents.send(true);
        return Err(Failure::op(format!(
            "openclaw up: the control plane did not start: {e}"
        )));
    }

    let (stop_dp, dp_stop_rx) = oneshot::channel::<()>();
    let (dp_done_tx, mut dp_done) = oneshot::channel::<Result<(), String>>();
    let mut dp_flags = logging_flags(&flags);
    dp_flags.extend(flags);
    dp_flags.push((
        openclaw_config::Path::gateway().key("http").key("listen"),
        Value::String(args.listen.to_string()),
    ));
    let dp_thread = data_plane::start(
        data_plane::Settings {
            control_plane: format!("http://{}", args.control_plane_listen),
            node_id: NODE_ID.to_string(),
            state_dir: args.state_dir(),
            flags: dp_flags,
        },
        dp_stop_rx,
        dp_done_tx,
    )
    .map_err(|e| Failure::op(format!("cannot start the data plane: {e}")))?;

    // Wait until the data plane serves the first config (or something fails on the way).
    let ready = tokio::select! {
        r = wait_ready(args.listen) => r.map(|()| None),
        r = &mut cp_task => Ok(Some(Ended::ControlPlane(flatten_cp(r)))),
        r = &mut dp_done => Ok(Some(Ended::DataPlane(r.unwrap_or_else(|_| Err("the data plane thread died".into()))))),
    };
    let ended = match ready {
        Ok(None) => {
            banner::print(args, agent_addrs).await;
            tokio::select! {
                () = shutdown_signal() => Ended::Signal,
                r = &mut cp_task => Ended::ControlPlane(flatten_cp(r)),
                r = &mut dp_done => Ended::DataPlane(r.unwrap_or_else(|_| Err("the data plane thread died".into()))),
            }
        }
        Ok(Some(ended)) => ended,
        Err(e) => Ended::NotReady(e),
    };

    // Stop in dependency order: data plane (drains toward the agents), control plane, agents.
    let mut problems = Vec::new();
    match &ended {
        Ended::Signal => {
            eprintln!("openclaw up: stopping (data plane drains, then the control plane flushes)…")
        }
        Ended::ControlPlane(r) => problems.push(format!(
            "the control plane stopped: {}",
            r.as_ref().err().map_or("without an error", String::as_str)
        )),
        Ended::DataPlane(r) => problems.push(format!(
            "the data plane stopped: {}",
            r.as_ref().err().map_or("without an error", String::as_str)
        )),
        Ended::NotReady(e) => problems.push(e.clone()),
    }
    let _ = stop_dp.send(());
    let mut dp_stopped = matches!(ended, Ended::DataPlane(_));
    if !dp_stopped {
        match tokio::time::timeout(STOP_TIMEOUT, &mut dp_done).await {
            Ok(Ok(Ok(()))) => dp_stopped = true,
            Ok(Ok(Err(e))) => {
                dp_stopped = true;
                problems.push(format!("data plane: {e}"));
            }
            Ok(Err(_)) => problems.push("the data plane thread died".into()),
            // Still waiting for its first config (that wait does not watch for shutdown): leave it to
            // the process exit.
            Err(_) => problems.push("the data plane did not stop in time".into()),
        }
    }
    if dp_stopped {
        let _ = tokio::task::spawn_blocking(move || dp_thread.join()).await;
    }
    let _ = stop_cp.send(());
    if !matches!(ended, Ended::ControlPlane(_)) {
        match tokio::time::timeout(STOP_TIMEOUT, &mut cp_task).await {
            Ok(r) => {
                if let Err(e) = flatten_cp(r) {
                    problems.push(format!("control plane: {e}"));
                }
            }
            Err(_) => problems.push("the control plane did not stop in time".into()),
        }
    }
    let _ = stop_agents.send(true);
    for t in agent_tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    if problems.is_empty() {
        eprintln!("openclaw up: stopped");
        Ok(())
    } else {
        Err(Failure::op(format!("openclaw up: {}", problems.join("\n"))))
    }
}

/// Binds `p`, or says which port is taken and which flag moves it.
async fn bind(p: &Port) -> Result<tokio::net::TcpListener, Failure> {
    tokio::net::TcpListener::bind(p.addr).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            Failure::op(format!(
                "port {} is already in use ({} on {}); stop what uses it or pick another with {}",
                p.addr.port(),
                p.what,
                p.addr,
                p.flag
            ))
        } else {
            Failure::op(format!("cannot listen on {} ({}): {e}", p.addr, p.what))
        }
    })
}

/// The embedded bootstrap document with the demo agents' real addresses and the example key's hash.
fn bootstrap_document(agents: &[SocketAddr]) -> Result<Value, Failure> {
    let internal = |m: &str| Failure::op(format!("embedded bootstrap config: {m}"));
    let mut doc: Value = serde_json::from_str(BOOTSTRAP).map_err(|e| internal(&e.to_string()))?;
    let statics = doc
        .pointer_mut("/gateway/agents/discovery/static")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| internal("no agents.discovery.static"))?;
    for (agent, addr) in statics.iter_mut().zip(agents) {
        agent["endpoint"] = Value::String(format!("http://{addr}"));
    }
    let key = doc
        .pointer_mut("/gateway/auth/apiKeys/0")
        .ok_or_else(|| internal("no auth.apiKeys[0]"))?;
    key["keyHash"] = Value::String(openclaw_config::hash_api_key(EXAMPLE_KEY));
    openclaw_config::validate(&doc).map_err(|p| internal(&p.to_string()))?;
    Ok(doc)
}

/// Quiet text logs (warnings and errors) unless the user chose logging settings with `--config.logging.*`.
fn logging_flags(user: &ConfigFlags) -> ConfigFlags {
    let logging = openclaw_config::Path::gateway().key("logging");
    let mut out = ConfigFlags::new();
    for (key, value) in [("level", "warn"), ("format", "text")] {
        let path = logging.key(key);
        if !user
            .iter()
            .any(|(p, _)| p.starts_with(&path) || path.starts_with(p))
        {
            out.push((path, Value::String(value.into())));
        }
    }
    out
}

fn flatten_cp(r: Result<Result<(), ServerError>, tokio::task::JoinError>) -> Result<(), String> {
    match r {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!("control plane task: {e}")),
    }
}

/// Polls `GET /ready` on the data plane until it answers 200.
async fn wait_ready(listen: SocketAddr) -> Result<(), String> {
    let addr = loopback(listen);
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Ok(true)) =
            tokio::time::timeout(Duration::from_secs(1), get_is_ok(addr, "/ready")).await
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the data plane on {listen} was not ready after {}s",
                READY_TIMEOUT.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until something accepts connections on `listen`.
async fn wait_port(listen: SocketAddr) -> Result<(), String> {
    let addr = loopback(listen);
    let deadline = Instant::now() + READY_TIMEOUT;
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!(
        "nothing listens on {listen} after {}s",
        READY_TIMEOUT.as_secs()
    ))
}

/// `GET path` with HTTP/1.1; true when the status is 200.
async fn get_is_ok(addr: SocketAddr, path: &str) -> std::io::Result<bool> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).await?;
    Ok(&head[9..12] == b"200")
}

/// The address to connect to for a listen address (`0.0.0.0` → `127.0.0.1`).
pub(crate) fn loopback(listen: SocketAddr) -> SocketAddr {
    if listen.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), listen.port())
    } else {
        listen
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// The data plane runs on its own thread with its own runtime (`run_node` blocks).
mod data_plane {
    use std::path::PathBuf;
    use std::thread::JoinHandle;

    use openclaw_config::Sources;
    use openclaw_config::layers::ConfigFlags;
    use openclaw_data_plane::{ManagedOptions, NodeOptions};
    use tokio::sync::oneshot;

    /// What the data plane of `up` needs.
    pub(super) struct Settings {
        pub(super) control_plane: String,
        pub(super) node_id: String,
        pub(super) state_dir: PathBuf,
        pub(super) flags: ConfigFlags,
    }

    /// Starts the node on a thread; it stops when `stop` fires (or its sender is dropped) and reports
    /// its result on `done`.
    pub(super) fn start(
        s: Settings,
        stop: oneshot::Receiver<()>,
        done: oneshot::Sender<Result<(), String>>,
    ) -> std::io::Result<JoinHandle<()>> {
        let opts = NodeOptions {
            managed: Some(ManagedOptions {
                address: s.control_plane,
                node_id: s.node_id,
                state_dir: Some(s.state_dir),
                ..ManagedOptions::default()
            }),
            sources: Sources::from_process(s.flags),
        };
        std::thread::Builder::new()
            .name("openclaw-data-plane".into())
            .spawn(move || {
                let result = openclaw_data_plane::run_node(opts, async {
                    let _ = stop.await;
                });
                let _ = done.send(result.map_err(|e| e.to_string()));
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_bootstrap_is_valid_and_accepts_the_example_key() {
        let agents: Vec<SocketAddr> = ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]
            .iter()
            .map(|a| a.parse().unwrap_or_else(|_| unreachable!()))
            .collect();
        let doc = bootstrap_document(&agents).unwrap_or_else(|f| panic!("{f:?}"));
        assert_eq!(
            doc.pointer("/gateway/agents/discovery/static/1/endpoint"),
            Some(&Value::String("http://127.0.0.1:2".into()))
        );
        assert_eq!(
            doc.pointer("/gateway/auth/apiKeys/0/keyHash"),
            Some(&Value::String(openclaw_config::hash_api_key(EXAMPLE_KEY)))
        );
        assert_eq!(
            doc.pointer("/gateway/routing/rules/0/match/pattern"),
            Some(&Value::String("/api/v1/chat".into())),
            "the printed config.patch example edits rules[0]"
        );
    }
}
