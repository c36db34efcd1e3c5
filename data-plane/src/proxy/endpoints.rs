//! The node's own endpoints on the main listener: `/health`, `/ready` and `/metrics`.

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use serde_json::json;

use super::body::{ProxyBody, full};
use crate::compiled::Compiled;
use crate::state::Shared;

/// Answers a request for one of the node's endpoints, or `None` when the request is for an agent.
pub(crate) fn answer<B>(
    shared: &Shared,
    table: Option<&Compiled>,
    req: &Request<B>,
) -> Option<Response<ProxyBody>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return None;
    }
    let path = req.uri().path();
    let (health_path, detailed, metrics_path, metrics_on) = match table {
        Some(t) => {
            let m = &t.gateway.monitoring;
            (
                m.health_check.path.as_str(),
                m.health_check.detailed,
                m.metrics.path.as_str(),
                m.metrics.enabled,
            )
        }
        None => ("/health", true, "/metrics", true),
    };
    if path == health_path {
        let body = if detailed {
            shared.health()
        } else {
            json!({"status": if table.is_some() { "ok" } else { "starting" }})
        };
        return Some(respond(
            StatusCode::OK,
            "application/json",
            body.to_string(),
        ));
    }
    if path == "/ready" {
        let ready = table.is_some();
        let status = if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        return Some(respond(
            status,
            "application/json",
            json!({"ready": ready}).to_string(),
        ));
    }
    if metrics_on && path == metrics_path {
        let mut text = shared.metrics.render(0.0);
        text.push_str(&crate::metrics::render_circuits(&shared.registry.health()));
        text.push_str(&crate::metrics::render_retries(&shared.registry.retries()));
        if let Some(t) = table {
            t.rate_limits.render(&mut text);
        }
        return Some(respond(StatusCode::OK, "text/plain; version=0.0.4", text));
    }
    None
}

fn respond(status: StatusCode, ctype: &'static str, body: String) -> Response<ProxyBody> {
    let mut r = Response::new(full(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r
}
