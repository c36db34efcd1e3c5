//! TLS on the data plane's listener, through the real binary: TLS 1.3 with HTTP/1.1 and h2 via ALPN,
//! a TLS 1.2-only client refused under `minVersion: TLS1.3`, and `/health` reporting the certificate.

#![allow(clippy::unwrap_used)] // Test helpers may panic: a panic is a test failure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use openclaw_e2e::{DataPlane, TestAgent, TestCa};
use rustls::pki_types::ServerName;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;

fn client(
    ca: &TestCa,
    alpn: &[&[u8]],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    let pem = ca.pem();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(cfg))
}

use rustls::pki_types::pem::PemObject;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls13_serves_http1_and_h2_and_refuses_tls12_clients() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = TestCa::new("openclaw e2e CA");
    let leaf = ca.issue(&["localhost", "127.0.0.1"]);
    std::fs::write(d.join("cert.pem"), &leaf.cert).unwrap();
    std::fs::write(d.join("key.pem"), &leaf.key).unwrap();
    let agent = TestAgent::start("secure");
    let config = json!({"gateway": {
        "http": {"tls": {"enabled": true, "cert": d.join("cert.pem"), "key": d.join("key.pem"), "minVersion": "TLS1.3"}},
        "agents": {"discovery": {"static": [agent.config_entry(&[])]}},
        "routing": {"rules": [{"name": "all", "match": {"type": "prefix", "pattern": "/"}, "target": "secure"}]}
    }});
    let dp = DataPlane::standalone_builder(d, config).start_unready();
    let addr = dp.url().trim_start_matches("http://").to_string();
    let name = ServerName::try_from("localhost").unwrap();

    // HTTP/1.1 over TLS 1.3 (retry until the node has applied its config).
    let h1 = client(&ca, &[b"http/1.1"], &[&rustls::version::TLS13]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let response = loop {
        let attempt = async {
            let tcp = tokio::net::TcpStream::connect(&addr).await.ok()?;
            let mut tls = h1.connect(name.clone(), tcp).await.ok()?;
            assert_eq!(
                tls.get_ref().1.protocol_version(),
                Some(rustls::ProtocolVersion::TLSv1_3)
            );
            tls.write_all(b"GET /api/x HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
                .await
                .ok()?;
            let mut out = String::new();
            tls.read_to_string(&mut out).await.ok()?;
            Some(out)
        };
        match attempt.await {
            Some(r) if r.starts_with("HTTP/1.1 200") => break r,
            other => assert!(
                Instant::now() < deadline,
                "no TLS answer in time: {other:?}\n{}",
                dp.logs()
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(response.contains("\"agent\":\"secure\""), "{response}");

    // h2 negotiated by ALPN on the same port.
    let h2 = client(&ca, &[b"h2", b"http/1.1"], &[&rustls::version::TLS13]);
    let tls = h2
        .connect(
            name.clone(),
            tokio::net::TcpStream::connect(&addr).await.unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::get("https://localhost/api/h2")
        .body(Empty::<bytes::Bytes>::new())
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), hyper::Version::HTTP_2);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("/api/h2"));

    // A client that only speaks TLS 1.2 is refused.
    let old = client(&ca, &[b"http/1.1"], &[&rustls::version::TLS12]);
    let refused = old
        .connect(
            name.clone(),
            tokio::net::TcpStream::connect(&addr).await.unwrap(),
        )
        .await;
    assert!(refused.is_err(), "a TLS 1.2-only client was accepted");

    // /health reports the certificate in force.
    let health = health_over_tls(&h1, &addr).await;
    assert!(health["tls"]["lastError"].is_null(), "{health}");
    assert!(
        !health["notEnforced"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k == "gateway.http.tls"),
        "{health}"
    );
}

/// `/health` fetched over a fresh TLS connection.
async fn health_over_tls(connector: &TlsConnector, addr: &str) -> serde_json::Value {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::get("/health")
        .header("host", "localhost")
        .body(Empty::<bytes::Bytes>::new())
        .unwrap();
    let body = send
        .send_request(req)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes();
    serde_json::from_slice(&body).unwrap()
}

/// The certificate's DER as the client saw it on a fresh connection.
async fn peer_cert(connector: &TlsConnector, addr: &str) -> Option<Vec<u8>> {
    let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
    let tls = connector
        .connect(ServerName::try_from("localhost").ok()?, tcp)
        .await
        .ok()?;
    tls.get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_rotated_on_disk_is_served_to_new_connections_without_failures() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = TestCa::new("openclaw rotation CA");
    let first = ca.issue(&["localhost"]);
    let second = ca.issue(&["localhost", "127.0.0.1"]);
    std::fs::write(d.join("cert.pem"), &first.cert).unwrap();
    std::fs::write(d.join("key.pem"), &first.key).unwrap();
    let agent = TestAgent::start("secure");
    let config = json!({"gateway": {
        "http": {"tls": {"enabled": true, "cert": d.join("cert.pem"), "key": d.join("key.pem")}},
        "performance": {"eventLoop": "io_uring"},
        "agents": {"discovery": {"static": [agent.config_entry(&[])]}},
        "routing": {"rules": [{"name": "all", "match": {"type": "prefix", "pattern": "/"}, "target": "secure"}]}
    }});
    let dp = DataPlane::standalone_builder(d, config).start_unready();
    let addr = dp.url().trim_start_matches("http://").to_string();
    let connector = client(
        &ca,
        &[b"http/1.1"],
        &[&rustls::version::TLS13, &rustls::version::TLS12],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let old = loop {
        if let Some(c) = peer_cert(&connector, &addr).await {
            break c;
        }
        assert!(Instant::now() < deadline, "no TLS listener:\n{}", dp.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // A client keeps sending requests on new connections while the files are replaced.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (load_stop, load_addr, load_conn) = (stop.clone(), addr.clone(), connector.clone());
    let load = tokio::spawn(async move {
        let (mut ok, mut failed) = (0u32, Vec::new());
        while !load_stop.load(std::sync::atomic::Ordering::SeqCst) {
            let attempt = async {
                let tcp = tokio::net::TcpStream::connect(&load_addr)
                    .await
                    .map_err(|e| e.to_string())?;
                let mut tls = load_conn
                    .connect(ServerName::try_from("localhost").unwrap(), tcp)
                    .await
                    .map_err(|e| e.to_string())?;
                tls.write_all(b"GET /rot HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
                    .await
                    .map_err(|e| e.to_string())?;
                let mut out = String::new();
                tls.read_to_string(&mut out)
                    .await
                    .map_err(|e| e.to_string())?;
                if out.starts_with("HTTP/1.1 200") {
                    Ok(())
                } else {
                    Err(out)
                }
            };
            match attempt.await {
                Ok(()) => ok += 1,
                Err(e) => failed.push(e),
            }
        }
        (ok, failed)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (name, pem) in [("key.pem", &second.key), ("cert.pem", &second.cert)] {
        let tmp = d.join(format!("{name}.tmp"));
        std::fs::write(&tmp, pem).unwrap();
        std::fs::rename(&tmp, d.join(name)).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = peer_cert(&connector, &addr).await.unwrap();
        if now != old {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served:\n{}",
            dp.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (ok, failed) = load.await.unwrap();
    assert!(
        failed.is_empty(),
        "{} requests failed during rotation: {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
    assert!(ok > 5, "too few requests during rotation: {ok}");
    // eventLoop io_uring is never claimed without an io_uring listener.
    let health = health_over_tls(&connector, &addr).await;
    assert_eq!(
        health["eventLoop"],
        "epoll (io_uring requested, not available)"
    );
    assert!(
        health["tls"]["reloads"].as_u64().unwrap_or(0) >= 1,
        "{health}"
    );
}
