//! The pooled HTTP client towards agents, sized by `agents.connectionPool`.
//!
//! hyper's pool limits idle connections per host; `maxIdleConns` caps them across all hosts by giving
//! each host at most `maxIdleConns / hosts` (never more than `maxIdleConnsPerHost`), so the total never
//! exceeds the cap.
//!
//! gRPC requests go over a second, HTTP/2-only client (h2c with prior knowledge, or h2 when the agent
//! URL is https in a later step), so trailers and `grpc-status` pass through and streams run both ways.

use std::time::Duration;

use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use openclaw_config::ConnectionPool;

use super::body::ProxyBody;

/// How long establishing a connection to an agent may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A pooled client and the settings it was built with.
pub struct UpstreamClient {
    client: Client<HttpConnector, ProxyBody>,
    h2: Client<HttpConnector, ProxyBody>,
    per_host: usize,
    idle: Duration,
}

// === impl UpstreamClient ===

impl UpstreamClient {
    /// A client for `hosts` agents under `pool`.
    pub fn new(pool: &ConnectionPool, hosts: usize) -> Self {
        let per_host = per_host(pool, hosts);
        let idle = pool.idle_timeout.get();
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_keepalive(Some(Duration::from_secs(60)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(idle)
            .pool_max_idle_per_host(per_host)
            .pool_timer(hyper_util::rt::TokioTimer::new())
            .build(connector.clone());
        // One multiplexed connection per agent carries every gRPC call.
        let h2 = Client::builder(TokioExecutor::new())
            .http2_only(true)
            .pool_idle_timeout(idle)
            .pool_max_idle_per_host(1)
            .pool_timer(hyper_util::rt::TokioTimer::new())
            .timer(hyper_util::rt::TokioTimer::new())
            .http2_keep_alive_interval(Duration::from_secs(30))
            .build(connector);
        Self {
            client,
            h2,
            per_host,
            idle,
        }
    }

    /// True when a client for these settings would be the same as this one.
    pub fn matches(&self, pool: &ConnectionPool, hosts: usize) -> bool {
        self.per_host == per_host(pool, hosts) && self.idle == pool.idle_timeout.get()
    }

    /// Sends `req` to its agent: gRPC over HTTP/2, everything else over pooled HTTP/1.1.
    pub fn request(
        &self,
        mut req: http::Request<ProxyBody>,
    ) -> hyper_util::client::legacy::ResponseFuture {
        if is_grpc(req.headers()) {
            *req.version_mut() = http::Version::HTTP_2;
            // gRPC needs `te: trailers`, the one TE value HTTP/2 allows (it was stripped as hop-by-hop).
            req.headers_mut()
                .insert(http::header::TE, http::HeaderValue::from_static("trailers"));
            return self.h2.request(req);
        }
        self.client.request(req)
    }
}

fn per_host(pool: &ConnectionPool, hosts: usize) -> usize {
    let cap = pool.max_idle_conns as usize / hosts.max(1);
    (pool.max_idle_conns_per_host as usize).min(cap.max(1))
}

/// True for gRPC requests (`content-type: application/grpc`, `application/grpc+proto`, …).
fn is_grpc(h: &http::HeaderMap) -> bool {
    h.get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}
