//! A request's header fields as the pipeline reads them: a header map (requests hyper serves), or,
//! from our HTTP/1.1 server, the head as received (names made lower-case) with where each field
//! lies. Building, reading and dropping a map per request was about a tenth of the proxy's work on
//! HTTP/1.1; the raw head is read in place and written on to the agent as it came, less its
//! hop-by-hop fields. Names are lower-case either way, so they compare byte for byte.

use bytes::Bytes;
use http::header::CONNECTION;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::http1::head::{Span, visible};
#[cfg(test)]
use crate::proxy::headers;

/// Header fields parsed from a request head: the head's bytes (names lower-case) and each field's
/// span in them.
#[derive(Clone, Debug)]
pub struct RawHead {
    head: Bytes,
    spans: Box<[Span]>,
}

/// A request's header fields; names are lower-case, values the bytes sent.
#[derive(Clone, Debug)]
pub enum ReqHeaders {
    /// In a header map.
    Map(HeaderMap),
    /// As received by the gateway's HTTP/1.1 server.
    Raw(RawHead),
}

/// The fields of a request towards an HTTP/1.1 agent, as its head is written: a map already
/// stripped of hop-by-hop fields, or a raw head whose hop-by-hop fields are left out as it is read.
#[derive(Clone, Copy)]
pub(crate) enum Outgoing<'a> {
    Map(&'a HeaderMap),
    Raw(&'a RawHead),
}

/// True for a field meaningful only for one connection (RFC 9110 §7.6.1), its name lower-case: the
/// names [`crate::proxy::headers::HOP_BY_HOP`] lists.
fn hop_by_hop(name: &[u8]) -> bool {
    matches!(
        name,
        b"connection"
            | b"keep-alive"
            | b"proxy-connection"
            | b"proxy-authenticate"
            | b"proxy-authorization"
            | b"te"
            | b"trailer"
            | b"transfer-encoding"
            | b"upgrade"
            | b"http2-settings"
    )
}

/// One iterator type over a map's fields and a raw head's.
enum Either<A, B> {
    Map(A),
    Raw(B),
}

impl<T, A: Iterator<Item = T>, B: Iterator<Item = T>> Iterator for Either<A, B> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        match self {
            Self::Map(a) => a.next(),
            Self::Raw(b) => b.next(),
        }
    }
}

/// A map's fields as (name, value).
fn map_fields(m: &HeaderMap) -> impl Iterator<Item = (&[u8], &[u8])> {
    m.iter().map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()))
}

// === impl RawHead ===

impl RawHead {
    /// The fields of `head` at `spans` (as [`crate::http1::head::spans`] records them), names already
    /// lower-case.
    pub(crate) fn new(head: Bytes, spans: Vec<Span>) -> Self {
        Self {
            head,
            spans: spans.into_boxed_slice(),
        }
    }

    /// Each field as (name, value).
    fn fields(&self) -> impl Iterator<Item = (&[u8], &[u8])> + Clone {
        self.spans
            .iter()
            .map(|&[ns, ne, vs, ve]| (&self.head[ns..ne], &self.head[vs..ve]))
    }

    /// The first value of `name`.
    pub(crate) fn get(&self, name: &HeaderName) -> Option<&[u8]> {
        let name = name.as_str().as_bytes();
        // Lengths and last bytes first: most fields differ there, without a call to compare them.
        self.fields()
            .find(|(n, _)| n.len() == name.len() && n.last() == name.last() && *n == name)
            .map(|(_, v)| v)
    }

    /// The fields that go on to the next hop: not hop-by-hop, nor named by `Connection` (as
    /// [`crate::proxy::headers::strip_hop_by_hop`] leaves a map).
    pub(crate) fn forwarded(&self) -> impl Iterator<Item = (&[u8], &[u8])> + Clone {
        // Most requests carry no hop-by-hop field: the `Connection` tokens are read only when one
        // does.
        let any = self.fields().any(|(n, _)| hop_by_hop(n));
        let named: Vec<&[u8]> = if any {
            self.fields()
                .filter(|(n, _)| *n == CONNECTION.as_str().as_bytes())
                .filter(|(_, v)| visible(v))
                .flat_map(|(_, v)| v.split(|&b| b == b','))
                .map(<[u8]>::trim_ascii)
                .collect()
        } else {
            Vec::new()
        };
        self.fields().filter(move |(n, _)| {
            !any || !(hop_by_hop(n) || named.iter().any(|t| t.eq_ignore_ascii_case(n)))
        })
    }

    /// The fields in a header map; one `http` refuses (none the parser passes) is dropped.
    fn into_map(self) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(self.spans.len());
        for &[ns, ne, vs, ve] in &self.spans {
            let parsed = HeaderName::from_bytes(&self.head[ns..ne])
                .ok()
                .zip(HeaderValue::from_maybe_shared(self.head.slice(vs..ve)).ok());
            if let Some((n, v)) = parsed {
                map.append(n, v);
            }
        }
        map
    }
}

// === impl Outgoing ===

impl<'a> Outgoing<'a> {
    /// Each field that goes on, as (name, value).
    pub(crate) fn fields(self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
        match self {
            Self::Map(m) => Either::Map(map_fields(m)),
            Self::Raw(r) => Either::Raw(r.forwarded()),
        }
    }

    /// True when a field `name` goes on.
    pub(crate) fn contains(self, name: &HeaderName) -> bool {
        match self {
            Self::Map(m) => m.contains_key(name),
            Self::Raw(r) => !hop_by_hop(name.as_str().as_bytes()) && r.get(name).is_some(),
        }
    }
}

// === impl ReqHeaders ===

impl ReqHeaders {
    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a [u8]> + 'a {
        match self {
            Self::Map(m) => Either::Map(m.get_all(name).iter().map(HeaderValue::as_bytes)),
            Self::Raw(r) => {
                let name = name.as_str().as_bytes();
                Either::Raw(r.fields().filter(move |(n, _)| *n == name).map(|(_, v)| v))
            }
        }
    }

    /// The first value of `name`.
    pub fn get(&self, name: &HeaderName) -> Option<&[u8]> {
        match self {
            Self::Map(m) => m.get(name).map(HeaderValue::as_bytes),
            Self::Raw(r) => r.get(name),
        }
    }

    /// The first value of `name` as text, when it is visible ASCII (as `HeaderValue::to_str`).
    pub fn get_str(&self, name: &HeaderName) -> Option<&str> {
        self.get(name)
            .filter(|v| visible(v))
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The first value of `name` as a header value (sharing the head's bytes).
    pub(crate) fn value(&self, name: &HeaderName) -> Option<HeaderValue> {
        match self {
            Self::Map(m) => m.get(name).cloned(),
            Self::Raw(r) => r
                .get(name)
                .and_then(|v| HeaderValue::from_maybe_shared(r.head.slice_ref(v)).ok()),
        }
    }

    /// The bytes the fields take as `name: value` lines (CRLF-ended), from their lengths alone.
    pub(crate) fn written_size(&self) -> usize {
        match self {
            Self::Map(m) => m.iter().map(|(n, v)| n.as_str().len() + v.len() + 4).sum(),
            Self::Raw(r) => r
                .spans
                .iter()
                .map(|&[ns, ne, vs, ve]| (ne - ns) + (ve - vs) + 4)
                .sum(),
        }
    }

    /// True when a field `name` is present.
    pub fn contains(&self, name: &HeaderName) -> bool {
        self.get(name).is_some()
    }

    /// Each field as (name, value).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        match self {
            Self::Map(m) => Either::Map(map_fields(m)),
            Self::Raw(r) => Either::Raw(r.fields()),
        }
    }

    /// The fields in a header map.
    pub fn into_map(self) -> HeaderMap {
        match self {
            Self::Map(m) => m,
            Self::Raw(r) => r.into_map(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http1::head as h1_head;

    /// The fields of `head` (field lines only) both ways: raw, and in a map.
    /// (Names lower-cased as the server's parser does.)
    fn both(head: &'static [u8]) -> (ReqHeaders, ReqHeaders) {
        let mut wire = [b"GET / HTTP/1.1\r\n", head, b"\r\n"].concat();
        let mut slots = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut slots);
        assert!(req.parse(&wire).unwrap().is_complete());
        let mut spans = Vec::new();
        h1_head::spans(wire.as_ptr() as usize, req.headers, &mut spans);
        for &[start, end, _, _] in &spans {
            wire[start..end].make_ascii_lowercase();
        }
        let raw = RawHead::new(Bytes::from(wire), spans);
        let map = ReqHeaders::Map(raw.clone().into_map());
        (ReqHeaders::Raw(raw), map)
    }

    #[test]
    fn a_raw_head_reads_as_its_map_does() {
        let (raw, map) = both(
            b"Host: gw\r\nX-Multi: a\r\nx-multi: b\r\nX-Bin: \xff\r\nAuthorization: Bearer k\r\n",
        );
        for h in [&raw, &map] {
            assert_eq!(h.get(&http::header::HOST), Some(&b"gw"[..]));
            let multi = HeaderName::from_static("x-multi");
            assert_eq!(h.get_all(&multi).collect::<Vec<_>>(), [b"a", b"b"]);
            let bin = HeaderName::from_static("x-bin");
            assert!(h.contains(&bin) && h.get_str(&bin).is_none(), "not text");
            assert_eq!(h.get_str(&http::header::AUTHORIZATION), Some("Bearer k"));
            assert!(!h.contains(&http::header::ORIGIN));
            assert_eq!(h.value(&http::header::HOST).unwrap(), "gw");
            assert_eq!(h.iter().count(), 5);
            // "host: gw", "x-multi: a", "x-multi: b", "x-bin: \xff", "authorization: Bearer k".
            assert_eq!(h.written_size(), 10 + 12 + 12 + 10 + 25);
        }
    }

    #[test]
    fn hop_by_hop_names_are_the_listed_ones() {
        for name in &headers::HOP_BY_HOP {
            assert!(hop_by_hop(name.as_str().as_bytes()), "{name}");
        }
        // And no other: every name the match accepts is listed.
        for name in [
            "connection",
            "keep-alive",
            "proxy-connection",
            "proxy-authenticate",
            "proxy-authorization",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
        ] {
            assert!(headers::HOP_BY_HOP.iter().any(|h| h == name), "{name}");
        }
        assert!(!hop_by_hop(b"x-te") && !hop_by_hop(b"host") && !hop_by_hop(b"Connection"));
    }

    #[test]
    fn forwarded_fields_are_those_hop_by_hop_stripping_leaves() {
        for head in [
            &b"Host: gw\r\nX-A: 1\r\n"[..],
            b"Host: gw\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\nX-A: 1\r\n",
            b"Proxy-Authorization: x\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nUpgrade: h2c\r\n",
            b"X-Hop: 1\r\nX-A: 1\r\n",
        ] {
            let (ReqHeaders::Raw(raw), map) = both(head) else {
                unreachable!()
            };
            let mut stripped = map.into_map();
            headers::strip_hop_by_hop(&mut stripped);
            let forwarded: Vec<(String, &[u8])> = raw
                .forwarded()
                .map(|(n, v)| (String::from_utf8_lossy(n).to_lowercase(), v))
                .collect();
            let expected: Vec<(String, &[u8])> = stripped
                .iter()
                .map(|(n, v)| (n.to_string(), v.as_bytes()))
                .collect();
            assert_eq!(forwarded, expected, "{}", String::from_utf8_lossy(head));
        }
    }
}
