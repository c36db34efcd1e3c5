//! The server connection against raw clients on real sockets: pipelining, HTTP/1.0, bad heads,
//! streamed bodies, hand-overs to hyper, timeouts and shutdown.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::{Ended, RequestBody, Settings, serve_connection};
use crate::http1::body::full;
use crate::http1::raw_fields::Answer;
use crate::http1::req_headers::RawHead;
use crate::proxy::error::HeadRefusals;

const SETTINGS: Settings = Settings {
    idle: Duration::from_secs(5),
    read: Duration::from_secs(5),
    max_head: 8192,
    max_header_size: 4096,
    policy: crate::http1::request::Policy {
        keep_underscores: false,
        websocket: true,
    },
};

/// Echoes the method, path and body.
async fn echo(req: Request<RequestBody>, _headers: RawHead) -> Answer {
    // A request refused before its body is read, as the gateway refuses an oversized one.
    if req.uri().path() == "/refuse" {
        let mut resp = Response::new(full("refused"));
        *resp.status_mut() = http::StatusCode::PAYLOAD_TOO_LARGE;
        return Answer::from_response(resp);
    }
    let line = format!("{} {} ", req.method(), req.uri().path());
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => Bytes::from(format!("body error: {e}")),
    };
    Answer::from_response(Response::new(full([line.as_bytes(), &body].concat())))
}

/// A served connection and the client's end; the task's result says how the connection ended.
async fn connect(
    settings: Settings,
    stop: watch::Receiver<bool>,
) -> (TcpStream, tokio::task::JoinHandle<&'static str>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    let (server, _) = l.accept().await.unwrap();
    let task = tokio::spawn(async move {
        match serve_connection(server, echo, HeadRefusals, settings, &stop).await {
            Ok(Ended::Closed) => "closed",
            Ok(Ended::HandOff(mut io)) => {
                let mut replay = vec![0u8; 64];
                let n = io.read(&mut replay).await.unwrap();
                if replay[..n].starts_with(b"PRI * HTTP/2.0") {
                    "h2c"
                } else if replay[..n].starts_with(b"GET /ws HTTP/1.1") {
                    "upgrade"
                } else {
                    "handed over something else"
                }
            }
            Err(_) => "error",
        }
    });
    (client, task)
}

fn no_stop() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    std::mem::forget(tx);
    rx
}

/// Reads until `n` responses ended (each with content-length) or the connection closed.
async fn read_all(c: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), c.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let (mut c, task) = connect(SETTINGS, no_stop()).await;
    c.write_all(
        b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nonePOST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\ntwoGET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let out = read_all(&mut c).await;
    let bodies: Vec<_> = out
        .split("\r\n\r\n")
        .skip(1)
        .map(|s| &s[..s.find("HTTP/").unwrap_or(s.len())])
        .collect();
    assert_eq!(bodies, ["POST /a one", "POST /b two", "GET /c "], "{out}");
    assert!(out.matches("HTTP/1.1 200 OK").count() == 3);
    assert!(
        out.ends_with("GET /c "),
        "the connection closed after the last"
    );
    assert_eq!(task.await.unwrap(), "closed");
}

#[tokio::test]
async fn http10_clients_get_http10_answers_and_a_close() {
    let (mut c, _task) = connect(SETTINGS, no_stop()).await;
    c.write_all(b"GET /old HTTP/1.0\r\n\r\n").await.unwrap();
    let out = read_all(&mut c).await;
    assert!(out.starts_with("HTTP/1.0 200 OK\r\n"), "{out}");
    assert!(
        out.contains("connection: close\r\n") && out.ends_with("GET /old "),
        "{out}"
    );
}

#[tokio::test]
async fn bad_and_oversized_heads_are_refused_with_json() {
    let (mut c, task) = connect(SETTINGS, no_stop()).await;
    c.write_all(b"GET / HTTP/1.1\r\nHost: h\r\nBad Header\r\n\r\n")
        .await
        .unwrap();
    let out = read_all(&mut c).await;
    assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
    assert!(out.contains("\"error\":\"bad request: "), "{out}");
    assert_eq!(task.await.unwrap(), "closed");

    let (mut c, _task) = connect(SETTINGS, no_stop()).await;
    let big = format!(
        "GET / HTTP/1.1\r\nHost: h\r\nx-big: {}\r\n\r\n",
        "a".repeat(9000)
    );
    let _ = c.write_all(big.as_bytes()).await;
    let out = read_all(&mut c).await;
    assert!(
        out.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{out}"
    );
    assert!(out.contains("larger than 4096 bytes"), "{out}");
}

#[tokio::test]
async fn chunked_and_late_bodies_stream_in_and_expect_gets_100() {
    let (mut c, _task) = connect(SETTINGS, no_stop()).await;
    c.write_all(b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n")
        .await
        .unwrap();
    let mut cont = [0u8; 25];
    c.read_exact(&mut cont).await.unwrap();
    assert_eq!(&cont, b"HTTP/1.1 100 Continue\r\n\r\n");
    c.write_all(b"3\r\nabc\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    c.write_all(b"2\r\nde\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let out = read_all(&mut c).await;
    assert!(out.contains("\r\n\r\nPOST /up abcde"), "{out}");
    assert!(
        out.ends_with("GET /next "),
        "the connection carried the next request: {out}"
    );
}

#[tokio::test]
async fn a_body_refused_unread_is_never_invited() {
    let (mut c, task) = connect(SETTINGS, no_stop()).await;
    c.write_all(
        b"POST /refuse HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    )
    .await
    .unwrap();
    let out = read_all(&mut c).await;
    assert!(
        out.starts_with("HTTP/1.1 413 Payload Too Large\r\n") && out.ends_with("refused"),
        "{out}"
    );
    assert!(
        out.contains("connection: close\r\n"),
        "the unread body's connection closes: {out}"
    );
    assert_eq!(task.await.unwrap(), "closed");
}

#[tokio::test]
async fn h2c_and_upgrades_are_handed_over_with_their_bytes() {
    let (mut c, task) = connect(SETTINGS, no_stop()).await;
    c.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(task.await.unwrap(), "h2c");
    let (mut c, task) = connect(SETTINGS, no_stop()).await;
    c.write_all(
        b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    assert_eq!(task.await.unwrap(), "upgrade");
}

#[tokio::test]
async fn idle_and_slow_heads_are_cut_off() {
    let quick = Settings {
        idle: Duration::from_millis(300),
        read: Duration::from_millis(300),
        ..SETTINGS
    };
    let (mut c, task) = connect(quick, no_stop()).await;
    c.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        .await
        .unwrap();
    let out = read_all(&mut c).await;
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(2), task)
            .await
            .unwrap()
            .unwrap(),
        "closed",
        "an idle keep-alive connection closes"
    );
    let (mut c, task) = connect(quick, no_stop()).await;
    c.write_all(b"GET / HTTP/1.1\r\nHost: h\r\nx-slow: ")
        .await
        .unwrap();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(2), task)
            .await
            .unwrap()
            .unwrap(),
        "closed",
        "a head that never completes is cut off"
    );
}

#[tokio::test]
async fn shutdown_closes_idle_connections_and_finishes_busy_ones() {
    let (tx, rx) = watch::channel(false);
    let (mut idle, idle_task) = connect(SETTINGS, rx.clone()).await;
    idle.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 15];
    idle.read_exact(&mut first).await.unwrap();
    let (mut busy, busy_task) = connect(SETTINGS, rx).await;
    // A request whose body is still coming when shutdown starts.
    busy.write_all(b"POST /slow HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nab")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    tx.send(true).unwrap();
    assert_eq!(idle_task.await.unwrap(), "closed");
    busy.write_all(b"cd").await.unwrap();
    let out = read_all(&mut busy).await;
    assert!(
        out.contains("connection: close\r\n") && out.ends_with("POST /slow abcd"),
        "{out}"
    );
    assert_eq!(busy_task.await.unwrap(), "closed");
}

#[tokio::test]
async fn a_head_trickled_in_byte_by_byte_is_parsed_once_whole() {
    let (mut c, _task) = connect(SETTINGS, no_stop()).await;
    c.set_nodelay(true).unwrap();
    for b in
        b"\r\nPOST /slow HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    {
        c.write_all(&[*b]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let out = read_all(&mut c).await;
    assert!(
        out.starts_with("HTTP/1.1 200 OK\r\n") && out.ends_with("POST /slow ok"),
        "{out}"
    );
}

#[test]
fn the_end_of_a_head_is_found_across_reads() {
    let mut scanned = 0;
    assert!(!super::head_ends(b"GET / HTTP/1.1\r\n", &mut scanned));
    assert!(!super::head_ends(
        b"GET / HTTP/1.1\r\nHost: a\r",
        &mut scanned
    ));
    assert!(super::head_ends(
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        &mut scanned
    ));
    let mut scanned = 0;
    assert!(
        super::head_ends(b"\x16\x03\x01", &mut scanned),
        "TLS on a plain port is refused at once"
    );
}

#[tokio::test]
async fn a_broken_chunked_body_is_refused_and_ends_the_connection() {
    // The audit's reproducer: nothing after the broken body is read as a request.
    let (mut c, task) = connect(SETTINGS, no_stop()).await;
    c.write_all(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n0\r\n\r\n\
          GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n",
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    c.read_to_end(&mut out).await.unwrap();
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 400 "), "{out}");
    assert!(out.contains("connection: close"), "{out}");
    assert_eq!(out.matches("HTTP/1.1").count(), 1, "{out}");
    assert_eq!(task.await.unwrap(), "closed");
}
