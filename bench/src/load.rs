//! The closed-loop load runner and its latency histogram.
//!
//! A phase runs one task per worker; each takes a ticket before every
//! operation and stops when the tickets (the count bound) or the time runs
//! out, so a phase is bounded in both. Latencies go into a log-linear
//! histogram (about 1.6 % resolution) so memory stays fixed however many
//! operations a phase does.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One kind of operation, done by one worker with its own connection.
pub trait Worker: Send + 'static {
    /// Does operation number `ticket` (unique within the phase). `Err` carries
    /// a message for the report: the first one of a phase is printed.
    fn run(&mut self, ticket: u64) -> impl Future<Output = Result<(), String>> + Send;

    /// True when this worker has nothing to do (say, no objects to update).
    fn idle(&self) -> bool {
        false
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub duration: Duration,
    pub max_ops: u64,
}

#[derive(Debug, Clone)]
pub struct PhaseResult {
    pub name: String,
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    /// Latencies of the successful operations.
    pub latency: Histogram,
}

impl PhaseResult {
    pub fn ops_per_sec(&self) -> f64 {
        per_sec(self.ok, self.elapsed)
    }
}

pub fn per_sec(n: u64, d: Duration) -> f64 {
    let s = d.as_secs_f64();
    if s > 0.0 {
        n as f64 / s
    } else {
        0.0
    }
}

/// Runs `workers` concurrently until `limits` is reached and returns the
/// merged result together with the workers (they carry state between phases).
pub async fn run_phase<W: Worker>(name: &str, workers: Vec<W>, limits: Limits) -> (PhaseResult, Vec<W>) {
    let tickets = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + limits.duration;
    let handles: Vec<_> = workers
        .into_iter()
        .map(|mut w| {
            let tickets = tickets.clone();
            tokio::spawn(async move {
                let mut stats = WorkerStats::default();
                while Instant::now() < deadline && !w.idle() {
                    let ticket = tickets.fetch_add(1, Ordering::Relaxed);
                    if ticket >= limits.max_ops {
                        break;
                    }
                    let t0 = Instant::now();
                    match w.run(ticket).await {
                        Ok(()) => {
                            stats.ok += 1;
                            stats.latency.record(t0.elapsed());
                        }
                        Err(msg) => {
                            stats.errors += 1;
                            stats.first_error.get_or_insert(msg);
                        }
                    }
                }
                (w, stats)
            })
        })
        .collect();
    let mut result = PhaseResult {
        name: name.to_string(),
        ok: 0,
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
        latency: Histogram::new(),
    };
    let mut workers = Vec::with_capacity(handles.len());
    for h in handles {
        match h.await {
            Ok((w, stats)) => {
                result.ok += stats.ok;
                result.errors += stats.errors;
                if result.first_error.is_none() {
                    result.first_error = stats.first_error;
                }
                result.latency.merge(&stats.latency);
                workers.push(w);
            }
            Err(e) => {
                result.errors += 1;
                result.first_error.get_or_insert(format!("worker task failed: {e}"));
            }
        }
    }
    result.elapsed = start.elapsed();
    (result, workers)
}

#[derive(Default)]
struct WorkerStats {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    latency: Histogram,
}

/// Values below this many microseconds get a bucket each.
const LINEAR: u64 = 128;
/// Buckets per power of two above that (so the relative error is below 1/64).
const SUB: u64 = 64;
/// Enough buckets for anything below 2^40 µs (12 days); larger values share the last.
const BUCKETS: usize = (LINEAR + (40 - 7) * SUB) as usize;

/// Log-linear latency histogram in microseconds.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max_us: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram { counts: vec![0; BUCKETS], total: 0, max_us: 0 }
    }

    pub fn record(&mut self, d: Duration) {
        self.record_us(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    pub fn record_us(&mut self, us: u64) {
        let i = bucket(us).min(BUCKETS - 1);
        self.counts[i] += 1;
        self.total += 1;
        self.max_us = self.max_us.max(us);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max_us = self.max_us.max(other.max_us);
    }

    #[cfg(test)]
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The `q` quantile (0..=1) in milliseconds: the middle of the bucket
    /// holding the ⌈q·n⌉-th smallest value; `None` when empty.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, hi) = bounds(i);
                let mid = (lo + hi.min(self.max_us.max(lo))) as f64 / 2.0;
                return Some(mid / 1000.0);
            }
        }
        Some(self.max_us as f64 / 1000.0)
    }
}

fn bucket(us: u64) -> usize {
    if us < LINEAR {
        return us as usize;
    }
    let exp = 63 - u64::from(us.leading_zeros()); // ≥ 7
    let shift = exp - 6;
    let mantissa = us >> shift; // 64..=127
    (LINEAR + (exp - 7) * SUB + (mantissa - SUB)) as usize
}

/// Inclusive value range of bucket `i`.
fn bounds(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < LINEAR {
        return (i, i);
    }
    let exp = (i - LINEAR) / SUB + 7;
    let mantissa = (i - LINEAR) % SUB + SUB;
    let shift = exp - 6;
    (mantissa << shift, ((mantissa + 1) << shift) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_values_with_small_relative_error() {
        for us in [0u64, 1, 127, 128, 129, 1000, 4095, 4096, 123_456, 10_000_000, 1 << 39] {
            let (lo, hi) = bounds(bucket(us));
            assert!(lo <= us && us <= hi, "{us} not in [{lo}, {hi}]");
            assert!((hi - lo) as f64 <= us as f64 / 64.0 + 1.0, "bucket of {us} too wide: [{lo}, {hi}]");
        }
        assert_eq!(bucket(1 << 40), BUCKETS, "2^40 is the first value past the table, clamped on record");
    }

    #[test]
    fn quantiles_of_a_uniform_spread() {
        let mut h = Histogram::new();
        for ms in 1..=100u64 {
            h.record(Duration::from_millis(ms));
        }
        let p50 = h.quantile_ms(0.5).unwrap_or_default();
        let p99 = h.quantile_ms(0.99).unwrap_or_default();
        assert!((p50 - 50.0).abs() < 1.0, "p50 {p50}");
        assert!((p99 - 99.0).abs() < 1.6, "p99 {p99}");
        assert_eq!(Histogram::new().quantile_ms(0.5), None);
    }

    #[test]
    fn merge_adds_counts() {
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        a.record_us(10);
        b.record_us(20);
        b.record_us(30);
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert_eq!(a.quantile_ms(1.0), Some(0.03));
    }

    struct Counter(u64);
    impl Worker for Counter {
        async fn run(&mut self, _ticket: u64) -> Result<(), String> {
            self.0 += 1;
            if self.0.is_multiple_of(10) {
                Err("tenth op of this worker".to_string())
            } else {
                Ok(())
            }
        }
    }

    #[tokio::test]
    async fn a_phase_stops_at_the_count_bound() {
        let limits = Limits { duration: Duration::from_secs(30), max_ops: 1000 };
        let (r, workers) = run_phase("count", (0..4).map(|_| Counter(0)).collect(), limits).await;
        assert_eq!(r.ok + r.errors, 1000);
        assert_eq!(workers.iter().map(|w| w.0).sum::<u64>(), 1000);
        assert!(r.errors > 0 && r.first_error.is_some());
        assert!(r.elapsed < Duration::from_secs(30));
    }

    #[tokio::test]
    async fn a_phase_stops_at_the_time_bound() {
        struct Slow;
        impl Worker for Slow {
            async fn run(&mut self, _ticket: u64) -> Result<(), String> {
                tokio::time::sleep(Duration::from_millis(10)).await;
                Ok(())
            }
        }
        let limits = Limits { duration: Duration::from_millis(100), max_ops: u64::MAX };
        let (r, _) = run_phase("time", vec![Slow, Slow], limits).await;
        assert!(r.ok > 0 && r.ok < 50, "{} ops", r.ok);
        assert!(r.elapsed < Duration::from_secs(2));
    }
}
