//! The rate-limit stage: each enabled limit decides as early as its key allows — the gateway-wide
//! one before the body is read (unless its key is a body field), a rule's once the rule is known —
//! and the most restrictive decision becomes the response's `RateLimit-*` fields; a refusal is a
//! 429 with `Retry-After`. A node without limits never enters it.

use http::HeaderName;

use super::error::ProxyError;
use super::handler::Conn;
use super::req_body::{ReqBody, peek};
use crate::compiled::Compiled;
use crate::http1::req_headers::ReqHeaders;
use crate::limit::{Checked, Decision, Permit, Scope, write_headers};
use crate::routing::CompiledRule;

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// What the limits said of one request so far.
#[derive(Default)]
pub(super) struct Limited {
    /// The most restrictive decision, for the response's fields.
    decision: Option<Decision>,
    /// Whether allowed responses carry the fields.
    headers: bool,
    /// Places in the clients' in-flight counts, held until the response body ends.
    permits: Vec<Permit>,
    /// The access log's `rate_limit` value: empty (no limit), `allowed`, or `rejected:<why>`.
    pub(super) said: &'static str,
}

// === impl Limited ===

impl Limited {
    /// The in-flight permits, to hold beside the response body.
    pub(super) fn take_permits(&mut self) -> Vec<Permit> {
        std::mem::take(&mut self.permits)
    }

    /// Writes the `RateLimit-*` fields (and `Retry-After` on a refusal) into `h`.
    pub(super) fn annotate(&self, h: &mut http::HeaderMap) {
        if let Some(d) = &self.decision
            && (self.headers || !d.allowed)
        {
            write_headers(d, h);
        }
    }

    fn merge(&mut self, scope: &Scope, d: Decision) {
        self.headers |= scope.settings.headers;
        let tighter = match &self.decision {
            None => true,
            Some(old) => !d.allowed || (old.allowed && d.remaining < old.remaining),
        };
        if tighter {
            self.decision = Some(d);
        }
    }
}

/// The gateway-wide limit, when enabled.
pub(super) async fn gateway(
    t: &Compiled,
    conn: &Conn,
    h: &ReqHeaders,
    body: &mut ReqBody,
    out: &mut Limited,
) -> Result<(), ProxyError> {
    match &t.rate_limits.gateway {
        // Boxed: the check's future (a Redis call) would otherwise enlarge every request's.
        Some(scope) => Box::pin(check(t, scope, conn, h, body, out)).await,
        None => Ok(()),
    }
}

/// The matched rule's own limit, when enabled.
pub(super) async fn rule(
    t: &Compiled,
    rule: &CompiledRule,
    conn: &Conn,
    h: &ReqHeaders,
    body: &mut ReqBody,
    out: &mut Limited,
) -> Result<(), ProxyError> {
    if t.rate_limits.rules.is_empty() {
        return Ok(());
    }
    match t.rate_limits.rules.get(rule.name.as_str()) {
        // Boxed: the check's future (a Redis call) would otherwise enlarge every request's.
        Some(scope) => Box::pin(check(t, scope, conn, h, body, out)).await,
        None => Ok(()),
    }
}

async fn check(
    t: &Compiled,
    scope: &Scope,
    conn: &Conn,
    h: &ReqHeaders,
    body: &mut ReqBody,
    out: &mut Limited,
) -> Result<(), ProxyError> {
    let plan = &t.rate_limits;
    let client_ip = if plan.trusted.is_empty() {
        conn.peer.ip()
    } else {
        plan.trusted
            .client_ip(conn.peer.ip(), h.get_all(&X_FORWARDED_FOR))
    };
    let api_key = h
        .get_str(&http::header::AUTHORIZATION)
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|k| t.authenticate(k.trim()));
    let header = match &scope.kind {
        crate::limit::KeyKind::Header(name) => h.get(name),
        _ => None,
    };
    let read = if scope.kind.needs_body() {
        peek(body).await?
    } else {
        None
    };
    let key = scope.kind.key(api_key, client_ip, header, read.as_deref());
    let cost = if scope.settings.body_bytes_per_minute.is_some() {
        body_cost(t, h, body).await?
    } else {
        0
    };
    match scope.check(&key, cost).await {
        Checked::Allowed(d, permit) => {
            out.merge(scope, d);
            out.permits.extend(permit);
            if out.said.is_empty() {
                out.said = "allowed";
            }
            Ok(())
        }
        Checked::Refused(d, why) => {
            out.merge(scope, d);
            out.said = match why {
                "concurrent" => "rejected:concurrent",
                "bytes" => "rejected:bytes",
                _ => "rejected:requests",
            };
            let limit = if std::ptr::eq(scope, gateway_scope(t)) {
                "gateway".to_string()
            } else {
                format!("rule {}", scope.name)
            };
            Err(ProxyError::RateLimited(limit, why))
        }
    }
}

/// The gateway-wide limit's address (null without one), to tell it from a rule named `gateway`.
fn gateway_scope(t: &Compiled) -> *const Scope {
    t.rate_limits
        .gateway
        .as_ref()
        .map_or(std::ptr::null(), std::sync::Arc::as_ptr)
}

/// The request body's size: its `Content-Length`; a body without one (chunked) is read up to the
/// peek limit and counts its size, or `maxBodySize` when it is longer.
async fn body_cost(t: &Compiled, h: &ReqHeaders, body: &mut ReqBody) -> Result<u64, ProxyError> {
    if let Some(n) = h
        .get_str(&http::header::CONTENT_LENGTH)
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        return Ok(n);
    }
    if h.get(&http::header::TRANSFER_ENCODING).is_none() {
        return Ok(0);
    }
    Ok(match peek(body).await? {
        Some(b) => b.len() as u64,
        None => t.gateway.http.limits.max_body_size.bytes(),
    })
}
