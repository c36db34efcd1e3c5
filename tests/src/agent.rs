//! A test agent: a small HTTP/1.1 + h2c server on a free loopback port that says who it is.
//!
//! Each agent runs on its own thread with its own single-threaded tokio runtime, so sync and async
//! tests can use it alike. `GET /health` answers the configured status; `…/stream` paths answer a
//! server-sent-event stream written one event at a time; every other request is echoed back as JSON
//! (`agent`, `method`, `path`, `headers`, `body`) with an `x-agent-id` header. A test may slow its
//! answers down ([`TestAgent::set_delay`]) and make it report its load as ORCA's
//! `endpoint-load-metrics` header and in its health check's JSON body ([`TestAgent::set_cpu`]).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;

type Body = BoxBody<Bytes, Infallible>;

/// How a test agent behaves besides its id.
#[derive(Clone, Debug)]
pub struct AgentOptions {
    /// Events written on a `…/stream` request.
    pub sse_events: usize,
    /// Time between two events.
    pub sse_gap: Duration,
}

/// One request as the agent received it.
#[derive(Clone, Debug, Default)]
pub struct Recorded {
    /// The method.
    pub method: String,
    /// The path with its query.
    pub path: String,
    /// Header names (lower case) and values; repeated headers are joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// The body, lossily decoded as UTF-8.
    pub body: String,
    /// Whether the body arrived whole (false when the connection broke off mid-body).
    pub complete: bool,
    /// Which of the agent's connections carried it (numbered from 0 in accept order).
    pub connection: usize,
}

/// The number of the connection a request came on, set by [`serve_http`] as a request extension.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnNumber(pub(crate) usize);

/// A running test agent; stopped (listener and connections closed) when dropped.
pub struct TestAgent {
    addr: SocketAddr,
    state: Arc<State>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

struct State {
    id: String,
    opts: AgentOptions,
    status: AtomicU16,
    requests: AtomicUsize,
    started: AtomicUsize,
    last: Mutex<Option<Recorded>>,
    sse_finished: Mutex<Option<Instant>>,
    /// Milliseconds each echoed answer waits before it is sent.
    delay_ms: AtomicU64,
    /// The CPU utilisation reported, in thousandths; `u64::MAX` = none.
    cpu_milli: AtomicU64,
}

// === impl AgentOptions ===

impl Default for AgentOptions {
    fn default() -> Self {
        Self {
            sse_events: 3,
            sse_gap: Duration::from_millis(50),
        }
    }
}

// === impl TestAgent ===

impl TestAgent {
    /// Starts an agent called `id` with default options.
    pub fn start(id: &str) -> TestAgent {
        Self::start_with(id, AgentOptions::default())
    }

    /// Starts an agent called `id` on `127.0.0.1:0`; it accepts connections when this returns.
    pub fn start_with(id: &str, opts: AgentOptions) -> TestAgent {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind agent");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("agent addr");
        let state = Arc::new(State {
            id: id.to_string(),
            opts,
            status: AtomicU16::new(200),
            requests: AtomicUsize::new(0),
            started: AtomicUsize::new(0),
            last: Mutex::new(None),
            sse_finished: Mutex::new(None),
            delay_ms: AtomicU64::new(0),
            cpu_milli: AtomicU64::new(u64::MAX),
        });
        let (tx, rx) = oneshot::channel();
        let st = state.clone();
        let thread = std::thread::Builder::new()
            .name(format!("agent-{id}"))
            .spawn(move || serve(listener, st, rx))
            .expect("spawn agent thread");
        TestAgent {
            addr,
            state,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// Makes every later echoed answer wait `d` first.
    pub fn set_delay(&self, d: Duration) {
        self.state.delay_ms.store(
            u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }

    /// Reports `cpu` (0..=1) from now on: `endpoint-load-metrics: TEXT cpu_utilization=…` on every
    /// echoed answer and `"cpu"` in the health check's body; `None` reports nothing.
    pub fn set_cpu(&self, cpu: Option<f64>) {
        let v = cpu.map_or(u64::MAX, |c| (c * 1000.0).round() as u64);
        self.state.cpu_milli.store(v, Ordering::SeqCst);
    }

    /// The agent's id.
    pub fn id(&self) -> &str {
        &self.state.id
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// This agent as an entry of `gateway.agents.discovery.static`.
    pub fn config_entry(&self, tags: &[&str]) -> serde_json::Value {
        serde_json::json!({"id": self.id(), "endpoint": self.url(), "tags": tags})
    }

    /// Requests served other than `GET /health` (health probes are not counted).
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Requests whose head arrived (their body may still be on its way), health probes aside.
    pub fn started(&self) -> usize {
        self.state.started.load(Ordering::SeqCst)
    }

    /// The headers of the last request counted by [`requests`](Self::requests).
    pub fn last_headers(&self) -> BTreeMap<String, String> {
        self.last_request().map(|r| r.headers).unwrap_or_default()
    }

    /// The last request counted by [`requests`](Self::requests).
    pub fn last_request(&self) -> Option<Recorded> {
        self.state.last.lock().expect("agent lock").clone()
    }

    /// The status `/health` and ordinary requests answer from now on (default 200).
    pub fn set_status(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    /// When the last event of the most recent finished stream was handed to the connection.
    pub fn sse_finished_at(&self) -> Option<Instant> {
        *self.state.sse_finished.lock().expect("agent lock")
    }

    /// Closes the listener and every open connection; later connections are refused.
    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(listener: std::net::TcpListener, state: Arc<State>, shutdown: oneshot::Receiver<()>) {
    serve_http(listener, shutdown, move |req| handle(state.clone(), req));
}

/// Serves HTTP/1.1 and h2c with `handle` on a one-thread runtime of its own until `shutdown` fires;
/// then closes the listener and every connection (dropping the runtime cancels streams still running).
pub(crate) fn serve_http<F, Fut, B>(
    listener: std::net::TcpListener,
    mut shutdown: oneshot::Receiver<()>,
    handle: F,
) where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("test server runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("test server listener");
        let mut conns = tokio::task::JoinSet::new();
        let mut accepted_count = 0;
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let _ = stream.set_nodelay(true);
                    let handle = handle.clone();
                    let number = ConnNumber(accepted_count);
                    accepted_count += 1;
                    conns.spawn(async move {
                        let svc = service_fn(move |mut req: Request<Incoming>| {
                            req.extensions_mut().insert(number);
                            handle(req)
                        });
                        let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
        drop(listener);
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    });
    drop(rt);
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let status = state.status.load(Ordering::SeqCst);
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_string(), |p| p.as_str().to_string());
    let cpu = match state.cpu_milli.load(Ordering::SeqCst) {
        u64::MAX => None,
        m => Some(m as f64 / 1000.0),
    };
    if method == "GET" && req.uri().path() == "/health" {
        let body = match cpu {
            Some(c) => format!("{{\"status\":{status},\"cpu\":{c}}}"),
            None => format!("{{\"status\":{status}}}"),
        };
        return Ok(response(status, "application/json", full(body), &state.id));
    }
    state.started.fetch_add(1, Ordering::SeqCst);
    let mut headers = BTreeMap::new();
    for (name, value) in req.headers() {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(name.as_str().to_ascii_lowercase())
            .and_modify(|old: &mut String| {
                old.push_str(", ");
                old.push_str(&v);
            })
            .or_insert(v);
    }
    let stream = req.uri().path().ends_with("/stream");
    let connection = req.extensions().get::<ConnNumber>().map_or(0, |c| c.0);
    let (body, complete) = match req.into_body().collect().await {
        Ok(b) => (String::from_utf8_lossy(&b.to_bytes()).into_owned(), true),
        Err(_) => (String::new(), false),
    };
    let rec = Recorded {
        method,
        path,
        headers,
        body,
        complete,
        connection,
    };
    *state.last.lock().expect("agent lock") = Some(rec.clone());
    state.requests.fetch_add(1, Ordering::SeqCst);
    if stream {
        return Ok(sse(state));
    }
    let echo = serde_json::json!({
        "agent": state.id,
        "method": rec.method,
        "path": rec.path,
        "headers": rec.headers,
        "body": rec.body,
    });
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let mut resp = response(
        status,
        "application/json",
        full(echo.to_string()),
        &state.id,
    );
    if let Some(c) = cpu
        && let Ok(v) = format!("TEXT cpu_utilization={c}").parse()
    {
        resp.headers_mut().insert("endpoint-load-metrics", v);
    }
    Ok(resp)
}

/// A `text/event-stream` whose events are written one by one, `sse_gap` apart.
fn sse(state: Arc<State>) -> Response<Body> {
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(1);
    let st = state.clone();
    tokio::spawn(async move {
        let n = st.opts.sse_events;
        for i in 1..=n {
            let event = serde_json::json!({"content": format!("chunk-{i}"), "agent": st.id});
            let frame = Frame::data(Bytes::from(format!("data: {event}\n\n")));
            if tx.send(Ok(frame)).await.is_err() {
                return;
            }
            if i < n {
                tokio::time::sleep(st.opts.sse_gap).await;
            }
        }
        *st.sse_finished.lock().expect("agent lock") = Some(Instant::now());
    });
    let body = StreamBody::new(ReceiverStream::new(rx)).boxed();
    let mut resp = response(200, "text/event-stream", body, &state.id);
    resp.headers_mut()
        .insert("cache-control", "no-cache".parse().expect("header"));
    resp
}

fn full(s: String) -> Body {
    Full::new(Bytes::from(s)).boxed()
}

fn response(status: u16, content_type: &str, body: Body, id: &str) -> Response<Body> {
    let mut resp = Response::new(body);
    *resp.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(
        "content-type",
        content_type.parse().expect("content type header"),
    );
    if let Ok(v) = id.parse() {
        h.insert("x-agent-id", v);
    }
    resp
}
