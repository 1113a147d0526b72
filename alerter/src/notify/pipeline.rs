//! What happens to one aggregation group's flush for its receiver: Alertmanager's
//! fixed stage chain (notify.go `createReceiverStage`). Inhibition mute, active and
//! mute time intervals, silence mute, then for every integration concurrently:
//! dedup against the notification log (`needsUpdate`, dedup_stage.go), send with
//! retries until the flush deadline, and record the success in the log. The chain
//! stops as soon as a stage leaves no alerts. Reports every attempt to the
//! delivery statistics ([`PipelineStats`], in `notify/stats.rs`; re-exported here).
//!
//! A failing integration costs one future inside its group's task, retried with a
//! capped backoff until the tick's deadline and then dropped: nothing queues up per
//! retry or per tick (Alertmanager #5018).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::nflog::{self, Nflog};
pub use super::stats::{Failure, LATENCY_BUCKETS, Latency, PipelineStats, StatsSnapshot};
use super::{AlertData, Data, Notification, Notifier, NotifyError, Reason, Status, zero_time};
use crate::alert::Alert;
use crate::clock::Clock;
use crate::labels::LabelSet;
use crate::mute::Muter;
use crate::timeinterval::Intervals;

/// Every flush may take this long at least (notify.MinTimeout).
pub const MIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The retry backoff: cenkalti/backoff defaults without the jitter.
const BACKOFF_INITIAL: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// How long one flush's sends may take: `max(group_interval, 10s)`.
pub fn flush_timeout(group_interval: Duration) -> Duration {
    group_interval.max(MIN_TIMEOUT)
}

/// One configured integration of a receiver.
#[derive(Clone)]
pub struct Integration {
    pub notifier: Arc<dyn Notifier>,
    pub send_resolved: bool,
    /// Position among the receiver's configs of the same kind (the nflog key).
    pub index: usize,
}

/// A receiver's integrations by receiver name.
pub type Receivers = HashMap<String, Vec<Integration>>;

/// What the dispatcher hands over with each flush (Alertmanager puts it in the
/// context).
#[derive(Clone, Debug)]
pub struct Flush<'a> {
    pub group_key: &'a str,
    pub group_labels: &'a LabelSet,
    pub receiver: &'a str,
    pub repeat_interval: Duration,
    pub mute_time_intervals: &'a [String],
    pub active_time_intervals: &'a [String],
    /// The tick's wall time: dedup and time intervals judge by it.
    pub now: DateTime<Utc>,
    /// When the sends are given up (tick + [`flush_timeout`]).
    pub deadline: Instant,
}

/// Why the chain stopped, when it did not fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Something was delivered by at least one integration.
    Sent,
    /// Nothing to send (all muted, or dedup found nothing new).
    Nothing,
}

pub struct Pipeline {
    receivers: Receivers,
    inhibitor: Arc<dyn Muter>,
    silences: Arc<dyn Muter>,
    intervals: Intervals,
    nflog: Arc<Nflog>,
    external_url: String,
    clock: Clock,
    stats: Arc<PipelineStats>,
    /// Per integration (by receiver, name, index): sends in flight at once.
    slots: HashMap<(String, &'static str, usize), Arc<tokio::sync::Semaphore>>,
}

/// Sends one integration runs at once, retries included. Thousands of groups
/// failing against one receiver then hold a few connections and a few
/// notifications in memory, the others wait small (Alertmanager #5018: 2.6 GiB).
pub const MAX_IN_FLIGHT: usize = 32;

impl Pipeline {
    pub fn new(
        receivers: Receivers,
        inhibitor: Arc<dyn Muter>,
        silences: Arc<dyn Muter>,
        intervals: Intervals,
        nflog: Arc<Nflog>,
        external_url: String,
        clock: Clock,
    ) -> Pipeline {
        let slots = receivers
            .iter()
            .flat_map(|(r, list)| {
                list.iter().map(move |i| {
                    (
                        (r.clone(), i.notifier.integration(), i.index),
                        Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)),
                    )
                })
            })
            .collect();
        Pipeline {
            slots,
            receivers,
            inhibitor,
            silences,
            intervals,
            nflog,
            external_url,
            clock,
            stats: Arc::new(PipelineStats::default()),
        }
    }

    /// Counts into `stats` instead of a private set: the server keeps one for the
    /// process lifetime, so counters and receiver health survive reloads.
    #[must_use]
    pub fn with_stats(mut self, stats: Arc<PipelineStats>) -> Pipeline {
        self.stats = stats;
        self
    }

    pub fn stats(&self) -> Arc<PipelineStats> {
        self.stats.clone()
    }

    pub fn nflog(&self) -> &Arc<Nflog> {
        &self.nflog
    }

    /// Runs the chain for one flush. `alerts` is the group's snapshot: firing
    /// alerts with `ends_at` as given, resolved ones resolved at `f.now`. An error
    /// means some integration did not deliver; the group then keeps its resolved
    /// alerts for the next tick.
    pub async fn exec(&self, f: &Flush<'_>, alerts: Vec<Arc<Alert>>) -> Result<Outcome, String> {
        let now = f.now;
        // MuteStage(inhibitor).
        let alerts: Vec<Arc<Alert>> = alerts
            .into_iter()
            .filter(|a| !self.inhibitor.mutes(&a.labels, now))
            .collect();
        if alerts.is_empty() {
            return Ok(Outcome::Nothing);
        }
        // TimeActiveStage, then TimeMuteStage: all or nothing for the whole group.
        if !f.active_time_intervals.is_empty()
            && self
                .intervals
                .matching(f.active_time_intervals, now)?
                .is_empty()
        {
            return Ok(Outcome::Nothing);
        }
        if !f.mute_time_intervals.is_empty()
            && !self
                .intervals
                .matching(f.mute_time_intervals, now)?
                .is_empty()
        {
            return Ok(Outcome::Nothing);
        }
        // MuteStage(silencer).
        let alerts: Vec<Arc<Alert>> = alerts
            .into_iter()
            .filter(|a| !self.silences.mutes(&a.labels, now))
            .collect();
        if alerts.is_empty() {
            return Ok(Outcome::Nothing);
        }
        let Some(integrations) = self.receivers.get(f.receiver) else {
            return Err(format!(
                "receiver {:?} has no integrations configured",
                f.receiver
            ));
        };
        let results =
            futures::future::join_all(integrations.iter().map(|i| self.integration(f, i, &alerts)))
                .await;
        let mut sent = false;
        let mut errs = Vec::new();
        for r in results {
            match r {
                Ok(s) => sent |= s,
                Err(e) => errs.push(e),
            }
        }
        if errs.is_empty() {
            Ok(if sent {
                Outcome::Sent
            } else {
                Outcome::Nothing
            })
        } else {
            Err(errs.join("; "))
        }
    }

    /// DedupStage, RetryStage, SetNotifiesStage for one integration. `Ok(true)`:
    /// something was sent.
    async fn integration(
        &self,
        f: &Flush<'_>,
        integ: &Integration,
        alerts: &[Arc<Alert>],
    ) -> Result<bool, String> {
        let name = integ.notifier.integration();
        let key = nflog::Key {
            group_key: f.group_key.to_string(),
            receiver: f.receiver.to_string(),
            integration: name.to_string(),
            index: integ.index,
        };
        let mut firing = BTreeSet::new();
        let mut resolved = BTreeSet::new();
        for a in alerts {
            if a.resolved_at(f.now) {
                resolved.insert(nflog::hash(&a.labels));
            } else {
                firing.insert(nflog::hash(&a.labels));
            }
        }
        let entry = self.nflog.query(&key, f.now);
        let Some(reason) = needs_update(
            entry.as_ref(),
            &firing,
            &resolved,
            integ.send_resolved,
            f.repeat_interval,
            f.now,
        ) else {
            return Ok(false);
        };
        tracing::debug!(
            group = f.group_key,
            receiver = f.receiver,
            integration = name,
            reason = reason.as_str(),
            "notifying"
        );

        // RetryStage: without send_resolved only firing alerts go out, and a flush
        // with none counts as delivered without a send (the log still records it).
        let sent: Vec<&Alert> = if integ.send_resolved {
            alerts.iter().map(|a| &**a).collect()
        } else {
            alerts
                .iter()
                .map(|a| &**a)
                .filter(|a| !a.resolved_at(f.now))
                .collect()
        };
        let delivered = if sent.is_empty() {
            false
        } else {
            // Wait for a slot before building the notification: waiting is cheap.
            let slot = self
                .slots
                .get(&(f.receiver.to_string(), name, integ.index))
                .cloned();
            // While the integration is failing, a group that finds every slot taken
            // gives up at once and tries next tick, holding nothing meanwhile; a
            // healthy one waits for a slot until the deadline.
            let failing = self.stats.is_failing(f.receiver, name);
            let _permit = match slot {
                None => None,
                Some(sem) => match if failing {
                    sem.try_acquire_owned().ok()
                } else {
                    self.wait_for_slot(f, name, sem).await
                } {
                    Some(p) => Some(p),
                    None => {
                        let e = NotifyError {
                            retryable: true,
                            reason: Reason::Backlog,
                            message: format!(
                                "all {MAX_IN_FLIGHT} send slots of this integration were busy (until the flush deadline, or at once while it is failing)"
                            ),
                        };
                        // Counted, but not the integration's health: its own
                        // failure (if any) is what the senders in flight report.
                        self.stats.count_notification(name);
                        self.stats.count_backlog(f.receiver, name);
                        tracing::debug!(receiver = f.receiver, integration = name, "{e}");
                        return Err(format!("{}/{name}: {e}", f.receiver));
                    }
                },
            };
            let n = Notification {
                group_key: f.group_key.to_string(),
                data: self.data(f, &sent),
            };
            self.retry(f, integ, &n).await?;
            true
        };
        // SetNotifiesStage: the timestamp is taken after the send.
        match self
            .nflog
            .log(&key, firing, resolved, self.clock.now(), f.repeat_interval)
        {
            // What a crash after this line cannot make us send again.
            Ok(_) => tracing::debug!(
                group = f.group_key,
                receiver = f.receiver,
                integration = name,
                "recorded in the notification log"
            ),
            Err(e) => tracing::warn!(integration = name, "notification log: {e}"),
        }
        Ok(delivered)
    }

    async fn retry(
        &self,
        f: &Flush<'_>,
        integ: &Integration,
        n: &Notification,
    ) -> Result<(), String> {
        let name = integ.notifier.integration();
        let mut backoff = BACKOFF_INITIAL;
        let mut attempts = 0u32;
        let mut last: Option<NotifyError> = None;
        self.stats.count_notification(name);
        let mut sending = self.stats.begin(f.receiver, name);
        loop {
            if Instant::now() >= f.deadline {
                break;
            }
            attempts += 1;
            let started = Instant::now();
            let r = tokio::time::timeout_at(f.deadline, integ.notifier.notify(n)).await;
            let ok = r.as_ref().is_ok_and(Result::is_ok);
            self.stats.observe_request(name, started.elapsed(), ok);
            self.stats.trip(f.receiver, name, !ok);
            match r {
                Ok(Ok(())) => {
                    let alerts = n.data.alerts.len();
                    if let Some(was) =
                        self.stats
                            .delivered(f.receiver, name, alerts, self.clock.now())
                    {
                        tracing::info!(
                            receiver = f.receiver,
                            integration = name,
                            "notifications delivered again (failing since {}, last reason {})",
                            was.since,
                            was.reason
                        );
                    }
                    if attempts > 1 {
                        tracing::info!(
                            receiver = f.receiver,
                            integration = name,
                            attempts,
                            "notify success after retries"
                        );
                    }
                    return Ok(());
                }
                Ok(Err(e)) if !e.retryable => {
                    self.stats
                        .count_attempt_failure(f.receiver, name, &e, self.clock.now());
                    self.failed(f, name, &e, "not retrying");
                    tracing::debug!(
                        receiver = f.receiver,
                        integration = name,
                        group = f.group_key,
                        attempts,
                        reason = e.reason.as_str(),
                        "notify failed, not retrying: {}",
                        e.message
                    );
                    return Err(format!(
                        "{}/{name}: notify retry canceled due to unrecoverable error after {attempts} attempts: {e}",
                        f.receiver
                    ));
                }
                Ok(Err(e)) => {
                    // The first failure is visible at once in the log, the metric
                    // and the status (Alertmanager warns per attempt); a repeat of
                    // the same error in this flush stays quiet in the log.
                    self.stats
                        .count_attempt_failure(f.receiver, name, &e, self.clock.now());
                    if last.as_ref().is_none_or(|l| l.message != e.message) {
                        tracing::warn!(
                            receiver = f.receiver,
                            integration = name,
                            group = f.group_key,
                            attempts,
                            reason = e.reason.as_str(),
                            "notify attempt failed, will retry: {}",
                            e.message
                        );
                    }
                    last = Some(e);
                }
                Err(_elapsed) => {
                    last.get_or_insert(NotifyError {
                        retryable: true,
                        reason: Reason::Timeout,
                        message: "no answer within the flush deadline".into(),
                    });
                    break;
                }
            }
            sending.retrying();
            let wake = Instant::now() + backoff;
            if wake >= f.deadline {
                break;
            }
            tokio::time::sleep_until(wake).await;
            backoff = (backoff.mul_f64(1.5)).min(BACKOFF_MAX);
        }
        let e = last.unwrap_or(NotifyError {
            retryable: true,
            reason: Reason::Timeout,
            message: "flush deadline passed before the first attempt".into(),
        });
        self.failed(f, name, &e, "retrying every tick");
        Err(format!(
            "{}/{name}: notify retry canceled after {attempts} attempts: {e}",
            f.receiver
        ))
    }

    /// Waits for a send slot until the deadline, but stands back as soon as the
    /// integration starts failing (checked every 250 ms).
    async fn wait_for_slot(
        &self,
        f: &Flush<'_>,
        name: &str,
        sem: Arc<tokio::sync::Semaphore>,
    ) -> Option<tokio::sync::OwnedSemaphorePermit> {
        loop {
            let until = f.deadline.min(Instant::now() + Duration::from_millis(250));
            match tokio::time::timeout_at(until, sem.clone().acquire_owned()).await {
                Ok(r) => return r.ok(),
                Err(_) if Instant::now() >= f.deadline => return None,
                Err(_) if self.stats.is_failing(f.receiver, name) => return None,
                Err(_) => {}
            }
        }
    }

    /// Counts a given-up notification; logs it when it is news (see
    /// [`PipelineStats::count_failure`]).
    fn failed(&self, f: &Flush<'_>, name: &str, e: &NotifyError, then: &str) {
        if self
            .stats
            .count_failure(f.receiver, name, e, self.clock.now())
        {
            tracing::error!(
                receiver = f.receiver,
                integration = name,
                reason = e.reason.as_str(),
                "notifications FAILING, {then} (logged once until it recovers or the reason changes): {}",
                e.message
            );
        }
    }

    /// Alertmanager's template data over the alerts being sent.
    fn data(&self, f: &Flush<'_>, alerts: &[&Alert]) -> Data {
        let mut out = Vec::with_capacity(alerts.len());
        let mut status = Status::Resolved;
        for a in alerts {
            let st = if a.resolved_at(f.now) {
                Status::Resolved
            } else {
                status = Status::Firing;
                Status::Firing
            };
            out.push(AlertData {
                status: st,
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
                starts_at: a.starts_at,
                // A firing alert's end is not known yet (dispatch.go zeroes it).
                ends_at: if st == Status::Firing {
                    zero_time()
                } else {
                    a.ends_at
                },
                generator_url: a.generator_url.clone(),
                fingerprint: a.fingerprint().to_string(),
            });
        }
        Data {
            receiver: f.receiver.to_string(),
            status,
            common_labels: common(alerts.iter().map(|a| &a.labels)),
            common_annotations: common(alerts.iter().map(|a| &a.annotations)),
            alerts: out,
            group_labels: f.group_labels.clone(),
            external_url: self.external_url.clone(),
        }
    }
}

/// The pairs every set has with the same value.
fn common<'a>(mut sets: impl Iterator<Item = &'a LabelSet>) -> LabelSet {
    let Some(first) = sets.next() else {
        return LabelSet::new();
    };
    let mut c = first.clone();
    for s in sets {
        c.retain(|k, v| s.get(k) == Some(v));
    }
    c
}

/// Why a flush is sent (dedup_stage.go `NotifyReason`); not to be confused with
/// [`Reason`], why a delivery failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyReason {
    FirstNotification,
    NewAlertsInGroup,
    AllAlertsResolved,
    NewResolvedAlerts,
    RepeatIntervalElapsed,
}

impl NotifyReason {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyReason::FirstNotification => "first notification",
            NotifyReason::NewAlertsInGroup => "new alerts",
            NotifyReason::AllAlertsResolved => "all alerts resolved",
            NotifyReason::NewResolvedAlerts => "some alerts resolved",
            NotifyReason::RepeatIntervalElapsed => "repeat interval elapsed",
        }
    }
}

/// Alertmanager's `DedupStage.needsUpdate`, rows 1–8 of the spec's table in order.
/// `None`: do not notify.
pub fn needs_update(
    entry: Option<&nflog::Entry>,
    firing: &BTreeSet<u64>,
    resolved: &BTreeSet<u64>,
    send_resolved: bool,
    repeat: Duration,
    now: DateTime<Utc>,
) -> Option<NotifyReason> {
    let Some(entry) = entry else {
        // Rows 1, 2.
        return (!firing.is_empty()).then_some(NotifyReason::FirstNotification);
    };
    // Row 3.
    if !entry.is_firing_subset(firing) {
        return Some(if entry.firing.is_empty() {
            NotifyReason::FirstNotification
        } else {
            NotifyReason::NewAlertsInGroup
        });
    }
    // Rows 4, 5: regardless of send_resolved, so the log's firing set is cleared.
    if firing.is_empty() {
        return (!entry.firing.is_empty()).then_some(NotifyReason::AllAlertsResolved);
    }
    // Row 6.
    if send_resolved && !entry.is_resolved_subset(resolved) {
        return Some(NotifyReason::NewResolvedAlerts);
    }
    // Rows 7, 8.
    // An interval past the calendar's range never comes due (and must not overflow).
    let due = chrono::Duration::from_std(repeat)
        .ok()
        .and_then(|r| now.checked_sub_signed(r));
    due.is_some_and(|due| entry.timestamp < due)
        .then_some(NotifyReason::RepeatIntervalElapsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        crate::clock::test_epoch() + chrono::TimeDelta::seconds(s)
    }

    fn entry(firing: &[u64], resolved: &[u64], ts: i64) -> nflog::Entry {
        let nf = Nflog::in_memory(Duration::from_secs(1_000_000));
        let k = nflog::Key {
            group_key: "g".into(),
            receiver: "r".into(),
            integration: "webhook".into(),
            index: 0,
        };
        nf.log(
            &k,
            firing.iter().copied().collect(),
            resolved.iter().copied().collect(),
            t(ts),
            Duration::from_secs(100_000),
        )
        .unwrap();
        nf.query(&k, t(ts)).unwrap()
    }

    fn s(v: &[u64]) -> BTreeSet<u64> {
        v.iter().copied().collect()
    }

    /// The spec's §6 table, row by row.
    #[test]
    fn needs_update_table() {
        let rep = Duration::from_secs(60);
        let nu = |e: Option<&nflog::Entry>, f: &[u64], r: &[u64], sr: bool, now: i64| {
            needs_update(e, &s(f), &s(r), sr, rep, t(now))
        };
        // 1, 2.
        assert_eq!(
            nu(None, &[1], &[], true, 0),
            Some(NotifyReason::FirstNotification)
        );
        assert_eq!(nu(None, &[], &[1], true, 0), None);
        // 3: a new firing alert; after an all-resolved entry it is a first notification.
        let e = entry(&[1], &[], 0);
        assert_eq!(
            nu(Some(&e), &[1, 2], &[], true, 1),
            Some(NotifyReason::NewAlertsInGroup)
        );
        let cleared = entry(&[], &[1], 0);
        assert_eq!(
            nu(Some(&cleared), &[2], &[], true, 1),
            Some(NotifyReason::FirstNotification)
        );
        // 4: all resolved, also without send_resolved.
        assert_eq!(
            nu(Some(&e), &[], &[1], false, 1),
            Some(NotifyReason::AllAlertsResolved)
        );
        assert_eq!(
            nu(Some(&e), &[], &[], false, 1),
            Some(NotifyReason::AllAlertsResolved)
        );
        // 5.
        assert_eq!(nu(Some(&cleared), &[], &[1], true, 1), None);
        // 6: only with send_resolved.
        let e2 = entry(&[1, 2], &[], 0);
        assert_eq!(
            nu(Some(&e2), &[1], &[2], true, 1),
            Some(NotifyReason::NewResolvedAlerts)
        );
        assert_eq!(nu(Some(&e2), &[1], &[2], false, 1), None);
        // A shrinking firing set alone triggers nothing.
        assert_eq!(nu(Some(&e2), &[1], &[], true, 1), None);
        // 7, 8: strictly older than now - repeat.
        assert_eq!(nu(Some(&e), &[1], &[], true, 60), None);
        assert_eq!(
            nu(Some(&e), &[1], &[], true, 61),
            Some(NotifyReason::RepeatIntervalElapsed)
        );
        // An interval beyond the calendar never comes due, and does not panic.
        let long = |rep: Duration| needs_update(Some(&e), &s(&[1]), &s(&[]), true, rep, t(61));
        assert_eq!(long(Duration::from_secs(300 * 365 * 86_400)), None);
        assert_eq!(long(Duration::MAX), None);
    }

    #[test]
    fn common_labels() {
        let a: LabelSet = [("a".into(), "1".into()), ("b".into(), "2".into())].into();
        let b: LabelSet = [("a".into(), "1".into()), ("b".into(), "3".into())].into();
        assert_eq!(
            common([&a, &b].into_iter()),
            [("a".into(), "1".into())].into()
        );
        assert_eq!(zero_time().to_rfc3339(), "0001-01-01T00:00:00+00:00");
    }
}
