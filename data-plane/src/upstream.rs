//! Upstreams: the long-lived registry of agents and their endpoint state.
//!
//! A config swap compiles a new route table, but what the proxy has learned about each agent endpoint
//! (health, requests in flight, check history, connect outcomes, circuit breakers) must survive it. The [`Registry`]
//! owns that state, keyed by agent id and endpoint URL: [`Registry::sync`] reconciles it with each
//! snapshot and returns an immutable [`AgentSet`] for the new table, reusing the same
//! [`Arc<Endpoint>`](Endpoint) for every agent whose URL did not change. Active health checks run as
//! one task per endpoint through a [`Probe`] ([`HttpProbe`] by default). An agent may have several
//! endpoints; the balancers (`crate::balance`) pick among a rule's pool of them, reading the
//! per-endpoint [`LoadState`] kept here.

mod agent_set;
mod breaker;
mod checker;
mod endpoint;
mod error;
mod load;
mod probe;
mod registry;
mod retry_budget;

pub use agent_set::AgentSet;
pub use breaker::{Breaker, BreakerSettings, CircuitState, Transition};
pub use endpoint::{Endpoint, EndpointHealth, InFlight, LastCheck, health_changed, health_epoch};
pub use error::UpstreamError;
pub use load::{DEFAULT_DECAY, LoadReport, LoadState, now};
pub use probe::{CheckFailure, HttpProbe, Probe, ProbeFuture};
pub use registry::Registry;
pub use retry_budget::RetryBudget;

#[cfg(test)]
mod tests;

/// Helpers other modules' tests use to drive endpoint state.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::Endpoint;

    /// Marks `e` unhealthy, as a failed check with a threshold of one would.
    pub(crate) fn mark_down(e: &Endpoint) {
        let hc = openclaw_config::HealthCheck {
            fail_threshold: 1,
            ..openclaw_config::HealthCheck::default()
        };
        e.record_check(Err(&super::CheckFailure::Status(503)), &hc);
    }
}
