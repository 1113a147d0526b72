//! The read side of the evaluator: what each group's last evaluation left, in
//! Prometheus's `/api/v1/rules` and `/api/v1/alerts` shapes, the targets' scrape
//! health, and the self-metrics named as Prometheus names them (`alerter_` prefix).
//! Written by the evaluator thread after each round; read by the API without ever
//! waiting on an evaluation.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde_json::{Value, json};

use super::scrape::{Health, Target};
use crate::rules::file::RuleKind;
use crate::rules::group::{AlertState, Group};
use crate::sync::{lock, read, write};

#[derive(Clone, Debug, Default)]
struct GroupStatus {
    json: Value,
    alerts: Vec<Value>,
    rules: usize,
    last_duration: f64,
    interval: f64,
    missed: u64,
    failures: u64,
    evaluations: u64,
}

#[derive(Default)]
pub struct Status {
    groups: RwLock<BTreeMap<String, GroupStatus>>,
    targets: RwLock<Vec<(Target, Arc<Mutex<Health>>)>>,
    state_write_errors: Mutex<u64>,
}

fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A value as Go's `strconv.FormatFloat(v, 'e', -1, 64)` writes it (Prometheus's
/// alert `value`): `1e+00`, `2.5e-01`, `NaN`, `+Inf`.
pub fn go_float_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let s = format!("{v:e}");
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    let sign = if e < 0 { '-' } else { '+' };
    format!("{m}e{sign}{:02}", e.abs())
}

fn raw_map(v: &[(String, String, crate::rules::template::Template)]) -> Value {
    Value::Object(
        v.iter()
            .map(|(k, r, _)| (k.clone(), Value::String(r.clone())))
            .collect(),
    )
}

impl Status {
    pub fn target_health(&self, key: &str) -> Option<Arc<Mutex<Health>>> {
        read(&self.targets)
            .iter()
            .find(|(t, _)| t.key == key)
            .map(|(_, h)| h.clone())
    }

    pub fn set_targets(&self, t: Vec<(Target, Arc<Mutex<Health>>)>) {
        *write(&self.targets) = t;
    }

    pub fn retain_groups(&self, keys: &[String]) {
        write(&self.groups).retain(|k, _| keys.contains(k));
    }

    pub fn missed(&self, key: &str, n: u64) {
        write(&self.groups)
            .entry(key.to_string())
            .or_default()
            .missed += n;
    }

    pub fn state_write_failed(&self, e: &str) {
        let mut n = lock(&self.state_write_errors);
        if *n == 0 {
            tracing::error!("cannot write the rules' for-state to the data directory: {e}");
        }
        *n += 1;
    }

    /// Records a finished evaluation round of group `key`.
    pub fn evaluated(
        &self,
        key: &str,
        g: &Group,
        interval: Duration,
        ts: i64,
        took: Duration,
        failures: u64,
    ) {
        let took_s = took.as_secs_f64();
        let last = rfc3339(ts);
        let mut all_alerts = Vec::new();
        let rules: Vec<Value> = g
            .rules
            .iter()
            .map(|r| {
                let health = if r.last_error.is_some() { "err" } else { "ok" };
                let mut v = match r.def.kind {
                    RuleKind::Alert => {
                        let mut active: Vec<_> = r
                            .active
                            .values()
                            .filter(|a| a.state != AlertState::Inactive)
                            .collect();
                        active.sort_by(|a, b| a.labels.cmp(&b.labels));
                        let state = if active.iter().any(|a| a.state == AlertState::Firing) {
                            "firing"
                        } else if active.is_empty() {
                            "inactive"
                        } else {
                            "pending"
                        };
                        let alerts: Vec<Value> = active
                            .iter()
                            .map(|a| {
                                json!({
                                    "labels": a.labels,
                                    "annotations": a.annotations,
                                    "state": a.state.as_str(),
                                    "activeAt": rfc3339(a.active_at),
                                    "value": go_float_e(a.value),
                                })
                            })
                            .collect();
                        all_alerts.extend(alerts.iter().cloned());
                        json!({
                            "state": state,
                            "name": r.def.name,
                            "query": r.def.expr_text,
                            "duration": r.def.for_.as_millis_i64() as f64 / 1000.0,
                            "keepFiringFor": r.def.keep_firing_for.as_millis_i64() as f64 / 1000.0,
                            "labels": raw_map(&r.def.labels),
                            "annotations": raw_map(&r.def.annotations),
                            "alerts": alerts,
                            "health": health,
                            "evaluationTime": 0.0,
                            "lastEvaluation": last,
                            "type": "alerting",
                        })
                    }
                    RuleKind::Record => json!({
                        "name": r.def.name,
                        "query": r.def.expr_text,
                        "labels": raw_map(&r.def.labels),
                        "health": health,
                        "evaluationTime": 0.0,
                        "lastEvaluation": last,
                        "type": "recording",
                    }),
                };
                if let (Some(e), Some(o)) = (&r.last_error, v.as_object_mut()) {
                    o.insert("lastError".into(), Value::String(e.clone()));
                }
                v
            })
            .collect();
        let json = json!({
            "name": g.def.name,
            "file": g.def.file.display().to_string(),
            "rules": rules,
            "interval": interval.as_secs_f64(),
            "limit": g.def.limit,
            "evaluationTime": took_s,
            "lastEvaluation": last,
        });
        let mut groups = write(&self.groups);
        let s = groups.entry(key.to_string()).or_default();
        s.json = json;
        s.alerts = all_alerts;
        s.rules = g.rules.len();
        s.last_duration = took_s;
        s.interval = interval.as_secs_f64();
        s.failures += failures;
        s.evaluations += 1;
    }

    /// `GET /api/v1/rules`'s body.
    pub fn rules_json(&self) -> Value {
        let groups: Vec<Value> = read(&self.groups)
            .values()
            .filter(|g| !g.json.is_null())
            .map(|g| g.json.clone())
            .collect();
        json!({"status": "success", "data": {"groups": groups}})
    }

    /// `GET /api/v1/alerts`'s body: pending and firing alerts.
    pub fn alerts_json(&self) -> Value {
        let alerts: Vec<Value> = read(&self.groups)
            .values()
            .flat_map(|g| g.alerts.iter().cloned())
            .collect();
        json!({"status": "success", "data": {"alerts": alerts}})
    }

    /// The evaluator's metrics in the text format (without `# EOF`).
    pub fn encode_metrics(&self) -> String {
        type L = Vec<(String, String)>;
        let mut reg = Registry::default();
        let dur = Family::<L, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        let interval = Family::<L, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        let rules = Family::<L, Gauge>::default();
        let missed = Family::<L, Counter>::default();
        let failures = Family::<L, Counter>::default();
        let evals = Family::<L, Counter>::default();
        let up = Family::<L, Gauge>::default();
        let sdur = Family::<L, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        let samples = Family::<L, Gauge>::default();
        for (k, g) in read(&self.groups).iter() {
            let l = vec![("rule_group".to_string(), k.clone())];
            dur.get_or_create(&l).set(g.last_duration);
            interval.get_or_create(&l).set(g.interval);
            rules.get_or_create(&l).set(g.rules as i64);
            missed.get_or_create(&l).inc_by(g.missed);
            failures.get_or_create(&l).inc_by(g.failures);
            evals.get_or_create(&l).inc_by(g.evaluations);
        }
        for (t, h) in read(&self.targets).iter() {
            let h = lock(h).clone();
            let l = vec![
                ("job".to_string(), t.job.clone()),
                (
                    "instance".to_string(),
                    t.labels.get("instance").cloned().unwrap_or_default(),
                ),
            ];
            up.get_or_create(&l).set(i64::from(h.up));
            sdur.get_or_create(&l).set(h.duration_secs);
            samples.get_or_create(&l).set(h.samples as i64);
        }
        reg.register(
            "alerter_rule_group_last_duration_seconds",
            "The duration of the last rule group evaluation",
            dur,
        );
        reg.register(
            "alerter_rule_group_interval_seconds",
            "The interval of a rule group",
            interval,
        );
        reg.register("alerter_rule_group_rules", "The number of rules", rules);
        reg.register(
            "alerter_rule_group_iterations_missed",
            "The total number of rule group evaluations missed due to slow rule group evaluation",
            missed,
        );
        reg.register(
            "alerter_rule_evaluation_failures",
            "The total number of rule evaluation failures",
            failures,
        );
        reg.register(
            "alerter_rule_group_iterations",
            "The total number of scheduled rule group evaluations",
            evals,
        );
        reg.register(
            "alerter_scrape_target_up",
            "1 if the target's last scrape succeeded, else 0",
            up,
        );
        reg.register(
            "alerter_scrape_target_duration_seconds",
            "How long the target's last scrape took",
            sdur,
        );
        reg.register(
            "alerter_scrape_target_samples",
            "Samples in the target's last scrape",
            samples,
        );
        let mut out = String::new();
        let _ = encode(&mut out, &reg);
        out.strip_suffix("# EOF\n").unwrap_or(&out).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::go_float_e;

    #[test]
    fn values_as_go_formats_them() {
        assert_eq!(go_float_e(1.0), "1e+00");
        assert_eq!(go_float_e(0.25), "2.5e-01");
        assert_eq!(go_float_e(123_456.0), "1.23456e+05");
        assert_eq!(go_float_e(f64::NAN), "NaN");
        assert_eq!(go_float_e(f64::NEG_INFINITY), "-Inf");
        assert_eq!(go_float_e(1e300), "1e+300");
    }
}
