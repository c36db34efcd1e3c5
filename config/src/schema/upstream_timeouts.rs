//! `gateway.agents.timeouts` and the per-agent and per-rule overrides: how long the proxy waits for an
//! agent to accept a connection, to start answering, and between the bytes of a streamed answer.

use serde::{Deserialize, Serialize};

use crate::problem::Check;
use crate::{Duration, Path};

/// Time bounds on requests to agents; a request past one gets 504 naming the agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct UpstreamTimeouts {
    /// Time to open a connection to an endpoint; default 5s (node-wide: one pool serves every agent).
    pub connect: Duration,
    /// Time from sending the request to the first byte of the response head; default 300s (a
    /// model may think for minutes before it answers).
    pub first_byte: Duration,
    /// Longest pause between two bytes of a response body; default 300s, so an SSE stream that
    /// goes quiet for a while still lives.
    pub idle: Duration,
}

/// An agent's or a rule's own `firstByte` and `idle`, each replacing the one it would inherit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct TimeoutOverride {
    /// Replaces `gateway.agents.timeouts.firstByte`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_byte: Option<Duration>,
    /// Replaces `gateway.agents.timeouts.idle`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle: Option<Duration>,
}

// === impl UpstreamTimeouts ===

impl Default for UpstreamTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::secs(5),
            first_byte: Duration::secs(300),
            idle: Duration::secs(300),
        }
    }
}

impl UpstreamTimeouts {
    pub(crate) fn validate(&self, at: &Path, c: &mut Check) {
        for (key, d) in [
            ("connect", self.connect),
            ("firstByte", self.first_byte),
            ("idle", self.idle),
        ] {
            positive(&at.key(key), d, c);
        }
    }
}

// === impl TimeoutOverride ===

impl TimeoutOverride {
    pub(crate) fn validate(&self, at: &Path, c: &mut Check) {
        for (key, d) in [("firstByte", self.first_byte), ("idle", self.idle)] {
            if let Some(d) = d {
                positive(&at.key(key), d, c);
            }
        }
    }
}

fn positive(at: &Path, d: Duration, c: &mut Check) {
    if d.get().is_zero() {
        c.fail(at, "must be greater than 0", &d);
    }
}
