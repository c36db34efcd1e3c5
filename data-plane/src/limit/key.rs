//! Who a request counts against: the API key id when it authenticated, else the client IP (taken
//! from `X-Forwarded-For` only when the connection comes from a trusted proxy), or a header or JSON
//! body field named by the limit's `key`.

use std::net::IpAddr;

use http::HeaderName;

/// What a limit's `key` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum KeyKind {
    /// The API key id when the request authenticated, else the client IP.
    Client,
    /// The client IP.
    Ip,
    /// A request header's value (the client, when absent).
    Header(HeaderName),
    /// A top-level field of a JSON body (the client, when absent).
    Body(String),
}

/// Proxies whose `X-Forwarded-For` is believed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TrustedProxies(Vec<(IpAddr, u8)>);

/// Longest key kept as written; longer ones (a long header value) are hashed.
const MAX_KEY: usize = 128;

// === impl KeyKind ===

impl KeyKind {
    /// The kind `key` names (validated by the config crate; anything else is `Client`).
    pub(crate) fn parse(key: &str) -> Self {
        match key.split_once(':') {
            Some(("header", name)) => HeaderName::try_from(name).map_or(Self::Client, Self::Header),
            Some(("body", field)) => Self::Body(field.to_string()),
            _ if key == "ip" => Self::Ip,
            _ => Self::Client,
        }
    }

    /// True when the key is in the request body, which must be read first.
    pub(crate) fn needs_body(&self) -> bool {
        matches!(self, Self::Body(_))
    }

    /// The bucket key of a request: `header`, the named header's value; `body`, the request body
    /// when it is read; `api_key`, the id of the key it authenticated with.
    pub(crate) fn key(
        &self,
        api_key: Option<&str>,
        client_ip: IpAddr,
        header: Option<&[u8]>,
        body: Option<&[u8]>,
    ) -> String {
        let named = match self {
            Self::Client => api_key.map(|id| format!("k:{id}")),
            Self::Ip => None,
            Self::Header(_) => header
                .filter(|v| !v.is_empty())
                .map(|v| format!("h:{}", String::from_utf8_lossy(v))),
            Self::Body(field) => body
                .and_then(|b| body_field(b, field))
                .map(|v| format!("b:{v}")),
        };
        let key = named.unwrap_or_else(|| format!("ip:{client_ip}"));
        if key.len() <= MAX_KEY {
            return key;
        }
        let digest = <sha2::Sha256 as sha2::Digest>::digest(key.as_bytes());
        format!("sha256:{}", hex::encode(digest))
    }
}

/// A top-level field of a JSON object body, as text (strings as they are, numbers as written).
fn body_field(body: &[u8], field: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    match v.get(field)? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

// === impl TrustedProxies ===

impl TrustedProxies {
    /// The validated `trustedProxies` list (IPs and CIDR blocks).
    pub(crate) fn parse(list: &[String]) -> Self {
        Self(
            list.iter()
                .filter_map(|s| {
                    let (ip, bits) = s.split_once('/').unwrap_or((s, ""));
                    let ip: IpAddr = ip.parse().ok()?;
                    let max = if ip.is_ipv4() { 32 } else { 128 };
                    let bits = if bits.is_empty() {
                        max
                    } else {
                        bits.parse().ok()?
                    };
                    Some((ip, bits))
                })
                .collect(),
        )
    }

    /// True when no proxy is trusted.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|&(net, bits)| in_block(ip, net, bits))
    }

    /// The client's IP: the connection's peer, unless the peer is a trusted proxy; then the
    /// nearest untrusted address of `X-Forwarded-For` (its values in order), read from the right.
    pub(crate) fn client_ip<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl Iterator<Item = &'a [u8]>,
    ) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<IpAddr> = forwarded_for
            .flat_map(|v| v.split(|&b| b == b','))
            .filter_map(|h| std::str::from_utf8(h).ok()?.trim().parse().ok())
            .collect();
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            client = hop;
            if !self.trusts(hop) {
                break;
            }
        }
        client
    }
}

fn in_block(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V4(_)) => a
            .to_ipv4_mapped()
            .is_some_and(|a| in_block(IpAddr::V4(a), net, bits)),
        (IpAddr::V4(_), IpAddr::V6(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let t = TrustedProxies::parse(&["10.0.0.0/8".into(), "::1".into()]);
        let xff: &[&[u8]] = &[b"203.0.113.7, 10.1.1.1"];
        assert_eq!(
            t.client_ip(ip("10.2.3.4"), xff.iter().copied()),
            ip("203.0.113.7")
        );
        assert_eq!(
            t.client_ip(ip("::1"), xff.iter().copied()),
            ip("203.0.113.7")
        );
        assert_eq!(
            t.client_ip(ip("192.0.2.1"), xff.iter().copied()),
            ip("192.0.2.1")
        );
        // A spoofed left-most hop behind an untrusted one is not believed.
        let spoof: &[&[u8]] = &[b"1.1.1.1", b"198.51.100.2"];
        assert_eq!(
            t.client_ip(ip("10.0.0.1"), spoof.iter().copied()),
            ip("198.51.100.2")
        );
        assert_eq!(
            t.client_ip(ip("10.0.0.1"), std::iter::empty()),
            ip("10.0.0.1")
        );
        assert!(TrustedProxies::parse(&[]).is_empty());
    }

    #[test]
    fn keys_name_their_source() {
        let peer = ip("192.0.2.1");
        assert_eq!(
            KeyKind::parse("client").key(Some("team-a"), peer, None, None),
            "k:team-a"
        );
        assert_eq!(
            KeyKind::parse("client").key(None, peer, None, None),
            "ip:192.0.2.1"
        );
        assert_eq!(
            KeyKind::parse("ip").key(Some("team-a"), peer, None, None),
            "ip:192.0.2.1"
        );
        let h = KeyKind::parse("header:x-user");
        assert_eq!(h.key(None, peer, Some(b"bob"), None), "h:bob");
        assert_eq!(h.key(None, peer, None, None), "ip:192.0.2.1");
        let b = KeyKind::parse("body:session_id");
        assert!(b.needs_body());
        assert_eq!(
            b.key(None, peer, None, Some(br#"{"session_id":"s1"}"#)),
            "b:s1"
        );
        assert_eq!(b.key(None, peer, None, Some(b"not json")), "ip:192.0.2.1");
        let long = vec![b'x'; 500];
        assert!(h.key(None, peer, Some(&long), None).starts_with("sha256:"));
    }
}
