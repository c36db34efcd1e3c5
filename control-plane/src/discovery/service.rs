//! The `Discovery` gRPC service: one task per data-plane stream, framed by [`wire`](super::wire)
//! rather than tonic's generated server, so a stream keeps no buffer sized by its largest message.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use openclaw_proto::discovery::discovery_server::SERVICE_NAME;
use tokio::sync::mpsc;
use tonic::Status;
use tonic::codegen::{Service, http};
use tonic::metadata::GRPC_CONTENT_TYPE;
use tonic::server::NamedService;

use super::wire::{Inbound, Responses};
use super::{Hub, stream};

/// The one method of the service.
const STREAM_PATH: &str = "/openclaw.discovery.v1.Discovery/Stream";

/// The discovery service, ready for tonic's `Server::add_service` (alone or inside an
/// `InterceptedService`).
#[derive(Clone)]
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

impl NamedService for DiscoveryService {
    const NAME: &'static str = SERVICE_NAME;
}

impl Service<http::Request<tonic::body::Body>> for DiscoveryService {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        if request.uri().path() != STREAM_PATH {
            return ready(Ok(Status::unimplemented("").into_http()));
        }
        let request = tonic::Request::from_http(request);
        let address = request.remote_addr();
        let inbound = Inbound::new(request.into_inner());
        // At most one response is in flight per stream (plus a final status): a tiny buffer suffices.
        let (tx, rx) = mpsc::channel(2);
        tokio::spawn(stream::serve(self.hub.clone(), inbound, tx, address));
        let mut response = http::Response::new(tonic::body::Body::new(Responses::new(rx)));
        response
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, GRPC_CONTENT_TYPE);
        ready(Ok(response))
    }
}
