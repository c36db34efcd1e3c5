//! The client towards agents, sized by `agents.connectionPool`.
//!
//! HTTP/1.1 goes over our own pooled client ([`crate::http1::client`]). Its pool limits idle connections
//! per host; `maxIdleConns` caps them across all hosts by giving each host at most
//! `maxIdleConns / hosts` (never more than `maxIdleConnsPerHost`), so the total never exceeds the cap.
//!
//! gRPC requests go over hyper's HTTP/2-only client (h2c with prior knowledge), so trailers and
//! `grpc-status` pass through and streams run both ways.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::Either;
use http::header::CONTENT_TYPE;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use openclaw_config::ConnectionPool;

use super::body::{BoxError, ProxyBody};
use super::headers::{Forwarding, strip_hop_by_hop};
use crate::http1::client::{self as agent_h1, AgentError, H1Body, Pool, TCP_KEEPALIVE};
use crate::http1::raw_fields::RawFields;
use crate::http1::req_headers::{RawHead, ReqHeaders};

/// The pooled clients and the settings they were built with.
pub struct UpstreamClient {
    h1: Pool,
    h2: Client<HttpConnector, ProxyBody>,
    per_host: usize,
    idle: Duration,
    connect: Duration,
}

/// A response body from an agent, whichever protocol carried it.
pub(crate) enum AgentBody {
    /// From an HTTP/1.1 agent.
    H1(H1Body),
    /// From an HTTP/2 (gRPC) agent.
    H2(Incoming),
}

// === impl UpstreamClient ===

impl UpstreamClient {
    /// A client for `hosts` agents under `pool`, giving up on a connect after `connect`.
    pub fn new(pool: &ConnectionPool, hosts: usize, connect: Duration) -> Self {
        let per_host = per_host(pool, hosts);
        let idle = pool.idle_timeout.get();
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(connect));
        connector.set_keepalive(Some(TCP_KEEPALIVE));
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
            h1: Pool::with_connect_timeout(per_host, idle, connect),
            h2,
            per_host,
            idle,
            connect,
        }
    }

    /// True when a client for these settings would be the same as this one.
    pub fn matches(&self, pool: &ConnectionPool, hosts: usize, connect: Duration) -> bool {
        self.per_host == per_host(pool, hosts)
            && self.idle == pool.idle_timeout.get()
            && self.connect == connect
    }

    /// Sends `req` to its agent: gRPC over HTTP/2, everything else over pooled HTTP/1.1. The future
    /// owns what it needs, so the client may be swapped while it runs. Its header fields are in its
    /// map or, as our HTTP/1.1 server read them, in `raw` (hop-by-hop ones still there); `forward`
    /// is added to them (for HTTP/1.1, as the head is written).
    pub(crate) fn request(
        &self,
        mut req: http::Request<ProxyBody>,
        raw: Option<RawHead>,
        forward: Forwarding,
    ) -> impl Future<Output = Result<http::Response<AgentBody>, AgentError>> + Send + 'static {
        // One future type for both protocols, built at once: each holds the request once, with no
        // async block around it that would keep a second copy.
        let content_type = match &raw {
            Some(raw) => raw.get(&CONTENT_TYPE),
            None => req.headers().get(CONTENT_TYPE).map(|v| v.as_bytes()),
        };
        if is_grpc(content_type) {
            if let Some(raw) = raw {
                let mut map = ReqHeaders::Raw(raw).into_map();
                strip_hop_by_hop(&mut map);
                *req.headers_mut() = map;
            }
            forward.apply(req.headers_mut());
            *req.version_mut() = http::Version::HTTP_2;
            // gRPC needs `te: trailers`, the one TE value HTTP/2 allows (it was stripped as hop-by-hop).
            req.headers_mut()
                .insert(http::header::TE, http::HeaderValue::from_static("trailers"));
            Either::Right(
                self.h2
                    .request(req)
                    .map(|r| Ok(r.map_err(AgentError::from)?.map(AgentBody::H2))),
            )
        } else {
            Either::Left(
                agent_h1::send(self.h1.clone(), Some(forward), req, raw)
                    .map(|r| Ok(r?.map(AgentBody::H1))),
            )
        }
    }
}

fn per_host(pool: &ConnectionPool, hosts: usize) -> usize {
    let cap = pool.max_idle_conns as usize / hosts.max(1);
    (pool.max_idle_conns_per_host as usize).min(cap.max(1))
}

/// True for gRPC requests (`content-type: application/grpc`, `application/grpc+proto`, …).
fn is_grpc(content_type: Option<&[u8]>) -> bool {
    content_type.is_some_and(|v| v.starts_with(b"application/grpc"))
}

// === impl AgentBody ===

impl AgentBody {
    /// An HTTP/1.1 response's header fields as received (once); `None` for HTTP/2, whose fields are
    /// in the response's header map.
    pub(crate) fn take_fields(&mut self) -> Option<RawFields> {
        match self {
            Self::H1(b) => b.take_fields(),
            Self::H2(_) => None,
        }
    }

    /// The agent's side of a `101 Switching Protocols` response (HTTP/1.1 only).
    pub(crate) fn into_upgraded(self) -> Option<agent_h1::Upgraded> {
        match self {
            Self::H1(b) => b.into_upgraded(),
            Self::H2(_) => None,
        }
    }
}

impl Body for AgentBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Self::H1(b) => Pin::new(b).poll_frame(cx),
            Self::H2(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::H1(b) => b.is_end_stream(),
            Self::H2(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::H1(b) => b.size_hint(),
            Self::H2(b) => b.size_hint(),
        }
    }
}
