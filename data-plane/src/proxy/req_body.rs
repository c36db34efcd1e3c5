//! The request body as the pipeline holds it while routing: untouched, or read once up to a limit
//! (semantic text, a JSON `agent` field, a body kept for a retry) and then sent on whole.

use bytes::Bytes;

use super::body::{Peeked, ProxyBody};
use super::error::ProxyError;
use super::limits;

/// How much of a request body the gateway reads to route it (semantic text, `agent` field, replay).
pub(super) const PEEK_LIMIT: usize = 64 * 1024;

/// The request body as the pipeline holds it: untouched (but size-limited), or partly or wholly
/// read.
pub(super) enum ReqBody {
    Untouched(ProxyBody),
    Peeked(Peeked),
}

/// Reads the start of the body once; the complete body when it fits, else `None`.
pub(super) async fn peek(body: &mut ReqBody) -> Result<Option<Bytes>, ProxyError> {
    peek_up_to(body, PEEK_LIMIT).await
}

/// Reads up to `limit` bytes of the body once (later calls see what the first read); the whole body
/// when it ended within the limit, else `None`.
pub(super) async fn peek_up_to(
    body: &mut ReqBody,
    limit: usize,
) -> Result<Option<Bytes>, ProxyError> {
    if let ReqBody::Untouched(_) = body {
        let ReqBody::Untouched(incoming) =
            std::mem::replace(body, ReqBody::Peeked(Peeked::Complete(Bytes::new())))
        else {
            return Ok(None);
        };
        let peeked = Peeked::read(incoming, limit)
            .await
            .map_err(limits::body_error)?;
        *body = ReqBody::Peeked(peeked);
    }
    match body {
        ReqBody::Peeked(p) => Ok(p.complete().cloned()),
        ReqBody::Untouched(_) => Ok(None),
    }
}

pub(super) fn into_body(body: ReqBody) -> ProxyBody {
    match body {
        ReqBody::Untouched(b) => b,
        ReqBody::Peeked(p) => p.into_body(),
    }
}
