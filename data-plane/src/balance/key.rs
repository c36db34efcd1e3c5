//! What a hashing or sticky strategy reads from a request: the client's IP, a header, a cookie, a
//! query parameter or a top-level field of a JSON body (`hashOn`), or the affinity cookie. The
//! bytes are hashed where they lie; only a body field is parsed (its JSON, once, off the fast path).

use std::borrow::Cow;
use std::net::IpAddr;

use http::HeaderName;
use openclaw_config::HashOn;

use super::hash_parts;
use crate::proxy::ReqHeaders;

/// Where a pool's key comes from; [`None`](KeySource::None) for the strategies without one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// No key.
    None,
    /// The client's IP address.
    ClientIp,
    /// A request header.
    Header(HeaderName),
    /// A cookie.
    Cookie(String),
    /// A query parameter.
    Query(String),
    /// A top-level field of a JSON body.
    Body(String),
    /// The `stickyCookie` strategy's cookie, whose value names an endpoint.
    Sticky(String),
}

/// A request's parts a key may come from.
#[derive(Clone, Copy, Debug)]
pub struct KeyInput<'a> {
    /// The client's IP address.
    pub client_ip: IpAddr,
    /// The request's header fields.
    pub headers: &'a ReqHeaders,
    /// The query string, without `?`.
    pub query: Option<&'a str>,
    /// The body, when the key is in it and it was read.
    pub body: Option<&'a [u8]>,
}

// === impl KeySource ===

impl KeySource {
    /// The source of `hashOn` (validated, so a header name parses).
    pub fn from_config(h: &HashOn) -> Self {
        match h {
            HashOn::ClientIp => Self::ClientIp,
            HashOn::Header(n) => {
                HeaderName::from_bytes(n.as_bytes()).map_or(Self::None, Self::Header)
            }
            HashOn::Cookie(n) => Self::Cookie(n.clone()),
            HashOn::Query(n) => Self::Query(n.clone()),
            HashOn::Body(n) => Self::Body(n.clone()),
        }
    }

    /// True when the key is in the body, which must then be read before picking.
    pub fn needs_body(&self) -> bool {
        matches!(self, Self::Body(_))
    }

    /// The key of a request, hashed (for `Sticky`, the endpoint id the cookie names); `None` when
    /// the request does not carry it.
    pub fn key(&self, r: &KeyInput<'_>) -> Option<u64> {
        match self {
            Self::None => None,
            Self::ClientIp => Some(match r.client_ip {
                IpAddr::V4(v4) => hash_parts(&[&v4.octets()]),
                IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                    Some(v4) => hash_parts(&[&v4.octets()]),
                    None => hash_parts(&[&v6.octets()]),
                },
            }),
            Self::Header(n) => r.headers.get(n).map(|v| hash_parts(&[v])),
            Self::Cookie(n) => cookie(r.headers, n).map(|v| hash_parts(&[v])),
            Self::Query(n) => query(r.query?, n).map(|v| hash_parts(&[v.as_bytes()])),
            Self::Body(n) => body_field(r.body?, n).map(|v| hash_parts(&[v.as_bytes()])),
            Self::Sticky(n) => {
                let v = cookie(r.headers, n)?;
                u64::from_str_radix(std::str::from_utf8(v).ok()?, 16).ok()
            }
        }
    }

    /// How `route.explain` names the source.
    pub fn describe(&self) -> String {
        match self {
            Self::None => "none".into(),
            Self::ClientIp => "clientIp".into(),
            Self::Header(n) => format!("header:{n}"),
            Self::Cookie(n) => format!("cookie:{n}"),
            Self::Query(n) => format!("query:{n}"),
            Self::Body(n) => format!("body:{n}"),
            Self::Sticky(n) => format!("cookie:{n} (affinity)"),
        }
    }

    /// The raw key text of a request, for `route.explain`.
    pub fn text(&self, r: &KeyInput<'_>) -> Option<String> {
        let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match self {
            Self::None => None,
            Self::ClientIp => Some(r.client_ip.to_string()),
            Self::Header(n) => r.headers.get(n).map(lossy),
            Self::Cookie(n) | Self::Sticky(n) => cookie(r.headers, n).map(lossy),
            Self::Query(n) => query(r.query?, n).map(str::to_string),
            Self::Body(n) => body_field(r.body?, n).map(Cow::into_owned),
        }
    }
}

/// The value of cookie `name` in the request's `Cookie` fields.
fn cookie<'a>(h: &'a ReqHeaders, name: &str) -> Option<&'a [u8]> {
    h.get_all(&http::header::COOKIE).find_map(|line| {
        line.split(|&b| b == b';').find_map(|pair| {
            let pair = pair.trim_ascii();
            let eq = pair.iter().position(|&b| b == b'=')?;
            (pair[..eq].trim_ascii() == name.as_bytes()).then(|| {
                let v = pair[eq + 1..].trim_ascii();
                v.strip_prefix(b"\"")
                    .and_then(|v| v.strip_suffix(b"\""))
                    .unwrap_or(v)
            })
        })
    })
}

/// The (undecoded) value of parameter `name` in a query string.
fn query<'a>(q: &'a str, name: &str) -> Option<&'a str> {
    q.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then_some(v)
    })
}

/// A top-level field of a JSON object body, as text: a string's contents, else the value's JSON.
pub(crate) fn body_field<'a>(body: &'a [u8], name: &str) -> Option<Cow<'a, str>> {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

    struct Field<'n>(&'n str);
    impl<'de> DeserializeSeed<'de> for Field<'_> {
        type Value = Option<Cow<'de, str>>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }
    impl<'de> Visitor<'de> for Field<'_> {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut found = None;
            while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                if key == self.0 {
                    let v: serde_json::Value = map.next_value()?;
                    found = match v {
                        serde_json::Value::String(s) => Some(Cow::Owned(s)),
                        serde_json::Value::Null => None,
                        other => Some(Cow::Owned(other.to_string())),
                    };
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(found)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    Field(name).deserialize(&mut de).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> ReqHeaders {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        ReqHeaders::Map(h)
    }

    #[test]
    fn keys_come_from_each_source_and_are_none_when_missing() {
        let h = headers(&[
            ("x-session", "abc"),
            ("cookie", "a=1; sid=\"s-42\""),
            ("cookie", "aff=00000000000000ff"),
        ]);
        let input = KeyInput {
            client_ip: "10.0.0.1".parse().unwrap(),
            headers: &h,
            query: Some("x=1&user=bob"),
            body: Some(br#"{"model": "m", "session_id": "conv-7", "n": 3}"#),
        };
        let hashed = |s: &[u8]| Some(hash_parts(&[s]));
        let src = |h: &str| KeySource::from_config(&HashOn::parse(h).unwrap());
        assert_eq!(src("header:X-Session").key(&input), hashed(b"abc"));
        assert_eq!(src("cookie:sid").key(&input), hashed(b"s-42"));
        assert_eq!(src("query:user").key(&input), hashed(b"bob"));
        assert_eq!(src("body:session_id").key(&input), hashed(b"conv-7"));
        assert_eq!(src("body:n").key(&input), hashed(b"3"));
        assert_eq!(
            src("clientIp").key(&input),
            src("clientIp").key(&KeyInput {
                client_ip: "::ffff:10.0.0.1".parse().unwrap(),
                ..input
            })
        );
        assert_eq!(
            KeySource::Sticky("aff".into()).key(&input),
            Some(0xff),
            "the affinity cookie names an endpoint id"
        );
        for missing in ["header:x-other", "cookie:nope", "query:none", "body:absent"] {
            assert_eq!(src(missing).key(&input), None, "{missing}");
        }
        let no_body = KeyInput {
            body: Some(b"not json"),
            ..input
        };
        assert_eq!(src("body:session_id").key(&no_body), None);
        assert_eq!(
            src("body:session_id").text(&input).as_deref(),
            Some("conv-7")
        );
    }
}
