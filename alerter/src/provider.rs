//! The store of active alerts, by fingerprint (Alertmanager's provider/mem). Every
//! accepted alert is merged here first and then handed to the listeners (dispatcher,
//! inhibitor, persistence) synchronously, so none of them can fall behind unbounded.

use std::collections::HashMap;
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

pub struct Alerts {
    clock: Clock,
    /// Shared with the dispatcher's groups and every snapshot: one copy per alert.
    alerts: Mutex<HashMap<Fingerprint, Arc<Alert>>>,
    listeners: RwLock<Vec<Arc<dyn Listener>>>,
}

impl Alerts {
    pub fn new(clock: Clock) -> Alerts {
        Alerts {
            clock,
            alerts: Mutex::new(HashMap::new()),
            listeners: RwLock::new(Vec::new()),
        }
    }

    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Merges each alert into the stored one (see [`Alert::merge_into`]) and tells
    /// the listeners, committed before this returns. Returns the alerts as stored.
    pub fn put(&self, incoming: Vec<Alert>) -> Vec<Arc<Alert>> {
        let stored = self.merge(incoming);
        self.commit();
        stored
    }

    /// [`Alerts::put`] for the API: merged at once, committed after the other
    /// requests that are ready in this turn of the event loop have merged theirs,
    /// so one write covers them all (with 4 busy connections, a quarter of the
    /// writes). Committed even when the caller is dropped meanwhile.
    pub async fn put_grouped(&self, incoming: Vec<Alert>) {
        struct CommitOnDrop<'a>(&'a Alerts);
        impl Drop for CommitOnDrop<'_> {
            fn drop(&mut self) {
                self.0.commit();
            }
        }
        self.merge(incoming);
        let _commit = CommitOnDrop(self);
        tokio::task::yield_now().await;
    }

    fn merge(&self, incoming: Vec<Alert>) -> Vec<Arc<Alert>> {
        let now = self.clock.now();
        let mut stored = Vec::with_capacity(incoming.len());
        {
            let mut map = lock(&self.alerts);
            for a in incoming {
                let fp = a.fingerprint();
                let merged = Arc::new(match map.get(&fp) {
                    Some(old) => Alert::merge_into(old, a, now),
                    None => a,
                });
                map.insert(fp, merged.clone());
                stored.push(merged);
            }
        }
        let listeners = read(&self.listeners);
        for l in listeners.iter() {
            l.on_alerts(&stored);
        }
        stored
    }

    fn commit(&self) {
        let listeners = read(&self.listeners);
        for l in listeners.iter() {
            l.commit();
        }
    }

    pub fn get(&self, fp: Fingerprint) -> Option<Arc<Alert>> {
        lock(&self.alerts).get(&fp).cloned()
    }

    pub fn list(&self) -> Vec<Arc<Alert>> {
        lock(&self.alerts).values().cloned().collect()
    }

    pub fn len(&self) -> usize {
        lock(&self.alerts).len()
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
        let mut map = lock(&self.alerts);
        let gone: Vec<Fingerprint> = map
            .iter()
            .filter(|(_, a)| a.resolved_at(now))
            .map(|(fp, _)| *fp)
            .collect();
        gone.iter().filter_map(|fp| map.remove(fp)).collect()
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
}
