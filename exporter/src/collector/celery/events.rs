//! Celery's event stream (`PSUBSCRIBE {global_keyprefix}/{db}.celeryev/*`): worker
//! liveness from heartbeats and task counters under celery-exporter's names.
//!
//! Owns all event-derived state, and bounds every part of it, so memory stays flat however
//! many events, tasks, names or hosts arrive:
//! - label values: at most [`MAX_NAMES`] task names, [`MAX_HOSTS`] hostnames,
//!   [`MAX_QUEUE_NAMES`] queue names and [`MAX_EXCEPTIONS`] exception types; later ones
//!   are counted under the value `other`;
//! - series: at most [`MAX_SERIES`] label combinations per counter family; later ones are
//!   counted in one overflow series whose labels are all `other`;
//! - tasks: at most [`MAX_TASKS`] unfinished task ids remembered, to join a task's name and
//!   queue (known from `task-sent`/`task-received`) with its later events; the oldest is
//!   forgotten first;
//! - workers: one not heard from for `celery.purge_offline_workers_after` (default
//!   [`PURGE_OFFLINE_WORKERS_AFTER`]) is forgotten with every series of its hostname, which
//!   is freed for a new one under the cap, so workers that come and go under new names
//!   (containers, autoscaling) do not pile up.
//!
//! Every fold is counted in `celery_exporter_folded_events_total{cap}` and logged once per
//! cap. The subscriber reads the socket only as fast as it applies events (see
//! [`Client::blocking_connection`]), so a burst waits in Redis, not here.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash as _, Hasher as _};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value as Json;

use crate::collector::redis::conn::{Client, Error};
use crate::metrics::{Family, Kind, Sample, Value};

pub const MAX_NAMES: usize = 1000;
pub const MAX_HOSTS: usize = 1000;
pub const MAX_QUEUE_NAMES: usize = 1000;
pub const MAX_EXCEPTIONS: usize = 100;
/// Label combinations per counter family (`celery_task_*_total`).
pub const MAX_SERIES: usize = 10_000;
/// Unfinished tasks remembered for the name/queue join.
pub const MAX_TASKS: usize = 100_000;
/// celery-exporter's `--purge-offline-worker-metrics` default.
pub const PURGE_OFFLINE_WORKERS_AFTER: Duration = Duration::from_secs(600);
/// The value a label takes once its cap is reached.
pub const OTHER: &str = "other";
pub const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The counter families, in exposition order: (event type, metric, help).
const COUNTERS: [(&str, &str, &str); 8] = [
    (
        "task-sent",
        "celery_task_sent_total",
        "Tasks sent (task-sent events).",
    ),
    (
        "task-received",
        "celery_task_received_total",
        "Tasks received by a worker.",
    ),
    (
        "task-started",
        "celery_task_started_total",
        "Tasks started by a worker.",
    ),
    (
        "task-succeeded",
        "celery_task_succeeded_total",
        "Tasks that succeeded.",
    ),
    (
        "task-failed",
        "celery_task_failed_total",
        "Tasks that failed, by exception type (NotRegistered: the worker does not know the task).",
    ),
    (
        "task-retried",
        "celery_task_retried_total",
        "Tasks retried.",
    ),
    (
        "task-revoked",
        "celery_task_revoked_total",
        "Tasks revoked.",
    ),
    (
        "task-rejected",
        "celery_task_rejected_total",
        "Tasks rejected by a worker.",
    ),
];
const SUCCEEDED: usize = 3;
const FAILED: usize = 4;
const REVOKED: usize = 6;
const REJECTED: usize = 7;

/// One Celery event, the fields this exporter uses.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Event {
    pub kind: String,
    pub hostname: String,
    pub uuid: String,
    pub name: String,
    pub queue: String,
    pub exception: String,
    pub runtime: Option<f64>,
    pub active: Option<f64>,
    pub freq: Option<f64>,
}

fn s(v: &Json, k: &str) -> String {
    v.get(k).and_then(Json::as_str).unwrap_or("").to_string()
}

fn event_of(v: &Json) -> Option<Event> {
    let kind = v.get("type")?.as_str()?.to_string();
    Some(Event {
        kind,
        hostname: s(v, "hostname"),
        uuid: s(v, "uuid"),
        name: s(v, "name"),
        queue: s(v, "queue"),
        exception: s(v, "exception"),
        runtime: v.get("runtime").and_then(Json::as_f64),
        active: v.get("active").and_then(Json::as_f64),
        freq: v.get("freq").and_then(Json::as_f64),
    })
}

/// Parses one pub/sub message (kombu's envelope, body base64 of the event JSON, or a
/// JSON list of events for `task.multi`). Anything unreadable gives no events.
pub fn parse_message(payload: &[u8]) -> Vec<Event> {
    let Ok(env) = serde_json::from_slice::<Json>(payload) else {
        return Vec::new();
    };
    let body = match env.get("body") {
        Some(Json::String(b)) => {
            let encoding = env
                .pointer("/properties/body_encoding")
                .and_then(Json::as_str);
            if encoding == Some("base64") {
                match base64::engine::general_purpose::STANDARD.decode(b) {
                    Ok(bytes) => serde_json::from_slice::<Json>(&bytes).unwrap_or(Json::Null),
                    Err(_) => Json::Null,
                }
            } else {
                serde_json::from_str::<Json>(b).unwrap_or(Json::Null)
            }
        }
        Some(other) => other.clone(),
        None => Json::Null,
    };
    match &body {
        Json::Array(list) => list.iter().filter_map(event_of).collect(),
        Json::Object(_) => event_of(&body).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// The task named by a `NotRegistered('tasks.x')` (or `"tasks.x"`) repr.
pub fn not_registered_task(repr: &str) -> Option<&str> {
    let arg = repr
        .trim()
        .strip_prefix("NotRegistered(")?
        .strip_suffix(')')?;
    let name = arg
        .strip_prefix('\'')
        .and_then(|a| a.strip_suffix('\''))
        .or_else(|| arg.strip_prefix('"').and_then(|a| a.strip_suffix('"')))?;
    (!name.is_empty()).then_some(name)
}

/// The type name of a repr'd exception: `NotRegistered('x')` → `NotRegistered`.
pub fn exception_name(repr: &str) -> String {
    let n = repr.split('(').next().unwrap_or("").trim();
    if n.is_empty() {
        "unknown".into()
    } else {
        n.to_string()
    }
}

/// Label values of one kind, interned to small ids: at most `cap` values, plus
/// [`OTHER`] (id 0) for every later one.
struct Values {
    label: &'static str,
    cap: usize,
    ids: HashMap<Box<str>, u32>,
    values: Vec<Box<str>>,
    /// Ids given back by [`Values::release`], reused before new ones.
    free: Vec<u32>,
    /// Events whose value was folded into `other`.
    folded: u64,
}

impl Values {
    fn new(label: &'static str, cap: usize) -> Self {
        Self {
            label,
            cap,
            ids: HashMap::from([(OTHER.into(), 0)]),
            values: vec![OTHER.into()],
            free: Vec::new(),
            folded: 0,
        }
    }

    fn id(&mut self, v: &str) -> u32 {
        if let Some(id) = self.ids.get(v) {
            return *id;
        }
        // A released slot first; else a new one: `values` holds `other` plus up to
        // `cap` real values.
        let slot = if let Some(id) = self.free.pop() {
            self.values[id as usize] = v.into();
            Some(id)
        } else if self.values.len() <= self.cap
            && let Ok(id) = u32::try_from(self.values.len())
        {
            self.values.push(v.into());
            Some(id)
        } else {
            None
        };
        if let Some(id) = slot {
            self.ids.insert(v.into(), id);
            return id;
        }
        if self.folded == 0 {
            tracing::warn!(
                label = self.label,
                cap = self.cap,
                "celery events: more distinct {} values than the cap; later ones are counted as {OTHER:?}",
                self.label
            );
        }
        self.folded += 1;
        0
    }

    fn get(&self, id: u32) -> &str {
        self.values.get(id as usize).map_or(OTHER, |v| v)
    }

    /// Frees a value no series refers to any more (never `other`).
    fn release(&mut self, id: u32) {
        if id == 0 {
            return;
        }
        if let Some(v) = self.values.get_mut(id as usize) {
            self.ids.remove(&**v);
            *v = "".into();
            self.free.push(id);
        }
    }
}

/// A task id: Celery's uuids as their 128 bits; any other string by a 128-bit hash
/// (a collision would only mislabel one task's later events).
type TaskId = (u64, u64);

fn task_id(uuid: &str) -> TaskId {
    let mut bits: u128 = 0;
    let mut digits = 0;
    for c in uuid.chars().filter(|c| *c != '-') {
        match c.to_digit(16) {
            Some(d) if digits < 32 => {
                bits = (bits << 4) | u128::from(d);
                digits += 1;
            }
            _ => {
                digits = usize::MAX;
                break;
            }
        }
    }
    if digits == 32 {
        #[allow(clippy::cast_possible_truncation)]
        return ((bits >> 64) as u64, bits as u64);
    }
    let hash = |seed: u8| {
        let mut h = std::hash::DefaultHasher::new();
        (seed, uuid).hash(&mut h);
        h.finish()
    };
    (hash(1), hash(2))
}

struct Task {
    name: u32,
    queue: u32,
    /// Which `order` slot is this task's; older slots for the same id are stale.
    seq: u32,
}

/// Unfinished tasks by id, at most [`MAX_TASKS`], oldest forgotten first. Finished tasks
/// leave a stale slot in `order`, which is skipped on eviction and bounded at
/// 2 x [`MAX_TASKS`].
#[derive(Default)]
struct Tasks {
    map: HashMap<TaskId, Task>,
    order: VecDeque<(TaskId, u32)>,
    seq: u32,
    evicted: u64,
}

impl Tasks {
    fn get(&self, id: &TaskId) -> Option<(u32, u32)> {
        self.map.get(id).map(|t| (t.name, t.queue))
    }

    fn set(&mut self, id: TaskId, name: u32, queue: u32) {
        if let Some(t) = self.map.get_mut(&id) {
            t.name = name;
            t.queue = queue;
            return;
        }
        // Wrapping is harmless: `order` is far shorter than 2^32 slots.
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        self.map.insert(id, Task { name, queue, seq });
        self.order.push_back((id, seq));
        while self.map.len() > MAX_TASKS || self.order.len() > 2 * MAX_TASKS {
            let Some((old, seq)) = self.order.pop_front() else {
                break;
            };
            if self.map.get(&old).is_some_and(|t| t.seq == seq) {
                self.map.remove(&old);
                self.evicted += 1;
            }
        }
    }

    fn finish(&mut self, id: &TaskId) {
        self.map.remove(id);
    }
}

struct Worker {
    last: Instant,
    freq: f64,
    active: f64,
    offline: bool,
}

#[derive(Default)]
struct Hist {
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// (name, hostname, queue, exception) ids; exception is 0 outside `celery_task_failed_total`.
type Key = (u32, u32, u32, u32);
const OVERFLOW: Key = (0, 0, 0, 0);

pub struct State {
    counters: [HashMap<Key, f64>; COUNTERS.len()],
    names: Values,
    hosts: Values,
    queues: Values,
    exceptions: Values,
    /// Events counted in a family's overflow series because it had [`MAX_SERIES`] series.
    series_folded: u64,
    tasks: Tasks,
    workers: HashMap<u32, Worker>,
    /// Workers forgotten by [`State::purge_offline_workers`].
    workers_purged: u64,
    runtime: HashMap<u32, Hist>,
    pub events: u64,
}

impl Default for State {
    fn default() -> Self {
        Self {
            counters: Default::default(),
            names: Values::new("name", MAX_NAMES),
            hosts: Values::new("hostname", MAX_HOSTS),
            queues: Values::new("queue_name", MAX_QUEUE_NAMES),
            exceptions: Values::new("exception", MAX_EXCEPTIONS),
            series_folded: 0,
            tasks: Tasks::default(),
            workers: HashMap::new(),
            workers_purged: 0,
            runtime: HashMap::new(),
            events: 0,
        }
    }
}

impl State {
    pub fn apply(&mut self, e: &Event, now: Instant) {
        self.events += 1;
        let host = self.hosts.id(&e.hostname);
        if let Some(t) = e.kind.strip_prefix("worker-") {
            let w = self.workers.entry(host).or_insert(Worker {
                last: now,
                freq: 2.0,
                active: 0.0,
                offline: false,
            });
            w.last = now;
            w.freq = e.freq.unwrap_or(2.0).max(0.1);
            w.active = e.active.unwrap_or(w.active);
            w.offline = t == "offline";
            return;
        }
        let Some(family) = COUNTERS.iter().position(|(kind, _, _)| *kind == e.kind) else {
            return;
        };
        // Join name/queue by uuid: later events of a task carry neither.
        let id = (!e.uuid.is_empty()).then(|| task_id(&e.uuid));
        let joined = id.and_then(|id| self.tasks.get(&id));
        let name = match (e.name.is_empty(), joined) {
            (true, Some((n, _))) => n,
            // A task the worker does not know has no task-received to join: the
            // exception text names it (`NotRegistered('tasks.nope')`).
            (true, None) if e.kind == "task-failed" => self
                .names
                .id(not_registered_task(&e.exception).unwrap_or("")),
            _ => self.names.id(&e.name),
        };
        let queue = match (e.queue.is_empty(), joined) {
            (true, Some((_, q))) => q,
            _ => self.queues.id(&e.queue),
        };
        let finished = matches!(family, SUCCEEDED | FAILED | REVOKED | REJECTED);
        if let Some(id) = id {
            if finished {
                self.tasks.finish(&id);
            } else if !e.name.is_empty() || !e.queue.is_empty() {
                self.tasks.set(id, name, queue);
            }
        }
        let exception = if family == FAILED {
            self.exceptions.id(&exception_name(&e.exception))
        } else {
            0
        };
        let counters = &mut self.counters[family];
        let mut key = (name, host, queue, exception);
        if counters.len() >= MAX_SERIES && !counters.contains_key(&key) {
            if self.series_folded == 0 {
                tracing::warn!(
                    metric = COUNTERS[family].1,
                    cap = MAX_SERIES,
                    "celery events: more label combinations than the cap; later ones are counted in the series whose labels are all {OTHER:?}"
                );
            }
            self.series_folded += 1;
            key = OVERFLOW;
        }
        *counters.entry(key).or_default() += 1.0;
        if let Some(rt) = e.runtime.filter(|_| family == SUCCEEDED) {
            let h = self.runtime.entry(name).or_default();
            for (i, b) in BUCKETS.iter().enumerate() {
                if rt <= *b {
                    h.buckets[i] += 1;
                }
            }
            h.sum += rt;
            h.count += 1;
        }
    }

    /// Forgets the workers not heard from for `after` (as celery-exporter does): their
    /// `celery_worker_*` series and every task counter with their hostname; the
    /// hostname's slot under [`MAX_HOSTS`] is freed. Hosts folded into `other` stay:
    /// their series are shared. Returns the hostnames forgotten.
    pub fn purge_offline_workers(&mut self, now: Instant, after: Duration) -> Vec<String> {
        let gone: Vec<u32> = self
            .workers
            .iter()
            .filter(|(h, w)| **h != 0 && now.saturating_duration_since(w.last) >= after)
            .map(|(h, _)| *h)
            .collect();
        let mut names = Vec::with_capacity(gone.len());
        for h in gone {
            self.workers.remove(&h);
            for c in &mut self.counters {
                c.retain(|k, _| k.1 != h);
            }
            names.push(self.hosts.get(h).to_string());
            self.hosts.release(h);
            self.workers_purged += 1;
        }
        names
    }

    /// Unfinished tasks remembered for the join (at most [`MAX_TASKS`]).
    pub fn tasks_tracked(&self) -> usize {
        self.tasks.map.len()
    }

    pub fn families(&self, now: Instant) -> Vec<Family> {
        let mut out = Vec::new();
        for (i, (_, metric, help)) in COUNTERS.iter().enumerate() {
            let mut f = Family::counter(*metric, *help);
            let mut rows: Vec<_> = self.counters[i]
                .iter()
                .map(|((n, h, q, x), v)| {
                    (
                        self.names.get(*n),
                        self.hosts.get(*h),
                        self.queues.get(*q),
                        self.exceptions.get(*x),
                        *v,
                    )
                })
                .collect();
            rows.sort_by(|a, b| (a.0, a.1, a.2, a.3).cmp(&(b.0, b.1, b.2, b.3)));
            for (name, host, queue, exc, v) in rows {
                let mut labels = vec![("name", name), ("hostname", host), ("queue_name", queue)];
                if i == FAILED {
                    labels.push(("exception", exc));
                }
                f.push(labels, v);
            }
            out.push(f);
        }
        let mut up = Family::gauge(
            "celery_worker_up",
            "1 while the worker's heartbeats arrive within 2 x its heartbeat interval.",
        );
        let mut active = Family::gauge(
            "celery_worker_tasks_active",
            "Tasks the worker is running (from its last heartbeat).",
        );
        let mut hosts: Vec<_> = self
            .workers
            .iter()
            .map(|(h, w)| (self.hosts.get(*h), w))
            .collect();
        hosts.sort_by(|a, b| a.0.cmp(b.0));
        for (h, w) in hosts {
            let alive = !w.offline && now.duration_since(w.last).as_secs_f64() < w.freq * 2.0;
            up.push([("hostname", h)], if alive { 1.0 } else { 0.0 });
            active.push([("hostname", h)], if alive { w.active } else { 0.0 });
        }
        out.push(up);
        out.push(active);
        let mut rt = Family::new(
            "celery_task_runtime",
            "Task runtime in seconds (task-succeeded events).",
            Kind::Histogram,
        );
        let mut names: Vec<_> = self
            .runtime
            .iter()
            .map(|(n, h)| (self.names.get(*n), h))
            .collect();
        names.sort_by(|a, b| a.0.cmp(b.0));
        for (n, h) in names {
            rt.samples.push(Sample {
                labels: vec![("name".into(), n.to_string())],
                value: Value::Histogram {
                    buckets: BUCKETS
                        .iter()
                        .copied()
                        .zip(h.buckets.iter().copied())
                        .collect(),
                    sum: h.sum,
                    count: h.count,
                },
            });
        }
        out.push(rt);
        let mut folded = Family::counter(
            "celery_exporter_folded_events_total",
            "Events counted under the label value \"other\" because a cap was reached, by cap: a label's distinct values, or a family's series.",
        );
        for v in [&self.names, &self.hosts, &self.queues, &self.exceptions] {
            folded.push([("cap", v.label)], v.folded as f64);
        }
        folded.push([("cap", "series")], self.series_folded as f64);
        out.push(folded);
        out.push(
            Family::counter(
                "celery_exporter_tasks_forgotten_total",
                "Unfinished tasks forgotten to stay within the cap on remembered tasks (their later events lose name and queue).",
            )
            .single(self.tasks.evicted as f64),
        );
        out.push(
            Family::counter(
                "celery_exporter_workers_purged_total",
                "Workers dropped with all their series after celery.purge_offline_workers_after (default 10m) without an event from them.",
            )
            .single(self.workers_purged as f64),
        );
        out.push(
            Family::gauge(
                "celery_exporter_tasks_tracked",
                "Unfinished tasks remembered to join their name and queue with later events.",
            )
            .single(self.tasks.map.len() as f64),
        );
        out
    }
}

/// Shared between the subscriber thread and the scrape.
#[derive(Default)]
pub struct Shared {
    pub state: Mutex<State>,
    pub subscribed: AtomicBool,
    pub resubscriptions: AtomicU64,
}

impl Shared {
    /// The event state, also after a panic while it was held: a panic mid-`apply` leaves
    /// at worst one event half counted, while refusing the lock from then on would drop
    /// every later event and freeze the scrape's view (as `CachedRegex` recovers too).
    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies one message's events, received at `now`.
    pub fn apply_all(&self, events: &[Event], now: Instant) {
        let mut st = self.state();
        for e in events {
            st.apply(e, now);
        }
    }
}

/// How long a subscription may stay silent before a PING checks it is still alive.
const IDLE_CHECK: Duration = Duration::from_secs(30);
/// Pause between subscription attempts.
const RETRY: Duration = Duration::from_millis(500);

/// Starts the subscriber on a thread of its own: it subscribes to `pattern` through
/// `client` and applies every event, and resubscribes (logged and counted) after the
/// connection breaks, e.g. a Redis restart.
pub fn spawn(client: Arc<Client>, pattern: String, shared: Arc<Shared>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("celery-events".into())
        .spawn(move || {
            let mut first = true;
            // A broker that stays down (or keeps refusing us) is logged once per distinct error.
            let mut last_logged: Option<String> = None;
            loop {
                let Err(e) = subscribe(&client, &pattern, &shared, &mut first, &mut last_logged);
                shared.subscribed.store(false, Ordering::Relaxed);
                let text = e.to_string();
                if last_logged.as_deref() != Some(text.as_str()) {
                    tracing::warn!(
                        broker = %client.target.display,
                        reason = e.kind.as_str(),
                        "celery events: not subscribed, retrying: {text}"
                    );
                    last_logged = Some(text);
                }
                std::thread::sleep(RETRY);
            }
        })
        .map(|_| ())
}

/// One subscription, until it breaks.
fn subscribe(
    client: &Client,
    pattern: &str,
    shared: &Shared,
    first: &mut bool,
    last_logged: &mut Option<String>,
) -> Result<std::convert::Infallible, Error> {
    let mut conn = client.blocking_connection()?;
    conn.set_read_timeout(Some(IDLE_CHECK))
        .map_err(|e| client.error_of(&e))?;
    conn.set_write_timeout(Some(IDLE_CHECK))
        .map_err(|e| client.error_of(&e))?;
    let mut ps = conn.as_pubsub();
    ps.psubscribe(pattern).map_err(|e| client.error_of(&e))?;
    shared.subscribed.store(true, Ordering::Relaxed);
    if *first {
        tracing::info!(broker = %client.target.display, pattern, "celery events: subscribed");
    } else {
        shared.resubscriptions.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(broker = %client.target.display, pattern, "celery events: resubscribed");
    }
    *first = false;
    *last_logged = None;
    loop {
        match ps.get_message() {
            Ok(msg) => {
                let events = parse_message(msg.get_payload_bytes());
                let now = Instant::now();
                shared.apply_all(&events, now);
            }
            Err(e) if e.is_timeout() => {
                ps.ping::<redis::Value>().map_err(|e| client.error_of(&e))?;
            }
            Err(e) => return Err(client.error_of(&e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(body: &str) -> Vec<u8> {
        let b = base64::engine::general_purpose::STANDARD.encode(body);
        format!(r#"{{"body":"{b}","content-encoding":"utf-8","content-type":"application/json","headers":{{"hostname":"w"}},"properties":{{"body_encoding":"base64","delivery_info":{{"exchange":"celeryev","routing_key":"task.multi"}},"delivery_mode":2,"delivery_tag":"t","priority":0}}}}"#).into_bytes()
    }

    #[test]
    fn task_multi_list_and_join() {
        let sent = envelope(
            r#"{"type":"task-sent","uuid":"u1","name":"tasks.add","queue":"celery","hostname":"gen1@h","timestamp":1.0}"#,
        );
        let multi = envelope(
            r#"[{"type":"task-received","uuid":"u1","name":"tasks.add","hostname":"celery@h"},{"type":"task-started","uuid":"u1","hostname":"celery@h"},{"type":"task-succeeded","uuid":"u1","runtime":0.02,"hostname":"celery@h"},{"type":"task-failed","uuid":"u2","exception":"NotRegistered('nope')","hostname":"celery@h"}]"#,
        );
        let mut st = State::default();
        let now = Instant::now();
        for e in parse_message(&sent)
            .iter()
            .chain(parse_message(&multi).iter())
        {
            st.apply(e, now);
        }
        assert_eq!(st.events, 5);
        let fams = st.families(now);
        let get = |n: &str| fams.iter().find(|f| f.name == n).unwrap().samples.clone();
        assert_eq!(get("celery_task_succeeded_total").len(), 1);
        let s = &get("celery_task_succeeded_total")[0];
        assert!(s.labels.contains(&("queue_name".into(), "celery".into())));
        assert!(s.labels.contains(&("name".into(), "tasks.add".into())));
        let f = &get("celery_task_failed_total")[0];
        assert!(
            f.labels
                .contains(&("exception".into(), "NotRegistered".into()))
        );
        assert_eq!(parse_message(b"not json"), Vec::new());
    }

    /// Issue 20, defect 13: a task the worker does not know is counted under its
    /// own name, taken from `NotRegistered('tasks.nope')`, not under `name=""`.
    #[test]
    fn defect_13_not_registered_task_is_named_from_the_exception() {
        let msg = envelope(
            r#"{"type":"task-failed","uuid":"u9","exception":"NotRegistered('tasks.nope')","hostname":"celery@h"}"#,
        );
        let mut st = State::default();
        let now = Instant::now();
        for e in parse_message(&msg) {
            st.apply(&e, now);
        }
        let fams = st.families(now);
        let f = fams
            .iter()
            .find(|f| f.name == "celery_task_failed_total")
            .unwrap();
        assert_eq!(f.samples.len(), 1);
        let labels = &f.samples[0].labels;
        assert!(
            labels.contains(&("name".into(), "tasks.nope".into())),
            "{labels:?}"
        );
        assert!(
            labels.contains(&("exception".into(), "NotRegistered".into())),
            "{labels:?}"
        );
        assert_eq!(not_registered_task("NotRegistered(\"a.b\")"), Some("a.b"));
        assert_eq!(not_registered_task("KeyError('x')"), None);
        assert_eq!(not_registered_task("NotRegistered('')"), None);
    }

    fn ev(kind: &str, uuid: &str, name: &str, host: &str, queue: &str) -> Event {
        Event {
            kind: kind.into(),
            uuid: uuid.into(),
            name: name.into(),
            hostname: host.into(),
            queue: queue.into(),
            ..Default::default()
        }
    }

    fn family(st: &State, name: &str) -> Family {
        st.families(Instant::now())
            .into_iter()
            .find(|f| f.name == name)
            .unwrap()
    }

    fn scalar(s: &Sample) -> f64 {
        match s.value {
            Value::Scalar(v) => v,
            Value::Histogram { .. } => panic!("histogram"),
        }
    }

    fn folded(st: &State, cap: &str) -> f64 {
        family(st, "celery_exporter_folded_events_total")
            .samples
            .iter()
            .find(|s| s.labels.contains(&("cap".into(), cap.into())))
            .map(scalar)
            .unwrap()
    }

    /// Regression: once a panic poisoned the state's lock, every later event was dropped.
    #[test]
    fn events_still_apply_after_a_panic_poisoned_the_state() {
        let shared = Arc::new(Shared::default());
        let poisoner = shared.clone();
        let panicked = std::thread::spawn(move || {
            let _held = poisoner.state();
            panic!("poison the state's lock");
        })
        .join();
        assert!(panicked.is_err());
        assert!(shared.state.is_poisoned());
        shared.apply_all(
            &[ev("task-received", "t1", "tasks.add", "w1", "celery")],
            Instant::now(),
        );
        assert_eq!(shared.state().events, 1);
    }

    #[test]
    fn label_values_are_capped_and_folds_counted() {
        let mut st = State::default();
        let now = Instant::now();
        for i in 0..(MAX_NAMES + 50) {
            st.apply(
                &ev("task-received", &format!("u{i}"), &format!("t{i}"), "h", ""),
                now,
            );
        }
        // `other` plus the first MAX_NAMES names; the 50 later ones fold into `other`.
        assert_eq!(st.names.values.len(), MAX_NAMES + 1);
        assert_eq!(folded(&st, "name"), 50.0);
        assert_eq!(folded(&st, "hostname"), 0.0);
        let fam = family(&st, "celery_task_received_total");
        let other = fam
            .samples
            .iter()
            .find(|s| s.labels.contains(&("name".into(), OTHER.into())))
            .unwrap();
        assert_eq!(scalar(other), 50.0);
        // Hosts (and with them the worker map), queues and exceptions likewise.
        for i in 0..(MAX_HOSTS + 7) {
            let mut e = ev("worker-heartbeat", "", "", &format!("w{i}@h"), "");
            e.freq = Some(2.0);
            st.apply(&e, now);
        }
        // "h" took one slot: MAX_HOSTS - 1 workers of their own, 8 folded into `other`.
        assert_eq!(st.workers.len(), MAX_HOSTS);
        assert!(st.workers.contains_key(&0));
        assert_eq!(folded(&st, "hostname"), 8.0);
        for i in 0..(MAX_EXCEPTIONS + 3) {
            let mut e = ev("task-failed", "", "t0", "h", &format!("q{i}"));
            e.exception = format!("E{i}('x')");
            st.apply(&e, now);
        }
        assert_eq!(folded(&st, "exception"), 3.0);
        // Queues: `other`, "" (the received events), q0..q102.
        assert_eq!(st.queues.values.len(), 2 + MAX_EXCEPTIONS + 3);
    }

    #[test]
    fn series_are_capped_per_family_into_one_overflow_series() {
        let mut st = State::default();
        let now = Instant::now();
        // 200 names x 100 hosts = 20,000 combinations, twice the cap.
        let mut n = 0;
        for name in 0..200 {
            for host in 0..100 {
                st.apply(
                    &ev(
                        "task-sent",
                        "",
                        &format!("t{name}"),
                        &format!("h{host}"),
                        "q",
                    ),
                    now,
                );
                n += 1;
            }
        }
        let fam = family(&st, "celery_task_sent_total");
        assert_eq!(fam.samples.len(), MAX_SERIES + 1);
        let total: f64 = fam.samples.iter().map(scalar).sum();
        assert_eq!(total, f64::from(n), "every event still counted");
        let overflow = fam
            .samples
            .iter()
            .find(|s| s.labels.iter().all(|(k, v)| v == OTHER || k.is_empty()))
            .unwrap();
        assert_eq!(scalar(overflow), f64::from(n) - MAX_SERIES as f64);
        assert_eq!(folded(&st, "series"), f64::from(n) - MAX_SERIES as f64);
        // Existing series keep counting after the cap, and other families have their own cap.
        st.apply(&ev("task-sent", "", "t0", "h0", "q"), now);
        st.apply(&ev("task-received", "", "t199", "h99", "q"), now);
        assert_eq!(folded(&st, "series"), f64::from(n) - MAX_SERIES as f64);
        assert_eq!(family(&st, "celery_task_received_total").samples.len(), 1);
    }

    #[test]
    fn remembered_tasks_are_bounded_and_the_oldest_forgotten() {
        let mut st = State::default();
        let now = Instant::now();
        let uuid = |i: usize| format!("{i:032x}");
        for i in 0..(MAX_TASKS + 10) {
            st.apply(&ev("task-sent", &uuid(i), "t", "p", "q"), now);
        }
        assert_eq!(st.tasks_tracked(), MAX_TASKS);
        assert_eq!(st.tasks.evicted, 10);
        // The oldest lost their join; the 11th is still known.
        st.apply(&ev("task-succeeded", &uuid(0), "", "w", ""), now);
        st.apply(&ev("task-succeeded", &uuid(10), "", "w", ""), now);
        let fam = family(&st, "celery_task_succeeded_total");
        let names: Vec<_> = fam.samples.iter().map(|s| s.labels[0].1.clone()).collect();
        assert_eq!(names, ["", "t"]);
        // Finished tasks are forgotten at once, and their stale slots stay bounded.
        for i in 0..(3 * MAX_TASKS) {
            let u = uuid(MAX_TASKS + 10 + i);
            st.apply(&ev("task-sent", &u, "t", "p", "q"), now);
            st.apply(&ev("task-succeeded", &u, "", "w", ""), now);
        }
        assert!(
            st.tasks.order.len() <= 2 * MAX_TASKS,
            "{}",
            st.tasks.order.len()
        );
        assert!(st.tasks_tracked() <= MAX_TASKS);
    }

    #[test]
    fn task_ids() {
        let u = "d6f5f5e2-1c2b-4a3f-9e4d-0123456789ab";
        assert_eq!(task_id(u), task_id(&u.replace('-', "")));
        assert_eq!(task_id(u), (0xd6f5_f5e2_1c2b_4a3f, 0x9e4d_0123_4567_89ab));
        assert_eq!(task_id(u), task_id(&u.to_uppercase()));
        assert_ne!(task_id(&format!("{u}0")), task_id(u));
        // Ids that are not uuids (custom `task_id=`s) are hashed: different ones differ,
        // and neither collides with the uuid parse of another.
        assert_ne!(task_id("job-1"), task_id("job-2"));
        assert_ne!(task_id("job-1"), task_id("1"));
    }

    /// A task's later events carry only its id: the join must find the task by the id it was
    /// sent with, for uuids and custom ids alike, and never mix two tasks up.
    #[test]
    fn later_events_join_the_task_they_belong_to() {
        let mut st = State::default();
        let now = Instant::now();
        let u = "d6f5f5e2-1c2b-4a3f-9e4d-0123456789ab";
        for (id, name, queue) in [
            ("job-1", "tasks.one", "q1"),
            ("job-2", "tasks.two", "q2"),
            (u, "tasks.three", "q3"),
        ] {
            st.apply(&ev("task-sent", id, name, "p@h", queue), now);
        }
        // Finished out of order, without name or queue, as a worker reports them.
        for id in ["job-2", &u.to_uppercase(), "job-1"] {
            st.apply(&ev("task-succeeded", id, "", "w@h", ""), now);
        }
        let mut joined: Vec<(String, String)> = family(&st, "celery_task_succeeded_total")
            .samples
            .iter()
            .map(|s| {
                let get = |k: &str| {
                    s.labels
                        .iter()
                        .find(|(l, _)| l == k)
                        .map(|(_, v)| v.clone())
                        .unwrap()
                };
                (get("name"), get("queue_name"))
            })
            .collect();
        joined.sort();
        assert_eq!(
            joined,
            [
                ("tasks.one".into(), "q1".into()),
                ("tasks.three".into(), "q3".into()),
                ("tasks.two".into(), "q2".into()),
            ]
        );
        assert_eq!(st.tasks_tracked(), 0, "finished tasks are forgotten");
    }

    /// A worker killed without `worker-offline` is down once two of its heartbeat
    /// intervals pass without a beat (celery's own `expire_window`), not before.
    #[test]
    fn worker_is_down_after_two_missed_heartbeat_intervals() {
        let mut st = State::default();
        let t0 = Instant::now();
        let mut e = ev("worker-heartbeat", "", "", "w@h", "");
        e.freq = Some(1.0);
        st.apply(&e, t0);
        let up = |at: Instant| -> f64 {
            let f = st
                .families(at)
                .into_iter()
                .find(|f| f.name == "celery_worker_up")
                .unwrap();
            scalar(&f.samples[0])
        };
        assert_eq!(up(t0), 1.0);
        assert_eq!(up(t0 + Duration::from_millis(1999)), 1.0);
        assert_eq!(up(t0 + Duration::from_secs(2)), 0.0);
        // A worker that announced no frequency is held to celery's default of 2 s.
        let mut st2 = State::default();
        st2.apply(&ev("worker-heartbeat", "", "", "x@h", ""), t0);
        let f = st2
            .families(t0 + Duration::from_millis(3999))
            .into_iter()
            .find(|f| f.name == "celery_worker_up")
            .unwrap();
        assert_eq!(scalar(&f.samples[0]), 1.0);
    }

    #[test]
    fn offline_workers_are_purged_with_their_series_and_free_their_hostname() {
        let mut st = State::default();
        let t0 = Instant::now();
        let beat = |st: &mut State, host: &str, at: Instant| {
            let mut e = ev("worker-heartbeat", "", "", host, "");
            e.freq = Some(2.0);
            st.apply(&e, at);
        };
        for host in ["old@h", "busy@h"] {
            beat(&mut st, host, t0);
            st.apply(&ev("task-received", "", "tasks.add", host, "celery"), t0);
        }
        let hostnames = |st: &State, fam: &str| -> Vec<String> {
            let mut h: Vec<String> = st
                .families(t0)
                .into_iter()
                .find(|f| f.name == fam)
                .unwrap()
                .samples
                .iter()
                .flat_map(|s| s.labels.iter())
                .filter(|(k, _)| k == "hostname")
                .map(|(_, v)| v.clone())
                .collect();
            h.sort();
            h
        };
        // busy@h keeps beating; old@h went quiet at t0.
        beat(&mut st, "busy@h", t0 + Duration::from_secs(590));
        assert!(
            st.purge_offline_workers(t0 + Duration::from_secs(599), PURGE_OFFLINE_WORKERS_AFTER)
                .is_empty()
        );
        let purged = st.purge_offline_workers(
            t0 + PURGE_OFFLINE_WORKERS_AFTER,
            PURGE_OFFLINE_WORKERS_AFTER,
        );
        assert_eq!(purged, ["old@h"]);
        assert_eq!(hostnames(&st, "celery_worker_up"), ["busy@h"]);
        assert_eq!(hostnames(&st, "celery_task_received_total"), ["busy@h"]);
        assert_eq!(
            scalar(&family(&st, "celery_exporter_workers_purged_total").samples[0]),
            1.0
        );
        // The freed slot goes to the next new hostname; the cap counts live ones only.
        let slots = st.hosts.values.len();
        beat(&mut st, "new@h", t0 + Duration::from_secs(601));
        assert_eq!(st.hosts.values.len(), slots);
        assert_eq!(hostnames(&st, "celery_worker_up"), ["busy@h", "new@h"]);
        // Coming back after being purged starts its series again.
        beat(&mut st, "old@h", t0 + Duration::from_secs(602));
        assert_eq!(
            hostnames(&st, "celery_worker_up"),
            ["busy@h", "new@h", "old@h"]
        );
    }
}
