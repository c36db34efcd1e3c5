//! `gateway.performance`: runtime sizing and load shedding.

use serde::{Deserialize, Serialize};

use crate::Path;
use crate::problem::Check;

/// How the data plane's runtime is sized.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Performance {
    /// Worker threads of the runtime; absent (the default) means one per CPU core. Needs a restart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_threads: Option<u32>,
    /// Requests served at once before new ones get 503 + `Retry-After`; default 10000.
    pub max_concurrent_requests: u32,
    /// The I/O driver; default `epoll`.
    pub event_loop: EventLoop,
}

/// The I/O driver of the listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventLoop {
    /// Readiness-based I/O (Linux epoll via tokio).
    #[serde(rename = "epoll")]
    Epoll,
    /// Completion-based I/O; requested, but served by epoll until an io_uring listener exists.
    #[serde(rename = "io_uring")]
    IoUring,
}

// === impl Performance ===

impl Default for Performance {
    fn default() -> Self {
        Self {
            worker_threads: None,
            max_concurrent_requests: 10_000,
            event_loop: EventLoop::Epoll,
        }
    }
}

impl Performance {
    pub(crate) fn validate(&self, at: &Path, c: &mut Check) {
        if let Some(n) = self.worker_threads {
            c.range(&at.key("workerThreads"), n, 1, 1024);
        }
        if self.max_concurrent_requests == 0 {
            c.fail(
                &at.key("maxConcurrentRequests"),
                "must be greater than 0",
                &self.max_concurrent_requests,
            );
        }
    }
}
