//! The store of active alerts, by fingerprint (Alertmanager's provider/mem). Every
//! accepted alert is merged here first and then handed to the listeners (dispatcher,
//! inhibitor, persistence) synchronously, so none of them can fall behind unbounded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use crate::alert::Alert;
use crate::clock::Clock;
use crate::labels::Fingerprint;

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
    /// the listeners. Returns the alerts as stored.
    pub fn put(&self, incoming: Vec<Alert>) -> Vec<Arc<Alert>> {
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
        let listeners = self.listeners.read().unwrap_or_else(|e| e.into_inner());
        for l in listeners.iter() {
            l.on_alerts(&stored);
        }
        stored
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
        let mut guard = self.listeners.write().unwrap_or_else(|e| e.into_inner());
        *guard = listeners;
        for l in guard.iter() {
            l.on_alerts(&snapshot);
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
