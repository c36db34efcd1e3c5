//! A time bound on a client connection's writes: each write must finish within `http.timeouts.write`,
//! so a client that stops reading is cut off while a slow but flowing stream lives on. It also counts
//! the reads and writes that moved bytes, so the connection's idle watchdog can tell a quiet one.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// A socket with a write deadline.
pub(crate) struct TimedIo<T> {
    inner: T,
    write_timeout: Duration,
    write_deadline: Option<Pin<Box<Sleep>>>,
    activity: Arc<AtomicU64>,
}

// === impl TimedIo ===

impl<T> TimedIo<T> {
    /// Wraps `inner`.
    pub(crate) fn new(inner: T, write_timeout: Duration) -> Self {
        Self {
            inner,
            write_timeout,
            write_deadline: None,
            activity: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A count that grows with every read or write that moved bytes.
    pub(crate) fn activity(&self) -> Arc<AtomicU64> {
        self.activity.clone()
    }

    fn moved(&self) {
        // This socket is the count's only writer: a plain load and store, not a locked add, which
        // every read and write would pay for.
        let n = self.activity.load(Ordering::Relaxed);
        self.activity.store(n.wrapping_add(1), Ordering::Relaxed);
    }

    /// Turns a pending write into an error once it has waited past the write timeout.
    fn write_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let timeout = self.write_timeout;
        let deadline = self
            .write_deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(
                io::ErrorKind::TimedOut,
                "client stopped reading: write timeout",
            )),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TimedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.moved();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TimedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, data) {
            Poll::Ready(r) => {
                self.write_deadline = None;
                self.moved();
                Poll::Ready(r)
            }
            Poll::Pending => self.write_pending(cx).map(Err),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => {
                self.write_deadline = None;
                self.moved();
                Poll::Ready(r)
            }
            Poll::Pending => self.write_pending(cx).map(Err),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Ready(r) => {
                self.write_deadline = None;
                Poll::Ready(r)
            }
            Poll::Pending => self.write_pending(cx).map(Err),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
