//! One request/response exchange with an agent over a pooled HTTP/1.1 connection.
//!
//! The head goes out with a whole small body in one write. A streamed body is sent while the response
//! is watched for: an agent that answers early (a 413, say) is heard, the rest of the body is not sent
//! and the connection closes after the response. A request that fails on a reused connection before
//! any response byte (the agent closed it while idle) is sent once more on a new connection when its
//! body is whole in hand and the agent cannot have acted on it: the request did not get out whole, or
//! its method is idempotent (as Go's and hyper's clients do).

use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use http::{Method, Request, Response};
use hyper::body::Body;
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;

use super::body::H1Body;
use super::error::AgentError;
use super::head::{self, Forward, Framing, MAX_HEAD, Parsed};
use super::pool::{Conn, Pool};
use crate::http1::body::ProxyBody;
use crate::http1::head as h1_head;
use crate::http1::req_headers::{Outgoing, RawHead};
use crate::http1::wire;

/// How an exchange failed, and whether sending it again is safe.
struct Failure {
    error: AgentError,
    /// The agent cannot have acted on the request: it did not get out whole, or nothing came back and
    /// the method is idempotent. On a reused connection this is the agent having closed it while idle.
    retry_safe: bool,
}

/// Sends `req` (with an absolute `http://` URI) to its agent and returns the response as soon as its
/// head is in; the body streams from the connection, which goes back to `pool` after its end. The
/// response's header fields are in its body ([`H1Body::take_fields`]); its header map is empty.
/// `forward` holds the gateway's forwarding fields, written into the head; the request's own are in
/// its map or, as our HTTP/1.1 server read them, in `raw`.
///
/// Not an `async fn`: its future then holds the request's parts once, not as an argument and again
/// as a local (the future is moved into the request's own, which is moved into its box).
pub(crate) fn send<W: Forward + Send + 'static>(
    pool: Pool,
    forward: Option<W>,
    req: Request<ProxyBody>,
    raw: Option<RawHead>,
) -> impl Future<Output = Result<Response<H1Body>, AgentError>> + Send + 'static {
    let (parts, mut body) = req.into_parts();
    async move {
        match parts.uri.scheme_str() {
            None | Some("http") => {}
            Some(other) => return Err(AgentError::Scheme(other.to_owned())),
        }
        let Some(key) = parts.uri.authority().cloned() else {
            return Err(AgentError::Invalid("request URI without authority".into()));
        };
        let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let fields = match &raw {
            Some(raw) => Outgoing::Raw(raw),
            None => Outgoing::Map(&parts.headers),
        };
        let framing = framing(&parts.method, fields, &body);
        // The first frame when it is there already (a whole body in hand): it goes out with the
        // head.
        let first = if body.is_end_stream() {
            Poll::Ready(None)
        } else {
            poll_fn(|cx| Poll::Ready(Pin::new(&mut body).poll_frame(cx))).await
        };
        let (first, whole) = match first {
            Poll::Ready(None) => (None, true),
            Poll::Ready(Some(Err(e))) => return Err(AgentError::Body(e)),
            Poll::Ready(Some(Ok(frame))) => (frame.into_data().ok(), body.is_end_stream()),
            Poll::Pending => (None, false),
        };
        let head_request = parts.method == Method::HEAD;
        let idempotent = parts.method.is_idempotent();
        // A new connection is the rare case: its (larger) future is boxed, so this one stays small.
        let mut conn = match pool.take_idle(&key) {
            Some(conn) => conn,
            None => Box::pin(pool.connect(&key)).await?,
        };
        loop {
            conn.write.clear();
            head::encode_request(
                &mut conn.write,
                &parts.method,
                target,
                key.as_str(),
                fields,
                forward.as_ref(),
                framing,
            );
            let reused = conn.reused;
            let sending = Sending {
                first: first.clone(),
                whole,
                framing,
                head_request,
                idempotent,
            };
            match exchange(&mut conn, sending, &mut body).await {
                Ok((parsed, sent_all)) => return Ok(respond(conn, parsed, sent_all)),
                Err(f) if f.retry_safe && reused && whole => {
                    tracing::debug!(agent = %key, error = %f.error, "idle connection was closed by the agent: sending again");
                    conn = Box::pin(pool.connect(&key)).await?;
                }
                Err(f) => return Err(f.error),
            }
        }
    }
}

/// The framing of a request body: its exact length when known (zero-length bodies get a header only
/// for methods that carry one, or when the client sent one), else chunked.
fn framing(method: &Method, h: Outgoing<'_>, body: &ProxyBody) -> Framing {
    match body.size_hint().exact() {
        Some(0) => {
            let carries = matches!(*method, Method::POST | Method::PUT | Method::PATCH)
                || h.contains(&http::header::CONTENT_LENGTH);
            if carries {
                Framing::Length(0)
            } else {
                Framing::None
            }
        }
        Some(n) => Framing::Length(n),
        None => Framing::Chunked,
    }
}

/// What goes out: the first frame (and whether it was the whole body), and the request's kind.
struct Sending {
    first: Option<Bytes>,
    whole: bool,
    framing: Framing,
    head_request: bool,
    idempotent: bool,
}

async fn exchange(
    conn: &mut Conn,
    sending: Sending,
    body: &mut ProxyBody,
) -> Result<(Parsed, bool), Failure> {
    let Sending {
        first,
        whole,
        framing,
        head_request,
        idempotent,
    } = sending;
    let sent = if framing == Framing::Chunked {
        write(&mut conn.io, &conn.write, &[], idempotent).await?;
        let mut queue = first
            .filter(|d| !d.is_empty())
            .map(|d| chunk(d, framing))
            .unwrap_or_default();
        if whole {
            queue.push(Bytes::from_static(b"0\r\n\r\n"));
            queue.ended = true;
        }
        Box::pin(pump(conn, body, framing, queue, 0)).await?
    } else {
        let data = first.unwrap_or_default();
        let len = data.len() as u64;
        write(&mut conn.io, &conn.write, &data, idempotent).await?;
        if whole {
            check_length(framing, len, true).map_err(fail)?;
            Sent::All
        } else {
            Box::pin(pump(conn, body, framing, Queue::default(), len)).await?
        }
    };
    loop {
        if !conn.read.is_empty() {
            let parsed = head::parse_response(&mut conn.read, head_request)
                .map_err(|e| fail(AgentError::Invalid(e.0)))?;
            if let Some(p) = parsed {
                // 100 Continue, 103 Early Hints: the final response follows.
                if p.status.is_informational() && p.status != http::StatusCode::SWITCHING_PROTOCOLS
                {
                    continue;
                }
                return Ok((p, sent == Sent::All));
            }
            if conn.read.len() >= MAX_HEAD {
                return Err(fail(AgentError::HeadTooLarge(MAX_HEAD)));
            }
        }
        let retry_safe = idempotent && conn.read.is_empty();
        let n = poll_fn(|cx| read(&mut conn.io, &mut conn.read, cx))
            .await
            .map_err(|e| Failure {
                error: AgentError::Io(e),
                retry_safe,
            })?;
        if n == 0 {
            return Err(Failure {
                error: AgentError::Closed,
                retry_safe,
            });
        }
    }
}

/// Whether the whole request body went out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sent {
    All,
    /// The response began first; the rest of the body was not sent.
    Cut,
}

/// Sends the rest of a streamed body (after `queue`, with `counted` bytes of it already out) while
/// watching for an early response. Boxed by its callers: a body whole in hand never needs it.
async fn pump(
    conn: &mut Conn,
    body: &mut ProxyBody,
    framing: Framing,
    mut queue: Queue,
    mut counted: u64,
) -> Result<Sent, Failure> {
    poll_fn(|cx| pump_poll(conn, body, framing, &mut queue, &mut counted, cx)).await
}

/// Bytes waiting to be written, and whether the body has ended.
#[derive(Default)]
struct Queue {
    parts: std::collections::VecDeque<Bytes>,
    ended: bool,
}

impl Queue {
    fn push(&mut self, b: Bytes) {
        if !b.is_empty() {
            self.parts.push_back(b);
        }
    }
}

/// A chunk of a chunked body (size line, data, CRLF), or the data alone for a body with a length.
fn chunk(data: Bytes, framing: Framing) -> Queue {
    let mut q = Queue::default();
    if framing == Framing::Chunked {
        q.push(Bytes::from(format!("{:x}\r\n", data.len())));
        q.push(data);
        q.push(Bytes::from_static(b"\r\n"));
    } else {
        q.push(data);
    }
    q
}

fn pump_poll(
    conn: &mut Conn,
    body: &mut ProxyBody,
    framing: Framing,
    queue: &mut Queue,
    counted: &mut u64,
    cx: &mut Context<'_>,
) -> Poll<Result<Sent, Failure>> {
    // The agent may answer before the body ends: stop sending once a response head is in (or the agent
    // closed), and let the head reader take it from there.
    loop {
        match read(&mut conn.io, &mut conn.read, cx) {
            Poll::Ready(Ok(0)) => return Poll::Ready(Ok(Sent::Cut)),
            // An answer that grows past the head limit is the head reader's to refuse.
            Poll::Ready(Ok(_)) if conn.read.len() >= MAX_HEAD => return Poll::Ready(Ok(Sent::Cut)),
            Poll::Ready(Ok(_)) => {
                // `100 Continue` (the client's `Expect` reached the agent) and other interim answers
                // mean "go on": they are dropped and the body keeps flowing.
                while let Some(end) = h1_head::end(&conn.read, 0) {
                    if !interim(&conn.read) {
                        return Poll::Ready(Ok(Sent::Cut));
                    }
                    let _ = conn.read.split_to(end);
                }
            }
            Poll::Ready(Err(error)) => {
                return Poll::Ready(Err(fail(AgentError::Io(error))));
            }
            Poll::Pending => break,
        }
    }
    loop {
        if let Some(front) = queue.parts.front_mut() {
            match Pin::new(&mut conn.io).poll_write(cx, front) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(fail_write(io::ErrorKind::WriteZero.into())));
                }
                Poll::Ready(Ok(n)) => {
                    front.advance(n);
                    if front.is_empty() {
                        queue.parts.pop_front();
                    }
                    continue;
                }
                // The agent may have answered and closed: the head reader looks for its response.
                Poll::Ready(Err(e)) if conn.read.is_empty() => {
                    return Poll::Ready(Err(fail_write(e)));
                }
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(Sent::Cut)),
                Poll::Pending => return Poll::Pending,
            }
        }
        if queue.ended {
            return Poll::Ready(Ok(Sent::All));
        }
        match ready!(Pin::new(&mut *body).poll_frame(cx)) {
            None => {
                queue.ended = true;
                check_length(framing, *counted, true).map_err(fail)?;
                if framing == Framing::Chunked {
                    queue.push(Bytes::from_static(b"0\r\n\r\n"));
                }
            }
            Some(Ok(frame)) => {
                if let Some(data) = frame.into_data().ok().filter(|d| !d.is_empty()) {
                    *counted += data.len() as u64;
                    check_length(framing, *counted, false).map_err(fail)?;
                    let Queue { parts, .. } = chunk(data, framing);
                    queue.parts.extend(parts);
                }
            }
            Some(Err(e)) => return Poll::Ready(Err(fail(AgentError::Body(e)))),
        }
    }
}

/// A body longer (or, at its end, shorter) than its declared length is refused.
fn check_length(framing: Framing, sent: u64, ended: bool) -> Result<(), AgentError> {
    let Framing::Length(n) = framing else {
        return Ok(());
    };
    if sent > n || (ended && sent < n) {
        return Err(AgentError::Body(
            format!("request body of {sent} bytes does not match its length {n}").into(),
        ));
    }
    Ok(())
}

/// A failure after which the request must not be sent again.
fn fail(error: AgentError) -> Failure {
    Failure {
        error,
        retry_safe: false,
    }
}

/// The request could not be written whole: the agent cannot have acted on it.
fn fail_write(e: io::Error) -> Failure {
    Failure {
        error: AgentError::Io(e),
        retry_safe: true,
    }
}

/// True when the response head at the start of `buf` is an interim one (1xx other than 101).
fn interim(buf: &[u8]) -> bool {
    buf.len() > 12 && buf.starts_with(b"HTTP/1.") && buf[9] == b'1' && &buf[9..12] != b"101"
}

/// Writes `a` then `b`. A failure is safe to resend only when nothing of the request went out, or the
/// method is idempotent: an agent may answer early and act on a head it has read.
async fn write(io: &mut TcpStream, a: &[u8], b: &[u8], idempotent: bool) -> Result<(), Failure> {
    let mut written = 0;
    wire::write_two_counting(io, a, b, &mut written)
        .await
        .map_err(|e| Failure {
            error: AgentError::Io(e),
            retry_safe: written == 0 || idempotent,
        })
}

/// Reads what the socket has into `buf` (0: the agent closed).
pub(crate) fn read(
    io: &mut TcpStream,
    buf: &mut BytesMut,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    wire::poll_read(io, buf, wire::READ_SPACE, cx)
}

/// The response to hand out: the body reads on from `conn`, which is released at once when there is
/// no body to read.
fn respond(conn: Conn, parsed: Parsed, sent_all: bool) -> Response<H1Body> {
    let Parsed {
        status,
        version,
        fields,
        decoder,
        keep_alive,
    } = parsed;
    let reusable = keep_alive && sent_all;
    let body = if status == http::StatusCode::SWITCHING_PROTOCOLS {
        H1Body::upgrade(conn)
    } else if decoder.is_done() {
        if reusable {
            conn.release();
        }
        H1Body::empty()
    } else {
        H1Body::new(conn, decoder, reusable)
    };
    let mut resp = Response::new(body.with_fields(fields));
    *resp.status_mut() = status;
    *resp.version_mut() = version;
    resp
}

/// Frames for tests: the data of a body, collected.
#[cfg(test)]
pub(crate) async fn collect(body: H1Body) -> Result<Bytes, crate::http1::body::BoxError> {
    use http_body_util::BodyExt;
    Ok(body.collect().await?.to_bytes())
}
