//! The request path: accept connections, answer the node's own endpoints, route, authenticate, pick an
//! endpoint and forward with streaming bodies in both directions.
//!
//! Stages run in this order, each in its own file: [`server`] (connections, drain) → `endpoints`
//! (`/health`, `/ready`, `/metrics`) → `handler`, which composes `concurrency` (load shedding) →
//! `limits` (head size, body size) → `cors` (preflights, allow-origin) → `rate_limit` (gateway-wide)
//! → route → auth → `rate_limit` (the rule's) → agent
//! override → pick → forward → access log and metrics, with `body`, `headers` and `client` as the
//! pieces it uses, and `error` the one place a failure becomes a response.
//!
//! The HTTP/1.1 protocol itself (the client connection loop, the agent client, header views and the
//! parsers) lives in [`crate::http1`]; this module drives it and answers for the gateway.

pub(crate) mod body;
mod circuit;
mod client;
mod concurrency;
pub(crate) mod cors;
mod deadlines;
mod endpoints;
pub(crate) mod error;
mod handler;
pub(crate) mod headers;
pub(crate) mod limits;
mod pick;
mod rate_limit;
mod req_body;
mod retry;
mod semantic_stage;
mod server;
mod upgrade;

pub use crate::http1::req_headers::{RawHead, ReqHeaders};
pub(crate) use body::requested_agent;
pub use body::{BoxError, ProxyBody, full as full_body};
pub use client::UpstreamClient;
pub use concurrency::InFlightLimit;
pub use cors::CorsPolicy;
pub(crate) use deadlines::Deadlines;
pub(crate) use pick::{body_may_name_agent, header_agent, pick};
pub use server::serve;
