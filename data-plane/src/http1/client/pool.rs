//! Idle keep-alive connections to agents, per `host:port`, sized by `agents.connectionPool`.
//!
//! A connection is owned by the request that uses it (no connection task, no channel) and comes back
//! here when its response has been read to the end. Idle ones are kept newest-first up to the per-host
//! cap, and dropped after `idleTimeout` or as soon as the agent closes them (a reaper task looks while
//! any are idle; a checkout looks once more without a system call in the usual case).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::BytesMut;
use http::uri::Authority;
use tokio::net::TcpStream;

use super::error::AgentError;
use crate::http1::coarse_clock;
use fxhash::FxHashMap;

/// TCP keep-alive probes on agent connections, so a vanished peer is noticed.
pub(crate) const TCP_KEEPALIVE: Duration = Duration::from_secs(60);

/// Idle connections by agent `host:port`.
#[derive(Clone)]
pub(crate) struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    /// Keyed by `host:port` as written in the agent's URL (one string compare and a cheap hash per
    /// request, where `Authority`'s case-insensitive hash costs a SipHash round per byte).
    hosts: Mutex<FxHashMap<Box<str>, Vec<Idle>>>,
    per_host: usize,
    idle_timeout: Duration,
    connect_timeout: Duration,
    reaping: AtomicBool,
}

struct Idle {
    conn: Conn,
    /// When it was put back, on the coarse monotonic clock (its age needs no better than
    /// milliseconds, and this is read twice per request).
    since: Duration,
}

/// A connection to an agent, with its read buffer and a buffer for request heads.
pub(crate) struct Conn {
    pub(crate) io: TcpStream,
    pub(crate) read: BytesMut,
    pub(crate) write: BytesMut,
    /// It carried an exchange before (so a failure before any response byte may be a stale close).
    pub(crate) reused: bool,
    key: Box<str>,
    pool: Weak<Inner>,
}

// === impl Pool ===

impl Pool {
    /// A pool keeping at most `per_host` idle connections per agent, each for at most `idle_timeout`.
    #[cfg(test)]
    pub(crate) fn new(per_host: usize, idle_timeout: Duration) -> Self {
        Self::with_connect_timeout(per_host, idle_timeout, Duration::from_secs(5))
    }

    /// As [`Pool::new`], giving up on a connect after `connect_timeout`
    /// (`gateway.agents.timeouts.connect`).
    pub(crate) fn with_connect_timeout(
        per_host: usize,
        idle_timeout: Duration,
        connect_timeout: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                hosts: Mutex::new(FxHashMap::default()),
                per_host,
                idle_timeout,
                connect_timeout,
                reaping: AtomicBool::new(false),
            }),
        }
    }

    /// An idle connection to `key` when one is alive, else a new one (for tests: the exchange boxes
    /// the connect path).
    #[cfg(test)]
    pub(crate) async fn get(&self, key: &Authority) -> Result<Conn, AgentError> {
        if let Some(conn) = self.take_idle(key) {
            return Ok(conn);
        }
        self.connect(key).await
    }

    /// A new connection to `key`, bypassing idle ones.
    pub(crate) async fn connect(&self, key: &Authority) -> Result<Conn, AgentError> {
        let addr = match key.port_u16() {
            Some(_) => key.as_str().to_owned(),
            None => format!("{}:80", key.host()),
        };
        let io = match tokio::time::timeout(self.inner.connect_timeout, TcpStream::connect(&addr))
            .await
        {
            Ok(Ok(io)) => io,
            Ok(Err(source)) => return Err(AgentError::Connect { addr, source }),
            Err(_) => return Err(AgentError::ConnectTimeout(addr)),
        };
        // Best effort: both only tune the socket.
        let _ = io.set_nodelay(true);
        let _ = socket2::SockRef::from(&io)
            .set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(TCP_KEEPALIVE));
        Ok(Conn {
            io,
            read: BytesMut::new(),
            write: BytesMut::new(),
            reused: false,
            key: key.as_str().into(),
            pool: Arc::downgrade(&self.inner),
        })
    }

    /// An idle connection to `key` that is still alive, if any.
    pub(crate) fn take_idle(&self, key: &Authority) -> Option<Conn> {
        let mut hosts = self.inner.hosts.lock().ok()?;
        let idle = hosts.get_mut(key.as_str())?;
        let now = coarse_clock::monotonic();
        while let Some(Idle { mut conn, since }) = idle.pop() {
            if now.saturating_sub(since) < self.inner.idle_timeout && alive(&conn.io) {
                conn.reused = true;
                return Some(conn);
            }
        }
        None
    }

    /// Idle connections held right now (for tests).
    #[cfg(test)]
    fn idle_count(&self) -> usize {
        self.inner
            .hosts
            .lock()
            .map_or(0, |h| h.values().map(Vec::len).sum())
    }
}

// === impl Inner ===

impl Inner {
    fn put(self: &Arc<Self>, conn: Conn) {
        {
            let Ok(mut hosts) = self.hosts.lock() else {
                return;
            };
            // One lookup in the usual case (the host has its list already).
            let idle = match hosts.get_mut(&*conn.key) {
                Some(idle) => idle,
                None => hosts
                    .entry(conn.key.clone())
                    .or_insert_with(|| Vec::with_capacity(self.per_host.min(64))),
            };
            if idle.len() >= self.per_host {
                return;
            }
            idle.push(Idle {
                conn,
                since: coarse_clock::monotonic(),
            });
        }
        if !self.reaping.swap(true, Ordering::AcqRel) {
            tokio::spawn(reap(Arc::downgrade(self), self.idle_timeout));
        }
    }
}

/// Drops idle connections past the idle timeout or closed by their agent; ends when none are idle (the
/// next return starts it again) or the pool is gone.
async fn reap(pool: Weak<Inner>, idle_timeout: Duration) {
    let tick = (idle_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        tokio::time::sleep(tick).await;
        let Some(inner) = pool.upgrade() else { return };
        let Ok(mut hosts) = inner.hosts.lock() else {
            return;
        };
        let now = coarse_clock::monotonic();
        hosts.retain(|_, idle| {
            idle.retain(|i| now.saturating_sub(i.since) < idle_timeout && alive(&i.conn.io));
            !idle.is_empty()
        });
        if hosts.is_empty() {
            inner.reaping.store(false, Ordering::Release);
            return;
        }
    }
}

/// False when an idle connection was closed by the agent (or sent something unasked). Without news
/// from the reactor (tokio clears a socket's readiness after a short read, as the response's last
/// was) this returns at once: no system call, and no waker registered.
fn alive(io: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    matches!(io.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

// === impl Conn ===

impl Conn {
    /// Gives the connection back for another exchange.
    pub(crate) fn release(mut self) {
        if !self.read.is_empty() {
            return;
        }
        self.write.clear();
        if let Some(pool) = self.pool.upgrade() {
            pool.put(self);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn reuses_live_connections_and_drops_closed_ones() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let key: Authority = listener.local_addr().unwrap().to_string().parse().unwrap();
        let pool = Pool::new(2, Duration::from_secs(60));

        let conn = pool.get(&key).await.unwrap();
        let (mut server_side, _) = listener.accept().await.unwrap();
        assert!(!conn.reused);
        conn.release();
        assert_eq!(pool.idle_count(), 1);
        let conn = pool.get(&key).await.unwrap();
        assert!(conn.reused, "the idle connection is handed out again");
        conn.release();

        // The agent closes its side: the idle connection is not handed out.
        server_side.shutdown().await.unwrap();
        drop(server_side);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let conn = pool.get(&key).await.unwrap();
        assert!(
            !conn.reused,
            "a closed idle connection is replaced by a new one"
        );
    }

    #[tokio::test]
    async fn keeps_at_most_per_host_and_expires_idle_ones() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let key: Authority = listener.local_addr().unwrap().to_string().parse().unwrap();
        let pool = Pool::new(2, Duration::from_millis(200));
        let conns = [
            pool.get(&key).await.unwrap(),
            pool.get(&key).await.unwrap(),
            pool.get(&key).await.unwrap(),
        ];
        for c in conns {
            c.release();
        }
        assert_eq!(pool.idle_count(), 2, "per-host cap");
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(pool.idle_count(), 0, "the reaper drops expired connections");
    }

    #[tokio::test]
    async fn refused_connections_are_connect_errors() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let key: Authority = listener.local_addr().unwrap().to_string().parse().unwrap();
        drop(listener);
        let err = Pool::new(1, Duration::from_secs(1))
            .get(&key)
            .await
            .err()
            .unwrap();
        assert!(err.is_connect(), "{err}");
    }
}
