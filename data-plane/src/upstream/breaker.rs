//! The circuit breaker of one endpoint (`gateway.loadBalancing.circuitBreaker`): closed → open when
//! the error ratio over a rolling window, with enough requests, reaches the threshold; open refuses
//! without touching the agent; after the cooldown, half-open lets a bounded number of trials through;
//! a trial's success closes it, a failure reopens it with the cooldown doubled up to a cap.
//!
//! Lives in its [`Endpoint`](super::Endpoint), so its state survives config swaps; the settings come
//! with each call. A closed breaker costs one load per pick and two or three atomic adds per answer.

use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Buckets of the rolling window.
const BUCKETS: usize = 10;

/// The state of a circuit, as `gateway_circuit_state` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CircuitState {
    /// Requests flow.
    Closed = 0,
    /// Requests are refused until the cooldown ends.
    Open = 1,
    /// A bounded number of trial requests flow.
    HalfOpen = 2,
}

/// The settings a breaker runs with, from the config in force.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BreakerSettings {
    /// Error ratio that opens the circuit.
    pub error_threshold: f64,
    /// Requests in the window before the ratio counts.
    pub min_requests: u32,
    /// The rolling window.
    pub window: Duration,
    /// The first cooldown; doubled at each failed trial.
    pub cooldown: Duration,
    /// The longest cooldown.
    pub max_cooldown: Duration,
    /// Trial requests let through while half-open.
    pub half_open_requests: u32,
}

/// A change of state, for the log line and the transition counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The new state.
    pub to: CircuitState,
    /// How long it stays open (for a move to open).
    pub cooldown: Duration,
}

/// One endpoint's breaker.
#[derive(Debug)]
pub struct Breaker {
    base: Instant,
    state: AtomicU8,
    /// Milliseconds since `base` at which an open circuit may half-open.
    open_until: AtomicU64,
    /// The cooldown of the latest opening, in milliseconds.
    cooldown_ms: AtomicU64,
    /// Trials let through since it half-opened.
    trials: AtomicU32,
    trial_limit: AtomicU32,
    buckets: [Bucket; BUCKETS],
    /// Transitions to closed, open and half-open, by state number.
    transitions: [AtomicU64; 3],
}

#[derive(Debug, Default)]
struct Bucket {
    /// Which slot of time (milliseconds / bucket width) the counts are for.
    slot: AtomicU64,
    total: AtomicU32,
    errors: AtomicU32,
}

// === impl CircuitState ===

impl CircuitState {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Open,
            2 => Self::HalfOpen,
            _ => Self::Closed,
        }
    }

    /// The name used in `/health` and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "halfOpen",
        }
    }
}

// === impl BreakerSettings ===

impl BreakerSettings {
    /// The settings of `cfg` (`None` when breaking is off).
    pub fn from_config(cfg: &openclaw_config::CircuitBreaker) -> Option<Self> {
        cfg.enabled.then(|| Self {
            error_threshold: cfg.error_threshold,
            min_requests: cfg.min_requests,
            window: cfg.window.get(),
            cooldown: cfg.cooldown.get(),
            max_cooldown: cfg.max_cooldown.get().max(cfg.cooldown.get()),
            half_open_requests: cfg.half_open_requests.max(1),
        })
    }
}

// === impl Breaker ===

impl Default for Breaker {
    fn default() -> Self {
        Self {
            base: Instant::now(),
            state: AtomicU8::new(CircuitState::Closed as u8),
            open_until: AtomicU64::new(0),
            cooldown_ms: AtomicU64::new(0),
            trials: AtomicU32::new(0),
            trial_limit: AtomicU32::new(1),
            buckets: Default::default(),
            transitions: Default::default(),
        }
    }
}

impl Breaker {
    /// Its state.
    pub fn state(&self) -> CircuitState {
        CircuitState::from_u8(self.state.load(Ordering::Relaxed))
    }

    /// Transitions into `to` so far.
    pub fn transitions(&self, to: CircuitState) -> u64 {
        self.transitions[to as usize].load(Ordering::Relaxed)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether a pick may choose it, without claiming anything: closed, open past its cooldown (it
    /// half-opens when claimed), or half-open with trials to spare.
    pub fn admits(&self) -> bool {
        match self.state() {
            CircuitState::Closed => true,
            CircuitState::Open => self.now_ms() >= self.open_until.load(Ordering::Relaxed),
            CircuitState::HalfOpen => {
                self.trials.load(Ordering::Relaxed) < self.trial_limit.load(Ordering::Relaxed)
                    || self.trials_stalled()
            }
        }
    }

    /// True when it has been half-open for longer than a cooldown: a trial whose client went away
    /// never reports, so its slot is given to a new one rather than keeping the circuit shut.
    fn trials_stalled(&self) -> bool {
        let since = self.open_until.load(Ordering::Relaxed);
        let cooldown = self.cooldown_ms.load(Ordering::Relaxed);
        self.now_ms() >= since.saturating_add(cooldown)
    }

    /// Claims the right to send a request: `Ok` with the transition it caused (open → half-open),
    /// or `Err` with the time until it may half-open.
    pub fn claim(&self) -> Result<Option<Transition>, Duration> {
        match self.state() {
            CircuitState::Closed => Ok(None),
            CircuitState::Open => {
                let now = self.now_ms();
                let until = self.open_until.load(Ordering::Relaxed);
                if now < until {
                    return Err(Duration::from_millis(until - now));
                }
                if self
                    .state
                    .compare_exchange(
                        CircuitState::Open as u8,
                        CircuitState::HalfOpen as u8,
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    )
                    .is_ok()
                {
                    self.trials.store(1, Ordering::Relaxed);
                    return Ok(Some(self.moved(CircuitState::HalfOpen, Duration::ZERO)));
                }
                // Another request half-opened it first.
                self.claim_trial().map(|()| None)
            }
            CircuitState::HalfOpen => self.claim_trial().map(|()| None),
        }
    }

    fn claim_trial(&self) -> Result<(), Duration> {
        let limit = self.trial_limit.load(Ordering::Relaxed);
        if self.trials.fetch_add(1, Ordering::Relaxed) < limit {
            Ok(())
        } else if self.trials_stalled() {
            self.trials.store(1, Ordering::Relaxed);
            self.open_until.store(self.now_ms(), Ordering::Relaxed);
            Ok(())
        } else {
            self.trials.fetch_sub(1, Ordering::Relaxed);
            // The trials decide soon; a client may come back in a second.
            Err(Duration::from_secs(1))
        }
    }

    /// The time until an open circuit may half-open (zero unless open).
    pub fn retry_after(&self) -> Duration {
        if self.state() != CircuitState::Open {
            return Duration::ZERO;
        }
        let until = self.open_until.load(Ordering::Relaxed);
        Duration::from_millis(until.saturating_sub(self.now_ms()))
    }

    /// Records the outcome of a request it let through; returns the transition it caused.
    pub fn record(&self, failed: bool, s: &BreakerSettings) -> Option<Transition> {
        match self.state() {
            CircuitState::Closed => self.record_closed(failed, s),
            CircuitState::HalfOpen if failed => {
                let doubled = Duration::from_millis(self.cooldown_ms.load(Ordering::Relaxed))
                    .saturating_mul(2)
                    .clamp(s.cooldown, s.max_cooldown);
                self.open(CircuitState::HalfOpen, doubled, s)
            }
            CircuitState::HalfOpen => {
                if self
                    .state
                    .compare_exchange(
                        CircuitState::HalfOpen as u8,
                        CircuitState::Closed as u8,
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    )
                    .is_err()
                {
                    return None;
                }
                for b in &self.buckets {
                    b.total.store(0, Ordering::Relaxed);
                    b.errors.store(0, Ordering::Relaxed);
                }
                self.cooldown_ms.store(0, Ordering::Relaxed);
                Some(self.moved(CircuitState::Closed, Duration::ZERO))
            }
            // A late answer to a request sent before it opened.
            CircuitState::Open => None,
        }
    }

    fn record_closed(&self, failed: bool, s: &BreakerSettings) -> Option<Transition> {
        let width = (s.window.as_millis() as u64 / BUCKETS as u64).max(1);
        let now = self.now_ms();
        let slot = now / width;
        let b = &self.buckets[(slot % BUCKETS as u64) as usize];
        let seen = b.slot.load(Ordering::Relaxed);
        if seen != slot
            && b.slot
                .compare_exchange(seen, slot, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            b.total.store(0, Ordering::Relaxed);
            b.errors.store(0, Ordering::Relaxed);
        }
        b.total.fetch_add(1, Ordering::Relaxed);
        if !failed {
            return None;
        }
        b.errors.fetch_add(1, Ordering::Relaxed);
        // Only a failure can open the circuit, so only a failure sums the window.
        let oldest = slot.saturating_sub(BUCKETS as u64 - 1);
        let (mut total, mut errors) = (0u64, 0u64);
        for b in &self.buckets {
            if b.slot.load(Ordering::Relaxed) >= oldest {
                total += u64::from(b.total.load(Ordering::Relaxed));
                errors += u64::from(b.errors.load(Ordering::Relaxed));
            }
        }
        if total >= u64::from(s.min_requests) && errors as f64 >= s.error_threshold * total as f64 {
            return self.open(CircuitState::Closed, s.cooldown, s);
        }
        None
    }

    fn open(
        &self,
        from: CircuitState,
        cooldown: Duration,
        s: &BreakerSettings,
    ) -> Option<Transition> {
        self.state
            .compare_exchange(
                from as u8,
                CircuitState::Open as u8,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .ok()?;
        let ms = u64::try_from(cooldown.as_millis()).unwrap_or(u64::MAX);
        self.cooldown_ms.store(ms, Ordering::Relaxed);
        self.open_until
            .store(self.now_ms().saturating_add(ms), Ordering::Relaxed);
        self.trial_limit
            .store(s.half_open_requests, Ordering::Relaxed);
        self.trials.store(0, Ordering::Relaxed);
        Some(self.moved(CircuitState::Open, cooldown))
    }

    fn moved(&self, to: CircuitState, cooldown: Duration) -> Transition {
        self.transitions[to as usize].fetch_add(1, Ordering::Relaxed);
        Transition { to, cooldown }
    }

    /// Closes it at once (breaking was switched off); true when it was not closed.
    pub fn reset(&self) -> bool {
        self.cooldown_ms.store(0, Ordering::Relaxed);
        let was = self
            .state
            .swap(CircuitState::Closed as u8, Ordering::AcqRel);
        if was != CircuitState::Closed as u8 {
            self.moved(CircuitState::Closed, Duration::ZERO);
        }
        was != CircuitState::Closed as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> BreakerSettings {
        BreakerSettings {
            error_threshold: 0.5,
            min_requests: 4,
            window: Duration::from_secs(10),
            cooldown: Duration::from_secs(10),
            max_cooldown: Duration::from_secs(30),
            half_open_requests: 1,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn opens_at_the_ratio_with_enough_requests_and_not_before() {
        let (b, s) = (Breaker::default(), settings());
        // Three failures: the ratio is 1 but fewer than minRequests.
        for _ in 0..3 {
            assert_eq!(b.record(true, &s), None);
        }
        assert_eq!(b.state(), CircuitState::Closed);
        let t = b.record(true, &s).unwrap();
        assert_eq!(t.to, CircuitState::Open);
        assert_eq!(t.cooldown, Duration::from_secs(10));
        assert!(!b.admits());
        assert_eq!(b.claim(), Err(Duration::from_secs(10)));
    }

    #[tokio::test(start_paused = true)]
    async fn old_outcomes_leave_the_window() {
        let (b, s) = (Breaker::default(), settings());
        for _ in 0..3 {
            b.record(true, &s);
        }
        tokio::time::advance(Duration::from_secs(11)).await;
        // The three old failures have left the window: one more is not enough.
        assert_eq!(b.record(true, &s), None);
        for _ in 0..4 {
            b.record(false, &s);
        }
        assert_eq!(b.record(true, &s), None, "2 of 6 is below 0.5");
        assert_eq!(b.state(), CircuitState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn half_opens_after_cooldown_bounds_trials_and_closes_on_success() {
        let (b, s) = (Breaker::default(), settings());
        for _ in 0..4 {
            b.record(true, &s);
        }
        tokio::time::advance(Duration::from_millis(9_999)).await;
        assert!(!b.admits());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(b.admits());
        let t = b.claim().unwrap().unwrap();
        assert_eq!(t.to, CircuitState::HalfOpen);
        // One trial at a time.
        assert!(!b.admits());
        assert!(b.claim().is_err());
        // A trial that never reports (its client went away) frees its slot after a cooldown.
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(b.admits());
        assert!(b.claim().is_ok());
        assert!(b.claim().is_err());
        let t = b.record(false, &s).unwrap();
        assert_eq!(t.to, CircuitState::Closed);
        assert!(b.admits());
        assert_eq!(b.transitions(CircuitState::Open), 1);
        assert_eq!(b.transitions(CircuitState::HalfOpen), 1);
        assert_eq!(b.transitions(CircuitState::Closed), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_trial_reopens_with_the_cooldown_doubled_up_to_the_cap() {
        let (b, s) = (Breaker::default(), settings());
        for _ in 0..4 {
            b.record(true, &s);
        }
        for expected in [20, 30, 30] {
            tokio::time::advance(b.retry_after()).await;
            b.claim().unwrap();
            let t = b.record(true, &s).unwrap();
            assert_eq!(t.to, CircuitState::Open);
            assert_eq!(t.cooldown, Duration::from_secs(expected));
            assert_eq!(b.retry_after(), Duration::from_secs(expected));
        }
        // Recovery resets the cooldown.
        tokio::time::advance(b.retry_after()).await;
        b.claim().unwrap();
        b.record(false, &s);
        for _ in 0..4 {
            b.record(true, &s);
        }
        assert_eq!(b.retry_after(), Duration::from_secs(10));
    }
}
