//! An agent's retry budget (`routing.rules[i].retry`): every request deposits a share of a retry
//! (`budgetPercent`), every retry withdraws a whole one, and a floor of `minRetriesPerSecond` is
//! always allowed, so a failing agent cannot multiply its load. Kept by the registry per agent id,
//! so it survives config swaps.

use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};

use tokio::time::Instant;

/// A whole retry, in the budget's unit (a thousandth of a retry).
const RETRY: i64 = 1000;
/// Saved-up retries an agent may hold: a long healthy spell does not buy a storm later.
const MAX_SAVED: i64 = 10 * RETRY;

/// One agent's retry budget.
#[derive(Debug)]
pub struct RetryBudget {
    base: Instant,
    /// Deposits less withdrawals, in thousandths of a retry.
    balance: AtomicI64,
    /// The second (since `base`) `floor_used` counts in.
    floor_second: AtomicU64,
    floor_used: AtomicU32,
    retries_total: AtomicU64,
}

// === impl RetryBudget ===

impl Default for RetryBudget {
    fn default() -> Self {
        Self {
            base: Instant::now(),
            balance: AtomicI64::new(0),
            floor_second: AtomicU64::new(0),
            floor_used: AtomicU32::new(0),
            retries_total: AtomicU64::new(0),
        }
    }
}

impl RetryBudget {
    /// A request was sent: `percent`% of a retry is saved.
    pub fn deposit(&self, percent: u32) {
        let add = i64::from(percent) * RETRY / 100;
        if add == 0 {
            return;
        }
        let before = self.balance.fetch_add(add, Ordering::Relaxed);
        if before + add > MAX_SAVED {
            // Give back what went past the cap (racing deposits may leave it a little above).
            self.balance
                .fetch_sub(add.min(before + add - MAX_SAVED), Ordering::Relaxed);
        }
    }

    /// Takes one retry from the savings, else from this second's floor of `floor`; false when
    /// neither has one left.
    pub fn try_withdraw(&self, floor: u32) -> bool {
        if self.balance.fetch_sub(RETRY, Ordering::Relaxed) >= RETRY {
            self.retries_total.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        self.balance.fetch_add(RETRY, Ordering::Relaxed);
        let second = self.base.elapsed().as_secs();
        let seen = self.floor_second.load(Ordering::Relaxed);
        if seen != second
            && self
                .floor_second
                .compare_exchange(seen, second, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.floor_used.store(0, Ordering::Relaxed);
        }
        if self.floor_used.fetch_add(1, Ordering::Relaxed) < floor {
            self.retries_total.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        false
    }

    /// Retries taken so far.
    pub fn retries_total(&self) -> u64 {
        self.retries_total.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn retries_stay_within_the_share_plus_the_floor() {
        let b = RetryBudget::default();
        // 100 requests at 20% buy 20 retries; the floor adds 3 in this second.
        let mut taken = 0;
        for _ in 0..100 {
            b.deposit(20);
            if b.try_withdraw(3) {
                taken += 1;
            }
        }
        assert!(taken <= 23, "{taken}");
        assert!(taken >= 20, "{taken}");
        while b.try_withdraw(3) {
            taken += 1;
        }
        assert_eq!(taken, 23);
        // A new second brings the floor back, and only it.
        tokio::time::advance(Duration::from_secs(1)).await;
        let mut more = 0;
        while b.try_withdraw(3) {
            more += 1;
        }
        assert_eq!(more, 3);
        assert_eq!(b.retries_total(), 26);
    }

    #[tokio::test(start_paused = true)]
    async fn savings_are_capped() {
        let b = RetryBudget::default();
        for _ in 0..100_000 {
            b.deposit(20);
        }
        let mut taken = 0;
        while b.try_withdraw(0) {
            taken += 1;
        }
        assert_eq!(taken, 10);
    }
}
