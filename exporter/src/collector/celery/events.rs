//! Celery's event stream (`PSUBSCRIBE /{db}.celeryev/*`): worker liveness from
//! heartbeats and task counters under celery-exporter's names. Bounded: at most
//! [`MAX_NAMES`] task names and [`MAX_HOSTS`] hostnames (extra ones count as `other`),
//! and at most [`MAX_TASKS`] task uuids remembered to join `task-sent`/`task-received`
//! (name, queue) with later events.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use base64::Engine as _;
use serde_json::Value as Json;

use crate::metrics::{Family, Kind, Sample, Value};

pub const MAX_NAMES: usize = 1000;
pub const MAX_HOSTS: usize = 1000;
pub const MAX_TASKS: usize = 100_000;
pub const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

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

/// The type name of a repr'd exception: `NotRegistered('x')` → `NotRegistered`.
pub fn exception_name(repr: &str) -> String {
    let n = repr.split('(').next().unwrap_or("").trim();
    if n.is_empty() {
        "unknown".into()
    } else {
        n.to_string()
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

#[derive(Default)]
pub struct State {
    /// (metric, name, hostname, queue, exception) -> count
    counters: HashMap<(&'static str, String, String, String, String), f64>,
    names: std::collections::HashSet<String>,
    hosts: std::collections::HashSet<String>,
    tasks: HashMap<String, (String, String)>,
    order: VecDeque<String>,
    workers: HashMap<String, Worker>,
    runtime: HashMap<String, Hist>,
    pub events: u64,
}

fn bounded(set: &mut std::collections::HashSet<String>, cap: usize, v: &str) -> String {
    if set.contains(v) {
        return v.to_string();
    }
    if set.len() < cap {
        set.insert(v.to_string());
        return v.to_string();
    }
    "other".to_string()
}

impl State {
    pub fn apply(&mut self, e: &Event, now: Instant) {
        self.events += 1;
        let host = bounded(&mut self.hosts, MAX_HOSTS, &e.hostname);
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
        // Join name/queue by uuid.
        let (mut name, mut queue) = self.tasks.get(&e.uuid).cloned().unwrap_or_default();
        if !e.name.is_empty() {
            name = e.name.clone();
        }
        if !e.queue.is_empty() {
            queue = e.queue.clone();
        }
        if !e.uuid.is_empty() && (!e.name.is_empty() || !e.queue.is_empty()) {
            if !self.tasks.contains_key(&e.uuid) {
                self.order.push_back(e.uuid.clone());
                if self.order.len() > MAX_TASKS
                    && let Some(old) = self.order.pop_front()
                {
                    self.tasks.remove(&old);
                }
            }
            self.tasks
                .insert(e.uuid.clone(), (name.clone(), queue.clone()));
        }
        let name = bounded(&mut self.names, MAX_NAMES, &name);
        let metric = match e.kind.as_str() {
            "task-sent" => "celery_task_sent_total",
            "task-received" => "celery_task_received_total",
            "task-started" => "celery_task_started_total",
            "task-succeeded" => "celery_task_succeeded_total",
            "task-failed" => "celery_task_failed_total",
            "task-retried" => "celery_task_retried_total",
            "task-revoked" => "celery_task_revoked_total",
            "task-rejected" => "celery_task_rejected_total",
            _ => return,
        };
        let exception = if metric == "celery_task_failed_total" {
            exception_name(&e.exception)
        } else {
            String::new()
        };
        *self
            .counters
            .entry((metric, name.clone(), host, queue, exception))
            .or_default() += 1.0;
        if let Some(rt) = e
            .runtime
            .filter(|_| metric == "celery_task_succeeded_total")
        {
            let h = self.runtime.entry(name).or_default();
            for (i, b) in BUCKETS.iter().enumerate() {
                if rt <= *b {
                    h.buckets[i] += 1;
                }
            }
            h.sum += rt;
            h.count += 1;
        }
        if matches!(
            metric,
            "celery_task_succeeded_total"
                | "celery_task_failed_total"
                | "celery_task_rejected_total"
                | "celery_task_revoked_total"
        ) {
            // Finished: forget the uuid (its slot in `order` ages out harmlessly).
            self.tasks.remove(&e.uuid);
        }
    }

    pub fn families(&self, now: Instant) -> Vec<Family> {
        let mut out = Vec::new();
        for (metric, help) in [
            ("celery_task_sent_total", "Tasks sent (task-sent events)."),
            ("celery_task_received_total", "Tasks received by a worker."),
            ("celery_task_started_total", "Tasks started by a worker."),
            ("celery_task_succeeded_total", "Tasks that succeeded."),
            (
                "celery_task_failed_total",
                "Tasks that failed, by exception type (NotRegistered: the worker does not know the task).",
            ),
            ("celery_task_retried_total", "Tasks retried."),
            ("celery_task_revoked_total", "Tasks revoked."),
            ("celery_task_rejected_total", "Tasks rejected by a worker."),
        ] {
            let mut f = Family::counter(metric, help);
            let mut rows: Vec<_> = self
                .counters
                .iter()
                .filter(|(k, _)| k.0 == metric)
                .collect();
            rows.sort_by(|a, b| a.0.cmp(b.0));
            for ((_, name, host, queue, exc), v) in rows {
                let mut labels = vec![
                    ("name", name.as_str()),
                    ("hostname", host.as_str()),
                    ("queue_name", queue.as_str()),
                ];
                if metric == "celery_task_failed_total" {
                    labels.push(("exception", exc.as_str()));
                }
                f.push(labels, *v);
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
        let mut hosts: Vec<_> = self.workers.iter().collect();
        hosts.sort_by(|a, b| a.0.cmp(b.0));
        for (h, w) in hosts {
            let alive = !w.offline && now.duration_since(w.last).as_secs_f64() < w.freq * 2.0;
            up.push([("hostname", h.as_str())], if alive { 1.0 } else { 0.0 });
            active.push(
                [("hostname", h.as_str())],
                if alive { w.active } else { 0.0 },
            );
        }
        out.push(up);
        out.push(active);
        let mut rt = Family::new(
            "celery_task_runtime",
            "Task runtime in seconds (task-succeeded events).",
            Kind::Histogram,
        );
        let mut names: Vec<_> = self.runtime.iter().collect();
        names.sort_by(|a, b| a.0.cmp(b.0));
        for (n, h) in names {
            rt.samples.push(Sample {
                labels: vec![("name".into(), n.clone())],
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
        out
    }
}

/// Shared between the subscriber task and the scrape.
#[derive(Default)]
pub struct Shared {
    pub state: Mutex<State>,
    pub subscribed: std::sync::atomic::AtomicBool,
    pub resubscriptions: std::sync::atomic::AtomicU64,
}

/// Subscribes to `{prefix}/{db}.celeryev/*` and applies every event; resubscribes
/// (logged and counted) after the connection breaks, e.g. a Redis restart.
pub async fn run(url: String, pattern: String, shared: std::sync::Arc<Shared>) {
    use futures::StreamExt as _;
    use std::sync::atomic::Ordering;
    let mut first = true;
    loop {
        let result: Result<(), String> = async {
            let client = redis::Client::open(url.as_str()).map_err(|e| e.to_string())?;
            let mut ps = client.get_async_pubsub().await.map_err(|e| e.to_string())?;
            ps.psubscribe(&pattern).await.map_err(|e| e.to_string())?;
            shared.subscribed.store(true, Ordering::Relaxed);
            if !first {
                shared.resubscriptions.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(pattern = %pattern, "celery events: resubscribed");
            }
            first = false;
            let mut stream = ps.on_message();
            while let Some(msg) = stream.next().await {
                let events = parse_message(msg.get_payload_bytes());
                let now = Instant::now();
                if let Ok(mut st) = shared.state.lock() {
                    for e in &events {
                        st.apply(e, now);
                    }
                }
            }
            Err("subscription closed".into())
        }
        .await;
        if (shared.subscribed.swap(false, Ordering::Relaxed) || first)
            && let Err(e) = &result
        {
            tracing::warn!(error = %e, "celery events: subscription lost, retrying");
        }
        first = false;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
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

    #[test]
    fn names_are_capped() {
        let mut st = State::default();
        let now = Instant::now();
        for i in 0..(MAX_NAMES + 50) {
            st.apply(
                &Event {
                    kind: "task-received".into(),
                    name: format!("t{i}"),
                    uuid: format!("u{i}"),
                    hostname: "h".into(),
                    ..Default::default()
                },
                now,
            );
        }
        assert_eq!(st.names.len(), MAX_NAMES);
    }
}
