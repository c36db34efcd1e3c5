//! The data plane's HTTP/1.1 codec, compiled from its own sources: the codec knows nothing of the
//! gateway, so it builds here with only its few dependencies, and the targets call the same
//! invariant checks (`http1::fuzz`) that `cargo test` replays the corpus through.

#![allow(dead_code, unreachable_pub, missing_docs)]

/// The data plane's `src/` directory, holding `http1.rs` and `http1/`.
#[path = "../../src"]
mod data_plane {
    pub mod http1;
}

pub use data_plane::http1;
