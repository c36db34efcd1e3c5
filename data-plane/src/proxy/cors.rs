//! Cross-origin requests (`http.cors`): the gateway answers preflights itself and marks responses to
//! allowed origins; with no allowed origin configured it does nothing CORS-related at all (an
//! `OPTIONS` request is proxied like any other).
//!
//! The policy is compiled once per config table ([`CorsPolicy::compile`]), so a request costs a
//! header lookup and a few string comparisons.

use bytes::Bytes;
use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD, HeaderMap, HeaderValue, ORIGIN, VARY,
};
use http::{Method, Response, StatusCode};
use openclaw_config::Cors;

use super::body::{ProxyBody, full};
use super::error::ProxyError;
use super::headers::REQUEST_ID;
use crate::http1::req_headers::ReqHeaders;

/// How long a browser may cache a preflight answer, in seconds.
const MAX_AGE: HeaderValue = HeaderValue::from_static("600");

/// Methods allowed when `allowedMethods` is empty: the CORS-safelisted ones.
const SAFELISTED: [Method; 3] = [Method::GET, Method::HEAD, Method::POST];

/// `http.cors` compiled for serving; only built when at least one origin is allowed.
#[derive(Clone, Debug)]
pub struct CorsPolicy {
    /// `*` is among the allowed origins.
    any_origin: bool,
    /// Allowed origins, lower case, without a trailing `/`.
    origins: Vec<String>,
    methods: Vec<Method>,
    allow_methods: HeaderValue,
    /// `None` when no header beyond the safelisted ones is allowed.
    allow_headers: Option<HeaderValue>,
}

/// What the CORS stage makes of a request.
pub(crate) enum CorsCheck {
    /// A preflight: the gateway's answer, or why it refuses.
    Preflight(Result<Response<ProxyBody>, ProxyError>),
    /// Any other request: the `Access-Control-Allow-Origin` value its response gets, if any.
    Actual(Option<HeaderValue>),
}

// === impl CorsPolicy ===

impl CorsPolicy {
    /// The policy of `c`; `None` when CORS is off (no allowed origin).
    pub fn compile(c: &Cors) -> Option<Self> {
        if c.allowed_origins.is_empty() {
            return None;
        }
        let methods: Vec<Method> = if c.allowed_methods.is_empty() {
            SAFELISTED.to_vec()
        } else {
            c.allowed_methods
                .iter()
                .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
                .collect()
        };
        let joined =
            |items: Vec<&str>| HeaderValue::from_maybe_shared(Bytes::from(items.join(", "))).ok();
        let allow_headers = if c.allowed_headers.iter().any(|h| h == "*") {
            Some(HeaderValue::from_static("*"))
        } else if c.allowed_headers.is_empty() {
            None
        } else {
            joined(c.allowed_headers.iter().map(String::as_str).collect())
        };
        Some(Self {
            any_origin: c.allowed_origins.iter().any(|o| o == "*"),
            origins: c
                .allowed_origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
            allow_methods: joined(methods.iter().map(Method::as_str).collect())
                .unwrap_or_else(|| HeaderValue::from_static("GET, HEAD, POST")),
            methods,
            allow_headers,
        })
    }

    /// Classifies a request: a preflight is answered here, anything else learns its allow-origin value.
    pub(crate) fn check(
        &self,
        method: &Method,
        headers: &ReqHeaders,
        request_id: &HeaderValue,
    ) -> CorsCheck {
        let Some(origin) = headers.value(&ORIGIN) else {
            return CorsCheck::Actual(None);
        };
        let allowed = self.allow_origin(&origin);
        let requested = headers.get(&ACCESS_CONTROL_REQUEST_METHOD);
        let Some(requested) = requested.filter(|_| method == Method::OPTIONS) else {
            return CorsCheck::Actual(allowed);
        };
        let method_ok = Method::from_bytes(requested).is_ok_and(|m| self.methods.contains(&m));
        match allowed {
            Some(allow_origin) if method_ok => {
                CorsCheck::Preflight(Ok(self.preflight(allow_origin, request_id)))
            }
            _ => CorsCheck::Preflight(Err(ProxyError::CorsRefused)),
        }
    }

    /// The `Access-Control-Allow-Origin` value for `origin`, when it is allowed.
    fn allow_origin(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        if self.any_origin {
            return Some(HeaderValue::from_static("*"));
        }
        let o = origin.to_str().ok()?;
        self.origins
            .iter()
            .any(|a| a.eq_ignore_ascii_case(o))
            .then(|| origin.clone())
    }

    fn preflight(
        &self,
        allow_origin: HeaderValue,
        request_id: &HeaderValue,
    ) -> Response<ProxyBody> {
        let mut resp = Response::new(full(Bytes::new()));
        *resp.status_mut() = StatusCode::NO_CONTENT;
        let h = resp.headers_mut();
        h.insert(ACCESS_CONTROL_ALLOW_METHODS, self.allow_methods.clone());
        if let Some(v) = &self.allow_headers {
            h.insert(ACCESS_CONTROL_ALLOW_HEADERS, v.clone());
        }
        h.insert(ACCESS_CONTROL_MAX_AGE, MAX_AGE);
        h.insert(REQUEST_ID, request_id.clone());
        mark(h, allow_origin);
        resp
    }
}

/// Marks a response to an allowed origin: `Access-Control-Allow-Origin` and `Vary: Origin` (added to
/// any `Vary` the agent sent, since the answer now depends on the origin).
pub(crate) fn mark(h: &mut HeaderMap, allow_origin: HeaderValue) {
    h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
    let varies = h.get_all(VARY).iter().any(|v| covers_origin(v.as_bytes()));
    if !varies {
        h.append(VARY, HeaderValue::from_static("Origin"));
    }
}

/// True for a `Vary` value that already covers the origin (`*` or `Origin`); one that is not
/// visible ASCII is not read.
pub(crate) fn covers_origin(value: &[u8]) -> bool {
    crate::http1::head::visible(value)
        && value.split(|&b| b == b',').any(|t| {
            let t = t.trim_ascii();
            t == b"*" || t.eq_ignore_ascii_case(b"origin")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(origins: &[&str], methods: &[&str], headers: &[&str]) -> Option<CorsPolicy> {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        CorsPolicy::compile(&Cors {
            allowed_origins: strings(origins),
            allowed_methods: strings(methods),
            allowed_headers: strings(headers),
        })
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    http::HeaderName::from_static(k),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    fn check(p: &CorsPolicy, m: Method, pairs: &[(&'static str, &'static str)]) -> CorsCheck {
        p.check(
            &m,
            &ReqHeaders::Map(headers(pairs)),
            &HeaderValue::from_static("rid"),
        )
    }

    #[test]
    fn off_without_origins() {
        assert!(policy(&[], &["GET"], &["x-a"]).is_none());
    }

    #[test]
    fn preflights_are_answered_or_refused() {
        let p = policy(
            &["https://app.example/"],
            &["GET", "PUT"],
            &["x-a", "content-type"],
        )
        .unwrap();
        let pre = [
            ("origin", "https://app.example"),
            ("access-control-request-method", "PUT"),
        ];
        let CorsCheck::Preflight(Ok(r)) = check(&p, Method::OPTIONS, &pre) else {
            panic!("allowed preflight not answered");
        };
        let h = r.headers();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(h[ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example");
        assert_eq!(h[ACCESS_CONTROL_ALLOW_METHODS], "GET, PUT");
        assert_eq!(h[ACCESS_CONTROL_ALLOW_HEADERS], "x-a, content-type");
        assert_eq!(h[ACCESS_CONTROL_MAX_AGE], "600");
        assert_eq!(h[VARY], "Origin");
        for refused in [
            [
                ("origin", "https://evil.example"),
                ("access-control-request-method", "GET"),
            ],
            [
                ("origin", "https://app.example"),
                ("access-control-request-method", "DELETE"),
            ],
        ] {
            assert!(matches!(
                check(&p, Method::OPTIONS, &refused),
                CorsCheck::Preflight(Err(ProxyError::CorsRefused))
            ));
        }
        // OPTIONS without Access-Control-Request-Method is not a preflight.
        assert!(matches!(
            check(&p, Method::OPTIONS, &[("origin", "https://app.example")]),
            CorsCheck::Actual(Some(_))
        ));
    }

    #[test]
    fn actual_requests_learn_their_allow_origin() {
        let p = policy(&["https://app.example"], &[], &[]).unwrap();
        let allowed = |m, o| match check(&p, m, &[("origin", o)]) {
            CorsCheck::Actual(v) => v,
            CorsCheck::Preflight(_) => panic!("not a preflight"),
        };
        assert_eq!(
            allowed(Method::POST, "https://APP.example").unwrap(),
            "https://APP.example"
        );
        assert!(allowed(Method::POST, "https://evil.example").is_none());
        assert!(matches!(
            check(&p, Method::GET, &[]),
            CorsCheck::Actual(None)
        ));
        // Empty allowedMethods: the safelisted ones; empty allowedHeaders: no Allow-Headers.
        let pre = [
            ("origin", "https://app.example"),
            ("access-control-request-method", "POST"),
        ];
        let CorsCheck::Preflight(Ok(r)) = check(&p, Method::OPTIONS, &pre) else {
            panic!("POST preflight refused");
        };
        assert_eq!(r.headers()[ACCESS_CONTROL_ALLOW_METHODS], "GET, HEAD, POST");
        assert!(r.headers().get(ACCESS_CONTROL_ALLOW_HEADERS).is_none());

        let any = policy(&["*"], &["GET"], &["*"]).unwrap();
        let CorsCheck::Actual(Some(v)) =
            check(&any, Method::GET, &[("origin", "https://x.example")])
        else {
            panic!("`*` allows every origin");
        };
        assert_eq!(v, "*");
    }

    #[test]
    fn mark_adds_origin_to_vary_once() {
        let mut h = headers(&[("vary", "accept-encoding")]);
        mark(&mut h, HeaderValue::from_static("https://a.example"));
        let vary: Vec<_> = h.get_all(VARY).iter().collect();
        assert_eq!(vary, ["accept-encoding", "Origin"]);
        mark(&mut h, HeaderValue::from_static("https://a.example"));
        assert_eq!(h.get_all(VARY).iter().count(), 2);
    }
}
