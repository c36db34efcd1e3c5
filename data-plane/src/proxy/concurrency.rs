//! Load shedding: a node-wide count of requests in flight, so that past
//! `performance.maxConcurrentRequests` new requests get 503 + `Retry-After` instead of queueing.
//!
//! The count outlives config swaps (the limit itself is read from the table in force, so a new limit
//! applies at once); a request stays counted until its response body ends or is dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The number of requests in flight on this node; cheap to clone (clones share the count).
#[derive(Clone, Debug, Default)]
pub struct InFlightLimit {
    in_flight: Arc<AtomicUsize>,
}

/// One admitted request; leaving the count when dropped.
#[derive(Debug)]
pub(crate) struct InFlightGuard {
    in_flight: Arc<AtomicUsize>,
}

// === impl InFlightLimit ===

impl InFlightLimit {
    /// A count at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Admits one more request unless `limit` are in flight already.
    pub(crate) fn try_acquire(&self, limit: u32) -> Option<InFlightGuard> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        // A compare-and-swap loop instead of add-then-undo: a refused request never shows in the count.
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()?;
        Some(InFlightGuard {
            in_flight: self.in_flight.clone(),
        })
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }
}

// === impl InFlightGuard ===

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_limit_and_releases_on_drop() {
        let l = InFlightLimit::new();
        let a = l.try_acquire(2).unwrap();
        let b = l.clone().try_acquire(2).unwrap();
        assert!(l.try_acquire(2).is_none(), "a third request is shed");
        assert_eq!(l.in_flight(), 2, "a refused request is not counted");
        drop(a);
        let c = l.try_acquire(2).unwrap();
        // A lower limit (a config swap) applies to new requests at once.
        assert!(l.try_acquire(1).is_none());
        drop((b, c));
        assert_eq!(l.in_flight(), 0);
        assert!(l.try_acquire(1).is_some());
    }

    #[tokio::test]
    async fn a_held_guard_leaves_with_the_response_body() {
        use bytes::Bytes;
        use http_body_util::BodyExt;

        let l = InFlightLimit::new();
        let body = crate::proxy::body::hold(
            http_body_util::Full::new(Bytes::from_static(b"x")),
            l.try_acquire(1).unwrap(),
        );
        assert!(l.try_acquire(1).is_none(), "counted while the body is open");
        assert_eq!(body.collect().await.unwrap().to_bytes(), "x");
        assert_eq!(l.in_flight(), 0);
    }
}
