//! Which endpoint serves a matched request: the agent the request names (when its rule allows that;
//! its endpoints balanced by the global strategy), else the rule's target, else its fallback —
//! healthy endpoints only, by the rule's balancing strategy (`crate::balance`). The proxy and
//! `route.explain` both pick here, so an explanation is what the proxy would do.

use std::sync::Arc;

use super::error::ProxyError;
use super::headers::AGENT_OVERRIDE;
use crate::balance::KeyInput;
use crate::compiled::Compiled;
use crate::http1::req_headers::ReqHeaders;
use crate::routing::CompiledRule;
use crate::upstream::Endpoint;

/// How the endpoint was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PickedBy {
    /// The request named its agent.
    Override,
    /// The rule's target.
    Target,
    /// The rule's fallback (the target, or the named agent, had no healthy endpoint).
    Fallback,
}

// === impl PickedBy ===

impl PickedBy {
    /// The name used in explanations.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Override => "agent override",
            Self::Target => "target",
            Self::Fallback => "fallback",
        }
    }
}

/// The agent named by the `x-openclaw-agent` header.
pub(crate) fn header_agent(h: &ReqHeaders) -> Option<String> {
    h.get_str(&AGENT_OVERRIDE).map(str::to_string)
}

/// True when the body is JSON, so it may name its agent in an `agent` field.
pub(crate) fn body_may_name_agent(h: &ReqHeaders) -> bool {
    h.get_str(&http::header::CONTENT_TYPE)
        .is_some_and(|v| v.contains("json"))
}

/// The endpoint for a request matched by `rule` that names agent `named` (ignored unless the rule
/// allows overrides); `req` carries what a hashing strategy reads.
pub(crate) fn pick(
    t: &Compiled,
    rule: &CompiledRule,
    named: Option<&str>,
    req: &KeyInput<'_>,
) -> Result<(Arc<Endpoint>, PickedBy), ProxyError> {
    if let Some(name) = named.filter(|_| rule.allow_agent_override) {
        let pool = t
            .agent_pools
            .get(name)
            .ok_or_else(|| ProxyError::UnknownAgent(name.to_string()))?;
        if let Some(ep) = pool.pick(req) {
            return Ok((ep, PickedBy::Override));
        }
        return t.choices[rule.index]
            .fallback
            .pick(req)
            .filter(|f| f.agent_id() != name)
            .map(|f| (f, PickedBy::Fallback))
            .ok_or_else(|| ProxyError::NoHealthyEndpoint(name.to_string()));
    }
    let choices = &t.choices[rule.index];
    if let Some(ep) = choices.target.pick(req) {
        return Ok((ep, PickedBy::Target));
    }
    choices
        .fallback
        .pick(req)
        .map(|ep| (ep, PickedBy::Fallback))
        .ok_or_else(|| ProxyError::NoHealthyEndpoint(rule.target.name.clone()))
}

/// A healthy fallback endpoint of another agent than `failed`'s.
pub(crate) fn fallback(
    t: &Compiled,
    rule: &CompiledRule,
    failed: &Endpoint,
    req: &KeyInput<'_>,
) -> Option<Arc<Endpoint>> {
    let ep = t.choices[rule.index].fallback.pick(req)?;
    (ep.agent_id() != failed.agent_id()).then_some(ep)
}
