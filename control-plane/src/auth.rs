//! Bearer-token checks for the admin API and the discovery stream; tokens are never logged.

use tonic::{Request, Status};

/// Which credential a service accepts.
#[derive(Clone)]
pub(crate) struct TokenCheck {
    /// The service's name in log lines.
    service: &'static str,
    /// The expected token; `None` accepts any caller (a token was not configured).
    token: Option<String>,
    /// Callers must present a client certificate verified by the TLS layer (mTLS).
    require_client_cert: bool,
}

// === impl TokenCheck ===

impl TokenCheck {
    /// A check for `service` with an optional token and an optional client-certificate requirement.
    pub(crate) fn new(
        service: &'static str,
        token: Option<String>,
        require_client_cert: bool,
    ) -> Self {
        Self {
            service,
            token,
            require_client_cert,
        }
    }

    /// The interceptor body: `UNAUTHENTICATED` unless the caller presents what is required.
    pub(crate) fn check(&self, req: Request<()>) -> Result<Request<()>, Status> {
        let peer = req
            .remote_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|| "unknown".into());
        if self.require_client_cert && req.peer_certs().is_none_or(|c| c.is_empty()) {
            tracing::warn!(service = self.service, %peer, "refused: no client certificate");
            return Err(Status::unauthenticated("a client certificate is required"));
        }
        let Some(expected) = &self.token else {
            return Ok(req);
        };
        let given = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match given {
            Some(t) if constant_time_eq(t.as_bytes(), expected.as_bytes()) => Ok(req),
            Some(_) => {
                tracing::warn!(service = self.service, %peer, "refused: wrong bearer token");
                Err(Status::unauthenticated("invalid token"))
            }
            None => {
                tracing::warn!(service = self.service, %peer, "refused: missing bearer token");
                Err(Status::unauthenticated("missing bearer token"))
            }
        }
    }
}

/// Compares without an early exit, so timing does not reveal how much of a token matched.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_auth(v: Option<&str>) -> Request<()> {
        let mut r = Request::new(());
        if let Some(v) = v {
            r.metadata_mut().insert("authorization", v.parse().unwrap());
        }
        r
    }

    #[test]
    fn tokens() {
        let c = TokenCheck::new("admin", Some("s3cret".into()), false);
        assert!(c.check(with_auth(Some("Bearer s3cret"))).is_ok());
        assert_eq!(
            c.check(with_auth(Some("Bearer nope"))).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        assert_eq!(
            c.check(with_auth(None)).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        assert!(
            TokenCheck::new("admin", None, false)
                .check(with_auth(None))
                .is_ok()
        );
        assert!(
            TokenCheck::new("discovery", None, true)
                .check(with_auth(None))
                .is_err()
        );
        assert!(!constant_time_eq(b"abc", b"abd"));
    }
}
