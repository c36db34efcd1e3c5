//! What balancers learn about one endpoint and keep across config swaps, all in atomics so that a
//! pick reads it without a lock: the latency EWMA (peak-sensitive, decaying while idle), the load the
//! agent reports (ORCA `endpoint-load-metrics` or the health check's JSON body), and the slow-start
//! clock. Stamps are nanoseconds on one process-wide clock ([`now`]), read once per pick. The resilience work (breaker, outlier ejection) adds its per-endpoint state beside these.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Load signals of one endpoint; part of [`Endpoint`](super::Endpoint).
#[derive(Debug)]
pub struct LoadState {
    /// The latency EWMA in nanoseconds, as `f64` bits.
    ewma_ns: AtomicU64,
    /// When the EWMA was last updated.
    ewma_at: AtomicU64,
    /// How fast the EWMA forgets, in nanoseconds (`loadBalancing.peakEwma.decay`).
    decay_ns: AtomicU64,
    /// The reported CPU utilisation in thousandths, and when it was reported.
    cpu_milli: AtomicU32,
    cpu_at: AtomicU64,
    /// The reported memory utilisation in thousandths, and when it was reported.
    mem_milli: AtomicU32,
    mem_at: AtomicU64,
    /// When the endpoint last (re)joined its pool, for slow start; 0 = it starts at full weight.
    ramp_at: AtomicU64,
}

/// A load report of an agent: utilisations in 0..=1 (values above 1 are clamped).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LoadReport {
    /// CPU utilisation.
    pub cpu: Option<f64>,
    /// Memory utilisation.
    pub memory: Option<f64>,
}

/// The default decay of the latency EWMA (linkerd's and Finagle's).
pub const DEFAULT_DECAY: Duration = Duration::from_secs(10);

// === impl LoadState ===

impl LoadState {
    /// Fresh state: no latency seen, nothing reported, not ramping.
    pub(super) fn new() -> Self {
        Self {
            ewma_ns: AtomicU64::new(0f64.to_bits()),
            ewma_at: AtomicU64::new(0),
            decay_ns: AtomicU64::new(nanos(DEFAULT_DECAY)),
            cpu_milli: AtomicU32::new(0),
            cpu_at: AtomicU64::new(0),
            mem_milli: AtomicU32::new(0),
            mem_at: AtomicU64::new(0),
            ramp_at: AtomicU64::new(0),
        }
    }

    /// Now, on the balancers' clock: see [`now`].
    pub fn now(&self) -> u64 {
        now()
    }

    /// Sets how fast the latency EWMA forgets.
    pub(super) fn set_decay(&self, decay: Duration) {
        self.decay_ns.store(nanos(decay).max(1), Ordering::Relaxed);
    }

    /// Records the time an agent took to answer: a peak EWMA (a slower answer is taken at once, a
    /// faster one blends in as older samples decay).
    pub fn observe_latency(&self, rtt: Duration) {
        let now = self.now();
        let sample = rtt.as_nanos() as f64;
        let current = self.decayed_latency(now);
        let at = self.ewma_at.load(Ordering::Relaxed);
        let next = if at == 0 || sample > current {
            sample
        } else {
            let elapsed = now.saturating_sub(at) as f64;
            let w = (-elapsed / self.decay_ns.load(Ordering::Relaxed) as f64).exp();
            current * w + sample * (1.0 - w)
        };
        // Racing updates may lose one sample; an estimate does not need every one.
        self.ewma_ns.store(next.to_bits(), Ordering::Relaxed);
        self.ewma_at.store(now, Ordering::Relaxed);
    }

    /// The latency EWMA in nanoseconds as of `now`, decayed towards 0 while no answer arrives (so an
    /// endpoint avoided for being slow is tried again); 0 before the first answer.
    pub fn decayed_latency(&self, now: u64) -> f64 {
        let at = self.ewma_at.load(Ordering::Relaxed);
        if at == 0 {
            return 0.0;
        }
        let v = f64::from_bits(self.ewma_ns.load(Ordering::Relaxed));
        let idle = now.saturating_sub(at) as f64;
        v * (-idle / self.decay_ns.load(Ordering::Relaxed) as f64).exp()
    }

    /// True once an answer has been timed.
    pub fn has_latency(&self) -> bool {
        self.ewma_at.load(Ordering::Relaxed) != 0
    }

    /// Records a load report of the agent.
    pub fn report(&self, r: LoadReport) {
        let now = self.now();
        let milli = |v: f64| (v.clamp(0.0, 1.0) * 1000.0).round() as u32;
        if let Some(c) = r.cpu.filter(|v| v.is_finite()) {
            self.cpu_milli.store(milli(c), Ordering::Relaxed);
            self.cpu_at.store(now, Ordering::Relaxed);
        }
        if let Some(m) = r.memory.filter(|v| v.is_finite()) {
            self.mem_milli.store(milli(m), Ordering::Relaxed);
            self.mem_at.store(now, Ordering::Relaxed);
        }
    }

    /// The reported CPU utilisation if reported within `max_age`.
    pub fn cpu(&self, max_age: Duration) -> Option<f64> {
        self.fresh(&self.cpu_milli, &self.cpu_at, max_age)
    }

    /// The reported memory utilisation if reported within `max_age`.
    pub fn memory(&self, max_age: Duration) -> Option<f64> {
        self.fresh(&self.mem_milli, &self.mem_at, max_age)
    }

    fn fresh(&self, v: &AtomicU32, at: &AtomicU64, max_age: Duration) -> Option<f64> {
        let at = at.load(Ordering::Relaxed);
        (at != 0 && self.now().saturating_sub(at) <= nanos(max_age))
            .then(|| f64::from(v.load(Ordering::Relaxed)) / 1000.0)
    }

    /// Starts the slow-start ramp now (the endpoint joined a pool, or came back from unhealthy).
    pub fn start_ramp(&self) {
        self.ramp_at.store(self.now(), Ordering::Relaxed);
    }

    /// The share of its weight the endpoint gets under slow start from `initial` (0..=1) over
    /// `duration`: 1 when it is not ramping. Reads the clock only while a ramp runs.
    pub fn ramp(&self, initial: f64, duration: Duration) -> f64 {
        let at = self.ramp_at.load(Ordering::Relaxed);
        if at == 0 {
            return 1.0;
        }
        let elapsed = self.now().saturating_sub(at);
        let total = nanos(duration).max(1);
        if elapsed >= total {
            // Done: later picks need no clock.
            let _ = self
                .ramp_at
                .compare_exchange(at, 0, Ordering::Relaxed, Ordering::Relaxed);
            return 1.0;
        }
        initial + (1.0 - initial) * (elapsed as f64 / total as f64)
    }

    /// True while a slow-start ramp may be running.
    pub fn ramping(&self) -> bool {
        self.ramp_at.load(Ordering::Relaxed) != 0
    }
}

/// Now, as the stamps above keep it: nanoseconds since the process's first reading, plus one (0
/// means "never"). On tokio's clock, so paused-time tests move it.
pub fn now() -> u64 {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(std::time::Instant::now);
    nanos(Instant::now().into_std().saturating_duration_since(epoch)).saturating_add(1)
}

/// `d` in nanoseconds, saturating.
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

// === impl LoadReport ===

impl LoadReport {
    /// Parses an ORCA `endpoint-load-metrics` header: `TEXT cpu_utilization=0.3,
    /// mem_utilization=0.5` or `JSON {"cpu_utilization": 0.3, "mem_utilization": 0.5}` (the binary
    /// form is not read). `None` when it carries neither value.
    pub fn from_orca(value: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(value).ok()?.trim();
        let mut r = Self::default();
        if let Some(json) = text.strip_prefix("JSON") {
            let v: serde_json::Value = serde_json::from_str(json.trim()).ok()?;
            r.cpu = v.get("cpu_utilization").and_then(serde_json::Value::as_f64);
            r.memory = v.get("mem_utilization").and_then(serde_json::Value::as_f64);
        } else {
            let pairs = text.strip_prefix("TEXT").unwrap_or(text);
            for pair in pairs.split(',') {
                let Some((k, v)) = pair.split_once('=') else {
                    continue;
                };
                let v = v.trim().parse::<f64>().ok();
                match k.trim() {
                    "cpu_utilization" => r.cpu = v,
                    "mem_utilization" => r.memory = v,
                    _ => {}
                }
            }
        }
        (r.cpu.is_some() || r.memory.is_some()).then_some(r)
    }

    /// Reads a health check's JSON body: `{"cpu": 0.3, "memory": 0.5}` (ORCA's names are accepted
    /// too). `None` when it is not JSON or carries neither value.
    pub fn from_health_body(body: &[u8]) -> Option<Self> {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        let num = |a: &str, b: &str| {
            v.get(a)
                .or_else(|| v.get(b))
                .and_then(serde_json::Value::as_f64)
        };
        let r = Self {
            cpu: num("cpu", "cpu_utilization"),
            memory: num("memory", "mem_utilization"),
        };
        (r.cpu.is_some() || r.memory.is_some()).then_some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orca_text_and_json_forms_and_health_bodies_parse() {
        let t = LoadReport::from_orca(b"TEXT cpu_utilization=0.3, mem_utilization=0.5").unwrap();
        assert_eq!((t.cpu, t.memory), (Some(0.3), Some(0.5)));
        let j = LoadReport::from_orca(br#"JSON {"cpu_utilization": 0.9}"#).unwrap();
        assert_eq!((j.cpu, j.memory), (Some(0.9), None));
        assert!(LoadReport::from_orca(b"TEXT rps_fractional=10").is_none());
        assert!(LoadReport::from_orca(b"BIN \x01\x02").is_none());
        let h = LoadReport::from_health_body(br#"{"cpu": 0.3, "memory": 0.5, "status": "ok"}"#);
        assert_eq!(h.unwrap().memory, Some(0.5));
        assert!(LoadReport::from_health_body(b"ok").is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn peak_ewma_takes_peaks_at_once_and_decays_while_idle() {
        let s = LoadState::new();
        s.set_decay(Duration::from_secs(10));
        s.observe_latency(Duration::from_millis(10));
        s.observe_latency(Duration::from_millis(50));
        let now = s.now();
        assert!((s.decayed_latency(now) - 50e6).abs() < 1e3);
        tokio::time::advance(Duration::from_secs(10)).await;
        let later = s.decayed_latency(s.now());
        assert!((later - 50e6 / std::f64::consts::E).abs() < 1e5, "{later}");
    }

    #[tokio::test(start_paused = true)]
    async fn slow_start_ramps_linearly_then_stops_reading_the_clock() {
        let s = LoadState::new();
        assert_eq!(s.ramp(0.1, Duration::from_secs(30)), 1.0);
        s.start_ramp();
        assert!((s.ramp(0.1, Duration::from_secs(30)) - 0.1).abs() < 1e-6);
        tokio::time::advance(Duration::from_secs(15)).await;
        assert!((s.ramp(0.1, Duration::from_secs(30)) - 0.55).abs() < 1e-6);
        tokio::time::advance(Duration::from_secs(15)).await;
        assert_eq!(s.ramp(0.1, Duration::from_secs(30)), 1.0);
        assert!(!s.ramping());
    }

    #[tokio::test(start_paused = true)]
    async fn reports_expire_after_the_history_window() {
        let s = LoadState::new();
        s.report(LoadReport {
            cpu: Some(1.7),
            memory: None,
        });
        assert_eq!(s.cpu(Duration::from_secs(60)), Some(1.0));
        assert_eq!(s.memory(Duration::from_secs(60)), None);
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(s.cpu(Duration::from_secs(60)), None);
    }
}
