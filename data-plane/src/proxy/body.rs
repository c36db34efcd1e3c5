//! Bodies: one type for everything the proxy sends (bytes in hand, or any body boxed), and peeking
//! at the start of a request body (for semantic routing and agent overrides) without losing or
//! buffering the rest.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};

pub use crate::http1::body::{BoxError, ProxyBody, full};

/// A client's request body that may be whole in hand already (read with its head): such a body is
/// passed on as bytes, with nothing around it to count or time its reads.
pub(crate) trait InHand: Sized {
    /// The whole body when it is in hand, else the body back.
    fn in_hand(self) -> Result<Bytes, Self> {
        Err(self)
    }
}

impl InHand for hyper::body::Incoming {}

impl InHand for crate::http1::server::RequestBody {
    #[inline]
    fn in_hand(self) -> Result<Bytes, Self> {
        self.into_whole()
    }
}

/// A request body after peeking: the part read so far and, unless it ended, the rest still unread.
pub(crate) enum Peeked {
    /// The whole body (it ended within the limit).
    Complete(Bytes),
    /// The first bytes, and the stream they came from.
    Partial(Bytes, ProxyBody),
}

// === impl Peeked ===

impl Peeked {
    /// Reads up to `limit` bytes of `body` (whole frames, so possibly a little more).
    pub(crate) async fn read(mut body: ProxyBody, limit: usize) -> Result<Self, BoxError> {
        let mut buf = BytesMut::new();
        while buf.len() < limit {
            match body.frame().await {
                None => return Ok(Self::Complete(buf.freeze())),
                Some(frame) => {
                    if let Ok(data) = frame?.into_data() {
                        buf.extend_from_slice(&data);
                    }
                }
            }
        }
        if body.is_end_stream() {
            return Ok(Self::Complete(buf.freeze()));
        }
        Ok(Self::Partial(buf.freeze(), body))
    }

    /// The whole body, when it is complete.
    pub(crate) fn complete(&self) -> Option<&Bytes> {
        match self {
            Self::Complete(b) => Some(b),
            Self::Partial(..) => None,
        }
    }

    /// The body to forward: what was read, then the rest as it arrives.
    pub(crate) fn into_body(self) -> ProxyBody {
        match self {
            Self::Complete(b) => full(b),
            Self::Partial(prefix, rest) => ProxyBody::new(Prefixed {
                prefix: Some(prefix),
                rest,
            }),
        }
    }
}

/// A body that yields `prefix` and then every frame of `rest`.
struct Prefixed {
    prefix: Option<Bytes>,
    rest: ProxyBody,
}

impl Body for Prefixed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(p) = self.prefix.take()
            && !p.is_empty()
        {
            return Poll::Ready(Some(Ok(Frame::data(p))));
        }
        Pin::new(&mut self.rest).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.as_ref().is_none_or(|p| p.is_empty()) && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let extra = self.prefix.as_ref().map_or(0, |p| p.len() as u64);
        let rest = self.rest.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower() + extra);
        if let Some(u) = rest.upper() {
            hint.set_upper(u + extra);
        }
        hint
    }
}

/// Wraps a response body so `guard` (in-flight counts) lives until the body has ended or is dropped.
pub(crate) fn hold<B, G>(body: B, guard: G) -> ProxyBody
where
    B: Body<Data = Bytes> + Send + Sync + Unpin + 'static,
    B::Error: Into<BoxError>,
    G: Send + Sync + Unpin + 'static,
{
    ProxyBody::new(Guarded {
        body,
        guard: Some(guard),
    })
}

struct Guarded<B, G> {
    body: B,
    /// Released as soon as the body ends: a server may keep a finished body around until it next polls
    /// the connection, and in-flight counts must not wait for that.
    guard: Option<G>,
}

impl<B, G> Body for Guarded<B, G>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
    G: Unpin,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx).map_err(Into::into);
        let ended = match &polled {
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => true,
            Poll::Ready(Some(Ok(_))) => self.body.is_end_stream(),
            Poll::Pending => false,
        };
        if ended {
            self.guard = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The `agent` field of a JSON object body (a string; anything else names no agent; the last one
/// counts when it repeats). The body is scanned, not built into a tree of values: the seed's clients
/// send their agent in every chat request.
pub(crate) fn requested_agent(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<NamedAgent>(body).ok()?.0
}

/// What [`requested_agent`] reads: only the `agent` member of an object, the others skipped.
struct NamedAgent(Option<String>);

impl<'de> serde::Deserialize<'de> for NamedAgent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = Option<String>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut agent = None;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key == "agent" {
                        let v: serde_json::Value = map.next_value()?;
                        agent = v.as_str().map(str::to_string);
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(agent)
            }
        }
        d.deserialize_map(Members).map(NamedAgent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_text_and_agent() {
        assert_eq!(
            requested_agent(br#"{"message": "x", "agent": "agent-code-001"}"#).as_deref(),
            Some("agent-code-001")
        );
        for (body, agent) in [
            (
                &br#"{"agent": "a\u0062c", "n": [1, {"agent": "inner"}]}"#[..],
                Some("abc"),
            ),
            (br#"{"agent": "first", "agent": "last"}"#, Some("last")),
            (br#"{"agent": 5}"#, None),
            (br#"{"agent": null}"#, None),
            (br#"{"message": "no agent"}"#, None),
            (br#"["agent"]"#, None),
            (b"{not json", None),
        ] {
            assert_eq!(
                requested_agent(body).as_deref(),
                agent,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
