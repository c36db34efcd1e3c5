//! How one health check is made: the [`Probe`] seam, and [`HttpProbe`], which GETs the
//! health-check path over HTTP/1.1 with a small shared client.

use std::error::Error as _;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri, header};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::load::LoadReport;

/// What a [`Probe`] returns: resolves when the check is decided (the checker applies the timeout);
/// a passed check may carry the load the agent reported in its JSON body.
pub type ProbeFuture =
    Pin<Box<dyn Future<Output = Result<Option<LoadReport>, CheckFailure>> + Send>>;

/// The most of a health check's body read for a load report.
const MAX_REPORT_BODY: usize = 64 * 1024;

/// Makes one health check of an endpoint.
pub trait Probe: Send + Sync + 'static {
    /// Checks the endpoint at `uri` (its base URL joined with the health-check path).
    fn probe(&self, uri: Uri) -> ProbeFuture;
}

/// Why a health check failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckFailure {
    /// The endpoint answered with a status other than 2xx.
    #[error("answered with status {0}")]
    Status(u16),
    /// No answer within the check's timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// No connection could be opened.
    #[error("connect failed: {0}")]
    Connect(String),
    /// The connection broke or the request could not be made.
    #[error("request failed: {0}")]
    Request(String),
}

/// The default [`Probe`]: `GET <uri>` over plain HTTP/1.1, a new connection per check; 2xx passes,
/// and a JSON body's `cpu` and `memory` are read as the agent's load.
///
/// It does not speak TLS: endpoints are `http` only (nodes and validation refuse `https://` ones).
#[derive(Clone, Debug)]
pub struct HttpProbe {
    client: Client<HttpConnector, Empty<Bytes>>,
}

// === impl CheckFailure ===

impl CheckFailure {
    /// A short, stable name for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Status(_) => "status",
            Self::Timeout(_) => "timeout",
            Self::Connect(_) => "connect",
            Self::Request(_) => "request",
        }
    }
}

// === impl HttpProbe ===

impl HttpProbe {
    /// A probe with its own small client.
    pub fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        // No pooling: a check every few seconds does not need it, and a fresh connection also
        // proves the endpoint still accepts them.
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(connector);
        Self { client }
    }
}

impl Default for HttpProbe {
    fn default() -> Self {
        Self::new()
    }
}

impl Probe for HttpProbe {
    fn probe(&self, uri: Uri) -> ProbeFuture {
        let client = self.client.clone();
        Box::pin(async move {
            let req = Request::get(uri)
                .header(header::USER_AGENT, "openclaw-gateway-health-check")
                .body(Empty::new())
                .map_err(|e| CheckFailure::Request(e.to_string()))?;
            let res = client.request(req).await.map_err(|e| {
                let reason = error_chain(&e);
                if e.is_connect() {
                    CheckFailure::Connect(reason)
                } else {
                    CheckFailure::Request(reason)
                }
            })?;
            if !res.status().is_success() {
                return Err(CheckFailure::Status(res.status().as_u16()));
            }
            let json = res
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("json"));
            if !json {
                // Only the status matters and the connection is not reused.
                return Ok(None);
            }
            // A body that is too long or breaks off passes the check without a report.
            let body = Limited::new(res.into_body(), MAX_REPORT_BODY)
                .collect()
                .await;
            Ok(body
                .ok()
                .and_then(|b| LoadReport::from_health_body(&b.to_bytes())))
        })
    }
}

/// `e` and its sources, `: `-separated (hyper-util's own message is only "client error (Connect)").
fn error_chain(e: &hyper_util::client::legacy::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let _ = write!(out, ": {s}");
        source = s.source();
    }
    out
}
