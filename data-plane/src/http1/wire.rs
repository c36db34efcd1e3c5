//! Socket helpers shared by the HTTP/1.1 server and client: reading into a connection's buffer and
//! writing two buffers with one system call.

use std::future::{Future, poll_fn};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite};

/// Free space made in a connection's read buffer for bodies and responses.
pub(crate) const READ_SPACE: usize = 8 * 1024;
/// Free space made for a request head: small enough for malloc's per-thread cache, so a connection
/// that frees its buffer while idle gets it back cheaply.
pub(crate) const HEAD_SPACE: usize = 1024;

/// Reads what the socket has into `buf` (0: the peer closed), first making `space` bytes free when
/// less than a quarter of that is.
pub(crate) fn poll_read<T: AsyncRead + Unpin>(
    io: &mut T,
    buf: &mut BytesMut,
    space: usize,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    if buf.capacity() - buf.len() < space / 4 {
        buf.reserve(space);
    }
    tokio_util::io::poll_read_buf(Pin::new(io), cx, buf)
}

/// Writes `a` then `b` (one system call when the socket takes both).
pub(crate) fn write_two<'a, T: AsyncWrite + Unpin>(
    io: &'a mut T,
    a: &'a [u8],
    b: &'a [u8],
) -> impl Future<Output = io::Result<()>> + 'a {
    let mut written = 0;
    let (mut a, mut b) = (a, b);
    poll_fn(move |cx| poll_write_two(io, &mut a, &mut b, &mut written, cx))
}

/// [`write_two`], adding to `written` the bytes that went out (also when it fails part way).
///
/// A hand-polled future rather than an `async fn`: it is a few words, where nested `async fn`s
/// would keep every argument twice in the caller's future (which is moved as it is built).
pub(crate) fn write_two_counting<'a, T: AsyncWrite + Unpin>(
    io: &'a mut T,
    a: &'a [u8],
    b: &'a [u8],
    written: &'a mut usize,
) -> impl Future<Output = io::Result<()>> + 'a {
    let (mut a, mut b) = (a, b);
    poll_fn(move |cx| poll_write_two(io, &mut a, &mut b, written, cx))
}

fn poll_write_two<T: AsyncWrite + Unpin>(
    io: &mut T,
    a: &mut &[u8],
    b: &mut &[u8],
    written: &mut usize,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    while !a.is_empty() || !b.is_empty() {
        let n = ready!(
            Pin::new(&mut *io).poll_write_vectored(cx, &[IoSlice::new(a), IoSlice::new(b)])
        )?;
        if n == 0 {
            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
        }
        *written += n;
        let from_a = n.min(a.len());
        *a = &a[from_a..];
        *b = &b[n - from_a..];
    }
    Poll::Ready(Ok(()))
}
