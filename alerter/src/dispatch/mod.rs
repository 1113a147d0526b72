//! Alertmanager's dispatcher (dispatch/dispatch.go): routes every alert the
//! provider accepts into aggregation groups, one per (route, group labels), and
//! runs each group's timer in its own tokio task:
//!
//! - a new group first flushes after `group_wait`, or at once when an alert that
//!   joins it before that first flush started more than `group_wait` ago;
//! - at each tick the timer is re-armed to `group_interval` *before* the flush, so
//!   ticks keep their grid whatever the sends cost;
//! - a flush hands a snapshot to the [`Pipeline`] with a deadline of
//!   `max(group_interval, 10s)`; after a successful one, resolved alerts not
//!   modified meanwhile are dropped and an empty group ends.
//!
//! [`Dispatcher::stop`] (reload, shutdown) stops the timers but, unlike
//! Alertmanager (#2146, #2417), lets a flush already running finish its sends.
//!
//! Construction, for the server (`c` is a [`crate::config::Compiled`]):
//! ```ignore
//! let pipeline = Pipeline::new(c.receivers.clone(), inhibitor, silences,
//!     c.intervals.clone(), nflog, external_url, clock);
//! let d = Arc::new(Dispatcher::new((*c.route).clone(), Arc::new(pipeline), clock));
//! alerts.set_listeners(vec![inhibitor_listener, d.clone()]);
//! // on reload: old.stop(); old.wait().await (optional); build the new one.
//! ```
//! Tests build [`Receivers`] by hand from `Arc<dyn Notifier>`s (see
//! [`Integration`]).

pub mod route;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::alert::Alert;
use crate::clock::Clock;
use crate::labels::{Fingerprint, LabelSet, format_labels};
use crate::notify::pipeline::{Flush, Pipeline, flush_timeout};
use crate::provider::Listener;
use crate::sync::lock;
use route::Route;

/// One aggregation group, as `/api/v2/alerts/groups` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupInfo {
    /// `{route key}:{group labels}`, e.g. `{}/{severity="critical"}:{alertname="X"}`.
    pub group_key: String,
    pub labels: LabelSet,
    pub receiver: String,
    pub route_id: String,
    /// The group's alerts, sorted.
    pub alerts: Vec<Fingerprint>,
}

/// The route settings a group runs with.
struct Opts {
    receiver: String,
    group_wait: Duration,
    group_interval: Duration,
    repeat_interval: Duration,
    mute_time_intervals: Vec<String>,
    active_time_intervals: Vec<String>,
    route_id: String,
}

impl Opts {
    fn of(route: &Route) -> Opts {
        Opts {
            receiver: route.receiver.clone(),
            group_wait: route.group_wait,
            group_interval: route.group_interval,
            repeat_interval: route.repeat_interval,
            mute_time_intervals: route.mute_time_intervals.clone(),
            active_time_intervals: route.active_time_intervals.clone(),
            route_id: route.id().to_string(),
        }
    }
}

struct Group {
    key: String,
    labels: LabelSet,
    /// Shared by every group of the route.
    opts: Arc<Opts>,
    state: Mutex<GroupState>,
    /// Wakes the first flush early: an old alert joined (see [`Dispatcher::insert`]).
    flush_now: tokio::sync::Notify,
}

#[derive(Default)]
struct GroupState {
    alerts: HashMap<Fingerprint, Arc<Alert>>,
    /// Emptied by a successful flush: no more inserts, the task ends.
    destroyed: bool,
    /// The first tick has come (Alertmanager's `hasFlushed`).
    flushed: bool,
}

struct Inner {
    route: Route,
    /// Each route's settings by route index, shared by its groups.
    opts: HashMap<usize, Arc<Opts>>,
    pipeline: Arc<Pipeline>,
    clock: Clock,
    runtime: tokio::runtime::Handle,
    groups: Mutex<HashMap<(usize, Fingerprint), Arc<Group>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    stopped: AtomicBool,
    stop_tx: watch::Sender<bool>,
}

pub struct Dispatcher {
    inner: Arc<Inner>,
}

impl Dispatcher {
    /// A running dispatcher over `route`. Must be called inside a tokio runtime
    /// (group tasks are spawned on it).
    pub fn new(route: Route, pipeline: Arc<Pipeline>, clock: Clock) -> Dispatcher {
        let (stop_tx, _) = watch::channel(false);
        Dispatcher {
            inner: Arc::new(Inner {
                opts: {
                    let mut m = HashMap::new();
                    route.walk(&mut |r| {
                        m.insert(r.idx(), Arc::new(Opts::of(r)));
                    });
                    m
                },
                route,
                pipeline,
                clock,
                runtime: tokio::runtime::Handle::current(),
                groups: Mutex::new(HashMap::new()),
                tasks: Mutex::new(Vec::new()),
                stopped: AtomicBool::new(false),
                stop_tx,
            }),
        }
    }

    pub fn route(&self) -> &Route {
        &self.inner.route
    }

    pub fn pipeline(&self) -> &Arc<Pipeline> {
        &self.inner.pipeline
    }

    /// Every group with its alerts, sorted by group key.
    pub fn groups(&self) -> Vec<GroupInfo> {
        let groups: Vec<Arc<Group>> = lock(&self.inner.groups).values().cloned().collect();
        let mut out: Vec<GroupInfo> = groups
            .iter()
            .filter_map(|g| {
                let st = lock(&g.state);
                if st.destroyed {
                    return None;
                }
                let mut alerts: Vec<Fingerprint> = st.alerts.keys().copied().collect();
                alerts.sort();
                Some(GroupInfo {
                    group_key: g.key.clone(),
                    labels: g.labels.clone(),
                    receiver: g.opts.receiver.clone(),
                    route_id: g.opts.route_id.clone(),
                    alerts,
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.group_key, &a.receiver).cmp(&(&b.group_key, &b.receiver)));
        out
    }

    /// Stops every group's timer and ignores alerts from now on. A flush already
    /// running completes (its sends keep their deadline); see [`Dispatcher::wait`].
    pub fn stop(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        self.inner.stop_tx.send_replace(true);
    }

    /// Waits until every group task has ended (after [`Dispatcher::stop`]: until
    /// the flushes in flight are done).
    pub async fn wait(&self) {
        let tasks: Vec<JoinHandle<()>> = std::mem::take(&mut *lock(&self.inner.tasks));
        for t in tasks {
            t.await.ok();
        }
    }

    fn insert(&self, alert: &Arc<Alert>, route: &Route) {
        let inner = &self.inner;
        let id = (route.idx(), route.group_fingerprint(&alert.labels));
        let mut groups = lock(&inner.groups);
        let now = inner.clock.now();
        let old = |wait: Duration| {
            chrono::Duration::from_std(wait).is_ok_and(|gw| alert.starts_at + gw < now)
        };
        if let Some(g) = groups.get(&id) {
            let mut st = lock(&g.state);
            if !st.destroyed {
                st.alerts.insert(alert.fingerprint(), alert.clone());
                // Any alert, not only the first, that is older than group_wait
                // flushes a group not yet flushed (dispatch.go aggrGroup.insert).
                if !st.flushed && old(g.opts.group_wait) {
                    g.flush_now.notify_one();
                }
                return;
            }
        }
        let labels = route.group_labels(&alert.labels);
        let group = Arc::new(Group {
            key: format!("{}:{}", route.key(), format_labels(&labels)),
            labels,
            opts: inner
                .opts
                .get(&route.idx())
                .cloned()
                .unwrap_or_else(|| Arc::new(Opts::of(route))),
            state: Mutex::new(GroupState::default()),
            flush_now: tokio::sync::Notify::new(),
        });
        lock(&group.state)
            .alerts
            .insert(alert.fingerprint(), alert.clone());
        groups.insert(id, group.clone());
        drop(groups);
        // An alert older than group_wait flushes its new group at once (dispatch.go
        // groupAlert: "old enough for immediate flush").
        let wait_for = group.opts.group_wait;
        let first = if old(wait_for) {
            Instant::now()
        } else {
            Instant::now() + wait_for
        };
        let task = inner.runtime.spawn(run(
            inner.clone(),
            id,
            group,
            first,
            inner.stop_tx.subscribe(),
        ));
        let mut tasks = lock(&inner.tasks);
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }
}

impl Listener for Dispatcher {
    fn on_alert(&self, alert: &Arc<Alert>) {
        if self.inner.stopped.load(Ordering::SeqCst) {
            return;
        }
        for r in self.inner.route.matches(&alert.labels) {
            self.insert(alert, r);
        }
    }
}

/// A group's timer loop (aggrGroup.run).
async fn run(
    inner: Arc<Inner>,
    id: (usize, Fingerprint),
    group: Arc<Group>,
    first: Instant,
    mut stop: watch::Receiver<bool>,
) {
    let mut next = first;
    let mut flushed = false;
    loop {
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return,
            () = tokio::time::sleep_until(next) => {}
            () = group.flush_now.notified(), if !flushed => {
                next = Instant::now();
            }
        }
        if !flushed {
            flushed = true;
            lock(&group.state).flushed = true;
        }
        // The tick's own time, like the timer value Alertmanager reads; later than
        // `next` only when the previous flush overran.
        let late = Instant::now().saturating_duration_since(next);
        let tick = inner.clock.now() - chrono::Duration::from_std(late).unwrap_or_default();
        // Re-armed before the flush, so the grid does not drift with slow sends.
        next = Instant::now() + group.opts.group_interval;
        // Boxed: an idle group's task stays small; the flush's state exists only
        // while it runs (10,000 groups are 10,000 tasks).
        Box::pin(flush(&inner, &group, tick)).await;
        if lock(&group.state).destroyed {
            let mut groups = lock(&inner.groups);
            if groups.get(&id).is_some_and(|g| Arc::ptr_eq(g, &group)) {
                groups.remove(&id);
            }
            return;
        }
    }
}

async fn flush(inner: &Inner, group: &Group, tick: chrono::DateTime<chrono::Utc>) {
    let mut snapshot: Vec<Arc<Alert>> = {
        let st = lock(&group.state);
        if st.alerts.is_empty() {
            return;
        }
        st.alerts.values().cloned().collect()
    };
    snapshot.sort_by(|a, b| alert_order(a, b));
    let f = Flush {
        group_key: &group.key,
        group_labels: &group.labels,
        receiver: &group.opts.receiver,
        repeat_interval: group.opts.repeat_interval,
        mute_time_intervals: &group.opts.mute_time_intervals,
        active_time_intervals: &group.opts.active_time_intervals,
        now: tick,
        deadline: Instant::now() + flush_timeout(group.opts.group_interval),
    };
    match inner.pipeline.exec(&f, snapshot.clone()).await {
        Ok(_) => {
            // DeleteIfNotModified: a resolved alert that fired again (or was
            // updated) during the flush stays.
            let mut st = lock(&group.state);
            for a in snapshot.iter().filter(|a| a.resolved_at(tick)) {
                let fp = a.fingerprint();
                if st.alerts.get(&fp).is_some_and(|cur| Arc::ptr_eq(cur, a)) {
                    st.alerts.remove(&fp);
                }
            }
            if st.alerts.is_empty() {
                st.destroyed = true;
            }
        }
        Err(e) => {
            tracing::error!(group = %group.key, alerts = snapshot.len(), "notify for alerts failed: {e}");
        }
    }
}

/// Alertmanager's AlertSlice order: by `job`, then `instance` (alerts that have
/// the label first), then by the whole label set.
fn alert_order(a: &Alert, b: &Alert) -> std::cmp::Ordering {
    for key in ["job", "instance"] {
        match (a.labels.get(key), b.labels.get(key)) {
            (None, None) => {}
            (None, Some(_)) => return std::cmp::Ordering::Greater,
            (Some(_), None) => return std::cmp::Ordering::Less,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    a.labels.cmp(&b.labels)
}
