//! GCRA, the token bucket without a timer: one "theoretical arrival time" (TAT) per key says when
//! the bucket will be full again; a request is allowed when adding its cost keeps the TAT within the
//! burst of now.

/// The GCRA parameters of one limit, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Gcra {
    /// Time one unit (one request, or one body byte) takes to refill.
    pub(crate) interval: u64,
    /// Units the bucket holds: the burst.
    pub(crate) capacity: u64,
}

/// The outcome of one check, for the response's `RateLimit-*` fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Decision {
    /// Whether the request may go on.
    pub(crate) allowed: bool,
    /// The bucket's capacity (`RateLimit-Limit`).
    pub(crate) limit: u64,
    /// Units left after this request (`RateLimit-Remaining`).
    pub(crate) remaining: u64,
    /// Nanoseconds until the bucket is full again (`RateLimit-Reset`).
    pub(crate) reset: u64,
    /// Nanoseconds until this request would be allowed (`Retry-After`); 0 when allowed.
    pub(crate) retry_after: u64,
}

// === impl Gcra ===

impl Gcra {
    /// `per_minute` units per minute with room for `burst` at once.
    pub(crate) fn per_minute(per_minute: u64, burst: u64) -> Self {
        Self {
            interval: (60_000_000_000 / per_minute.max(1)).max(1),
            capacity: burst.max(1),
        }
    }

    /// The same limit shared by `nodes` nodes: each refills `nodes` times slower and holds its share
    /// of the burst (at least one).
    pub(crate) fn divided(self, nodes: u64) -> Self {
        let nodes = nodes.max(1);
        Self {
            interval: self.interval.saturating_mul(nodes),
            capacity: (self.capacity / nodes).max(1),
        }
    }

    /// The burst as a time span.
    pub(crate) fn tolerance(self) -> u64 {
        self.interval.saturating_mul(self.capacity)
    }

    /// Decides a request of `cost` units at `now` against the stored `tat` (0: a key never seen);
    /// returns the decision and the TAT to store (unchanged when refused).
    pub(crate) fn decide(self, tat: u64, now: u64, cost: u64) -> (Decision, u64) {
        let base = tat.max(now);
        let new_tat = base.saturating_add(self.interval.saturating_mul(cost));
        let tolerance = self.tolerance();
        if new_tat - now > tolerance {
            let retry_after = new_tat - now - tolerance;
            let d = self.decision(false, base - now, retry_after);
            return (d, tat);
        }
        (self.decision(true, new_tat - now, 0), new_tat)
    }

    /// The decision for a bucket that is `ahead` nanoseconds from full.
    pub(crate) fn decision(self, allowed: bool, ahead: u64, retry_after: u64) -> Decision {
        let used = ahead.div_ceil(self.interval);
        Decision {
            allowed,
            limit: self.capacity,
            remaining: self.capacity.saturating_sub(used),
            reset: ahead,
            retry_after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn a_burst_passes_then_refuses_then_refills_at_the_rate() {
        // 60/min = one per second, burst 3.
        let g = Gcra::per_minute(60, 3);
        let mut tat = 0;
        let now = 1000 * SEC;
        for left in [2, 1, 0] {
            let (d, t) = g.decide(tat, now, 1);
            assert!(d.allowed);
            assert_eq!(d.remaining, left);
            tat = t;
        }
        let (d, t) = g.decide(tat, now, 1);
        assert!(!d.allowed);
        assert_eq!(t, tat, "a refusal stores nothing");
        assert_eq!(d.retry_after, SEC);
        assert_eq!(d.remaining, 0);
        assert_eq!(d.reset, 3 * SEC);
        // One second later exactly one more passes.
        let (d, t) = g.decide(tat, now + SEC, 1);
        assert!(d.allowed);
        assert_eq!(d.remaining, 0);
        assert!(!g.decide(t, now + SEC, 1).0.allowed);
    }

    #[test]
    fn a_share_of_a_divided_limit_is_slower_and_smaller() {
        let g = Gcra::per_minute(60, 10).divided(2);
        assert_eq!(g.interval, 2 * SEC);
        assert_eq!(g.capacity, 5);
        assert_eq!(Gcra::per_minute(60, 1).divided(4).capacity, 1);
    }

    #[test]
    fn costs_count_in_units() {
        let g = Gcra::per_minute(6000, 1000);
        let (d, tat) = g.decide(0, SEC, 600);
        assert!(d.allowed);
        assert_eq!(d.remaining, 400);
        assert!(!g.decide(tat, SEC, 500).0.allowed);
        assert!(g.decide(tat, SEC, 400).0.allowed);
    }
}
