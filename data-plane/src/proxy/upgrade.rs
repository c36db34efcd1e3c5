//! HTTP/1.1 upgrades (WebSocket) pass through: the `Upgrade` request goes to the agent with its upgrade
//! headers, and once the agent answers 101 the two connections are joined and bytes flow both ways
//! until either side closes.

use http::header::{CONNECTION, UPGRADE};
use http::{HeaderMap, HeaderValue};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use super::agent_h1::Upgraded;
use super::h1_head::visible;
use super::req_headers::ReqHeaders;

/// The `Upgrade` value of a request that asks for a protocol switch (`Connection: upgrade`).
pub(crate) fn requested(h: &ReqHeaders) -> Option<HeaderValue> {
    let asks = h
        .get_all(&CONNECTION)
        .filter(|v| visible(v))
        .flat_map(|v| v.split(|&b| b == b','))
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"upgrade"));
    asks.then(|| h.value(&UPGRADE)).flatten()
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
