//! A byte-recording agent: a plain TCP server that keeps every byte each connection delivered and
//! reads them as HTTP/1.1 requests itself (no HTTP library between the wire and the record), so a
//! test can say exactly what reached an agent through the gateway.
//!
//! Each complete request is answered `200` with `METHOD target` as its body; a WebSocket upgrade
//! (`upgrade: websocket`) is answered `101` with the RFC 6455 sample key's accept value (or a wrong
//! one when the target contains `bad-accept`), then every byte is echoed back and recorded as a
//! tunnel message. A request cut off by its connection closing is recorded as incomplete.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// The `Sec-WebSocket-Accept` of RFC 6455 §1.3's sample key `dGhlIHNhbXBsZSBub25jZQ==`.
pub const SAMPLE_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// What the agent saw, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// A whole request: method, target, lower-case header fields as received, decoded body.
    Request {
        /// The method.
        method: String,
        /// The request target.
        target: String,
        /// Header fields, names lower-cased.
        headers: Vec<(String, String)>,
        /// The body, chunked coding removed.
        body: Vec<u8>,
    },
    /// The connection closed inside a request (its head, if any was whole, is summarised).
    Incomplete(String),
    /// Bytes received through a WebSocket tunnel.
    Tunnel(Vec<u8>),
}

/// A running byte-recording agent; stopped when dropped (the listener thread ends with the process).
pub struct WireAgent {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    raw: Arc<Mutex<Vec<u8>>>,
}

// === impl WireAgent ===

impl WireAgent {
    /// Starts an agent on `127.0.0.1:0`.
    pub fn start() -> WireAgent {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind wire agent");
        let addr = listener.local_addr().expect("wire agent addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let raw = Arc::new(Mutex::new(Vec::new()));
        let (s, r) = (seen.clone(), raw.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (s, r) = (s.clone(), r.clone());
                std::thread::spawn(move || serve(stream, &s, &r));
            }
        });
        WireAgent { addr, seen, raw }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What was seen since the last call (and forgets it).
    pub fn take(&self) -> Vec<Seen> {
        self.raw.lock().expect("wire agent lock").clear();
        std::mem::take(&mut *self.seen.lock().expect("wire agent lock"))
    }

    /// What was seen since the last [`take`](Self::take), kept.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("wire agent lock").clone()
    }

    /// Every byte received since the last [`take`](Self::take), all connections in arrival order.
    pub fn raw(&self) -> Vec<u8> {
        self.raw.lock().expect("wire agent lock").clone()
    }
}

/// A one-line summary of what was seen: `METHOD target`, then the watched fields present
/// (` name=value`; `x-forwarded-host` only when it is not the tests' usual host `h`), then ` body=…`
/// when there is one; `INCOMPLETE …`; `TUNNEL …`.
pub fn summary(seen: &Seen) -> String {
    const WATCHED: [&str; 6] = [
        "upgrade",
        "http2-settings",
        "x_forwarded_for",
        "x-forwarded-host",
        "sec-websocket-key",
        "x-smuggled",
    ];
    match seen {
        Seen::Request {
            method,
            target,
            headers,
            body,
        } => {
            let mut s = format!("{method} {target}");
            for w in WATCHED {
                let usual = |n: &str, v: &str| n == "x-forwarded-host" && v == "h";
                for (n, v) in headers.iter().filter(|(n, v)| n == w && !usual(n, v)) {
                    s.push_str(&format!(" {n}={v}"));
                }
            }
            if !body.is_empty() {
                s.push_str(&format!(" body={}", String::from_utf8_lossy(body)));
            }
            s
        }
        Seen::Incomplete(what) => format!("INCOMPLETE {what}"),
        Seen::Tunnel(b) => format!("TUNNEL {}", String::from_utf8_lossy(b)),
    }
}

fn serve(mut s: TcpStream, seen: &Mutex<Vec<Seen>>, raw: &Mutex<Vec<u8>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let mut tunnel = false;
    loop {
        let n = match s.read(&mut chunk) {
            Ok(0) | Err(_) => {
                if !tunnel && !buf.is_empty() {
                    let what = head_line(&buf);
                    seen.lock()
                        .expect("wire agent lock")
                        .push(Seen::Incomplete(what));
                }
                return;
            }
            Ok(n) => n,
        };
        raw.lock()
            .expect("wire agent lock")
            .extend_from_slice(&chunk[..n]);
        if tunnel {
            seen.lock()
                .expect("wire agent lock")
                .push(Seen::Tunnel(chunk[..n].to_vec()));
            if s.write_all(&chunk[..n]).is_err() {
                return;
            }
            continue;
        }
        buf.extend_from_slice(&chunk[..n]);
        while let Some((req, used)) = parse(&buf) {
            buf.drain(..used);
            let Seen::Request {
                method,
                target,
                headers,
                ..
            } = &req
            else {
                break;
            };
            let ws = headers
                .iter()
                .any(|(n, v)| n == "upgrade" && v.eq_ignore_ascii_case("websocket"));
            let answer = if ws {
                tunnel = true;
                let accept = if target.contains("bad-accept") {
                    "d3Jvbmc="
                } else {
                    SAMPLE_ACCEPT
                };
                format!(
                    "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-accept: {accept}\r\n\r\n"
                )
            } else {
                let body = format!("{method} {target}");
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                )
            };
            seen.lock().expect("wire agent lock").push(req);
            if s.write_all(answer.as_bytes()).is_err() {
                return;
            }
            if tunnel {
                if !buf.is_empty() {
                    seen.lock()
                        .expect("wire agent lock")
                        .push(Seen::Tunnel(std::mem::take(&mut buf)));
                }
                break;
            }
        }
    }
}

fn head_line(buf: &[u8]) -> String {
    let end = buf
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(buf.len().min(80));
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// A whole request at the start of `buf` and the bytes it took, or `None` until it is in.
fn parse(buf: &[u8]) -> Option<(Seen, usize)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..end - 4]).into_owned();
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap_or("");
    let mut parts = line.split(' ');
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let field = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let (body, used) = if field("transfer-encoding").is_some() {
        dechunk(&buf[end..]).map(|(b, n)| (b, end + n))?
    } else {
        let len: usize = field("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if buf.len() < end + len {
            return None;
        }
        (buf[end..end + len].to_vec(), end + len)
    };
    Some((
        Seen::Request {
            method,
            target,
            headers,
            body,
        },
        used,
    ))
}

/// A well-formed chunked body (the gateway's own writing) and the bytes it took.
fn dechunk(buf: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut at = 0;
    let mut body = Vec::new();
    loop {
        let line_end = at + buf[at..].windows(2).position(|w| w == b"\r\n")?;
        let size_text = String::from_utf8_lossy(&buf[at..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        at = line_end + 2;
        if size == 0 {
            // Trailers until an empty line.
            loop {
                let e = at + buf[at..].windows(2).position(|w| w == b"\r\n")?;
                let empty = e == at;
                at = e + 2;
                if empty {
                    return Some((body, at));
                }
            }
        }
        if buf.len() < at + size + 2 {
            return None;
        }
        body.extend_from_slice(&buf[at..at + size]);
        at += size + 2;
    }
}
