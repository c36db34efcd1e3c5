//! Request limits: the request head against `http.limits.maxHeaderSize` (431), a declared body length
//! against `maxBodySize` (413, before the agent is contacted), and one body wrapper that stops a body of
//! unknown length the moment it grows past `maxBodySize` and a client that stops sending its body for
//! `http.timeouts.read` (408).
//!
//! hyper bounds the head it buffers on its own (`http1().max_buf_size`); the head check here is
//! defence in depth and the source of the JSON 431. A body cut short by the counting body errors
//! before the frame that crosses the limit is handed on, so the agent only ever sees part of it and
//! never its end: hyper aborts the upstream request, and the handler finds the cause with
//! [`client_fault`] and answers 413 (or 408 for a stalled body).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

use super::body::{BoxError, InHand, ProxyBody, full};
use super::error::ProxyError;
use crate::http1::req_headers::ReqHeaders;

/// The size of a request head as an HTTP/1.1 client sends it, at most: request line, headers, CRLFs.
pub(crate) fn head_size<B>(req: &Request<B>, headers: &ReqHeaders) -> usize {
    // "METHOD SP target SP HTTP/1.1 CRLF", headers, "CRLF"; the target in absolute form when the
    // client sent one (HTTP/2 sends the authority as a pseudo-header: about the same size).
    let uri = req.uri();
    let target = uri.path_and_query().map_or(1, |p| p.as_str().len())
        + uri.authority().map_or(0, |a| {
            a.as_str().len() + uri.scheme_str().map_or(0, |s| s.len() + 3)
        });
    let line = req.method().as_str().len() + 1 + target + 11;
    line + headers.written_size() + 2
}

/// 431 when the request head is larger than `max` bytes.
pub(crate) fn check_head<B>(
    req: &Request<B>,
    headers: &ReqHeaders,
    max: u64,
) -> Result<(), ProxyError> {
    let size = head_size(req, headers) as u64;
    if size > max {
        return Err(ProxyError::HeadersTooLarge(max));
    }
    Ok(())
}

/// The request body, bounded by `max` bytes and, when `read_timeout` is given, by that long for each
/// wait for more of it: 413 at once when its declared length is larger; otherwise the body to forward
/// (one wrapper doing both jobs), which ends with [`TooLarge`] or [`ReadTimedOut`] when it stops it.
/// A body whole in hand needs neither job and is passed on as bytes.
pub(crate) fn limit_body<B>(
    body: B,
    max: u64,
    read_timeout: Option<Duration>,
) -> Result<ProxyBody, ProxyError>
where
    B: Body<Data = Bytes> + InHand + Send + Sync + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    // A declared length (Content-Length, or an empty body) is enforced by hyper itself: the body
    // cannot be longer, so it needs no counting.
    let count = match body.size_hint().exact() {
        Some(n) if n > max => return Err(ProxyError::PayloadTooLarge(max)),
        Some(_) => false,
        None => true,
    };
    let body = match body.in_hand() {
        Ok(whole) => return Ok(full(whole)),
        Err(body) => body,
    };
    let timeout = read_timeout.filter(|_| !body.is_end_stream());
    if !count && timeout.is_none() {
        return Ok(ProxyBody::new(body));
    }
    let bounded = Bounded {
        inner: body,
        seen: 0,
        max: count.then_some(max),
        timeout,
        deadline: None,
    };
    Ok(ProxyBody::new(bounded))
}

/// The error of a request body that could not be read: 413 when it went past the size limit, 408
/// when the client stopped sending, else 400.
pub(crate) fn body_error(e: BoxError) -> ProxyError {
    client_fault(e.as_ref()).unwrap_or_else(|| ProxyError::BadBody(e.to_string()))
}

/// The client's fault somewhere in `e`'s chain of causes (an upstream request fails with the body's
/// error inside): a body past the size limit (413), a client that stopped sending (408), or a
/// chunked body with broken framing (400).
pub(crate) fn client_fault(e: &(dyn std::error::Error + 'static)) -> Option<ProxyError> {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(TooLarge(max)) = c.downcast_ref::<TooLarge>() {
            return Some(ProxyError::PayloadTooLarge(*max));
        }
        if let Some(ReadTimedOut(t)) = c.downcast_ref::<ReadTimedOut>() {
            return Some(ProxyError::RequestTimeout(*t));
        }
        if let Some(f) = c.downcast_ref::<crate::http1::server::ClientFraming>() {
            return Some(ProxyError::BadRequest(f.to_string()));
        }
        cause = c.source();
    }
    None
}

/// The error a body ends with when it grew past the limit.
#[derive(Debug, thiserror::Error)]
#[error("request body larger than {0} bytes")]
pub(crate) struct TooLarge(u64);

/// The error a body ends with when the client sent nothing for the read timeout.
#[derive(Debug, thiserror::Error)]
#[error("the client sent no request body data for {0:?}")]
pub(crate) struct ReadTimedOut(Duration);

/// A body that errors instead of yielding a frame that takes it past `max` bytes, or when a wait for
/// the client's next bytes lasts `timeout` (time the proxy spends not reading does not count).
struct Bounded<B> {
    inner: B,
    seen: u64,
    max: Option<u64>,
    timeout: Option<Duration>,
    deadline: Option<Pin<Box<Sleep>>>,
}

// === impl Bounded ===

impl<B> Body for Bounded<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(f))) => f,
            Poll::Ready(other) => {
                self.deadline = None;
                return Poll::Ready(other.map(|r| r.map_err(Into::into)));
            }
            Poll::Pending => {
                let Some(timeout) = self.timeout else {
                    return Poll::Pending;
                };
                let deadline = self
                    .deadline
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if deadline.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                return Poll::Ready(Some(Err(Box::new(ReadTimedOut(timeout)))));
            }
        };
        self.deadline = None;
        if let (Some(max), Some(data)) = (self.max, frame.data_ref()) {
            self.seen = self.seen.saturating_add(data.len() as u64);
            if self.seen > max {
                return Poll::Ready(Some(Err(Box::new(TooLarge(max)))));
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::{BodyExt, Full, StreamBody};

    use super::*;

    // Bodies of these kinds are never whole in hand.
    impl InHand for Full<Bytes> {}
    impl<S> InHand for StreamBody<S> {}

    fn chunked(
        parts: &[&'static [u8]],
    ) -> impl Body<Data = Bytes, Error = BoxError> + InHand + Send + Sync + Unpin {
        let frames: Vec<Result<Frame<Bytes>, BoxError>> = parts
            .iter()
            .map(|p| Ok(Frame::data(Bytes::from_static(p))))
            .collect();
        StreamBody::new(tokio_stream::iter(frames))
    }

    #[test]
    fn head_size_counts_the_request_line_and_headers() {
        let mut req = Request::get("/abc?x=1")
            .header("host", "gw")
            .body(())
            .unwrap();
        let h = ReqHeaders::Map(std::mem::take(req.headers_mut()));
        // "GET /abc?x=1 HTTP/1.1\r\n" + "host: gw\r\n" + "\r\n"
        assert_eq!(head_size(&req, &h), 23 + 10 + 2);
        assert!(check_head(&req, &h, 35).is_ok());
        assert!(matches!(
            check_head(&req, &h, 34),
            Err(ProxyError::HeadersTooLarge(34))
        ));
    }

    #[tokio::test]
    async fn a_declared_length_is_checked_up_front() {
        let body = Full::new(Bytes::from_static(b"12345"));
        assert!(matches!(
            limit_body(body.clone(), 4, None),
            Err(ProxyError::PayloadTooLarge(4))
        ));
        let b = limit_body(body, 5, None).unwrap();
        assert_eq!(b.collect().await.unwrap().to_bytes(), "12345");
    }

    #[tokio::test]
    async fn a_growing_body_errors_before_the_frame_past_the_limit() {
        let b = limit_body(chunked(&[b"1234", b"5678"]), 8, None).unwrap();
        assert_eq!(b.collect().await.unwrap().to_bytes(), "12345678");

        let mut b = limit_body(chunked(&[b"1234", b"56789", b"0"]), 8, None).unwrap();
        let first = b.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first, "1234");
        let err = b.frame().await.unwrap().unwrap_err();
        assert!(matches!(body_error(err), ProxyError::PayloadTooLarge(8)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_times_out_and_a_flowing_one_does_not() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(4);
        let body = StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx));
        let mut b = limit_body(body, 100, Some(Duration::from_secs(1))).unwrap();
        let sender = tokio::spawn(async move {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_millis(900)).await;
                let _ = tx.send(Ok(Frame::data(Bytes::from_static(b"x")))).await;
            }
            // Then nothing, with the sender kept open.
            tokio::time::sleep(Duration::from_secs(60)).await;
            drop(tx);
        });
        for _ in 0..3 {
            assert!(
                b.frame().await.unwrap().is_ok(),
                "900 ms gaps are within the timeout"
            );
        }
        let err = b.frame().await.unwrap().unwrap_err();
        // Wrapped the way an upstream request failure wraps it, the cause is still found.
        #[derive(Debug, thiserror::Error)]
        #[error("upstream request failed")]
        struct Wrapped(#[source] BoxError);
        let wrapped: BoxError = Box::new(Wrapped(err));
        assert!(matches!(
            client_fault(wrapped.as_ref()),
            Some(ProxyError::RequestTimeout(_))
        ));
        sender.abort();
    }

    #[tokio::test]
    async fn a_whole_body_is_passed_on_as_bytes_in_hand_within_the_limit() {
        use crate::http1::body::Whole;
        use crate::http1::server::RequestBody;
        use crate::proxy::error::ProxyError;
        use std::time::Duration;

        let whole = || RequestBody::Whole(Whole::new(Bytes::from_static(b"12345")));
        let timeout = Some(Duration::from_millis(1));
        assert!(matches!(
            limit_body(whole(), 4, timeout),
            Err(ProxyError::PayloadTooLarge(4))
        ));
        let body = limit_body(whole(), 5, timeout).unwrap();
        assert_eq!(body.size_hint().exact(), Some(5));
        assert!(format!("{body:?}").starts_with("Full"), "{body:?}");
        assert_eq!(body.collect().await.unwrap().to_bytes(), "12345");

        let (_tx, _, streaming) = RequestBody::channel(Some(5));
        let body = limit_body(streaming, 5, timeout).unwrap();
        assert_eq!(
            format!("{body:?}"),
            "Boxed",
            "a body still arriving is read with limits"
        );
    }
}
