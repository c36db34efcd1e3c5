//! Socket helpers shared by the HTTP/1.1 server and client: reading into a connection's buffer and
//! writing two buffers with one system call.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

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
pub(crate) async fn write_two<T: AsyncWrite + Unpin>(
    io: &mut T,
    a: &[u8],
    b: &[u8],
) -> io::Result<()> {
    write_two_counting(io, a, b, &mut 0).await
}

/// [`write_two`], adding to `written` the bytes that went out (also when it fails part way).
pub(crate) async fn write_two_counting<T: AsyncWrite + Unpin>(
    io: &mut T,
    a: &[u8],
    b: &[u8],
    written: &mut usize,
) -> io::Result<()> {
    let (mut a, mut b) = (a, b);
    while !a.is_empty() || !b.is_empty() {
        let n = io
            .write_vectored(&[IoSlice::new(a), IoSlice::new(b)])
            .await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        *written += n;
        let from_a = n.min(a.len());
        a = &a[from_a..];
        b = &b[n - from_a..];
    }
    Ok(())
}
