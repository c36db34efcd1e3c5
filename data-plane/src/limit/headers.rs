//! The IETF rate-limit fields (`RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`) and
//! `Retry-After` of a decision, in whole seconds rounded up.

use http::{HeaderMap, HeaderName, HeaderValue};

use super::gcra::Decision;

static LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
static REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
static RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// Writes `d`'s fields into `h`; `Retry-After` too when it refused the request.
pub(crate) fn write(d: &Decision, h: &mut HeaderMap) {
    h.insert(LIMIT.clone(), HeaderValue::from(d.limit));
    h.insert(REMAINING.clone(), HeaderValue::from(d.remaining));
    h.insert(RESET.clone(), HeaderValue::from(secs(d.reset)));
    if !d.allowed {
        h.insert(
            http::header::RETRY_AFTER,
            HeaderValue::from(secs(d.retry_after).max(1)),
        );
    }
}

/// Nanoseconds as whole seconds, rounded up.
fn secs(nanos: u64) -> u64 {
    nanos.div_ceil(1_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_carries_retry_after_in_whole_seconds() {
        let mut h = HeaderMap::new();
        let d = Decision {
            allowed: false,
            limit: 5,
            remaining: 0,
            reset: 2_500_000_000,
            retry_after: 300_000_000,
        };
        write(&d, &mut h);
        assert_eq!(h["ratelimit-limit"], "5");
        assert_eq!(h["ratelimit-remaining"], "0");
        assert_eq!(h["ratelimit-reset"], "3");
        assert_eq!(h["retry-after"], "1");
        let mut h = HeaderMap::new();
        write(&Decision { allowed: true, ..d }, &mut h);
        assert!(h.get("retry-after").is_none());
    }
}
