//! `openclaw-data-plane`: a proxy node. Managed by a control plane (`--control-plane`) or standalone
//! (config from local files, reloaded on change). Every flag also reads an `OPENCLAW_*` variable.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use openclaw_config::Sources;
use openclaw_data_plane::discovery::TlsConfig;
use openclaw_data_plane::{ManagedOptions, NodeOptions, run_node};

/// OpenClaw Gateway data plane.
#[derive(Debug, Parser)]
#[command(
    name = "openclaw-data-plane",
    version,
    after_help = "Config (standalone, or over the control plane's snapshot when managed), lowest first:\n  \
        built-in defaults < /etc/openclaw/gateway.json (OPENCLAW_GLOBAL_CONFIG) < ~/.openclaw/gateway.json \
        (OPENCLAW_USER_CONFIG)\n  < OPENCLAW_<SECTION>__<KEY> variables < --config.<key>=<value> flags\n\
        A file named by OPENCLAW_GLOBAL_CONFIG or OPENCLAW_USER_CONFIG must exist; set one empty for no file.\n\
        --config.<key>=<value>  sets any key below `gateway` (--config.http.listen=0.0.0.0:8080); \
        the value is JSON if it parses as JSON, else a string."
)]
struct Args {
    /// Control plane URL (managed mode); else `gateway.controlPlane.address`; neither: standalone.
    #[arg(long, env = "OPENCLAW_CONTROL_PLANE")]
    control_plane: Option<String>,
    /// This node's id; else `gateway.controlPlane.nodeId`, else the host name.
    #[arg(long, env = "OPENCLAW_NODE_ID")]
    node_id: Option<String>,
    /// A label `k=v` (repeatable; env: comma-separated).
    #[arg(long = "label", env = "OPENCLAW_LABELS", value_delimiter = ',', value_parser = parse_label)]
    labels: Vec<(String, String)>,
    /// Node token for the discovery stream (else `gateway.controlPlane.token`).
    #[arg(long, env = "OPENCLAW_NODE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// PEM CA of the control plane's certificate.
    #[arg(long, env = "OPENCLAW_TLS_CA")]
    tls_ca: Option<PathBuf>,
    /// PEM client certificate (mTLS).
    #[arg(long, env = "OPENCLAW_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM client key (mTLS).
    #[arg(long, env = "OPENCLAW_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Where the last applied snapshot is kept, to start from when the control plane is away.
    #[arg(long, env = "OPENCLAW_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// The largest discovery response (config document) taken from the control plane (`64MiB`).
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
    match options(args, flags)
        .and_then(|opts| run_node(opts, shutdown_signal()).map_err(anyhow::Error::from))
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Flags first, then `gateway.controlPlane` of the local layers.
fn options(args: Args, flags: openclaw_config::layers::ConfigFlags) -> anyhow::Result<NodeOptions> {
    let sources = Sources::from_process(flags);
    let local = openclaw_config::layers::load(&sources)?;
    let env = |name: &str| std::env::var(name).ok();
    // Every problem, as `openclaw gateway validate` lists them, not only the ones that stop parsing.
    let cp = openclaw_config::parse(&local.effective)
        .map_err(|p| {
            let all = openclaw_config::validate_with_env(&local.effective, &env)
                .err()
                .unwrap_or(p);
            anyhow::anyhow!("invalid local config:\n{all}")
        })?
        .gateway
        .control_plane;
    let resolve = |v: Option<String>| {
        v.map(|s| {
            openclaw_config::secrets::resolve(&serde_json::Value::String(s), &|n| {
                std::env::var(n).ok()
            })
        })
    };
    let address = args.control_plane.or(cp.address);
    let managed = match address {
        None => None,
        Some(address) => {
            let token = match args.token.or_else(|| {
                resolve(cp.token)
                    .and_then(|r| r.ok())
                    .and_then(|v| v.as_str().map(str::to_string))
            }) {
                Some(t) if !t.is_empty() => Some(t),
                _ => None,
            };
            let read = |p: Option<PathBuf>| -> anyhow::Result<Option<Vec<u8>>> {
                p.map(|p| {
                    std::fs::read(&p)
                        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))
                })
                .transpose()
            };
            let tls_ca = read(args.tls_ca.or(cp.tls.ca.map(PathBuf::from)))?;
            let tls_cert = read(args.tls_cert.or(cp.tls.cert.map(PathBuf::from)))?;
            let tls_key = read(args.tls_key.or(cp.tls.key.map(PathBuf::from)))?;
            let tls = (tls_ca.is_some() || tls_cert.is_some() || address.starts_with("https://"))
                .then_some(TlsConfig {
                    ca_pem: tls_ca,
                    cert_pem: tls_cert,
                    key_pem: tls_key,
                    domain: None,
                });
            let mut labels: BTreeMap<String, String> = cp.labels;
            labels.extend(args.labels);
            Some(ManagedOptions {
                address,
                node_id: args.node_id.or(cp.node_id).unwrap_or_else(hostname),
                labels,
                token,
                tls,
                state_dir: args.state_dir.or(cp.state_dir.map(PathBuf::from)),
                max_message_size: Some(args.max_message_size),
            })
        }
    };
    Ok(NodeOptions { managed, sources })
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("`{s}` is not a label: use key=value"))
}

fn parse_size(s: &str) -> Result<usize, String> {
    let bytes = openclaw_config::ByteSize::parse(s)?.bytes();
    usize::try_from(bytes).map_err(|_| format!("{s}: too large"))
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "openclaw-node".into())
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
