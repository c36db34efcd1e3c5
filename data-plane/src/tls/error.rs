//! Why TLS settings cannot be used: each error names the JSON path of the setting, and the file for
//! file errors, so a NACK or a `/health` entry says what to fix.

use std::path::PathBuf;

/// A TLS setting or file that cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// `cert` or `key` is not set while TLS is enabled.
    #[error("{path}: is required when gateway.http.tls.enabled is true")]
    Missing {
        /// The JSON path of the setting.
        path: &'static str,
    },
    /// A listed cipher suite is not one we can offer.
    #[error("{path}: unknown cipher suite {name:?} (known: {known})")]
    UnknownCipher {
        /// The JSON path of the entry, e.g. `gateway.http.tls.ciphers[1]`.
        path: String,
        /// The name as written.
        name: String,
        /// The names we know, comma separated.
        known: String,
    },
    /// No listed suite can be used with the protocol versions `minVersion` allows.
    #[error("gateway.http.tls.ciphers: no listed suite is usable with minVersion {min_version}")]
    NoUsableCipher {
        /// `TLS1.2` or `TLS1.3`.
        min_version: &'static str,
    },
    /// The certificate or key file is missing, unreadable, or does not hold what it should.
    #[error("{path}: {}: {message}", file.display())]
    File {
        /// The JSON path of the setting naming the file.
        path: &'static str,
        /// The file.
        file: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// rustls refused the settings (not expected once the settings are checked).
    #[error("gateway.http.tls: {0}")]
    Rustls(#[from] rustls::Error),
}

// === impl TlsError ===

impl TlsError {
    /// A short, stable name of the error, for metric labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Missing { .. } => "tls_missing",
            Self::UnknownCipher { .. } => "tls_unknown_cipher",
            Self::NoUsableCipher { .. } => "tls_no_usable_cipher",
            Self::File { .. } => "tls_file",
            Self::Rustls(_) => "tls_rustls",
        }
    }
}
