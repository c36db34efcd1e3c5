//! One compiled rule: its conditions (methods, headers) and its resolved targets.

use std::sync::Arc;

use http::{HeaderName, HeaderValue, Method};
use openclaw_config::{MatchKind, Rule};

use crate::proxy::ReqHeaders;

use super::table::CompileError;

/// Where a rule sends requests: the agent ids it resolved to (a `tag:` target expands to every agent
/// carrying the tag, in configuration order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// As written: an agent id or `tag:<name>`.
    pub name: String,
    /// The agent ids it names.
    pub agents: Arc<[String]>,
}

/// What besides the path a request must satisfy.
#[derive(Clone, Debug, Default)]
pub struct Conditions {
    /// Allowed methods; empty allows all.
    pub methods: Vec<Method>,
    /// Headers that must be present with these exact values.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// A rule ready to serve.
#[derive(Clone, Debug)]
pub struct CompiledRule {
    /// The rule's name.
    pub name: String,
    /// The name as the `x-openclaw-route` response header value (`None` if it cannot be one).
    pub route_header: Option<HeaderValue>,
    /// Its match kind.
    pub kind: MatchKind,
    /// Its position in the configuration (ties break by it).
    pub index: usize,
    /// Conditions besides the path.
    pub conditions: Conditions,
    /// Where requests go.
    pub target: Target,
    /// Where they go when the target has no healthy endpoint or refuses the connection.
    pub fallback: Option<Target>,
    /// Requests need a valid API key.
    pub requires_auth: bool,
    /// A request may name its agent.
    pub allow_agent_override: bool,
    /// Semantic threshold and categories (semantic rules only).
    pub semantic: Option<(f64, Vec<String>)>,
}

// === impl Conditions ===

impl Conditions {
    /// True when `method` and `headers` satisfy every condition.
    pub fn admits(&self, method: &Method, headers: &ReqHeaders) -> bool {
        (self.methods.is_empty() || self.methods.contains(method))
            && self
                .headers
                .iter()
                .all(|(n, v)| headers.get_all(n).any(|x| x == v.as_bytes()))
    }
}

// === impl CompiledRule ===

impl CompiledRule {
    /// Compiles `rule` (at `index`), resolving targets with `resolve`.
    pub(crate) fn compile(
        index: usize,
        rule: &Rule,
        resolve: &dyn Fn(&str) -> Option<Arc<[String]>>,
    ) -> Result<Self, CompileError> {
        let at = |what: &str| format!("gateway.routing.rules[{index}].{what}");
        let kind = rule
            .matcher
            .kind
            .ok_or_else(|| CompileError::new(at("match.type"), "is required"))?;
        let target = resolve_target(&rule.target, resolve).ok_or_else(|| {
            CompileError::new(
                at("target"),
                format!("names no known agent: {}", rule.target),
            )
        })?;
        let fallback = match &rule.fallback {
            Some(f) => Some(resolve_target(f, resolve).ok_or_else(|| {
                CompileError::new(at("fallback"), format!("names no known agent: {f}"))
            })?),
            None => None,
        };
        let mut methods = Vec::new();
        for m in &rule.methods {
            methods.push(
                Method::from_bytes(m.as_bytes())
                    .map_err(|_| CompileError::new(at("methods"), format!("not a method: {m}")))?,
            );
        }
        let mut headers = Vec::new();
        for (n, v) in &rule.headers {
            let name = HeaderName::from_bytes(n.as_bytes())
                .map_err(|_| CompileError::new(at("headers"), format!("not a header name: {n}")))?;
            let value = HeaderValue::from_str(v).map_err(|_| {
                CompileError::new(at("headers"), format!("not a header value for {n}"))
            })?;
            headers.push((name, value));
        }
        let semantic = (kind == MatchKind::Semantic).then(|| {
            (
                rule.matcher.threshold.unwrap_or(1.0),
                rule.matcher.categories.clone(),
            )
        });
        Ok(Self {
            name: rule.name.clone(),
            route_header: HeaderValue::from_str(&rule.name).ok(),
            kind,
            index,
            conditions: Conditions { methods, headers },
            target,
            fallback,
            requires_auth: rule.requires_auth,
            allow_agent_override: rule.allow_agent_override,
            semantic,
        })
    }
}

fn resolve_target(name: &str, resolve: &dyn Fn(&str) -> Option<Arc<[String]>>) -> Option<Target> {
    resolve(name)
        .filter(|a| !a.is_empty())
        .map(|agents| Target {
            name: name.to_string(),
            agents,
        })
}
