//! The notification log (Alertmanager's nflog): for each (group key, receiver,
//! integration, index), which alerts the last *successful* notification reported
//! as firing and as resolved, and when. The dedup stage decides from it whether a
//! flush needs sending. Owns the in-memory entries and their JSON-lines file in the
//! data directory (`nflog`), so a restart or a reload does not re-send everything.
//! A write the disk refuses costs at worst a duplicate message: the entry stays in
//! memory and the next write rewrites the file whole (the store's dirty-file rule).
//!
//! An entry expires `min(2 × repeat_interval, --data.retention)` after its send
//! (nflog.Log); an expired entry counts as absent at once (Alertmanager drops it at
//! its next 15-minute GC, so a re-send there comes at most one GC period later).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::labels::{Fingerprint, LabelSet};
use crate::store::stats::MaintenanceStats;
use crate::store::{self, Log, Recovery};
use crate::sync::lock;

/// The hash an alert is recorded under: its label-set fingerprint.
pub fn hash(labels: &LabelSet) -> u64 {
    Fingerprint::of(labels).0
}

/// Which notifications an entry belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Key {
    pub group_key: String,
    pub receiver: String,
    pub integration: String,
    /// The integration's position among the receiver's configs of that kind.
    pub index: usize,
}

impl Key {
    /// The key in the file: unambiguous whatever the names contain.
    fn encode(&self) -> String {
        serde_json::to_string(&(
            &self.receiver,
            &self.integration,
            self.index,
            &self.group_key,
        ))
        .unwrap_or_default()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub firing: BTreeSet<u64>,
    pub resolved: BTreeSet<u64>,
    /// When the notification was sent (after the send returned).
    pub timestamp: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Kept so a loaded entry can be matched back to its key.
    key: Key,
}

impl Entry {
    pub fn is_firing_subset(&self, firing: &BTreeSet<u64>) -> bool {
        firing.is_subset(&self.firing)
    }
    pub fn is_resolved_subset(&self, resolved: &BTreeSet<u64>) -> bool {
        resolved.is_subset(&self.resolved)
    }
}

pub struct Nflog {
    retention: Duration,
    entries: Mutex<HashMap<Key, Entry>>,
    log: Option<Log<Entry>>,
    stats: Arc<MaintenanceStats>,
}

impl Nflog {
    /// A log kept in memory only (tests, `alerter test`).
    pub fn in_memory(retention: Duration) -> Nflog {
        Nflog {
            retention,
            entries: Mutex::new(HashMap::new()),
            log: None,
            stats: Arc::default(),
        }
    }

    /// Opens `dir/nflog`, keeping the entries not expired at `now`.
    pub fn open(
        dir: &Path,
        retention: Duration,
        now: DateTime<Utc>,
    ) -> Result<(Nflog, Recovery), String> {
        let (log, live, rec) = Log::<Entry>::open(dir, "nflog").map_err(|e| e.to_string())?;
        let entries: HashMap<Key, Entry> = live
            .into_values()
            .filter(|e| e.expires_at > now)
            .map(|e| (e.key.clone(), e))
            .collect();
        let stats = Arc::<MaintenanceStats>::default();
        let nf = Nflog {
            retention,
            entries: Mutex::new(entries),
            log: Some(log.with_stats(stats.clone())),
            stats,
        };
        nf.compact();
        Ok((nf, rec))
    }

    /// The live entry for `key` at `now`, if any.
    pub fn query(&self, key: &Key, now: DateTime<Utc>) -> Option<Entry> {
        let started = Instant::now();
        let found = lock(&self.entries)
            .get(key)
            .filter(|e| e.expires_at > now)
            .cloned();
        self.stats.query(started.elapsed(), found.is_some());
        found
    }

    /// Records a successful notification (SetNotifiesStage). The file write is not
    /// fsynced: losing the last entries to a power cut costs one duplicate message.
    pub fn log(
        &self,
        key: &Key,
        firing: BTreeSet<u64>,
        resolved: BTreeSet<u64>,
        now: DateTime<Utc>,
        repeat_interval: Duration,
    ) -> Result<(), store::Error> {
        let ttl = (2 * repeat_interval).min(self.retention);
        let expires_at =
            now + chrono::Duration::from_std(ttl).unwrap_or(chrono::TimeDelta::MAX / 2);
        let entry = Entry {
            firing,
            resolved,
            timestamp: now,
            expires_at,
            key: key.clone(),
        };
        let n = {
            let mut map = lock(&self.entries);
            map.insert(key.clone(), entry.clone());
            map.len()
        };
        let Some(log) = &self.log else {
            return Ok(());
        };
        // After a failed write the whole map is written instead (it holds `entry`).
        let res = log.put_or_heal(std::iter::once((key.encode(), &entry)), false, || {
            self.snapshot()
        });
        if log.wants_compaction(n) {
            self.compact();
        }
        res
    }

    /// Drops expired entries (Alertmanager's nflog GC) and compacts the file when
    /// it holds mostly history or lacks entries after a failed write. Returns how
    /// many were dropped.
    pub fn gc(&self, now: DateTime<Utc>) -> usize {
        let started = Instant::now();
        let gone: Vec<Key> = {
            let mut map = lock(&self.entries);
            let gone: Vec<Key> = map
                .iter()
                .filter(|(_, e)| e.expires_at <= now)
                .map(|(k, _)| k.clone())
                .collect();
            for k in &gone {
                map.remove(k);
            }
            gone
        };
        if let Some(log) = &self.log {
            let res = log
                .delete_and_maintain(gone.iter().map(Key::encode), self.len(), || self.snapshot());
            if let Err(e) = res {
                tracing::warn!("notification log: {e}");
            }
        }
        self.stats.gc(started.elapsed());
        gone.len()
    }

    fn compact(&self) {
        let Some(log) = &self.log else { return };
        if let Err(e) = log.rewrite(self.snapshot()) {
            tracing::warn!("notification log: {e}");
        }
    }

    /// Every entry under its encoded key, the key in the file.
    fn snapshot(&self) -> Vec<(String, Entry)> {
        lock(&self.entries)
            .iter()
            .map(|(k, e)| (k.encode(), e.clone()))
            .collect()
    }

    pub fn len(&self) -> usize {
        lock(&self.entries).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Its queries, GC and snapshots, for Alertmanager's `alertmanager_nflog_*`.
    pub fn maintenance(&self) -> Arc<MaintenanceStats> {
        self.stats.clone()
    }

    /// Write failures of the file so far (for a metric).
    pub fn errors(&self) -> u64 {
        self.log.as_ref().map_or(0, Log::errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::refuse_writes;

    fn t(s: i64) -> DateTime<Utc> {
        crate::clock::test_epoch() + chrono::TimeDelta::seconds(s)
    }

    fn key(g: &str) -> Key {
        Key {
            group_key: g.into(),
            receiver: "ops/team".into(),
            integration: "webhook".into(),
            index: 0,
        }
    }

    #[test]
    fn expiry_is_twice_repeat_capped_by_retention_and_survives_restart() {
        let dir = tempfile::tempdir().unwrap();
        let hour = Duration::from_secs(3600);
        {
            let (nf, _) = Nflog::open(dir.path(), 5 * hour, t(0)).unwrap();
            nf.log(&key("a"), [1, 2].into(), [3].into(), t(0), hour)
                .unwrap();
            nf.log(&key("b"), [4].into(), [].into(), t(0), 4 * hour)
                .unwrap();
            let a = nf.query(&key("a"), t(0)).unwrap();
            assert_eq!(a.expires_at, t(7200));
            assert_eq!(nf.query(&key("b"), t(0)).unwrap().expires_at, t(5 * 3600));
            assert!(nf.query(&key("a"), t(7200)).is_none());
        }
        // Restart after 3 hours: "a" expired, "b" kept with its content.
        let (nf, rec) = Nflog::open(dir.path(), 5 * hour, t(3 * 3600)).unwrap();
        assert_eq!(rec.dropped_lines, 0);
        assert_eq!(nf.len(), 1);
        let b = nf.query(&key("b"), t(3 * 3600)).unwrap();
        assert_eq!(b.firing, [4].into());
        assert_eq!(b.timestamp, t(0));
        assert_eq!(nf.gc(t(5 * 3600)), 1);
        assert!(nf.is_empty());
        drop(nf);
        let (nf, _) = Nflog::open(dir.path(), 5 * hour, t(0)).unwrap();
        assert!(nf.is_empty(), "gc deleted it from the file too");
    }

    #[test]
    fn many_puts_compact_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (nf, _) = Nflog::open(dir.path(), Duration::from_secs(3600), t(0)).unwrap();
        for i in 0..5000 {
            nf.log(
                &key("a"),
                [i].into(),
                [].into(),
                t(i64::try_from(i).unwrap()),
                Duration::from_secs(600),
            )
            .unwrap();
        }
        let lines = std::fs::read_to_string(dir.path().join("nflog"))
            .unwrap()
            .lines()
            .count();
        assert!(lines < 1100, "{lines} lines for one live entry");
        assert_eq!(nf.query(&key("a"), t(4999)).unwrap().firing, [4999].into());
    }

    #[test]
    fn a_failed_write_is_healed_by_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let hour = Duration::from_secs(3600);
        let (nf, _) = Nflog::open(dir.path(), hour, t(0)).unwrap();
        // No handle is open yet (open ends with a rewrite): the append opens the path.
        let repair = refuse_writes(&dir.path().join("nflog"));
        let e = nf.log(&key("a"), [1].into(), [].into(), t(0), hour);
        assert!(e.unwrap_err().to_string().contains("write failed"));
        assert_eq!(nf.errors(), 1);
        assert!(nf.query(&key("a"), t(0)).is_some(), "kept in memory");
        repair();
        nf.log(&key("b"), [2].into(), [].into(), t(0), hour)
            .unwrap();
        drop(nf);
        let (nf, _) = Nflog::open(dir.path(), hour, t(0)).unwrap();
        assert_eq!(nf.len(), 2, "the lost entry was written by the next write");
    }
}
