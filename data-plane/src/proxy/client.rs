//! The pooled HTTP client towards agents, sized by `agents.connectionPool`.
//!
//! hyper's pool limits idle connections per host; `maxIdleConns` caps them across all hosts by giving
//! each host at most `maxIdleConns / hosts` (never more than `maxIdleConnsPerHost`), so the total never
//! exceeds the cap.

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
            .build(connector);
        Self {
            client,
            per_host,
            idle,
        }
    }

    /// True when a client for these settings would be the same as this one.
    pub fn matches(&self, pool: &ConnectionPool, hosts: usize) -> bool {
        self.per_host == per_host(pool, hosts) && self.idle == pool.idle_timeout.get()
    }

    /// The hyper client.
    pub fn client(&self) -> &Client<HttpConnector, ProxyBody> {
        &self.client
    }
}

fn per_host(pool: &ConnectionPool, hosts: usize) -> usize {
    let cap = pool.max_idle_conns as usize / hosts.max(1);
    (pool.max_idle_conns_per_host as usize).min(cap.max(1))
}
