//! Writing a response to an HTTP/1.1 client: the head (with `Date`), then the body as it comes,
//! with a length, chunked, or (HTTP/1.0 clients) until close. A whole small response goes out in
//! one write; each chunk of a stream (SSE) is written as soon as it arrives.

use std::cell::RefCell;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::UNIX_EPOCH;

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, DATE, TRANSFER_ENCODING};
use http::{HeaderMap, StatusCode, Version};
use hyper::body::Body;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::http1::body::ProxyBody;
use crate::http1::coarse_clock;
use crate::http1::head as h1_head;
use crate::http1::raw_fields::{Answer, RawFields};
use crate::http1::wire::write_two;

/// What the request says about how to answer it.
#[derive(Clone, Copy)]
pub(crate) struct Answering {
    pub(crate) version: Version,
    pub(crate) head_request: bool,
    pub(crate) takes_trailers: bool,
    /// The connection closes after this response (`Connection: close` is sent).
    pub(crate) closing: bool,
}

/// How the body is delimited on the wire.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// No body may follow (HEAD, 1xx, 204, 304); the headers stay as the agent sent them.
    None,
    Length(u64),
    Chunked,
    /// Until the connection closes (an HTTP/1.0 client and no known length).
    Close,
}

/// Writes `resp` to `io` and flushes it (TLS keeps records buffered until flushed). `Ok(true)` when
/// the connection may carry another request.
///
/// The head is encoded when this is called, so the returned future (which lives in the
/// connection's, and is moved as it is built) keeps only the body and the encoded head, not the
/// response. A response whose body is whole at once (the usual case) goes out in one write from a
/// future of a few words; one that streams is written by a boxed future of its own. `spare` lends
/// the room for the head and gets it back after a whole response.
pub(crate) fn write<'a, T>(
    io: &'a mut T,
    answer: Answer,
    how: Answering,
    spare: &'a mut BytesMut,
) -> impl Future<Output = io::Result<bool>> + 'a
where
    T: AsyncWrite + Unpin,
{
    let prepared = prepare(answer, how, std::mem::take(spare));
    async move {
        let mut out = prepared?;
        let keep = match poll_fn(|cx| Poll::Ready(begin(&mut out, cx))).await {
            Begin::Whole { data, keep } => {
                write_two(io, &out.head, &data).await?;
                // Its room serves the connection's next response.
                out.head.clear();
                *spare = out.head;
                keep
            }
            Begin::Streams(first) => Box::pin(stream(io, out, first, how.takes_trailers)).await,
            Begin::Failed(e) => Err(e),
        };
        io.flush().await?;
        keep
    }
}

/// What the first look at a response's body found.
enum Begin {
    /// The head (completed) and `data` are the whole response; `keep` is its outcome once
    /// written.
    Whole {
        data: Bytes,
        keep: io::Result<bool>,
    },
    /// The body goes on past its first frame, or is not ready yet.
    Streams(First),
    Failed(io::Error),
}

/// A streaming body's first frame.
enum First {
    Pending,
    Data(Bytes),
    Trailers(Option<HeaderMap>),
}

/// Looks at the body once: when it is all there, finishes the head (a chunked body's chunk and end
/// go into it) and says what else to write.
fn begin(out: &mut Outgoing, cx: &mut Context<'_>) -> Begin {
    let framing = out.framing;
    if framing == Framing::None || out.body.is_end_stream() {
        if matches!(framing, Framing::Length(n) if n > 0) {
            return Begin::Failed(io::Error::other("response body ended before its length"));
        }
        if framing == Framing::Chunked {
            out.head.put_slice(b"0\r\n\r\n");
        }
        return Begin::Whole {
            data: Bytes::new(),
            keep: Ok(!out.closing),
        };
    }
    // The first frame is usually there already: it goes out with the head.
    match Pin::new(&mut out.body).poll_frame(cx) {
        Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
            Ok(data) => {
                let sent = data.len() as u64;
                if let Err(e) = check_room(framing, sent) {
                    return Begin::Failed(e);
                }
                if !out.body.is_end_stream() {
                    return Begin::Streams(First::Data(data));
                }
                let keep = finish(framing, sent, out.closing);
                if framing != Framing::Chunked {
                    return Begin::Whole { data, keep };
                }
                if !data.is_empty() {
                    chunk_prefix(&mut out.head, data.len());
                    out.head.put_slice(&data);
                    out.head.put_slice(b"\r\n");
                }
                out.head.put_slice(b"0\r\n\r\n");
                Begin::Whole {
                    data: Bytes::new(),
                    keep,
                }
            }
            Err(frame) => Begin::Streams(First::Trailers(frame.into_trailers().ok())),
        },
        Poll::Ready(Some(Err(e))) => Begin::Failed(io::Error::other(e)),
        Poll::Ready(None) => {
            if framing == Framing::Chunked {
                out.head.put_slice(b"0\r\n\r\n");
            }
            Begin::Whole {
                data: Bytes::new(),
                keep: finish(framing, 0, out.closing),
            }
        }
        Poll::Pending => Begin::Streams(First::Pending),
    }
}

/// A response made ready to write: its body, its encoded head, how the body is framed, and whether
/// the connection closes after it.
struct Outgoing {
    body: ProxyBody,
    head: BytesMut,
    framing: Framing,
    closing: bool,
}

/// Encodes `answer`'s head (into `head`, whose room is reused) and decides its framing; a 1xx
/// final status is refused.
fn prepare(answer: Answer, how: Answering, mut head: BytesMut) -> io::Result<Outgoing> {
    let Answer { resp, fields } = answer;
    let (parts, body) = resp.into_parts();
    let status = parts.status;
    // A 1xx here is an agent's switch the client did not ask for (interim ones never get this far).
    if status.is_informational() {
        return Err(io::Error::other(format!(
            "unexpected final status {status} from the agent"
        )));
    }
    let framing = if how.head_request
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        Framing::None
    } else if let Some(n) = body.size_hint().exact() {
        Framing::Length(n)
    } else if how.version == Version::HTTP_11 {
        Framing::Chunked
    } else {
        Framing::Close
    };
    let closing = how.closing || framing == Framing::Close || asks_close(&parts.headers);
    head.clear();
    head.reserve(256 + parts.headers.len() * 40);
    encode_head(
        &mut head,
        how.version,
        status,
        (&parts.headers, fields.as_ref()),
        framing,
        closing,
    );
    Ok(Outgoing {
        body,
        head,
        framing,
        closing,
    })
}

/// Writes the head and a body that streams (SSE, say), each frame as soon as it arrives.
async fn stream<T>(
    io: &mut T,
    out: Outgoing,
    first: First,
    takes_trailers: bool,
) -> io::Result<bool>
where
    T: AsyncWrite + Unpin,
{
    let Outgoing {
        mut body,
        mut head,
        framing,
        closing,
    } = out;
    let mut pending_trailers = None;
    let mut sent = 0u64;
    match first {
        First::Data(data) => {
            sent += data.len() as u64;
            if framing == Framing::Chunked {
                if !data.is_empty() {
                    chunk_prefix(&mut head, data.len());
                    head.put_slice(&data);
                    head.put_slice(b"\r\n");
                }
                io.write_all(&head).await?;
            } else {
                write_two(io, &head, &data).await?;
            }
            io.flush().await?;
        }
        First::Trailers(t) => {
            pending_trailers = t;
            io.write_all(&head).await?;
        }
        First::Pending => {
            io.write_all(&head).await?;
            io.flush().await?;
        }
    }
    if pending_trailers.is_none() {
        loop {
            let Some(frame) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await else {
                break;
            };
            let frame = frame.map_err(io::Error::other)?;
            match frame.into_data() {
                Ok(data) if data.is_empty() => {}
                Ok(data) => {
                    sent += data.len() as u64;
                    check_room(framing, sent)?;
                    if framing == Framing::Chunked {
                        let mut prefix = BytesMut::with_capacity(24);
                        chunk_prefix(&mut prefix, data.len());
                        write_two(io, &prefix, &data).await?;
                        io.write_all(b"\r\n").await?;
                    } else {
                        io.write_all(&data).await?;
                    }
                    // Each piece of a stream (SSE) goes out now, not with the next one.
                    io.flush().await?;
                }
                Err(frame) => {
                    pending_trailers = frame.into_trailers().ok();
                    break;
                }
            }
        }
    }
    if framing == Framing::Chunked {
        let mut last = BytesMut::from(&b"0\r\n"[..]);
        if let Some(t) = pending_trailers.filter(|_| takes_trailers) {
            h1_head::write(&mut last, &t, |_| false);
        }
        last.put_slice(b"\r\n");
        io.write_all(&last).await?;
    }
    finish(framing, sent, closing)
}

/// Refuses to write past a body's announced length (the client would read the rest as the next
/// response).
fn check_room(framing: Framing, sent: u64) -> io::Result<()> {
    match framing {
        Framing::Length(n) if sent > n => Err(io::Error::other(format!(
            "response body longer than its length {n}"
        ))),
        _ => Ok(()),
    }
}

/// A body shorter or longer than its announced length leaves the client unable to find the next
/// response: the connection must close.
fn finish(framing: Framing, sent: u64, closing: bool) -> io::Result<bool> {
    if let Framing::Length(n) = framing
        && n != sent
    {
        return Err(io::Error::other(format!(
            "response body of {sent} bytes for a length of {n}"
        )));
    }
    Ok(!closing)
}

fn asks_close(h: &HeaderMap) -> bool {
    h.get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("close"))
}

fn chunk_prefix(dst: &mut BytesMut, len: usize) {
    h1_head::put_hex(dst, len as u64);
    dst.put_slice(b"\r\n");
}

/// Writes the head; the fields are the header map's and, from an HTTP/1.1 agent, those as received.
fn encode_head(
    dst: &mut BytesMut,
    version: Version,
    status: StatusCode,
    (headers, raw): (&HeaderMap, Option<&RawFields>),
    framing: Framing,
    closing: bool,
) {
    dst.put_slice(if version == Version::HTTP_10 {
        b"HTTP/1.0 "
    } else {
        b"HTTP/1.1 "
    });
    dst.put_slice(status.as_str().as_bytes());
    dst.put_u8(b' ');
    dst.put_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
    dst.put_slice(b"\r\n");
    let keep_length = framing == Framing::None && status != StatusCode::NO_CONTENT;
    h1_head::write(dst, headers, |n| {
        n == TRANSFER_ENCODING || n == CONNECTION || (n == CONTENT_LENGTH && !keep_length)
    });
    // Transfer-Encoding and Connection are hop-by-hop: the raw fields leave them out themselves.
    let agent_date = raw.is_some_and(|f| f.write(dst, keep_length));
    match framing {
        Framing::Length(n) => {
            dst.put_slice(b"content-length: ");
            h1_head::put_decimal(dst, n);
            dst.put_slice(b"\r\n");
        }
        Framing::Chunked => dst.put_slice(b"transfer-encoding: chunked\r\n"),
        Framing::None | Framing::Close => {}
    }
    if closing {
        dst.put_slice(b"connection: close\r\n");
    } else if version == Version::HTTP_10 {
        dst.put_slice(b"connection: keep-alive\r\n");
    }
    if !agent_date && !headers.contains_key(DATE) {
        dst.put_slice(b"date: ");
        put_http_date(dst);
        dst.put_slice(b"\r\n");
    }
    dst.put_slice(b"\r\n");
}

thread_local! {
    /// The `Date` value of the current second, made once per second per thread.
    static DATE_CACHE: RefCell<(u64, String)> = const { RefCell::new((0, String::new())) };
}

/// Writes the current `Date` value.
/// The `Date` value for now, formatted once per second: the second is read from the coarse
/// real-time clock, which may lag by a few milliseconds (so does nginx's cached time).
fn put_http_date(dst: &mut BytesMut) {
    let secs = coarse_clock::unix_secs();
    DATE_CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs || c.1.is_empty() {
            let at = UNIX_EPOCH + std::time::Duration::from_secs(secs);
            *c = (secs, httpdate::fmt_http_date(at));
        }
        dst.put_slice(c.1.as_bytes());
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http1::body::full;
    use bytes::Bytes;
    use http::Response;

    async fn wire(resp: Response<ProxyBody>, how: Answering) -> (String, bool) {
        let mut out = Vec::new();
        let keep = write(
            &mut out,
            Answer::from_response(resp),
            how,
            &mut BytesMut::new(),
        )
        .await
        .unwrap();
        (String::from_utf8(out).unwrap(), keep)
    }

    /// Writes `resp` for an HTTP/1.1 client: the outcome, and what went out.
    async fn attempt(resp: Response<ProxyBody>) -> (io::Result<bool>, Vec<u8>) {
        let mut out = Vec::new();
        let answer = Answer::from_response(resp);
        let result = write(&mut out, answer, H11, &mut BytesMut::new()).await;
        (result, out)
    }

    const H11: Answering = Answering {
        version: Version::HTTP_11,
        head_request: false,
        takes_trailers: false,
        closing: false,
    };

    #[tokio::test]
    async fn whole_bodies_get_a_length_and_a_date() {
        let mut resp = Response::new(full("hello"));
        resp.headers_mut()
            .insert("x-a", http::HeaderValue::from_static("1"));
        let (w, keep) = wire(resp, H11).await;
        assert!(
            w.starts_with("HTTP/1.1 200 OK\r\nx-a: 1\r\ncontent-length: 5\r\ndate: "),
            "{w}"
        );
        assert!(w.ends_with(" GMT\r\n\r\nhello"), "{w}");
        assert!(keep);
    }

    #[tokio::test]
    async fn streams_are_chunked_for_http11_and_close_delimited_for_http10() {
        let stream = || {
            let frames: Vec<Result<_, crate::http1::body::BoxError>> = vec![
                Ok(hyper::body::Frame::data(Bytes::from_static(b"ab"))),
                Ok(hyper::body::Frame::data(Bytes::from_static(b"cde"))),
            ];
            ProxyBody::new(http_body_util::StreamBody::new(tokio_stream::iter(frames)))
        };
        let (w, keep) = wire(Response::new(stream()), H11).await;
        assert!(w.contains("transfer-encoding: chunked\r\n"), "{w}");
        assert!(
            w.ends_with("\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n"),
            "{w}"
        );
        assert!(keep);
        let h10 = Answering {
            version: Version::HTTP_10,
            ..H11
        };
        let (w, keep) = wire(Response::new(stream()), h10).await;
        assert!(w.starts_with("HTTP/1.0 200 OK\r\n"), "{w}");
        assert!(
            w.contains("connection: close\r\n") && w.ends_with("\r\n\r\nabcde"),
            "{w}"
        );
        assert!(!keep, "the end of the body is the end of the connection");
    }

    #[tokio::test]
    async fn head_and_no_content_responses_carry_no_body() {
        let mut resp = Response::new(full(Bytes::new()));
        resp.headers_mut()
            .insert(CONTENT_LENGTH, http::HeaderValue::from_static("42"));
        let head = Answering {
            head_request: true,
            ..H11
        };
        let (w, _) = wire(resp, head).await;
        assert!(
            w.contains("content-length: 42\r\n") && w.ends_with("\r\n\r\n"),
            "{w}"
        );
        let mut resp = Response::new(full(Bytes::new()));
        *resp.status_mut() = StatusCode::NO_CONTENT;
        let (w, _) = wire(resp, H11).await;
        assert!(
            !w.contains("content-length") && !w.contains("chunked"),
            "{w}"
        );
    }

    #[tokio::test]
    async fn bodies_that_break_their_length_and_stray_1xx_are_errors() {
        let mut resp = Response::new(full("x"));
        *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let (result, out) = attempt(resp).await;
        assert!(result.is_err());
        assert!(out.is_empty(), "nothing is written");

        let lying = ProxyBody::new(http_body_util::Full::new(Bytes::from_static(b"too long")));
        // A body announcing 3 bytes that delivers 8.
        struct Short(ProxyBody);
        impl Body for Short {
            type Data = Bytes;
            type Error = crate::http1::body::BoxError;
            fn poll_frame(
                mut self: Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
                Pin::new(&mut self.0).poll_frame(cx)
            }
            fn size_hint(&self) -> hyper::body::SizeHint {
                hyper::body::SizeHint::with_exact(3)
            }
        }
        let (result, out) = attempt(Response::new(ProxyBody::new(Short(lying)))).await;
        assert!(result.is_err());
        assert!(
            !String::from_utf8_lossy(&out).contains("too long"),
            "the excess is not written"
        );
    }

    #[tokio::test]
    async fn closing_is_announced() {
        let how = Answering {
            closing: true,
            ..H11
        };
        let (w, keep) = wire(Response::new(full("x")), how).await;
        assert!(w.contains("connection: close\r\n"), "{w}");
        assert!(!keep);
    }
}
