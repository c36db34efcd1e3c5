//! The three demo agents of `openclaw up`: tiny HTTP/1.1 servers that stand in for real agents so the
//! seed's client examples get an answer at once.
//!
//! Every agent answers `GET /health` with 200, `POST /api/v1/chat/stream` (any path ending in `/stream`)
//! with server-sent events `data: {"content": "…"}` about every 50 ms and then `data: {"done": true}`
//! (every `data:` line is JSON, as the seed's Node.js client expects), and every
//! other request with `{"agent", "reply", "path", "received"}` where `received` is the JSON it was sent.
//! They are demos, not agents: the reply is canned text shaped by the agent's kind.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The largest request body a demo agent reads.
const MAX_BODY: usize = 1 << 20;
/// The gap between two streamed words.
const STREAM_GAP: Duration = Duration::from_millis(50);

type Body = BoxBody<Bytes, Infallible>;

/// What a demo agent is good at; shapes its canned replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Friendly conversation.
    Chat,
    /// Answers with a code block.
    Code,
    /// Answers with a table.
    Data,
}

/// One demo agent: its id and its kind.
pub(crate) struct DemoAgent {
    /// The agent id the bootstrap config uses (`agent-chat-001`).
    pub(crate) id: &'static str,
    /// What it answers like.
    pub(crate) kind: Kind,
}

// === impl Kind ===

impl Kind {
    /// The reply to `message` (the `message` field of the request, or empty).
    fn reply(self, message: &str) -> String {
        let said = if message.is_empty() {
            "(no message)".to_string()
        } else {
            format!("“{message}”")
        };
        match self {
            Kind::Chat => format!(
                "Hello! I'm the demo chat agent. You said {said}. Thanks for trying OpenClaw Gateway — \
                 the gateway routed your request here by its rules."
            ),
            Kind::Code => format!(
                "Demo code agent here. For {said}, a first sketch:\n```python\ndef solve(items):\n    \
                 # profile first, then fix the hot loop\n    return sorted(set(items))\n```"
            ),
            Kind::Data => format!(
                "Demo data agent here. Summary for {said}:\n| metric | value |\n|---|---|\n\
                 | requests | 1024 |\n| p99 latency | 42 ms |\n| cache hit ratio | 0.87 |"
            ),
        }
    }
}

// === impl DemoAgent ===

impl DemoAgent {
    /// The three agents of the bootstrap config, in port order.
    pub(crate) fn all() -> [DemoAgent; 3] {
        [
            DemoAgent {
                id: "agent-chat-001",
                kind: Kind::Chat,
            },
            DemoAgent {
                id: "agent-code-001",
                kind: Kind::Code,
            },
            DemoAgent {
                id: "agent-data-001",
                kind: Kind::Data,
            },
        ]
    }

    /// Serves `listener` until `stop` turns true; open connections finish their current request.
    pub(crate) async fn serve(self, listener: TcpListener, mut stop: watch::Receiver<bool>) {
        let agent = Arc::new(self);
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                r = stop.wait_for(|s| *s) => {
                    drop(r);
                    return;
                }
            };
            let Ok((stream, _)) = accepted else {
                // Out of file descriptors or similar: back off briefly instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let agent = agent.clone();
            let mut stop = stop.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let agent = agent.clone();
                    async move { Ok::<_, Infallible>(agent.handle(req).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc);
                tokio::pin!(conn);
                let stopping = tokio::select! {
                    _ = conn.as_mut() => false,
                    r = stop.wait_for(|s| *s) => r.is_ok(),
                };
                if stopping {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            });
        }
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let path = req.uri().path().to_string();
        if path == "/health" {
            return json_response(StatusCode::OK, &json!({"status": "ok", "agent": self.id}));
        }
        let body = match http_body_util::Limited::new(req.into_body(), MAX_BODY)
            .collect()
            .await
        {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    &json!({"agent": self.id, "error": format!("cannot read the body: {e}")}),
                );
            }
        };
        let received: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
        };
        let message = received
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let reply = self.kind.reply(message);
        if path.ends_with("/stream") {
            return stream_response(reply);
        }
        json_response(
            StatusCode::OK,
            &json!({"agent": self.id, "reply": reply, "path": path, "received": received}),
        )
    }
}

fn json_response(status: StatusCode, v: &Value) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(v.to_string())).boxed());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

/// Server-sent events: one `data: {"content": "<word> "}` per word, then `data: {"done": true}`.
///
/// Not OpenAI's `data: [DONE]`: the seed's streaming client JSON-parses every `data:` line.
fn stream_response(reply: String) -> Response<Body> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
    tokio::spawn(async move {
        for word in reply.split_inclusive(' ') {
            let event = format!("data: {}\n\n", json!({"content": word}));
            if tx.send(Ok(Frame::data(Bytes::from(event)))).await.is_err() {
                return; // The client went away.
            }
            tokio::time::sleep(STREAM_GAP).await;
        }
        let _ = tx
            .send(Ok(Frame::data(Bytes::from_static(
                b"data: {\"done\": true}\n\n",
            ))))
            .await;
    });
    let body = StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    let mut resp = Response::new(BodyExt::boxed(body));
    let h = resp.headers_mut();
    h.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/event-stream"),
    );
    h.insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-cache"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_shaped_by_kind() {
        assert!(Kind::Chat.reply("hi").contains("“hi”"));
        assert!(Kind::Code.reply("x").contains("```"));
        assert!(Kind::Data.reply("x").contains("| metric | value |"));
    }
}
