//! The one place a failed request becomes a response: a JSON body, the right status, and the metric kind.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use serde_json::json;

use super::body::{ProxyBody, full};

/// Why the proxy answered itself instead of the agent.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProxyError {
    /// No rule took the request and there is no default.
    #[error("no route for {0}")]
    NoRoute(String),
    /// The rule requires an API key and none (or a wrong one) was presented.
    #[error("a valid API key is required")]
    Unauthorized,
    /// The request named an agent that does not exist.
    #[error("unknown agent `{0}`")]
    UnknownAgent(String),
    /// The request body could not be read.
    #[error("cannot read the request body: {0}")]
    BadBody(String),
    /// Every endpoint of the target (and fallback) is unhealthy.
    #[error("no healthy endpoint for {0}")]
    NoHealthyEndpoint(String),
    /// The agent refused the connection or the connection failed before a response.
    #[error("cannot reach agent {0}")]
    Connect(String),
    /// The agent failed after the request was sent.
    #[error("agent {0} failed: {1}")]
    Upstream(String, String),
    /// No config is applied yet.
    #[error("not ready: no config applied yet")]
    NotReady,
}

// === impl ProxyError ===

impl ProxyError {
    /// The `gateway_error_total` kind.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::NoRoute(_) => "no_route",
            Self::Unauthorized => "unauthorized",
            Self::UnknownAgent(_) | Self::BadBody(_) => "bad_request",
            Self::NoHealthyEndpoint(_) => "no_healthy_endpoint",
            Self::Connect(_) => "upstream_connect",
            Self::Upstream(..) => "upstream_error",
            Self::NotReady => "not_ready",
        }
    }

    /// The HTTP status.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::NoRoute(_) => StatusCode::NOT_FOUND,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::UnknownAgent(_) | Self::BadBody(_) => StatusCode::BAD_REQUEST,
            Self::NoHealthyEndpoint(_) | Self::NotReady => StatusCode::SERVICE_UNAVAILABLE,
            Self::Connect(_) | Self::Upstream(..) => StatusCode::BAD_GATEWAY,
        }
    }

    /// The response, with the request id.
    pub(crate) fn into_response(self, request_id: &HeaderValue) -> Response<ProxyBody> {
        let mut body =
            json!({"error": self.to_string(), "requestId": request_id.to_str().unwrap_or("")});
        if let Self::NoRoute(path) = &self {
            body["path"] = path.clone().into();
        }
        let mut resp = Response::new(full(Bytes::from(body.to_string())));
        *resp.status_mut() = self.status();
        let h = resp.headers_mut();
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(super::headers::REQUEST_ID, request_id.clone());
        if matches!(self, Self::Unauthorized) {
            h.insert(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"openclaw\""),
            );
        }
        if matches!(self, Self::NoHealthyEndpoint(_) | Self::NotReady) {
            h.insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}
