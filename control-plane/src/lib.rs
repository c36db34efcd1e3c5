//! The OpenClaw Gateway control plane.
//!
//! One config server that keeps every version of the gateway document and serves it:
//!
//! - [`Store`] (sled) keeps versions, head, canary state and node status; writes are compare-and-swap
//!   on the head version and flushed before anyone is answered;
//! - `versions` turns admin intents (put, patch, rollback, promote) into validated versions and
//!   publishes each new desired state to the discovery hub;
//! - `admin` is the gRPC admin API the CLI talks to; `auth` checks bearer tokens;
//! - `discovery` splits snapshots into resources, encodes each once, and streams deltas to every
//!   data plane, tracking ACK/NACK per node;
//! - [`server`] wires it all onto one gRPC listener plus a small HTTP listener for `/metrics` and `/health`.

mod admin;
mod auth;
mod discovery;
pub mod server;
mod store;
mod versions;

pub use store::{Store, StoreError, StoredVersion, VersionMeta};
