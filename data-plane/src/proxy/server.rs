//! Accepting client connections (HTTP/1.1 and h2c on one port) and draining them on shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use super::handler::{Conn, handle};
use crate::state::Shared;

/// Serves `listener` until `shutdown` completes, then stops accepting and lets in-flight requests
/// finish for up to `http.timeouts.shutdown` of the config in force.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, shutdown: impl Future<Output = ()>) {
    let builder = Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let conn = Conn::new(peer, "http");
        let guard = shared.metrics.connection();
        let svc_shared = shared.clone();
        // Boxed per request: hyper keeps a connection's service-future slot allocated while the
        // connection idles, so an unboxed future (~1.9 kB) would stay resident per keep-alive client.
        let svc = hyper::service::service_fn(move |req| {
            Box::pin(handle(svc_shared.clone(), conn.clone(), req))
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), svc)
            .into_owned();
        let watched = graceful.watch(connection);
        tokio::spawn(async move {
            let _guard = guard;
            if let Err(e) = watched.await {
                tracing::debug!(error = %e, peer = %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let deadline = shared
        .current
        .load()
        .as_ref()
        .map_or(Duration::from_secs(30), |t| {
            t.gateway.http.timeouts.shutdown.get()
        });
    tracing::info!(
        deadline_secs = deadline.as_secs_f64(),
        "draining connections"
    );
    if tokio::time::timeout(deadline, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("drain deadline passed: closing the remaining connections");
    }
}
