//! The delivery statistics the pipeline keeps: how many notifications and single
//! requests each integration made, which failed and why, their latency, and which
//! integrations are failing now (what the self-monitoring alarm reports, and what
//! makes waiting groups stand back). Owns that bookkeeping; the pipeline only
//! reports events to it, and the metrics module turns a [`StatsSnapshot`] into
//! exposition.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{NotifyError, Reason};
use crate::sync;

/// Alertmanager's notification latency buckets (seconds).
pub const LATENCY_BUCKETS: [f64; 5] = [1.0, 5.0, 10.0, 15.0, 20.0];

/// One integration's request latency, as histogram parts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Latency {
    /// Cumulative counts per [`LATENCY_BUCKETS`] bound.
    pub buckets: [u64; 5],
    pub count: u64,
    pub sum_seconds: f64,
}

/// The counters behind `alertmanager_notifications_total{integration}`,
/// `alertmanager_notifications_failed_total{integration,reason}`,
/// `alerter_receiver_notifications_failed_total{receiver,integration,reason}`,
/// `alerter_notification_attempts_failed_total{receiver,integration,reason}`,
/// `alertmanager_notification_requests_total{integration}`,
/// `alertmanager_notification_requests_failed_total{integration}` and
/// `alertmanager_notification_latency_seconds{integration}`. Plain data: the metrics
/// module turns a [`StatsSnapshot`] into exposition.
#[derive(Default, Debug)]
pub struct PipelineStats {
    inner: Mutex<StatsSnapshot>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatsSnapshot {
    /// Notifications attempted (one per flush that had something to send).
    pub notifications: BTreeMap<String, u64>,
    /// Notifications given up, by (receiver, integration, reason).
    pub failed: BTreeMap<(String, String, String), u64>,
    /// Single delivery attempts, and the failed ones, by integration.
    pub requests: BTreeMap<String, u64>,
    pub requests_failed: BTreeMap<String, u64>,
    /// Single attempts failed, by (receiver, integration, reason): the reason is
    /// visible at the first failed attempt, not only when the flush gives up.
    pub attempts_failed: BTreeMap<(String, String, String), u64>,
    pub latency: BTreeMap<String, Latency>,
    /// Integrations whose last notification or attempt failed, by (receiver,
    /// integration): what the status and the self-monitoring alarm path report.
    pub failing: BTreeMap<(String, String), Failure>,
    /// Integrations whose last single attempt failed (set long before a whole
    /// notification gives up): what makes waiting groups stand back.
    pub tripped: BTreeSet<(String, String)>,
    /// The last delivered notification, by (receiver, integration): the status
    /// page's "last success".
    pub last_success: BTreeMap<(String, String), Success>,
    /// Notifications being sent now (waiting for the server or for the next
    /// attempt), and how many of those already failed an attempt.
    pub in_flight: BTreeMap<(String, String), InFlight>,
}

/// When an integration last delivered, and how many alerts that notification held.
#[derive(Clone, Debug, PartialEq)]
pub struct Success {
    pub at: DateTime<Utc>,
    pub alerts: usize,
}

/// Notifications of one integration being sent now.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct InFlight {
    pub pending: u64,
    pub retrying: u64,
}

/// Since when an integration has been failing, and the last error.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    pub since: DateTime<Utc>,
    pub reason: Reason,
    pub message: String,
    /// Whether a notification has given up (not only an attempt failed): the
    /// first give-up is still news for the log.
    pub given_up: bool,
}

/// Records the failure; true when a give-up is news (see [`PipelineStats::count_failure`]).
fn mark_failing(
    s: &mut StatsSnapshot,
    receiver: &str,
    integration: &str,
    e: &NotifyError,
    now: DateTime<Utc>,
    given_up: bool,
) -> bool {
    match s.failing.entry((receiver.into(), integration.into())) {
        std::collections::btree_map::Entry::Vacant(v) => {
            v.insert(Failure {
                since: now,
                reason: e.reason,
                message: e.message.clone(),
                given_up,
            });
            given_up
        }
        std::collections::btree_map::Entry::Occupied(o) => {
            let f = o.into_mut();
            let news = given_up && (!f.given_up || f.reason != e.reason);
            f.reason = e.reason;
            f.message.clone_from(&e.message);
            f.given_up |= given_up;
            news
        }
    }
}

impl PipelineStats {
    fn lock(&self) -> std::sync::MutexGuard<'_, StatsSnapshot> {
        sync::lock(&self.inner)
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        self.lock().clone()
    }

    /// Makes an integration's series exist at 0 before its first notification.
    pub fn register(&self, integration: &str) {
        let mut s = self.lock();
        s.notifications.entry(integration.into()).or_default();
        s.requests.entry(integration.into()).or_default();
        s.requests_failed.entry(integration.into()).or_default();
        s.latency.entry(integration.into()).or_default();
    }

    pub(crate) fn count_notification(&self, integration: &str) {
        *self
            .lock()
            .notifications
            .entry(integration.into())
            .or_default() += 1;
    }

    /// Counts a given-up notification. Returns true when this is news: the
    /// integration had not given up yet, or gave up for another reason. Only news
    /// is logged above debug, so 10,000 groups failing the same way make one
    /// line, not 10,000 per tick.
    pub(crate) fn count_failure(
        &self,
        receiver: &str,
        integration: &str,
        e: &NotifyError,
        now: DateTime<Utc>,
    ) -> bool {
        let mut s = self.lock();
        *s.failed
            .entry((
                receiver.into(),
                integration.into(),
                e.reason.as_str().into(),
            ))
            .or_default() += 1;
        mark_failing(&mut s, receiver, integration, e, now, true)
    }

    /// Counts one failed attempt and shows the integration failing at once, long
    /// before its flush gives up (the status and the alarm path read `failing`).
    pub(crate) fn count_attempt_failure(
        &self,
        receiver: &str,
        integration: &str,
        e: &NotifyError,
        now: DateTime<Utc>,
    ) {
        let mut s = self.lock();
        *s.attempts_failed
            .entry((
                receiver.into(),
                integration.into(),
                e.reason.as_str().into(),
            ))
            .or_default() += 1;
        mark_failing(&mut s, receiver, integration, e, now, false);
    }

    /// Forgets the health of receivers a reload removed: a receiver that no longer
    /// exists is not failing (counters stay, as counters do).
    pub fn retain_receivers(&self, keep: &std::collections::HashSet<&str>) {
        let mut s = self.lock();
        s.failing.retain(|(r, _), _| keep.contains(r.as_str()));
        s.tripped.retain(|(r, _)| keep.contains(r.as_str()));
        s.last_success.retain(|(r, _), _| keep.contains(r.as_str()));
    }

    /// Whether the integration's last attempt or notification failed.
    pub fn is_failing(&self, receiver: &str, integration: &str) -> bool {
        let key = (receiver.to_string(), integration.to_string());
        let s = self.lock();
        s.tripped.contains(&key) || s.failing.contains_key(&key)
    }

    pub(crate) fn trip(&self, receiver: &str, integration: &str, failed: bool) {
        let key = (receiver.to_string(), integration.to_string());
        let mut s = self.lock();
        if failed {
            s.tripped.insert(key);
        } else {
            s.tripped.remove(&key);
        }
    }

    pub(crate) fn count_backlog(&self, receiver: &str, integration: &str) {
        *self
            .lock()
            .failed
            .entry((
                receiver.into(),
                integration.into(),
                Reason::Backlog.as_str().into(),
            ))
            .or_default() += 1;
    }

    /// Records a delivery of `alerts` alerts; returns the failure it ends, if any.
    pub(crate) fn delivered(
        &self,
        receiver: &str,
        integration: &str,
        alerts: usize,
        now: DateTime<Utc>,
    ) -> Option<Failure> {
        let key = (receiver.to_string(), integration.to_string());
        let mut s = self.lock();
        s.last_success
            .insert(key.clone(), Success { at: now, alerts });
        s.failing.remove(&key)
    }

    /// Counts a notification as in flight until the returned guard drops.
    pub(crate) fn begin(&self, receiver: &str, integration: &str) -> Sending<'_> {
        let key = (receiver.to_string(), integration.to_string());
        self.lock()
            .in_flight
            .entry(key.clone())
            .or_default()
            .pending += 1;
        Sending {
            stats: self,
            key,
            retrying: false,
        }
    }

    pub(crate) fn observe_request(&self, integration: &str, took: Duration, ok: bool) {
        let mut s = self.lock();
        *s.requests.entry(integration.into()).or_default() += 1;
        if !ok {
            *s.requests_failed.entry(integration.into()).or_default() += 1;
        }
        let l = s.latency.entry(integration.into()).or_default();
        let secs = took.as_secs_f64();
        for (b, bound) in l.buckets.iter_mut().zip(LATENCY_BUCKETS) {
            if secs <= bound {
                *b += 1;
            }
        }
        l.count += 1;
        l.sum_seconds += secs;
    }
}

/// One notification in flight (see [`PipelineStats::begin`]).
pub(crate) struct Sending<'a> {
    stats: &'a PipelineStats,
    key: (String, String),
    retrying: bool,
}

impl Sending<'_> {
    /// An attempt failed and another follows.
    pub(crate) fn retrying(&mut self) {
        if !self.retrying {
            self.retrying = true;
            if let Some(f) = self.stats.lock().in_flight.get_mut(&self.key) {
                f.retrying += 1;
            }
        }
    }
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        let mut s = self.stats.lock();
        if let Some(f) = s.in_flight.get_mut(&self.key) {
            f.pending = f.pending.saturating_sub(1);
            if self.retrying {
                f.retrying = f.retrying.saturating_sub(1);
            }
            if f.pending == 0 {
                s.in_flight.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        crate::clock::test_epoch() + chrono::TimeDelta::seconds(s)
    }

    #[test]
    fn a_removed_receiver_is_no_longer_failing() {
        let s = PipelineStats::default();
        let e = NotifyError {
            retryable: true,
            reason: Reason::ConnectionRefused,
            message: "refused".into(),
        };
        assert!(
            s.count_failure("old", "email", &e, t(0)),
            "news the first time"
        );
        assert!(!s.count_failure("old", "email", &e, t(1)), "not news again");
        s.count_failure("kept", "webhook", &e, t(0));
        s.retain_receivers(&["kept"].into_iter().collect());
        assert!(!s.is_failing("old", "email"));
        assert!(s.is_failing("kept", "webhook"));
        assert_eq!(s.snapshot().failed.len(), 2, "counters stay");
    }

    #[test]
    fn in_flight_and_last_success_are_kept_for_the_status_page() {
        let s = PipelineStats::default();
        let key = ("r".to_string(), "email".to_string());
        {
            let mut a = s.begin("r", "email");
            let _b = s.begin("r", "email");
            a.retrying();
            a.retrying();
            let f = s.snapshot().in_flight[&key];
            assert_eq!((f.pending, f.retrying), (2, 1));
        }
        assert!(s.snapshot().in_flight.is_empty(), "gone when the sends end");
        assert!(s.delivered("r", "email", 3, t(5)).is_none());
        assert_eq!(
            s.snapshot().last_success[&key],
            Success {
                at: t(5),
                alerts: 3
            }
        );
        s.retain_receivers(&std::collections::HashSet::new());
        assert!(s.snapshot().last_success.is_empty());
    }
}
