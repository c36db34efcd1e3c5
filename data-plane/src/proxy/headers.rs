//! Header rewriting between client and agent: hop-by-hop removal, `X-Forwarded-*`, `Via`, request ids.

use std::net::SocketAddr;

use http::header::{CONNECTION, HOST, HeaderMap, HeaderName, HeaderValue};
use rand::RngCore;

/// The request id header.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Header naming the agent a request asks for.
pub(crate) const AGENT_OVERRIDE: HeaderName = HeaderName::from_static("x-openclaw-agent");

/// Header naming the rule that routed a response.
pub(crate) const ROUTE: HeaderName = HeaderName::from_static("x-openclaw-route");

const VIA_VALUE: &str = "1.1 openclaw";

/// Headers meaningful only for one connection (RFC 9110 §7.6.1).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes hop-by-hop headers, including those the `Connection` header names.
pub(crate) fn strip_hop_by_hop(h: &mut HeaderMap) {
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
    for n in HOP_BY_HOP {
        h.remove(*n);
    }
}

/// Request headers towards the agent: forwarded-for chain, proto, host, via.
pub(crate) fn to_upstream(
    h: &mut HeaderMap,
    request_id: &HeaderValue,
    client: SocketAddr,
    scheme: &str,
    upstream_authority: &str,
) {
    strip_hop_by_hop(h);
    h.insert(REQUEST_ID, request_id.clone());
    let ip = client.ip().to_string();
    let xff = match h.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prev) => format!("{prev}, {ip}"),
        None => ip,
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        h.insert("x-forwarded-for", v);
    }
    h.insert(
        "x-forwarded-proto",
        HeaderValue::from_static(if scheme == "https" { "https" } else { "http" }),
    );
    if let Some(host) = h.get(HOST).cloned() {
        h.insert("x-forwarded-host", host);
    }
    if let Ok(v) = HeaderValue::from_str(upstream_authority) {
        h.insert(HOST, v);
    }
    append_via(h);
}

/// Response headers towards the client.
pub(crate) fn to_client(h: &mut HeaderMap, request_id: &HeaderValue, route: &str) {
    strip_hop_by_hop(h);
    append_via(h);
    h.insert(REQUEST_ID, request_id.clone());
    if let Ok(v) = HeaderValue::from_str(route) {
        h.insert(ROUTE, v);
    }
}

fn append_via(h: &mut HeaderMap) {
    let via = match h.get("via").and_then(|v| v.to_str().ok()) {
        Some(prev) => format!("{prev}, {VIA_VALUE}"),
        None => VIA_VALUE.to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&via) {
        h.insert("via", v);
    }
}

/// The client's request id if it sent a usable one, else a fresh random one.
pub(crate) fn request_id(h: &HeaderMap) -> HeaderValue {
    if let Some(v) = h
        .get(REQUEST_ID)
        .filter(|v| !v.is_empty() && v.len() <= 128)
    {
        return v.clone();
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    let mut out = [0u8; 32];
    for (i, x) in b.iter().enumerate() {
        out[2 * i] = HEX[usize::from(x >> 4)];
        out[2 * i + 1] = HEX[usize::from(x & 0xf)];
    }
    HeaderValue::from_bytes(&out).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_and_forwards() {
        let mut h = HeaderMap::new();
        h.insert("connection", "keep-alive, x-hop".parse().unwrap());
        h.insert("x-hop", "1".parse().unwrap());
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        h.insert("x-forwarded-for", "10.0.0.1".parse().unwrap());
        h.insert("host", "gw.example".parse().unwrap());
        to_upstream(
            &mut h,
            &HeaderValue::from_static("rid-1"),
            "127.0.0.9:5000".parse().unwrap(),
            "http",
            "127.0.0.1:9000",
        );
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
        let id = request_id(&HeaderMap::new());
        assert_eq!(id.len(), 32);
    }
}
