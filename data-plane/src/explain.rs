//! `route.explain`: how a table would route one request — the rule, the agent and endpoint, the
//! balancing strategy with its candidates and their effective weights (and for hashing strategies the
//! key it hashed), and for semantic rules every number behind the decision. The same routing code as the proxy, without sending
//! anything; the CLI links it to explain the control plane's current snapshot.

use std::net::IpAddr;

use http::{HeaderMap, Method};
use serde_json::{Value, json};

use crate::balance::KeyInput;
use crate::compiled::Compiled;
use crate::proxy::{ReqHeaders, body_may_name_agent, header_agent, requested_agent};
use crate::routing::{CompiledRule, Decision, RequestInfo};
use crate::semantic::semantic_text;

/// The request to explain. Its client IP (for `clientIp` keys) is the first `X-Forwarded-For`
/// address when it has one, else 127.0.0.1.
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
    let headers = ReqHeaders::Map(req.headers.clone());
    let info = RequestInfo {
        method: &req.method,
        path,
        headers: &headers,
    };
    let mut out = json!({"version": t.version, "method": req.method.as_str(), "path": path});
    let mut decision = t.routes.route(&info, None);
    if matches!(decision, Decision::NeedsText) {
        let text = semantic_text(&t.gateway.routing.semantic, Some(&req.body));
        let scores = match (&t.semantic, &text) {
            (Some(index), Ok(text)) => {
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
            "text": text.as_ref().ok(),
            "skipped": text.as_ref().err().map(|why| why.describe()),
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
            let key = KeyInput {
                client_ip: client_ip(&headers),
                headers: &headers,
                query: req.path.split_once('?').map(|(_, q)| q),
                body: Some(&req.body),
            };
            out["pick"] = pick(t, rule, &headers, &req.body, &key);
            out["balancing"] = t.choices[rule.index].target.explain(&key);
            if rule.fallback.is_some() {
                out["fallbackBalancing"] = t.choices[rule.index].fallback.explain(&key);
            }
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

/// The agent and endpoint the proxy would pick (healthy ones only; for stateful strategies such as
/// round robin, the next pick of this explanation's table).
fn pick(
    t: &Compiled,
    rule: &CompiledRule,
    headers: &ReqHeaders,
    body: &[u8],
    key: &KeyInput<'_>,
) -> Value {
    let named = rule
        .allow_agent_override
        .then(|| {
            header_agent(headers).or_else(|| {
                body_may_name_agent(headers)
                    .then(|| requested_agent(body))
                    .flatten()
            })
        })
        .flatten();
    match crate::proxy::pick(t, rule, named.as_deref(), key) {
        Ok((ep, by)) => {
            json!({"agent": ep.agent_id(), "endpoint": ep.url().to_string(), "by": by.as_str()})
        }
        Err(e) => json!({"result": format!("{}: {e}", e.status().as_u16())}),
    }
}

/// The first `X-Forwarded-For` address, else 127.0.0.1.
fn client_ip(h: &ReqHeaders) -> IpAddr {
    h.get_str(&http::header::HeaderName::from_static("x-forwarded-for"))
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
}

fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::semantic::ModelStore;
    use crate::upstream::Registry;

    #[tokio::test]
    async fn explanations_show_the_strategy_candidates_weights_and_hashed_key() {
        let doc = json!({"gateway": {
            "agents": {"discovery": {"static": [
                {"id": "a", "endpoints": ["http://10.0.0.1:80", {"url": "http://10.0.0.2:80", "weight": 50}]},
                {"id": "b", "endpoint": "http://10.0.0.3:80", "weight": 200}
            ]}, "healthCheck": {"enabled": false}},
            "routing": {"rules": [
                {"name": "r", "match": {"type": "default"}, "target": "a", "fallback": "b",
                 "loadBalancing": {"strategy": "ringHash", "hashOn": "body:session_id"}}
            ]}
        }});
        let registry = Registry::new();
        let t = Compiled::build(&doc, 1, &registry, &|_| None, &ModelStore::new()).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            "application/json".parse().unwrap(),
        );
        let req = ExplainRequest {
            method: Method::POST,
            path: "/x".into(),
            headers,
            body: br#"{"session_id": "conv-1"}"#.to_vec(),
        };
        let v = explain(&t, &req).await;
        let b = &v["balancing"];
        assert_eq!(b["strategy"], "ringHash");
        assert_eq!(b["hashOn"], "body:session_id");
        assert_eq!(b["key"], "conv-1");
        let weights: Vec<_> = b["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["effectiveWeight"].as_f64().unwrap())
            .collect();
        assert_eq!(weights, [100.0, 50.0]);
        assert_eq!(v["fallbackBalancing"]["candidates"][0]["weight"], 200);
        assert_eq!(v["pick"]["agent"], "a");
        // The same key, the same endpoint.
        let again = explain(&t, &req).await;
        assert_eq!(again["pick"]["endpoint"], v["pick"]["endpoint"]);
        registry.shutdown();
    }
}
