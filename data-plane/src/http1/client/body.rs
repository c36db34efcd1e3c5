//! An agent's response body, read from its connection as the client side polls it; the connection
//! goes back to the pool once the body has ended and is dropped.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

use super::Upgraded;
use super::error::AgentError;
use super::exchange::read;
use super::pool::Conn;
use crate::http1::body::BoxError;
use crate::http1::framing::{Decoded, Decoder};
use crate::http1::raw_fields::RawFields;

/// The body of a response from an HTTP/1.1 agent.
pub(crate) struct H1Body {
    conn: Option<Conn>,
    decoder: Decoder,
    /// The connection may carry another exchange once this body has ended.
    reusable: bool,
    /// A 101 response: the connection is the upgraded stream, not a body.
    upgrade: bool,
    /// The response's header field lines, until the proxy takes them (see [`Self::take_fields`]).
    fields: Option<Bytes>,
}

// === impl H1Body ===

impl H1Body {
    pub(crate) fn new(conn: Conn, decoder: Decoder, reusable: bool) -> Self {
        Self {
            conn: Some(conn),
            decoder,
            reusable,
            upgrade: false,
            fields: None,
        }
    }

    pub(crate) fn empty() -> Self {
        Self {
            conn: None,
            decoder: Decoder::length(0),
            reusable: false,
            upgrade: false,
            fields: None,
        }
    }

    /// The body of a 101 response, which keeps the connection for [`into_upgraded`](Self::into_upgraded).
    pub(crate) fn upgrade(conn: Conn) -> Self {
        Self {
            conn: Some(conn),
            decoder: Decoder::length(0),
            reusable: false,
            upgrade: true,
            fields: None,
        }
    }

    /// With the response's header field lines: they travel with the body, and no header map is
    /// built.
    pub(crate) fn with_fields(mut self, lines: Bytes) -> Self {
        self.fields = Some(lines);
        self
    }

    /// The response's header fields, once: the response's own header map is empty.
    pub(crate) fn take_fields(&mut self) -> Option<RawFields> {
        self.fields.take().map(RawFields::new)
    }

    /// The connection of a 101 response, with the bytes the agent sent after its head.
    pub(crate) fn into_upgraded(mut self) -> Option<Upgraded> {
        if !self.upgrade {
            return None;
        }
        self.conn
            .take()
            .map(|c| Upgraded::new(c.io, c.read.freeze()))
    }

    fn finish(&mut self) {
        if let Some(conn) = self.conn.take()
            && self.reusable
        {
            conn.release();
        }
    }

    fn fail(&mut self, e: AgentError) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.conn = None;
        Poll::Ready(Some(Err(Box::new(e))))
    }
}

impl Drop for H1Body {
    fn drop(&mut self) {
        if !self.upgrade && self.decoder.is_done() {
            self.finish();
        }
    }
}

impl Body for H1Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.upgrade {
            return Poll::Ready(None);
        }
        loop {
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match this.decoder.decode(&mut conn.read) {
                Err(e) => return this.fail(e.into()),
                Ok(Decoded::Data(data)) => {
                    // Read past the framing that follows, so the end is known without another poll.
                    // The connection goes back when this body is dropped (after the data is
                    // written on, so the client's answer waits for none of the pool's work).
                    if let Err(e) = this.decoder.settle(&mut conn.read) {
                        return this.fail(e.into());
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Ok(Decoded::End) => {
                    this.finish();
                    return Poll::Ready(None);
                }
                Ok(Decoded::NeedMore) => match ready!(read(&mut conn.io, &mut conn.read, cx)) {
                    Ok(0) => {
                        if let Err(e) = this.decoder.at_eof() {
                            return this.fail(e.into());
                        }
                        this.conn = None;
                        return Poll::Ready(None);
                    }
                    Ok(_) => {}
                    Err(e) => return this.fail(AgentError::Io(e)),
                },
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.upgrade || self.decoder.is_done()
    }

    fn size_hint(&self) -> SizeHint {
        match self.decoder.remaining() {
            Some(n) if !self.upgrade => SizeHint::with_exact(n),
            _ if self.upgrade => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}
