//! Request size limits (`http.limits`): the request head against `maxHeaderSize` (431), a declared
//! body length against `maxBodySize` (413, before the agent is contacted), and a counting body that
//! stops a body of unknown length the moment it grows past `maxBodySize`.
//!
//! hyper bounds the head it buffers on its own (`http1().max_buf_size`); the head check here is
//! defence in depth and the source of the JSON 431. A body cut short by the counting body errors
//! before the frame that crosses the limit is handed on, so the agent only ever sees part of it and
//! never its end: hyper aborts the upstream request, and the handler answers 413 through [`Tripwire`].

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Request;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};

use super::body::{BoxError, ProxyBody};
use super::error::ProxyError;

/// The size of a request head as an HTTP/1.1 client sends it, at most: request line, headers, CRLFs.
pub(crate) fn head_size<B>(req: &Request<B>) -> usize {
    // "METHOD SP target SP HTTP/1.1 CRLF", headers, "CRLF"; the target in absolute form when the
    // client sent one (HTTP/2 sends the authority as a pseudo-header: about the same size).
    let uri = req.uri();
    let target = uri.path_and_query().map_or(1, |p| p.as_str().len())
        + uri.authority().map_or(0, |a| {
            a.as_str().len() + uri.scheme_str().map_or(0, |s| s.len() + 3)
        });
    let line = req.method().as_str().len() + 1 + target + 11;
    let headers: usize = req
        .headers()
        .iter()
        .map(|(n, v)| n.as_str().len() + 2 + v.len() + 2)
        .sum();
    line + headers + 2
}

/// 431 when the request head is larger than `max` bytes.
pub(crate) fn check_head<B>(req: &Request<B>, max: u64) -> Result<(), ProxyError> {
    let size = head_size(req) as u64;
    if size > max {
        return Err(ProxyError::HeadersTooLarge(max));
    }
    Ok(())
}

/// The request body, bounded by `max` bytes: 413 at once when its declared length is larger;
/// otherwise the body to forward and, when its length is unknown, the [`Tripwire`] it sets if it
/// grows past `max`.
pub(crate) fn limit_body<B>(body: B, max: u64) -> Result<(ProxyBody, Option<Tripwire>), ProxyError>
where
    B: Body<Data = Bytes> + Send + Sync + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    // A declared length (Content-Length, or an empty body) is enforced by hyper itself: the body
    // cannot be longer, so it needs no counting.
    match body.size_hint().exact() {
        Some(n) if n > max => Err(ProxyError::PayloadTooLarge(max)),
        Some(_) => Ok((body.map_err(Into::into).boxed(), None)),
        None => {
            let tripwire = Tripwire::default();
            let counted = Counted {
                inner: body,
                seen: 0,
                max,
                tripwire: tripwire.clone(),
            };
            Ok((counted.boxed(), Some(tripwire)))
        }
    }
}

/// The error of a request body that could not be read: 413 when it is the counting body refusing to
/// go past the limit, 408 when the client stopped sending, else 400.
pub(crate) fn body_error(e: BoxError) -> ProxyError {
    if let Some(TooLarge(max)) = e.downcast_ref::<TooLarge>() {
        return ProxyError::PayloadTooLarge(*max);
    }
    match e.downcast_ref::<super::body_timeout::ReadTimedOut>() {
        Some(t) => ProxyError::RequestTimeout(t.0),
        None => ProxyError::BadBody(e.to_string()),
    }
}

/// Set by a counting body when it refused to go past the limit; read by the handler to tell a body
/// that was too large from an agent that failed.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tripwire(Arc<AtomicBool>);

/// The error a counting body ends with.
#[derive(Debug, thiserror::Error)]
#[error("request body larger than {0} bytes")]
pub(crate) struct TooLarge(u64);

/// A body that errors instead of yielding a frame that takes it past `max` bytes.
struct Counted<B> {
    inner: B,
    seen: u64,
    max: u64,
    tripwire: Tripwire,
}

// === impl Tripwire ===

impl Tripwire {
    /// Whether the body went past the limit.
    pub(crate) fn tripped(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    fn trip(&self) {
        self.0.store(true, Ordering::Release);
    }
}

// === impl Counted ===

impl<B> Body for Counted<B>
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
            other => return other.map_err(Into::into),
        };
        if let Some(data) = frame.data_ref() {
            self.seen = self.seen.saturating_add(data.len() as u64);
            if self.seen > self.max {
                self.tripwire.trip();
                return Poll::Ready(Some(Err(Box::new(TooLarge(self.max)))));
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
    use http_body_util::{BodyExt, StreamBody};

    use super::*;

    fn chunked(
        parts: &[&'static [u8]],
    ) -> impl Body<Data = Bytes, Error = BoxError> + Send + Sync + Unpin {
        let frames: Vec<Result<Frame<Bytes>, BoxError>> = parts
            .iter()
            .map(|p| Ok(Frame::data(Bytes::from_static(p))))
            .collect();
        StreamBody::new(tokio_stream::iter(frames))
    }

    #[test]
    fn head_size_counts_the_request_line_and_headers() {
        let req = Request::get("/abc?x=1")
            .header("host", "gw")
            .body(())
            .unwrap();
        // "GET /abc?x=1 HTTP/1.1\r\n" + "host: gw\r\n" + "\r\n"
        assert_eq!(head_size(&req), 23 + 10 + 2);
        assert!(check_head(&req, 35).is_ok());
        assert!(matches!(
            check_head(&req, 34),
            Err(ProxyError::HeadersTooLarge(34))
        ));
    }

    #[tokio::test]
    async fn a_declared_length_is_checked_up_front() {
        let body = http_body_util::Full::new(Bytes::from_static(b"12345"));
        assert!(matches!(
            limit_body(body.clone(), 4),
            Err(ProxyError::PayloadTooLarge(4))
        ));
        let (b, tripwire) = limit_body(body, 5).unwrap();
        assert!(tripwire.is_none(), "a known length needs no counting");
        assert_eq!(b.collect().await.unwrap().to_bytes(), "12345");
    }

    #[tokio::test]
    async fn a_growing_body_errors_before_the_frame_past_the_limit() {
        let (b, tripwire) = limit_body(chunked(&[b"1234", b"5678"]), 8).unwrap();
        let tripwire = tripwire.unwrap();
        assert_eq!(b.collect().await.unwrap().to_bytes(), "12345678");
        assert!(!tripwire.tripped());

        let (mut b, tripwire) = limit_body(chunked(&[b"1234", b"56789", b"0"]), 8).unwrap();
        let tripwire = tripwire.unwrap();
        let first = b.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first, "1234");
        let err = b.frame().await.unwrap().unwrap_err();
        assert!(matches!(body_error(err), ProxyError::PayloadTooLarge(8)));
        assert!(tripwire.tripped());
    }
}
