//! The `openai` encoder: any OpenAI-compatible `/v1/embeddings` endpoint. Each request's embedding is
//! bounded by a strict timeout, kept in a cache by text hash, and guarded by a circuit breaker; whenever
//! the endpoint cannot answer in time the index falls back to the built-in table.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use openclaw_config::OpenAi;
use serde_json::{Value, json};

use super::text_key;

/// Why the endpoint gave no embedding.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum RemoteError {
    /// No answer within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The breaker is open after repeated failures.
    #[error("circuit open after repeated failures")]
    Open,
    /// The request failed or the answer was not usable.
    #[error("{0}")]
    Failed(String),
}

/// A client of one embeddings endpoint and model.
pub(crate) struct RemoteEncoder {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    url: Uri,
    model: String,
    auth: Option<http::HeaderValue>,
    timeout: Duration,
    cache: Option<moka::sync::Cache<u64, Arc<Vec<f32>>>>,
    breaker: Breaker,
}

/// Consecutive failures open the circuit for `cooldown`; the first call after it is a trial.
struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<(u32, Option<Instant>)>,
}

// === impl RemoteEncoder ===

impl RemoteEncoder {
    /// A client for `cfg` (secrets already resolved).
    pub(crate) fn new(cfg: &OpenAi) -> Result<Self, RemoteError> {
        let base = cfg.base_url.trim_end_matches('/');
        let url: Uri = format!("{base}/embeddings")
            .parse()
            .map_err(|e| RemoteError::Failed(format!("baseUrl is not a URL: {e}")))?;
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(https);
        let auth = match &cfg.api_key {
            Some(k) => {
                let mut v = http::HeaderValue::from_str(&format!("Bearer {k}")).map_err(|_| {
                    RemoteError::Failed("apiKey is not a valid header value".into())
                })?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        Ok(Self {
            client,
            url,
            model: cfg.model.clone(),
            auth,
            timeout: cfg.timeout.get(),
            cache: (cfg.cache_size > 0).then(|| moka::sync::Cache::new(u64::from(cfg.cache_size))),
            breaker: Breaker {
                threshold: cfg.failure_threshold.max(1),
                cooldown: cfg.cooldown.get(),
                state: Mutex::new((0, None)),
            },
        })
    }

    /// A label for explanations: `openai:<model>`.
    pub(crate) fn label(&self) -> String {
        format!("openai:{}", self.model)
    }

    /// The embedding of one request's text, from the cache or the endpoint within the timeout.
    pub(crate) async fn embed(&self, text: &str) -> Result<Arc<Vec<f32>>, RemoteError> {
        let key = text_key(text);
        if let Some(v) = self.cache.as_ref().and_then(|c| c.get(&key)) {
            return Ok(v);
        }
        if !self.breaker.allows() {
            return Err(RemoteError::Open);
        }
        let result = self.call(&[text], self.timeout).await;
        self.breaker.record(result.is_ok());
        let v = Arc::new(result?.pop().unwrap_or_default());
        if let Some(c) = &self.cache {
            c.insert(key, v.clone());
        }
        Ok(v)
    }

    /// Embeddings of many texts (the library, when a config is compiled), in batches, cached.
    pub(crate) async fn embed_all(
        &self,
        texts: &[&str],
        per_batch: Duration,
    ) -> Result<Vec<Vec<f32>>, RemoteError> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(64) {
            let cached: Option<Vec<Vec<f32>>> = self.cache.as_ref().and_then(|c| {
                batch
                    .iter()
                    .map(|t| c.get(&text_key(t)).map(|v| v.as_ref().clone()))
                    .collect()
            });
            let vectors = match cached {
                Some(v) => v,
                None => self.call(batch, per_batch).await?,
            };
            if let Some(c) = &self.cache {
                for (t, v) in batch.iter().zip(&vectors) {
                    c.insert(text_key(t), Arc::new(v.clone()));
                }
            }
            out.extend(vectors);
        }
        Ok(out)
    }

    async fn call(&self, texts: &[&str], timeout: Duration) -> Result<Vec<Vec<f32>>, RemoteError> {
        let body = json!({"model": self.model, "input": texts}).to_string();
        let mut req = Request::post(self.url.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| RemoteError::Failed(e.to_string()))?;
        if let Some(a) = &self.auth {
            req.headers_mut().insert(header::AUTHORIZATION, a.clone());
        }
        let exchange = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| RemoteError::Failed(format!("request failed: {e}")))?;
            let status = resp.status();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| RemoteError::Failed(format!("reading the answer: {e}")))?
                .to_bytes();
            if !status.is_success() {
                return Err(RemoteError::Failed(format!("status {status}")));
            }
            parse_embeddings(&bytes, texts.len())
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| RemoteError::Timeout(timeout))?
    }
}

/// `{"data": [{"index": i, "embedding": [...]}, ...]}` in input order.
fn parse_embeddings(bytes: &[u8], want: usize) -> Result<Vec<Vec<f32>>, RemoteError> {
    let bad = |why: &str| RemoteError::Failed(format!("unusable answer: {why}"));
    let v: Value = serde_json::from_slice(bytes).map_err(|_| bad("not JSON"))?;
    let data = v
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no data array"))?;
    let mut out = vec![Vec::new(); want];
    for (pos, item) in data.iter().enumerate() {
        let i = item
            .get("index")
            .and_then(Value::as_u64)
            .map_or(pos, |i| i as usize);
        let emb = item
            .get("embedding")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("an item has no embedding"))?;
        let slot = out.get_mut(i).ok_or_else(|| bad("index out of range"))?;
        *slot = emb
            .iter()
            .filter_map(Value::as_f64)
            .map(|x| x as f32)
            .collect();
    }
    if out.iter().any(Vec::is_empty) {
        return Err(bad("fewer embeddings than inputs"));
    }
    Ok(out)
}

// === impl Breaker ===

impl Breaker {
    fn allows(&self) -> bool {
        let Ok(mut s) = self.state.lock() else {
            return true;
        };
        match s.1 {
            Some(until) if Instant::now() < until => false,
            Some(_) => {
                // Half-open: let this call through; a failure opens the circuit again at once.
                s.1 = None;
                s.0 = self.threshold.saturating_sub(1);
                true
            }
            None => true,
        }
    }

    fn record(&self, ok: bool) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        if ok {
            *s = (0, None);
        } else {
            s.0 += 1;
            if s.0 >= self.threshold {
                s.1 = Some(Instant::now() + self.cooldown);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_answers_in_input_order() {
        let body = br#"{"data": [{"index": 1, "embedding": [0.0, 1.0]}, {"index": 0, "embedding": [1.0, 0.0]}]}"#;
        assert_eq!(
            parse_embeddings(body, 2).unwrap(),
            vec![vec![1.0, 0.0], vec![0.0, 1.0]]
        );
        assert!(parse_embeddings(br#"{"data": []}"#, 1).is_err());
        assert!(parse_embeddings(b"<html>", 1).is_err());
    }

    #[test]
    fn breaker_opens_after_threshold_and_tries_again_after_cooldown() {
        let b = Breaker {
            threshold: 2,
            cooldown: Duration::from_millis(20),
            state: Mutex::new((0, None)),
        };
        b.record(false);
        assert!(b.allows());
        b.record(false);
        assert!(!b.allows());
        std::thread::sleep(Duration::from_millis(30));
        assert!(b.allows());
        b.record(false);
        assert!(!b.allows());
    }
}
