//! Request heads from clients, parsed without copying and checked against the parsing policy (see
//! [`crate::http1`]): `http` types for the request line, where each field lies in the received
//! bytes, and the body's framing.

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::{Method, Uri, Version};

use super::fields::Fields;
use super::head::{self, Span};
use super::upgrade;

/// Headers parsed without a heap allocation for httparse's slots.
const INLINE_HEADERS: usize = 64;
/// The most request headers accepted.
const MAX_HEADERS: usize = 256;

/// The first bytes of an HTTP/2 connection with prior knowledge (h2c).
pub(crate) const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The settings the parsing policy leaves open.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Policy {
    /// Keep fields whose names contain `_` (else they are left out of the head's fields).
    pub(crate) keep_underscores: bool,
    /// A WebSocket `Upgrade` may switch protocols (no other protocol ever does).
    pub(crate) websocket: bool,
}

/// A parsed request head.
pub(crate) struct Head {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) version: Version,
    /// The head as received, names lower-case.
    pub(crate) raw: Bytes,
    /// Where each kept field lies in `raw`; for an absolute-form target, `host`'s value is the
    /// target's authority.
    pub(crate) spans: Vec<Span>,
    /// How the body is delimited.
    pub(crate) body: super::framing::Decoder,
    /// The client allows another request on this connection after this one.
    pub(crate) keep_alive: bool,
    /// `Expect: 100-continue`.
    pub(crate) expects_continue: bool,
    /// `TE: trailers`: the client takes trailer fields in a chunked response.
    pub(crate) takes_trailers: bool,
    /// An allowed and valid protocol switch (WebSocket): served by hyper, which owns upgrades.
    pub(crate) switches: bool,
    /// `OPTIONS *`: a question about the server itself, answered without routing.
    pub(crate) asterisk: bool,
}

/// Why a request head is refused; the connection closes after the answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HeadError {
    /// Not valid HTTP/1.1 under the parsing policy (400).
    #[error("malformed request: {0}")]
    Malformed(String),
    /// More header fields than accepted (431).
    #[error("more than {MAX_HEADERS} header fields")]
    TooManyHeaders,
    /// A method the gateway does not serve (`CONNECT`: 405).
    #[error("method {0} is not allowed")]
    MethodNotAllowed(Method),
}

fn bad(why: impl Into<String>) -> HeadError {
    HeadError::Malformed(why.into())
}

/// The request head at the start of `buf` (taken out of it), or `None` until it is complete.
pub(crate) fn parse(buf: &mut BytesMut, policy: Policy) -> Result<Option<Head>, HeadError> {
    match parse_with::<INLINE_HEADERS>(buf, policy) {
        Err(HeadError::TooManyHeaders) => parse_with::<MAX_HEADERS>(buf, policy),
        other => other,
    }
}

fn parse_with<const N: usize>(
    buf: &mut BytesMut,
    policy: Policy,
) -> Result<Option<Head>, HeadError> {
    // Slots left uninitialised: the parser writes those it fills (zeroing 64 slots cost more than
    // parsing a small head's few fields).
    let mut slots = [const { MaybeUninit::uninit() }; N];
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, &mut slots) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyHeaders),
        Err(e) => return Err(bad(e.to_string())),
    };
    let method =
        Method::from_bytes(req.method.unwrap_or("").as_bytes()).map_err(|_| bad("method"))?;
    if method == Method::CONNECT {
        return Err(HeadError::MethodNotAllowed(method));
    }
    let version = if req.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let base = buf.as_ptr() as usize;
    let path = req.path.unwrap_or("/");
    let path_span = (path.as_ptr() as usize - base, path.len());
    let form = target_form(path.as_bytes(), &method)?;
    let mut spans = Vec::with_capacity(req.headers.len());
    let fields = head::spans(base, req.headers, &mut spans);
    // Names lower-case, as a header map holds them: the pipeline compares names byte for byte, and
    // agents receive them as before. Fields named with `_` are left out unless kept; `host` is
    // counted and checked as the fields go by.
    let mut kept = 0;
    let mut host = None;
    let mut hosts = 0u32;
    for i in 0..spans.len() {
        let [start, end, vs, ve] = spans[i];
        let name = &mut buf[start..end];
        name.make_ascii_lowercase();
        if !policy.keep_underscores && name.contains(&b'_') {
            continue;
        }
        if name == b"host" {
            hosts += 1;
            host = Some((kept, vs, ve));
        }
        spans[kept] = spans[i];
        kept += 1;
    }
    spans.truncate(kept);
    // Host (RFC 9112 §3.2): one field, a valid authority; an absolute-form target's authority
    // wins.
    if hosts > 1 {
        return Err(bad("more than one host field"));
    }
    match (host, form) {
        (None, _) if version == Version::HTTP_11 => return Err(bad("no host field")),
        (Some((_, vs, ve)), Form::Origin | Form::Asterisk) if !valid_host(&buf[vs..ve]) => {
            return Err(bad(format!(
                "host {:?}",
                String::from_utf8_lossy(&buf[vs..ve])
            )));
        }
        (Some((at, _, _)), Form::Absolute { from, to }) => {
            let from = path_span.0 + from;
            spans[at][2] = from;
            spans[at][3] = path_span.0 + to;
        }
        _ => {}
    }
    // Transfer-Encoding is read as written: no trailing whitespace on its value either.
    if fields.te_fields == 1 {
        let te = spans
            .iter()
            .find(|s| &buf[s[0]..s[1]] == b"transfer-encoding");
        if te.is_some_and(|s| !matches!(buf.get(s[3]), Some(b'\r' | b'\n'))) {
            return Err(bad("transfer-encoding must be exactly `chunked`"));
        }
    }
    let switches = fields.upgrade() && policy.websocket && {
        let fields = spans
            .iter()
            .map(|&[ns, ne, vs, ve]| (&buf[ns..ne], &buf[vs..ve]));
        upgrade::websocket_request(&method, version, fields).map_err(bad)?
    };
    let raw = buf.split_to(len).freeze();
    let uri = match form {
        Form::Asterisk => Uri::from_static("*"),
        _ => Uri::from_maybe_shared(raw.slice(path_span.0..path_span.0 + path_span.1))
            .map_err(|e| bad(format!("request target: {e}")))?,
    };
    let body = body_framing(&fields, version)?;
    if switches && !body.is_done() {
        return Err(bad("a websocket upgrade request has no body"));
    }
    let keep_alive = !fields.close && (version == Version::HTTP_11 || fields.keep_alive);
    Ok(Some(Head {
        expects_continue: version == Version::HTTP_11 && fields.expect_continue,
        takes_trailers: fields.te_trailers,
        switches,
        asterisk: form == Form::Asterisk,
        keep_alive,
        method,
        uri,
        version,
        body,
        raw,
        spans,
    }))
}

/// The form of a request target (RFC 9112 §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    /// `/path?query`.
    Origin,
    /// `http://authority/path?query`: the authority lies at `from..to` in the target.
    Absolute { from: usize, to: usize },
    /// `*`, for `OPTIONS` only.
    Asterisk,
}

/// Origin-form, absolute-form (`http` or `https`, with a valid authority and no user info), or
/// `*` for `OPTIONS`; anything else (authority-form, a bare word) is refused.
fn target_form(target: &[u8], method: &Method) -> Result<Form, HeadError> {
    let refuse = || {
        bad(format!(
            "request target {:?}",
            String::from_utf8_lossy(target)
        ))
    };
    match target.first() {
        Some(b'/') => return Ok(Form::Origin),
        Some(b'*') if target.len() == 1 && method == Method::OPTIONS => return Ok(Form::Asterisk),
        _ => {}
    }
    let lower = |n: usize| target.get(..n).map(<[u8]>::to_ascii_lowercase);
    let from = if lower(7).as_deref() == Some(b"http://") {
        7
    } else if lower(8).as_deref() == Some(b"https://") {
        8
    } else {
        return Err(refuse());
    };
    let to = from
        + target[from..]
            .iter()
            .position(|&b| matches!(b, b'/' | b'?' | b'#'))
            .unwrap_or(target.len() - from);
    if !valid_host(&target[from..to]) {
        return Err(refuse());
    }
    Ok(Form::Absolute { from, to })
}

/// `uri-host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2): a registered name (letters, digits,
/// `-._~`, percent-escapes and the sub-delimiters but `,`), an IPv4 address, or an IP literal in
/// brackets; the port digits only. Empty, comma-listed, whitespace and user info are refused.
pub(crate) fn valid_host(v: &[u8]) -> bool {
    let (host, port) = match v.first() {
        Some(b'[') => match v.iter().position(|&b| b == b']') {
            Some(end) => {
                let inside = &v[1..end];
                let literal = !inside.is_empty()
                    && inside
                        .iter()
                        .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
                if !literal {
                    return false;
                }
                match &v[end + 1..] {
                    [] => return true,
                    [b':', port @ ..] => (&v[..=end], port),
                    _ => return false,
                }
            }
            None => return false,
        },
        _ => match v.iter().rposition(|&b| b == b':') {
            Some(i) => (&v[..i], &v[i + 1..]),
            None => (v, &[][..]),
        },
    };
    if host.is_empty() || !port.iter().all(u8::is_ascii_digit) || port.len() > 5 {
        return false;
    }
    if host.first() == Some(&b'[') {
        return true;
    }
    let mut i = 0;
    while i < host.len() {
        let b = host[i];
        if b == b'%' {
            if !host
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
            continue;
        }
        if !(b.is_ascii_alphanumeric() || b"-._~!$&'()*+;=".contains(&b)) {
            return false;
        }
        i += 1;
    }
    true
}

/// The request body's framing (RFC 9112 §6.3): `Transfer-Encoding: chunked` alone (one field,
/// exactly that value, HTTP/1.1, no `Content-Length`), else one `Content-Length`, else none. Any
/// other combination can be framed two ways by two hops: 400.
fn body_framing(f: &Fields, version: Version) -> Result<super::framing::Decoder, HeadError> {
    use super::framing::Decoder;
    if f.te_fields > 0 {
        if version == Version::HTTP_10 {
            return Err(bad("transfer-encoding in an HTTP/1.0 request"));
        }
        if f.has_length() {
            return Err(bad("both transfer-encoding and content-length"));
        }
        if !f.plain_chunked() {
            return Err(bad("transfer-encoding must be exactly `chunked`"));
        }
        return Ok(Decoder::chunked());
    }
    if f.length_repeated {
        return Err(bad("more than one content-length"));
    }
    let length = f.length().map_err(HeadError::Malformed)?;
    Ok(Decoder::length(length.unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http1::framing::Decoder;

    fn parse_all(wire: &[u8]) -> Result<Option<Head>, HeadError> {
        parse(&mut BytesMut::from(wire), Policy::default())
    }

    fn field<'a>(h: &'a Head, name: &[u8]) -> Option<&'a [u8]> {
        h.spans
            .iter()
            .find(|s| &h.raw[s[0]..s[1]] == name)
            .map(|s| &h.raw[s[2]..s[3]])
    }

    fn refused(wire: &[u8]) -> bool {
        matches!(parse_all(wire), Err(HeadError::Malformed(_)))
    }

    #[test]
    fn parses_a_request_head_and_leaves_the_body() {
        let mut buf = BytesMut::from(
            &b"POST /api/v1/chat?x=1 HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\n\r\nhiGET"[..],
        );
        let h = parse(&mut buf, Policy::default()).unwrap().unwrap();
        assert_eq!(h.method, Method::POST);
        assert_eq!(h.uri.path(), "/api/v1/chat");
        assert_eq!(h.uri.query(), Some("x=1"));
        assert_eq!(field(&h, b"host"), Some(&b"gw"[..]));
        assert_eq!(h.body.remaining(), Some(2));
        assert!(h.keep_alive && !h.switches && !h.expects_continue);
        assert_eq!(&buf[..], b"hiGET");
        assert!(
            parse(&mut buf, Policy::default()).unwrap().is_none(),
            "a partial head waits"
        );
    }

    #[test]
    fn names_are_lower_cased_and_values_kept() {
        let h = parse_all(b"GET / HTTP/1.1\r\nX-Tenant: ACME\r\nHOST: gw\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            field(&h, b"x-tenant"),
            Some(&b"ACME"[..]),
            "values keep their case"
        );
        assert_eq!(field(&h, b"host"), Some(&b"gw"[..]));
    }

    #[test]
    fn connection_semantics() {
        let h = parse_all(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!h.keep_alive);
        let h = parse_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.keep_alive);
        let h = parse_all(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!h.keep_alive);
        let h = parse_all(
            b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nTE: trailers\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert!(h.expects_continue && h.takes_trailers);
        let h = parse_all(b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!h.keep_alive, "close wins");
    }

    #[test]
    fn only_a_valid_websocket_upgrade_switches() {
        let ws = b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        let allow = Policy {
            websocket: true,
            ..Policy::default()
        };
        let h = parse(&mut BytesMut::from(&ws[..]), allow).unwrap().unwrap();
        assert!(h.switches);
        let h = parse_all(ws).unwrap().unwrap();
        assert!(!h.switches, "not allowed: served plain");
        let h2c = b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\n\
                    Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n";
        let h = parse(&mut BytesMut::from(&h2c[..]), allow)
            .unwrap()
            .unwrap();
        assert!(!h.switches, "h2c never switches");
        let bad = b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                    Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n";
        assert!(parse(&mut BytesMut::from(&bad[..]), allow).is_err());
    }

    #[test]
    fn body_framing_is_one_way_only() {
        let h = parse_all(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(matches!(h.body, Decoder::Chunked(_)));
        let h = parse_all(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: CHUNKED\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(
            matches!(h.body, Decoder::Chunked(_)),
            "coding names ignore case"
        );
        for bad in [
            &b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\t\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked \r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ,chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nBad Header\r\n\r\n",
        ] {
            assert!(refused(bad), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn request_targets_are_origin_or_absolute_form() {
        for bad in [
            &b"GET ! HTTP/1.1\r\nHost: h\r\n\r\n"[..],
            b"GET h:80 HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET * HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n",
        ] {
            assert!(refused(bad), "{}", String::from_utf8_lossy(bad));
        }
        let h = parse_all(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.asterisk);
        let h = parse_all(b"GET http://Other.example:81/p?q HTTP/1.1\r\nHost: h\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.uri.path(), "/p");
        assert_eq!(
            field(&h, b"host"),
            Some(&b"Other.example:81"[..]),
            "the authority wins"
        );
        assert!(matches!(
            parse_all(b"CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n"),
            Err(HeadError::MethodNotAllowed(_))
        ));
    }

    #[test]
    fn host_is_one_valid_authority() {
        for bad in [
            &b"GET / HTTP/1.1\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a, b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a:x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: \r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: [zz]\r\n\r\n",
        ] {
            assert!(refused(bad), "{}", String::from_utf8_lossy(bad));
        }
        for good in [
            &b"a"[..],
            b"a.example:8080",
            b"[::1]:80",
            b"127.0.0.1",
            b"a-b_c~d",
            b"a:",
        ] {
            assert!(valid_host(good), "{}", String::from_utf8_lossy(good));
        }
        assert!(
            parse_all(b"GET / HTTP/1.0\r\n\r\n").unwrap().is_some(),
            "HTTP/1.0 may omit it"
        );
    }

    #[test]
    fn underscored_names_are_dropped_unless_kept() {
        let wire = b"GET / HTTP/1.1\r\nHost: h\r\nX_Forwarded_For: 1.2.3.4\r\nX-Ok: 1\r\n\r\n";
        let h = parse_all(wire).unwrap().unwrap();
        assert_eq!(field(&h, b"x_forwarded_for"), None);
        assert_eq!(field(&h, b"x-ok"), Some(&b"1"[..]));
        let keep = Policy {
            keep_underscores: true,
            ..Policy::default()
        };
        let h = parse(&mut BytesMut::from(&wire[..]), keep)
            .unwrap()
            .unwrap();
        assert_eq!(field(&h, b"x_forwarded_for"), Some(&b"1.2.3.4"[..]));
    }
}
