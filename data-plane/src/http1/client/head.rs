//! Request heads out, response heads in: HTTP/1.1 message heads towards an agent.

use bytes::{BufMut, BytesMut};
use http::Method;
use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};

use crate::http1::head as h1_head;
#[cfg(doc)]
use crate::http1::raw_fields::RawFields;
use crate::http1::req_headers::Outgoing;

/// How a request body is delimited on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body and no length header (a GET without body, say).
    None,
    /// `Content-Length`.
    Length(u64),
    /// `Transfer-Encoding: chunked` (a streamed body of unknown length).
    Chunked,
}

/// Writes a request head into `dst`. `Content-Length` and `Transfer-Encoding` come from `framing`,
/// not from `headers`; `Host` is `authority` when `headers` has none; `forward` adds the gateway's
/// forwarding fields as the head is written.
/// Fields the client's user adds to a request head as it is written (the gateway's forwarding
/// fields, in place of the client's own of those names), so the codec need not know them. Static
/// dispatch: `encode_request` is compiled for the one implementation.
pub(crate) trait Forward {
    /// Writes `fields` (lower-case name, value; hop-by-hop ones already left out) but those `skip`
    /// names, with its own fields added, as HTTP/1.1 field lines. `authority` is the `Host` when
    /// neither the fields nor the implementation name one.
    fn write<'a>(
        &self,
        dst: &mut BytesMut,
        fields: impl Iterator<Item = (&'a [u8], &'a [u8])>,
        authority: &str,
        skip: impl Fn(&[u8]) -> bool,
    );
}

/// No forwarding fields: the type of `None` for requests sent as they are.
#[cfg(test)]
pub(crate) enum Direct {}

#[cfg(test)]
impl Forward for Direct {
    fn write<'a>(
        &self,
        _: &mut BytesMut,
        _: impl Iterator<Item = (&'a [u8], &'a [u8])>,
        _: &str,
        _: impl Fn(&[u8]) -> bool,
    ) {
        match *self {}
    }
}

pub(crate) use crate::http1::response::{MAX_HEAD, Parsed, parse_response};

pub(crate) fn encode_request<W: Forward>(
    dst: &mut BytesMut,
    method: &Method,
    target: &str,
    authority: &str,
    fields: Outgoing<'_>,
    forward: Option<&W>,
    framing: Framing,
) {
    dst.reserve(512 + target.len());
    dst.put_slice(method.as_str().as_bytes());
    dst.put_u8(b' ');
    dst.put_slice(target.as_bytes());
    dst.put_slice(b" HTTP/1.1\r\n");
    // Names are lower-case (see `Outgoing`).
    let framed = |n: &[u8]| {
        n == CONTENT_LENGTH.as_str().as_bytes() || n == TRANSFER_ENCODING.as_str().as_bytes()
    };
    match forward {
        Some(f) => f.write(dst, fields.fields(), authority, framed),
        None => {
            if !fields.contains(&HOST) {
                dst.put_slice(b"host: ");
                dst.put_slice(authority.as_bytes());
                dst.put_slice(b"\r\n");
            }
            for (name, value) in fields.fields().filter(|(n, _)| !framed(n)) {
                h1_head::put_field(dst, name, &[value]);
            }
        }
    }
    match framing {
        Framing::None => {}
        Framing::Length(n) => {
            dst.put_slice(b"content-length: ");
            h1_head::put_decimal(dst, n);
            dst.put_slice(b"\r\n");
        }
        Framing::Chunked => dst.put_slice(b"transfer-encoding: chunked\r\n"),
    }
    dst.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http1::client::error::AgentError;
    use crate::http1::framing::Decoder;
    use crate::http1::raw_fields::RawFields;
    use http::{HeaderMap, HeaderValue};

    fn parse(wire: &[u8]) -> Result<Option<Parsed>, AgentError> {
        parse_response(&mut BytesMut::from(wire), false).map_err(|e| AgentError::Invalid(e.0))
    }

    fn map(p: &Parsed) -> HeaderMap {
        let mut m = HeaderMap::new();
        RawFields::new(p.fields.clone()).into_map(&mut m);
        m
    }

    #[test]
    fn encodes_a_request_head() {
        let mut h = HeaderMap::new();
        h.insert("x-a", HeaderValue::from_static("1"));
        h.insert(CONTENT_LENGTH, HeaderValue::from_static("999"));
        let mut dst = BytesMut::new();
        encode_request(
            &mut dst,
            &Method::POST,
            "/p?q=1",
            "agent:80",
            Outgoing::Map(&h),
            None::<&Direct>,
            Framing::Length(12),
        );
        assert_eq!(
            &dst[..],
            b"POST /p?q=1 HTTP/1.1\r\nhost: agent:80\r\nx-a: 1\r\ncontent-length: 12\r\n\r\n"
        );
    }

    #[test]
    fn parses_heads_and_their_framing() {
        let p = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello")
            .unwrap()
            .unwrap();
        assert_eq!(p.status, 200);
        assert_eq!(map(&p)["x-a"], "b");
        assert_eq!(p.decoder.remaining(), Some(5));
        assert!(p.keep_alive);

        let p = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(matches!(p.decoder, Decoder::Chunked(_)));
        let p = parse(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!p.keep_alive);
        let p = parse(b"HTTP/1.0 200 OK\r\n\r\n").unwrap().unwrap();
        assert!(matches!(p.decoder, Decoder::Eof));
        assert!(!p.keep_alive, "read until close");
        let p = parse(b"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(p.decoder.is_done());
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-").unwrap().is_none());
    }

    #[test]
    fn refuses_broken_heads() {
        assert!(matches!(
            parse(b"HTTP/1.1 2x0 OK\r\n\r\n"),
            Err(AgentError::Invalid(_))
        ));
        assert!(matches!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            Err(AgentError::Invalid(_))
        ));
        assert!(matches!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
            Err(AgentError::Invalid(_))
        ));
    }

    #[test]
    fn many_headers_fall_back_to_a_larger_table() {
        let mut wire = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..100 {
            wire.extend_from_slice(format!("x-h{i}: {i}\r\n").as_bytes());
        }
        wire.extend_from_slice(b"content-length: 0\r\n\r\n");
        let p = parse(&wire).unwrap().unwrap();
        // The 101 fields, and the gateway's `Via`.
        assert_eq!(map(&p).len(), 102);
    }
}
