//! The discovery client: how a data plane (or a benchmark of many) follows the control plane.
//!
//! - [`DiscoveryClient`] holds a node's settings and a (shareable) tonic channel; [`DiscoveryClient::run`]
//!   is the whole loop: connect, apply each snapshot, ACK or NACK, reconnect with backoff and jitter;
//! - [`Session`] is one stream, for callers that drive the exchange themselves;
//! - [`Held`] is what the node holds (name → hash and value), how a response changes it, and the
//!   reassembly and hash check of the snapshot it leads to.

mod backoff;
mod client;
mod error;
mod held;
mod session;

pub use client::{
    Applied, ClientConfig, ClientStatus, DEFAULT_MAX_MESSAGE, DiscoveryClient, TlsConfig,
};
pub use error::ClientError;
pub use held::{Held, Snapshot, Staged};
pub use session::Session;
