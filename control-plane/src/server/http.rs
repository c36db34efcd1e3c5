//! The control plane's own `/metrics` (Prometheus text) and `/health` (JSON) on a separate listener.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;

use crate::admin::NodeView;
use crate::store::Store;

/// Serves until `stop` completes.
pub(super) async fn serve(
    listener: tokio::net::TcpListener,
    store: Arc<Store>,
    nodes: Arc<dyn NodeView>,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut stop => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let (store, nodes) = (store.clone(), nodes.clone());
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let (store, nodes) = (store.clone(), nodes.clone());
                async move { Ok::<_, Infallible>(answer(&req, &store, nodes.as_ref())) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn answer(
    req: &Request<hyper::body::Incoming>,
    store: &Store,
    nodes: &dyn NodeView,
) -> Response<Full<Bytes>> {
    let head = store.head_version().unwrap_or(0);
    let all = nodes.nodes();
    let connected = all.iter().filter(|n| n.connected).count();
    let nacked = all
        .iter()
        .filter(|n| n.connected && !n.nack_error.is_empty())
        .count();
    let (status, ctype, body) = match req.uri().path() {
        "/metrics" => {
            let text = format!(
                "# HELP openclaw_cp_head_version Head version of the stored config.\n\
                 # TYPE openclaw_cp_head_version gauge\nopenclaw_cp_head_version {head}\n\
                 # HELP openclaw_cp_nodes Data planes known, by connection state.\n\
                 # TYPE openclaw_cp_nodes gauge\nopenclaw_cp_nodes{{state=\"connected\"}} {connected}\n\
                 openclaw_cp_nodes{{state=\"disconnected\"}} {}\n\
                 # HELP openclaw_cp_nodes_nacked Connected data planes whose last response was a NACK.\n\
                 # TYPE openclaw_cp_nodes_nacked gauge\nopenclaw_cp_nodes_nacked {nacked}\n",
                all.len() - connected
            );
            (StatusCode::OK, "text/plain; version=0.0.4", text)
        }
        "/health" => {
            let body = json!({"status": "ok", "headVersion": head, "nodes": {"total": all.len(), "connected": connected}});
            (StatusCode::OK, "application/json", body.to_string())
        }
        _ => (
            StatusCode::NOT_FOUND,
            "application/json",
            json!({"error": "not found"}).to_string(),
        ),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(ctype) {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}
