//! The `Discovery` gRPC service: one task per data-plane stream.

use std::sync::Arc;

use openclaw_proto::discovery::discovery_server::Discovery;
use openclaw_proto::discovery::{DiscoveryRequest, DiscoveryResponse};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::{Hub, stream};

/// The discovery service; wrap it in
/// [`DiscoveryServer`](openclaw_proto::discovery::discovery_server::DiscoveryServer).
pub(crate) struct DiscoveryService {
    hub: Arc<Hub>,
}

// === impl DiscoveryService ===

impl DiscoveryService {
    /// Serves the desired state and node registry of `hub`.
    pub(crate) fn new(hub: Arc<Hub>) -> Self {
        Self { hub }
    }
}

#[tonic::async_trait]
impl Discovery for DiscoveryService {
    type StreamStream = ReceiverStream<Result<DiscoveryResponse, Status>>;

    async fn stream(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        let address = request.remote_addr();
        // At most one response is in flight per stream (plus a final status): a tiny buffer suffices.
        let (tx, rx) = mpsc::channel(2);
        tokio::spawn(stream::serve(
            self.hub.clone(),
            request.into_inner(),
            tx,
            address,
        ));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}
