//! Discovery: the desired state split into resources and streamed to every data plane as deltas.
//!
//! - [`Hub`] takes each new desired state ([`Publish`](crate::versions::Publish)), encodes every
//!   resource once into a [`Target`](snapshot::Target) shared by all streams, and announces it on a
//!   `watch` channel (latest wins: a slow node skips intermediate versions);
//! - [`DiscoveryService`] runs one task per stream (`stream`): it sends a node only what differs from
//!   what it holds, one response at a time, and follows ACKs and NACKs; `wire` frames the stream
//!   itself, so a stream keeps no buffer the size of its largest message;
//! - `registry` remembers every node seen (persisted through a callback) and announces changes, which
//!   `rollout` turns into the admin API's [`NodeView`](crate::admin::NodeView).

mod hub;
mod registry;
mod rollout;
mod service;
mod snapshot;
mod stream;
mod wire;

#[cfg(test)]
mod tests;

pub(crate) use hub::Hub;
pub(crate) use service::DiscoveryService;
