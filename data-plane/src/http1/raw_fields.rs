//! An HTTP/1.1 agent's response fields as they arrived, with what the gateway adds to them.
//! Written to an HTTP/1.1 client line by line, they never become a header map: building, editing
//! and dropping one per response was about a fifth of the proxy's work per request. A client that
//! hyper serves (HTTP/2) gets them as a map, with the same result as
//! [`crate::proxy::headers::to_client`] and [`crate::proxy::cors::mark`].

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Response};

use crate::http1::body::ProxyBody;
use crate::http1::head::{put_field, visible};
use crate::proxy::headers;

/// What a field's name means to the gateway.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Meaningful only for one connection (RFC 9110 §7.6.1), as [`headers::strip_hop_by_hop`]
    /// removes them.
    HopByHop,
    Connection,
    ContentLength,
    Date,
    Vary,
    Via,
    RequestId,
    Route,
    AllowOrigin,
    Other,
}

/// The kind of field `name` is: by its length first, so most names cost one comparison or none.
fn kind(name: &[u8]) -> Kind {
    let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
    match name.len() {
        2 if is(b"te") => Kind::HopByHop,
        3 if is(b"via") => Kind::Via,
        4 if is(b"date") => Kind::Date,
        4 if is(b"vary") => Kind::Vary,
        7 if is(b"upgrade") || is(b"trailer") => Kind::HopByHop,
        10 if is(b"connection") => Kind::Connection,
        10 if is(b"keep-alive") => Kind::HopByHop,
        12 if is(b"x-request-id") => Kind::RequestId,
        14 if is(b"content-length") => Kind::ContentLength,
        14 if is(b"http2-settings") => Kind::HopByHop,
        16 if is(b"proxy-connection") => Kind::HopByHop,
        16 if is(b"x-openclaw-route") => Kind::Route,
        17 if is(b"transfer-encoding") => Kind::HopByHop,
        18 if is(b"proxy-authenticate") => Kind::HopByHop,
        19 if is(b"proxy-authorization") => Kind::HopByHop,
        27 if is(b"access-control-allow-origin") => Kind::AllowOrigin,
        _ => Kind::Other,
    }
}

/// A response as the handler gives it: when it comes from an HTTP/1.1 agent, its header fields
/// travel as received beside it (its header map then holds nothing of the agent's).
pub(crate) struct Answer {
    pub(crate) resp: Response<ProxyBody>,
    pub(crate) fields: Option<RawFields>,
}

// === impl Answer ===

impl Answer {
    /// An answer whose fields are all in its header map.
    pub(crate) fn from_response(resp: Response<ProxyBody>) -> Self {
        Self { resp, fields: None }
    }

    /// The response with every field in its header map (for hyper).
    pub(crate) fn into_response(self) -> Response<ProxyBody> {
        let mut resp = self.resp;
        if let Some(f) = self.fields {
            f.into_map(resp.headers_mut());
        }
        resp
    }
}

/// What the agent's fields say about the gateway's: the first `Via`, a `Date`, a `Vary` covering
/// the origin.
#[derive(Default)]
struct Found<'a> {
    via: Option<&'a [u8]>,
    date: bool,
    varies: bool,
}

/// An agent's response fields, and the gateway's own to add.
#[derive(Debug)]
pub(crate) struct RawFields {
    /// The field lines as received (validated by the parser): from the line after the status line
    /// up to the blank line.
    lines: Bytes,
    /// The request id, replacing any the agent sent.
    pub(crate) request_id: Option<HeaderValue>,
    /// The routing rule's name, replacing any `x-openclaw-route` the agent sent.
    pub(crate) route: Option<HeaderValue>,
    /// A CORS request's allowed origin: replaces the agent's `Access-Control-Allow-Origin`, and
    /// `Vary: Origin` is added unless the agent's `Vary` covers it.
    pub(crate) allow_origin: Option<HeaderValue>,
}

// === impl RawFields ===

impl RawFields {
    /// The fields in `lines` (each `name: value`, ending in CRLF or LF), nothing added yet.
    pub(crate) fn new(lines: Bytes) -> Self {
        Self {
            lines,
            request_id: None,
            route: None,
            allow_origin: None,
        }
    }

    /// Each field as (name, value), the value without surrounding whitespace.
    fn fields(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let lines = &self.lines[..];
        let mut start = 0;
        // Every line, the blank one included, ends in LF.
        memchr::memchr_iter(b'\n', lines).filter_map(move |end| {
            let line = &lines[start..=end];
            start = end + 1;
            split_line(line).map(|(name, value, _)| (name, value))
        })
    }

    /// True when the agent's `Connection` names `name` (so it is hop-by-hop too).
    fn named_by_connection(&self, name: &[u8]) -> bool {
        self.fields()
            .filter(|(n, _)| kind(n) == Kind::Connection)
            .flat_map(|(_, v)| v.split(|&b| b == b','))
            .any(|token| token.trim_ascii().eq_ignore_ascii_case(name))
    }

    /// Writes the fields for an HTTP/1.1 client, but hop-by-hop ones and `Content-Length` unless
    /// `keep_length` (the caller writes the framing), then the gateway's own. True when the agent
    /// sent a `Date`.
    pub(crate) fn write(&self, dst: &mut BytesMut, keep_length: bool) -> bool {
        dst.reserve(self.lines.len() + 160);
        let start = dst.len();
        // Fields a `Connection` names are hop-by-hop too: looked for only once one turns up, when
        // what was written so far is written again.
        match self.write_fields(dst, keep_length, false) {
            Some(found) => self.write_added(dst, found),
            None => {
                dst.truncate(start);
                // With `named` on, a `Connection` field does not stop the writing.
                let found = self
                    .write_fields(dst, keep_length, true)
                    .unwrap_or_default();
                self.write_added(dst, found)
            }
        }
    }

    /// Writes the agent's fields that go on; `None` (in part written) when a `Connection` field
    /// turns up while `named` (look for the fields it names) is off. Lines already in the form the
    /// gateway writes (`name: value` and CRLF) are copied as they are, a run of them at a time.
    fn write_fields<'a>(
        &'a self,
        dst: &mut BytesMut,
        keep_length: bool,
        named: bool,
    ) -> Option<Found<'a>> {
        let mut found = Found::default();
        let lines = &self.lines[..];
        // The pending run of lines to copy as they are.
        let mut run = 0..0;
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', lines) {
            let whole = start..end + 1;
            start = end + 1;
            let Some((name, value, canonical)) = split_line(&lines[whole.clone()]) else {
                continue;
            };
            let dropped = (named && self.named_by_connection(name))
                || match kind(name) {
                    Kind::Connection if !named => return None,
                    Kind::HopByHop | Kind::Connection => true,
                    Kind::ContentLength => !keep_length,
                    Kind::Via => {
                        found.via.get_or_insert(value);
                        true
                    }
                    Kind::RequestId => self.request_id.is_some(),
                    Kind::Route => self.route.is_some(),
                    Kind::AllowOrigin => self.allow_origin.is_some(),
                    Kind::Date => {
                        found.date = true;
                        false
                    }
                    Kind::Vary => {
                        found.varies |= crate::proxy::cors::covers_origin(value);
                        false
                    }
                    Kind::Other => false,
                };
            if dropped {
                continue;
            }
            if canonical {
                if run.end != whole.start {
                    put_run(dst, &lines[run]);
                    run = whole.start..whole.start;
                }
                run.end = whole.end;
            } else {
                put_run(dst, &lines[run]);
                run = whole.end..whole.end;
                put_field(dst, name, &[value]);
            }
        }
        put_run(dst, &lines[run]);
        Some(found)
    }

    /// Writes the gateway's fields after the agent's; true when the agent sent a `Date`.
    fn write_added(&self, dst: &mut BytesMut, found: Found<'_>) -> bool {
        let Found { via, date, varies } = found;
        let me = headers::VIA_VALUE.as_bytes();
        match via.filter(|v| visible(v)) {
            Some(prev) => put_field(dst, b"via", &[prev, b", ", me]),
            None => put_field(dst, b"via", &[me]),
        }
        if let Some(v) = &self.request_id {
            put_field(dst, b"x-request-id", &[v.as_bytes()]);
        }
        if let Some(v) = &self.route {
            put_field(dst, b"x-openclaw-route", &[v.as_bytes()]);
        }
        if let Some(v) = &self.allow_origin {
            put_field(dst, b"access-control-allow-origin", &[v.as_bytes()]);
            if !varies {
                put_field(dst, b"vary", &[b"Origin"]);
            }
        }
        date
    }

    /// The fields, and the gateway's own, added to `h` (for a client that hyper serves, or a
    /// protocol switch). A field the parser let through but `http` refuses is dropped, with a debug
    /// line.
    pub(crate) fn into_map(self, h: &mut HeaderMap) {
        for (name, value) in self.fields() {
            let parsed = HeaderName::from_bytes(name)
                .ok()
                .zip(HeaderValue::from_maybe_shared(self.lines.slice_ref(value)).ok());
            match parsed {
                Some((n, v)) => {
                    h.append(n, v);
                }
                None => tracing::debug!(
                    field = %String::from_utf8_lossy(name),
                    "dropping an agent's header field that is not valid here"
                ),
            }
        }
        headers::to_client(h, self.request_id.as_ref(), self.route.as_ref());
        if let Some(v) = self.allow_origin {
            crate::proxy::cors::mark(h, v);
        }
    }
}

/// Copies a run of field lines (nothing when it is empty).
fn put_run(dst: &mut BytesMut, run: &[u8]) {
    if !run.is_empty() {
        dst.put_slice(run);
    }
}

/// A field line (ending in LF) as (name, value without surrounding whitespace, whether the line
/// is already `name: value` and CRLF); `None` for a line without a colon.
fn split_line(line: &[u8]) -> Option<(&[u8], &[u8], bool)> {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    let crlf = body.len() < line.len() && body.ends_with(b"\r");
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    let colon = memchr::memchr(b':', body)?;
    let (name, rest) = (&body[..colon], &body[colon + 1..]);
    let value = rest.trim_ascii();
    let canonical = crlf && rest.first() == Some(&b' ') && value.len() + 1 == rest.len();
    Some((name, value, canonical))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http1::head::sorted_lines;
    use crate::proxy::headers::{REQUEST_ID, ROUTE};
    use http::header::{ACCESS_CONTROL_ALLOW_ORIGIN, VARY, VIA};

    #[test]
    fn written_fields_equal_the_header_map_the_gateway_would_build() {
        let heads: [&[u8]; 7] = [
            b"",
            b"Content-Type: application/json\r\nContent-Length: 5\r\nDate: Tue, 01 Jan 2030 00:00:00 GMT\r\n",
            b"Via: 1.0 edge\nX-Request-Id: theirs\nX-OpenClaw-Route: theirs\nVary: Accept\nVary: Origin\n",
            b"Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\nUpgrade: h2c\r\nTrailer: x\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n",
            b"Access-Control-Allow-Origin: *\r\nVary:  *  \r\nVia: 1.1 \xff\r\n",
            b"Connection: close, Via, date, vary\r\nVia: 1.0 x\r\nDate: Tue, 01 Jan 2030 00:00:00 GMT\r\nVary: Origin\r\nX-Kept: 1\r\n",
            // Lines copied as they are (in runs) beside ones rewritten: no space, extra spaces, LF.
            b"X-A: 1\r\nX-Empty: \r\nX-B:2\r\nX-C: 3 \r\nX-D: 4\r\nX-E: 5\nX-F: 6\r\n",
        ];
        let rid = HeaderValue::from_static("rid-1");
        let route = HeaderValue::from_static("chat");
        let origin = HeaderValue::from_static("https://app.example");
        for head in heads {
            for (route, origin) in [
                (None, None),
                (Some(route.clone()), None),
                (Some(route.clone()), Some(origin.clone())),
            ] {
                let mut raw = RawFields::new(Bytes::copy_from_slice(head));
                raw.request_id = Some(rid.clone());
                raw.route.clone_from(&route);
                raw.allow_origin.clone_from(&origin);
                let mut written = BytesMut::new();
                let has_date = raw.write(&mut written, false);
                let mut map = HeaderMap::new();
                raw.into_map(&mut map);
                assert_eq!(has_date, map.contains_key(http::header::DATE));
                let mut expected = BytesMut::new();
                crate::http1::head::write(&mut expected, &map, |n| {
                    n == http::header::CONTENT_LENGTH
                });
                assert_eq!(
                    sorted_lines(&written),
                    sorted_lines(&expected),
                    "{:?} {route:?} {origin:?}",
                    String::from_utf8_lossy(head)
                );
            }
        }
        // The hop-by-hop kinds are exactly the names `headers::strip_hop_by_hop` removes.
        for name in &headers::HOP_BY_HOP {
            let k = kind(name.as_str().as_bytes());
            assert!(matches!(k, Kind::HopByHop | Kind::Connection), "{name}");
        }
        let hop = [
            "te",
            "upgrade",
            "trailer",
            "connection",
            "keep-alive",
            "proxy-connection",
            "transfer-encoding",
            "proxy-authenticate",
            "proxy-authorization",
            "http2-settings",
        ];
        assert_eq!(hop.len(), headers::HOP_BY_HOP.len());
        for n in hop {
            assert!(headers::HOP_BY_HOP.iter().any(|h| h == n), "{n}");
        }
        // The names written as bytes are the gateway's header names.
        for (name, bytes) in [
            (VIA, &b"via"[..]),
            (VARY, b"vary"),
            (REQUEST_ID, b"x-request-id"),
            (ROUTE, b"x-openclaw-route"),
            (ACCESS_CONTROL_ALLOW_ORIGIN, b"access-control-allow-origin"),
        ] {
            assert_eq!(name.as_str().as_bytes(), bytes);
        }
    }
}
