//! The end-to-end sandbox: finds (and if needed builds) the real binaries, binds free loopback ports,
//! starts processes and stops exactly the ones it started.

mod binaries;
mod process;

pub use binaries::bin;
pub use process::{Child, free_port, wait_for_port};
