//! The client against scripted agents on real sockets: framing, reuse, stale connections, early
//! answers and upgrades.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response};
use hyper::body::Frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::exchange::collect;
use super::head::Direct;
use super::{AgentError, H1Body, Pool, send};
use crate::http1::body::{BoxError, ProxyBody, full};

/// Reads one request head (and a body of `content-length` bytes) from `s`; `None` when it closed.
async fn read_request(s: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_string)
                })
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            let mut body = buf[end + 4..].to_vec();
            while body.len() < len {
                let n = s.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                body.extend_from_slice(&chunk[..n]);
            }
            return Some((head, body));
        }
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn agent() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    (l, url)
}

/// Sends a request through `pool`, with no forwarding fields.
fn send_on(
    pool: &Pool,
    method: Method,
    url: &str,
    body: ProxyBody,
) -> impl Future<Output = Result<Response<H1Body>, AgentError>> + use<> {
    send(pool.clone(), None::<Direct>, req(method, url, body), None)
}

/// Sends a request through `pool` and reads its whole response body.
async fn fetch(pool: &Pool, method: Method, url: &str, body: ProxyBody) -> Bytes {
    let r = send_on(pool, method, url, body).await.unwrap();
    collect(r.into_body()).await.unwrap()
}

/// Sends one request on a pool of its own.
fn send_alone(
    method: Method,
    url: &str,
    body: ProxyBody,
) -> impl Future<Output = Result<Response<H1Body>, AgentError>> {
    send_on(&Pool::new(1, Duration::from_secs(9)), method, url, body)
}

/// A streamed body, fed frame by frame through the returned sender.
fn streamed(room: usize) -> (mpsc::Sender<Result<Frame<Bytes>, BoxError>>, ProxyBody) {
    let (tx, rx) = mpsc::channel(room);
    let body = http_body_util::StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    (tx, ProxyBody::new(body))
}

fn req(method: Method, url: &str, body: ProxyBody) -> Request<ProxyBody> {
    Request::builder()
        .method(method)
        .uri(format!("{url}/p"))
        .body(body)
        .unwrap()
}

#[tokio::test]
async fn length_chunked_and_close_delimited_bodies_arrive_whole() {
    let (l, url) = agent().await;
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let (head, body) = read_request(&mut s).await.unwrap();
        assert!(head.starts_with("POST /p HTTP/1.1\r\n"), "{head}");
        assert!(head.contains("content-length: 5"), "{head}");
        assert_eq!(body, b"hello");
        s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\none")
            .await
            .unwrap();
        read_request(&mut s).await.unwrap();
        s.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n")
            .await
            .unwrap();
        read_request(&mut s).await.unwrap();
        s.write_all(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nthree, until close")
            .await
            .unwrap();
    });
    let pool = Pool::new(4, Duration::from_secs(60));
    let get = |url| fetch(&pool, Method::GET, url, full(Bytes::new()));
    assert_eq!(fetch(&pool, Method::POST, &url, full("hello")).await, "one");
    assert_eq!(get(&url).await, "two");
    assert_eq!(get(&url).await, "three, until close");
}

#[tokio::test]
async fn a_connection_the_agent_closed_while_idle_is_not_a_failure() {
    let (l, url) = agent().await;
    tokio::spawn(async move {
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            // Answers one request per connection, then closes it without saying so.
            if read_request(&mut s).await.is_some() {
                s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await
                    .unwrap();
            }
        }
    });
    let pool = Pool::new(4, Duration::from_secs(60));
    // Back to back: the close may not be known yet, and an idempotent request is sent again.
    for _ in 0..5 {
        assert_eq!(
            fetch(&pool, Method::GET, &url, full(Bytes::new())).await,
            "ok"
        );
    }
    // After a pause the close is known at checkout, so even a POST gets a new connection.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(fetch(&pool, Method::POST, &url, full("x")).await, "ok");
    }
}

#[tokio::test]
async fn a_post_the_agent_may_have_taken_is_not_sent_twice() {
    let (l, url) = agent().await;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        read_request(&mut s).await.unwrap();
        s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .await
            .unwrap();
        // Reads the next request whole, then closes without an answer.
        let second = read_request(&mut s).await.unwrap();
        seen_tx.send(second.1).unwrap();
        drop(s);
        // A resend would arrive on a new connection.
        if let Ok(Ok((mut s, _))) =
            tokio::time::timeout(Duration::from_millis(500), l.accept()).await
            && let Some((_, body)) = read_request(&mut s).await
        {
            seen_tx.send(body).unwrap();
        }
    });
    let pool = Pool::new(4, Duration::from_secs(60));
    let r = send_on(&pool, Method::POST, &url, full("first"))
        .await
        .unwrap();
    collect(r.into_body()).await.unwrap();
    let err = send_on(&pool, Method::POST, &url, full("second"))
        .await
        .err()
        .unwrap();
    assert!(!err.is_connect(), "{err}");
    assert_eq!(seen.recv().await.unwrap(), b"second");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(seen.try_recv().is_err(), "the POST was sent once only");
}

#[tokio::test]
async fn an_early_answer_stops_a_streamed_upload() {
    let (l, url) = agent().await;
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).await.unwrap();
        s.write_all(
            b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 4\r\nconnection: close\r\n\r\nbig!",
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
    });
    // A body that sends one chunk and then never ends.
    let (tx, body) = streamed(1);
    tx.send(Ok(Frame::data(Bytes::from_static(b"part"))))
        .await
        .unwrap();
    let r = tokio::time::timeout(Duration::from_secs(1), send_alone(Method::POST, &url, body))
        .await
        .expect("the answer comes while the body is still open")
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(collect(r.into_body()).await.unwrap(), "big!");
    drop(tx);
}

#[tokio::test]
async fn an_interim_100_continue_does_not_stop_the_upload() {
    let (l, url) = agent().await;
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).await.unwrap();
            seen.extend_from_slice(&buf[..n]);
        }
        s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await.unwrap();
        while !seen.ends_with(b"0\r\n\r\n") {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "the body must keep coming");
            seen.extend_from_slice(&buf[..n]);
        }
        s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\ndone")
            .await
            .unwrap();
    });
    let (tx, body) = streamed(4);
    tokio::spawn(async move {
        for part in ["first", "second"] {
            tokio::time::sleep(Duration::from_millis(50)).await;
            tx.send(Ok(Frame::data(Bytes::from_static(part.as_bytes()))))
                .await
                .unwrap();
        }
    });
    let r = tokio::time::timeout(Duration::from_secs(2), send_alone(Method::POST, &url, body))
        .await
        .expect("no deadlock after 100 Continue")
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(collect(r.into_body()).await.unwrap(), "done");
}

#[tokio::test]
async fn a_streamed_body_goes_out_chunked() {
    let (l, url) = agent().await;
    let got = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut all = Vec::new();
        let mut buf = [0u8; 1024];
        while !all.ends_with(b"0\r\n\r\n") {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0);
            all.extend_from_slice(&buf[..n]);
        }
        s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
            .await
            .unwrap();
        String::from_utf8(all).unwrap()
    });
    let (tx, body) = streamed(4);
    tokio::spawn(async move {
        for part in ["ab", "cde"] {
            tx.send(Ok(Frame::data(Bytes::from_static(part.as_bytes()))))
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let r = send_alone(Method::POST, &url, body).await.unwrap();
    assert_eq!(r.status(), 204);
    let wire = got.await.unwrap();
    assert!(wire.contains("transfer-encoding: chunked\r\n"), "{wire}");
    assert!(
        wire.ends_with("\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n"),
        "{wire}"
    );
}

#[tokio::test]
async fn an_upgrade_hands_over_the_connection_with_its_early_bytes() {
    let (l, url) = agent().await;
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        read_request(&mut s).await.unwrap();
        s.write_all(
            b"HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\nconnection: upgrade\r\n\r\nearly",
        )
        .await
        .unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await.unwrap();
        s.write_all(&buf).await.unwrap();
    });
    let r = send_alone(Method::GET, &url, full(Bytes::new()))
        .await
        .unwrap();
    assert_eq!(r.status(), 101);
    let mut up = r.into_body().into_upgraded().unwrap();
    let mut early = [0u8; 5];
    up.read_exact(&mut early).await.unwrap();
    assert_eq!(&early, b"early");
    up.write_all(b"ping").await.unwrap();
    let mut echo = [0u8; 4];
    up.read_exact(&mut echo).await.unwrap();
    assert_eq!(&echo, b"ping");
}

#[tokio::test]
async fn broken_responses_are_errors_not_hangs() {
    let (l, url) = agent().await;
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        read_request(&mut s).await.unwrap();
        s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort")
            .await
            .unwrap();
    });
    let r = send_alone(Method::GET, &url, full(Bytes::new()))
        .await
        .unwrap();
    let err = collect(r.into_body()).await.err().unwrap();
    assert!(err.to_string().contains("5 bytes before the end"), "{err}");
}
