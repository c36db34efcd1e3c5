//! Time bounds on a client connection's socket: each write must finish within `http.timeouts.write`
//! (a client that stops reading is cut off, while a slow but flowing stream lives on), and a connection
//! with no request in flight is closed after `http.timeouts.idle` without traffic.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Requests in flight on one connection (until their response bodies end).
#[derive(Clone, Default)]
pub(crate) struct Active(Arc<AtomicUsize>);

/// Counts one request as in flight until dropped.
pub(crate) struct ActiveGuard(Arc<AtomicUsize>);

/// A socket with write and idle deadlines.
pub(crate) struct TimedIo<T> {
    inner: T,
    write_timeout: Duration,
    idle_timeout: Duration,
    write_deadline: Option<Pin<Box<Sleep>>>,
    /// Armed lazily: traffic only records `last_activity`; the timer is moved when it fires early.
    idle: Pin<Box<Sleep>>,
    last_activity: Instant,
    active: Active,
}

// === impl Active ===

impl Active {
    /// Marks a request in flight.
    pub(crate) fn begin(&self) -> ActiveGuard {
        self.0.fetch_add(1, Ordering::Relaxed);
        ActiveGuard(self.0.clone())
    }

    fn idle(&self) -> bool {
        self.0.load(Ordering::Relaxed) == 0
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

// === impl TimedIo ===

impl<T> TimedIo<T> {
    /// Wraps `inner`; `active` is shared with the connection's service.
    pub(crate) fn new(
        inner: T,
        write_timeout: Duration,
        idle_timeout: Duration,
        active: Active,
    ) -> Self {
        Self {
            inner,
            write_timeout,
            idle_timeout,
            write_deadline: None,
            idle: Box::pin(tokio::time::sleep(idle_timeout)),
            last_activity: Instant::now(),
            active,
        }
    }

    fn touched(&mut self) {
        self.last_activity = Instant::now();
    }

    /// True once the connection has been without traffic for the idle timeout.
    fn idle_expired(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.idle.as_mut().poll(cx).is_pending() {
                return false;
            }
            let due = self.last_activity + self.idle_timeout;
            if due <= Instant::now() {
                return true;
            }
            // Traffic since the timer was armed: move it to the real deadline and wait again.
            self.idle.as_mut().reset(due);
        }
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

    fn write_done(&mut self) {
        self.write_deadline = None;
        self.touched();
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TimedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.touched();
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                // Waiting for a client between requests: close it once it has been idle long enough.
                if self.active.idle() && self.idle_expired(cx) {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "idle timeout",
                    )));
                }
                Poll::Pending
            }
        }
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
                self.write_done();
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
                self.write_done();
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
                self.write_done();
                Poll::Ready(r)
            }
            Poll::Pending => self.write_pending(cx).map(Err),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
