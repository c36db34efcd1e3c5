//! The checked form of `gateway.http.tls`: files, protocol versions and cipher suites.

use std::path::PathBuf;

use openclaw_config::{TLS12_CIPHERS, TLS13_CIPHERS, Tls, TlsVersion};
use rustls::crypto::ring::{ALL_CIPHER_SUITES, cipher_suite};
use rustls::{SupportedCipherSuite, SupportedProtocolVersion};

use super::TlsError;

/// What the listener serves when TLS is enabled; two values are equal when they build the same config.
#[derive(Clone, Debug, PartialEq)]
pub struct TlsSettings {
    /// The PEM certificate chain file (end-entity certificate first).
    pub cert: PathBuf,
    /// The PEM private key file (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// The lowest protocol version offered.
    pub min_version: TlsVersion,
    suites: Vec<SupportedCipherSuite>,
    versions: Vec<&'static SupportedProtocolVersion>,
}

// === impl TlsSettings ===

impl TlsSettings {
    /// Checks `tls`; `Ok(None)` when TLS is disabled (nothing else is looked at then).
    ///
    /// Suites are kept only for the versions `minVersion` allows, and a version is offered only when
    /// some kept suite uses it: a TLS 1.3 client must not be steered into a version with no suite.
    pub fn from_config(tls: &Tls) -> Result<Option<Self>, TlsError> {
        if !tls.enabled {
            return Ok(None);
        }
        let file = |v: &Option<String>, path| match v.as_deref().map(str::trim) {
            Some(s) if !s.is_empty() => Ok(PathBuf::from(s)),
            _ => Err(TlsError::Missing { path }),
        };
        let cert = file(&tls.cert, "gateway.http.tls.cert")?;
        let key = file(&tls.key, "gateway.http.tls.key")?;
        let listed = if tls.ciphers.is_empty() {
            ALL_CIPHER_SUITES.to_vec()
        } else {
            let mut suites = Vec::with_capacity(tls.ciphers.len());
            for (i, name) in tls.ciphers.iter().enumerate() {
                let suite = suite_by_name(name).ok_or_else(|| TlsError::UnknownCipher {
                    path: format!("gateway.http.tls.ciphers[{i}]"),
                    name: name.clone(),
                    known: [TLS13_CIPHERS, TLS12_CIPHERS].concat().join(", "),
                })?;
                if !suites.contains(&suite) {
                    suites.push(suite);
                }
            }
            suites
        };
        let allowed: &[&'static SupportedProtocolVersion] = match tls.min_version {
            TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
            TlsVersion::Tls13 => &[&rustls::version::TLS13],
        };
        let suites: Vec<_> = listed
            .into_iter()
            .filter(|s| allowed.contains(&s.version()))
            .collect();
        let versions: Vec<_> = allowed
            .iter()
            .copied()
            .filter(|v| suites.iter().any(|s| s.version() == *v))
            .collect();
        if suites.is_empty() {
            return Err(TlsError::NoUsableCipher {
                min_version: version_name(tls.min_version),
            });
        }
        Ok(Some(Self {
            cert,
            key,
            min_version: tls.min_version,
            suites,
            versions,
        }))
    }

    /// The cipher suites offered.
    pub fn suites(&self) -> &[SupportedCipherSuite] {
        &self.suites
    }

    /// The protocol versions offered, newest first.
    pub fn versions(&self) -> &[&'static SupportedProtocolVersion] {
        &self.versions
    }
}

/// The *ring* suite with IANA name `name` (the names `openclaw_config` accepts).
pub(super) fn suite_by_name(name: &str) -> Option<SupportedCipherSuite> {
    use cipher_suite::*;
    Some(match name {
        "TLS_AES_128_GCM_SHA256" => TLS13_AES_128_GCM_SHA256,
        "TLS_AES_256_GCM_SHA384" => TLS13_AES_256_GCM_SHA384,
        "TLS_CHACHA20_POLY1305_SHA256" => TLS13_CHACHA20_POLY1305_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" => {
            TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" => {
            TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        _ => return None,
    })
}

fn version_name(v: TlsVersion) -> &'static str {
    match v {
        TlsVersion::Tls12 => "TLS1.2",
        TlsVersion::Tls13 => "TLS1.3",
    }
}
