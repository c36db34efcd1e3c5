//! `openclaw-control-plane`: the config server. Flags are documented with `--help`; every flag also
//! reads an `OPENCLAW_*` environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use openclaw_control_plane::server::{self, ServerConfig, TlsFiles};

/// OpenClaw Gateway control plane.
#[derive(Debug, Parser)]
#[command(name = "openclaw-control-plane", version)]
struct Args {
    /// gRPC listen address (admin API and discovery stream).
    #[arg(long, env = "OPENCLAW_LISTEN", default_value = "127.0.0.1:18000")]
    listen: SocketAddr,
    /// Directory of the sled store.
    #[arg(
        long,
        env = "OPENCLAW_DATA_DIR",
        default_value = "./.openclaw/control-plane"
    )]
    data_dir: PathBuf,
    /// File holding the admin token (else `OPENCLAW_ADMIN_TOKEN`; neither: admin calls are not authenticated).
    #[arg(long, env = "OPENCLAW_ADMIN_TOKEN_FILE")]
    admin_token_file: Option<PathBuf>,
    /// File holding the node token data planes present (else `OPENCLAW_NODE_TOKEN`).
    #[arg(long, env = "OPENCLAW_NODE_TOKEN_FILE")]
    node_token_file: Option<PathBuf>,
    /// A gateway document stored as version 1 when the store is empty.
    #[arg(long, env = "OPENCLAW_BOOTSTRAP")]
    bootstrap: Option<PathBuf>,
    /// PEM certificate chain: serve gRPC over TLS.
    #[arg(long, env = "OPENCLAW_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "OPENCLAW_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// PEM CA: data planes must present a client certificate it signed (mTLS).
    #[arg(long, env = "OPENCLAW_CLIENT_CA", requires = "tls_cert")]
    client_ca: Option<PathBuf>,
    /// `/metrics` and `/health` of the control plane itself [default: the --listen port + 1, so
    /// 127.0.0.1:18001].
    #[arg(long, env = "OPENCLAW_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// The largest admin request or response (a whole config document), e.g. `64MiB`.
    #[arg(long, env = "OPENCLAW_MAX_MESSAGE_SIZE", default_value = "64MiB", value_parser = parse_size)]
    max_message_size: usize,
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().collect();
    let (rest, flags) = match openclaw_config::layers::extract_config_flags(raw) {
        Ok(split) => split,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let args = Args::parse_from(rest);
    match run(args, flags) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args, flags: openclaw_config::layers::ConfigFlags) -> anyhow::Result<()> {
    let admin_token = token(args.admin_token_file.as_ref(), "OPENCLAW_ADMIN_TOKEN")?;
    let node_token = token(args.node_token_file.as_ref(), "OPENCLAW_NODE_TOKEN")?;
    let tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles {
            cert,
            key,
            client_ca: args.client_ca,
        }),
        _ => None,
    };
    let config = ServerConfig {
        listen: args.listen,
        metrics_listen: args
            .metrics_listen
            .unwrap_or_else(|| server::metrics_next_to(args.listen)),
        max_message_size: args.max_message_size,
        data_dir: args.data_dir,
        admin_token,
        node_token,
        bootstrap: args.bootstrap,
        tls,
        local_flags: flags,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(server::run(config, shutdown_signal()))?;
    Ok(())
}

fn parse_size(s: &str) -> Result<usize, String> {
    let bytes = openclaw_config::ByteSize::parse(s)?.bytes();
    usize::try_from(bytes).map_err(|_| format!("{s}: too large"))
}

/// A token from a file (trimmed) or from the environment variable.
fn token(file: Option<&PathBuf>, var: &str) -> anyhow::Result<Option<String>> {
    if let Some(f) = file {
        let t = std::fs::read_to_string(f)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?;
        let t = t.trim().to_string();
        anyhow::ensure!(!t.is_empty(), "{} is empty", f.display());
        return Ok(Some(t));
    }
    Ok(std::env::var(var).ok().filter(|t| !t.is_empty()))
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
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
