//! Response heads from agents, parsed without copying: the status, the field lines as received,
//! and the body's framing (RFC 9112 §6.3). An agent is trusted more than a client, but a response it
//! frames two ways (`Transfer-Encoding` with `Content-Length`) is read as chunked and its connection
//! not reused.

use bytes::{Bytes, BytesMut};
use http::{StatusCode, Version};

use super::fields::Fields;
use super::framing::Decoder;

/// The largest response head accepted from an agent.
pub(crate) const MAX_HEAD: usize = 256 * 1024;
/// Response headers parsed without a heap allocation for httparse's slots.
const INLINE_HEADERS: usize = 64;
/// The most response headers accepted.
const MAX_HEADERS: usize = 512;

/// A response head that is not valid HTTP/1.x.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct InvalidResponse(pub(crate) String);

/// A parsed response head and what follows it.
pub(crate) struct Parsed {
    pub(crate) status: StatusCode,
    pub(crate) version: Version,
    /// The header field lines as received (as `RawFields` reads them).
    pub(crate) fields: Bytes,
    pub(crate) decoder: Decoder,
    /// The connection may carry another exchange after this body.
    pub(crate) keep_alive: bool,
}

/// The response head at the start of `buf` (taken out of it), or `None` until it is complete.
/// `head_request`: the request was HEAD, so the response has no body whatever its headers say.
pub(crate) fn parse_response(
    buf: &mut BytesMut,
    head_request: bool,
) -> Result<Option<Parsed>, InvalidResponse> {
    match parse_with::<INLINE_HEADERS>(buf, head_request) {
        Err(InvalidResponse(e)) if e == httparse::Error::TooManyHeaders.to_string() => {
            parse_with::<MAX_HEADERS>(buf, head_request)
        }
        other => other,
    }
}

/// [`parse_response`] with room for `N` headers.
fn parse_with<const N: usize>(
    buf: &mut BytesMut,
    head_request: bool,
) -> Result<Option<Parsed>, InvalidResponse> {
    // Slots left uninitialised, as for requests (see `server.rs`).
    let mut slots = [const { std::mem::MaybeUninit::uninit() }; N];
    let mut res = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut res, buf, &mut slots)
    {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(InvalidResponse(e.to_string())),
    };
    let code = res.code.unwrap_or(0);
    let status =
        StatusCode::from_u16(code).map_err(|_| InvalidResponse(format!("status {code}")))?;
    let version = if res.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let mut fields = Fields::default();
    for h in res.headers.iter() {
        fields.add(h.name, h.value);
    }
    // The field lines start at the first field's name (after the status line and any empty lines
    // before it) and stay the received bytes: no header map, no copy.
    let start = res
        .headers
        .first()
        .map_or(len, |h| h.name.as_ptr() as usize - buf.as_ptr() as usize);
    let head = buf.split_to(len).freeze();
    let lines = head.slice(start..);
    let (decoder, delimited) = body_framing(status, &fields, head_request)?;
    let persistent = if version == Version::HTTP_10 {
        fields.keep_alive
    } else {
        !fields.close
    };
    let keep_alive = delimited && persistent && status != StatusCode::SWITCHING_PROTOCOLS;
    Ok(Some(Parsed {
        status,
        version,
        fields: lines,
        decoder,
        keep_alive,
    }))
}

/// The body's framing (RFC 9112 §6.3), and whether the connection stays usable after it.
fn body_framing(
    status: StatusCode,
    f: &Fields,
    head_request: bool,
) -> Result<(Decoder, bool), InvalidResponse> {
    if head_request
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok((Decoder::length(0), true));
    }
    match f.transfer_encoding {
        // With a Content-Length too, the message may be an attempt at smuggling: read it, then close.
        Some(true) => Ok((Decoder::chunked(), !f.has_length())),
        Some(false) => Ok((Decoder::Eof, false)),
        None => Ok(match f.length().map_err(InvalidResponse)? {
            Some(n) => (Decoder::length(n), true),
            None => (Decoder::Eof, false),
        }),
    }
}
