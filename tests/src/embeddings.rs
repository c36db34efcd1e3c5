//! A test embeddings server speaking the OpenAI `/v1/embeddings` protocol, on a free loopback port.
//!
//! Its vectors are deterministic: one dimension counts code words, one counts greeting/small-talk words,
//! and the rest are hashed character bigrams — enough for code and chat requests to land near their
//! utterances. `set_hang(true)` makes it stop answering (it holds requests open) so tests can watch the
//! gateway fall back.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::agent::serve_http;

const DIM: usize = 64;
const CODE: &[&str] = &[
    "code", "python", "function", "debug", "bug", "error", "compile", "script", "rust", "java",
    "代码", "函数", "调试", "报错", "程序", "编程", "脚本", "bug",
];
const CHAT: &[&str] = &[
    "hello",
    "hi ",
    "how are you",
    "weather",
    "thanks",
    "joke",
    "你好",
    "天气",
    "聊",
    "谢谢",
    "早上好",
    "心情",
    "笑话",
];

/// A running embeddings server; stopped when dropped.
pub struct EmbeddingServer {
    addr: SocketAddr,
    state: Arc<State>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct State {
    hang: AtomicBool,
    requests: AtomicUsize,
    inputs: AtomicUsize,
    last_auth: Mutex<Option<String>>,
}

// === impl EmbeddingServer ===

impl EmbeddingServer {
    /// Starts the server; it accepts connections when this returns.
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind embeddings");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(State::default());
        let (tx, rx) = oneshot::channel();
        let st = state.clone();
        let thread = std::thread::Builder::new()
            .name("embeddings".into())
            .spawn(move || serve_http(listener, rx, move |req| handle(st.clone(), req)))
            .expect("spawn embeddings thread");
        Self {
            addr,
            state,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// The base URL to configure (`http://127.0.0.1:port/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Stop answering (requests are held open) or answer again.
    pub fn set_hang(&self, hang: bool) {
        self.state.hang.store(hang, Ordering::SeqCst);
    }

    /// HTTP requests received so far.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Texts embedded so far (a batch counts each of its inputs).
    pub fn inputs(&self) -> usize {
        self.state.inputs.load(Ordering::SeqCst)
    }

    /// The `Authorization` header of the last request.
    pub fn last_authorization(&self) -> Option<String> {
        self.state.last_auth.lock().ok().and_then(|a| a.clone())
    }
}

impl Drop for EmbeddingServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The vector of `text`.
fn embed(text: &str) -> Vec<f64> {
    let lower = text.to_lowercase();
    let mut v = vec![0.0; DIM];
    v[0] = 3.0 * CODE.iter().filter(|w| lower.contains(*w)).count() as f64;
    v[1] = 3.0 * CHAT.iter().filter(|w| lower.contains(*w)).count() as f64;
    let chars: Vec<char> = lower.chars().filter(|c| !c.is_whitespace()).collect();
    for w in chars.windows(2) {
        let h = (u32::from(w[0])
            .wrapping_mul(31)
            .wrapping_add(u32::from(w[1]))) as usize;
        v[2 + h % (DIM - 2)] += 0.3;
    }
    v
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    state.requests.fetch_add(1, Ordering::SeqCst);
    if let Ok(mut a) = state.last_auth.lock() {
        *a = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
    }
    let ok_path = req.uri().path() == "/v1/embeddings";
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if state.hang.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let inputs: Vec<String> = match &v["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    if !ok_path || inputs.is_empty() {
        let mut r = Response::new(Full::new(Bytes::from_static(
            b"{\"error\": \"bad request\"}",
        )));
        *r.status_mut() = hyper::StatusCode::BAD_REQUEST;
        return Ok(r);
    }
    state.inputs.fetch_add(inputs.len(), Ordering::SeqCst);
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": embed(t)}))
        .collect();
    let out = json!({"object": "list", "data": data, "model": v["model"]});
    Ok(Response::new(Full::new(Bytes::from(out.to_string()))))
}
