//! Why a version operation was refused; the admin API turns each into a gRPC status.

use crate::store::StoreError;

/// Why a version operation was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum VersionsError {
    /// The document does not validate; one problem per entry.
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
    /// The caller's expected head is stale.
    #[error("head is at version {actual}, expected {expected}")]
    Conflict {
        /// The head the caller expected.
        expected: u64,
        /// The actual head.
        actual: u64,
    },
    /// A canary is active, so plain writes wait until it is promoted or rolled back.
    #[error("a canary of version {version} is active: promote or rollback first")]
    CanaryActive {
        /// The canary version.
        version: u64,
    },
    /// Promote without an active canary.
    #[error("no canary is active")]
    NoCanary,
    /// A version or key that does not exist; the message names it.
    #[error("{0}")]
    NotFound(String),
    /// A request that cannot be carried out as given (bad patch, bad key, bad selector).
    #[error("{0}")]
    BadRequest(String),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

// === impl VersionsError ===

impl VersionsError {
    /// A short label for metrics and logs.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid",
            Self::Conflict { .. } => "conflict",
            Self::CanaryActive { .. } => "canary_active",
            Self::NoCanary => "no_canary",
            Self::NotFound(_) => "not_found",
            Self::BadRequest(_) => "bad_request",
            Self::Store(e) => e.kind(),
        }
    }
}

impl From<StoreError> for VersionsError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { expected, actual } => Self::Conflict { expected, actual },
            StoreError::NotFound(v) => Self::NotFound(format!("version {v} not found")),
            e => Self::Store(e),
        }
    }
}
