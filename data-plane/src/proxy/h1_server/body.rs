//! A client's request body as the handler sees it: whole when it came with the head (the usual case:
//! no channel, no copy), else fed chunk by chunk by the connection while the handler runs.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

use crate::proxy::body::BoxError;

/// The body of a request from an HTTP/1.1 client.
pub(crate) enum RequestBody {
    /// All of it (taken once).
    Whole(Option<Bytes>),
    /// Arriving; `left` is what a declared length still expects.
    Streaming {
        rx: mpsc::Receiver<Result<Bytes, BoxError>>,
        left: Option<u64>,
        ended: bool,
    },
}

// === impl RequestBody ===

impl RequestBody {
    /// A body fed through the returned sender; `length` when the client declared one.
    pub(crate) fn channel(length: Option<u64>) -> (mpsc::Sender<Result<Bytes, BoxError>>, Self) {
        let (tx, rx) = mpsc::channel(2);
        (
            tx,
            Self::Streaming {
                rx,
                left: length,
                ended: false,
            },
        )
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
            Self::Whole(b) => Poll::Ready(
                b.take()
                    .filter(|b| !b.is_empty())
                    .map(|b| Ok(Frame::data(b))),
            ),
            Self::Streaming { rx, left, ended } => {
                if *ended {
                    return Poll::Ready(None);
                }
                match rx.poll_recv(cx) {
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
                        Poll::Ready(None)
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Whole(b) => b.as_ref().is_none_or(Bytes::is_empty),
            Self::Streaming { ended, left, .. } => *ended || *left == Some(0),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Whole(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Self::Streaming { left: Some(n), .. } => SizeHint::with_exact(*n),
            Self::Streaming { .. } => SizeHint::default(),
        }
    }
}
