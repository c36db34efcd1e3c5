//! Header rewriting between client and agent: hop-by-hop removal, `X-Forwarded-*`, `Via`, request ids.
//!
//! This runs on every request and response, so names are constants (no parsing per call) and the
//! values that do not change per request (the client's address, the agent's `Host`, the route name)
//! arrive as ready-made [`HeaderValue`]s.

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{
    CONNECTION, HOST, HeaderMap, HeaderName, HeaderValue, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION,
    TE, TRAILER, TRANSFER_ENCODING, UPGRADE, VIA,
};

use crate::http1::head::{put_field, visible};
use crate::http1::req_headers::ReqHeaders;

/// The request id header.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Header naming the agent a request asks for.
pub(crate) const AGENT_OVERRIDE: HeaderName = HeaderName::from_static("x-openclaw-agent");

/// Header naming the rule that routed a response.
pub(crate) const ROUTE: HeaderName = HeaderName::from_static("x-openclaw-route");

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// What the gateway adds to `Via`.
pub(crate) const VIA_VALUE: &str = "1.1 openclaw";

/// Headers meaningful only for one connection (RFC 9110 §7.6.1), and h2c's `HTTP2-Settings`
/// (RFC 7540 §3.2.1), which no upgrade through the gateway ever uses.
pub(crate) const HOP_BY_HOP: [HeaderName; 10] = [
    CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION,
    TE,
    TRAILER,
    TRANSFER_ENCODING,
    UPGRADE,
    HeaderName::from_static("http2-settings"),
];

/// Removes hop-by-hop headers, including those the `Connection` header names.
pub(crate) fn strip_hop_by_hop(h: &mut HeaderMap) {
    // Most messages carry none of them: one scan of the names instead of nine removals.
    if !h.keys().any(|n| HOP_BY_HOP.contains(n)) {
        return;
    }
    let named: Vec<HeaderName> = h
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        h.remove(n);
    }
    for n in &HOP_BY_HOP {
        h.remove(n);
    }
}

/// The parsing policy's field rules (see [`crate::http1`]) for a request hyper read (HTTP/2, or an
/// HTTP/1.1 upgrade): names with `_` are dropped unless `keep_underscores`, and an HTTP/1.1
/// absolute-form target's authority is its `Host`.
pub(crate) fn policy<B>(h: &mut HeaderMap, req: &http::Request<B>, keep_underscores: bool) {
    if !keep_underscores && h.keys().any(|n| n.as_str().contains('_')) {
        let names: Vec<HeaderName> = h
            .keys()
            .filter(|n| n.as_str().contains('_'))
            .cloned()
            .collect();
        for n in names {
            h.remove(n);
        }
    }
    if req.version() <= http::Version::HTTP_11
        && let Some(a) = req.uri().authority()
        && let Ok(v) = HeaderValue::from_str(a.as_str())
    {
        h.insert(HOST, v);
    }
}

/// The value of a client's address in `X-Forwarded-For` (computed once per connection).
pub(crate) fn client_ip(client: std::net::SocketAddr) -> HeaderValue {
    HeaderValue::from_maybe_shared(Bytes::from(client.ip().to_string()))
        .unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

/// What the gateway adds to a request towards an agent: its request id, the `X-Forwarded-For`
/// chain, `X-Forwarded-Proto` and `-Host`, the agent's `Host`, `Via`. Applied to a header map for
/// HTTP/2, and written straight into the head for HTTP/1.1, where it spares a map edit per field.
#[derive(Clone, Debug)]
pub(crate) struct Forwarding {
    /// The request's id.
    pub(crate) request_id: HeaderValue,
    /// The client's address, from [`client_ip`].
    pub(crate) client_ip: HeaderValue,
    /// The client came over TLS.
    pub(crate) https: bool,
    /// The agent's `host[:port]`; the client's `Host` stays when it is `None`.
    pub(crate) upstream_host: Option<HeaderValue>,
}

impl crate::http1::client::Forward for Forwarding {
    #[inline]
    fn write<'a>(
        &self,
        dst: &mut BytesMut,
        fields: impl Iterator<Item = (&'a [u8], &'a [u8])>,
        authority: &str,
        skip: impl Fn(&[u8]) -> bool,
    ) {
        Forwarding::write(self, dst, fields, authority, skip);
    }
}

// === impl Forwarding ===

impl Forwarding {
    fn proto(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }

    /// Adds the forwarding fields to `h` (hop-by-hop headers already removed).
    pub(crate) fn apply(&self, h: &mut HeaderMap) {
        h.insert(REQUEST_ID, self.request_id.clone());
        let xff = match h.get(&X_FORWARDED_FOR).filter(|v| v.to_str().is_ok()) {
            Some(prev) => joined(prev, self.client_ip.as_bytes()),
            None => Some(self.client_ip.clone()),
        };
        if let Some(v) = xff {
            h.insert(X_FORWARDED_FOR, v);
        }
        h.insert(X_FORWARDED_PROTO, HeaderValue::from_static(self.proto()));
        if let Some(host) = h.get(HOST).cloned() {
            h.insert(X_FORWARDED_HOST, host);
        }
        if let Some(v) = &self.upstream_host {
            h.insert(HOST, v.clone());
        }
        append_via(h);
    }

    /// Writes `fields` (lower-case name, value; hop-by-hop ones already left out) but those `skip`
    /// names, with
    /// the forwarding fields in place of the client's, as HTTP/1.1 field lines: the same head
    /// [`Forwarding::apply`] gives. `authority` is the `Host` when neither the client nor the
    /// agent's settings name one.
    pub(crate) fn write<'a>(
        &self,
        dst: &mut BytesMut,
        fields: impl Iterator<Item = (&'a [u8], &'a [u8])>,
        authority: &str,
        skip: impl Fn(&[u8]) -> bool,
    ) {
        let is = |name: &[u8], n: &HeaderName| name == n.as_str().as_bytes();
        let (mut host, mut xff, mut via) = (None, None, None);
        for (name, value) in fields {
            if skip(name) {
                continue;
            }
            if is(name, &HOST) {
                host.get_or_insert(value);
                if self.upstream_host.is_some() {
                    continue;
                }
            } else if is(name, &VIA) {
                via.get_or_insert(value);
                continue;
            } else if is(name, &X_FORWARDED_FOR) {
                xff.get_or_insert(value);
                continue;
            } else if is(name, &REQUEST_ID)
                || is(name, &X_FORWARDED_PROTO)
                || is(name, &X_FORWARDED_HOST)
            {
                continue;
            }
            put_field(dst, name, &[value]);
        }
        put_field(dst, b"x-request-id", &[self.request_id.as_bytes()]);
        let ip = self.client_ip.as_bytes();
        match xff.filter(|v| visible(v)) {
            Some(prev) => put_field(dst, b"x-forwarded-for", &[prev, b", ", ip]),
            None => put_field(dst, b"x-forwarded-for", &[ip]),
        }
        put_field(dst, b"x-forwarded-proto", &[self.proto().as_bytes()]);
        if let Some(v) = host {
            put_field(dst, b"x-forwarded-host", &[v]);
        }
        match (&self.upstream_host, host) {
            (Some(v), _) => put_field(dst, b"host", &[v.as_bytes()]),
            (None, None) => put_field(dst, b"host", &[authority.as_bytes()]),
            (None, Some(_)) => {}
        }
        let me = VIA_VALUE.as_bytes();
        match via.filter(|v| visible(v)) {
            Some(prev) => put_field(dst, b"via", &[prev, b", ", me]),
            None => put_field(dst, b"via", &[me]),
        }
    }
}

/// Response headers towards the client; `route` is the routing rule's name as a header value
/// (`None` when the name cannot be one).
pub(crate) fn to_client(
    h: &mut HeaderMap,
    request_id: Option<&HeaderValue>,
    route: Option<&HeaderValue>,
) {
    strip_hop_by_hop(h);
    append_via(h);
    if let Some(v) = request_id {
        h.insert(REQUEST_ID, v.clone());
    }
    if let Some(v) = route {
        h.insert(ROUTE, v.clone());
    }
}

fn append_via(h: &mut HeaderMap) {
    let via = match h.get(VIA).filter(|v| v.to_str().is_ok()) {
        Some(prev) => joined(prev, VIA_VALUE.as_bytes()),
        None => Some(HeaderValue::from_static(VIA_VALUE)),
    };
    if let Some(v) = via {
        h.insert(VIA, v);
    }
}

/// `prev, next` as one header value.
fn joined(prev: &HeaderValue, next: &[u8]) -> Option<HeaderValue> {
    let mut b = BytesMut::with_capacity(prev.len() + 2 + next.len());
    b.put_slice(prev.as_bytes());
    b.put_slice(b", ");
    b.put_slice(next);
    HeaderValue::from_maybe_shared(b.freeze()).ok()
}

/// The client's request id if it sent a usable one, else a fresh random one.
pub(crate) fn request_id(h: &ReqHeaders) -> HeaderValue {
    if let Some(v) = h
        .value(&REQUEST_ID)
        .filter(|v| !v.is_empty() && v.len() <= 128)
    {
        return v;
    }
    new_request_id()
}

/// A request id of the gateway's own: 32 hex digits, unique per node.
pub(crate) fn new_request_id() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let b = next_id();
    let mut out = [0u8; 32];
    for (i, x) in b.iter().enumerate() {
        out[2 * i] = HEX[usize::from(x >> 4)];
        out[2 * i + 1] = HEX[usize::from(x & 0xf)];
    }
    // Owned by its `Bytes` from the start: a copied slice would be promoted to shared storage (a
    // second allocation) at the first of the id's clones (towards the agent, into the response).
    HeaderValue::from_maybe_shared(Bytes::from_owner(out))
        .unwrap_or_else(|_| HeaderValue::from_static("0"))
}

thread_local! {
    /// Per thread: a random 64-bit prefix and a counter. Ids only need to be unique, and drawing 16
    /// bytes from the thread's CSPRNG for each request cost more than the rest of the head handling.
    static IDS: std::cell::Cell<(u64, u64)> = std::cell::Cell::new((rand::random(), rand::random()));
}

/// 16 bytes unique to this request: the thread's prefix, then its counter mixed so ids do not look
/// sequential.
fn next_id() -> [u8; 16] {
    IDS.with(|ids| {
        let (prefix, counter) = ids.get();
        let counter = counter.wrapping_add(1);
        ids.set((prefix, counter));
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&prefix.to_be_bytes());
        // A bijection on u64 (odd multiplier, xor-shift), so distinct counters give distinct ids.
        let mut x = counter.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x ^= x >> 29;
        b[8..].copy_from_slice(&x.to_be_bytes());
        b
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http1::head::sorted_lines;

    #[test]
    fn generated_request_ids_are_unique_hex() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let id = request_id(&ReqHeaders::Map(HeaderMap::new()));
            let text = id.to_str().unwrap().to_string();
            assert_eq!(text.len(), 32);
            assert!(text.bytes().all(|b| b.is_ascii_hexdigit()));
            assert!(seen.insert(text), "duplicate id");
        }
        let given = ReqHeaders::Map(HeaderMap::from_iter([(
            REQUEST_ID,
            HeaderValue::from_static("abc"),
        )]));
        assert_eq!(request_id(&given), "abc", "a client's id is kept");
    }

    fn forwarding(upstream_host: Option<&'static str>) -> Forwarding {
        Forwarding {
            request_id: HeaderValue::from_static("rid-1"),
            client_ip: client_ip("127.0.0.9:5000".parse().unwrap()),
            https: false,
            upstream_host: upstream_host.map(HeaderValue::from_static),
        }
    }

    #[test]
    fn forwarding_written_into_a_head_equals_forwarding_applied_to_the_map() {
        let client_headers = [
            vec![],
            vec![("host", "gw.example"), ("x-forwarded-for", "10.0.0.1")],
            vec![
                ("host", "gw.example"),
                ("via", "1.0 edge"),
                ("x-request-id", "theirs"),
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "spoofed"),
                ("content-length", "5"),
                ("x-other", "1"),
            ],
        ];
        for fields in client_headers {
            for upstream in [None, Some("127.0.0.1:9000")] {
                let mut h = HeaderMap::new();
                for (n, v) in &fields {
                    h.append(*n, HeaderValue::from_static(v));
                }
                let f = forwarding(upstream);
                let skip = |n: &HeaderName| n == http::header::CONTENT_LENGTH;
                let mut written = BytesMut::new();
                let pairs = h.iter().map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()));
                f.write(&mut written, pairs, "agent:80", |n| n == b"content-length");
                let mut applied = h.clone();
                f.apply(&mut applied);
                let mut expected = BytesMut::new();
                if !applied.contains_key(HOST) {
                    expected.put_slice(b"host: agent:80\r\n");
                }
                crate::http1::head::write(&mut expected, &applied, skip);
                assert_eq!(
                    sorted_lines(&written),
                    sorted_lines(&expected),
                    "{fields:?} {upstream:?}"
                );
            }
        }
    }

    #[test]
    fn strips_and_forwards() {
        let mut h = HeaderMap::new();
        h.insert("connection", "keep-alive, x-hop".parse().unwrap());
        h.insert("x-hop", "1".parse().unwrap());
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        h.insert("x-forwarded-for", "10.0.0.1".parse().unwrap());
        h.insert("host", "gw.example".parse().unwrap());
        strip_hop_by_hop(&mut h);
        forwarding(Some("127.0.0.1:9000")).apply(&mut h);
        assert!(
            h.get("x-hop").is_none()
                && h.get("keep-alive").is_none()
                && h.get("connection").is_none()
        );
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.9");
        assert_eq!(h["host"], "127.0.0.1:9000");
        assert_eq!(h["x-forwarded-host"], "gw.example");
        assert_eq!(h["via"], "1.1 openclaw");
        assert_eq!(h["x-request-id"], "rid-1");
        let mut r = HeaderMap::new();
        r.insert("via", "1.0 edge".parse().unwrap());
        r.insert("transfer-encoding", "chunked".parse().unwrap());
        to_client(&mut r, Some(&HeaderValue::from_static("rid-1")), None);
        assert_eq!(r["via"], "1.0 edge, 1.1 openclaw");
        assert!(r.get("transfer-encoding").is_none() && r.get("x-openclaw-route").is_none());
        let id = request_id(&ReqHeaders::Map(HeaderMap::new()));
        assert_eq!(id.len(), 32);
    }
}
