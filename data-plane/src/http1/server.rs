//! Our own HTTP/1.1 server connection for plain-TCP clients: request lines are parsed into `http`
//! types and header fields read in place (see [`RawHead`]), without copying; a body that came with
//! its head is handed over whole. A busy connection reuses its read buffer from request to request;
//! one that has idled for a watchdog tick holds nothing (no read or write buffer, no per-request
//! timer), so an idle keep-alive client costs little more than its task and socket.
//!
//! Requests are read under the codec's parsing policy ([`crate::http1`]): a refused one is answered
//! and its connection closed, and a chunked body whose broken framing is already in hand never
//! reaches the handler. What it does not serve itself it hands to hyper with the bytes read so far:
//! HTTP/2 with prior knowledge (h2c) and allowed WebSocket upgrades, which hyper owns.
//!
//! One watchdog per connection enforces `http.timeouts.idle` between requests and
//! `http.timeouts.read` on request heads (slowloris); on shutdown an idle connection closes at once
//! and a busy one after its response, which says `Connection: close`.

mod body;
mod response;
#[cfg(test)]
mod tests;

use std::future::{Future, poll_fn};
use std::io;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::Request;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch};

pub(crate) use self::body::RequestBody;
use self::response::Answering;
use super::prefixed::Prefixed;
use super::raw_fields::Answer;
use super::req_headers::RawHead;
use super::wire;
use crate::http1::body::{BoxError, Whole};
use crate::http1::framing::DecodeError;
use crate::http1::framing::{Decoded, Decoder};
use crate::http1::request::{self, H2_PREFACE, Head, HeadError, Policy};

/// The timeouts and limits of one connection.
#[derive(Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) idle: Duration,
    pub(crate) read: Duration,
    /// The largest request head read before answering 431.
    pub(crate) max_head: usize,
    /// `http.limits.maxHeaderSize`, for the 431 message.
    pub(crate) max_header_size: u64,
    /// What the parsing policy leaves to the config.
    pub(crate) policy: Policy,
}

/// Why a request is refused before it is served (the connection closes after the answer).
#[derive(Debug)]
pub(crate) enum Refusal {
    /// A method the codec does not serve (`CONNECT`): 405.
    MethodNotAllowed(http::Method),
    /// A head larger than its limit, or with too many fields: 431 (`Settings::max_header_size`).
    HeadersTooLarge(u64),
    /// A head or framing the parsing policy refuses: 400, and why.
    BadRequest(String),
}

/// How the user of the server answers a refused request (the gateway: its JSON error), so the
/// codec need not know its error type. Static dispatch: called only on refusals.
pub(crate) trait Refuse {
    /// The answer to send for `why`.
    fn answer(&self, why: Refusal) -> Answer;
}

/// A client's chunked body broke its framing: the client's fault (400), never the agent's.
#[derive(Debug, thiserror::Error)]
#[error("invalid chunked request body: {0}")]
pub(crate) struct ClientFraming(#[source] pub(crate) DecodeError);

/// How a connection ended.
pub(crate) enum Ended<T> {
    /// Closed (by either side, or by a timeout).
    Closed,
    /// To be served by hyper, reading `Prefixed`'s bytes first.
    HandOff(Prefixed<T>),
}

/// Serves requests on `io` until the client closes, a timeout or shutdown ends the connection, or
/// it must be handed to hyper. `serve` answers each request.
///
/// A function returning an `async move` block rather than an `async fn`, whose arguments would be
/// kept twice in the connection's future (as arguments and as the body's locals).
#[allow(clippy::manual_async_fn)] // On purpose: see above.
pub(crate) fn serve_connection<'a, T, S, F, R>(
    mut io: T,
    serve: S,
    refusals: R,
    settings: Settings,
    stop: &'a watch::Receiver<bool>,
) -> impl Future<Output = io::Result<Ended<T>>> + 'a
where
    T: AsyncRead + AsyncWrite + Unpin + 'a,
    S: Fn(Request<RequestBody>, RawHead) -> F + 'a,
    F: Future<Output = Answer> + 'a,
    R: Refuse + 'a,
{
    async move {
        let mut watch = Watchdog::new(settings, stop);
        let mut buf = BytesMut::new();
        // Room for response heads, lent to each response and kept while the connection is busy.
        let mut spare = BytesMut::new();
        let mut first = true;
        loop {
            if watch.closing() {
                let _ = io.shutdown().await;
                return Ok(Ended::Closed);
            }
            if buf.is_empty() && buf.capacity() > 0 {
                // The previous request's bytes are gone by now: its room is reclaimed in place, so
                // a busy connection reads its next head without allocating. A large room (a
                // streamed body's) is not kept, and one idle for a tick is given back (below).
                buf.reserve(wire::HEAD_SPACE);
                if buf.capacity() > 2 * wire::HEAD_SPACE {
                    buf = BytesMut::new();
                }
            }
            watch.enter(Phase::Idle);
            // Where the search for the end of the head goes on: a head is parsed only once its
            // blank line is in, so a client trickling it in small pieces costs one scan, not one
            // parse per piece.
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
                    match request::parse(&mut buf, settings.policy) {
                        Ok(Some(head)) => break head,
                        Ok(None) => {}
                        Err(HeadError::MethodNotAllowed(m)) => {
                            Box::pin(refuse(&mut io, &refusals, Refusal::MethodNotAllowed(m)))
                                .await;
                            return Ok(Ended::Closed);
                        }
                        Err(HeadError::TooManyHeaders) => {
                            // Boxed, like every cold path here: a connection's future is as large
                            // as its largest state, and these (a whole response write, a drain
                            // buffer) would more than double every idle connection's size.
                            Box::pin(refuse(
                                &mut io,
                                &refusals,
                                Refusal::HeadersTooLarge(settings.max_header_size),
                            ))
                            .await;
                            return Ok(Ended::Closed);
                        }
                        Err(HeadError::Malformed(why)) => {
                            Box::pin(refuse(&mut io, &refusals, Refusal::BadRequest(why))).await;
                            return Ok(Ended::Closed);
                        }
                    }
                }
                if buf.len() >= settings.max_head {
                    Box::pin(refuse(
                        &mut io,
                        &refusals,
                        Refusal::HeadersTooLarge(settings.max_header_size),
                    ))
                    .await;
                    return Ok(Ended::Closed);
                }
                // Part of a head is in and more is awaited: the head's read timeout runs from now
                // (a head that arrives in one read never needs the clock).
                if !buf.is_empty() && watch.phase == Phase::Idle {
                    watch.enter(Phase::Head);
                }
                // The watchdog runs only while a head is awaited: a busy connection costs it
                // nothing.
                let read =
                    poll_fn(
                        |cx| match wire::poll_read(&mut io, &mut buf, wire::HEAD_SPACE, cx) {
                            Poll::Ready(r) => Poll::Ready(Some(r)),
                            Poll::Pending => {
                                let expired = watch.poll_expired(cx);
                                if buf.is_empty() && watch.idled() {
                                    // Nothing is held while the connection idles.
                                    buf = BytesMut::new();
                                    spare = BytesMut::new();
                                }
                                expired.map(|()| None)
                            }
                        },
                    )
                    .await;
                match read {
                    Some(Ok(0)) | None => return Ok(Ended::Closed),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e),
                }
            };
            first = false;
            // Moved out whole, never borrowed: a local that is borrowed or partly moved keeps its
            // room in the connection's future across every later wait (and so in every idle
            // connection).
            let Head {
                method,
                uri,
                version,
                raw,
                spans,
                body: mut decoder,
                keep_alive,
                expects_continue,
                takes_trailers,
                switches,
                asterisk,
            } = head;
            if switches {
                let mut replay = BytesMut::from(raw);
                replay.extend_from_slice(&buf);
                return Ok(Ended::HandOff(Prefixed::new(io, replay.freeze())));
            }
            if asterisk {
                // `OPTIONS *` asks about the server, not a resource: no route, no agent.
                let how = Answering {
                    version,
                    head_request: false,
                    takes_trailers: false,
                    closing: watch.closing() || !keep_alive,
                };
                if !Box::pin(response::write(&mut io, server_options(), how, &mut spare)).await? {
                    return Ok(Ended::Closed);
                }
                continue;
            }
            if let Err(e) = decoder.check(&buf) {
                // A chunked body whose broken framing is already in hand never reaches an agent.
                Box::pin(refuse(
                    &mut io,
                    &refusals,
                    Refusal::BadRequest(ClientFraming(e).to_string()),
                ))
                .await;
                return Ok(Ended::Closed);
            }
            let headers = RawHead::new(raw, spans);
            let head_request = method == http::Method::HEAD;
            let (body, feed) = match decoder.remaining() {
                Some(0) => (RequestBody::Whole(Whole::new(Bytes::new())), None),
                Some(n) if buf.len() as u64 >= n => {
                    let whole = buf.split_to(usize::try_from(n).unwrap_or(usize::MAX));
                    (RequestBody::Whole(Whole::new(whole.freeze())), None)
                }
                remaining => {
                    let (tx, first_read, body) = RequestBody::channel(remaining);
                    // `100 Continue` only once the handler reads the body: a request it refuses
                    // first (auth, size, no route) is answered without inviting the body.
                    let invite = expects_continue.then_some(first_read);
                    (body, Some((tx, invite)))
                }
            };
            let complete = feed.is_none();
            let mut responding = pin!(serve(request(method, uri, version, body), headers));
            let mut fed = None;
            let resp = 'answer: {
                if let Some((tx, invite)) = feed {
                    let feeding = pin!(feed_body(&mut io, &mut buf, &mut decoder, tx, invite));
                    tokio::select! {
                        resp = responding.as_mut() => break 'answer resp,
                        done = feeding => fed = Some(done),
                    }
                }
                if !complete && fed != Some(true) {
                    break 'answer responding.as_mut().await;
                }
                // The request is all in: a client that goes away now takes its request with it.
                match answer_or_hangup(&mut io, &mut buf, responding, settings.max_head).await {
                    Some(resp) => resp,
                    None => {
                        tracing::debug!("the client closed its connection before the response");
                        return Ok(Ended::Closed);
                    }
                }
            };
            // The response may win the race against the feeder seeing the body's end.
            let body_read = complete
                || fed == Some(true)
                || (decoder.settle(&mut buf).is_ok() && decoder.is_done());
            // A body not read to its end leaves its rest on the connection: it closes after the
            // response.
            let how = Answering {
                version,
                head_request,
                takes_trailers,
                closing: watch.closing() || !keep_alive || !body_read,
            };
            if !response::write(&mut io, resp, how, &mut spare).await? {
                if body_read {
                    let _ = io.shutdown().await;
                } else {
                    Box::pin(linger(&mut io)).await;
                }
                return Ok(Ended::Closed);
            }
        }
    }
}

/// The request handed to the handler (built here, not in the connection's future, so that future
/// keeps no room for it).
fn request(
    method: http::Method,
    uri: http::Uri,
    version: http::Version,
    body: RequestBody,
) -> Request<RequestBody> {
    let mut req = Request::new(body);
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.version_mut() = version;
    req
}

/// The answer to `OPTIONS *`: the methods the gateway passes on.
fn server_options() -> Answer {
    let mut resp = http::Response::new(crate::http1::body::full(Bytes::new()));
    resp.headers_mut().insert(
        http::header::ALLOW,
        http::HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
    );
    Answer::from_response(resp)
}

/// Where a connection is, for its watchdog.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a request.
    Idle,
    /// A request head is arriving.
    Head,
}

/// Enforces `http.timeouts.idle` between requests and `http.timeouts.read` on heads (slowloris),
/// and notices shutdown. It is polled only while the connection waits for a head, and measures a
/// phase in ticks of one timer per connection (a quarter of the shorter timeout), so neither a
/// request nor a wait reads the clock: a phase ends between its timeout and a tick past it.
struct Watchdog<'a> {
    settings: Settings,
    phase: Phase,
    /// Ticks seen since the phase began.
    ticks: u32,
    tick: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    /// The timer holds the task's waker (it is polled again only when it fired or the waker
    /// changed).
    armed: bool,
    stop: &'a watch::Receiver<bool>,
    /// Wakes the connection when shutdown starts; polled again only when the task's waker changes.
    stopping: Pin<Box<dyn Future<Output = ()> + Send + 'a>>,
    registered: Option<Waker>,
    closing: bool,
}

// === impl Watchdog ===

impl<'a> Watchdog<'a> {
    fn new(settings: Settings, stop: &'a watch::Receiver<bool>) -> Self {
        let tick = (settings.idle.min(settings.read) / 4).max(Duration::from_millis(10));
        let mut watcher = stop.clone();
        Self {
            settings,
            phase: Phase::Idle,
            ticks: 0,
            tick,
            timer: Box::pin(tokio::time::sleep(tick)),
            armed: false,
            stop,
            // A dropped sender also means the server is going away.
            stopping: Box::pin(async move {
                let _ = watcher.changed().await;
            }),
            registered: None,
            closing: *stop.borrow(),
        }
    }

    /// Starts timing `phase`. A tick that fired before it began does not count for it.
    fn enter(&mut self, phase: Phase) {
        self.phase = phase;
        self.ticks = 0;
        if self.armed && self.timer.is_elapsed() {
            self.rearm();
        }
    }

    fn rearm(&mut self) {
        let next = tokio::time::Instant::now() + self.tick;
        self.timer.as_mut().reset(next);
        self.armed = false;
    }

    /// True once the connection has waited for a request through a whole tick.
    fn idled(&self) -> bool {
        self.phase == Phase::Idle && self.ticks > 0
    }

    /// True once shutdown has started (an atomic load: it runs before every request and response).
    fn closing(&mut self) -> bool {
        if !self.closing {
            self.closing = self.stop.has_changed().unwrap_or(true);
        }
        self.closing
    }

    /// True when the phase has lasted past its timeout: the first of its ticks may come at once, so
    /// one more than the timeout's worth are needed.
    fn expired(&self) -> bool {
        let limit = match self.phase {
            Phase::Idle => self.settings.idle,
            Phase::Head => self.settings.read,
        };
        let needed = limit.as_nanos().div_ceil(self.tick.as_nanos().max(1)) + 1;
        u128::from(self.ticks) >= needed
    }

    /// Ready when the waiting connection must close: shutdown started, or its idle or head time
    /// ran out.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let fresh = !self
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()));
        if fresh {
            // Once complete, the shutdown future is never polled again.
            if !self.closing && self.stopping.as_mut().poll(cx).is_ready() {
                self.closing = true;
            }
            self.registered = Some(cx.waker().clone());
            self.armed = false;
        }
        if self.closing() && self.phase == Phase::Idle {
            return Poll::Ready(());
        }
        if self.armed && !self.timer.is_elapsed() {
            return Poll::Pending;
        }
        while self.timer.as_mut().poll(cx).is_ready() {
            self.ticks = self.ticks.saturating_add(1);
            if self.expired() {
                if self.phase == Phase::Head {
                    tracing::debug!("request head not received within the read timeout: closing");
                }
                return Poll::Ready(());
            }
            self.rearm();
        }
        self.armed = true;
        Poll::Pending
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
    crate::http1::head::end(buf, from).is_some()
}

/// The handler's answer, or `None` when the client closes its connection first: then the handler's
/// future is dropped, which ends the agent call and frees its place in `maxConcurrentRequests` (as
/// nginx and hyper do; a client that half-closes is taken to have gone). Meanwhile bytes the client
/// pipelines are kept in `buf`, up to `cap`. A plain socket is not read again after a short read
/// until epoll reports more, so watching costs no system call.
async fn answer_or_hangup<T: AsyncRead + Unpin>(
    io: &mut T,
    buf: &mut BytesMut,
    mut responding: Pin<&mut impl Future<Output = Answer>>,
    cap: usize,
) -> Option<Answer> {
    poll_fn(|cx| {
        if let Poll::Ready(resp) = responding.as_mut().poll(cx) {
            return Poll::Ready(Some(resp));
        }
        while buf.len() < cap {
            match wire::poll_read(io, buf, wire::HEAD_SPACE, cx) {
                Poll::Ready(Ok(0) | Err(_)) => return Poll::Ready(None),
                Poll::Ready(Ok(_)) => {}
                Poll::Pending => break,
            }
        }
        Poll::Pending
    })
    .await
}

/// Reads a streamed request body off the connection into the handler's channel; true when it was
/// read to its end (false when the client broke off, or the handler stopped reading it). With
/// `invite` (the client expects `100 Continue`), the body is invited once the handler first reads
/// it, and not at all when it never does.
async fn feed_body<T: AsyncRead + AsyncWrite + Unpin>(
    io: &mut T,
    buf: &mut BytesMut,
    decoder: &mut Decoder,
    tx: mpsc::Sender<Result<Bytes, BoxError>>,
    invite: Option<oneshot::Receiver<()>>,
) -> bool {
    if let Some(first_read) = invite {
        if first_read.await.is_err() {
            return false;
        }
        let sent = io.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await;
        if sent.is_err() || io.flush().await.is_err() {
            return false;
        }
    }
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
                                |e| Box::new(ClientFraming(e)) as BoxError,
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
                let _ = tx.send(Err(Box::new(ClientFraming(e)))).await;
                return false;
            }
        }
    }
}

/// Answers a request that cannot be read (then the connection closes).
async fn refuse<T: AsyncRead + AsyncWrite + Unpin, R: Refuse>(
    io: &mut T,
    refusals: &R,
    why: Refusal,
) {
    let answer = refusals.answer(why);
    let how = Answering {
        version: http::Version::HTTP_11,
        head_request: false,
        takes_trailers: false,
        closing: true,
    };
    let _ = response::write(io, answer, how, &mut BytesMut::new()).await;
    linger(io).await;
}

/// Closes after a response while the client may still be sending: our side is shut first and what
/// arrives is read and dropped for a moment, so the close does not become a reset that could
/// destroy the response before the client reads it.
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
