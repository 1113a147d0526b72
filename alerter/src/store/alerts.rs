//! Alert persistence: every merged alert is appended to the data directory's
//! `alerts` log (keyed by fingerprint), so a restart, even after `kill -9`, resumes
//! with the alerts it had instead of waiting for Prometheus to resend them and
//! notifying "resolved" for nothing. Alertmanager keeps alerts in memory only.
//!
//! Writes are not fsynced (they reach the kernel before `put` returns, and before
//! the API answers a POST, which a killed process cannot undo); one line per alert.
//! The provider stages lines and commits them: one write per posted batch, and
//! one for all the requests the API handles in the same turn of the event loop.
//! State owned: the log file. The live alerts are the provider's.
//!
//! Wiring (server.rs), in this order:
//!
//! ```text
//! let (alert_log, restored, recovery) = AlertLog::open(&data_dir, clock.now(), gc_interval)?;
//! let alert_log = Arc::new(alert_log);
//! let alerts = Arc::new(provider::Alerts::new(clock));
//! alerts.put(restored);                       // before the listeners: not rewritten
//! alerts.set_listeners(vec![dispatcher, inhibitor, alert_log.clone()]); // on every reload too
//! // every --alerts.gc-interval (Alertmanager: 30m):
//! let removed = alerts.gc();
//! alert_log.after_gc(&removed, &alerts);      // deletes them, compacts when due
//! // every minute or so (cheap when nothing is due):
//! alert_log.maintain(&alerts);
//! ```
//!
//! `set_listeners` replays every stored alert, so a reload appends each alert
//! once more; compaction takes care of that.

use std::borrow::Borrow;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::alert::Alert;
use crate::provider::{Alerts, Listener};
use crate::store::{Health, Log, Recovery};

/// The file in the data directory.
pub const LOG_NAME: &str = "alerts";

/// Write failures are reported by the log (once per run) and healed by
/// [`AlertLog::maintain`]; the alerts themselves stay in the provider.
pub struct AlertLog {
    log: Log<Alert>,
    /// Wakes the maintenance pass as soon as a write makes the file oversized:
    /// a large alert posted again and again would otherwise grow it for a minute.
    compaction_due: Arc<tokio::sync::Notify>,
}

impl AlertLog {
    /// Opens `dir/alerts` and returns the alerts to put back into the provider:
    /// all unresolved ones, and resolved ones that ended less than `keep_resolved`
    /// before `now` (they may still owe a "resolved" notification; the provider
    /// would have kept them until its next GC too). A torn or unreadable file is
    /// not fatal; see the returned [`Recovery`].
    pub fn open(
        dir: &Path,
        now: DateTime<Utc>,
        keep_resolved: Duration,
    ) -> Result<(AlertLog, Vec<Alert>, Recovery), String> {
        let (log, live, rec) = Log::<Alert>::open(dir, LOG_NAME).map_err(|e| e.to_string())?;
        let keep = chrono::Duration::from_std(keep_resolved).unwrap_or(chrono::TimeDelta::MAX);
        let cutoff = now
            .checked_sub_signed(keep)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let total = live.len();
        let mut restored: Vec<Alert> = live
            .into_values()
            .filter(|a| !a.resolved_at(now) || a.ends_at > cutoff)
            .collect();
        // Stable order for the provider and for tests.
        restored.sort_by_key(Alert::fingerprint);
        let al = AlertLog {
            log: log.report_with(report),
            compaction_due: Arc::default(),
        };
        if restored.len() != total {
            // Failures are reported, and healed by the next `maintain`.
            al.log.rewrite(keyed(&restored)).ok();
        }
        Ok((al, restored, rec))
    }

    pub fn path(&self) -> &Path {
        self.log.path()
    }

    /// Notified when the file grew past its size bound; the owner then calls
    /// [`AlertLog::maintain`].
    pub fn compaction_due(&self) -> Arc<tokio::sync::Notify> {
        self.compaction_due.clone()
    }

    /// Failed writes so far (a metric).
    pub fn errors(&self) -> u64 {
        self.log.errors()
    }

    /// Forgets the alerts the provider's GC removed (unless one came back in the
    /// meantime), then compacts if due.
    pub fn after_gc(&self, removed: &[Arc<Alert>], alerts: &Alerts) {
        let gone: Vec<String> = removed
            .iter()
            .map(|a| a.fingerprint())
            .filter(|fp| alerts.get(*fp).is_none())
            .map(|fp| fp.to_string())
            .collect();
        // A failure is reported by the log; the file stays dirty for the next pass.
        self.log
            .delete_and_maintain(gone, alerts.len(), || keyed(alerts.list()))
            .ok();
    }

    /// Rewrites the file from the provider's alerts when it is mostly history, or
    /// when a failed write may have left it incomplete.
    pub fn maintain(&self, alerts: &Alerts) {
        // A failure is reported by the log; the file stays dirty for the next pass.
        self.log
            .maintain(alerts.len(), || keyed(alerts.list()))
            .ok();
    }
}

/// Each alert under its fingerprint, the key in the file.
fn keyed<A: Borrow<Alert>>(alerts: impl IntoIterator<Item = A>) -> Vec<(String, A)> {
    alerts
        .into_iter()
        .map(|a| (a.borrow().fingerprint().to_string(), a))
        .collect()
}

/// What the operator is told when the data directory refuses alerts, and when it
/// takes them again.
fn report(h: Health<'_>) {
    match h {
        Health::Failing(e) => tracing::error!(
            "alerts: cannot save to the data directory; alerts stay in memory and a restart may lose them: {e}"
        ),
        Health::Recovered => tracing::info!("alerts: writing to the data directory works again"),
    }
}

impl Listener for AlertLog {
    fn on_alert(&self, alert: &Arc<Alert>) {
        self.on_alerts(std::slice::from_ref(alert));
    }

    fn on_alerts(&self, alerts: &[Arc<Alert>]) {
        // A failure is reported by the log and healed by the next `maintain`.
        self.log
            .stage_many(alerts.iter().map(|a| (a.fingerprint().to_string(), &**a)))
            .ok();
    }

    fn commit(&self) {
        self.log.flush(false).ok();
        if self.log.wants_compaction_by_size() {
            self.compaction_due.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::Clock;
    use crate::clock::test_epoch as t0;
    use crate::labels::LabelSet;
    use crate::store::testing::refuse_writes;

    fn secs(n: i64) -> chrono::Duration {
        chrono::Duration::seconds(n)
    }

    /// An alert received at `t0 + start` that ends at `t0 + end`.
    fn alert(name: &str, instance: &str, start: i64, end: i64) -> Alert {
        let labels: LabelSet = [("alertname", name), ("instance", instance)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Alert {
            labels,
            annotations: [("summary".to_string(), format!("{name} on {instance}"))].into(),
            starts_at: t0() + secs(start),
            ends_at: t0() + secs(end),
            generator_url: "http://prometheus:9090/graph?g0.expr=up".into(),
            updated_at: t0() + secs(start),
            timeout: true,
        }
    }

    fn wired(dir: &Path, clock: Clock) -> (Arc<AlertLog>, Arc<Alerts>, Vec<Alert>, Recovery) {
        let (log, restored, rec) =
            AlertLog::open(dir, clock.now(), Duration::from_secs(1800)).unwrap();
        let log = Arc::new(log);
        let alerts = Arc::new(Alerts::new(clock));
        alerts.put(restored.clone());
        alerts.set_listeners(vec![log.clone()]);
        (log, alerts, restored, rec)
    }

    fn lines(p: &Path) -> usize {
        std::fs::read_to_string(p).unwrap().lines().count()
    }

    #[tokio::test(start_paused = true)]
    async fn alerts_come_back_after_a_kill() {
        let dir = tempfile::tempdir().unwrap();
        let c = Clock::following_tokio(t0());
        let (a, b) = (
            alert("HostDown", "vps1", 0, 300),
            alert("DiskFull", "vps2", 0, 300),
        );
        {
            let (_log, alerts, restored, _) = wired(dir.path(), c);
            assert!(restored.is_empty());
            alerts.put(vec![a.clone()]);
            alerts.put(vec![b.clone()]);
            // Re-sent later: the merged alert is what is stored.
            tokio::time::advance(Duration::from_secs(60)).await;
            alerts.put(vec![alert("HostDown", "vps1", 60, 360)]);
            // Dropped without a shutdown step, as a SIGKILL would.
        }
        let (_log, alerts, restored, rec) = wired(dir.path(), c);
        assert_eq!(rec.dropped_lines, 0);
        let mut want = vec![
            Alert {
                ends_at: t0() + secs(360),
                updated_at: t0() + secs(60),
                ..a
            },
            b,
        ];
        want.sort_by_key(Alert::fingerprint);
        assert_eq!(restored, want);
        assert_eq!(alerts.len(), 2);
        // The first start is kept by the merge, and so by the restore.
        assert_eq!(restored.iter().map(|a| a.starts_at).min(), Some(t0()));
    }

    #[tokio::test(start_paused = true)]
    async fn resolved_and_old_alerts_are_not_restored() {
        let dir = tempfile::tempdir().unwrap();
        let c = Clock::following_tokio(t0());
        {
            let (_log, alerts, _, _) = wired(dir.path(), c);
            alerts.put(vec![
                alert("Firing", "a", 0, 100_000),
                alert("ResolvedLongAgo", "a", 0, 60),
                alert("ResolvedRecently", "a", 0, 3000),
            ]);
        }
        tokio::time::advance(Duration::from_secs(3600)).await;
        let names = |v: &[Alert]| -> Vec<String> {
            let mut n: Vec<String> = v.iter().map(|a| a.labels["alertname"].clone()).collect();
            n.sort();
            n
        };
        let (_log, _alerts, restored, _) = wired(dir.path(), c);
        assert_eq!(names(&restored), ["Firing", "ResolvedRecently"]);
        drop(_log);
        // The dropped one is gone from the file too.
        let (_, restored, _) =
            AlertLog::open(dir.path(), t0(), Duration::from_secs(1_000_000)).unwrap();
        assert_eq!(names(&restored), ["Firing", "ResolvedRecently"]);
    }

    #[tokio::test(start_paused = true)]
    async fn gc_deletes_and_compaction_keeps_the_file_small() {
        let dir = tempfile::tempdir().unwrap();
        let c = Clock::following_tokio(t0());
        let (log, alerts, _, _) = wired(dir.path(), c);
        alerts.put(vec![
            alert("Stays", "a", 0, 100_000),
            alert("Goes", "a", 0, 10),
        ]);
        tokio::time::advance(Duration::from_secs(20)).await;
        let removed = alerts.gc();
        assert_eq!(removed.len(), 1);
        // It fired again before the log heard of the GC: must not be deleted.
        let back = alert("Back", "a", 0, 10);
        alerts.put(vec![alert("Back", "a", 20, 100_000)]);
        log.after_gc(&[back.into()], &alerts);
        log.after_gc(&removed, &alerts);
        drop(log);
        let (_, restored, _) = AlertLog::open(dir.path(), c.now(), Duration::ZERO).unwrap();
        let mut names: Vec<&str> = restored
            .iter()
            .map(|a| a.labels["alertname"].as_str())
            .collect();
        names.sort_unstable();
        assert_eq!(names, ["Back", "Stays"]);

        // Prometheus re-sends the same alerts forever: the file stays bounded.
        let (log, alerts, _, _) = wired(dir.path(), c);
        for i in 0..5_000 {
            alerts.put(vec![alert("Stays", "a", i, 100_000 + i)]);
        }
        log.maintain(&alerts);
        assert!(lines(log.path()) <= 3, "{}", lines(log.path()));
        assert_eq!(log.errors(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_torn_tail_loses_only_the_torn_alert() {
        let dir = tempfile::tempdir().unwrap();
        let c = Clock::following_tokio(t0());
        {
            let (_log, alerts, _, _) = wired(dir.path(), c);
            alerts.put(vec![alert("A", "1", 0, 1000), alert("B", "1", 0, 1000)]);
        }
        let path = dir.path().join(LOG_NAME);
        let mut text = std::fs::read(&path).unwrap();
        let cut = text.len() - 40;
        text.truncate(cut);
        std::fs::write(&path, &text).unwrap();
        let (_log, _alerts, restored, rec) = wired(dir.path(), c);
        assert_eq!(rec.dropped_lines, 1);
        assert_eq!(restored.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_disk_is_counted_and_healed_by_a_rewrite() {
        let dir = tempfile::tempdir().unwrap();
        let c = Clock::following_tokio(t0());
        let (log, alerts, _, _) = wired(dir.path(), c);
        // No handle is open yet: the next append opens /dev/full (ENOSPC even as
        // root) or, without that device, a directory.
        let repair = refuse_writes(&dir.path().join(LOG_NAME));
        alerts.put(vec![alert("A", "1", 0, 1000)]);
        alerts.put(vec![alert("B", "1", 0, 1000)]);
        assert_eq!(log.errors(), 2);
        assert_eq!(alerts.len(), 2, "the provider is unaffected");
        repair();
        log.maintain(&alerts);
        drop(log);
        let (_, restored, _) = AlertLog::open(dir.path(), c.now(), Duration::ZERO).unwrap();
        assert_eq!(restored.len(), 2);
    }

    /// 10,000 single-alert POSTs, each merged and appended: the persistence share
    /// must stay far below 100 ms in total.
    #[tokio::test(start_paused = true)]
    async fn ten_thousand_single_alert_puts_append_one_line_each() {
        // What keeps a put cheap, asserted without a clock (the wall time belongs to
        // `alerter/bench`): one appended line per alert, in the same file, which is
        // never rewritten or compacted on the put path.
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let c = Clock::following_tokio(t0());
        let (log, alerts, _, _) = wired(dir.path(), c);
        let inode = std::fs::metadata(log.path()).unwrap().ino();
        let mut size = std::fs::metadata(log.path()).unwrap().len();
        for i in 0..10_000 {
            alerts.put(vec![alert("HostDown", &format!("vps{i}"), 0, 300)]);
            let now = std::fs::metadata(log.path()).unwrap();
            assert_eq!(now.ino(), inode, "put {i} replaced the file");
            assert!(now.len() > size, "put {i} wrote nothing");
            size = now.len();
        }
        assert_eq!(lines(log.path()), 10_000);
    }
}
