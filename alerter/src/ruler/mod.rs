//! Live rule evaluation. Embedded mode: scrape the configured targets into the PromQL
//! engine's in-memory store and evaluate the rule groups on their interval. Remote
//! mode (`remote_query`): each rule is an instant query to a Prometheus-compatible
//! engine. Either way firing and resolved alerts go to the dispatcher in-process.
//!
//! Runs on its own thread with its own single-threaded runtime, so neither a slow
//! scrape nor a long evaluation round ever holds the server's runtime thread (the
//! API keeps answering). Owns the store, the scrapers, the groups' `for` state (kept
//! across reloads for unchanged rules, and across restarts in the data directory)
//! and what `/api/v1/rules`, `/api/v1/alerts` and the self-metrics show.
//!
//! [`scrape`] compiles `scrape_configs` and scrapes one target; [`exposition`] parses
//! what it returns; [`remote`] queries the remote engine; [`status`] is the read side
//! for the API and metrics.

pub mod exposition;
pub mod relabel;
pub mod remote;
pub mod scrape;
pub mod status;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use promql_parser::parser::{Expr, Offset};
use tokio::sync::{mpsc, oneshot};

use crate::clock::Clock;
use crate::promql::{Engine, Labels, Sample, Store};
use crate::rules::file::RuleDef;
use crate::rules::group::{AlertState, Group, Source, alerts_to_send, generator_url};
use crate::rules::{EvalContext, GroupDef};
use crate::sync::lock;
use remote::Remote;
use scrape::{Scraper, Target};
pub use status::Status;

/// Prometheus's default `--rules.alert.resend-delay`.
pub const RESEND_DELAY: Duration = Duration::from_secs(60);
/// Prometheus's `--rules.alert.for-outage-tolerance`: older saved state is not restored.
pub const FOR_OUTAGE_TOLERANCE_MS: i64 = 60 * 60 * 1000;
/// Prometheus's default `global.evaluation_interval`.
pub const DEFAULT_EVALUATION_INTERVAL: Duration = Duration::from_secs(60);
/// The for-state file in the data directory.
pub const STATE_FILE: &str = "rules_for_state.json";

/// What the evaluator runs: compiled from the config (rule files loaded and checked,
/// targets built). Empty: nothing runs, the alerter is a pure Alertmanager.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub groups: Vec<GroupDef>,
    pub targets: Vec<Target>,
    pub evaluation_interval: Duration,
    pub external_labels: Labels,
    /// Remote mode: rules are queries to this engine (never with `targets`).
    pub remote: Option<Arc<Remote>>,
}

impl Settings {
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.targets.is_empty()
    }

    /// How far back samples are kept: the longest range (with offset) any rule reads,
    /// plus the lookback, the longest `for`, and two evaluation intervals of slack.
    pub fn retention_ms(&self) -> i64 {
        let lookback = 5 * 60 * 1000;
        let mut longest = 0i64;
        let mut interval = self.evaluation_interval.as_millis() as i64;
        for g in &self.groups {
            if let Some(i) = g.interval {
                interval = interval.max(i.as_millis_i64());
            }
            for r in &g.rules {
                longest = longest.max(max_range_ms(&r.expr) + g.query_offset.as_millis_i64());
                longest = longest.max(r.for_.as_millis_i64());
            }
        }
        longest + lookback + 2 * interval
    }
}

/// The longest time back from the evaluation time an expression reads (ranges,
/// subqueries and offsets), without the lookback.
pub fn max_range_ms(e: &Expr) -> i64 {
    let off = |o: &Option<Offset>| match o {
        Some(Offset::Pos(d)) => d.as_millis() as i64,
        _ => 0,
    };
    match e {
        Expr::Aggregate(a) => max_range_ms(&a.expr).max(a.param.as_deref().map_or(0, max_range_ms)),
        Expr::Unary(u) => max_range_ms(&u.expr),
        Expr::Binary(b) => max_range_ms(&b.lhs).max(max_range_ms(&b.rhs)),
        Expr::Paren(p) => max_range_ms(&p.expr),
        Expr::Subquery(s) => s.range.as_millis() as i64 + off(&s.offset) + max_range_ms(&s.expr),
        Expr::VectorSelector(v) => off(&v.offset),
        Expr::MatrixSelector(m) => m.range.as_millis() as i64 + off(&m.vs.offset),
        Expr::Call(c) => c
            .args
            .args
            .iter()
            .map(|a| max_range_ms(a))
            .max()
            .unwrap_or(0),
        _ => 0,
    }
}

/// Loads `rule_files` (globs, relative to `base_dir`, or `<built-in>/...`) and every
/// rule in them.
pub fn load_rule_files(base_dir: &Path, patterns: &[String]) -> Result<Vec<GroupDef>, Vec<String>> {
    crate::rules::builtin::load_patterns(base_dir, patterns)
}

/// Where evaluated alerts go: the dispatcher's ingest.
pub type Sink = Arc<dyn Fn(Vec<crate::alert::Alert>) + Send + Sync>;

/// The running evaluator: its thread takes new settings on reload.
pub struct Ruler {
    tx: mpsc::UnboundedSender<Arc<Settings>>,
    pub status: Arc<Status>,
}

impl Ruler {
    /// Starts the evaluator thread with `settings`, reading the time from `clock`.
    pub fn start(
        settings: Arc<Settings>,
        sink: Sink,
        data_dir: &Path,
        external_url: String,
        clock: Clock,
    ) -> Result<Ruler, String> {
        let (tx, rx) = mpsc::unbounded_channel();
        let status = Arc::new(Status::default());
        let st = status.clone();
        let state_path = data_dir.join(STATE_FILE);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("rule evaluator: cannot start its runtime: {e}"))?;
        std::thread::Builder::new()
            .name("ruler".into())
            .spawn(move || {
                rt.block_on(run(settings, rx, sink, st, state_path, external_url, clock));
            })
            .map_err(|e| format!("rule evaluator: cannot start its thread: {e}"))?;
        Ok(Ruler { tx, status })
    }

    /// Puts new settings in service (rules and targets); unchanged rules keep state.
    pub fn update(&self, settings: Arc<Settings>) {
        let _ = self.tx.send(settings);
    }
}

fn now_ms(clock: &Clock) -> i64 {
    clock.now().timestamp_millis()
}

fn to_time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

struct Running {
    stop: oneshot::Sender<()>,
    done: tokio::task::JoinHandle<()>,
}

struct RunningGroup {
    run: Running,
    group: Arc<Mutex<Group>>,
}

fn group_key(g: &GroupDef) -> String {
    format!("{};{}", g.file.display(), g.name)
}

/// Saved `for` state: group key → (rule name, labels) → active_at (ms).
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct SavedState {
    saved_at: i64,
    groups: BTreeMap<String, Vec<SavedAlert>>,
}

#[derive(Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct SavedAlert {
    rule: String,
    labels: Labels,
    active_at: i64,
}

struct Shared {
    store: Arc<Mutex<Store>>,
    sink: Sink,
    status: Arc<Status>,
    state_path: PathBuf,
    saved: Mutex<SavedState>,
    /// What the previous process saved, taken by each group's first evaluation.
    restore: Mutex<BTreeMap<String, Vec<SavedAlert>>>,
    external_url: String,
    clock: Clock,
}

async fn run(
    first: Arc<Settings>,
    mut rx: mpsc::UnboundedReceiver<Arc<Settings>>,
    sink: Sink,
    status: Arc<Status>,
    state_path: PathBuf,
    external_url: String,
    clock: Clock,
) {
    let restore = read_state(&state_path, now_ms(&clock));
    let shared = Arc::new(Shared {
        store: Arc::new(Mutex::new(Store::new())),
        sink,
        status,
        state_path,
        saved: Mutex::new(SavedState::default()),
        restore: Mutex::new(restore),
        external_url,
        clock,
    });
    let retention = Arc::new(std::sync::atomic::AtomicI64::new(first.retention_ms()));
    {
        let (store, retention) = (shared.store.clone(), retention.clone());
        tokio::spawn(async move {
            let mut t = tokio::time::interval(Duration::from_secs(60));
            loop {
                t.tick().await;
                let keep = retention.load(std::sync::atomic::Ordering::Relaxed);
                lock(&store).truncate_before(now_ms(&clock) - keep);
            }
        });
    }
    let mut scrapers: HashMap<String, Running> = HashMap::new();
    let mut groups: HashMap<String, RunningGroup> = HashMap::new();
    let mut settings = first;
    loop {
        apply(&settings, &shared, &mut scrapers, &mut groups).await;
        retention.store(
            settings.retention_ms(),
            std::sync::atomic::Ordering::Relaxed,
        );
        match rx.recv().await {
            Some(s) => settings = s,
            None => return,
        }
    }
}

fn read_state(path: &Path, now: i64) -> BTreeMap<String, Vec<SavedAlert>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return BTreeMap::new();
    };
    match serde_json::from_str::<SavedState>(&text) {
        Ok(s) if now - s.saved_at <= FOR_OUTAGE_TOLERANCE_MS => s.groups,
        Ok(_) => {
            tracing::info!(file = %path.display(), "saved rule state older than the outage tolerance (1h); not restored");
            BTreeMap::new()
        }
        Err(e) => {
            tracing::warn!(file = %path.display(), "saved rule state unreadable, not restored: {e}");
            BTreeMap::new()
        }
    }
}

async fn apply(
    s: &Arc<Settings>,
    shared: &Arc<Shared>,
    scrapers: &mut HashMap<String, Running>,
    groups: &mut HashMap<String, RunningGroup>,
) {
    // Targets: keep the ones that did not change, stop the rest (they write stale
    // markers), start the new ones.
    let wanted: HashMap<&str, &Target> = s.targets.iter().map(|t| (t.key.as_str(), t)).collect();
    let gone: Vec<String> = scrapers
        .keys()
        .filter(|k| !wanted.contains_key(k.as_str()))
        .cloned()
        .collect();
    for k in gone {
        if let Some(r) = scrapers.remove(&k) {
            drop(r.stop);
            let _ = r.done.await;
        }
    }
    let mut health = Vec::new();
    for t in &s.targets {
        if scrapers.contains_key(&t.key) {
            if let Some(h) = shared.status.target_health(&t.key) {
                health.push((t.clone(), h));
            }
            continue;
        }
        let scraper = Scraper::new(t.clone());
        health.push((t.clone(), scraper.health.clone()));
        let (stop, rx) = oneshot::channel();
        let done = tokio::spawn(scrape_loop(scraper, shared.store.clone(), rx, shared.clock));
        scrapers.insert(t.key.clone(), Running { stop, done });
    }
    shared.status.set_targets(health);

    // Groups: every group restarts on the new definition; rules that did not change
    // keep their alerts and `for` state.
    let mut old: HashMap<String, Group> = HashMap::new();
    for (k, rg) in groups.drain() {
        drop(rg.run.stop);
        let _ = rg.run.done.await;
        old.insert(k, lock(&rg.group).clone());
    }
    let engine = Engine {
        default_subquery_step_ms: s.evaluation_interval.as_millis() as i64,
        ..Engine::default()
    };
    let ctx = EvalContext {
        external_labels: s.external_labels.clone(),
        external_url: shared.external_url.clone(),
    };
    let mut keys = Vec::new();
    for def in &s.groups {
        let key = group_key(def);
        let interval = def.interval.map_or(s.evaluation_interval, |d| d.as_std());
        let mut g = Group::new(def.clone());
        if let Some(o) = old.get(&key) {
            g.carry_state_from(o);
        }
        let group = Arc::new(Mutex::new(g));
        let (stop, rx) = oneshot::channel();
        let source = match &s.remote {
            Some(r) => Data::Remote(r.clone()),
            None => Data::Local(engine.clone()),
        };
        let done = tokio::spawn(group_loop(
            key.clone(),
            group.clone(),
            interval,
            source,
            ctx.clone(),
            shared.clone(),
            rx,
        ));
        keys.push(key.clone());
        groups.insert(
            key,
            RunningGroup {
                run: Running { stop, done },
                group,
            },
        );
    }
    shared.status.retain_groups(&keys);
    lock(&shared.saved).groups.retain(|k, _| keys.contains(k));
}

async fn scrape_loop(
    mut scraper: Scraper,
    store: Arc<Mutex<Store>>,
    mut stop: oneshot::Receiver<()>,
    clock: Clock,
) {
    let iv = scraper.target.interval;
    let first = scrape::offset(&scraper.target.key, iv, now_ms(&clock));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + first, iv);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => break,
            _ = ticker.tick() => {}
        }
        let ts = now_ms(&clock);
        tokio::select! {
            biased;
            _ = &mut stop => break,
            () = scraper.scrape(&store, ts) => {}
        }
    }
    scraper.retire(&store, now_ms(&clock));
}

/// Where in its interval a group is evaluated, as Prometheus places it (rules/group.go
/// `EvalTimestamp`): the xxHash64 of the labels `file` and `name`, modulo the interval
/// in nanoseconds. Two evaluators of one rule file evaluate in step.
pub fn group_phase_ms(file: &str, name: &str, interval: Duration) -> i64 {
    // Go's labels.Hash: name, 0xff, value, 0xff for each label in name order.
    let mut bytes = Vec::with_capacity(file.len() + name.len() + 12);
    for (k, v) in [("file", file), ("name", name)] {
        bytes.extend_from_slice(k.as_bytes());
        bytes.push(0xff);
        bytes.extend_from_slice(v.as_bytes());
        bytes.push(0xff);
    }
    let h = xxhash_rust::xxh64::xxh64(&bytes, 0);
    let iv_ns = u64::try_from(interval.as_nanos())
        .unwrap_or(u64::MAX)
        .max(1);
    ((h % iv_ns) / 1_000_000) as i64
}

/// The group's latest scheduled evaluation time at or before `now` (all in ms).
pub fn eval_timestamp(phase: i64, iv: i64, now: i64) -> i64 {
    let adj = now - phase;
    adj - adj.rem_euclid(iv) + phase
}

/// Where a group's rules get their data.
enum Data {
    Local(Engine),
    Remote(Arc<Remote>),
}

/// Remote results fetched before the round (remote mode has no recording rules, so
/// no rule reads another's output); the output series are not written anywhere.
struct Fetched(Vec<Result<Vec<Sample>, String>>);

impl Source for Fetched {
    fn query(&mut self, index: usize, _: &RuleDef, _: i64) -> Result<Vec<Sample>, String> {
        self.0.get_mut(index).map_or_else(
            || Err("no remote result".into()),
            |r| std::mem::replace(r, Ok(Vec::new())),
        )
    }

    fn append(&mut self, _: &Labels, _: i64, _: f64) {}
}

/// At most this many of a group's queries are in flight at once.
const REMOTE_CONCURRENCY: usize = 4;

/// Every rule's query of `group` at `ts` (minus its query offset), in rule order.
async fn fetch(remote: &Arc<Remote>, group: &Mutex<Group>, ts: i64) -> Fetched {
    use futures::StreamExt;
    let (exprs, offset) = {
        let g = lock(group);
        let e: Vec<String> = g.rules.iter().map(|r| r.def.expr_text.clone()).collect();
        (e, g.def.query_offset.as_millis_i64())
    };
    // Owned futures: the stream must be Send to run in the spawned group task.
    let queries: Vec<_> = exprs
        .into_iter()
        .map(|e| {
            let r = remote.clone();
            async move { r.query(&e, ts - offset).await }
        })
        .collect();
    let results = futures::stream::iter(queries)
        .buffered(REMOTE_CONCURRENCY)
        .collect()
        .await;
    Fetched(results)
}

/// Logs a rule's failure when it starts or changes, and its recovery: a remote that
/// stays down is one line, not one per round.
fn log_rule_errors(g: &Group, before: &[Option<String>]) {
    for (r, was) in g.rules.iter().zip(before) {
        match (&r.last_error, was) {
            (Some(e), w) if w.as_ref() != Some(e) => tracing::warn!(
                file = %g.def.file.display(), group = %g.def.name, rule = %r.def.name,
                "evaluating rule failed: {e}"
            ),
            (None, Some(_)) => tracing::info!(
                file = %g.def.file.display(), group = %g.def.name, rule = %r.def.name,
                "rule evaluation recovered"
            ),
            _ => {}
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn group_loop(
    key: String,
    group: Arc<Mutex<Group>>,
    interval: Duration,
    data: Data,
    ctx: EvalContext,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    let iv_ms = interval.as_millis().max(1) as i64;
    let (file, name) = {
        let g = lock(&group);
        (g.def.file.display().to_string(), g.def.name.clone())
    };
    let phase = group_phase_ms(&file, &name, interval);
    let now = now_ms(&shared.clock);
    let first = eval_timestamp(phase, iv_ms, now) + iv_ms - now;
    let mut ticker = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_millis(first.max(0) as u64),
        interval,
    );
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_ts = 0i64;
    let mut first_round = true;
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => return,
            _ = ticker.tick() => {}
        }
        let ts = eval_timestamp(phase, iv_ms, now_ms(&shared.clock));
        if last_ts != 0 {
            // Prometheus: ticks that passed while the previous round ran are missed.
            let missed = (ts - last_ts) / iv_ms - 1;
            if missed > 0 {
                shared.status.missed(&key, missed as u64);
            }
        }
        last_ts = ts;
        let start = std::time::Instant::now();
        // The network is waited on before the group is locked.
        let fetched = match &data {
            Data::Remote(r) => Some(fetch(r, &group, ts).await),
            Data::Local(_) => None,
        };
        let mut g = lock(&group);
        let before: Vec<Option<String>> = g.rules.iter().map(|r| r.last_error.clone()).collect();
        if let Some(mut f) = fetched {
            g.eval_from(&mut f, ts, &ctx);
        } else if let Data::Local(engine) = &data {
            let mut st = lock(&shared.store);
            g.eval(engine, &mut st, ts, &ctx);
        }
        log_rule_errors(&g, &before);
        if first_round {
            first_round = false;
            restore_state(&key, &mut g, &shared, ts);
        }
        let mut out = Vec::new();
        let mut failures = 0u64;
        for r in &mut g.rules {
            if r.last_error.is_some() {
                failures += 1;
            }
            let url = generator_url(&shared.external_url, &r.def.expr_text);
            for a in alerts_to_send(r, ts, RESEND_DELAY.as_millis() as i64, iv_ms) {
                let mut labels: crate::labels::LabelSet = a.labels.clone();
                for (k, v) in &ctx.external_labels {
                    labels.entry(k.clone()).or_insert_with(|| v.clone());
                }
                out.push(crate::alert::Alert {
                    labels,
                    annotations: a.annotations.clone(),
                    starts_at: to_time(a.fired_at),
                    ends_at: to_time(if a.resolved_at != 0 {
                        a.resolved_at
                    } else {
                        a.valid_until
                    }),
                    generator_url: url.clone(),
                    updated_at: shared.clock.now(),
                    timeout: false,
                });
            }
        }
        let took = start.elapsed();
        shared
            .status
            .evaluated(&key, &g, interval, ts, took, failures);
        save_state(&key, &g, &shared, ts);
        drop(g);
        if !out.is_empty() {
            (shared.sink)(out);
        }
    }
}

/// Prometheus restores `for` state from `ALERTS_FOR_STATE` after a restart; here the
/// active time of each alert that is active again on the first evaluation is taken
/// from the data directory, so it fires when it would have without the restart.
fn restore_state(key: &str, g: &mut Group, shared: &Shared, ts: i64) {
    let Some(saved) = lock(&shared.restore).remove(key) else {
        return;
    };
    for r in &mut g.rules {
        for a in r.active.values_mut() {
            if a.state != AlertState::Pending {
                continue;
            }
            if let Some(s) = saved
                .iter()
                .find(|s| s.rule == r.def.name && s.labels == a.labels)
                && s.active_at < a.active_at
            {
                a.active_at = s.active_at;
                if ts - a.active_at >= r.def.for_.as_millis_i64() {
                    a.state = AlertState::Firing;
                    a.fired_at = ts;
                }
            }
        }
    }
}

fn save_state(key: &str, g: &Group, shared: &Shared, ts: i64) {
    let mut now: Vec<SavedAlert> = g
        .rules
        .iter()
        .flat_map(|r| {
            r.active
                .values()
                .filter(|a| a.state != AlertState::Inactive)
                .map(|a| SavedAlert {
                    rule: r.def.name.clone(),
                    labels: a.labels.clone(),
                    active_at: a.active_at,
                })
        })
        .collect();
    now.sort_by(|a, b| (&a.rule, &a.labels).cmp(&(&b.rule, &b.labels)));
    let mut saved = lock(&shared.saved);
    let changed = saved.groups.get(key).map_or(!now.is_empty(), |v| *v != now);
    // While anything is active the file is rewritten each round, so its time says
    // when the process was last evaluating (the outage tolerance is measured from it).
    if !changed && now.is_empty() {
        return;
    }
    if now.is_empty() {
        saved.groups.remove(key);
    } else {
        saved.groups.insert(key.to_string(), now);
    }
    saved.saved_at = ts;
    let Ok(text) = serde_json::to_vec(&*saved) else {
        return;
    };
    let tmp = shared.state_path.with_extension("json.tmp");
    if let Err(e) =
        std::fs::write(&tmp, &text).and_then(|()| std::fs::rename(&tmp, &shared.state_path))
    {
        shared.status.state_write_failed(&e.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(job: &str) -> Sample {
        Sample {
            labels: [("__name__", "up"), ("job", job)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value: 0.0,
            drop_name: false,
        }
    }

    /// Remote mode: a failed query is the rule's error and changes nothing; the
    /// firing alert is neither resolved nor dropped, and is still re-sent.
    #[test]
    fn a_failing_remote_resolves_nothing() {
        let defs = crate::rules::parse_rules(
            Path::new("r.yml"),
            "groups:\n- name: g\n  rules:\n  - alert: Down\n    expr: up == 0\n    for: 2s\n",
        )
        .unwrap();
        let mut g = Group::new(defs[0].clone());
        let ctx = EvalContext::default();
        let round = |g: &mut Group, ts: i64, r: Result<Vec<Sample>, String>| {
            g.eval_from(&mut Fetched(vec![r]), ts, &ctx);
            let sent = alerts_to_send(&mut g.rules[0], ts, 1000, 1000);
            sent.iter()
                .map(|a| (a.state, a.resolved_at))
                .collect::<Vec<_>>()
        };
        assert!(
            round(&mut g, 0, Ok(vec![sample("a")])).is_empty(),
            "pending"
        );
        let firing = round(&mut g, 2000, Ok(vec![sample("a")]));
        assert_eq!(firing, [(AlertState::Firing, 0)]);
        for ts in [3000, 4500, 6000] {
            let sent = round(&mut g, ts, Err("remote query: connection refused".into()));
            assert!(
                sent.iter().all(|s| *s == (AlertState::Firing, 0)),
                "{ts}: {sent:?}"
            );
            assert!(g.rules[0].last_error.is_some());
            assert_eq!(g.rules[0].firing().len(), 1, "{ts}: still firing");
        }
        // The resend delay passed during the outage: re-sent, still firing.
        assert_eq!(
            round(&mut g, 7100, Err("down".into())),
            [(AlertState::Firing, 0)]
        );
        // Back, and the condition is gone: now it resolves.
        let back = round(&mut g, 8000, Ok(vec![]));
        assert_eq!(back, [(AlertState::Inactive, 8000)]);
        assert!(g.rules[0].last_error.is_none());
    }

    #[test]
    fn groups_evaluate_at_their_phase_in_the_interval() {
        let iv = Duration::from_secs(15);
        let p = group_phase_ms("/etc/rules.yml", "targets", iv);
        assert!((0..15_000).contains(&p));
        assert_ne!(p, group_phase_ms("/etc/rules.yml", "host", iv));
        for now in [1_000_000, 1_000_001, 1_014_999] {
            let ts = eval_timestamp(p, 15_000, now);
            assert!(ts <= now && now - ts < 15_000, "{now}: {ts}");
            assert_eq!((ts - p).rem_euclid(15_000), 0);
        }
    }

    #[test]
    fn retention_covers_the_longest_range_offset_and_for() {
        let e = |s: &str| crate::promql::parse_expr(s).unwrap();
        assert_eq!(max_range_ms(&e("up == 0")), 0);
        assert_eq!(max_range_ms(&e("rate(x[5m]) > 1")), 300_000);
        assert_eq!(max_range_ms(&e("sum(rate(x[1m] offset 1h))")), 3_660_000);
        assert_eq!(
            max_range_ms(&e("max_over_time(rate(x[2m])[10m:1m])")),
            720_000
        );
        assert_eq!(
            max_range_ms(&e("predict_linear(x[6h], 4*3600) < 0")),
            21_600_000
        );
    }
}
