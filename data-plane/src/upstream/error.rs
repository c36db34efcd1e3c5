//! What can go wrong while reconciling the registry with a snapshot.

/// Why [`Registry::sync`](super::Registry::sync) refused a snapshot (the registry is left unchanged),
/// or why an endpoint URI could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// An agent's endpoint is not an `http://` URL with a host.
    #[error("agent {agent}: invalid endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint {
        /// The agent id.
        agent: String,
        /// The endpoint as configured.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two agents share an id.
    #[error("duplicate agent id {0:?}")]
    DuplicateAgent(String),
    /// A path cannot be appended to an endpoint's base URL (the health-check path, say).
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Health checks are enabled but `sync` was called outside a tokio runtime, so they cannot run.
    #[error("health checks need a tokio runtime")]
    NoRuntime,
}

// === impl UpstreamError ===

impl UpstreamError {
    /// A short, stable name for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidEndpoint { .. } => "invalid_endpoint",
            Self::DuplicateAgent(_) => "duplicate_agent",
            Self::InvalidPath { .. } => "invalid_path",
            Self::NoRuntime => "no_runtime",
        }
    }
}
