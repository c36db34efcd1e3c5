//! TLS over real sockets on 127.0.0.1: a tiny accept loop over [`CertReloader::acceptor`] answers a
//! fixed HTTP/1.1 response, and tokio-rustls clients check what was negotiated.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use openclaw_config::{TLS12_CIPHERS, TLS13_CIPHERS, Tls, TlsVersion};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::crypto::CryptoProvider;
use rustls::crypto::ring::{ALL_CIPHER_SUITES, cipher_suite, default_provider};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::version::{TLS12, TLS13};
use rustls::{
    CipherSuite, ClientConfig, ProtocolVersion, RootCertStore, SupportedCipherSuite,
    SupportedProtocolVersion,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::*;

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";

struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

struct Files {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
}

/// What one connection saw.
struct Seen {
    version: Option<ProtocolVersion>,
    suite: Option<CipherSuite>,
    alpn: Option<Vec<u8>>,
    cert: CertificateDer<'static>,
}

// === impl Ca ===

impl Ca {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { issuer }
    }

    fn issue(&self) -> Leaf {
        self.issue_with(|_| {})
    }

    fn issue_with(&self, edit: impl FnOnce(&mut CertificateParams)) -> Leaf {
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        edit(&mut params);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }

    /// A client trusting this CA, limited to `versions` and (unless empty) `suites`, offering `alpn`.
    fn client(
        &self,
        versions: &[&'static SupportedProtocolVersion],
        suites: &[SupportedCipherSuite],
        alpn: &[&[u8]],
    ) -> TlsConnector {
        let mut roots = RootCertStore::empty();
        roots.add(self.issuer.der().clone()).unwrap();
        let suites = if suites.is_empty() {
            ALL_CIPHER_SUITES
        } else {
            suites
        };
        let provider = CryptoProvider {
            cipher_suites: suites.to_vec(),
            ..default_provider()
        };
        let mut config = ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        TlsConnector::from(Arc::new(config))
    }
}

// === impl Files ===

impl Files {
    fn new(leaf: &Leaf) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let files = Self {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
            _dir: dir,
        };
        files.replace(leaf);
        files
    }

    /// Replaces both files, each atomically (written beside, then renamed over).
    fn replace(&self, leaf: &Leaf) {
        put(&self.cert, &leaf.cert_pem);
        put(&self.key, &leaf.key_pem);
    }

    fn settings(&self, min_version: TlsVersion, ciphers: &[&str]) -> TlsSettings {
        TlsSettings::from_config(&self.tls(min_version, ciphers))
            .unwrap()
            .unwrap()
    }

    fn tls(&self, min_version: TlsVersion, ciphers: &[&str]) -> Tls {
        Tls {
            enabled: true,
            cert: Some(self.cert.display().to_string()),
            key: Some(self.key.display().to_string()),
            min_version,
            ciphers: ciphers.iter().map(|s| s.to_string()).collect(),
        }
    }
}

fn put(path: &Path, contents: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Serves `reloader` on a fresh port: each connection reads one request and gets [`RESPONSE`].
async fn serve(reloader: Arc<CertReloader>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = reloader.acceptor();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls.write_all(RESPONSE).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

async fn connect(addr: SocketAddr, client: &TlsConnector) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    client.connect(name, tcp).await
}

/// Sends one request on an established connection and checks the answer.
async fn request(mut tls: TlsStream<TcpStream>) -> std::io::Result<Seen> {
    let conn = tls.get_ref().1;
    let seen = Seen {
        version: conn.protocol_version(),
        suite: conn.negotiated_cipher_suite().map(|s| s.suite()),
        alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
        cert: conn.peer_certificates().unwrap()[0].clone(),
    };
    tls.write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await?;
    let mut response = Vec::new();
    tls.read_to_end(&mut response).await?;
    if response != RESPONSE {
        return Err(std::io::Error::other(format!(
            "unexpected response {:?}",
            String::from_utf8_lossy(&response)
        )));
    }
    Ok(seen)
}

async fn get(addr: SocketAddr, client: &TlsConnector) -> std::io::Result<Seen> {
    request(connect(addr, client).await?).await
}

async fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn tls13_handshake_and_request_with_alpn() {
    let ca = Ca::new();
    let leaf = ca.issue();
    let files = Files::new(&leaf);
    let reloader = Arc::new(CertReloader::new(files.settings(TlsVersion::Tls12, &[])).unwrap());
    let addr = serve(reloader).await;

    let seen = get(addr, &ca.client(&[&TLS13], &[], &[b"h2", b"http/1.1"]))
        .await
        .unwrap();
    assert_eq!(seen.version, Some(ProtocolVersion::TLSv1_3));
    assert_eq!(seen.alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(seen.cert, leaf.der);

    let seen = get(addr, &ca.client(&[&TLS13], &[], &[b"http/1.1"]))
        .await
        .unwrap();
    assert_eq!(seen.alpn.as_deref(), Some(&b"http/1.1"[..]));
    let seen = get(addr, &ca.client(&[&TLS13], &[], &[])).await.unwrap();
    assert_eq!(seen.alpn, None, "a client without ALPN gets HTTP/1.1");
}

#[tokio::test]
async fn min_version_tls13_refuses_a_tls12_client() {
    let ca = Ca::new();
    let files = Files::new(&ca.issue());
    let tls12_only = ca.client(&[&TLS12], &[], &[]);

    let strict = Arc::new(CertReloader::new(files.settings(TlsVersion::Tls13, &[])).unwrap());
    let addr = serve(strict.clone()).await;
    assert!(get(addr, &tls12_only).await.is_err());
    let both = ca.client(&[&TLS13, &TLS12], &[], &[]);
    let seen = get(addr, &both).await.unwrap();
    assert_eq!(seen.version, Some(ProtocolVersion::TLSv1_3));

    let lenient = Arc::new(CertReloader::new(files.settings(TlsVersion::Tls12, &[])).unwrap());
    let addr = serve(lenient).await;
    let seen = get(addr, &tls12_only).await.unwrap();
    assert_eq!(seen.version, Some(ProtocolVersion::TLSv1_2));
}

#[tokio::test]
async fn only_the_listed_suites_are_offered() {
    let ca = Ca::new();
    let files = Files::new(&ca.issue());
    let settings = files.settings(TlsVersion::Tls12, &["TLS_AES_256_GCM_SHA384"]);
    assert_eq!(settings.versions(), [&TLS13], "no TLS 1.2 suite listed");
    let addr = serve(Arc::new(CertReloader::new(settings).unwrap())).await;

    let seen = get(addr, &ca.client(&[&TLS13, &TLS12], &[], &[]))
        .await
        .unwrap();
    assert_eq!(seen.suite, Some(CipherSuite::TLS13_AES_256_GCM_SHA384));
    let aes128 = ca.client(&[&TLS13], &[cipher_suite::TLS13_AES_128_GCM_SHA256], &[]);
    assert!(get(addr, &aes128).await.is_err());

    // Only a TLS 1.2 suite listed: a client that prefers TLS 1.3 is served TLS 1.2 with that suite.
    let settings = files.settings(
        TlsVersion::Tls12,
        &["TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"],
    );
    assert_eq!(settings.versions(), [&TLS12]);
    let addr = serve(Arc::new(CertReloader::new(settings).unwrap())).await;
    let seen = get(addr, &ca.client(&[&TLS13, &TLS12], &[], &[]))
        .await
        .unwrap();
    assert_eq!(seen.version, Some(ProtocolVersion::TLSv1_2));
    assert_eq!(
        seen.suite,
        Some(CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_on_disk_drops_nothing_and_new_connections_get_the_new_certificate() {
    let ca = Ca::new();
    let (old, new) = (ca.issue(), ca.issue());
    let files = Files::new(&old);
    let reloader = Arc::new(CertReloader::new(files.settings(TlsVersion::Tls12, &[])).unwrap());
    let (stop_watch, stopped) = tokio::sync::oneshot::channel::<()>();
    let watcher = tokio::spawn(reloader.clone().watch(async {
        let _ = stopped.await;
    }));
    let addr = serve(reloader.clone()).await;
    // One client config for the whole run, so it tries to resume its sessions across the rotation.
    let client = ca.client(&[&TLS13, &TLS12], &[], &[b"h2", b"http/1.1"]);
    let held = connect(addr, &client).await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let traffic = tokio::spawn({
        let (stop, client) = (stop.clone(), client.clone());
        async move {
            let (mut certs, mut failures) = (Vec::new(), Vec::new());
            while !stop.load(Ordering::Relaxed) {
                match get(addr, &client).await {
                    Ok(seen) => certs.push(seen.cert),
                    Err(e) => failures.push(e.to_string()),
                }
            }
            (certs, failures)
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    files.replace(&new);
    wait_for("the reload", || reloader.status().reloads == 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let (certs, failures) = traffic.await.unwrap();

    assert!(failures.is_empty(), "failed requests: {failures:?}");
    assert_eq!(certs.first(), Some(&old.der));
    assert_eq!(certs.last(), Some(&new.der), "{} requests", certs.len());
    let first_new = certs.iter().position(|c| *c == new.der).unwrap();
    assert!(
        certs[first_new..].iter().all(|c| *c == new.der),
        "a connection after the reload saw the old certificate"
    );
    assert_eq!(reloader.last_error(), None);
    // The connection established before the rotation still works, with the certificate it got.
    assert_eq!(request(held).await.unwrap().cert, old.der);

    stop_watch.send(()).unwrap();
    watcher.await.unwrap();
}

#[tokio::test]
async fn a_bad_file_on_reload_keeps_the_old_certificate_and_is_reported() {
    let ca = Ca::new();
    let (old, new) = (ca.issue(), ca.issue());
    let files = Files::new(&old);
    let reloader = Arc::new(CertReloader::new(files.settings(TlsVersion::Tls12, &[])).unwrap());
    let addr = serve(reloader.clone()).await;
    let client = ca.client(&[&TLS13], &[], &[]);

    put(&files.cert, "not a certificate");
    assert!(reloader.check_files().is_none(), "read once settled");
    let err = reloader.check_files().unwrap().unwrap_err();
    let text = err.to_string();
    assert_eq!(err.kind(), "tls_file");
    assert!(text.contains("gateway.http.tls.cert"), "{text}");
    assert!(text.contains(&files.cert.display().to_string()), "{text}");
    assert_eq!(reloader.last_error(), Some(text.clone()));
    assert!(
        reloader.check_files().is_none(),
        "not retried until it changes"
    );
    assert_eq!(get(addr, &client).await.unwrap().cert, old.der);
    let health = reloader.status().to_json();
    assert_eq!(health["lastError"], text.as_str());

    // The new certificate with the old key: the key is blamed.
    put(&files.cert, &new.cert_pem);
    assert!(reloader.check_files().is_none());
    let text = reloader.check_files().unwrap().unwrap_err().to_string();
    assert!(
        text.contains("gateway.http.tls.key") && text.contains("does not match"),
        "{text}"
    );
    assert_eq!(get(addr, &client).await.unwrap().cert, old.der);

    files.replace(&new);
    assert!(reloader.check_files().is_none());
    reloader.check_files().unwrap().unwrap();
    assert_eq!(reloader.last_error(), None);
    assert_eq!(reloader.status().reloads, 1);
    assert_eq!(get(addr, &client).await.unwrap().cert, new.der);
}

#[tokio::test]
async fn new_settings_apply_to_new_handshakes() {
    let ca = Ca::new();
    let files = Files::new(&ca.issue());
    let reloader = Arc::new(CertReloader::new(files.settings(TlsVersion::Tls12, &[])).unwrap());
    let addr = serve(reloader.clone()).await;
    let tls12_only = ca.client(&[&TLS12], &[], &[]);
    let held = connect(addr, &tls12_only).await.unwrap();

    reloader
        .update_settings(&files.settings(TlsVersion::Tls13, &[]))
        .unwrap();
    assert!(get(addr, &tls12_only).await.is_err());
    assert_eq!(
        request(held).await.unwrap().version,
        Some(ProtocolVersion::TLSv1_2),
        "an established connection keeps its settings"
    );

    let mut missing = files.settings(TlsVersion::Tls12, &[]);
    missing.key = files.key.with_file_name("missing.pem");
    let err = reloader.update_settings(&missing).unwrap_err().to_string();
    assert!(
        err.contains("gateway.http.tls.key") && err.contains("missing.pem"),
        "{err}"
    );
    assert_eq!(reloader.last_error(), Some(err));
    assert!(
        get(addr, &tls12_only).await.is_err(),
        "the settings in force stay"
    );
}

#[test]
fn settings_errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let tls = |ciphers: &[&str], min_version| Tls {
        enabled: true,
        cert: Some(missing.display().to_string()),
        key: Some(missing.display().to_string()),
        min_version,
        ciphers: ciphers.iter().map(|s| s.to_string()).collect(),
    };
    let err = |t: &Tls| TlsSettings::from_config(t).unwrap_err().to_string();

    assert!(TlsSettings::from_config(&Tls::default()).unwrap().is_none());
    let text = err(&tls(
        &["TLS_AES_128_GCM_SHA256", "TLS_BOGUS"],
        TlsVersion::Tls12,
    ));
    assert!(
        text.starts_with("gateway.http.tls.ciphers[1]: unknown cipher suite \"TLS_BOGUS\""),
        "{text}"
    );
    let text = err(&tls(&[TLS12_CIPHERS[0]], TlsVersion::Tls13));
    assert!(
        text.starts_with("gateway.http.tls.ciphers: no listed suite"),
        "{text}"
    );
    let text = err(&Tls {
        cert: None,
        ..tls(&[], TlsVersion::Tls12)
    });
    assert!(
        text.starts_with("gateway.http.tls.cert: is required"),
        "{text}"
    );

    let settings = TlsSettings::from_config(&tls(&[], TlsVersion::Tls13))
        .unwrap()
        .unwrap();
    assert_eq!(settings.versions(), [&TLS13]);
    assert_eq!(settings.suites().len(), TLS13_CIPHERS.len());
    let text = build_server_config(&settings).unwrap_err().to_string();
    assert!(
        text.starts_with("gateway.http.tls.cert: ") && text.contains("missing.pem"),
        "{text}"
    );
    let text = CertReloader::new(settings).err().unwrap().to_string();
    assert!(text.starts_with("gateway.http.tls.cert: "), "{text}");

    let ca = Ca::new();
    let files = Files::new(&ca.issue());
    let mut no_key = files.settings(TlsVersion::Tls12, &[]);
    no_key.key = missing.clone();
    let text = build_server_config(&no_key).unwrap_err().to_string();
    assert!(
        text.starts_with("gateway.http.tls.key: ") && text.contains("missing.pem"),
        "{text}"
    );
}

#[test]
fn every_configurable_suite_is_a_ring_suite() {
    let names = [TLS13_CIPHERS, TLS12_CIPHERS].concat();
    let mapped: Vec<_> = names
        .iter()
        .map(|n| super::settings::suite_by_name(n).unwrap_or_else(|| panic!("{n}")))
        .collect();
    assert_eq!(mapped.len(), ALL_CIPHER_SUITES.len());
    assert!(ALL_CIPHER_SUITES.iter().all(|s| mapped.contains(s)));
    for (name, suite) in names.iter().zip(&mapped) {
        let expected = suite.suite().as_str().unwrap().replace("TLS13_", "TLS_");
        assert_eq!(*name, expected);
    }
}

#[test]
fn not_after_is_read_from_the_certificate() {
    let ca = Ca::new();
    let leaf = ca.issue_with(|p| p.not_after = rcgen::date_time_ymd(2030, 1, 2));
    assert_eq!(
        super::x509::not_after(&leaf.der).as_deref(),
        Some("2030-01-02T00:00:00Z")
    );
    // rcgen's default is past 2049, so it is written as GeneralizedTime.
    assert_eq!(
        super::x509::not_after(&ca.issue().der).as_deref(),
        Some("4096-01-01T00:00:00Z")
    );
    assert_eq!(super::x509::not_after(b"\x30\x03\x30\x01"), None);

    let files = Files::new(&leaf);
    let reloader = CertReloader::new(files.settings(TlsVersion::Tls12, &[])).unwrap();
    let status = reloader.status();
    assert_eq!(status.not_after.as_deref(), Some("2030-01-02T00:00:00Z"));
    assert_eq!(status.to_json()["notAfter"], "2030-01-02T00:00:00Z");
    assert!(status.to_json()["lastError"].is_null());
}
