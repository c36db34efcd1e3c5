//! HTTP/1.1 upgrades (WebSocket only, see [`crate::http1::upgrade`]) pass through: the `Upgrade`
//! request goes to the agent with its upgrade headers, and once the agent answers 101 with the
//! matching `Sec-WebSocket-Accept` the two connections are joined and bytes flow both ways until
//! either side closes.

use http::header::{CONNECTION, UPGRADE};
use http::{HeaderMap, HeaderName, HeaderValue};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use crate::http1::client::Upgraded;
use crate::http1::head::visible;
use crate::http1::req_headers::ReqHeaders;
use crate::http1::upgrade::{accept, valid_key};

const SEC_WEBSOCKET_KEY: HeaderName = HeaderName::from_static("sec-websocket-key");
const SEC_WEBSOCKET_ACCEPT: HeaderName = HeaderName::from_static("sec-websocket-accept");

/// An allowed protocol switch a request asks for.
pub(crate) struct Switch {
    /// The `Upgrade` value (`websocket`).
    pub(crate) protocol: HeaderValue,
    /// The `Sec-WebSocket-Accept` the agent's 101 must carry.
    accept: String,
}

// === impl Switch ===

impl Switch {
    /// True when the agent's 101 `headers` complete the handshake this request started.
    pub(crate) fn accepted_by(&self, headers: &HeaderMap) -> bool {
        let mut values = headers.get_all(&SEC_WEBSOCKET_ACCEPT).iter();
        matches!((values.next(), values.next()), (Some(v), None) if v.as_bytes() == self.accept.as_bytes())
    }
}

/// The WebSocket switch a request asks for (`Connection: upgrade`, `Upgrade: websocket` and a valid
/// key), when `allowed`. Only a request hyper read can switch: our HTTP/1.1 server hands every
/// allowed upgrade to hyper and serves the others as plain requests.
pub(crate) fn requested(h: &ReqHeaders, allowed: bool) -> Option<Switch> {
    if !allowed || !matches!(h, ReqHeaders::Map(_)) {
        return None;
    }
    let asks = h
        .get_all(&CONNECTION)
        .filter(|v| visible(v))
        .flat_map(|v| v.split(|&b| b == b','))
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"upgrade"));
    let protocol = h
        .value(&UPGRADE)
        .filter(|p| p.as_bytes().eq_ignore_ascii_case(b"websocket"))?;
    let key = h.get(&SEC_WEBSOCKET_KEY).filter(|k| valid_key(k))?;
    asks.then(|| Switch {
        protocol,
        accept: accept(key),
    })
}

/// Puts back the headers hop-by-hop stripping removed, so the next hop sees the upgrade request.
pub(crate) fn restore(h: &mut HeaderMap, protocol: &HeaderValue) {
    h.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(UPGRADE, protocol.clone());
}

/// Joins the client's and the agent's upgraded connections in a task that lives until either side
/// closes; `keep` (in-flight guards) lives as long.
pub(crate) fn splice<K: Send + 'static>(
    client: Option<OnUpgrade>,
    upstream: Option<Upgraded>,
    keep: K,
) {
    let (Some(client), Some(mut b)) = (client, upstream) else {
        return;
    };
    tokio::spawn(async move {
        let _keep = keep;
        let client = match client.await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "upgrade did not complete");
                return;
            }
        };
        let mut a = TokioIo::new(client);
        if let Err(e) = tokio::io::copy_bidirectional(&mut a, &mut b).await {
            tracing::debug!(error = %e, "upgraded connection ended with an error");
        }
    });
}
