//! Live rule evaluation, embedded mode: scrape the configured targets into the PromQL
//! engine's in-memory store and evaluate the rule groups on their interval, handing
//! firing and resolved alerts to the dispatcher in-process.
//!
//! Runs on its own thread with its own single-threaded runtime, so neither a slow
//! scrape nor a long evaluation round ever holds the server's runtime thread (the
//! API keeps answering). Owns the store, the scrapers, the groups' `for` state (kept
//! across reloads for unchanged rules, and across restarts in the data directory)
//! and what `/api/v1/rules`, `/api/v1/alerts` and the self-metrics show.
//!
//! [`scrape`] compiles `scrape_configs` and scrapes one target; [`exposition`] parses
//! what it returns; [`status`] is the read side for the API and metrics.

pub mod exposition;
pub mod scrape;
pub mod status;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use promql_parser::parser::{Expr, Offset};
use tokio::sync::{mpsc, oneshot};

use crate::promql::{Engine, Labels, Store};
use crate::rules::group::{AlertState, Group, alerts_to_send, generator_url};
use crate::rules::{EvalContext, GroupDef};
use crate::sync::lock;
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
    crate::rules::file::load_patterns(base_dir, patterns)
}

/// Where evaluated alerts go: the dispatcher's ingest.
pub type Sink = Arc<dyn Fn(Vec<crate::alert::Alert>) + Send + Sync>;

/// The running evaluator: its thread takes new settings on reload.
pub struct Ruler {
    tx: mpsc::UnboundedSender<Arc<Settings>>,
    pub status: Arc<Status>,
}

impl Ruler {
    /// Starts the evaluator thread with `settings`.
    pub fn start(
        settings: Arc<Settings>,
        sink: Sink,
        data_dir: &Path,
        external_url: String,
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
                rt.block_on(run(settings, rx, sink, st, state_path, external_url));
            })
            .map_err(|e| format!("rule evaluator: cannot start its thread: {e}"))?;
        Ok(Ruler { tx, status })
    }

    /// Puts new settings in service (rules and targets); unchanged rules keep state.
    pub fn update(&self, settings: Arc<Settings>) {
        let _ = self.tx.send(settings);
    }
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
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
}

async fn run(
    first: Arc<Settings>,
    mut rx: mpsc::UnboundedReceiver<Arc<Settings>>,
    sink: Sink,
    status: Arc<Status>,
    state_path: PathBuf,
    external_url: String,
) {
    let restore = read_state(&state_path);
    let shared = Arc::new(Shared {
        store: Arc::new(Mutex::new(Store::new())),
        sink,
        status,
        state_path,
        saved: Mutex::new(SavedState::default()),
        restore: Mutex::new(restore),
        external_url,
    });
    let retention = Arc::new(std::sync::atomic::AtomicI64::new(first.retention_ms()));
    {
        let (store, retention) = (shared.store.clone(), retention.clone());
        tokio::spawn(async move {
            let mut t = tokio::time::interval(Duration::from_secs(60));
            loop {
                t.tick().await;
                let keep = retention.load(std::sync::atomic::Ordering::Relaxed);
                lock(&store).truncate_before(now_ms() - keep);
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

fn read_state(path: &Path) -> BTreeMap<String, Vec<SavedAlert>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return BTreeMap::new();
    };
    match serde_json::from_str::<SavedState>(&text) {
        Ok(s) if now_ms() - s.saved_at <= FOR_OUTAGE_TOLERANCE_MS => s.groups,
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
        let done = tokio::spawn(scrape_loop(scraper, shared.store.clone(), rx));
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
        let done = tokio::spawn(group_loop(
            key.clone(),
            group.clone(),
            interval,
            engine.clone(),
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
) {
    let iv = scraper.target.interval;
    let first = scrape::offset(&scraper.target.key, iv, now_ms());
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + first, iv);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => break,
            _ = ticker.tick() => {}
        }
        let ts = now_ms();
        tokio::select! {
            biased;
            _ = &mut stop => break,
            () = scraper.scrape(&store, ts) => {}
        }
    }
    scraper.retire(&store, now_ms());
}

#[allow(clippy::too_many_arguments)]
async fn group_loop(
    key: String,
    group: Arc<Mutex<Group>>,
    interval: Duration,
    engine: Engine,
    ctx: EvalContext,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    let iv_ms = interval.as_millis().max(1) as i64;
    let first = scrape::offset(&key, interval, now_ms());
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + first, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_ts = 0i64;
    let mut first_round = true;
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => return,
            _ = ticker.tick() => {}
        }
        let ts = now_ms();
        if last_ts != 0 {
            // Prometheus: ticks that passed while the previous round ran are missed.
            let missed = (ts - last_ts) / iv_ms - 1;
            if missed > 0 {
                shared.status.missed(&key, missed as u64);
            }
        }
        last_ts = ts;
        let start = std::time::Instant::now();
        let mut g = lock(&group);
        {
            let mut st = lock(&shared.store);
            g.eval(&engine, &mut st, ts, &ctx);
        }
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
                    updated_at: Utc::now(),
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
