//! gRPC framing of the discovery stream, without per-stream buffers that outlive a message.
//!
//! tonic's generated server encodes a stream's responses into one buffer that grows to the largest
//! response and lives as long as the stream, and decodes requests into another that does the same:
//! a node's first response (the whole snapshot, ~250 KiB for 1,200 resources) or a reconnecting
//! node's announce (~100 KiB of names and hashes) would stay allocated for every connected node
//! (go-control-plane's issue #882 in another form). Here:
//!
//! - a response ([`Encoded`]) is a small head of its own (frame header and the response's scalar
//!   fields) followed by its delta's encoding, shared by every stream sending that delta
//!   ([`Delta::encoded`](super::snapshot::Delta)); [`Responses`] yields both as they come;
//! - [`Inbound`] reads requests into a buffer it gives back once a message is decoded.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame};
use openclaw_proto::discovery::{DiscoveryRequest, DiscoveryResponse};
use prost::Message;
use tokio::sync::mpsc;
use tonic::Status;
use tonic::codegen::http;

/// The gRPC frame header: a compression flag and the message length.
const FRAME_HEADER: usize = 5;

/// The largest request accepted (tonic's default limit).
const MAX_REQUEST: usize = 4 * 1024 * 1024;

/// Spare room a read buffer may keep between requests; more is given back.
const KEEP: usize = 1024;

/// What a stream task hands its response body: a response, boxed so the channel's preallocated
/// slots (a block of 32 per channel) stay small, or the status that ends the stream.
pub(super) type Outgoing = Result<Box<Encoded>, Status>;

/// One response as it goes on the wire: its own head, then the encoded resources it shares.
#[derive(Debug)]
pub(super) struct Encoded {
    head: Bytes,
    shared: Bytes,
}

/// The response body of one stream: each [`Encoded`] as it comes, then the status as trailers.
pub(super) struct Responses {
    rx: mpsc::Receiver<Outgoing>,
    /// The shared part of the response whose head was just yielded.
    shared: Option<Bytes>,
    done: bool,
}

/// The requests of one stream, decoded from its request body.
pub(super) struct Inbound {
    body: tonic::body::Body,
    /// Bytes received and not yet decoded.
    buf: BytesMut,
    ended: bool,
}

// === impl Encoded ===

impl Encoded {
    /// `fields` (a response without resources) followed by `resources`, the encoding of its
    /// `resources` field: protobuf lets a message's fields come in any order.
    pub(super) fn new(fields: &DiscoveryResponse, resources: Bytes) -> Result<Box<Self>, Status> {
        let len = u32::try_from(fields.encoded_len() + resources.len())
            .map_err(|_| Status::resource_exhausted("response larger than 4 GiB"))?;
        let mut head = BytesMut::with_capacity(FRAME_HEADER + fields.encoded_len());
        head.put_u8(0);
        head.put_u32(len);
        fields.encode_raw(&mut head);
        Ok(Box::new(Self {
            head: head.freeze(),
            shared: resources,
        }))
    }
}

// === impl Responses ===

impl Responses {
    /// A body sending what arrives on `rx`; it ends when `rx` yields an error or closes.
    pub(super) fn new(rx: mpsc::Receiver<Outgoing>) -> Self {
        Self {
            rx,
            shared: None,
            done: false,
        }
    }
}

impl Body for Responses {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = &mut *self;
        if let Some(shared) = this.shared.take() {
            return Poll::Ready(Some(Ok(Frame::data(shared))));
        }
        if this.done {
            return Poll::Ready(None);
        }
        let status = match std::task::ready!(this.rx.poll_recv(cx)) {
            Some(Ok(encoded)) => {
                this.shared = Some(encoded.shared).filter(|s| !s.is_empty());
                return Poll::Ready(Some(Ok(Frame::data(encoded.head))));
            }
            Some(Err(status)) => status,
            // The stream task ended: the node went away or the server is stopping.
            None => Status::ok(""),
        };
        this.done = true;
        let mut trailers = http::HeaderMap::new();
        if status.add_header(&mut trailers).is_err() {
            trailers.clear();
            // A message that cannot be a header value: send the code at least.
            let _ = Status::new(status.code(), "").add_header(&mut trailers);
        }
        Poll::Ready(Some(Ok(Frame::trailers(trailers))))
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.shared.is_none()
    }
}

// === impl Inbound ===

impl Inbound {
    /// Reads requests from `body`.
    pub(super) fn new(body: tonic::body::Body) -> Self {
        Self {
            body,
            buf: BytesMut::new(),
            ended: false,
        }
    }

    /// The next request, `None` once the node closed its side. Cancel-safe: what was read stays in
    /// the buffer.
    pub(super) async fn message(&mut self) -> Result<Option<DiscoveryRequest>, Status> {
        loop {
            if let Some(request) = self.decode()? {
                return Ok(Some(request));
            }
            if self.ended {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(Status::invalid_argument("stream ended inside a message"));
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    // Trailers carry nothing for us.
                    if let Ok(data) = frame.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
                Some(Err(status)) => return Err(status),
                None => self.ended = true,
            }
        }
    }

    /// Decodes one request if the buffer holds a whole one.
    fn decode(&mut self) -> Result<Option<DiscoveryRequest>, Status> {
        let Some(header) = self.buf.get(..FRAME_HEADER) else {
            return Ok(None);
        };
        if header[0] != 0 {
            return Err(Status::unimplemented(
                "compressed discovery requests are not supported",
            ));
        }
        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        if len > MAX_REQUEST {
            return Err(Status::resource_exhausted(format!(
                "request of {len} bytes is over the limit of {MAX_REQUEST}"
            )));
        }
        let Some(message) = self.buf.get(FRAME_HEADER..FRAME_HEADER + len) else {
            self.buf.reserve(FRAME_HEADER + len - self.buf.len());
            return Ok(None);
        };
        let request = DiscoveryRequest::decode(message)
            .map_err(|e| Status::invalid_argument(format!("cannot decode request: {e}")))?;
        let _ = self.buf.split_to(FRAME_HEADER + len);
        // Give back the room a large request (a reconnecting node's announce) took.
        if self.buf.capacity() > self.buf.len() + KEEP {
            self.buf = BytesMut::from(&self.buf[..]);
        }
        Ok(Some(request))
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::StreamBody;
    use openclaw_proto::discovery::{Node, Resource};

    use super::*;

    fn frame(message: &impl Message) -> Vec<u8> {
        let body = message.encode_to_vec();
        let mut framed = vec![0];
        framed.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
        framed.extend_from_slice(&body);
        framed
    }

    #[test]
    fn a_response_with_shared_resources_decodes_as_one_message() {
        let resources = vec![Resource {
            name: "agent/a".into(),
            version: "ab".repeat(32),
            body: Bytes::from_static(b"{\"id\":\"a\"}"),
        }];
        let shared = DiscoveryResponse {
            resources: resources.clone(),
            ..DiscoveryResponse::default()
        }
        .encode_to_vec();
        let fields = DiscoveryResponse {
            version_info: 7,
            nonce: "n".into(),
            removed_resources: vec!["rule/gone".into()],
            snapshot_hash: "h".into(),
            set_digest: "d".into(),
            resources: Vec::new(),
        };
        let encoded = Encoded::new(&fields, shared.into()).unwrap();
        let wire = [&encoded.head[..], &encoded.shared[..]].concat();
        let whole = DiscoveryResponse {
            resources,
            ..fields
        };
        // Same frame header, same message (fields in another order).
        let expected = frame(&whole);
        assert_eq!(wire[..FRAME_HEADER], expected[..FRAME_HEADER]);
        assert_eq!(
            DiscoveryResponse::decode(&wire[FRAME_HEADER..]).unwrap(),
            whole
        );
    }

    #[tokio::test]
    async fn requests_split_across_frames_are_decoded_and_the_buffer_given_back() {
        let big = DiscoveryRequest {
            node: Some(Node {
                id: "n1".into(),
                ..Node::default()
            }),
            initial_resource_versions: (0..2000)
                .map(|i| (format!("rule/r{i}"), "ab".repeat(32)))
                .collect(),
            ..DiscoveryRequest::default()
        };
        let ack = DiscoveryRequest {
            version_info: 2,
            response_nonce: "x".into(),
            ..DiscoveryRequest::default()
        };
        let mut bytes = frame(&big);
        bytes.extend(frame(&ack));
        // Chunks that cut through headers and messages alike.
        let chunks: Vec<Result<Frame<Bytes>, Status>> = bytes
            .chunks(7001)
            .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
            .collect();
        let body = tonic::body::Body::new(StreamBody::new(tokio_stream::iter(chunks)));
        let mut inbound = Inbound::new(body);

        assert_eq!(inbound.message().await.unwrap(), Some(big));
        assert!(
            inbound.buf.capacity() <= 7001 + KEEP,
            "{}",
            inbound.buf.capacity()
        );
        assert_eq!(inbound.message().await.unwrap(), Some(ack));
        assert_eq!(inbound.message().await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_stream_cut_inside_a_message_is_an_error() {
        let bytes = frame(&DiscoveryRequest {
            version_info: 3,
            ..DiscoveryRequest::default()
        });
        let cut = Bytes::copy_from_slice(&bytes[..bytes.len() - 1]);
        let chunks = vec![Ok::<_, Status>(Frame::data(cut))];
        let body = tonic::body::Body::new(StreamBody::new(tokio_stream::iter(chunks)));
        let error = Inbound::new(body).message().await.unwrap_err();
        assert_eq!(error.code(), tonic::Code::InvalidArgument);
    }
}
