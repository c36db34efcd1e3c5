//! Our own HTTP/1.1 client towards agents: a connection is owned by the request that uses it, so a
//! request costs no connection task, channel or pool checkout future (hyper-util's legacy client spent
//! about a fifth of the proxy's per-request instructions there).
//!
//! [`pool`] keeps idle connections, [`head`] writes request heads and parses response heads,
//! [`exchange`] runs one request/response, [`body`] streams response bodies (framed by
//! [`super::framing`]).

mod body;
mod error;
mod exchange;
mod head;
mod pool;

#[cfg(test)]
mod tests;

pub(crate) use body::H1Body;
pub(crate) use error::AgentError;
pub(crate) use exchange::send;
pub(crate) use head::Forward;
pub(crate) use pool::{Pool, TCP_KEEPALIVE};

/// An agent's connection after `101 Switching Protocols`.
pub(crate) type Upgraded = super::prefixed::Prefixed<tokio::net::TcpStream>;
