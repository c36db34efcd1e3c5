//! The OpenClaw Gateway data plane: the proxy node that serves compiled routing tables.
//!
//! Being built. Today it exposes [`discovery`], the client of the control plane's discovery stream:
//! it keeps the resources a node holds, reassembles and verifies each snapshot, ACKs or NACKs it, and
//! reconnects with backoff when the control plane goes away.

pub mod discovery;
