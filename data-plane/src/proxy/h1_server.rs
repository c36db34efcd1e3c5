//! Our own HTTP/1.1 server connection for plain-TCP clients: requests are parsed into `http` types
//! without copying, a body that came with its head is handed over whole, and nothing is held while the
//! connection idles (no read or write buffer, no per-request timer), so an idle keep-alive client costs
//! little more than its task and socket.
//!
//! What it does not serve itself it hands to hyper with the bytes read so far: HTTP/2 with prior
//! knowledge (h2c) and protocol switches (WebSocket `Upgrade`, `CONNECT`), which hyper owns.
//!
//! One watchdog per connection enforces `http.timeouts.idle` between requests and
//! `http.timeouts.read` on request heads (slowloris); on shutdown an idle connection closes at once
//! and a busy one after its response, which says `Connection: close`.

mod body;
mod request;
mod response;
#[cfg(test)]
mod tests;

use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Request, Response};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

pub(crate) use self::body::RequestBody;
use self::request::{H2_PREFACE, Head, HeadError};
use self::response::Answering;
use super::body::{BoxError, ProxyBody};
use super::error::ProxyError;
use super::framing::{Decoded, Decoder};
use super::prefixed::Prefixed;
use super::wire;

/// The timeouts and limits of one connection.
#[derive(Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) idle: Duration,
    pub(crate) read: Duration,
    /// The largest request head read before answering 431.
    pub(crate) max_head: usize,
    /// `http.limits.maxHeaderSize`, for the 431 message.
    pub(crate) max_header_size: u64,
}

/// How a connection ended.
pub(crate) enum Ended<T> {
    /// Closed (by either side, or by a timeout).
    Closed,
    /// To be served by hyper, reading `Prefixed`'s bytes first.
    HandOff(Prefixed<T>),
}

/// Where a connection is, for its watchdog.
#[derive(Clone, Copy)]
enum Phase {
    /// Waiting for a request since then.
    Idle(Instant),
    /// A request head has been arriving since then.
    Head(Instant),
    /// Serving a request.
    Busy,
}

/// What the request loop tells the watchdog (atomics only because the connection's future must be
/// `Send`; both sides run in the same task).
struct State {
    born: Instant,
    /// 0 busy, 1 idle, 2 head.
    kind: AtomicU8,
    /// Microseconds from `born` to the phase's start.
    since: AtomicU64,
    closing: AtomicBool,
}

// === impl State ===

impl State {
    fn set(&self, phase: Phase) {
        let (kind, at) = match phase {
            Phase::Busy => (0, None),
            Phase::Idle(at) => (1, Some(at)),
            Phase::Head(at) => (2, Some(at)),
        };
        if let Some(at) = at {
            let us = at.saturating_duration_since(self.born).as_micros();
            self.since
                .store(u64::try_from(us).unwrap_or(u64::MAX), Ordering::Relaxed);
        }
        self.kind.store(kind, Ordering::Relaxed);
    }

    fn get(&self) -> Phase {
        let at = self.born + Duration::from_micros(self.since.load(Ordering::Relaxed));
        match self.kind.load(Ordering::Relaxed) {
            1 => Phase::Idle(at),
            2 => Phase::Head(at),
            _ => Phase::Busy,
        }
    }

    fn closing(&self) -> bool {
        self.closing.load(Ordering::Relaxed)
    }
}

/// Serves requests on `io` until the client closes, a timeout or shutdown ends the connection, or it
/// must be handed to hyper. `serve` answers each request.
pub(crate) async fn serve_connection<T, S, F>(
    io: T,
    serve: S,
    settings: Settings,
    stop: &mut watch::Receiver<bool>,
) -> io::Result<Ended<T>>
where
    T: AsyncRead + AsyncWrite + Unpin,
    S: Fn(Request<RequestBody>) -> F,
    F: Future<Output = Result<Response<ProxyBody>, Infallible>>,
{
    let born = Instant::now();
    let state = State {
        born,
        kind: AtomicU8::new(1),
        since: AtomicU64::new(0),
        closing: AtomicBool::new(*stop.borrow()),
    };
    let mut work = pin!(requests(io, &serve, settings, &state));
    let tick = (settings.idle.min(settings.read) / 4).max(Duration::from_millis(10));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if state.closing() && matches!(state.get(), Phase::Idle(_)) {
            return Ok(Ended::Closed);
        }
        tokio::select! {
            biased;
            ended = &mut work => return ended,
            changed = stop.changed(), if !state.closing() => {
                // A dropped sender also means the server is going away.
                let _ = changed;
                state.closing.store(true, Ordering::Relaxed);
            }
            _ = ticks.tick() => match state.get() {
                Phase::Idle(since) if since.elapsed() >= settings.idle => return Ok(Ended::Closed),
                Phase::Head(since) if since.elapsed() >= settings.read => {
                    tracing::debug!("request head not received within the read timeout: closing");
                    return Ok(Ended::Closed);
                }
                _ => {}
            },
        }
    }
}

async fn requests<T, S, F>(
    mut io: T,
    serve: &S,
    settings: Settings,
    state: &State,
) -> io::Result<Ended<T>>
where
    T: AsyncRead + AsyncWrite + Unpin,
    S: Fn(Request<RequestBody>) -> F,
    F: Future<Output = Result<Response<ProxyBody>, Infallible>>,
{
    let mut buf = BytesMut::new();
    let mut first = true;
    loop {
        if state.closing() {
            let _ = io.shutdown().await;
            return Ok(Ended::Closed);
        }
        if buf.is_empty() {
            // Nothing is held while the connection waits.
            buf = BytesMut::new();
        }
        state.set(Phase::Idle(Instant::now()));
        // Where the search for the end of the head goes on: a head is parsed only once its blank line
        // is in, so a client trickling it in small pieces costs one scan, not one parse per piece.
        let mut scanned = 0;
        let head = loop {
            if first
                && !buf.is_empty()
                && H2_PREFACE.starts_with(&buf[..buf.len().min(H2_PREFACE.len())])
            {
                if buf.len() >= H2_PREFACE.len() {
                    return Ok(Ended::HandOff(Prefixed::new(io, buf.freeze())));
                }
            } else if head_ends(&buf, &mut scanned) {
                match request::parse(&mut buf) {
                    Ok(Some(head)) => break head,
                    Ok(None) => {}
                    Err(HeadError::TooManyHeaders) => {
                        refuse(
                            &mut io,
                            ProxyError::HeadersTooLarge(settings.max_header_size),
                        )
                        .await;
                        return Ok(Ended::Closed);
                    }
                    Err(HeadError::Malformed(why)) => {
                        refuse(&mut io, ProxyError::BadRequest(why)).await;
                        return Ok(Ended::Closed);
                    }
                }
            }
            if buf.len() >= settings.max_head {
                refuse(
                    &mut io,
                    ProxyError::HeadersTooLarge(settings.max_header_size),
                )
                .await;
                return Ok(Ended::Closed);
            }
            let n = poll_fn(|cx| wire::poll_read(&mut io, &mut buf, wire::HEAD_SPACE, cx)).await?;
            if n == 0 {
                return Ok(Ended::Closed);
            }
            if let Phase::Idle(_) = state.get() {
                state.set(Phase::Head(Instant::now()));
            }
        };
        first = false;
        if head.switches {
            let mut replay = BytesMut::from(head.raw);
            replay.extend_from_slice(&buf);
            return Ok(Ended::HandOff(Prefixed::new(io, replay.freeze())));
        }
        state.set(Phase::Busy);
        let Head {
            method,
            uri,
            version,
            headers,
            body: mut decoder,
            keep_alive,
            expects_continue,
            takes_trailers,
            ..
        } = head;
        let head_request = method == http::Method::HEAD;
        let whole = match decoder.remaining() {
            Some(0) => Some(Bytes::new()),
            Some(n) if buf.len() as u64 >= n => Some(
                buf.split_to(usize::try_from(n).unwrap_or(usize::MAX))
                    .freeze(),
            ),
            _ => None,
        };
        let complete = whole.is_some();
        let (body, feed) = match whole {
            Some(b) => (RequestBody::Whole(Some(b)), None),
            None => {
                let (tx, body) = RequestBody::channel(decoder.remaining());
                (body, Some(tx))
            }
        };
        let mut req = Request::new(body);
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        *req.version_mut() = version;
        *req.headers_mut() = headers;
        let responding = serve(req);
        let (resp, body_read) = match feed {
            None => (unwrap_infallible(responding.await), complete),
            Some(tx) => {
                if expects_continue {
                    io.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
                    io.flush().await?;
                }
                let (resp, fed) = {
                    let mut responding = pin!(responding);
                    let mut feeding = pin!(feed_body(&mut io, &mut buf, &mut decoder, tx));
                    let mut fed = None;
                    let resp = loop {
                        tokio::select! {
                            resp = &mut responding => break unwrap_infallible(resp),
                            done = &mut feeding, if fed.is_none() => fed = Some(done),
                        }
                    };
                    (resp, fed)
                };
                // The response may win the race against the feeder seeing the body's end.
                let ended = decoder.settle(&mut buf).is_ok() && decoder.is_done();
                (resp, fed.unwrap_or(false) || ended)
            }
        };
        // A body not read to its end leaves its rest on the connection: it closes after the response.
        let how = Answering {
            version,
            head_request,
            takes_trailers,
            closing: state.closing() || !keep_alive || !body_read,
        };
        if !response::write(&mut io, resp, how).await? {
            if body_read {
                let _ = io.shutdown().await;
            } else {
                linger(&mut io).await;
            }
            return Ok(Ended::Closed);
        }
    }
}

/// True once `buf` holds the blank line that ends a head (or bytes that cannot start one, for the
/// parser to refuse); `scanned` carries the search over from the previous call.
fn head_ends(buf: &[u8], scanned: &mut usize) -> bool {
    let Some(&first) = buf.first() else {
        return false;
    };
    // A head starts with a method (or empty lines): anything else is for the parser to refuse now.
    if !first.is_ascii_alphabetic() && first != b'\r' && first != b'\n' {
        return true;
    }
    let from = std::mem::replace(scanned, buf.len());
    super::h1_head::end(buf, from).is_some()
}

/// Reads a streamed request body off the connection into the handler's channel; true when it was read
/// to its end (false when the client broke off, or the handler stopped reading it).
async fn feed_body<T: AsyncRead + Unpin>(
    io: &mut T,
    buf: &mut BytesMut,
    decoder: &mut Decoder,
    tx: mpsc::Sender<Result<Bytes, BoxError>>,
) -> bool {
    loop {
        match decoder.decode(buf) {
            Ok(Decoded::Data(data)) => {
                if tx.send(Ok(data)).await.is_err() {
                    return false;
                }
            }
            Ok(Decoded::End) => {
                // The empty chunk marks the real end: a closed channel without it is a cut body.
                let _ = tx.send(Ok(Bytes::new())).await;
                return true;
            }
            Ok(Decoded::NeedMore) => {
                match poll_fn(|cx| wire::poll_read(io, buf, wire::READ_SPACE, cx)).await {
                    Ok(0) => {
                        let _ = tx
                            .send(Err(decoder.at_eof().err().map_or_else(
                                || "the client closed the connection".into(),
                                |e| Box::new(e) as BoxError,
                            )))
                            .await;
                        return false;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let _ = tx.send(Err(Box::new(e))).await;
                        return false;
                    }
                }
            }
            Err(e) => {
                let _ = tx.send(Err(Box::new(e))).await;
                return false;
            }
        }
    }
}

fn unwrap_infallible<T>(r: Result<T, Infallible>) -> T {
    match r {
        Ok(t) => t,
        Err(never) => match never {},
    }
}

/// Answers a request that cannot be read (then the connection closes).
async fn refuse<T: AsyncRead + AsyncWrite + Unpin>(io: &mut T, e: ProxyError) {
    tracing::debug!(error = %e, "refusing a request head");
    let rid = super::headers::request_id(&HeaderMap::new());
    let how = Answering {
        version: http::Version::HTTP_11,
        head_request: false,
        takes_trailers: false,
        closing: true,
    };
    let _ = response::write(io, e.into_response(&rid), how).await;
    linger(io).await;
}

/// Closes after a response while the client may still be sending: our side is shut first and what
/// arrives is read and dropped for a moment, so the close does not become a reset that could destroy
/// the response before the client reads it.
async fn linger<T: AsyncRead + AsyncWrite + Unpin>(io: &mut T) {
    const MAX: usize = 256 * 1024;
    let _ = io.shutdown().await;
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while drained < MAX {
            match io.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    })
    .await;
}
