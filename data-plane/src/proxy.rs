//! The request path: accept connections, answer the node's own endpoints, route, authenticate, pick an
//! endpoint and forward with streaming bodies in both directions.
//!
//! Stages run in this order, each in its own file: [`server`] (connections, drain) → `endpoints`
//! (`/health`, `/ready`, `/metrics`) → `handler`, which composes `concurrency` (load shedding) →
//! `limits` (head size, body size) → `cors` (preflights, allow-origin) → route → auth → agent
//! override → pick → forward → access log and metrics, with `body`, `headers` and `client` as the
//! pieces it uses, and `error` the one place a failure becomes a response.

mod agent_h1;
mod body;
mod circuit;
mod client;
mod client_io;
mod coarse_clock;
mod concurrency;
mod cors;
mod deadlines;
mod endpoints;
mod error;
mod framing;
mod h1_head;
mod h1_server;
mod handler;
mod headers;
mod limits;
mod pick;
mod prefixed;
mod raw_fields;
mod req_body;
mod req_headers;
mod retry;
mod semantic_stage;
mod server;
mod timed_io;
mod upgrade;
mod wire;

pub(crate) use body::requested_agent;
pub use body::{BoxError, ProxyBody, full as full_body};
pub use client::UpstreamClient;
pub use concurrency::InFlightLimit;
pub use cors::CorsPolicy;
pub(crate) use deadlines::Deadlines;
pub(crate) use pick::{body_may_name_agent, header_agent, pick};
pub use req_headers::{RawHead, ReqHeaders};
pub use server::serve;
