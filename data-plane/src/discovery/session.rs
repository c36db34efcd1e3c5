//! One discovery stream: send what the node holds, take responses, answer each with an ACK or a NACK.
//!
//! A [`Session`] owns a copy of what the node holds. [`Session::next_snapshot`] stages each response
//! (NACKing by itself the ones that do not check out) and hands the caller a verified [`Snapshot`]; the
//! caller applies it and answers [`Session::ack`] or [`Session::nack`]. The session ends with the stream:
//! reconnecting is the caller's job ([`DiscoveryClient::run`](super::DiscoveryClient::run) does it).

use openclaw_proto::discovery::discovery_client::DiscoveryClient as ProtoClient;
use openclaw_proto::discovery::{DiscoveryRequest, DiscoveryResponse, ErrorDetail, Node};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

use super::{Applied, ClientConfig, ClientError, Held, Snapshot, Staged};

/// One open discovery stream and what the node holds on it.
#[derive(Debug)]
pub struct Session {
    outbound: mpsc::Sender<DiscoveryRequest>,
    inbound: tonic::Streaming<DiscoveryResponse>,
    held: Held,
    pending: Option<(String, Staged)>,
    node: Node,
    max_message: usize,
}

// === impl Session ===

impl Session {
    /// Opens a stream on `channel`, announcing the node and the resources in `held`.
    pub async fn open(
        channel: Channel,
        config: &ClientConfig,
        held: Held,
    ) -> Result<Session, ClientError> {
        let node = Node {
            id: config.node_id.clone(),
            labels: config.labels.clone().into_iter().collect(),
            software_version: config.software_version.clone(),
            local_overrides: config.local_overrides.clone(),
            restart_required: Vec::new(),
        };
        let first = DiscoveryRequest {
            node: Some(node.clone()),
            initial_resource_versions: held.resource_versions(),
            version_info: held.version(),
            response_nonce: String::new(),
            error_detail: None,
        };
        // Requests are answers to responses, one at a time: a small buffer never fills.
        let (outbound, rx) = mpsc::channel(4);
        outbound
            .send(first)
            .await
            .map_err(|_| ClientError::Closed)?;
        let mut request = tonic::Request::new(ReceiverStream::new(rx));
        if let Some(token) = &config.token {
            let value = MetadataValue::try_from(format!("Bearer {token}"))
                .map_err(|_| ClientError::Token)?;
            request.metadata_mut().insert("authorization", value);
        }
        let max_message = config
            .max_message_size
            .unwrap_or(super::client::DEFAULT_MAX_MESSAGE);
        let mut client = ProtoClient::new(channel).max_decoding_message_size(max_message);
        let inbound = client.stream(request).await?.into_inner();
        Ok(Session {
            outbound,
            inbound,
            held,
            pending: None,
            node,
            max_message,
        })
    }

    /// What the node holds on this stream (updated by each ACK).
    pub fn held(&self) -> &Held {
        &self.held
    }

    /// Ends the session, keeping what the node holds for the next one.
    pub fn into_held(self) -> Held {
        self.held
    }

    /// Waits for the next response that checks out and returns its snapshot, to be answered with
    /// [`ack`](Self::ack) or [`nack`](Self::nack). Responses that do not check out (bad hash, missing
    /// resource) are NACKed here. Fails when the stream ends.
    pub async fn next_snapshot(&mut self) -> Result<Snapshot, ClientError> {
        loop {
            let response = self
                .inbound
                .message()
                .await
                .map_err(|s| too_large(s, self.max_message))?
                .ok_or(ClientError::Closed)?;
            match self.held.stage(&response) {
                Ok((staged, snapshot)) => {
                    self.pending = Some((response.nonce, staged));
                    return Ok(snapshot);
                }
                Err(e) => {
                    tracing::warn!(node = %self.node.id, error = %e, "rejecting discovery response");
                    self.pending = None;
                    self.send_nack(response.nonce, e.to_string()).await?;
                }
            }
        }
    }

    /// The snapshot was applied: it becomes what the node holds, and the control plane is told. A
    /// change in `applied.restart_required` is reported with it.
    pub async fn ack(&mut self, applied: &Applied) -> Result<(), ClientError> {
        let request = self.commit(applied)?;
        self.send(request).await
    }

    /// The synchronous half of [`ack`](Self::ack): commits the pending snapshot and returns the ACK to
    /// [`send`](Self::send), so a caller can update its own copy of what is held before any await.
    pub(super) fn commit(&mut self, applied: &Applied) -> Result<DiscoveryRequest, ClientError> {
        let (nonce, staged) = self.pending.take().ok_or(ClientError::NothingPending)?;
        self.held.commit(staged);
        let node = (applied.restart_required != self.node.restart_required).then(|| {
            self.node.restart_required = applied.restart_required.clone();
            self.node.clone()
        });
        Ok(DiscoveryRequest {
            node,
            initial_resource_versions: Default::default(),
            version_info: self.held.version(),
            response_nonce: nonce,
            error_detail: None,
        })
    }

    /// The snapshot could not be applied: the node keeps what it held and says why.
    pub async fn nack(&mut self, error: impl Into<String>) -> Result<(), ClientError> {
        let (nonce, _) = self.pending.take().ok_or(ClientError::NothingPending)?;
        self.send_nack(nonce, error.into()).await
    }

    async fn send_nack(&mut self, nonce: String, message: String) -> Result<(), ClientError> {
        self.send(DiscoveryRequest {
            node: None,
            initial_resource_versions: Default::default(),
            version_info: self.held.version(),
            response_nonce: nonce,
            error_detail: Some(ErrorDetail { message }),
        })
        .await
    }

    /// Sends one request on the stream.
    pub(super) async fn send(&mut self, request: DiscoveryRequest) -> Result<(), ClientError> {
        self.outbound
            .send(request)
            .await
            .map_err(|_| ClientError::Closed)
    }
}

/// gRPC's "message length too large" said with the size, the limit and the flag that moves it.
fn too_large(status: tonic::Status, limit: usize) -> ClientError {
    if status.message().contains("message length too large") {
        ClientError::TooLarge {
            detail: status.message().to_string(),
            limit,
        }
    } else {
        ClientError::Status(status)
    }
}
