//! `http.timeouts.read` for request bodies: while the proxy is reading a body (to route it or to send
//! it on), each wait for the client's next bytes is bounded, so a client that stops sending mid-body
//! is answered 408 and its connection closed instead of holding a request open. Time the proxy itself
//! spends not reading (an agent applying backpressure) does not count, and gRPC streams, which may be
//! quiet from the client's side while the server streams, are not timed.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

use super::body::{BoxError, ProxyBody};

/// The error a body ends with when the client sent nothing for the read timeout.
#[derive(Debug, thiserror::Error)]
#[error("the client sent no request body data for {0:?}")]
pub(crate) struct ReadTimedOut(pub(crate) Duration);

/// Set when a body timed out; read by the handler to tell a stalled client from a failing agent.
#[derive(Clone, Debug, Default)]
pub(crate) struct Stalled(Arc<AtomicBool>);

struct TimedReads {
    inner: ProxyBody,
    timeout: Duration,
    deadline: Option<Pin<Box<Sleep>>>,
    stalled: Stalled,
}

/// `body` with each read bounded by `timeout`; `stalled` is set if one runs out.
pub(crate) fn time_reads(body: ProxyBody, timeout: Duration, stalled: Stalled) -> ProxyBody {
    if body.is_end_stream() {
        return body;
    }
    TimedReads {
        inner: body,
        timeout,
        deadline: None,
        stalled,
    }
    .boxed()
}

// === impl Stalled ===

impl Stalled {
    /// Whether the body timed out.
    pub(crate) fn tripped(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

// === impl TimedReads ===

impl Body for TimedReads {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(r) => {
                self.deadline = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let timeout = self.timeout;
                let deadline = self
                    .deadline
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if deadline.as_mut().poll(cx).is_ready() {
                    self.stalled.0.store(true, Ordering::Release);
                    return Poll::Ready(Some(Err(Box::new(ReadTimedOut(timeout)))));
                }
                Poll::Pending
            }
        }
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
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_times_out_and_a_flowing_one_does_not() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(4);
        let body = http_body_util::StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx))
            .boxed();
        let stalled = Stalled::default();
        let mut b = time_reads(body, Duration::from_secs(1), stalled.clone());
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
        assert!(err.is::<ReadTimedOut>());
        assert!(stalled.tripped());
        sender.abort();
    }
}
