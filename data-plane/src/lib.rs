//! The OpenClaw Gateway data plane: the proxy node that serves compiled routing tables.
//!
//! - [`node`] runs a node: it gets a first config ([`managed`] from the control plane, or
//!   [`standalone`] from local files), builds a runtime sized by it, serves, and drains on shutdown;
//! - [`state::Shared`] holds what outlives a config swap: the current [`compiled::Compiled`] table in
//!   an `ArcSwap` (a request loads it once and uses it to the end), the agent [`upstream`] registry,
//!   [`metrics`], and the pooled client;
//! - [`routing`] compiles and matches rules (the CLI links it too); [`proxy`] is the request path;
//! - [`balance`] picks an endpoint of a rule's pool by its load-balancing strategy;
//! - [`discovery`] is the client of the control plane's discovery stream.

pub mod balance;
mod boot;
pub mod compiled;
pub mod discovery;
pub mod explain;
pub mod http1;
pub mod limit;
mod logging;
mod managed;
pub mod metrics;
pub mod node;
mod not_enforced;
pub mod proxy;
pub mod routing;
pub mod semantic;
mod standalone;
pub mod state;
pub mod tls;
pub mod upstream;

pub use node::{ManagedOptions, NodeError, NodeOptions, run_node};
