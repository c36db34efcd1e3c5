//! The discovery client of one node: its settings, its channel, and the follow-the-control-plane loop.
//!
//! [`DiscoveryClient::run`] is what a data plane runs for its whole life: open a [`Session`], apply every
//! snapshot through the caller's function, ACK or NACK it, and on any disconnect wait (exponential
//! backoff with jitter, 10 ms → 15 s) and reconnect, announcing what the node holds so only the
//! difference comes back. The node keeps serving what it applied meanwhile. Clients are light (one
//! task, one stream, what the node holds): a benchmark runs a thousand in one process, sharing one
//! [`Channel`] through [`DiscoveryClient::with_channel`].

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use super::backoff::Backoff;
use super::{ClientError, Held, Session, Snapshot};

/// A stream that lasted this long earns a fresh backoff even if it delivered nothing.
const STABLE_STREAM: Duration = Duration::from_secs(5);

/// How a node finds and introduces itself to the control plane.
#[derive(Clone, Debug, Default)]
pub struct ClientConfig {
    /// The control plane's gRPC URL, `http://host:port` or `https://host:port`.
    pub endpoint: String,
    /// The node's id, unique in the fleet.
    pub node_id: String,
    /// The node's labels (canary selectors match them).
    pub labels: BTreeMap<String, String>,
    /// Sent as `authorization: Bearer <token>` on the stream.
    pub token: Option<String>,
    /// TLS towards the control plane (needed for `https://` endpoints).
    pub tls: Option<TlsConfig>,
    /// The node's software version, shown by `openclaw gateway nodes`.
    pub software_version: String,
    /// Keys the node's local layers override, shown by `openclaw gateway nodes`.
    pub local_overrides: Vec<String>,
    /// The largest discovery response taken, in bytes (`None`: [`DEFAULT_MAX_MESSAGE`]).
    pub max_message_size: Option<usize>,
}

/// The largest discovery response a node takes by default: 64 MiB (a document can be large).
pub const DEFAULT_MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// TLS settings towards the control plane, PEM-encoded.
#[derive(Clone, Debug, Default)]
pub struct TlsConfig {
    /// The CA that signed the control plane's certificate (required: no system roots are built in).
    pub ca_pem: Option<Vec<u8>>,
    /// The node's certificate chain, for mTLS (with `key_pem`).
    pub cert_pem: Option<Vec<u8>>,
    /// The node's private key, for mTLS (with `cert_pem`).
    pub key_pem: Option<Vec<u8>>,
    /// The name to check the control plane's certificate against, when not the endpoint's host.
    pub domain: Option<String>,
}

/// What a node reports after applying a snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Settings that changed but need a restart of the node to take effect.
    pub restart_required: Vec<String>,
}

/// Where a running client stands, for `/health` and benchmarks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientStatus {
    /// A stream to the control plane is open.
    pub connected: bool,
    /// The version of the snapshot the node applied last (0 when none).
    pub applied_version: u64,
    /// The hash of that snapshot.
    pub applied_hash: String,
    /// Why the last stream ended or the last snapshot was rejected.
    pub last_error: Option<String>,
}

/// The discovery client of one node.
#[derive(Debug)]
pub struct DiscoveryClient {
    config: ClientConfig,
    channel: Channel,
    status: watch::Sender<ClientStatus>,
}

// === impl ClientConfig ===

impl ClientConfig {
    /// Settings for node `node_id` of the control plane at `endpoint`, with this crate's version.
    pub fn new(endpoint: impl Into<String>, node_id: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            node_id: node_id.into(),
            software_version: env!("CARGO_PKG_VERSION").to_owned(),
            ..Self::default()
        }
    }

    /// A lazily connecting channel to the control plane, with HTTP/2 keepalives so a dead control
    /// plane is noticed; share it between clients of the same endpoint.
    pub fn channel(&self) -> Result<Channel, ClientError> {
        let bad = |message: String| ClientError::Endpoint {
            endpoint: self.endpoint.clone(),
            message,
        };
        let mut endpoint = Endpoint::from_shared(self.endpoint.clone())
            .map_err(|e| bad(e.to_string()))?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(20))
            .keep_alive_timeout(Duration::from_secs(10))
            .keep_alive_while_idle(true);
        if let Some(tls) = &self.tls {
            endpoint = endpoint
                .tls_config(tls.client_config()?)
                .map_err(|e| ClientError::Tls(e.to_string()))?;
        }
        Ok(endpoint.connect_lazy())
    }
}

// === impl TlsConfig ===

impl TlsConfig {
    fn client_config(&self) -> Result<ClientTlsConfig, ClientError> {
        let mut tls = ClientTlsConfig::new();
        if let Some(ca) = &self.ca_pem {
            tls = tls.ca_certificate(Certificate::from_pem(ca));
        }
        match (&self.cert_pem, &self.key_pem) {
            (Some(cert), Some(key)) => tls = tls.identity(Identity::from_pem(cert, key)),
            (None, None) => {}
            _ => {
                return Err(ClientError::Tls(
                    "a client certificate needs both cert and key".into(),
                ));
            }
        }
        if let Some(domain) = &self.domain {
            tls = tls.domain_name(domain.clone());
        }
        Ok(tls)
    }
}

// === impl DiscoveryClient ===

impl DiscoveryClient {
    /// A client with its own channel built from `config`.
    pub fn new(config: ClientConfig) -> Result<Self, ClientError> {
        let channel = config.channel()?;
        Ok(Self::with_channel(config, channel))
    }

    /// A client on a channel shared with others (see [`ClientConfig::channel`]).
    pub fn with_channel(config: ClientConfig, channel: Channel) -> Self {
        Self {
            config,
            channel,
            status: watch::Sender::new(ClientStatus::default()),
        }
    }

    /// The client's settings.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Follows the client's status while it runs.
    pub fn status(&self) -> watch::Receiver<ClientStatus> {
        self.status.subscribe()
    }

    /// Opens one stream, announcing `held` (for callers that drive the exchange themselves).
    pub async fn connect(&self, held: Held) -> Result<Session, ClientError> {
        Session::open(self.channel.clone(), &self.config, held).await
    }

    /// Follows the control plane until `shutdown` completes, then returns what the node holds.
    ///
    /// Every verified snapshot goes to `apply`; `Ok` ACKs it (reporting [`Applied`]), `Err(message)`
    /// NACKs it and the node keeps what it held. A snapshot whose hash equals the one held (only the
    /// version number moved) is ACKed without calling `apply`, so `held` must be what the caller
    /// already applied (e.g. [`Held::from_snapshot`] of the snapshot it started from).
    pub async fn run<F, S>(self, mut held: Held, mut apply: F, shutdown: S) -> Held
    where
        F: FnMut(Snapshot) -> Result<Applied, String> + Send,
        S: Future<Output = ()> + Send,
    {
        tokio::pin!(shutdown);
        // What the node started from is what it has applied, before any stream says more.
        if !held.snapshot_hash().is_empty() {
            self.status.send_modify(|s| {
                s.applied_version = held.version();
                s.applied_hash = held.snapshot_hash().to_string();
            });
        }
        let mut backoff = Backoff::new();
        let mut last = Applied::default();
        loop {
            let started = Instant::now();
            let mut delivered = false;
            let ended = tokio::select! {
                () = &mut shutdown => break,
                e = self.follow(&mut held, &mut apply, &mut last, &mut delivered) => e,
            };
            tracing::warn!(node = %self.config.node_id, error = %ended, "discovery stream ended");
            self.status.send_modify(|s| {
                s.connected = false;
                s.last_error = Some(ended.to_string());
            });
            if delivered || started.elapsed() >= STABLE_STREAM {
                backoff.reset();
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(backoff.next_delay()) => {}
            }
        }
        self.status.send_modify(|s| s.connected = false);
        held
    }

    /// One stream, until it ends; `held` follows every ACK.
    async fn follow<F>(
        &self,
        held: &mut Held,
        apply: &mut F,
        last: &mut Applied,
        delivered: &mut bool,
    ) -> ClientError
    where
        F: FnMut(Snapshot) -> Result<Applied, String> + Send,
    {
        let mut session = match self.connect(held.clone()).await {
            Ok(s) => s,
            Err(e) => return e,
        };
        self.status.send_modify(|s| s.connected = true);
        loop {
            let snapshot = match session.next_snapshot().await {
                Ok(s) => s,
                Err(e) => return e,
            };
            *delivered = true;
            let (version, hash) = (snapshot.version, snapshot.hash.clone());
            // `apply` takes the snapshot and (normally) drops it: either way it no longer shares the
            // held map by the commit below.
            let outcome = if hash == held.snapshot_hash() {
                drop(snapshot);
                Ok(last.clone())
            } else {
                apply(snapshot)
            };
            let answered = match outcome {
                Ok(applied) => {
                    // Let go of this copy before the commit, so it updates the held map in place
                    // instead of copying it; no await between, so `held` is never seen empty.
                    *held = Held::new();
                    let ack = session.commit(&applied);
                    *held = session.held().clone();
                    *last = applied;
                    self.status.send_modify(|s| {
                        s.applied_version = version;
                        s.applied_hash = hash;
                        s.last_error = None;
                    });
                    match ack {
                        Ok(request) => session.send(request).await,
                        Err(e) => Err(e),
                    }
                }
                Err(message) => {
                    tracing::warn!(node = %self.config.node_id, version, error = %message, "snapshot not applied");
                    self.status
                        .send_modify(|s| s.last_error = Some(message.clone()));
                    session.nack(message).await
                }
            };
            if let Err(e) = answered {
                return e;
            }
        }
    }
}

#[cfg(test)]
mod tests;
