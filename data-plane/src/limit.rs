//! Rate limiting: GCRA buckets per client, gateway-wide (`http.rateLimit`) and per rule (a rule's
//! `rateLimit`), local to the node or global across nodes through Redis, with a limit on requests
//! in flight per client and on request body bytes per minute.
//!
//! - [`gcra`] is the arithmetic (one timestamp per key), [`local`] the node's sharded table,
//!   [`redis`] the global script and its fallback, [`concurrent`] the in-flight counts;
//! - [`key`] says whom a request counts against, [`headers`] writes the `RateLimit-*` fields;
//! - [`scope`] is one configured limit with its buckets; [`plan`] holds the limits of one config
//!   version (in [`crate::compiled::Compiled`]) and keeps unchanged ones across swaps.
//!
//! The request path enters through `proxy/rate_limit.rs`. A node without limits holds an empty
//! [`Plan`] and does nothing per request but test it.

mod concurrent;
mod gcra;
mod headers;
mod key;
mod local;
mod plan;
mod redis;
mod scope;

pub(crate) use concurrent::Permit;
pub(crate) use gcra::Decision;
pub(crate) use headers::write as write_headers;
pub(crate) use key::KeyKind;
pub use plan::{LimitState, Plan};
pub use redis::RedisError;
pub(crate) use scope::{Checked, Scope};
