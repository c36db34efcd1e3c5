//! How an exchange with an agent fails.

use std::io;

use crate::http1::body::BoxError;
use crate::http1::framing::DecodeError;

/// Why a request to an agent got no (complete) response.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AgentError {
    /// No connection could be made.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// `host:port` dialled.
        addr: String,
        /// The socket error.
        source: io::Error,
    },
    /// Connecting took longer than the connect timeout.
    #[error("cannot connect to {0}: timed out")]
    ConnectTimeout(String),
    /// The request body failed while it was being sent (its cause says why: too large, too slow…).
    #[error("the request body failed: {0}")]
    Body(#[source] BoxError),
    /// Reading from or writing to the agent's connection failed.
    #[error("connection to the agent failed: {0}")]
    Io(#[source] io::Error),
    /// The agent closed the connection before a whole response head.
    #[error("the agent closed the connection before responding")]
    Closed,
    /// The agent's response head is not valid HTTP/1.x.
    #[error("invalid response from the agent: {0}")]
    Invalid(String),
    /// The agent's response head is larger than the limit.
    #[error("response head from the agent larger than {0} bytes")]
    HeadTooLarge(usize),
    /// The response body's framing is broken.
    #[error("invalid response body from the agent: {0}")]
    Framing(#[from] DecodeError),
    /// The agent's URL has a scheme this client does not speak.
    #[error("agent URL scheme `{0}` is not supported for HTTP/1.1 agents (use http)")]
    Scheme(String),
    /// The HTTP/2 (gRPC) client failed.
    #[error(transparent)]
    H2(#[from] hyper_util::client::legacy::Error),
}

// === impl AgentError ===

impl AgentError {
    /// True when no connection to the agent could be made (the request never reached it), so another
    /// endpoint may take it.
    pub(crate) fn is_connect(&self) -> bool {
        match self {
            Self::Connect { .. } | Self::ConnectTimeout(_) => true,
            Self::H2(e) => e.is_connect(),
            _ => false,
        }
    }
}
