//! Alertmanager's maintenance measurements of one state store (nflog.go and
//! silence.go `metrics`): queries, the failed ones and their durations; the
//! duration of GC and of snapshots (our compaction rewrites), and the size of the
//! last snapshot. The owner of the state counts; the metrics module encodes a
//! [`MaintenanceSnapshot`].

use std::sync::Mutex;
use std::time::Duration;

use crate::sync::lock;

/// Prometheus's default histogram buckets, which Alertmanager's query durations use.
pub const QUERY_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Default)]
pub struct MaintenanceStats(Mutex<MaintenanceSnapshot>);

#[derive(Clone, Debug, Default, PartialEq)]
pub struct MaintenanceSnapshot {
    pub queries: u64,
    pub query_errors: u64,
    /// Cumulative counts per [`QUERY_BUCKETS`] bound.
    pub query_buckets: [u64; 11],
    pub query_seconds: f64,
    /// Summaries without quantiles: count and sum.
    pub gc: (u64, f64),
    pub snapshot: (u64, f64),
    pub snapshot_size_bytes: u64,
}

impl MaintenanceStats {
    /// A query that took `took`; `found` false counts as an error, as Alertmanager
    /// counts its `ErrNotFound` (nflog.go `Query`).
    pub fn query(&self, took: Duration, found: bool) {
        let mut s = lock(&self.0);
        s.queries += 1;
        if !found {
            s.query_errors += 1;
        }
        let secs = took.as_secs_f64();
        s.query_seconds += secs;
        for (b, bound) in s.query_buckets.iter_mut().zip(QUERY_BUCKETS) {
            if secs <= bound {
                *b += 1;
            }
        }
    }

    pub fn gc(&self, took: Duration) {
        let mut s = lock(&self.0);
        s.gc.0 += 1;
        s.gc.1 += took.as_secs_f64();
    }

    pub fn snapshot(&self, took: Duration, size_bytes: u64) {
        let mut s = lock(&self.0);
        s.snapshot.0 += 1;
        s.snapshot.1 += took.as_secs_f64();
        s.snapshot_size_bytes = size_bytes;
    }

    pub fn values(&self) -> MaintenanceSnapshot {
        lock(&self.0).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_queries_errors_and_buckets() {
        let s = MaintenanceStats::default();
        s.query(Duration::from_millis(20), true);
        s.query(Duration::from_secs(3), false);
        s.gc(Duration::from_millis(5));
        s.snapshot(Duration::from_millis(7), 120);
        let v = s.values();
        assert_eq!((v.queries, v.query_errors), (2, 1));
        assert_eq!(v.query_buckets, [0, 0, 1, 1, 1, 1, 1, 1, 1, 2, 2]);
        assert_eq!(v.gc.0, 1);
        assert_eq!((v.snapshot.0, v.snapshot_size_bytes), (1, 120));
    }
}
