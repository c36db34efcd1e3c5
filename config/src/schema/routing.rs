//! `gateway.routing`: the ordered rules that pick an agent for each request.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::agents::Known;
use super::load_balancing::{LoadBalancing, RuleLoadBalancing};
use super::semantic::Semantic;
use super::upstream_timeouts::TimeoutOverride;
use crate::checks::{is_header_name, is_http_method, is_url_path};
use crate::problem::Check;
use crate::{Duration, Path, RateLimit};

/// Routing rules.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Routing {
    /// Rules; priority is by match kind (exact, prefix, regex, semantic, default), then by order.
    pub rules: Vec<Rule>,
    /// How semantic rules read a request's meaning.
    pub semantic: Semantic,
}

/// One routing rule.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Rule {
    /// Unique name (required).
    pub name: String,
    /// What requests the rule takes (required).
    #[serde(rename = "match")]
    pub matcher: Match,
    /// Agent id, or `tag:<name>` for every agent with that tag (required).
    pub target: String,
    /// Used when the target has no healthy endpoint or refuses the connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// Requests need `Authorization: Bearer <key>` naming a key of `gateway.auth.apiKeys`; default false.
    pub requires_auth: bool,
    /// HTTP methods taken; empty (the default) takes every method.
    pub methods: Vec<String>,
    /// Headers that must be present with exactly these values.
    pub headers: BTreeMap<String, String>,
    /// Let a request name its agent (body field `agent` or header `x-openclaw-agent`); default false.
    pub allow_agent_override: bool,
    /// Cache responses of this rule in the configured cache layers; default false.
    pub cache: bool,
    /// A rate limit for this rule alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Balancing for this rule: its keys replace those of `gateway.loadBalancing`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_balancing: Option<RuleLoadBalancing>,
    /// Retries towards the agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    /// This rule's own `firstByte` and `idle` timeouts, over the agent's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<TimeoutOverride>,
}

/// The match of a rule: `type` decides which other keys apply.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Match {
    /// The kind of match (required).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<MatchKind>,
    /// Path, prefix (`/api/v1/*` or `/api/v1`) or regex, for `exact`, `prefix` and `regex`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Calibrated confidence in 0..=1 a `semantic` match needs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Categories a `semantic` match scores the request against.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
}

/// The kinds of match, in priority order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchKind {
    /// The whole path equals `pattern`.
    Exact,
    /// The path is `pattern` or lies below it.
    Prefix,
    /// The path matches the regular expression `pattern`.
    Regex,
    /// The request text means one of `categories`.
    Semantic,
    /// Every request no other rule took.
    Default,
}

/// Retries of a request towards the agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Retry {
    /// Total tries including the first; default 2.
    pub attempts: u32,
    /// Conditions that cause a retry; default `["connect-failure"]`. Only idempotent methods are
    /// retried unless `non-idempotent` is listed too.
    pub on: Vec<RetryOn>,
    /// Retries an agent may take as a share of its requests, in percent; default 20.
    pub budget_percent: u32,
    /// Retries per second an agent may always take, whatever its share; default 3.
    pub min_retries_per_second: u32,
    /// The first backoff before a retry, doubled at each further one (full jitter); default 25ms.
    pub backoff: Duration,
}

/// A condition that makes a request worth retrying.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RetryOn {
    /// The connection to the agent could not be made.
    ConnectFailure,
    /// The agent reset the connection before answering.
    Reset,
    /// The agent did not answer in time.
    Timeout,
    /// The agent answered 502, 503 or 504.
    GatewayError,
    /// The agent answered any 5xx.
    #[serde(rename = "5xx")]
    ServerError,
    /// Methods that are not idempotent (POST, PATCH, …) may be retried too.
    NonIdempotent,
}

// === impl Routing ===

impl Routing {
    pub(crate) fn validate(&self, at: &Path, known: &Known, lb: &LoadBalancing, c: &mut Check) {
        let mut names = BTreeMap::new();
        let mut default_rule: Option<usize> = None;
        for (i, rule) in self.rules.iter().enumerate() {
            let p = at.key("rules").index(i);
            if c.require(&p.key("name"), &rule.name)
                && let Some(first) = names.insert(rule.name.clone(), i)
            {
                c.fail(
                    &p.key("name"),
                    format!("duplicate rule name (also at rules[{first}])"),
                    &rule.name,
                );
            }
            if rule.matcher.kind == Some(MatchKind::Default) {
                if let Some(first) = default_rule {
                    c.fail(
                        &p.key("match").key("type"),
                        format!("only one default rule is allowed (also at rules[{first}])"),
                        "default",
                    );
                }
                default_rule.get_or_insert(i);
            }
            rule.validate(&p, known, c);
            if let Some(own) = &rule.load_balancing {
                own.validate(&p.key("loadBalancing"), lb, c);
            }
            for (j, cat) in rule.matcher.categories.iter().enumerate() {
                if !cat.trim().is_empty() && !self.semantic.knows(cat) {
                    c.fail(
                        &p.key("match").key("categories").index(j),
                        format!(
                            "names no category: the built-in ones are {}; define others in gateway.routing.semantic.categories",
                            super::semantic::BUILTIN_CATEGORIES.join(", ")
                        ),
                        cat,
                    );
                }
            }
        }
        self.semantic.validate(&at.key("semantic"), c);
    }
}

// === impl Rule ===

impl Rule {
    fn validate(&self, at: &Path, known: &Known, c: &mut Check) {
        self.matcher.validate(&at.key("match"), c);
        if c.require(&at.key("target"), &self.target) {
            check_reference(&at.key("target"), &self.target, known, c);
        }
        if let Some(f) = &self.fallback
            && c.require(&at.key("fallback"), f)
        {
            check_reference(&at.key("fallback"), f, known, c);
        }
        for (i, m) in self.methods.iter().enumerate() {
            if !is_http_method(m) {
                c.fail(
                    &at.key("methods").index(i),
                    "must be an upper-case HTTP method such as \"POST\"",
                    m,
                );
            }
        }
        for name in self.headers.keys() {
            if !is_header_name(name) {
                c.fail(
                    &at.key("headers").key(name.clone()),
                    "key must be a header name",
                    name,
                );
            }
        }
        if let Some(rl) = &self.rate_limit {
            rl.validate(&at.key("rateLimit"), c);
            rl.validate_in_rule(&at.key("rateLimit"), c);
        }
        if let Some(r) = &self.retry {
            let p = at.key("retry");
            c.range(&p.key("attempts"), r.attempts, 1, 10);
            c.range(&p.key("budgetPercent"), r.budget_percent, 0, 100);
            c.range(
                &p.key("minRetriesPerSecond"),
                r.min_retries_per_second,
                0,
                1000,
            );
            if r.backoff.get() > std::time::Duration::from_secs(10) {
                c.fail(&p.key("backoff"), "must be at most 10s", &r.backoff);
            }
        }
        if let Some(t) = &self.timeouts {
            t.validate(&at.key("timeouts"), c);
        }
    }
}

/// Checks that `name` is a known agent id or `tag:<t>` with some agent carrying `t`.
fn check_reference(at: &Path, name: &str, known: &Known, c: &mut Check) {
    if known.dynamic {
        if name == "tag:" {
            c.fail(at, "a tag reference needs a name after `tag:`", name);
        }
        return;
    }
    if let Some(tag) = name.strip_prefix("tag:") {
        if !known.tags.contains_key(tag) {
            c.fail(
                at,
                "no agent in agents.discovery.static carries this tag",
                name,
            );
        }
    } else if !known.ids.contains_key(name) {
        c.fail(
            at,
            "must name an agent of agents.discovery.static (or tag:<name>)",
            name,
        );
    }
}

// === impl Match ===

impl Match {
    fn validate(&self, at: &Path, c: &mut Check) {
        let Some(kind) = self.kind else {
            c.missing(
                &at.key("type"),
                "is required: one of exact, prefix, regex, semantic, default",
            );
            return;
        };
        let pattern_used = matches!(
            kind,
            MatchKind::Exact | MatchKind::Prefix | MatchKind::Regex
        );
        let semantic = kind == MatchKind::Semantic;
        match (&self.pattern, pattern_used) {
            (None, true) => c.missing(
                &at.key("pattern"),
                format!("is required for a {} match", kind.name()),
            ),
            (Some(p), false) => c.fail(
                &at.key("pattern"),
                format!("is not used by a {} match", kind.name()),
                p,
            ),
            (Some(p), true) => validate_pattern(kind, p, &at.key("pattern"), c),
            (None, false) => {}
        }
        match (self.threshold, semantic) {
            (None, true) => c.missing(&at.key("threshold"), "is required for a semantic match"),
            (Some(t), true) => c.range(&at.key("threshold"), t, 0.0, 1.0),
            (Some(t), false) => c.fail(
                &at.key("threshold"),
                format!("is only used by a semantic match, not {}", kind.name()),
                &t,
            ),
            (None, false) => {}
        }
        if semantic && self.categories.is_empty() {
            c.missing(
                &at.key("categories"),
                "needs at least one category for a semantic match",
            );
        } else if !semantic && !self.categories.is_empty() {
            c.fail(
                &at.key("categories"),
                format!("is only used by a semantic match, not {}", kind.name()),
                &self.categories,
            );
        }
        for (i, cat) in self.categories.iter().enumerate() {
            c.require(&at.key("categories").index(i), cat);
        }
    }
}

fn validate_pattern(kind: MatchKind, p: &str, at: &Path, c: &mut Check) {
    match kind {
        MatchKind::Exact if !is_url_path(p) => c.fail(at, "must be a path starting with /", p),
        MatchKind::Prefix => {
            let base = p.strip_suffix("/*").unwrap_or(p);
            if !is_url_path(p) || base.contains('*') {
                c.fail(
                    at,
                    "must be a path starting with / (optionally ending in /*)",
                    p,
                );
            }
        }
        MatchKind::Regex => {
            if let Err(e) = regex::Regex::new(p) {
                let msg = e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or("invalid")
                    .trim()
                    .to_string();
                c.fail(at, format!("is not a valid regex ({msg})"), p);
            }
        }
        _ => {}
    }
}

// === impl MatchKind ===

impl MatchKind {
    /// The name used in documents.
    pub fn name(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::Prefix => "prefix",
            Self::Regex => "regex",
            Self::Semantic => "semantic",
            Self::Default => "default",
        }
    }
}

// === impl Retry ===

impl Default for Retry {
    fn default() -> Self {
        Self {
            attempts: 2,
            on: vec![RetryOn::ConnectFailure],
            budget_percent: 20,
            min_retries_per_second: 3,
            backoff: Duration::millis(25),
        }
    }
}
