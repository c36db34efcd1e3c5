//! `route.explain`: the control plane's snapshot evaluated by the data plane's own routing library, so
//! the answer is what a node would do — rule, agent, endpoint, and for semantic rules each category's
//! similarity, calibrated confidence, threshold and margin.

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use openclaw_data_plane::compiled::Compiled;
use openclaw_data_plane::explain::{ExplainRequest, explain};
use openclaw_data_plane::semantic::ModelStore;
use openclaw_data_plane::upstream::Registry;
use serde_json::Value;

use crate::args::ExplainArgs;
use crate::output::Failure;

/// Explains `a` under `doc` (stored as `version`); `${VAR}` placeholders resolve from this environment.
pub(crate) async fn run(a: &ExplainArgs, doc: &Value, version: u64) -> Result<Value, Failure> {
    let req = request(a)?;
    let env = |name: &str| std::env::var(name).ok();
    let doc = stand_in_key_hashes(doc);
    let registry = Registry::new();
    let built = Compiled::build(&doc, version, &registry, &env, &ModelStore::new());
    let result = match built {
        Ok(t) => Ok(explain(&t, &req).await),
        Err(e) => Err(Failure::op(format!(
            "cannot evaluate version {version} here (placeholders resolve from this shell's environment): {e}"
        ))),
    };
    registry.shutdown();
    result
}

/// The control plane shows API key hashes as `<redacted>`; routing never reads them, so a stand-in
/// hash lets the document compile (explaining only says whether a rule requires auth).
fn stand_in_key_hashes(doc: &Value) -> Value {
    let mut doc = doc.clone();
    if let Some(Value::Array(keys)) = doc.pointer_mut("/gateway/auth/apiKeys") {
        for k in keys {
            if k.get("keyHash").and_then(Value::as_str) == Some(openclaw_config::secrets::REDACTED)
            {
                k["keyHash"] = Value::String(format!("sha256:{}", "0".repeat(64)));
            }
            if k.get("key").and_then(Value::as_str) == Some(openclaw_config::secrets::REDACTED) {
                k["key"] = Value::String("redacted-key".into());
            }
        }
    }
    doc
}

fn request(a: &ExplainArgs) -> Result<ExplainRequest, Failure> {
    let body = match &a.body {
        Some(b) => match b.strip_prefix('@') {
            Some(file) => {
                std::fs::read(file).map_err(|e| Failure::usage(format!("--body @{file}: {e}")))?
            }
            None => b.clone().into_bytes(),
        },
        None => Vec::new(),
    };
    let method = match &a.method {
        Some(m) => Method::from_bytes(m.to_ascii_uppercase().as_bytes())
            .map_err(|_| Failure::usage(format!("--method {m}: not an HTTP method")))?,
        None if a.body.is_some() => Method::POST,
        None => Method::GET,
    };
    if !a.path.starts_with('/') {
        return Err(Failure::usage(format!(
            "--path {}: must start with /",
            a.path
        )));
    }
    let mut headers = HeaderMap::new();
    for h in &a.headers {
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| Failure::usage(format!("--header {h}: expected name:value")))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| Failure::usage(format!("--header {h}: not a header name")))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| Failure::usage(format!("--header {h}: not a header value")))?;
        headers.append(name, value);
    }
    if !body.is_empty() && !headers.contains_key(http::header::CONTENT_TYPE) {
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    Ok(ExplainRequest {
        method,
        path: a.path.clone(),
        headers,
        body,
    })
}
