//! Clock readings for stamps that need no better than a few milliseconds (how long a pooled agent
//! connection has idled, the second in a response's `Date`): the kernel's coarse clocks, which the
//! vDSO answers from memory, without reading the time-stamp counter as the precise clocks do (nginx
//! caches its time for the same reason). Durations that are measured (metrics, timeouts) keep the
//! precise clocks.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A monotonic reading, as a duration since an unspecified start (the same start for every call).
pub(crate) fn monotonic() -> Duration {
    read(Clock::Monotonic).unwrap_or_else(|| {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        START.get_or_init(std::time::Instant::now).elapsed()
    })
}

/// Whole seconds since the Unix epoch.
pub(crate) fn unix_secs() -> u64 {
    read(Clock::Realtime).map_or_else(
        || {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        },
        |d| d.as_secs(),
    )
}

enum Clock {
    Monotonic,
    Realtime,
}

#[cfg(target_os = "linux")]
fn read(clock: Clock) -> Option<Duration> {
    use rustix::time::{ClockId, clock_gettime};
    let ts = clock_gettime(match clock {
        Clock::Monotonic => ClockId::MonotonicCoarse,
        Clock::Realtime => ClockId::RealtimeCoarse,
    });
    Some(Duration::new(
        u64::try_from(ts.tv_sec).ok()?,
        u32::try_from(ts.tv_nsec).ok()?,
    ))
}

#[cfg(not(target_os = "linux"))]
fn read(_: Clock) -> Option<Duration> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_readings_follow_the_precise_clocks() {
        let a = monotonic();
        std::thread::sleep(Duration::from_millis(30));
        let b = monotonic();
        assert!(b >= a + Duration::from_millis(20), "{a:?} then {b:?}");
        let precise = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let coarse = unix_secs();
        assert!(coarse.abs_diff(precise) <= 1, "{coarse} vs {precise}");
    }
}
