//! The backend of the proxy load benchmark (`bench/proxy.sh`): a minimal keep-alive HTTP/1.1 server on a
//! single-threaded tokio runtime that answers every request (any method, any path, `/health` included)
//! with the same ~200-byte JSON body, so the benchmark measures the proxy, not the agent. A path that
//! ends in `/stream` gets a short chunked `text/event-stream` reply instead (three events and the
//! end), so the profile-guided build's training run (`tools/pgo/`) exercises the streaming path too.
//!
//! `bench-agent [--listen 127.0.0.1:19090]`; prints `listening on <addr>` once bound.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The fixed reply body (about 200 bytes, like the research note's backend).
const BODY: &str = r#"{"agent":"bench-agent","reply":"ok","model":"none","usage":{"promptTokens":12,"completionTokens":34,"totalTokens":46},"choices":[{"index":0,"finishReason":"stop","text":"benchmark reply body padding....."}]}"#;
/// The streamed reply's events, each sent as one chunk of a chunked body.
const EVENTS: [&str; 3] = [
    "data: {\"delta\":\"bench\"}\n\n",
    "data: {\"delta\":\" reply\"}\n\n",
    "data: [DONE]\n\n",
];
/// Requests larger than this (headers, or a body) close the connection.
const MAX_REQUEST: usize = 64 * 1024;

fn main() -> std::process::ExitCode {
    let mut listen: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 19090));
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let parsed = match a.as_str() {
            "--listen" => args.next().and_then(|v| v.parse().ok()),
            _ => None,
        };
        match parsed {
            Some(addr) => listen = addr,
            None => {
                eprintln!("usage: bench-agent [--listen 127.0.0.1:19090]");
                return std::process::ExitCode::from(2);
            }
        }
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench-agent: runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(serve(listen)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-agent: {listen}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(listen: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    println!("listening on {}", listener.local_addr()?);
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let response: &'static [u8] = Box::leak(response.into_bytes().into_boxed_slice());
    let mut stream = String::from(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\
         transfer-encoding: chunked\r\n\r\n",
    );
    for event in EVENTS {
        stream.push_str(&format!("{:x}\r\n{event}\r\n", event.len()));
    }
    stream.push_str("0\r\n\r\n");
    let replies = Replies {
        json: response,
        stream: Box::leak(stream.into_bytes().into_boxed_slice()),
    };
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                eprintln!("bench-agent: accept: {e}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = connection(stream, replies).await;
        });
    }
}

/// The two fixed replies, whole (head and body).
#[derive(Clone, Copy)]
struct Replies {
    json: &'static [u8],
    stream: &'static [u8],
}

/// Serves one keep-alive connection: for each complete request in the buffer (pipelining included),
/// skips its body and writes the fixed reply its path asks for.
async fn connection(mut s: TcpStream, replies: Replies) -> std::io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut out: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 8192];
    loop {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut consumed = 0;
        while let Some((len, streamed)) = request_len(&buf[consumed..]) {
            consumed += len;
            let reply = if streamed {
                replies.stream
            } else {
                replies.json
            };
            out.extend_from_slice(reply);
        }
        buf.drain(..consumed);
        if buf.len() > MAX_REQUEST {
            return Ok(());
        }
        if !out.is_empty() {
            s.write_all(&out).await?;
            out.clear();
        }
    }
}

/// The length of the first complete request in `b` (head plus `content-length` body), if complete,
/// and whether its path ends in `/stream`. Chunked request bodies are not supported (wrk and the
/// proxies send `content-length`).
fn request_len(b: &[u8]) -> Option<(usize, bool)> {
    let head_end = b.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&b[..head_end]).ok()?;
    let path = head.split(' ').nth(1).unwrap_or("");
    let streamed = path.split('?').next().unwrap_or(path).ends_with("/stream");
    let body = head
        .split("\r\n")
        .filter_map(|line| line.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    (b.len() >= head_end + body).then_some((head_end + body, streamed))
}
