//! TLS termination for the client listener (`gateway.http.tls`), with rustls and its *ring* provider.
//!
//! - [`TlsSettings`] is the checked form of the config: certificate and key files, the protocol
//!   versions from `minVersion`, and the cipher suites listed by IANA name (every *ring* suite when the
//!   list is empty);
//! - [`build_server_config`] reads the two PEM files and builds a rustls `ServerConfig` that offers
//!   exactly those versions and suites, with ALPN `h2` then `http/1.1`;
//! - [`CertReloader`] keeps the config in force in an `ArcSwap`: every accepted connection takes the
//!   current one ([`CertReloader::acceptor`]), [`CertReloader::watch`] rebuilds it when the files
//!   change on disk, and a bad file keeps the old certificate and is reported by
//!   [`CertReloader::status`] (for `/health`) and in the log.
//!
//! Data flow: config swap → [`TlsSettings::from_config`] → [`CertReloader::update_settings`];
//! file change → [`CertReloader::watch`] → new `ServerConfig`; accept → `acceptor().accept(tcp)` →
//! hyper on the TLS stream. A connection keeps the `ServerConfig` it was accepted with, so neither a
//! rotation nor a settings change touches established connections.

mod config;
mod error;
mod reloader;
mod settings;
mod x509;

pub use config::build_server_config;
pub use error::TlsError;
pub use reloader::{CertReloader, TlsStatus};
pub use settings::TlsSettings;

#[cfg(test)]
mod tests;
