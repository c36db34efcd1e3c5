//! Building a rustls `ServerConfig` from [`TlsSettings`]: the *ring* provider cut down to the listed
//! suites, the allowed versions, the certificate chain and key read from their PEM files, and ALPN.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{InconsistentKeys, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::{TlsError, TlsSettings, x509};

/// ALPN protocols offered, in server preference order: h2 when the client offers it.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

const CERT: &str = "gateway.http.tls.cert";
const KEY: &str = "gateway.http.tls.key";

/// A config built from the files, with what `/health` reports about its certificate.
pub(super) struct Loaded {
    pub(super) config: Arc<ServerConfig>,
    pub(super) not_after: Option<String>,
}

/// Reads the certificate chain and key named by `settings` and builds the server config.
pub fn build_server_config(settings: &TlsSettings) -> Result<Arc<ServerConfig>, TlsError> {
    load(settings).map(|l| l.config)
}

/// [`build_server_config`], keeping the certificate's expiry.
pub(super) fn load(settings: &TlsSettings) -> Result<Loaded, TlsError> {
    let provider = Arc::new(CryptoProvider {
        cipher_suites: settings.suites().to_vec(),
        ..rustls::crypto::ring::default_provider()
    });
    let certified = certified_key(&settings.cert, &settings.key, &provider)?;
    let not_after = certified.cert.first().and_then(|c| x509::not_after(c));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(settings.versions())?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(Loaded {
        config: Arc::new(config),
        not_after,
    })
}

/// The chain in `cert` with the key in `key`, checked to belong together.
fn certified_key(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let file_error = |path, file: &Path, message: String| TlsError::File {
        path,
        file: file.to_path_buf(),
        message,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| file_error(CERT, cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(file_error(CERT, cert, "no certificate in the file".into()));
    }
    let key_der =
        PrivateKeyDer::from_pem_file(key).map_err(|e| file_error(KEY, key, e.to_string()))?;
    let signing_key = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| file_error(KEY, key, e.to_string()))?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        // A key type whose public half rustls cannot extract: nothing to compare, as rustls does.
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(_)) => Err(file_error(
            KEY,
            key,
            format!("does not match the certificate in {}", cert.display()),
        )),
        Err(e) => Err(file_error(CERT, cert, e.to_string())),
    }
}
