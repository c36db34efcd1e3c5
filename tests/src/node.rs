//! A raw discovery-stream client for protocol tests: sends exactly what a test says, nothing more.

use std::collections::HashMap;
use std::time::Duration;

use openclaw_proto::discovery::discovery_client::DiscoveryClient;
use openclaw_proto::discovery::{DiscoveryRequest, DiscoveryResponse, ErrorDetail, Node};
use tokio::sync::mpsc;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic::{Status, Streaming};

/// One discovery stream.
pub struct RawNode {
    tx: mpsc::Sender<DiscoveryRequest>,
    rx: Streaming<DiscoveryResponse>,
    /// The node's id.
    pub id: String,
}

// === impl RawNode ===

impl RawNode {
    /// Opens a stream and sends the first request (node identity, what it holds, its version).
    pub async fn connect(
        url: &str,
        token: Option<&str>,
        tls: Option<ClientTlsConfig>,
        id: &str,
        labels: &[(&str, &str)],
        holds: HashMap<String, String>,
        version: u64,
    ) -> Result<Self, Status> {
        let mut ep =
            Endpoint::from_shared(url.to_string()).map_err(|e| Status::internal(e.to_string()))?;
        if let Some(tls) = tls {
            ep = ep
                .tls_config(tls)
                .map_err(|e| Status::internal(e.to_string()))?;
        }
        let channel: Channel = ep
            .connect()
            .await
            .map_err(|e| Status::unavailable(format!("{e:?}")))?;
        let mut client = DiscoveryClient::new(channel);
        let (tx, rx) = mpsc::channel(16);
        let node = Node {
            id: id.to_string(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            software_version: "e2e".into(),
            local_overrides: vec![],
            restart_required: vec![],
        };
        tx.send(DiscoveryRequest {
            node: Some(node),
            initial_resource_versions: holds,
            version_info: version,
            ..Default::default()
        })
        .await
        .map_err(|_| Status::internal("send"))?;
        let mut req = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
        if let Some(t) = token {
            req.metadata_mut().insert(
                "authorization",
                format!("Bearer {t}")
                    .parse()
                    .map_err(|_| Status::internal("token"))?,
            );
        }
        let rx = client.stream(req).await?.into_inner();
        Ok(Self {
            tx,
            rx,
            id: id.to_string(),
        })
    }

    /// The next response, or `None` when nothing arrives within `wait` (or the stream ended).
    pub async fn recv(&mut self, wait: Duration) -> Result<Option<DiscoveryResponse>, Status> {
        match tokio::time::timeout(wait, self.rx.message()).await {
            Err(_) => Ok(None),
            Ok(r) => r,
        }
    }

    /// ACKs a response.
    pub async fn ack(&self, r: &DiscoveryResponse) {
        let req = DiscoveryRequest {
            version_info: r.version_info,
            response_nonce: r.nonce.clone(),
            ..Default::default()
        };
        let _ = self.tx.send(req).await;
    }

    /// NACKs a response, staying at `kept_version`.
    pub async fn nack(&self, r: &DiscoveryResponse, kept_version: u64, error: &str) {
        let req = DiscoveryRequest {
            version_info: kept_version,
            response_nonce: r.nonce.clone(),
            error_detail: Some(ErrorDetail {
                message: error.to_string(),
            }),
            ..Default::default()
        };
        let _ = self.tx.send(req).await;
    }
}

/// The names and hashes of a response's resources.
pub fn holdings(r: &DiscoveryResponse) -> HashMap<String, String> {
    r.resources
        .iter()
        .map(|x| (x.name.clone(), x.version.clone()))
        .collect()
}
