//! Bodies the codec reads and writes: one type for everything sent (bytes in hand, or any body
//! boxed), and a body whole in hand.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::{Body, Frame, SizeHint};

/// Errors inside bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Every body the proxy produces: bytes in hand (no allocation, the usual request body), or any
/// other body, boxed.
pub struct ProxyBody(Kind);

enum Kind {
    Full(Whole),
    Boxed(BoxBody<Bytes, BoxError>),
}

/// A small complete body.
pub fn full(b: impl Into<Bytes>) -> ProxyBody {
    ProxyBody(Kind::Full(Whole::new(b.into())))
}

/// A body whole in hand: one frame, taken by the first poll.
#[derive(Debug)]
pub(crate) struct Whole(Option<Bytes>);

// === impl Whole ===

impl Whole {
    /// The body of `bytes`.
    pub(crate) fn new(bytes: Bytes) -> Self {
        Self(Some(bytes))
    }

    /// What is left of it.
    pub(crate) fn into_bytes(self) -> Bytes {
        self.0.unwrap_or_default()
    }
}

impl Body for Whole {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let data = self.get_mut().0.take().filter(|b| !b.is_empty());
        Poll::Ready(data.map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.as_ref().is_none_or(Bytes::is_empty)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.as_ref().map_or(0, |b| b.len() as u64))
    }
}

// === impl ProxyBody ===

impl ProxyBody {
    /// Any body, boxed.
    pub fn new<B>(body: B) -> Self
    where
        B: Body<Data = Bytes> + Send + Sync + 'static,
        B::Error: Into<BoxError>,
    {
        Self(Kind::Boxed(body.map_err(Into::into).boxed()))
    }
}

impl std::fmt::Debug for ProxyBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Kind::Full(b) => f.debug_tuple("Full").field(b).finish(),
            Kind::Boxed(_) => f.write_str("Boxed"),
        }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.get_mut().0 {
            Kind::Full(b) => Pin::new(b).poll_frame(cx),
            Kind::Boxed(b) => Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Kind::Full(b) => b.is_end_stream(),
            Kind::Boxed(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Kind::Full(b) => b.size_hint(),
            Kind::Boxed(b) => b.size_hint(),
        }
    }
}
