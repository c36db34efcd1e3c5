//! The one place a failed request becomes a response: a JSON body, the right status, and the metric kind.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use serde_json::json;

use super::body::{ProxyBody, full};
use crate::http1::raw_fields::Answer;
use crate::http1::server::{Refusal, Refuse};

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
    /// The agent did not answer (or went quiet) within a `gateway.agents.timeouts` bound.
    #[error("agent {0} timed out: {1}")]
    Timeout(String, String),
    /// The circuit breaker of every endpoint of the agent is open (seconds until a trial).
    #[error("circuit open for agent {0}: retry in {1}s")]
    CircuitOpen(String, u64),
    /// The agent failed after the request was sent.
    #[error("agent {0} failed: {1}")]
    Upstream(String, String),
    /// No config is applied yet.
    #[error("not ready: no config applied yet")]
    NotReady,
    /// The request body is (or grew) larger than `http.limits.maxBodySize` (in bytes).
    #[error("request body larger than {0} bytes")]
    PayloadTooLarge(u64),
    /// The request head is larger than `http.limits.maxHeaderSize` (in bytes).
    #[error("request headers larger than {0} bytes")]
    HeadersTooLarge(u64),
    /// A CORS preflight from an origin, or for a method, that `http.cors` does not allow.
    #[error("cross-origin request not allowed")]
    CorsRefused,
    /// The client stopped sending its request body for `http.timeouts.read`.
    #[error("request body not received in time (nothing for {0:?})")]
    RequestTimeout(std::time::Duration),
    /// The request head is not valid HTTP/1.1.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A rate limit (`gateway` or `rule <name>`) refused the request: too many `requests`, body
    /// `bytes` or `concurrent` requests.
    #[error("rate limit of {0} exceeded ({1}), retry later")]
    RateLimited(String, &'static str),
    /// A method the gateway does not serve (`CONNECT`).
    #[error("method {0} is not allowed")]
    MethodNotAllowed(http::Method),
    /// `performance.maxConcurrentRequests` requests are in flight already.
    #[error("too many requests in flight, retry later")]
    Overloaded,
}

// === impl ProxyError ===

impl ProxyError {
    /// The `gateway_error_total` kind.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::NoRoute(_) => "no_route",
            Self::Unauthorized => "unauthorized",
            Self::UnknownAgent(_)
            | Self::BadBody(_)
            | Self::BadRequest(_)
            | Self::MethodNotAllowed(_) => "bad_request",
            Self::NoHealthyEndpoint(_) => "no_healthy_endpoint",
            Self::Connect(_) => "upstream_connect",
            Self::Upstream(..) => "upstream_error",
            Self::Timeout(..) => "upstream_timeout",
            Self::CircuitOpen(..) => "circuit_open",
            Self::NotReady => "not_ready",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::HeadersTooLarge(_) => "headers_too_large",
            Self::CorsRefused => "cors_refused",
            Self::Overloaded => "overloaded",
            Self::RateLimited(..) => "rate_limited",
            Self::RequestTimeout(_) => "request_timeout",
        }
    }

    /// The HTTP status.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::NoRoute(_) => StatusCode::NOT_FOUND,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::UnknownAgent(_) | Self::BadBody(_) | Self::BadRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::NoHealthyEndpoint(_)
            | Self::NotReady
            | Self::Overloaded
            | Self::CircuitOpen(..) => StatusCode::SERVICE_UNAVAILABLE,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Connect(_) | Self::Upstream(..) => StatusCode::BAD_GATEWAY,
            Self::Timeout(..) => StatusCode::GATEWAY_TIMEOUT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::CorsRefused => StatusCode::FORBIDDEN,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::RateLimited(..) => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// The response, with the request id.
    pub(crate) fn into_response(self, request_id: &HeaderValue) -> Response<ProxyBody> {
        let mut body =
            json!({"error": self.to_string(), "requestId": request_id.to_str().unwrap_or("")});
        match &self {
            Self::NoRoute(path) => body["path"] = path.clone().into(),
            Self::Connect(agent)
            | Self::Upstream(agent, _)
            | Self::Timeout(agent, _)
            | Self::CircuitOpen(agent, _) => {
                body["agent"] = agent.clone().into();
            }
            _ => {}
        }
        let mut resp = Response::new(full(Bytes::from(body.to_string())));
        *resp.status_mut() = self.status();
        let h = resp.headers_mut();
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(super::headers::REQUEST_ID, request_id.clone());
        if matches!(self, Self::MethodNotAllowed(_)) {
            h.insert(
                http::header::ALLOW,
                HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
            );
        }
        if matches!(self, Self::Unauthorized) {
            h.insert(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"openclaw\""),
            );
        }
        if let Self::CircuitOpen(_, secs) = &self {
            h.insert(http::header::RETRY_AFTER, HeaderValue::from(*secs));
        } else if matches!(
            self,
            Self::NoHealthyEndpoint(_) | Self::NotReady | Self::Overloaded
        ) {
            h.insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if matches!(
            self,
            Self::PayloadTooLarge(_)
                | Self::RequestTimeout(_)
                | Self::BadRequest(_)
                | Self::MethodNotAllowed(_)
        ) {
            // The rest of the body is never read: the connection cannot carry another request.
            h.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }
}

/// The gateway's answer to a request the HTTP/1.1 server refuses before serving it: the JSON error.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeadRefusals;

impl Refuse for HeadRefusals {
    fn answer(&self, why: Refusal) -> Answer {
        let e = match why {
            Refusal::MethodNotAllowed(m) => ProxyError::MethodNotAllowed(m),
            Refusal::HeadersTooLarge(max) => ProxyError::HeadersTooLarge(max),
            Refusal::BadRequest(why) => ProxyError::BadRequest(why),
        };
        tracing::debug!(error = %e, "refusing a request head");
        let rid = super::headers::new_request_id();
        Answer::from_response(e.into_response(&rid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_and_shedding_errors_map_to_their_status_and_kind() {
        let rid = HeaderValue::from_static("rid");
        for (e, status, kind) in [
            (ProxyError::PayloadTooLarge(10), 413, "payload_too_large"),
            (ProxyError::HeadersTooLarge(10), 431, "headers_too_large"),
            (ProxyError::CorsRefused, 403, "cors_refused"),
            (ProxyError::Overloaded, 503, "overloaded"),
            (
                ProxyError::RateLimited("gateway".into(), "requests"),
                429,
                "rate_limited",
            ),
            (
                ProxyError::Timeout("a".into(), "no response in 1s".into()),
                504,
                "upstream_timeout",
            ),
            (ProxyError::CircuitOpen("a".into(), 7), 503, "circuit_open"),
            (
                ProxyError::RequestTimeout(std::time::Duration::from_secs(1)),
                408,
                "request_timeout",
            ),
        ] {
            assert_eq!(e.kind(), kind);
            assert!(
                crate::metrics::ERROR_KINDS.contains(&kind),
                "{kind} not pre-registered"
            );
            let r = e.into_response(&rid);
            assert_eq!(r.status().as_u16(), status);
            assert_eq!(r.headers()[http::header::CONTENT_TYPE], "application/json");
            assert_eq!(
                r.headers().get(http::header::RETRY_AFTER).is_some(),
                status == 503
            );
            assert!(
                r.headers()
                    .get(http::header::ACCESS_CONTROL_ALLOW_ORIGIN)
                    .is_none()
            );
        }
    }
}
