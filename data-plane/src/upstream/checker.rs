//! The active health checker: one tokio task per endpoint, checking it every interval and
//! recording each outcome on the [`Endpoint`], which flips health when a threshold is crossed.

use std::sync::Arc;
use std::time::Duration;

use http::Uri;
use openclaw_config::HealthCheck;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::endpoint::Endpoint;
use super::probe::{CheckFailure, Probe};

/// A running checker; dropping it stops the task.
#[derive(Debug)]
pub(super) struct Checker {
    task: JoinHandle<()>,
}

// === impl Checker ===

impl Checker {
    /// Starts checking `endpoint` at `uri` on `rt` with the settings of `hc`.
    pub(super) fn spawn(
        rt: &Handle,
        endpoint: Arc<Endpoint>,
        uri: Uri,
        hc: Arc<HealthCheck>,
        probe: Arc<dyn Probe>,
    ) -> Self {
        tracing::debug!(agent = endpoint.agent_id(), %uri, "starting health checks");
        let task = rt.spawn(run(endpoint, uri, hc, probe));
        Self { task }
    }
}

impl Drop for Checker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(endpoint: Arc<Endpoint>, uri: Uri, hc: Arc<HealthCheck>, probe: Arc<dyn Probe>) {
    // Validation rejects zero durations; the floor only keeps `interval` from panicking.
    let floor = Duration::from_millis(1);
    let timeout = hc.timeout.get().max(floor);
    let mut ticks = tokio::time::interval(hc.interval.get().max(floor));
    // A check slower than the interval delays the next one instead of causing a burst.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let outcome = tokio::time::timeout(timeout, probe.probe(uri.clone()))
            .await
            .unwrap_or(Err(CheckFailure::Timeout(timeout)));
        if let Err(e) = &outcome {
            tracing::debug!(agent = endpoint.agent_id(), %uri, reason = %e, "health check failed");
        }
        if let Ok(Some(report)) = &outcome {
            endpoint.load().report(*report);
        }
        endpoint.record_check(outcome.as_ref().map(|_| ()), &hc);
    }
}
