//! Exponential backoff with jitter between reconnects (10 ms doubling to 15 s, like ztunnel).
//!
//! Jitter spreads a fleet's reconnects after a control-plane restart, so a thousand nodes do not
//! knock at the same millisecond.

use std::time::Duration;

use rand::Rng;

/// The first delay.
pub(crate) const MIN: Duration = Duration::from_millis(10);
/// The longest delay.
pub(crate) const MAX: Duration = Duration::from_secs(15);

/// The delay before the next reconnect attempt.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    next: Duration,
}

// === impl Backoff ===

impl Backoff {
    /// Starts at [`MIN`].
    pub(crate) fn new() -> Self {
        Self { next: MIN }
    }

    /// The delay to wait now: uniformly in `[d/2, d]` for the current step `d`, which then doubles up
    /// to [`MAX`].
    pub(crate) fn next_delay(&mut self) -> Duration {
        let step = self.next;
        self.next = (step * 2).min(MAX);
        let half = step / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(rand::rng().random_range(0..=jitter_ms))
    }

    /// Back to [`MIN`], after the stream delivered something.
    pub(crate) fn reset(&mut self) {
        self.next = MIN;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_with_jitter_and_resets() {
        let mut b = Backoff::new();
        let mut step = MIN;
        for _ in 0..20 {
            let d = b.next_delay();
            assert!(
                d >= step / 2 && d <= step,
                "{d:?} not within [{:?}, {step:?}]",
                step / 2
            );
            step = (step * 2).min(MAX);
        }
        assert!(b.next_delay() >= MAX / 2);
        b.reset();
        assert!(b.next_delay() <= MIN);
    }
}
