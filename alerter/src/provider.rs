//! The store of active alerts, by fingerprint (Alertmanager's provider/mem). Every
//! accepted alert is merged here first and then handed to the listeners (dispatcher,
//! inhibitor, persistence) synchronously, so none of them can fall behind unbounded.
//!
//! The store is bounded ([`Limits`]): an alert with a new fingerprint beyond the count
//! limit, or one that would take the stored bytes past the size limit, is refused,
//! counted and logged (at most once a minute), as Mimir's Alertmanager limiter does
//! (`alertmanager_max_alerts_count`, `alertmanager_max_alerts_size_bytes`). Updates
//! of stored alerts within the size limit are always taken, so a full store still
//! resolves what it holds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::alert::Alert;
use crate::clock::Clock;
use crate::labels::Fingerprint;
use crate::sync::{lock, read, write};

/// Told about every alert after it is merged, and about every alert already stored
/// when it subscribes. Must not block: it runs on the API's request path.
pub trait Listener: Send + Sync {
    fn on_alert(&self, alert: &Arc<Alert>);

    /// One posted batch (or the replay of the whole store), in order.
    fn on_alerts(&self, alerts: &[Arc<Alert>]) {
        for a in alerts {
            self.on_alert(a);
        }
    }

    /// Finishes what `on_alerts` deferred (the alert log writes staged lines here).
    /// Called after every put, once for a group of puts at most a turn apart.
    fn commit(&self) {}
}

/// Bounds on what the store holds; 0 means no bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Stored alerts (firing or resolved but not yet collected).
    pub max_alerts: usize,
    /// The sum of [`Alert::size`] over the stored alerts.
    pub max_bytes: usize,
}

impl Limits {
    pub const NONE: Limits = Limits {
        max_alerts: 0,
        max_bytes: 0,
    };
}

impl Default for Limits {
    /// `--alerts.max-count` and `--alerts.max-size-bytes`' defaults: far above what a
    /// small team's rules make (hundreds), far below what would exhaust a small VPS.
    fn default() -> Self {
        Limits {
            max_alerts: 50_000,
            max_bytes: 128 << 20,
        }
    }
}

/// Why an alert was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Count,
    Size,
}

impl Refusal {
    pub const ALL: [Refusal; 2] = [Refusal::Count, Refusal::Size];

    /// The `reason` label of `alerter_alerts_insert_limited_total`.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::Count => "count",
            Refusal::Size => "size",
        }
    }
}

/// Whether the store may take an alert of `new_size` bytes: `old_size` is the stored
/// alert's under the same fingerprint (`None`: a new one), `count` and `bytes` what
/// the store holds now. Mirrors Mimir's alertsLimiter.PreStore: the count limit binds
/// only new fingerprints; the size limit binds any growth.
pub fn admit(
    limits: Limits,
    count: usize,
    bytes: usize,
    old_size: Option<usize>,
    new_size: usize,
) -> Result<(), Refusal> {
    if old_size.is_none() && limits.max_alerts > 0 && count >= limits.max_alerts {
        return Err(Refusal::Count);
    }
    let after = (bytes - old_size.unwrap_or(0).min(bytes)).saturating_add(new_size);
    if limits.max_bytes > 0 && after > limits.max_bytes && after > bytes {
        return Err(Refusal::Size);
    }
    Ok(())
}

/// What one put refused, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Refused {
    pub count: usize,
    pub size: usize,
}

impl Refused {
    pub fn total(self) -> usize {
        self.count + self.size
    }
}

/// The alerts by fingerprint and the sum of their sizes.
#[derive(Default)]
struct Stored {
    map: HashMap<Fingerprint, Arc<Alert>>,
    bytes: usize,
}

pub struct Alerts {
    clock: Clock,
    limits: Limits,
    /// Shared with the dispatcher's groups and every snapshot: one copy per alert.
    alerts: Mutex<Stored>,
    listeners: RwLock<Vec<Arc<dyn Listener>>>,
    /// Refusals since start, in [`Refusal::ALL`] order.
    refused: [AtomicU64; 2],
    /// When refusals were last logged, and how many came since.
    warned: Mutex<(Option<chrono::DateTime<chrono::Utc>>, u64)>,
}

/// Refusals are logged at most this often, each line with the count since the last.
const WARN_EVERY: chrono::TimeDelta = chrono::TimeDelta::minutes(1);

impl Alerts {
    /// An unbounded store (tests, tools); the daemon uses [`Alerts::with_limits`].
    pub fn new(clock: Clock) -> Alerts {
        Self::with_limits(clock, Limits::NONE)
    }

    pub fn with_limits(clock: Clock, limits: Limits) -> Alerts {
        Alerts {
            clock,
            limits,
            alerts: Mutex::new(Stored::default()),
            listeners: RwLock::new(Vec::new()),
            refused: [AtomicU64::new(0), AtomicU64::new(0)],
            warned: Mutex::new((None, 0)),
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Alerts refused since start, by reason, in [`Refusal::ALL`] order.
    pub fn refused_total(&self) -> [u64; 2] {
        [
            self.refused[0].load(Ordering::Relaxed),
            self.refused[1].load(Ordering::Relaxed),
        ]
    }

    /// The sum of the stored alerts' sizes.
    pub fn bytes(&self) -> usize {
        lock(&self.alerts).bytes
    }

    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Merges each alert into the stored one (see [`Alert::merge_into`]) and tells
    /// the listeners, committed before this returns. Returns the alerts as stored.
    pub fn put(&self, incoming: Vec<Alert>) -> Vec<Arc<Alert>> {
        let (stored, _) = self.merge(incoming);
        self.commit();
        stored
    }

    /// [`Alerts::put`] for the API: merged at once, committed after the other
    /// requests that are ready in this turn of the event loop have merged theirs,
    /// so one write covers them all (with 4 busy connections, a quarter of the
    /// writes). Committed even when the caller is dropped meanwhile. Returns what
    /// the limits refused.
    pub async fn put_grouped(&self, incoming: Vec<Alert>) -> Refused {
        struct CommitOnDrop<'a>(&'a Alerts);
        impl Drop for CommitOnDrop<'_> {
            fn drop(&mut self) {
                self.0.commit();
            }
        }
        let (_, refused) = self.merge(incoming);
        let _commit = CommitOnDrop(self);
        tokio::task::yield_now().await;
        refused
    }

    fn merge(&self, incoming: Vec<Alert>) -> (Vec<Arc<Alert>>, Refused) {
        let now = self.clock.now();
        let mut stored = Vec::with_capacity(incoming.len());
        let mut refused = Refused::default();
        {
            let mut st = lock(&self.alerts);
            for a in incoming {
                let fp = a.fingerprint();
                let old = st.map.get(&fp);
                let merged = match old {
                    Some(old) => Alert::merge_into(old, a, now),
                    None => a,
                };
                let old_size = old.map(|o| o.size());
                let new_size = merged.size();
                if let Err(why) = admit(self.limits, st.map.len(), st.bytes, old_size, new_size) {
                    match why {
                        Refusal::Count => refused.count += 1,
                        Refusal::Size => refused.size += 1,
                    }
                    continue;
                }
                st.bytes = st.bytes - old_size.unwrap_or(0).min(st.bytes) + new_size;
                let merged = Arc::new(merged);
                st.map.insert(fp, merged.clone());
                stored.push(merged);
            }
        }
        if refused.total() > 0 {
            self.refused[0].fetch_add(refused.count as u64, Ordering::Relaxed);
            self.refused[1].fetch_add(refused.size as u64, Ordering::Relaxed);
            self.warn_refused(refused, now);
        }
        let listeners = read(&self.listeners);
        for l in listeners.iter() {
            l.on_alerts(&stored);
        }
        (stored, refused)
    }

    /// One warn line per [`WARN_EVERY`] at most: a sender stuck over the limit
    /// re-posts every few seconds and must not flood the log.
    fn warn_refused(&self, refused: Refused, now: chrono::DateTime<chrono::Utc>) {
        let mut w = lock(&self.warned);
        w.1 += refused.total() as u64;
        if w.0.is_some_and(|at| now - at < WARN_EVERY) {
            return;
        }
        let since = std::mem::take(&mut w.1);
        w.0 = Some(now);
        drop(w);
        tracing::warn!(
            refused = since,
            max_alerts = self.limits.max_alerts,
            max_bytes = self.limits.max_bytes,
            "alerts refused: the store is at its limit (--alerts.max-count / --alerts.max-size-bytes); \
             counted in alerter_alerts_insert_limited_total"
        );
    }

    fn commit(&self) {
        let listeners = read(&self.listeners);
        for l in listeners.iter() {
            l.commit();
        }
    }

    pub fn get(&self, fp: Fingerprint) -> Option<Arc<Alert>> {
        lock(&self.alerts).map.get(&fp).cloned()
    }

    pub fn list(&self) -> Vec<Arc<Alert>> {
        lock(&self.alerts).map.values().cloned().collect()
    }

    pub fn len(&self) -> usize {
        lock(&self.alerts).map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Replaces the listeners (a reload builds a new dispatcher and inhibitor) and
    /// replays every stored alert to them, as Alertmanager's Subscribe does.
    pub fn set_listeners(&self, listeners: Vec<Arc<dyn Listener>>) {
        let snapshot = self.list();
        let mut guard = write(&self.listeners);
        for l in guard.iter() {
            l.commit();
        }
        *guard = listeners;
        for l in guard.iter() {
            l.on_alerts(&snapshot);
            l.commit();
        }
    }

    /// Drops resolved alerts (Alertmanager's periodic GC) and returns them.
    pub fn gc(&self) -> Vec<Arc<Alert>> {
        let now = self.clock.now();
        let mut st = lock(&self.alerts);
        let gone: Vec<Fingerprint> = st
            .map
            .iter()
            .filter(|(_, a)| a.resolved_at(now))
            .map(|(fp, _)| *fp)
            .collect();
        let removed: Vec<Arc<Alert>> = gone.iter().filter_map(|fp| st.map.remove(fp)).collect();
        let freed: usize = removed.iter().map(|a| a.size()).sum();
        st.bytes = st.bytes.saturating_sub(freed);
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::LabelSet;

    /// Records what the provider tells it, in order.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl Listener for Recorder {
        fn on_alert(&self, a: &Arc<Alert>) {
            lock(&self.0).push(a.labels["alertname"].clone());
        }
        fn commit(&self) {
            lock(&self.0).push("commit".into());
        }
    }

    fn alert(name: &str) -> Alert {
        let t = chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap();
        Alert {
            labels: LabelSet::from([("alertname".to_string(), name.to_string())]),
            annotations: LabelSet::new(),
            starts_at: t,
            ends_at: t + chrono::Duration::hours(1),
            generator_url: String::new(),
            updated_at: t,
            timeout: true,
        }
    }

    fn wired() -> (Arc<Alerts>, Arc<Recorder>) {
        let alerts = Arc::new(Alerts::new(Clock::system()));
        let rec = Arc::new(Recorder::default());
        alerts.set_listeners(vec![rec.clone()]);
        lock(&rec.0).clear();
        (alerts, rec)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn requests_ready_together_share_one_commit() {
        let (alerts, rec) = wired();
        let tasks: Vec<_> = ["A", "B", "C"]
            .into_iter()
            .map(|n| {
                let alerts = alerts.clone();
                tokio::spawn(async move { alerts.put_grouped(vec![alert(n)]).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let seen = lock(&rec.0).clone();
        // All three merged before the first commit; the later commits find nothing
        // staged (cheap), and nobody returned before its alert was committed.
        assert_eq!(seen, ["A", "B", "C", "commit", "commit", "commit"]);
        assert_eq!(alerts.len(), 3);
        alerts.put(vec![alert("D")]);
        assert_eq!(lock(&rec.0)[6..], ["D".to_string(), "commit".into()]);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_dropped_request_still_commits() {
        let (alerts, rec) = wired();
        let mut fut = Box::pin(alerts.put_grouped(vec![alert("A")]));
        // Polled once (merged, waiting for the others), then dropped, as hyper does
        // when the client goes away.
        assert!(futures::poll!(fut.as_mut()).is_pending());
        assert_eq!(*lock(&rec.0), ["A"]);
        drop(fut);
        assert_eq!(*lock(&rec.0), ["A", "commit"]);
    }

    #[test]
    fn admit_mirrors_mimirs_limiter() {
        let l = Limits {
            max_alerts: 2,
            max_bytes: 100,
        };
        // (count, bytes, old size, new size) -> decision
        let table = [
            ((0, 0, None, 10), Ok(())),
            ((1, 10, None, 10), Ok(())),
            // A new fingerprint at the count limit is refused...
            ((2, 20, None, 10), Err(Refusal::Count)),
            // ...an update of a stored one is not.
            ((2, 20, Some(10), 12), Ok(())),
            // Size: any growth past the limit is refused, new or update.
            ((1, 95, None, 10), Err(Refusal::Size)),
            ((2, 95, Some(5), 11), Err(Refusal::Size)),
            ((2, 95, Some(5), 10), Ok(())),
            // Over the limit already (it was lowered): an update that does not grow is
            // taken, so what is stored can still resolve.
            ((2, 150, Some(80), 80), Ok(())),
            ((2, 150, Some(80), 81), Err(Refusal::Size)),
        ];
        for ((count, bytes, old, new), want) in table {
            assert_eq!(
                admit(l, count, bytes, old, new),
                want,
                "count {count} bytes {bytes} old {old:?} new {new}"
            );
        }
        assert_eq!(
            admit(Limits::NONE, usize::MAX - 1, usize::MAX - 1, None, 5),
            Ok(())
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_store_refuses_beyond_its_limits_and_counts() {
        let limits = Limits {
            max_alerts: 2,
            max_bytes: 0,
        };
        let alerts = Alerts::with_limits(Clock::system(), limits);
        let refused = alerts
            .put_grouped(vec![alert("A"), alert("B"), alert("C"), alert("A")])
            .await;
        assert_eq!(refused, Refused { count: 1, size: 0 });
        assert_eq!(alerts.len(), 2);
        assert_eq!(alerts.refused_total(), [1, 0]);
        assert_eq!(alerts.bytes(), 2 * ("alertname".len() + 1));
        // GC frees room: with A and B resolved and collected, C gets in.
        let resolved = |n: &str| {
            let mut a = alert(n);
            a.ends_at = a.starts_at;
            a.timeout = false;
            a
        };
        alerts.put(vec![resolved("A"), resolved("B")]);
        assert_eq!(alerts.gc().len(), 2);
        assert_eq!(alerts.bytes(), 0);
        assert_eq!(
            alerts.put_grouped(vec![alert("C")]).await,
            Refused::default()
        );
        assert_eq!(alerts.len(), 1);
    }
}
