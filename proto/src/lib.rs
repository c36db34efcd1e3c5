//! Generated gRPC contracts of OpenClaw Gateway.
//!
//! - [`admin`]: the control plane's admin API (the CLI's only way in);
//! - [`discovery`]: the xDS-style stream between the control plane and every data plane;
//! - [`FILE_DESCRIPTOR_SET`]: for gRPC reflection, so `grpcurl` can list the services.

#![allow(missing_docs, unreachable_pub, clippy::all)]

/// The admin API.
pub mod admin {
    tonic::include_proto!("openclaw.admin.v1");
}

/// The discovery stream.
pub mod discovery {
    tonic::include_proto!("openclaw.discovery.v1");
}

/// Encoded descriptors of every service, for the reflection service.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("openclaw_descriptor");
