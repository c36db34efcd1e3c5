//! While a managed node waits for its first snapshot it already listens, on the address its local
//! layers give, and says so truthfully: `/ready` is 503 and everything else is 503 "not ready". Once a
//! config is applied the same socket is handed to the real server.

use std::convert::Infallible;
use std::net::TcpListener as StdListener;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;

use crate::proxy::ProxyBody;

/// Binds `addr` for the node's whole life (non-blocking, ready for tokio).
pub(crate) fn bind(addr: &str) -> std::io::Result<StdListener> {
    let l = StdListener::bind(addr)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Answers "not ready" on a clone of `listener` until the current runtime ends.
pub(crate) fn serve_not_ready(listener: &StdListener, health_path: String) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener.try_clone()?)?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let health_path = health_path.clone();
            let svc = hyper::service::service_fn(
                move |req: http::Request<hyper::body::Incoming>| {
                    let (status, body) = if req.uri().path() == "/ready" {
                        (StatusCode::SERVICE_UNAVAILABLE, json!({"ready": false}))
                    } else if req.uri().path() == health_path {
                        (
                            StatusCode::OK,
                            json!({"status": "starting", "configVersion": 0}),
                        )
                    } else {
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            json!({"error": "not ready: waiting for the first config from the control plane"}),
                        )
                    };
                    async move { Ok::<_, Infallible>(respond(status, body.to_string())) }
                },
            );
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(())
}

fn respond(status: StatusCode, body: String) -> Response<ProxyBody> {
    let mut r = Response::new(crate::proxy::full_body(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut()
        .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}
