//! Seed settings this node accepts but does not act on yet: listed under `notEnforced` in `/health` and
//! logged once, so nobody believes a setting works when it does not.

use openclaw_config::{CacheKind, DiscoveryMethod, EventLoop, Gateway, LogOutputKind};

/// Paths of the settings in `g` that this node does not enforce yet.
pub(crate) fn not_enforced(g: &Gateway) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: &str| out.push(format!("gateway.{s}"));
    // The listener's hardening settings (timeouts, limits, load shedding) come with the listener work.
    if g.performance.event_loop == EventLoop::IoUring {
        push("performance.eventLoop");
    }
    if g.agents.discovery.method == DiscoveryMethod::K8s {
        push("agents.discovery.k8s");
    }
    // Balancing (strategy, slowStart, a rule's loadBalancing) and the circuit breaker are enforced.
    for (i, r) in g.routing.rules.iter().enumerate() {
        for (set, key) in [(r.cache, "cache")] {
            if set {
                push(&format!("routing.rules[{i}].{key}"));
            }
        }
    }
    if !g.cache.layers.is_empty() {
        push("cache.layers");
        if g.cache
            .layers
            .iter()
            .any(|l| l.kind == Some(CacheKind::Redis))
        {
            push("cache.layers (redis)");
        }
    }
    if g.cache.cache_control.enabled && !g.cache.layers.is_empty() {
        push("cache.cacheControl");
    }
    for (i, o) in g.logging.outputs.iter().enumerate() {
        if matches!(o.kind, Some(LogOutputKind::File | LogOutputKind::Syslog)) {
            push(&format!("logging.outputs[{i}]"));
        }
    }
    if g.logging.sampling.enabled {
        push("logging.sampling");
    }
    if g.monitoring.open_telemetry.enabled {
        push("monitoring.openTelemetry");
    }
    out.dedup();
    out
}
