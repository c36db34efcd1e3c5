//! The data plane's HTTP/1.1 codec, compiled from its own sources: the codec knows nothing of the
//! gateway, so it builds here with only its few dependencies, and the targets call the same
//! invariant checks (`http1::fuzz`) that `cargo test` replays the corpus through.

#![allow(dead_code, unreachable_pub, missing_docs)]

/// The codec's parsing half (`data-plane/src/http1/`): its connection loop and agent client need
/// tokio and are left out, so only the parsers' few dependencies are built here.
#[path = "../../src/http1"]
pub mod http1 {
    pub mod fields;
    pub mod framing;
    pub mod fuzz;
    pub mod head;
    pub mod request;
    pub mod response;
    pub mod upgrade;
}
