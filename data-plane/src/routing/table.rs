//! The compiled, immutable routing table and its matcher.
//!
//! Exact paths sit in a hash map, prefixes in a list sorted longest first, regexes in one `RegexSet`,
//! semantic rules in a list, and the default rule last. A request is matched with one pass per tier;
//! within a tier, rules whose methods or headers do not fit are skipped and the next candidate tried.

use std::collections::HashMap;
use std::sync::Arc;

use http::Method;
use openclaw_config::{Gateway, MatchKind};
use regex::RegexSet;

use super::rule::CompiledRule;
use crate::proxy::ReqHeaders;
use crate::semantic::Scores;

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
    pub headers: &'a ReqHeaders,
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

/// One semantic rule's standing for a request.
#[derive(Clone, Debug)]
pub struct RuleScore<'a> {
    /// The rule.
    pub rule: &'a CompiledRule,
    /// Its best category.
    pub category: Option<Arc<str>>,
    /// That category's raw similarity.
    pub raw: f32,
    /// That category's calibrated confidence (the rule's confidence).
    pub confidence: f64,
    /// The rule's threshold.
    pub threshold: f64,
}

/// The semantic stage's verdict: every admitted rule ranked, and the winner if one qualifies.
#[derive(Clone, Debug)]
pub struct SemanticRanking<'a> {
    /// Rules by descending confidence.
    pub ranked: Vec<RuleScore<'a>>,
    /// The margin the leader must keep over the runner-up.
    pub margin: f64,
    /// The index in `ranked` of the rule that takes the request.
    pub winner: Option<usize>,
    /// Why no rule took it, when none did.
    pub reason: Option<String>,
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
    margin: f64,
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
            margin: g.routing.semantic.margin,
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

    /// Every category the semantic rules name (what a semantic index must cover).
    pub fn semantic_categories(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .semantic
            .iter()
            .filter_map(|i| self.rules[*i].semantic.as_ref())
            .flat_map(|(_, cats)| cats.iter().cloned())
            .collect();
        all.sort();
        all.dedup();
        all
    }

    /// Matches by path, methods and headers; semantic rules need the request's `scores` (else
    /// [`Decision::NeedsText`]).
    pub fn route<'a>(&'a self, req: &RequestInfo<'_>, scores: Option<&Scores>) -> Decision<'a> {
        if let Some(rule) = self.match_static(req) {
            return Decision::Matched {
                rule,
                confidence: None,
            };
        }
        if self.admits_semantic(req) {
            let Some(scores) = scores else {
                return Decision::NeedsText;
            };
            let ranking = self.rank_semantic(req, scores);
            if let Some(w) = ranking.winner {
                let s = &ranking.ranked[w];
                return Decision::Matched {
                    rule: s.rule,
                    confidence: Some(s.confidence),
                };
            }
        }
        self.default_for(req)
    }

    /// True when some semantic rule's methods and headers admit `req`.
    fn admits_semantic(&self, req: &RequestInfo<'_>) -> bool {
        self.semantic
            .iter()
            .any(|i| self.rules[*i].conditions.admits(req.method, req.headers))
    }

    /// Ranks the admitted semantic rules: the leader takes the request when its confidence reaches its
    /// threshold and beats the runner-up by the margin.
    pub fn rank_semantic<'a>(
        &'a self,
        req: &RequestInfo<'_>,
        scores: &Scores,
    ) -> SemanticRanking<'a> {
        let mut ranked: Vec<RuleScore<'a>> = self
            .semantic
            .iter()
            .map(|i| &self.rules[*i])
            .filter(|r| r.conditions.admits(req.method, req.headers))
            .filter_map(|rule| {
                let (threshold, categories) = rule.semantic.as_ref()?;
                let best = scores
                    .categories
                    .iter()
                    .filter(|c| categories.iter().any(|n| **n == *c.name))
                    .max_by(|a, b| a.confidence.total_cmp(&b.confidence));
                Some(RuleScore {
                    rule,
                    category: best.map(|c| c.name.clone()),
                    raw: best.map_or(0.0, |c| c.raw),
                    confidence: best.map_or(0.0, |c| c.confidence),
                    threshold: *threshold,
                })
            })
            .collect();
        // Stable: equal confidences keep rule order.
        ranked.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        let mut ranking = SemanticRanking {
            ranked,
            margin: self.margin,
            winner: None,
            reason: None,
        };
        let Some(lead) = ranking.ranked.first() else {
            ranking.reason = Some("no semantic rule admits the request".into());
            return ranking;
        };
        // The margin is in similarity: confidences saturate near 1, where a real lead no longer shows.
        let lead_by = ranking.ranked.get(1).map_or(lead.raw, |r| lead.raw - r.raw);
        if lead.confidence < lead.threshold {
            ranking.reason = Some(format!(
                "best confidence {:.3} ({}) is below its threshold {}",
                lead.confidence, lead.rule.name, lead.threshold
            ));
        } else if f64::from(lead_by) < self.margin {
            ranking.reason = Some(format!(
                "{} leads the runner-up by {:.3} in similarity, less than the margin {}",
                lead.rule.name, lead_by, self.margin
            ));
        } else {
            ranking.winner = Some(0);
        }
        ranking
    }

    /// The default rule, if it admits `req`.
    fn default_for<'a>(&'a self, req: &RequestInfo<'_>) -> Decision<'a> {
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
