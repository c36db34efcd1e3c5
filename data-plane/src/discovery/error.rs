//! What can go wrong while following the control plane.

/// Why the discovery client could not connect, or could not take a response.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The control plane's URL cannot be used.
    #[error("invalid control plane endpoint {endpoint}: {message}")]
    Endpoint {
        /// The URL as configured.
        endpoint: String,
        /// What is wrong with it.
        message: String,
    },
    /// The TLS settings cannot be used.
    #[error("invalid TLS settings: {0}")]
    Tls(String),
    /// The token cannot be sent as an HTTP header value.
    #[error("the node token is not a valid header value")]
    Token,
    /// The control plane answered the stream with an error status (or the transport failed).
    #[error("discovery stream failed: {0}")]
    Status(#[from] tonic::Status),
    /// A response was larger than this node accepts.
    #[error(
        "a discovery response is larger than this node accepts ({detail}); raise --max-message-size (OPENCLAW_MAX_MESSAGE_SIZE) on the data plane, now {limit} bytes"
    )]
    TooLarge {
        /// What gRPC said (the size found and the limit).
        detail: String,
        /// The limit in force, in bytes.
        limit: usize,
    },
    /// The control plane closed the stream.
    #[error("the control plane closed the discovery stream")]
    Closed,
    /// A response that cannot be applied: the node NACKs it with this message.
    #[error("{0}")]
    InvalidResponse(String),
    /// `ack`/`nack` was called with no snapshot waiting for an answer.
    #[error("no snapshot is waiting for an ACK or NACK")]
    NothingPending,
}

impl ClientError {
    /// A short stable label of the error, for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Endpoint { .. } => "endpoint",
            Self::Tls(_) => "tls",
            Self::Token => "token",
            Self::Status(_) => "status",
            Self::TooLarge { .. } => "too_large",
            Self::Closed => "closed",
            Self::InvalidResponse(_) => "invalid_response",
            Self::NothingPending => "nothing_pending",
        }
    }
}
