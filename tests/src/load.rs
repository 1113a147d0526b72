//! A bounded loader for the reliability matrix's load rows: requests offered at a
//! fixed rate, at most `concurrency` in flight (a tick that finds none free waits, so
//! a slow server lowers the achieved rate instead of piling up requests), each one's
//! latency recorded; and the server's resident memory sampled every second.
//!
//! Wall-clock time by nature: what is measured is the real server's throughput.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One measurement at a time in a test binary: tests of one target run in parallel,
/// and a figure taken while another test loads the same two cores says little.
/// Taken by every test of a target that holds a load test.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static ONE: Mutex<()> = Mutex::new(());
    ONE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What a load run measured.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    /// Requests that completed (answered or failed).
    pub done: u64,
    pub errors: u64,
    /// The first few error texts, to say what went wrong.
    pub error_samples: Vec<String>,
    pub elapsed: Duration,
    /// Every completed request's latency, sorted.
    pub latencies: Vec<Duration>,
}

impl LoadReport {
    /// Completed requests per second.
    pub fn achieved_rate(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let done = self.done as f64;
        done / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q` quantile (0..=1) of the latencies; zero when nothing completed.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let i = ((self.latencies.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
        self.latencies[i]
    }

    /// `rate 812/s of 1000/s offered, p50 3.1ms p99 12.0ms, 0 errors`.
    pub fn summary(&self, offered: f64) -> String {
        format!(
            "rate {:.0}/s of {offered:.0}/s offered, p50 {:.1}ms p99 {:.1}ms, {} errors of {}",
            self.achieved_rate(),
            self.quantile(0.5).as_secs_f64() * 1e3,
            self.quantile(0.99).as_secs_f64() * 1e3,
            self.errors,
            self.done
        )
    }
}

/// Offers `rate` requests per second for `duration`, at most `concurrency` at once.
/// `request(i)` makes the i-th request and says whether it succeeded.
pub async fn run<F, Fut>(
    rate: f64,
    duration: Duration,
    concurrency: usize,
    request: F,
) -> LoadReport
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let request = Arc::new(request);
    let slots = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let report = Arc::new(Mutex::new(LoadReport::default()));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(1e-3)));
    // A tick missed while waiting for a slot is skipped, not made up in a burst: the
    // offered rate is an upper bound and the report says what was achieved.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let start = Instant::now();
    let mut i = 0u64;
    while start.elapsed() < duration {
        tick.tick().await;
        let Ok(permit) = slots.clone().acquire_owned().await else {
            break;
        };
        let (request, report) = (request.clone(), report.clone());
        tokio::spawn(async move {
            let t = Instant::now();
            let result = request(i).await;
            let took = t.elapsed();
            drop(permit);
            let mut r = report
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            r.done += 1;
            r.latencies.push(took);
            if let Err(e) = result {
                r.errors += 1;
                if r.error_samples.len() < 5 {
                    r.error_samples.push(e);
                }
            }
        });
        i += 1;
    }
    // Wait for the requests still in flight.
    let _ = slots
        .acquire_many(u32::try_from(concurrency.max(1)).unwrap_or(u32::MAX))
        .await;
    let mut r = report
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    r.elapsed = start.elapsed();
    r.latencies.sort();
    r
}

/// A process's VmRSS in KiB (0 when it is gone).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Samples a process's VmRSS every second on its own thread until stopped.
pub struct RssSampler {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<u64>>>,
}

impl RssSampler {
    pub fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut samples = vec![rss_kib(pid)];
            let mut next = Instant::now() + Duration::from_secs(1);
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
                if Instant::now() >= next {
                    samples.push(rss_kib(pid));
                    next += Duration::from_secs(1);
                }
            }
            samples.push(rss_kib(pid));
            samples
        });
        RssSampler {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops sampling; the samples in KiB, one per second, the first at start and
    /// the last at stop.
    pub fn stop(mut self) -> Vec<u64> {
        self.finish()
    }

    fn finish(&mut self) -> Vec<u64> {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Memory is flat when the last sample exceeds the one after warm-up (`warmup`
/// samples in) by at most 10 % or 4 MiB, whichever is larger. Returns (after
/// warm-up, end) in KiB, or why it is not flat.
pub fn rss_flat(samples: &[u64], warmup: usize) -> Result<(u64, u64), String> {
    let (Some(&warm), Some(&end)) = (
        samples.get(warmup.min(samples.len().saturating_sub(1))),
        samples.last(),
    ) else {
        return Err("no RSS samples".into());
    };
    let slack = (warm / 10).max(4 * 1024);
    if end > warm + slack {
        return Err(format!(
            "RSS grew from {warm} KiB after warm-up to {end} KiB at the end (allowed {slack} KiB): {samples:?}"
        ));
    }
    Ok((warm, end))
}

/// The load rows' duration: `RELIABILITY_LOAD_SECS` (default 60, as issue 20 says).
pub fn duration_from_env() -> Duration {
    let secs = std::env::var("RELIABILITY_LOAD_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(60);
    Duration::from_secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_flatness() {
        let r = LoadReport {
            done: 100,
            errors: 0,
            error_samples: Vec::new(),
            elapsed: Duration::from_secs(1),
            latencies: (1..=100).map(Duration::from_millis).collect(),
        };
        assert_eq!(r.quantile(0.5), Duration::from_millis(51));
        assert_eq!(r.quantile(0.99), Duration::from_millis(99));
        assert!((r.achieved_rate() - 100.0).abs() < 1e-9);
        assert_eq!(rss_flat(&[1000, 50_000, 52_000], 1), Ok((50_000, 52_000)));
        assert!(rss_flat(&[1000, 50_000, 60_000], 1).is_err());
        assert!(rss_flat(&[], 1).is_err());
    }
}
