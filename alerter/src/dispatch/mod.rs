//! Alertmanager's dispatcher (dispatch/dispatch.go): routes every alert the
//! provider accepts into aggregation groups, one per (route, group labels), and
//! runs each group's timer in its own tokio task:
//!
//! - a new group first flushes after `group_wait`, or at once when the alert that
//!   created it started more than `group_wait` ago;
//! - at each tick the timer is re-armed to `group_interval` *before* the flush, so
//!   ticks keep their grid whatever the sends cost;
//! - a flush hands a snapshot to the [`Pipeline`] with a deadline of
//!   `max(group_interval, 10s)`; after a successful one, resolved alerts not
//!   modified meanwhile are dropped and an empty group ends.
//!
//! [`Dispatcher::stop`] (reload, shutdown) stops the timers but, unlike
//! Alertmanager (#2146, #2417), lets a flush already running finish its sends.
//!
//! Construction, for the server:
//! ```ignore
//! let (receivers, warnings) = dispatch::build_receivers(&cfg, &|k| std::env::var(k).ok(), &templates);
//! let pipeline = Pipeline::new(receivers, inhibitor, silences,
//!     Intervals::from_config(&cfg)?, nflog, external_url, clock);
//! let d = Arc::new(Dispatcher::new(Route::from_config(&cfg)?, Arc::new(pipeline), clock));
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
use crate::config::Config;
use crate::labels::{Fingerprint, LabelSet, format_labels};
use crate::notify::Notifier;
use crate::notify::email::{self, EmailNotifier};
use crate::notify::pipeline::{Flush, Integration, Pipeline, Receivers, flush_timeout};
use crate::notify::template::Templates;
use crate::notify::webhook::WebhookNotifier;
use crate::provider::Listener;
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
}

#[derive(Default)]
struct GroupState {
    alerts: HashMap<Fingerprint, Arc<Alert>>,
    /// Emptied by a successful flush: no more inserts, the task ends.
    destroyed: bool,
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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
        if let Some(g) = groups.get(&id) {
            let mut st = lock(&g.state);
            if !st.destroyed {
                st.alerts.insert(alert.fingerprint(), alert.clone());
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
        });
        lock(&group.state)
            .alerts
            .insert(alert.fingerprint(), alert.clone());
        groups.insert(id, group.clone());
        drop(groups);
        // An alert older than group_wait flushes its new group at once (dispatch.go
        // groupAlert: "old enough for immediate flush").
        let wait_for = group.opts.group_wait;
        let gw = chrono::Duration::from_std(wait_for).unwrap_or(chrono::TimeDelta::MAX / 2);
        let first = if alert.starts_at + gw < inner.clock.now() {
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
    loop {
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return,
            () = tokio::time::sleep_until(next) => {}
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

/// The integrations of every receiver in `cfg`: webhooks and emails, each with its
/// `send_resolved` (webhook default true, email default false, as Alertmanager).
/// `env` resolves secrets from variables; `templates` are the config's
/// `templates:` files. An integration whose settings do not resolve (a password
/// file that is missing, say) does not stop the config from loading: it becomes an
/// [`Unusable`] one that fails every delivery with the reason, and the reason is
/// returned as a warning, so it is loud in logs, metrics and status instead of
/// taking the whole alerter down.
pub fn build_receivers(
    cfg: &Config,
    env: &dyn Fn(&str) -> Option<String>,
    templates: &Templates,
) -> (Receivers, Vec<String>) {
    let mut out = Receivers::new();
    let mut warnings = Vec::new();
    let globals = cfg.global.smtp();
    let mut unusable = |integration: &'static str, reason: String, index: usize| {
        warnings.push(reason.clone());
        Integration {
            notifier: Arc::new(Unusable {
                integration,
                reason,
            }) as Arc<dyn Notifier>,
            send_resolved: true,
            index,
        }
    };
    let mut notes = Vec::new();
    for r in &cfg.receivers {
        let mut list = Vec::new();
        for (i, w) in r.webhook_configs.iter().enumerate() {
            match WebhookNotifier::from_config(w) {
                Ok(n) => list.push(Integration {
                    notifier: Arc::new(n) as Arc<dyn Notifier>,
                    send_resolved: w.send_resolved.unwrap_or(true),
                    index: i,
                }),
                Err(e) => list.push(unusable(
                    "webhook",
                    format!(
                        "receivers[{:?}].webhook_configs[{i}] cannot send: {e}",
                        r.name
                    ),
                    i,
                )),
            }
        }
        for (i, e) in r.email_configs.iter().enumerate() {
            match email::resolve_with(e, &globals, env, templates) {
                Ok((resolved, warns)) => {
                    notes.extend(
                        warns
                            .into_iter()
                            .map(|w| format!("receivers[{:?}].email_configs[{i}]: {w}", r.name)),
                    );
                    list.push(Integration {
                        send_resolved: resolved.send_resolved,
                        notifier: Arc::new(EmailNotifier::new(resolved)) as Arc<dyn Notifier>,
                        index: i,
                    });
                }
                Err(es) => list.push(unusable(
                    "email",
                    format!(
                        "receivers[{:?}].email_configs[{i}] cannot send: {}",
                        r.name,
                        es.join("; ")
                    ),
                    i,
                )),
            }
        }
        out.insert(r.name.clone(), list);
    }
    warnings.extend(notes);
    (out, warnings)
}

/// An integration whose settings do not resolve: every delivery fails with the
/// reason (not retryable: retrying cannot make a missing file appear mid-flush).
pub struct Unusable {
    pub integration: &'static str,
    pub reason: String,
}

impl Notifier for Unusable {
    fn integration(&self) -> &'static str {
        self.integration
    }

    fn notify<'a>(
        &'a self,
        _: &'a crate::notify::Notification,
    ) -> futures::future::BoxFuture<'a, Result<(), crate::notify::NotifyError>> {
        Box::pin(async move {
            Err(crate::notify::NotifyError {
                retryable: false,
                reason: crate::notify::Reason::Config,
                message: self.reason.clone(),
            })
        })
    }
}
