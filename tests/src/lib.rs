//! The end-to-end sandbox: finds (and if needed builds) the real binaries, binds free loopback ports,
//! starts processes (ours, test agents, a real `redis-server`) and stops exactly the ones it started.

mod agent;
mod binaries;
mod certs;
mod control_plane;
mod data_plane;
mod embeddings;
mod grpc_agent;
mod node;
mod process;
mod redis;
mod wire_agent;

pub use agent::{AgentOptions, Recorded, TestAgent};
pub use binaries::bin;
pub use certs::{CertPem, TestCa};
pub use control_plane::{ADMIN_TOKEN, ControlPlane, CpOptions, NODE_TOKEN, json_ok};
pub use data_plane::{DataPlane, DataPlaneBuilder, HttpConn, HttpResponse, http_request};
pub use embeddings::EmbeddingServer;
pub use grpc_agent::GrpcAgent;
pub use node::{RawNode, holdings};
pub use process::{Child, free_port, wait_for_port, wait_until};
pub use redis::RedisServer;
pub use wire_agent::{SAMPLE_ACCEPT, Seen, WireAgent, summary};
