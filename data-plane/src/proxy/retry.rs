//! The retry stage around the exchange with an agent (`routing.rules[i].retry`): which failures a
//! request is sent again for (`on`; idempotent methods only unless `non-idempotent` is listed), to
//! which endpoint (another one of the pool when there is one), after which backoff (exponential,
//! full jitter), and within the agent's budget. A request is retried only while its body is whole
//! in hand and before any response byte has gone to the client; the handler guarantees both.

use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use openclaw_config::{Retry, RetryOn};

use crate::balance::KeyInput;
use crate::compiled::Compiled;
use crate::routing::CompiledRule;
use crate::upstream::{Endpoint, RetryBudget};

/// The retry policy of one request.
pub(super) struct Policy<'t> {
    cfg: &'t Retry,
    idempotent: bool,
    budgets: &'t fxhash::FxHashMap<String, Arc<RetryBudget>>,
}

// === impl Policy ===

impl<'t> Policy<'t> {
    /// The policy of a request of `method` matched by `rule`; `None` when the rule does not retry.
    pub(super) fn new(t: &'t Compiled, rule: &CompiledRule, method: &Method) -> Option<Self> {
        let cfg = t.gateway.routing.rules.get(rule.index)?.retry.as_ref()?;
        Some(Self {
            cfg,
            idempotent: is_idempotent(method),
            budgets: &t.retry_budgets,
        })
    }

    /// Tries in all, the first included.
    pub(super) fn attempts(&self) -> u32 {
        self.cfg.attempts.max(1)
    }

    /// Counts a request to `ep`'s agent towards its budget.
    pub(super) fn deposit(&self, ep: &Endpoint) {
        if let Some(b) = self.budgets.get(ep.agent_id()) {
            b.deposit(self.cfg.budget_percent);
        }
    }

    /// Whether `why` is a reason to retry this request.
    pub(super) fn allows(&self, why: RetryOn) -> bool {
        let listed = |c| self.cfg.on.contains(&c);
        let method_ok = self.idempotent || listed(RetryOn::NonIdempotent);
        let cause_ok = match why {
            RetryOn::GatewayError => listed(RetryOn::GatewayError) || listed(RetryOn::ServerError),
            other => listed(other),
        };
        method_ok && cause_ok
    }

    /// The reason an answer of `status` gives to retry, if any.
    pub(super) fn status_reason(status: StatusCode) -> Option<RetryOn> {
        match status.as_u16() {
            502..=504 => Some(RetryOn::GatewayError),
            500..=599 => Some(RetryOn::ServerError),
            _ => None,
        }
    }

    /// Takes a retry from `ep`'s agent's budget; false when it is spent.
    pub(super) fn withdraw(&self, ep: &Endpoint) -> bool {
        self.budgets
            .get(ep.agent_id())
            .is_some_and(|b| b.try_withdraw(self.cfg.min_retries_per_second))
    }

    /// Waits before retry number `n` (from 1): a random time up to `backoff` × 2^(n−1).
    pub(super) async fn backoff(&self, n: u32) {
        let ceiling = self
            .cfg
            .backoff
            .get()
            .saturating_mul(1 << n.saturating_sub(1).min(10));
        let wait = ceiling.mul_f64(crate::balance::unit_random());
        if wait > Duration::ZERO {
            tokio::time::sleep(wait).await;
        }
    }
}

/// Another healthy endpoint of the rule's target than `failed`, else `failed` itself when it is
/// still healthy (a pool of one is retried in place), else none.
pub(super) fn next_endpoint(
    t: &Compiled,
    rule: &CompiledRule,
    failed: &Arc<Endpoint>,
    req: &KeyInput<'_>,
) -> Option<Arc<Endpoint>> {
    let target = &t.choices[rule.index].target;
    for _ in 0..3 {
        match target.pick(req) {
            Some(ep) if !Arc::ptr_eq(&ep, failed) => return Some(ep),
            Some(_) => {}
            None => break,
        }
    }
    target
        .endpoints()
        .iter()
        .find(|e| !Arc::ptr_eq(e, failed) && e.is_healthy())
        .cloned()
        .or_else(|| failed.is_healthy().then(|| failed.clone()))
}

/// GET, HEAD, OPTIONS, TRACE, PUT and DELETE: sending them twice does what sending them once does.
fn is_idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy<'a>(
        on: &[RetryOn],
        method: &Method,
        cfg: &'a mut Option<Retry>,
        budgets: &'a fxhash::FxHashMap<String, Arc<RetryBudget>>,
    ) -> Policy<'a> {
        *cfg = Some(Retry {
            on: on.to_vec(),
            ..Retry::default()
        });
        Policy {
            cfg: cfg.as_ref().unwrap(),
            idempotent: is_idempotent(method),
            budgets,
        }
    }

    #[test]
    fn post_is_retried_only_when_non_idempotent_is_listed() {
        let budgets = fxhash::FxHashMap::default();
        let (mut a, mut b, mut c) = (None, None, None);
        let get = policy(&[RetryOn::GatewayError], &Method::GET, &mut a, &budgets);
        assert!(get.allows(RetryOn::GatewayError));
        assert!(!get.allows(RetryOn::ConnectFailure));
        let post = policy(&[RetryOn::ConnectFailure], &Method::POST, &mut b, &budgets);
        assert!(!post.allows(RetryOn::ConnectFailure));
        let opted = policy(
            &[RetryOn::ConnectFailure, RetryOn::NonIdempotent],
            &Method::POST,
            &mut c,
            &budgets,
        );
        assert!(opted.allows(RetryOn::ConnectFailure));
        assert!(!opted.allows(RetryOn::Timeout));
    }

    #[test]
    fn five_xx_covers_gateway_errors() {
        let budgets = fxhash::FxHashMap::default();
        let mut a = None;
        let p = policy(&[RetryOn::ServerError], &Method::GET, &mut a, &budgets);
        assert!(p.allows(RetryOn::GatewayError));
        assert_eq!(
            Policy::status_reason(StatusCode::SERVICE_UNAVAILABLE),
            Some(RetryOn::GatewayError)
        );
        assert_eq!(
            Policy::status_reason(StatusCode::INTERNAL_SERVER_ERROR),
            Some(RetryOn::ServerError)
        );
        assert_eq!(Policy::status_reason(StatusCode::NOT_FOUND), None);
    }
}
