//! Small value checks shared by the section validators: addresses, URLs, HTTP tokens, placeholders.

use crate::secrets::contains_placeholder;

/// True when `s` is `host:port` with a numeric port (IPv6 hosts in brackets); placeholders pass.
pub(crate) fn is_socket_addr(s: &str) -> bool {
    if contains_placeholder(s) {
        return true;
    }
    let Some((host, port)) = s.rsplit_once(':') else {
        return false;
    };
    let host_ok = if let Some(inner) = host.strip_prefix('[') {
        inner
            .strip_suffix(']')
            .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok())
    } else {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
    };
    host_ok && port.parse::<u16>().is_ok()
}

/// True when `s` is `scheme://authority[/path]` with a scheme from `schemes`; placeholders pass.
pub(crate) fn is_url(s: &str, schemes: &[&str]) -> bool {
    if contains_placeholder(s) {
        return true;
    }
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    if !schemes.contains(&scheme) {
        return false;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if hostport.is_empty() {
        return false;
    }
    match hostport.rsplit_once(':') {
        Some((host, port)) if !hostport.ends_with(']') => {
            !host.is_empty() && port.parse::<u16>().is_ok()
        }
        _ => true,
    }
}

/// True for an HTTP method token (`GET`, `POST`, or any extension method in upper case).
pub(crate) fn is_http_method(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c == '-' || c == '_')
}

/// True for a header field name token (RFC 9110 `tchar`s).
pub(crate) fn is_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

/// True for a URL path that starts with `/`.
pub(crate) fn is_url_path(s: &str) -> bool {
    s.starts_with('/') && !s.chars().any(|c| c.is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_urls() {
        assert!(is_socket_addr("0.0.0.0:8080"));
        assert!(is_socket_addr("[::1]:80"));
        assert!(is_socket_addr("otel-collector:4317"));
        assert!(!is_socket_addr("0.0.0.0"));
        assert!(!is_socket_addr("host:99999"));
        assert!(is_url("http://10.0.1.10:9090", &["http", "https"]));
        assert!(is_url("redis://:pw@redis-svc:6379/0", &["redis", "rediss"]));
        assert!(!is_url("10.0.1.10:9090", &["http"]));
        assert!(!is_url("ftp://x", &["http"]));
        assert!(!is_url("http://:80", &["http"]));
        assert!(is_url("${AGENT_URL}", &["http"]));
    }
}
