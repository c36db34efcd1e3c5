//! The proxy's semantic stage: a request's text scored against the table's categories, and a debug
//! event with the numbers behind the decision.

use std::sync::Arc;

use http::HeaderValue;

use super::error::ProxyError;
use super::req_body::{PEEK_LIMIT, ReqBody, peek_up_to};
use crate::compiled::Compiled;
use crate::http1::req_headers::ReqHeaders;
use crate::routing::RequestInfo;
use crate::semantic::{Scores, semantic_text};
use crate::state::Shared;

/// The request's semantic scores: its text read from the body (up to `semantic.maxBodySize`) and
/// scored by the table's index; a body too large or without text gets no scores (and the default
/// rule).
pub(super) async fn semantic_scores(
    shared: &Shared,
    t: &Compiled,
    headers: &ReqHeaders,
    body: &mut ReqBody,
) -> Result<Arc<Scores>, ProxyError> {
    let cfg = &t.gateway.routing.semantic;
    let max = usize::try_from(cfg.max_body_size.bytes()).unwrap_or(usize::MAX);
    let Some(index) = &t.semantic else {
        return Ok(Arc::new(Scores::none()));
    };
    let declared = headers
        .get_str(&http::header::CONTENT_LENGTH)
        .and_then(|v| v.parse::<usize>().ok());
    let bytes = match declared {
        Some(n) if n > max => None,
        _ => peek_up_to(body, max.max(PEEK_LIMIT)).await?,
    };
    let text = match semantic_text(cfg, bytes.as_deref()) {
        Ok(text) => text,
        Err(why) => {
            shared.metrics.semantic_skipped(why);
            return Ok(Arc::new(Scores::none()));
        }
    };
    let scores = index.score(&text).await;
    if scores.fallback.is_some() {
        shared.metrics.semantic_fallback();
    }
    Ok(scores)
}

/// A debug event with the numbers of a semantic decision (the same ones `route.explain` prints).
pub(super) fn trace_semantic(
    t: &Compiled,
    info: &RequestInfo<'_>,
    scores: &Scores,
    rid: &HeaderValue,
) {
    if !tracing::enabled!(target: "openclaw::semantic", tracing::Level::DEBUG) {
        return;
    }
    let ranking = t.routes.rank_semantic(info, scores);
    let lead = ranking.ranked.first();
    tracing::debug!(
        target: "openclaw::semantic",
        request_id = rid.to_str().unwrap_or(""),
        encoder = %scores.encoder,
        fallback = scores.fallback.as_deref().unwrap_or(""),
        rule = lead.map_or("", |r| r.rule.name.as_str()),
        category = lead.and_then(|r| r.category.as_deref()).unwrap_or(""),
        raw = lead.map_or(0.0, |r| r.raw),
        confidence = lead.map_or(0.0, |r| r.confidence),
        threshold = lead.map_or(0.0, |r| r.threshold),
        runner_up = ranking.ranked.get(1).map_or(0.0, |r| r.confidence),
        margin = ranking.margin,
        matched = ranking.winner.is_some(),
        reason = ranking.reason.as_deref().unwrap_or(""),
        "semantic decision"
    );
}
