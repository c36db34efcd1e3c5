//! Accepting client connections (HTTP/1.1 and HTTP/2 on one port: h2 via ALPN over TLS, h2c with prior
//! knowledge on plain TCP), closing the ones idle for `http.timeouts.idle`, and draining them on
//! shutdown. HTTP/1.1 (plain, or TLS without ALPN `h2`) is served by [`crate::http1::server`]; HTTP/2
//! (ALPN `h2`, h2c) and protocol switches by hyper.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use super::error::HeadRefusals;
use super::handler::{Conn, handle};
use crate::http1::client_io::ClientIo;
use crate::http1::prefixed::Prefixed;
use crate::http1::request::Policy;
use crate::http1::server::{self as h1_server, Ended};
use crate::http1::timed_io::TimedIo;
use crate::state::Shared;
use openclaw_config::UpgradeProtocol;

/// Serves `listener` until `shutdown` completes, then stops accepting and lets in-flight requests
/// finish for up to `http.timeouts.shutdown` of the config in force.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, shutdown: impl Future<Output = ()>) {
    let mut builder = Builder::new(TokioExecutor::new());
    // hyper's own header limits, with slack over `maxHeaderSize` so the handler's JSON 431 answers
    // the common case; hyper refuses only far larger heads (its floor is 8 KiB).
    let max_header = shared.current.load().as_ref().map_or(64 * 1024, |t| {
        t.gateway.http.limits.max_header_size.bytes() as usize
    });
    // A client must send a whole request head within `http.timeouts.read` (slowloris protection).
    let read_timeout = shared
        .current
        .load()
        .as_ref()
        .map_or(Duration::from_secs(30), |t| {
            t.gateway.http.timeouts.read.get()
        });
    builder
        .http1()
        .max_buf_size((2 * max_header).max(8192))
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(read_timeout);
    builder
        .http2()
        .max_header_list_size(u32::try_from(2 * max_header).unwrap_or(u32::MAX));
    // Shutdown reaches every connection through `stop`; each holds a clone of `open` until it ends, so
    // the drain is over when the receiver sees every sender gone.
    let (stop_tx, stop) = watch::channel(false);
    let (open, mut all_closed) = mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let guard = shared.metrics.connection();
        let svc_shared = shared.clone();
        let builder = builder.clone();
        let mut stop = stop.clone();
        let open = open.clone();
        // The TLS config in force at accept time; later certificate reloads apply to later connections.
        let acceptor = shared.tls.as_ref().map(|t| t.acceptor());
        let (read_timeout, write_timeout, idle) = shared.current.load().as_ref().map_or(
            (
                Duration::from_secs(30),
                Duration::from_secs(60),
                Duration::from_secs(120),
            ),
            |t| {
                let to = &t.gateway.http.timeouts;
                (to.read.get(), to.write.get(), to.idle.get())
            },
        );
        let policy = shared.current.load().as_ref().map_or(
            Policy {
                keep_underscores: false,
                websocket: true,
            },
            |t| Policy {
                keep_underscores: t.gateway.http.underscores_in_headers,
                websocket: t
                    .gateway
                    .http
                    .upgrades
                    .contains(&UpgradeProtocol::Websocket),
            },
        );
        let h1 = h1_server::Settings {
            idle,
            read: read_timeout,
            max_head: (2 * max_header).max(8192),
            max_header_size: max_header as u64,
            policy,
        };
        let stream = TimedIo::new(stream, write_timeout);
        let activity = stream.activity();
        // The handshake runs in the connection's task so one slow client never blocks accepting.
        tokio::spawn(async move {
            let _guard = guard;
            let _open = open;
            let conn = Conn::new(peer, if acceptor.is_some() { "https" } else { "http" });
            // Not boxed per request: the connection's future keeps room for the request's (about
            // 2.5 kB more per idle keep-alive client), which spares a large allocation and a copy of
            // the request's future per request (about 3% of the proxy's CPU time).
            let (h1_shared, h1_conn) = (svc_shared.clone(), conn.clone());
            let serve_h1 = move |req: http::Request<h1_server::RequestBody>, fields| {
                handle(h1_shared.clone(), h1_conn.clone(), req, Some(fields))
            };
            let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                Box::pin(
                    handle(svc_shared.clone(), conn.clone(), req, None)
                        .map(|a| Ok::<_, Infallible>(a.into_response())),
                )
            });
            let (io, h2) = match acceptor {
                None => (ClientIo::Plain(stream), false),
                Some(acceptor) => {
                    let handshake = tokio::time::timeout(read_timeout, acceptor.accept(stream));
                    let tls = match Box::pin(handshake).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, peer = %peer, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(peer = %peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                    (ClientIo::Tls(Box::new(tls)), h2)
                }
            };
            // HTTP/2 goes to hyper at once; HTTP/1.1 to our server, which hands the connection to hyper
            // (with what it read) for h2c and protocol switches.
            let io = if h2 {
                Ok(Ended::HandOff(Prefixed::new(io, Bytes::new())))
            } else {
                h1_server::serve_connection(io, serve_h1, HeadRefusals, h1, &stop).await
            };
            let result = match io {
                Ok(Ended::Closed) => Ok(()),
                Err(e) => Err(e.into()),
                Ok(Ended::HandOff(io)) => {
                    // Boxed, like the handshake: a connection's task is as large as its largest
                    // state, and most connections never need hyper's.
                    let mut conn =
                        Box::pin(builder.serve_connection_with_upgrades(TokioIo::new(io), svc));
                    drive(
                        conn.as_mut(),
                        |c| c.graceful_shutdown(),
                        &activity,
                        idle,
                        &mut stop,
                    )
                    .await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, peer = %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(open);
    let deadline = shared
        .current
        .load()
        .as_ref()
        .map_or(Duration::from_secs(30), |t| {
            t.gateway.http.timeouts.shutdown.get()
        });
    tracing::info!(
        deadline_secs = deadline.as_secs_f64(),
        "draining connections"
    );
    if tokio::time::timeout(deadline, all_closed.recv())
        .await
        .is_err()
    {
        tracing::warn!("drain deadline passed: closing the remaining connections");
    }
}

/// Runs one connection to its end. On shutdown, or once no byte has moved either way for `idle`, it is
/// shut down gracefully: a request in progress still completes, then the connection closes.
async fn drive<C, E>(
    mut conn: Pin<&mut C>,
    graceful: impl Fn(Pin<&mut C>),
    activity: &AtomicU64,
    idle: Duration,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), E>
where
    C: Future<Output = Result<(), E>>,
{
    // The watchdog looks four times per `idle`, so a quiet connection closes within 1.25 × `idle`;
    // the I/O path only bumps a counter.
    let tick = (idle / 4).max(Duration::from_millis(10));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen = activity.load(Ordering::Relaxed);
    let mut quiet = Duration::ZERO;
    let mut closing = *stop.borrow();
    if closing {
        graceful(conn.as_mut());
    }
    loop {
        tokio::select! {
            result = conn.as_mut() => return result,
            changed = stop.changed(), if !closing => {
                // A dropped sender also means the server is going away.
                let _ = changed;
                closing = true;
                graceful(conn.as_mut());
            }
            _ = ticks.tick(), if !closing => {
                let now = activity.load(Ordering::Relaxed);
                if now == seen {
                    quiet += tick;
                    if quiet >= idle {
                        closing = true;
                        graceful(conn.as_mut());
                    }
                } else {
                    seen = now;
                    quiet = Duration::ZERO;
                }
            }
        }
    }
}
