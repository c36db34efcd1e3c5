//! `gateway.controlPlane`: where a managed data plane finds its control plane and who it says it is.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Path;
use crate::checks::is_url;
use crate::problem::Check;

/// A data plane's link to its control plane; absent `address` means standalone mode.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ControlPlane {
    /// `http://host:port` or `https://host:port` of the discovery service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// This node's unique id; default the host name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// Labels that canary selectors match (`zone=a`).
    pub labels: BTreeMap<String, String>,
    /// Node token presented on the discovery stream, usually `${OPENCLAW_NODE_TOKEN}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// TLS towards the control plane.
    pub tls: ControlPlaneTls,
    /// Where the last applied snapshot is kept, to start from when the control plane is away.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<String>,
}

/// TLS and mTLS towards the control plane.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ControlPlaneTls {
    /// PEM CA that signed the control plane's certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
    /// PEM client certificate (mTLS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<String>,
    /// PEM client key (mTLS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

// === impl ControlPlane ===

impl ControlPlane {
    pub(crate) fn validate(&self, at: &Path, c: &mut Check) {
        if let Some(a) = &self.address
            && !is_url(a, &["http", "https"])
        {
            c.fail(&at.key("address"), "must be an http:// or https:// URL", a);
        }
        if let Some(id) = &self.node_id {
            c.require(&at.key("nodeId"), id);
        }
        for (k, v) in &self.labels {
            let ok = |s: &str| {
                !s.is_empty()
                    && s.chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || "-_./".contains(ch))
            };
            if !ok(k) {
                c.fail(
                    &at.key("labels"),
                    "label names use letters, digits and - _ . /",
                    k,
                );
            } else if !ok(v) {
                c.fail(
                    &at.key("labels").key(k.clone()),
                    "label values use letters, digits and - _ . /",
                    v,
                );
            }
        }
        let t = &self.tls;
        if t.cert.is_some() != t.key.is_some() {
            let missing = if t.cert.is_some() { "key" } else { "cert" };
            c.missing(
                &at.key("tls").key(missing),
                "is required when the other half of the client certificate is set",
            );
        }
    }
}
