//! The circuit-breaker stage around the exchange with an agent: a picked endpoint's circuit is
//! claimed before the request is sent (open circuits are already skipped by the picks, through
//! [`Endpoint::is_healthy`]), the outcome is recorded after (connect failures, resets, timeouts and
//! 5xx count as errors), and a target whose endpoints are all shut by their breakers is answered
//! 503 with `Retry-After` naming the agent.

use std::time::Duration;

use super::error::ProxyError;
use crate::compiled::Compiled;
use crate::routing::CompiledRule;
use crate::upstream::{CircuitState, Endpoint};

/// Claims `ep`'s circuit for one request (a no-op when breaking is off or the circuit is closed).
pub(super) fn claim(t: &Compiled, ep: &Endpoint) -> Result<(), ProxyError> {
    if t.breaker.is_none() {
        return Ok(());
    }
    match ep.breaker().claim() {
        Ok(Some(transition)) => {
            ep.log_transition(transition);
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(wait) => Err(ProxyError::CircuitOpen(
            ep.agent_id().to_string(),
            retry_secs(wait),
        )),
    }
}

/// Records the outcome of a request sent to `ep`.
pub(super) fn record(t: &Compiled, ep: &Endpoint, failed: bool) {
    if let Some(s) = &t.breaker
        && let Some(transition) = ep.breaker().record(failed, s)
    {
        ep.log_transition(transition);
    }
}

/// `e`, or — when it says the rule's target has no healthy endpoint and some of them pass their
/// health checks but have open circuits — 503 for an open circuit, with the shortest wait.
pub(super) fn explain_refusal(t: &Compiled, rule: &CompiledRule, e: ProxyError) -> ProxyError {
    if t.breaker.is_none() || !matches!(e, ProxyError::NoHealthyEndpoint(_)) {
        return e;
    }
    let open = t.choices[rule.index]
        .target
        .endpoints()
        .iter()
        .filter(|ep| ep.breaker().state() != CircuitState::Closed)
        .map(|ep| (ep.agent_id(), ep.breaker().retry_after()))
        .min_by_key(|(_, wait)| *wait);
    match open {
        Some((agent, wait)) => ProxyError::CircuitOpen(agent.to_string(), retry_secs(wait)),
        None => e,
    }
}

/// Whole seconds for `Retry-After`, rounded up, at least 1.
fn retry_secs(wait: Duration) -> u64 {
    wait.as_millis().div_ceil(1000).max(1) as u64
}
