//! Wires the control plane together: store → versions → discovery hub, the gRPC listener (admin API,
//! discovery stream, reflection; optional TLS/mTLS; HTTP/2 keepalives), and the `/metrics` + `/health`
//! listener. Shuts down gracefully when the given future completes.

mod http;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use openclaw_proto::admin::admin_server::AdminServer;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use crate::admin::{AdminService, NodeView};
use crate::auth::TokenCheck;
use crate::discovery::{DiscoveryService, Hub};
use crate::store::Store;
use crate::versions::{Desired, Publish, Versions};

/// Everything the control plane needs to start.
#[derive(Debug)]
pub struct ServerConfig {
    /// gRPC listen address.
    pub listen: SocketAddr,
    /// `/metrics` and `/health` listen address.
    pub metrics_listen: SocketAddr,
    /// The largest admin request or response, in bytes ([`DEFAULT_MAX_MESSAGE`] unless told).
    pub max_message_size: usize,
    /// sled directory.
    pub data_dir: PathBuf,
    /// Admin bearer token; `None` leaves the admin API open (a warning is logged).
    pub admin_token: Option<String>,
    /// Node bearer token; `None` leaves discovery open unless mTLS is on.
    pub node_token: Option<String>,
    /// Document stored as version 1 when the store is empty.
    pub bootstrap: Option<PathBuf>,
    /// TLS for the gRPC listener.
    pub tls: Option<TlsFiles>,
    /// `--config.*` flags: the control plane's own logging settings.
    pub local_flags: openclaw_config::layers::ConfigFlags,
}

/// PEM files for the gRPC listener.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
    /// CA of data-plane client certificates (mTLS on the discovery stream).
    pub client_ca: Option<PathBuf>,
}

/// Why the control plane could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The local config layers (logging settings) are invalid.
    #[error("local config: {0}")]
    Config(String),
    /// The store could not be opened or written.
    #[error("store: {0}")]
    Store(String),
    /// The bootstrap document is unreadable or invalid.
    #[error("bootstrap {file}: {message}")]
    Bootstrap {
        /// The file.
        file: String,
        /// What is wrong (every validation problem, one per line).
        message: String,
    },
    /// TLS files are unreadable.
    #[error("TLS: {0}")]
    Tls(String),
    /// A listener could not be bound or failed.
    #[error("listener: {0}")]
    Listen(String),
}

/// The largest admin message by default: 64 MiB, room for a document of some 500k routing rules.
pub const DEFAULT_MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// The metrics address when none is given: the port after the gRPC one, on the same host (so a
/// second control plane given only `--listen` does not collide with the first).
pub fn metrics_next_to(listen: SocketAddr) -> SocketAddr {
    let port = match listen.port() {
        0 => 0,
        p => p.wrapping_add(1),
    };
    SocketAddr::new(listen.ip(), port)
}

/// Forwards publications to the hub once it exists (the hub needs the initial state that `Versions`
/// computes, and `Versions` needs somewhere to publish).
#[derive(Default)]
struct LateHub(OnceLock<Arc<Hub>>);

impl Publish for LateHub {
    fn publish(&self, desired: Desired) {
        if let Some(hub) = self.0.get() {
            hub.publish(desired);
        }
    }
}

/// Runs the control plane until `shutdown` completes.
pub async fn run(
    cfg: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    init_logging(&cfg.local_flags)?;
    if cfg.admin_token.is_none() {
        tracing::warn!(
            "no admin token configured (OPENCLAW_ADMIN_TOKEN or --admin-token-file): the admin API accepts anyone"
        );
    }
    let store =
        Arc::new(Store::open(&cfg.data_dir).map_err(|e| ServerError::Store(e.to_string()))?);
    let late = Arc::new(LateHub::default());
    let versions = Arc::new(Versions::new(store.clone(), late.clone()));
    bootstrap(&versions, cfg.bootstrap.as_ref()).await?;
    let desired = versions
        .desired()
        .await
        .map_err(|e| ServerError::Store(e.to_string()))?
        .ok_or_else(|| ServerError::Store("no version stored after bootstrap".into()))?;
    let persisted = store
        .nodes()
        .map_err(|e| ServerError::Store(e.to_string()))?;
    let saver = store.clone();
    let hub = Hub::new(
        desired,
        persisted,
        Box::new(move |id: &str, bytes: &[u8]| {
            if let Err(e) = saver.put_node(id, bytes) {
                tracing::warn!(node = id, error = %e, "cannot persist node status");
            }
        }),
    );
    if late.0.set(hub.clone()).is_err() {
        return Err(ServerError::Store("hub initialised twice".into()));
    }

    let mtls = cfg.tls.as_ref().is_some_and(|t| t.client_ca.is_some());
    let admin_check = TokenCheck::new("admin", cfg.admin_token.clone(), false);
    let node_check = TokenCheck::new("discovery", cfg.node_token.clone(), mtls);
    let nodes: Arc<dyn NodeView> = hub.clone();
    let admin = InterceptedService::new(
        AdminServer::new(AdminService::new(versions.clone(), nodes.clone()))
            .max_decoding_message_size(cfg.max_message_size)
            .max_encoding_message_size(cfg.max_message_size),
        move |r| admin_check.check(r),
    );
    let discovery = InterceptedService::new(DiscoveryService::new(hub.clone()), move |r| {
        node_check.check(r)
    });
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(openclaw_proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| ServerError::Listen(format!("reflection: {e}")))?;

    let mut builder = Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(10)))
        .http2_keepalive_timeout(Some(Duration::from_secs(5)))
        .tcp_nodelay(true)
        // Many nodes (or a benchmark of a thousand) may share one HTTP/2 connection.
        .max_concurrent_streams(Some(10_000));
    if let Some(t) = &cfg.tls {
        builder = builder
            .tls_config(tls_config(t)?)
            .map_err(|e| ServerError::Tls(e.to_string()))?;
    }
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| {
            ServerError::Listen(format!(
                "gRPC on {}: {e}; pick another address with --listen (OPENCLAW_LISTEN)",
                cfg.listen
            ))
        })?;
    let local = listener
        .local_addr()
        .map_err(|e| ServerError::Listen(e.to_string()))?;
    let metrics = tokio::net::TcpListener::bind(cfg.metrics_listen)
        .await
        .map_err(|e| ServerError::Listen(format!("/metrics and /health on {}: {e}; pick another address with --metrics-listen (OPENCLAW_METRICS_LISTEN)", cfg.metrics_listen)))?;
    tracing::info!(grpc = %local, metrics = %cfg.metrics_listen, tls = cfg.tls.is_some(), mtls, "control plane listening");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
    });
    let http = tokio::spawn(http::serve(
        metrics,
        store.clone(),
        nodes,
        wait_stop(stop_rx.clone()),
    ));
    // Set TCP_NODELAY on each accepted socket here: the builder's `tcp_nodelay` only reaches sockets
    // tonic accepts itself, and without it small messages (ACK-paced discovery responses, rollout
    // events) wait ~40 ms for Nagle and the peer's delayed ACK.
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let served = builder
        .add_service(admin)
        .add_service(discovery)
        .add_service(reflection)
        .serve_with_incoming_shutdown(incoming, wait_stop(stop_rx))
        .await;
    let _ = http.await;
    store
        .flush()
        .map_err(|e| ServerError::Store(e.to_string()))?;
    served.map_err(|e| ServerError::Listen(e.to_string()))?;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_stop(mut rx: tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

async fn bootstrap(versions: &Versions, file: Option<&PathBuf>) -> Result<(), ServerError> {
    let doc = match file {
        Some(f) => {
            let name = f.display().to_string();
            let text = std::fs::read_to_string(f).map_err(|e| ServerError::Bootstrap {
                file: name.clone(),
                message: e.to_string(),
            })?;
            serde_json::from_str(&text).map_err(|e| ServerError::Bootstrap {
                file: name,
                message: e.to_string(),
            })?
        }
        None => serde_json::json!({"gateway": {}}),
    };
    let name = file.map_or_else(
        || "(built-in empty document)".to_string(),
        |f| f.display().to_string(),
    );
    match versions.bootstrap(doc).await {
        Ok(Some(v)) => {
            tracing::info!(version = v.version, source = %name, "store was empty: bootstrapped version 1")
        }
        Ok(None) => {}
        Err(e) => {
            return Err(ServerError::Bootstrap {
                file: name,
                message: e.to_string(),
            });
        }
    }
    Ok(())
}

fn tls_config(t: &TlsFiles) -> Result<ServerTlsConfig, ServerError> {
    let read = |p: &PathBuf| {
        std::fs::read(p).map_err(|e| ServerError::Tls(format!("cannot read {}: {e}", p.display())))
    };
    let mut cfg =
        ServerTlsConfig::new().identity(Identity::from_pem(read(&t.cert)?, read(&t.key)?));
    if let Some(ca) = &t.client_ca {
        // Optional at the TLS layer so operators' CLI calls need no certificate; the discovery service
        // itself refuses callers without one.
        cfg = cfg
            .client_ca_root(Certificate::from_pem(read(ca)?))
            .client_auth_optional(true);
    }
    Ok(cfg)
}

fn init_logging(flags: &openclaw_config::layers::ConfigFlags) -> Result<(), ServerError> {
    use openclaw_config::{LogFormat, Sources};
    let layered = openclaw_config::layers::load(&Sources::from_process(flags.clone()))
        .map_err(|e| ServerError::Config(e.to_string()))?;
    let doc = openclaw_config::validate(&layered.effective)
        .map_err(|e| ServerError::Config(e.to_string()))?;
    let logging = doc.gateway.logging;
    let level = format!("{:?}", logging.level).to_lowercase();
    let filter = tracing_subscriber::EnvFilter::try_from_env("OPENCLAW_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    let result = match logging.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
    // Already initialised (tests running several servers in one process) is fine.
    let _ = result;
    Ok(())
}
