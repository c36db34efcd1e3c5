//! Upstreams: the long-lived registry of agents and their endpoint state.
//!
//! A config swap compiles a new route table, but what the proxy has learned about each agent endpoint
//! (health, requests in flight, check history, connect outcomes) must survive it. The [`Registry`]
//! owns that state, keyed by agent id and endpoint URL: [`Registry::sync`] reconciles it with each
//! snapshot and returns an immutable [`AgentSet`] for the new table, reusing the same
//! [`Arc<Endpoint>`](Endpoint) for every agent whose URL did not change. Active health checks run as
//! one task per endpoint through a [`Probe`] ([`HttpProbe`] by default); [`Choices::pick`] round
//! robins over the healthy endpoints of a rule's target.

mod agent_set;
mod checker;
mod endpoint;
mod error;
mod probe;
mod registry;

pub use agent_set::{AgentSet, Choices};
pub use endpoint::{Endpoint, EndpointHealth, InFlight, LastCheck};
pub use error::UpstreamError;
pub use probe::{CheckFailure, HttpProbe, Probe, ProbeFuture};
pub use registry::Registry;

#[cfg(test)]
mod tests;
