//! A client's request body as the handler sees it: whole when it came with the head (the usual case:
//! no channel, no copy), else fed chunk by chunk by the connection while the handler runs.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::{mpsc, oneshot};

use crate::http1::body::{BoxError, Whole};

/// The body of a request from an HTTP/1.1 client.
pub(crate) enum RequestBody {
    /// All of it.
    Whole(Whole),
    /// Arriving; `left` is what a declared length still expects.
    Streaming {
        rx: mpsc::Receiver<Result<Bytes, BoxError>>,
        left: Option<u64>,
        ended: bool,
        /// Told when the body is first read (the connection then sends `100 Continue`).
        wanted: Option<oneshot::Sender<()>>,
    },
}

// === impl RequestBody ===

impl RequestBody {
    /// A body fed through the returned sender; `length` when the client declared one. The receiver
    /// hears when the body is first read, or is dropped unheard when the body never is.
    pub(crate) fn channel(
        length: Option<u64>,
    ) -> (
        mpsc::Sender<Result<Bytes, BoxError>>,
        oneshot::Receiver<()>,
        Self,
    ) {
        let (tx, rx) = mpsc::channel(2);
        let (wanted, first_read) = oneshot::channel();
        (
            tx,
            first_read,
            Self::Streaming {
                rx,
                left: length,
                ended: false,
                wanted: Some(wanted),
            },
        )
    }
}

impl RequestBody {
    /// The whole body when it came with its head, else the body back.
    #[inline]
    pub(crate) fn into_whole(self) -> Result<Bytes, Self> {
        match self {
            Self::Whole(b) => Ok(b.into_bytes()),
            streaming => Err(streaming),
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Self::Whole(b) => Pin::new(b).poll_frame(cx),
            Self::Streaming {
                rx,
                left,
                ended,
                wanted,
            } => {
                if let Some(w) = wanted.take() {
                    let _ = w.send(());
                }
                if *ended {
                    return Poll::Ready(None);
                }
                match rx.poll_recv(cx) {
                    Poll::Ready(Some(Ok(data))) if data.is_empty() => {
                        *ended = true;
                        Poll::Ready(None)
                    }
                    Poll::Ready(Some(Ok(data))) => {
                        if let Some(l) = left {
                            *l = l.saturating_sub(data.len() as u64);
                        }
                        Poll::Ready(Some(Ok(Frame::data(data))))
                    }
                    Poll::Ready(Some(Err(e))) => {
                        *ended = true;
                        Poll::Ready(Some(Err(e)))
                    }
                    Poll::Ready(None) => {
                        *ended = true;
                        Poll::Ready(Some(Err(
                            "request body cut short: the connection stopped reading it".into(),
                        )))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Whole(b) => b.is_end_stream(),
            Self::Streaming { ended, .. } => *ended,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Whole(b) => b.size_hint(),
            Self::Streaming { left: Some(n), .. } => SizeHint::with_exact(*n),
            Self::Streaming { .. } => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn a_streamed_body_ends_only_at_its_marker() {
        let (tx, first_read, body) = RequestBody::channel(None);
        tx.send(Ok(Bytes::from_static(b"ab"))).await.unwrap();
        tx.send(Ok(Bytes::new())).await.unwrap();
        assert_eq!(body.collect().await.unwrap().to_bytes(), "ab");
        assert!(first_read.await.is_ok(), "the first read is heard");

        let (_tx, first_read, body) = RequestBody::channel(None);
        drop(body);
        assert!(
            first_read.await.is_err(),
            "a body never read is never wanted"
        );

        let (tx, _, body) = RequestBody::channel(Some(4));
        tx.send(Ok(Bytes::from_static(b"ab"))).await.unwrap();
        drop(tx);
        let err = body.collect().await.err().unwrap();
        assert!(err.to_string().contains("cut short"), "{err}");
    }
}
