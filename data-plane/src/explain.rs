//! `route.explain`: how a table would route one request — the rule, the agent and endpoint, and for
//! semantic rules every number behind the decision. The same routing code as the proxy, without sending
//! anything; the CLI links it to explain the control plane's current snapshot.

use http::{HeaderMap, Method};
use serde_json::{Value, json};

use crate::compiled::Compiled;
use crate::proxy::requested_agent;
use crate::routing::{CompiledRule, Decision, RequestInfo};
use crate::semantic::request_text;

/// The request to explain.
#[derive(Clone, Debug)]
pub struct ExplainRequest {
    /// Its method.
    pub method: Method,
    /// Its path (a query string is ignored).
    pub path: String,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Vec<u8>,
}

/// The routing decision for `req` under `t`, as JSON.
pub async fn explain(t: &Compiled, req: &ExplainRequest) -> Value {
    let path = req.path.split('?').next().unwrap_or("/");
    let info = RequestInfo {
        method: &req.method,
        path,
        headers: &req.headers,
    };
    let mut out = json!({"version": t.version, "method": req.method.as_str(), "path": path});
    let mut decision = t.routes.route(&info, None);
    if matches!(decision, Decision::NeedsText) {
        let cfg = &t.gateway.routing.semantic;
        let too_large = req.body.len() as u64 > cfg.max_body_size.bytes();
        let text = (!too_large)
            .then(|| request_text(&req.body, cfg.text_pointer.as_deref()))
            .flatten();
        let scores = match (&t.semantic, &text) {
            (Some(index), Some(text)) => {
                index.ready(std::time::Duration::from_secs(10)).await;
                Some(index.score(text).await)
            }
            _ => None,
        };
        let none = crate::semantic::Scores::none();
        let s = scores.as_deref().unwrap_or(&none);
        decision = t.routes.route(&info, Some(s));
        let ranking = t.routes.rank_semantic(&info, s);
        out["semantic"] = json!({
            "text": text,
            "skipped": if too_large { Some("body over gateway.routing.semantic.maxBodySize") } else if text.is_none() { Some("no text in the body") } else { None },
            "encoder": s.encoder,
            "fallback": s.fallback,
            "status": t.semantic.as_ref().map(|i| i.status()),
            "margin": ranking.margin,
            "categories": s.categories.iter().map(|c| json!({
                "name": &*c.name,
                "similarity": round(f64::from(c.raw)),
                "confidence": round(c.confidence),
            })).collect::<Vec<_>>(),
            "rules": ranking.ranked.iter().map(|r| json!({
                "rule": r.rule.name,
                "category": r.category.as_deref(),
                "similarity": round(f64::from(r.raw)),
                "confidence": round(r.confidence),
                "threshold": r.threshold,
            })).collect::<Vec<_>>(),
            "matched": ranking.winner.map(|w| ranking.ranked[w].rule.name.clone()),
            "reason": ranking.reason,
        });
    }
    match decision {
        Decision::Matched { rule, .. } => {
            out["rule"] = rule_json(rule);
            out["pick"] = pick(t, rule, req);
        }
        Decision::NeedsText | Decision::NoRoute => {
            out["rule"] = Value::Null;
            out["result"] = json!(format!("404: no rule matches {path}"));
        }
    }
    out
}

fn rule_json(rule: &CompiledRule) -> Value {
    json!({
        "name": rule.name,
        "kind": rule.kind.name(),
        "target": rule.target.name,
        "fallback": rule.fallback.as_ref().map(|f| &f.name),
        "requiresAuth": rule.requires_auth,
    })
}

/// The agent and endpoint the proxy would pick (first in round-robin order, healthy ones only).
fn pick(t: &Compiled, rule: &CompiledRule, req: &ExplainRequest) -> Value {
    if rule.allow_agent_override {
        let named = req
            .headers
            .get(crate::proxy::AGENT_OVERRIDE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| requested_agent(&req.body));
        if let Some(name) = named {
            return match t.agents.get(&name) {
                Some(ep) => {
                    json!({"agent": name, "endpoint": ep.url().to_string(), "by": "agent override"})
                }
                None => json!({"result": format!("400: unknown agent {name}")}),
            };
        }
    }
    let cursors = &t.cursors[rule.index];
    if let Some(ep) = t.agents.pick(&rule.target.agents, &cursors.target) {
        return json!({"agent": ep.agent_id(), "endpoint": ep.url().to_string(), "by": "target"});
    }
    if let Some(ep) = rule
        .fallback
        .as_ref()
        .and_then(|f| t.agents.pick(&f.agents, &cursors.fallback))
    {
        return json!({"agent": ep.agent_id(), "endpoint": ep.url().to_string(), "by": "fallback"});
    }
    json!({"result": format!("503: no healthy endpoint for {}", rule.target.name)})
}

fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}
