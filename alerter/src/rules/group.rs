//! Rule evaluation: Prometheus's alert state machine (rules/alerting.go) and recording rules,
//! one group at a time. Used by `test-rules` and by the live evaluation loop.

use super::file::{GroupDef, RuleDef, RuleKind};
use super::template::{TemplateData, query_escape};
use crate::promql::{Engine, Labels, Sample, Store, Value, stale_nan};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Inactive (resolved) alerts are kept and re-sent this long (ms).
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of a rule. Times are ms since the epoch; 0 means unset.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub labels: Labels,
    pub annotations: Labels,
    pub state: AlertState,
    pub value: f64,
    pub active_at: i64,
    pub fired_at: i64,
    pub resolved_at: i64,
    pub last_sent_at: i64,
    pub valid_until: i64,
    pub keep_firing_since: i64,
}

/// Evaluation-wide context.
#[derive(Debug, Clone, Default)]
pub struct EvalContext {
    pub external_labels: Labels,
    pub external_url: String,
}

/// A rule with its state.
#[derive(Debug, Clone)]
pub struct Rule {
    pub def: RuleDef,
    pub active: HashMap<Labels, Alert>,
    pub last_error: Option<String>,
    /// Output series written by the previous evaluation (for stale markers).
    prev_series: HashSet<Labels>,
}

/// An evaluated group and its rules' state.
#[derive(Debug, Clone)]
pub struct Group {
    pub def: GroupDef,
    pub rules: Vec<Rule>,
}

impl Group {
    pub fn new(def: GroupDef) -> Group {
        let rules = def
            .rules
            .iter()
            .map(|r| Rule {
                def: r.clone(),
                active: HashMap::new(),
                last_error: None,
                prev_series: HashSet::new(),
            })
            .collect();
        Group { def, rules }
    }

    /// Takes over the state of the rules of `old` that did not change (same kind, name,
    /// expression, `for`, `keep_firing_for`, labels and annotations), as Prometheus's
    /// reload copies state between equal rules (rules/manager.go CopyState).
    pub fn carry_state_from(&mut self, old: &Group) {
        let same = |a: &RuleDef, b: &RuleDef| {
            let raw = |v: &[(String, String, super::template::Template)]| {
                v.iter()
                    .map(|(k, r, _)| (k.clone(), r.clone()))
                    .collect::<Vec<_>>()
            };
            a.kind == b.kind
                && a.name == b.name
                && a.expr_text == b.expr_text
                && a.for_ == b.for_
                && a.keep_firing_for == b.keep_firing_for
                && raw(&a.labels) == raw(&b.labels)
                && raw(&a.annotations) == raw(&b.annotations)
        };
        let mut taken = vec![false; old.rules.len()];
        for r in &mut self.rules {
            if let Some(i) = old
                .rules
                .iter()
                .enumerate()
                .position(|(i, o)| !taken[i] && same(&o.def, &r.def))
            {
                taken[i] = true;
                r.active = old.rules[i].active.clone();
                r.prev_series = old.rules[i].prev_series.clone();
            }
        }
    }

    /// Evaluates every rule at `ts` against the local `store`, writing recording-rule
    /// output, ALERTS and ALERTS_FOR_STATE (and stale markers for series that went
    /// away) into it.
    pub fn eval(&mut self, engine: &Engine, store: &mut Store, ts: i64, ctx: &EvalContext) {
        self.eval_from(&mut Local { engine, store }, ts, ctx);
    }

    /// Evaluates every rule at `ts`, reading from and writing to `src`. A rule whose
    /// query fails keeps its alerts as they were (nothing resolves for want of data).
    pub fn eval_from(&mut self, src: &mut dyn Source, ts: i64, ctx: &EvalContext) {
        let limit = self.def.limit;
        let offset = self.def.query_offset.as_millis_i64();
        let glabels = self.def.labels.clone();
        for (i, rule) in self.rules.iter_mut().enumerate() {
            let res = src.query(i, &rule.def, ts - offset);
            let out = res.and_then(|res| match rule.def.kind {
                RuleKind::Alert => rule.eval_alert(res, ts, ctx, limit, &glabels),
                RuleKind::Record => rule.eval_record(res, limit, &glabels),
            });
            let samples = match out {
                Ok(s) => {
                    rule.last_error = None;
                    s
                }
                // As Prometheus: a failed rule writes nothing, not even stale
                // markers, so its output series do not vanish with its data source.
                Err(e) => {
                    rule.last_error = Some(e);
                    continue;
                }
            };
            let t = ts - offset;
            let mut now = HashSet::new();
            for s in &samples {
                src.append(&s.labels, t, s.value);
                now.insert(s.labels.clone());
            }
            for gone in rule.prev_series.difference(&now) {
                src.append(gone, t, stale_nan());
            }
            rule.prev_series = now;
        }
    }
}

/// Where a group's rules read their data and write their output series.
pub trait Source {
    /// The result of rule `index` (`rule`) at `t` (ms).
    fn query(&mut self, index: usize, rule: &RuleDef, t: i64) -> Result<Vec<Sample>, String>;
    /// An output series' sample (recording rules, ALERTS, stale markers).
    fn append(&mut self, labels: &Labels, t: i64, v: f64);
}

/// The engine over the in-memory store: output is written back, so recording rules
/// feed the rules after them.
pub struct Local<'a> {
    pub engine: &'a Engine,
    pub store: &'a mut Store,
}

impl Source for Local<'_> {
    fn query(&mut self, _: usize, rule: &RuleDef, t: i64) -> Result<Vec<Sample>, String> {
        query(self.engine, self.store, rule, t)
    }

    fn append(&mut self, labels: &Labels, t: i64, v: f64) {
        let _ = self.store.append(labels, t, v);
    }
}

fn query(engine: &Engine, store: &Store, def: &RuleDef, t: i64) -> Result<Vec<Sample>, String> {
    match engine.instant(store, &def.expr, t).map_err(|e| e.0)? {
        Value::Vector(v) => Ok(v),
        Value::Scalar(f) => Ok(vec![Sample {
            labels: Labels::new(),
            value: f,
            drop_name: false,
        }]),
        _ => Err("rule result is not a vector or scalar".into()),
    }
}

fn expand(t: &super::template::Template, data: &TemplateData) -> String {
    t.expand(data)
        .unwrap_or_else(|e| format!("<error expanding template: {e}>"))
}

impl Rule {
    fn eval_record(
        &mut self,
        mut v: Vec<Sample>,
        limit: u64,
        glabels: &BTreeMap<String, String>,
    ) -> Result<Vec<Sample>, String> {
        let mut seen = HashSet::new();
        for s in &mut v {
            s.labels.insert("__name__".into(), self.def.name.clone());
            for (k, val) in glabels {
                s.labels.insert(k.clone(), val.clone());
            }
            for (k, raw, _) in &self.def.labels {
                if raw.is_empty() {
                    s.labels.remove(k);
                } else {
                    s.labels.insert(k.clone(), raw.clone());
                }
            }
            if !seen.insert(s.labels.clone()) {
                return Err(
                    "vector contains metrics with the same labelset after applying rule labels"
                        .into(),
                );
            }
        }
        if limit > 0 && v.len() as u64 > limit {
            return Err(format!("exceeded limit of {limit} with {} series", v.len()));
        }
        Ok(v)
    }

    fn eval_alert(
        &mut self,
        res: Vec<Sample>,
        ts: i64,
        ctx: &EvalContext,
        limit: u64,
        glabels: &BTreeMap<String, String>,
    ) -> Result<Vec<Sample>, String> {
        let mut fresh: HashMap<Labels, Alert> = HashMap::new();
        for smpl in res {
            let mut l = smpl.labels.clone();
            l.remove("__name__");
            let data = TemplateData {
                labels: l.clone(),
                external_labels: ctx.external_labels.clone(),
                external_url: ctx.external_url.clone(),
                value: smpl.value,
            };
            for (k, v) in glabels {
                l.insert(k.clone(), v.clone());
            }
            for (k, _, t) in &self.def.labels {
                let v = expand(t, &data);
                if v.is_empty() {
                    l.remove(k);
                } else {
                    l.insert(k.clone(), v);
                }
            }
            l.insert("alertname".into(), self.def.name.clone());
            let annotations: Labels = self
                .def
                .annotations
                .iter()
                .map(|(k, _, t)| (k.clone(), expand(t, &data)))
                .collect();
            if fresh.contains_key(&l) {
                return Err(
                    "vector contains metrics with the same labelset after applying alert labels"
                        .into(),
                );
            }
            fresh.insert(
                l.clone(),
                Alert {
                    labels: l,
                    annotations,
                    state: AlertState::Pending,
                    value: smpl.value,
                    active_at: ts,
                    fired_at: 0,
                    resolved_at: 0,
                    last_sent_at: 0,
                    valid_until: 0,
                    keep_firing_since: 0,
                },
            );
        }
        let result_fps: HashSet<Labels> = fresh.keys().cloned().collect();
        for (k, a) in fresh {
            if let Some(e) = self.active.get_mut(&k)
                && e.state != AlertState::Inactive
            {
                e.value = a.value;
                e.annotations = a.annotations;
                continue;
            }
            self.active.insert(k, a);
        }
        let mut out = Vec::new();
        let mut num_active = 0u64;
        let mut delete = Vec::new();
        let mut keys: Vec<Labels> = self.active.keys().cloned().collect();
        keys.sort();
        for k in keys {
            let Some(a) = self.active.get_mut(&k) else {
                continue;
            };
            if !result_fps.contains(&k) {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && !self.def.keep_firing_for.is_zero() {
                    if a.keep_firing_since == 0 {
                        a.keep_firing_since = ts;
                    }
                    if ts - a.keep_firing_since < self.def.keep_firing_for.as_millis_i64() {
                        keep_firing = true;
                    }
                }
                if a.state == AlertState::Pending
                    || (a.resolved_at != 0 && ts - a.resolved_at > RESOLVED_RETENTION_MS)
                {
                    delete.push(k.clone());
                }
                if a.state != AlertState::Inactive && !keep_firing {
                    a.state = AlertState::Inactive;
                    a.resolved_at = ts;
                }
                if !keep_firing {
                    continue;
                }
            } else {
                a.keep_firing_since = 0;
            }
            num_active += 1;
            if a.state == AlertState::Pending && ts - a.active_at >= self.def.for_.as_millis_i64() {
                a.state = AlertState::Firing;
                a.fired_at = ts;
            }
            let mut l = a.labels.clone();
            l.insert("__name__".into(), "ALERTS".into());
            l.insert("alertstate".into(), a.state.as_str().into());
            out.push(Sample {
                labels: l,
                value: 1.0,
                drop_name: false,
            });
            let mut l = a.labels.clone();
            l.insert("__name__".into(), "ALERTS_FOR_STATE".into());
            out.push(Sample {
                labels: l,
                value: (a.active_at.div_euclid(1000)) as f64,
                drop_name: false,
            });
        }
        for k in delete {
            self.active.remove(&k);
        }
        if limit > 0 && num_active > limit {
            self.active.clear();
            return Err(format!(
                "exceeded limit of {limit} with {num_active} alerts"
            ));
        }
        Ok(out)
    }

    /// Firing alerts, sorted by labels.
    pub fn firing(&self) -> Vec<&Alert> {
        let mut v: Vec<&Alert> = self
            .active
            .values()
            .filter(|a| a.state == AlertState::Firing)
            .collect();
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
        v
    }
}

/// Marks alerts for sending as Prometheus's `sendAlerts` does: firing alerts and alerts
/// resolved since the last send, again after `resend_delay`. Returns the alerts to send with
/// `ends_at` = resolved time or `valid_until`.
pub fn alerts_to_send(
    rule: &mut Rule,
    ts: i64,
    resend_delay_ms: i64,
    interval_ms: i64,
) -> Vec<Alert> {
    let mut out = Vec::new();
    for a in rule.active.values_mut() {
        if a.state == AlertState::Pending {
            continue;
        }
        let needs = (a.resolved_at != 0 && a.last_sent_at < a.resolved_at)
            || a.last_sent_at + resend_delay_ms < ts;
        if !needs {
            continue;
        }
        a.last_sent_at = ts;
        a.valid_until = ts + 4 * interval_ms.max(resend_delay_ms);
        out.push(a.clone());
    }
    out
}

/// Prometheus's generator URL: `<external_url>/graph?g0.expr=<query-escaped expr>&g0.tab=1`.
pub fn generator_url(external_url: &str, expr: &str) -> String {
    let esc = query_escape(expr);
    format!(
        "{}/graph?g0.expr={esc}&g0.tab=1",
        external_url.trim_end_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_url_escapes_like_go() {
        assert_eq!(
            generator_url("http://prom:9090/", "up{job=\"a\"} == 0"),
            "http://prom:9090/graph?g0.expr=up%7Bjob%3D%22a%22%7D+%3D%3D+0&g0.tab=1"
        );
    }
}
