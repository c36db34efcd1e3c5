//! A per-thread xorshift generator for the random strategies: a pick draws a number without a lock,
//! an allocation or a system call (quality far beyond what spreading requests needs).

use std::cell::Cell;

thread_local! {
    static STATE: Cell<u64> = const { Cell::new(0) };
}

/// A random 64-bit number.
pub(crate) fn next() -> u64 {
    STATE.with(|s| {
        let mut x = s.get();
        if x == 0 {
            x = seed();
        }
        // xorshift64*
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

/// A random index below `n` (`n` > 0).
pub(crate) fn below(n: usize) -> usize {
    // Lemire's multiply-shift: no division, bias negligible for pool sizes.
    ((u128::from(next()) * n as u128) >> 64) as usize
}

/// A random number in [0, 1).
pub(crate) fn unit() -> f64 {
    (next() >> 11) as f64 / (1u64 << 53) as f64
}

/// A non-zero seed that differs per thread and per process.
fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_usize(&h as *const _ as usize);
    h.finish() | 1
}
