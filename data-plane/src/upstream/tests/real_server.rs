//! Health checks against real HTTP servers on loopback (real time: paused time would fire the check
//! timeout while I/O waits).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::time::Duration;

use openclaw_config::{Duration as ConfigDuration, HealthCheck};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::agent;
use crate::upstream::*;

// === real HTTP servers (real time: paused time would fire the check timeout while I/O waits) ===

const HANG: u16 = 0;

/// A tiny HTTP/1.1 server answering `GET /healthz` with a switchable status (or never answering).
struct TestServer {
    addr: SocketAddr,
    status: Arc<AtomicU16>,
    hits: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl TestServer {
    async fn start(status: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let status = Arc::new(AtomicU16::new(status));
        let hits = Arc::new(AtomicUsize::new(0));
        let (s, h) = (status.clone(), hits.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    continue;
                };
                let (s, h) = (s.clone(), h.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let code = if buf.starts_with(b"GET /healthz HTTP/1.1\r\n") {
                        h.fetch_add(1, Ordering::SeqCst);
                        s.load(Ordering::SeqCst)
                    } else {
                        404
                    };
                    if code == HANG {
                        std::future::pending::<()>().await;
                    }
                    let reply = format!(
                        "HTTP/1.1 {code} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                    );
                    let _ = sock.write_all(reply.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        Self {
            addr,
            status,
            hits,
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn set(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Stops accepting: later connections are refused.
    async fn close(&self) {
        self.task.abort();
        while !self.task.is_finished() {
            tokio::task::yield_now().await;
        }
    }
}

fn fast_checks(fail: u32, pass: u32) -> HealthCheck {
    HealthCheck {
        path: "/healthz".into(),
        interval: ConfigDuration::millis(20),
        timeout: ConfigDuration::millis(300),
        fail_threshold: fail,
        pass_threshold: pass,
        ..HealthCheck::default()
    }
}

async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn real_server_goes_down_and_up_with_its_status_and_down_when_closed() {
    let server = TestServer::start(200).await;
    let registry = Registry::new();
    let set = registry
        .sync(&[agent("a", &server.url())], &fast_checks(2, 2))
        .unwrap();
    let a = set.get("a").unwrap().clone();
    wait_until("a check passed", || {
        a.health().last_check.is_some_and(|c| c.error.is_none())
    })
    .await;
    assert!(a.is_healthy());

    server.set(500);
    wait_until("500s mark it down", || !a.is_healthy()).await;
    let h = a.health();
    assert!(h.consecutive_failures >= 2);
    assert_eq!(
        h.last_check.unwrap().error.as_deref(),
        Some("answered with status 500")
    );

    server.set(200);
    wait_until("200s mark it up", || a.is_healthy()).await;
    assert!(a.health().consecutive_passes >= 2);

    server.set(HANG);
    wait_until("timeouts mark it down", || !a.is_healthy()).await;
    let err = a.health().last_check.unwrap().error.unwrap();
    assert!(err.starts_with("no answer within"), "{err}");

    server.set(200);
    wait_until("it answers again", || a.is_healthy()).await;
    server.close().await;
    wait_until("refused connections mark it down", || !a.is_healthy()).await;
    let err = a.health().last_check.unwrap().error.unwrap();
    assert!(err.starts_with("connect failed"), "{err}");
    let json = registry.health()[0].to_json();
    assert_eq!(json["healthy"], false);
    assert_eq!(json["lastCheck"]["ok"], false);
}

#[tokio::test]
async fn a_removed_endpoint_is_no_longer_checked() {
    let (kept, removed) = (TestServer::start(200).await, TestServer::start(200).await);
    let registry = Registry::new();
    let hc = fast_checks(1, 1);
    registry
        .sync(
            &[agent("kept", &kept.url()), agent("removed", &removed.url())],
            &hc,
        )
        .unwrap();
    wait_until("both are checked", || {
        kept.hits() >= 2 && removed.hits() >= 2
    })
    .await;

    registry.sync(&[agent("kept", &kept.url())], &hc).unwrap();
    // A check already on the wire may still land; after that, nothing more.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (before, base) = (removed.hits(), kept.hits());
    wait_until("the kept one is checked 5 more times", || {
        kept.hits() >= base + 5
    })
    .await;
    assert_eq!(removed.hits(), before);
}

#[tokio::test]
async fn a_health_checks_json_body_carries_the_agents_load() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        for body in [r#"{"status": "ok", "cpu": 0.7, "memory": 0.2}"#, "ok"] {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = sock.read(&mut buf).await.unwrap();
            let ctype = if body.starts_with('{') {
                "application/json"
            } else {
                "text/plain"
            };
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            sock.write_all(reply.as_bytes()).await.unwrap();
        }
    });
    let uri: ::http::Uri = format!("http://{addr}/health").parse().unwrap();
    let report = HttpProbe::new().probe(uri.clone()).await.unwrap().unwrap();
    assert_eq!((report.cpu, report.memory), (Some(0.7), Some(0.2)));
    // A body that is not JSON passes the check without a report.
    assert_eq!(HttpProbe::new().probe(uri).await.unwrap(), None);
    server.await.unwrap();
}
