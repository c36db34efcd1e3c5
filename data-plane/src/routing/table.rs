//! The compiled, immutable routing table and its matcher.
//!
//! Exact paths sit in a hash map, prefixes in a list sorted longest first, regexes in one `RegexSet`,
//! semantic rules in a list, and the default rule last. A request is matched with one pass per tier;
//! within a tier, rules whose methods or headers do not fit are skipped and the next candidate tried.

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderMap, Method};
use openclaw_config::{Gateway, MatchKind};
use regex::RegexSet;

use super::rule::CompiledRule;
use super::semantic::SemanticMatcher;

/// Why a snapshot cannot become a table (the node NACKs with this).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct CompileError {
    /// The JSON path of the offending value.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// What the matcher looks at.
#[derive(Clone, Copy, Debug)]
pub struct RequestInfo<'a> {
    /// The method.
    pub method: &'a Method,
    /// The path, without query.
    pub path: &'a str,
    /// The headers.
    pub headers: &'a HeaderMap,
}

/// The outcome of matching.
#[derive(Clone, Debug)]
pub enum Decision<'a> {
    /// A rule took the request.
    Matched {
        /// The rule.
        rule: &'a CompiledRule,
        /// Its semantic confidence, for semantic rules.
        confidence: Option<f64>,
    },
    /// Only semantic rules remain and they need the request text.
    NeedsText,
    /// Nothing matched and there is no default rule.
    NoRoute,
}

/// A snapshot's routing rules, compiled once and read lock-free by every request.
#[derive(Debug)]
pub struct RouteTable {
    rules: Vec<CompiledRule>,
    exact: HashMap<String, Vec<usize>>,
    prefixes: Vec<(String, usize)>,
    regex: Option<(RegexSet, Vec<usize>)>,
    semantic: Vec<usize>,
    default: Option<usize>,
}

// === impl CompileError ===

impl CompileError {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

// === impl RouteTable ===

impl RouteTable {
    /// Compiles the routing section of a validated document.
    pub fn compile(g: &Gateway) -> Result<Self, CompileError> {
        let agents = &g.agents.discovery.static_agents;
        let resolve = |name: &str| -> Option<Arc<[String]>> {
            match name.strip_prefix("tag:") {
                Some(tag) => Some(
                    agents
                        .iter()
                        .filter(|a| a.tags.iter().any(|t| t == tag))
                        .map(|a| a.id.clone())
                        .collect(),
                ),
                None => agents
                    .iter()
                    .any(|a| a.id == name)
                    .then(|| Arc::from(vec![name.to_string()])),
            }
        };
        let mut table = Self {
            rules: Vec::new(),
            exact: HashMap::new(),
            prefixes: Vec::new(),
            regex: None,
            semantic: Vec::new(),
            default: None,
        };
        let mut regexes = Vec::new();
        let mut regex_rules = Vec::new();
        for (i, rule) in g.routing.rules.iter().enumerate() {
            let compiled = CompiledRule::compile(i, rule, &resolve)?;
            let pattern = rule.matcher.pattern.clone().unwrap_or_default();
            match compiled.kind {
                MatchKind::Exact => table.exact.entry(pattern).or_default().push(i),
                MatchKind::Prefix => table.prefixes.push((prefix_base(&pattern), i)),
                MatchKind::Regex => {
                    regexes.push(pattern);
                    regex_rules.push(i);
                }
                MatchKind::Semantic => table.semantic.push(i),
                MatchKind::Default => {
                    table.default.get_or_insert(i);
                }
            }
            table.rules.push(compiled);
        }
        // Longest prefix first; equal lengths keep rule order (the sort is stable).
        table.prefixes.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
        if !regexes.is_empty() {
            let set = RegexSet::new(&regexes).map_err(|e| {
                CompileError::new(
                    "gateway.routing.rules",
                    format!("regex does not compile: {e}"),
                )
            })?;
            table.regex = Some((set, regex_rules));
        }
        Ok(table)
    }

    /// Every rule, in configuration order.
    pub fn rules(&self) -> &[CompiledRule] {
        &self.rules
    }

    /// True when some request could need its body text to be routed.
    pub fn has_semantic(&self) -> bool {
        !self.semantic.is_empty()
    }

    /// Matches by path, methods and headers; semantic rules need `text` (else [`Decision::NeedsText`]).
    pub fn route<'a>(
        &'a self,
        req: &RequestInfo<'_>,
        text: Option<&str>,
        semantic: &dyn SemanticMatcher,
    ) -> Decision<'a> {
        if let Some(rule) = self.match_static(req) {
            return Decision::Matched {
                rule,
                confidence: None,
            };
        }
        let admitted: Vec<&CompiledRule> = self
            .semantic
            .iter()
            .map(|i| &self.rules[*i])
            .filter(|r| r.conditions.admits(req.method, req.headers))
            .collect();
        if !admitted.is_empty() {
            let Some(text) = text else {
                return Decision::NeedsText;
            };
            let mut best: Option<(&CompiledRule, f64)> = None;
            for rule in admitted {
                let Some((threshold, categories)) = &rule.semantic else {
                    continue;
                };
                let c = semantic.confidence(text, categories);
                if c >= *threshold && best.is_none_or(|(_, b)| c > b) {
                    best = Some((rule, c));
                }
            }
            if let Some((rule, c)) = best {
                return Decision::Matched {
                    rule,
                    confidence: Some(c),
                };
            }
        }
        match self
            .default
            .map(|i| &self.rules[i])
            .filter(|r| r.conditions.admits(req.method, req.headers))
        {
            Some(rule) => Decision::Matched {
                rule,
                confidence: None,
            },
            None => Decision::NoRoute,
        }
    }

    fn match_static(&self, req: &RequestInfo<'_>) -> Option<&CompiledRule> {
        let admits = |i: &usize| self.rules[*i].conditions.admits(req.method, req.headers);
        if let Some(i) = self
            .exact
            .get(req.path)
            .and_then(|c| c.iter().find(|i| admits(i)))
        {
            return Some(&self.rules[*i]);
        }
        for (base, i) in &self.prefixes {
            if prefix_matches(base, req.path) && admits(i) {
                return Some(&self.rules[*i]);
            }
        }
        let (set, idx) = self.regex.as_ref()?;
        // `matches` reports every pattern; the first in rule order that admits the request wins.
        set.matches(req.path)
            .iter()
            .map(|m| idx[m])
            .find(admits)
            .map(|i| &self.rules[i])
    }
}

/// `/api/v1/*` and `/api/v1/` and `/api/v1` all mean the subtree at `/api/v1`.
fn prefix_base(pattern: &str) -> String {
    let p = pattern.strip_suffix("/*").unwrap_or(pattern);
    let p = p.trim_end_matches('/');
    p.to_string()
}

/// True when `path` is `base` or lies below it (segment-wise: `/api/v10` is not under `/api/v1`).
fn prefix_matches(base: &str, path: &str) -> bool {
    base.is_empty()
        || path == base
        || (path.starts_with(base) && path.as_bytes().get(base.len()) == Some(&b'/'))
}
