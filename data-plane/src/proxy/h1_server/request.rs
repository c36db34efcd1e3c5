//! Request heads from clients, parsed without copying: `http` types for the request line, the field
//! lines as received (see [`RawHead`]), and the body's framing.

use std::mem::MaybeUninit;

use bytes::BytesMut;
use http::{Method, Uri, Version};

use crate::proxy::framing::{Decoder, Fields};
use crate::proxy::h1_head;
use crate::proxy::req_headers::RawHead;

/// Headers parsed without a heap allocation for httparse's slots.
const INLINE_HEADERS: usize = 64;
/// The most request headers accepted.
const MAX_HEADERS: usize = 256;

/// The first bytes of an HTTP/2 connection with prior knowledge (h2c).
pub(crate) const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A parsed request head.
pub(crate) struct Head {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) version: Version,
    /// The header fields, read in place; its bytes are the head as received (given back when the
    /// connection is handed over).
    pub(crate) headers: RawHead,
    /// How the body is delimited.
    pub(crate) body: Decoder,
    /// The client allows another request on this connection after this one.
    pub(crate) keep_alive: bool,
    /// `Expect: 100-continue`.
    pub(crate) expects_continue: bool,
    /// `TE: trailers`: the client takes trailer fields in a chunked response.
    pub(crate) takes_trailers: bool,
    /// A protocol switch (`Connection: upgrade`) or CONNECT: served by hyper, which owns upgrades.
    pub(crate) switches: bool,
}

/// Why a request head is refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HeadError {
    /// Not valid HTTP/1.x.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// More header fields than accepted.
    #[error("more than {MAX_HEADERS} header fields")]
    TooManyHeaders,
}

/// The request head at the start of `buf` (taken out of it), or `None` until it is complete.
pub(crate) fn parse(buf: &mut BytesMut) -> Result<Option<Head>, HeadError> {
    match parse_with::<INLINE_HEADERS>(buf) {
        Err(HeadError::TooManyHeaders) => parse_with::<MAX_HEADERS>(buf),
        other => other,
    }
}

fn parse_with<const N: usize>(buf: &mut BytesMut) -> Result<Option<Head>, HeadError> {
    // Slots left uninitialised: the parser writes those it fills (zeroing 64 slots cost more than
    // parsing a small head's few fields).
    let mut slots = [const { MaybeUninit::uninit() }; N];
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, &mut slots) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyHeaders),
        Err(e) => return Err(HeadError::Malformed(e.to_string())),
    };
    let method = Method::from_bytes(req.method.unwrap_or("").as_bytes())
        .map_err(|_| HeadError::Malformed("method".into()))?;
    let version = if req.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let base = buf.as_ptr() as usize;
    let path = req.path.unwrap_or("/");
    let path_span = (path.as_ptr() as usize - base, path.len());
    let mut spans = Vec::with_capacity(req.headers.len());
    let fields = h1_head::spans(base, req.headers, &mut spans);
    // Names lower-case, as a header map holds them: the pipeline compares names byte for byte, and
    // agents receive them as before.
    for &[start, end, _, _] in &spans {
        buf[start..end].make_ascii_lowercase();
    }
    let raw = buf.split_to(len).freeze();
    let uri = Uri::from_maybe_shared(raw.slice(path_span.0..path_span.0 + path_span.1))
        .map_err(|e| HeadError::Malformed(format!("request target: {e}")))?;

    let (body, framed_cleanly) = body_framing(&fields)?;
    // An HTTP/1.0 message with Transfer-Encoding cannot be delimited reliably (RFC 9112 §6.1).
    let keep_alive = framed_cleanly
        && !fields.close
        && (version == Version::HTTP_11
            || (fields.keep_alive && fields.transfer_encoding.is_none()));
    Ok(Some(Head {
        expects_continue: version == Version::HTTP_11 && fields.expect_continue,
        takes_trailers: fields.te_trailers,
        switches: method == Method::CONNECT || fields.upgrade(),
        keep_alive,
        method,
        uri,
        version,
        body,
        headers: RawHead::new(raw, spans),
    }))
}

/// The request body's framing (RFC 9112 §6.3), and whether the connection may be reused after it (a
/// message with both Transfer-Encoding and Content-Length is read as chunked, then the connection
/// closes, against request smuggling).
fn body_framing(f: &Fields) -> Result<(Decoder, bool), HeadError> {
    match f.transfer_encoding {
        Some(true) if !f.other_coding => Ok((Decoder::chunked(), !f.has_length())),
        Some(_) => Err(HeadError::Malformed(
            "a request's transfer-encoding must be chunked".into(),
        )),
        None => {
            let length = f.length().map_err(HeadError::Malformed)?;
            Ok((Decoder::length(length.unwrap_or(0)), true))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(wire: &[u8]) -> Result<Option<Head>, HeadError> {
        parse(&mut BytesMut::from(wire))
    }

    #[test]
    fn parses_a_request_head_and_leaves_the_body() {
        let mut buf = BytesMut::from(
            &b"POST /api/v1/chat?x=1 HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\n\r\nhiGET"[..],
        );
        let h = parse(&mut buf).unwrap().unwrap();
        assert_eq!(h.method, Method::POST);
        assert_eq!(h.uri.path(), "/api/v1/chat");
        assert_eq!(h.uri.query(), Some("x=1"));
        let h_headers = crate::proxy::ReqHeaders::Raw(h.headers.clone());
        assert_eq!(h_headers.get(&http::header::HOST), Some(&b"gw"[..]));
        assert_eq!(h.body.remaining(), Some(2));
        assert!(h.keep_alive && !h.switches && !h.expects_continue);
        assert_eq!(&buf[..], b"hiGET");
        assert!(parse(&mut buf).unwrap().is_none(), "a partial head waits");
    }

    #[test]
    fn names_are_lower_cased_and_values_kept() {
        let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\nX-Tenant: ACME\r\nHOST: gw\r\n\r\n"[..]);
        let h = parse(&mut buf).unwrap().unwrap();
        let fields = crate::proxy::ReqHeaders::Raw(h.headers);
        let tenant = http::HeaderName::from_static("x-tenant");
        assert_eq!(
            fields.get(&tenant),
            Some(&b"ACME"[..]),
            "values keep their case"
        );
        assert_eq!(fields.get(&http::header::HOST), Some(&b"gw"[..]));
    }

    #[test]
    fn connection_semantics() {
        let h = parse_all(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!h.keep_alive);
        let h = parse_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.keep_alive);
        let h = parse_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!h.keep_alive);
        let h = parse_all(b"GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.switches);
        let h = parse_all(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nTE: trailers\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.expects_continue && h.takes_trailers);
    }

    #[test]
    fn body_framing_follows_rfc_9112() {
        let h = parse_all(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(matches!(h.body, Decoder::Chunked(_)));
        let h = parse_all(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert!(!h.keep_alive, "TE with CL: read chunked, then close");
        let h = parse_all(b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!h.keep_alive, "close wins");
        let h = parse_all(
            b"POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert!(!h.keep_alive, "HTTP/1.0 with transfer-encoding closes");
        for bad in [
            &b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n",
            b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        ] {
            assert!(
                matches!(parse_all(bad), Err(HeadError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
