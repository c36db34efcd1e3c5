//! A data-plane node from start to stop: local layers → first config (from the control plane, its saved
//! copy, or local files) → a runtime sized by that config → listener, config follower, drain.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use openclaw_config::{Layered, Sources};

use crate::discovery::TlsConfig;
use crate::logging::LogHandle;
use crate::state::{Boot, Shared};
use crate::{boot, managed, proxy, standalone};

/// How a node is told to run.
#[derive(Clone, Debug, Default)]
pub struct NodeOptions {
    /// Follow this control plane; `None` is standalone mode.
    pub managed: Option<ManagedOptions>,
    /// The node-local layers (files, environment, flags); `snapshot` is ignored.
    pub sources: Sources,
}

/// The link to a control plane.
#[derive(Clone, Debug, Default)]
pub struct ManagedOptions {
    /// Its gRPC URL.
    pub address: String,
    /// This node's id.
    pub node_id: String,
    /// This node's labels.
    pub labels: BTreeMap<String, String>,
    /// The node token.
    pub token: Option<String>,
    /// TLS towards the control plane.
    pub tls: Option<TlsConfig>,
    /// Where the last applied snapshot is kept.
    pub state_dir: Option<PathBuf>,
    /// The largest discovery response taken, in bytes (`None`: 64 MiB).
    pub max_message_size: Option<usize>,
}

/// Why a node could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The local config (or the first config) is unusable.
    #[error("config: {0}")]
    Config(String),
    /// The runtime could not be built.
    #[error("runtime: {0}")]
    Runtime(std::io::Error),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The control plane settings are unusable.
    #[error("control plane: {0}")]
    ControlPlane(String),
}

/// Runs a node until `shutdown` completes; blocking (it builds its own runtime).
pub fn run_node(
    opts: NodeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), NodeError> {
    let local = openclaw_config::layers::load(&Sources {
        snapshot: None,
        ..opts.sources.clone()
    })
    .map_err(|e| NodeError::Config(e.to_string()))?;
    // Standalone, the local layers are the whole config: every problem is reported at once, as
    // `openclaw gateway validate` lists them. Managed, they only need to parse here; the merged
    // document is validated when each snapshot applies (and a broken local layer still gets every
    // problem listed).
    let env = |name: &str| std::env::var(name).ok();
    let local_doc = match &opts.managed {
        None => openclaw_config::validate_with_env(&local.effective, &env),
        Some(_) => openclaw_config::parse(&local.effective).map_err(|p| {
            openclaw_config::validate_with_env(&local.effective, &env)
                .err()
                .unwrap_or(p)
        }),
    }
    .map_err(|p| NodeError::Config(format!("invalid local config:\n{p}")))?;
    let log = LogHandle::init(
        local_doc.gateway.logging.level,
        local_doc.gateway.logging.format,
    );

    let mut pre_bound = None;
    let first = match &opts.managed {
        Some(m) => {
            // Listen on the locally known address at once, answering "not ready" until a config applies.
            let g = &local_doc.gateway;
            let early = boot::bind(&g.http.listen).map_err(|source| NodeError::Listen {
                addr: g.http.listen.clone(),
                source,
            })?;
            let first = managed::first_snapshot(
                m,
                &opts.sources,
                Some((&early, g.monitoring.health_check.path.clone())),
            )?;
            pre_bound = Some((g.http.listen.clone(), early));
            first
        }
        None => standalone::first(&opts.sources)?,
    };
    let gateway = openclaw_config::parse(&first.layered.effective)
        .map_err(|p| NodeError::Config(p.to_string()))?
        .gateway;
    let boot = Boot {
        listen: gateway.http.listen.clone(),
        worker_threads: gateway.performance.worker_threads,
    };

    // One worker means one thread: a current-thread runtime avoids the work-stealing machinery.
    let mut rt = match boot.worker_threads {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    rt.enable_all().thread_name("openclaw-worker");
    if let Some(n) = boot.worker_threads.filter(|n| *n > 1) {
        rt.worker_threads(n as usize);
    }
    let rt = rt.build().map_err(NodeError::Runtime)?;
    // The early socket serves on if the applied config still listens where the local layers said.
    let pre_bound = pre_bound
        .filter(|(addr, _)| *addr == boot.listen)
        .map(|(_, l)| l);
    rt.block_on(serve(opts, first, boot, gateway, log, pre_bound, shutdown))
}

/// The first config a node serves.
pub(crate) struct First {
    /// Its layers merged.
    pub(crate) layered: Layered,
    /// Its version.
    pub(crate) version: u64,
    /// What the discovery client holds (managed mode).
    pub(crate) held: Option<crate::discovery::Held>,
    /// Semantic models and indexes already loaded for it (by the managed node's check).
    pub(crate) models: crate::semantic::ModelStore,
}

async fn serve(
    opts: NodeOptions,
    first: First,
    boot: Boot,
    gateway: openclaw_config::Gateway,
    log: LogHandle,
    pre_bound: Option<std::net::TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), NodeError> {
    let tls = match crate::tls::TlsSettings::from_config(&gateway.http.tls)
        .map_err(|e| NodeError::Config(e.to_string()))?
    {
        Some(settings) => Some(Arc::new(
            crate::tls::CertReloader::new(settings)
                .map_err(|e| NodeError::Config(e.to_string()))?,
        )),
        None => None,
    };
    let shared = Shared::new(boot.clone(), log, tls.clone(), &gateway, first.models);
    if let Some(m) = &opts.managed {
        shared.registry.set_node_labels(m.labels.clone());
    }
    shared
        .apply(&first.layered, first.version)
        .map_err(|e| NodeError::Config(e.to_string()))?;
    let listen_err = |source| NodeError::Listen {
        addr: boot.listen.clone(),
        source,
    };
    let listener = match pre_bound {
        Some(l) => tokio::net::TcpListener::from_std(l).map_err(listen_err)?,
        None => tokio::net::TcpListener::bind(&boot.listen)
            .await
            .map_err(listen_err)?,
    };
    tracing::info!(listen = %boot.listen, mode = if opts.managed.is_some() { "managed" } else { "standalone" }, version = first.version, "data plane serving");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let follower = match (&opts.managed, first.held) {
        (Some(m), Some(held)) => tokio::spawn(managed::follow(
            m.clone(),
            opts.sources.clone(),
            shared.clone(),
            held,
            wait(stop_rx.clone()),
        )),
        _ => tokio::spawn(standalone::watch(
            opts.sources.clone(),
            shared.clone(),
            first.version,
            wait(stop_rx.clone()),
        )),
    };
    let stop = async move {
        shutdown.await;
        tracing::info!("shutdown requested");
        let _ = stop_tx.send(true);
    };
    let cert_watch = tls.map(|r| tokio::spawn(r.watch(wait(stop_rx.clone()))));
    proxy::serve(listener, shared.clone(), stop).await;
    if let Some(w) = cert_watch {
        let _ = w.await;
    }
    let _ = follower.await;
    shared.registry.shutdown();
    tracing::info!("data plane stopped");
    Ok(())
}

async fn wait(mut rx: tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}
