//! Rule unit tests in promtool's format (`promtool test rules`), with its semantics: input
//! series loaded up to each `evaluation_interval` tick (up to the latest eval_time of any test), every group evaluated at every tick,
//! alerts checked against the last tick at or before `eval_time` (firing alerts only),
//! `promql_expr_test`s run after the loop with exact float comparison.

use super::duration::parse_duration;
use super::file::{GroupDef, RuleError, check_files};
use super::glob::glob_files;
use super::group::{EvalContext, Group};
use crate::promql::series::{parse_series_labels, parse_values};
use crate::promql::{Engine, Labels, Store, Value, format_labels};
use config_values::Duration;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default)]
    rule_files: Vec<String>,
    evaluation_interval: Option<String>,
    #[serde(default)]
    group_eval_order: Vec<String>,
    #[serde(default)]
    fuzzy_compare: bool,
    #[serde(default)]
    tests: Vec<TestGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestGroup {
    interval: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    input_series: Vec<InputSeries>,
    #[serde(default)]
    alert_rule_test: Vec<AlertTest>,
    #[serde(default)]
    promql_expr_test: Vec<ExprTest>,
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    #[serde(default)]
    external_url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSeries {
    series: String,
    #[serde(default)]
    values: String,
}

fn zero() -> String {
    "0s".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertTest {
    /// promtool's default: 0.
    #[serde(default = "zero")]
    eval_time: String,
    /// Required; checked in `run_group` so an empty one is refused too, as promtool does.
    #[serde(default)]
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpAlert>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpAlert {
    #[serde(default)]
    exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    exp_annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExprTest {
    expr: String,
    /// promtool's default: 0.
    #[serde(default = "zero")]
    eval_time: String,
    #[serde(default)]
    exp_samples: Vec<ExpSample>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpSample {
    #[serde(default)]
    labels: String,
    value: f64,
}

/// The outcome of one test file: `Ok` or the failure messages (promtool's wording where
/// it matters).
pub fn run_test_file(path: &Path) -> Result<(), Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![format!("cannot read {}: {e}", path.display())])?;
    let tf: TestFile = serde_yaml::from_str(&text).map_err(|e| {
        let line = e
            .location()
            .map(|l| format!(":{}", l.line()))
            .unwrap_or_default();
        vec![format!("{}{line}: {e}", path.display())]
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut files: Vec<PathBuf> = Vec::new();
    for pat in &tf.rule_files {
        let p = base.join(pat);
        if pat.contains(['*', '?', '[']) {
            files.extend(glob_files(&p));
        } else {
            files.push(p);
        }
    }
    // As promtool: a group listed twice in group_eval_order is an error.
    for (i, g) in tf.group_eval_order.iter().enumerate() {
        if tf.group_eval_order[..i].contains(g) {
            return Err(vec![format!(
                "group_eval_order: group {g:?} is listed more than once"
            )]);
        }
    }
    let groups = check_files(&files)
        .map_err(|errs| errs.iter().map(RuleError::to_string).collect::<Vec<_>>())?;
    let eval_interval = match &tf.evaluation_interval {
        Some(s) => parse_duration(s)
            .map_err(|e| vec![format!("evaluation_interval: {e}")])?
            .as_millis_i64(),
        None => 60_000,
    };
    if eval_interval <= 0 {
        return Err(vec!["evaluation_interval must be positive".into()]);
    }
    let mut errs = Vec::new();
    for tg in &tf.tests {
        if let Err(e) = run_group(
            tg,
            &groups,
            &tf.group_eval_order,
            eval_interval,
            tf.fuzzy_compare,
        ) {
            errs.extend(e);
        }
    }
    if errs.is_empty() { Ok(()) } else { Err(errs) }
}

fn fmt_alerts(v: &[(Labels, Labels)]) -> String {
    let parts: Vec<String> = v
        .iter()
        .enumerate()
        .map(|(i, (l, a))| {
            format!(
                "{i}:\n            Labels:{}\n            Annotations:{}",
                format_labels(l),
                format_labels(a)
            )
        })
        .collect();
    format!("[\n{}\n        ]", parts.join("\n"))
}

fn run_group(
    tg: &TestGroup,
    defs: &[GroupDef],
    order: &[String],
    eval_interval: i64,
    fuzzy: bool,
) -> Result<(), Vec<String>> {
    let name = if tg.name.is_empty() {
        String::new()
    } else {
        format!("    name: {},\n", tg.name)
    };
    let fail = |m: String| vec![format!("{name}{m}")];
    let interval = match &tg.interval {
        Some(s) => parse_duration(s)
            .map_err(|e| fail(format!("    interval: {e}")))?
            .as_millis_i64(),
        None => eval_interval,
    };
    if interval <= 0 {
        return Err(fail("    interval must be positive".into()));
    }
    // Input samples, all series, in time order.
    // Each series' labels once; a sample refers to them by index (a 100-day group of 1m
    // samples would otherwise hold a label-set copy per sample).
    let mut series_labels: Vec<Labels> = Vec::new();
    let mut input: Vec<(i64, usize, f64)> = Vec::new();
    for s in &tg.input_series {
        let labels = parse_series_labels(&s.series).map_err(|e| fail(format!("    {e}")))?;
        let vals =
            parse_values(&s.values).map_err(|e| fail(format!("    series {:?}: {e}", s.series)))?;
        for (i, v) in vals.into_iter().enumerate() {
            if let Some(v) = v {
                input.push((i as i64 * interval, series_labels.len(), v));
            }
        }
        series_labels.push(labels);
    }
    input.sort_by_key(|a| a.0);
    input.shrink_to_fit();
    let mut groups: Vec<Group> = defs.iter().cloned().map(Group::new).collect();
    if !order.is_empty() {
        let pos = |g: &Group| {
            order
                .iter()
                .position(|n| n == &g.def.name)
                .unwrap_or(usize::MAX)
        };
        groups.sort_by_key(pos);
    }
    let mut alert_times: Vec<(i64, &AlertTest)> = Vec::new();
    for at in &tg.alert_rule_test {
        if at.alertname.is_empty() {
            return Err(fail(format!(
                "    alert_rule_test: an item without alertname (eval_time {})",
                at.eval_time
            )));
        }
        let t = parse_duration(&at.eval_time)
            .map_err(|e| fail(format!("    eval_time: {e}")))?
            .as_millis_i64();
        alert_times.push((t, at));
    }
    alert_times.sort_by_key(|x| x.0);
    // promtool loads inputs up to the latest eval_time of any test in the group, alert or
    // promql (testGroup.maxEvalTime in promtool's unittest.go).
    let mut maxt = alert_times.last().map(|x| x.0).unwrap_or(0);
    for et in &tg.promql_expr_test {
        if let Ok(t) = parse_duration(&et.eval_time) {
            maxt = maxt.max(t.as_millis_i64());
        }
    }
    let engine = Engine {
        default_subquery_step_ms: eval_interval,
        ..Engine::default()
    };
    let ctx = EvalContext {
        external_labels: tg.external_labels.clone().into_iter().collect(),
        external_url: tg.external_url.clone(),
    };
    let mut store = Store::new();
    let mut next_input = 0;
    let mut errs = Vec::new();
    let mut curr = 0;
    let mut ts = 0;
    while ts <= maxt {
        while next_input < input.len() && input[next_input].0 <= ts {
            let (t, l, v) = input[next_input];
            let _ = store.append(&series_labels[l], t, v);
            next_input += 1;
        }
        let mut eval_errs = Vec::new();
        for g in &mut groups {
            g.eval(&engine, &mut store, ts, &ctx);
            for r in &g.rules {
                if let Some(e) = &r.last_error {
                    eval_errs.push(format!(
                        "    rule: {}, time: {}, err: {e}",
                        r.def.name,
                        fmt_dur(ts)
                    ));
                }
            }
        }
        if !eval_errs.is_empty() {
            errs.extend(eval_errs);
            return Err(errs.into_iter().map(|e| format!("{name}{e}")).collect());
        }
        while curr < alert_times.len()
            && ts <= alert_times[curr].0
            && alert_times[curr].0 < ts + eval_interval
        {
            let (t, at) = alert_times[curr];
            let mut got: Vec<(Labels, Labels)> = Vec::new();
            for g in &groups {
                for r in &g.rules {
                    if r.def.name == at.alertname && r.def.kind == super::file::RuleKind::Alert {
                        got.extend(
                            r.firing()
                                .into_iter()
                                .map(|a| (a.labels.clone(), a.annotations.clone())),
                        );
                    }
                }
            }
            let mut exp: Vec<(Labels, Labels)> = at
                .exp_alerts
                .iter()
                .map(|e| {
                    let mut l: Labels = e.exp_labels.clone().into_iter().collect();
                    l.insert("alertname".into(), at.alertname.clone());
                    (l, e.exp_annotations.clone().into_iter().collect())
                })
                .collect();
            got.sort();
            exp.sort();
            if got != exp {
                errs.push(format!(
                    "    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
                    at.alertname,
                    fmt_dur(t),
                    fmt_alerts(&exp),
                    fmt_alerts(&got)
                ));
            }
            curr += 1;
        }
        ts += eval_interval;
    }
    for et in &tg.promql_expr_test {
        let t = match parse_duration(&et.eval_time) {
            Ok(t) => t.as_millis_i64(),
            Err(e) => {
                errs.push(format!("    expr: {:?}, eval_time: {e}", et.expr));
                continue;
            }
        };
        let got = crate::promql::parse_expr(&et.expr)
            .map_err(|e| e.to_string())
            .and_then(|ast| engine.instant(&store, &ast, t).map_err(|e| e.0));
        let got: Vec<(Labels, f64)> = match got {
            Ok(Value::Vector(v)) => v.into_iter().map(|s| (s.labels, s.value)).collect(),
            Ok(Value::Scalar(f)) => vec![(Labels::new(), f)],
            Ok(_) => {
                errs.push(format!(
                    "    expr: {:?}, time: {}, err: query result is not a vector or scalar",
                    et.expr,
                    fmt_dur(t)
                ));
                continue;
            }
            Err(e) => {
                errs.push(format!(
                    "    expr: {:?}, time: {}, err: {e}",
                    et.expr,
                    fmt_dur(t)
                ));
                continue;
            }
        };
        let mut exp = Vec::new();
        let mut bad = false;
        for s in &et.exp_samples {
            match parse_series_labels(&s.labels) {
                Ok(l) => exp.push((l, s.value)),
                Err(e) => {
                    errs.push(format!(
                        "    expr: {:?}, time: {}, err: labels {:?}: {e}",
                        et.expr,
                        fmt_dur(t),
                        s.labels
                    ));
                    bad = true;
                }
            }
        }
        if bad {
            continue;
        }
        let mut got = got;
        got.sort_by(|a, b| a.0.cmp(&b.0));
        exp.sort_by(|a, b| a.0.cmp(&b.0));
        let same = got.len() == exp.len()
            && got.iter().zip(&exp).all(|(g, e)| {
                g.0 == e.0
                    && (g.1 == e.1
                        || (fuzzy && (g.1.to_bits() as i64 - e.1.to_bits() as i64).abs() <= 1))
            });
        if !same {
            let show = |v: &[(Labels, f64)]| {
                v.iter()
                    .map(|(l, f)| format!("{} {f}", format_labels(l)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            errs.push(format!(
                "    expr: {:?}, time: {},\n        exp: {}\n        got: {}",
                et.expr,
                fmt_dur(t),
                show(&exp),
                show(&got)
            ));
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.into_iter().map(|e| format!("{name}{e}")).collect())
    }
}

/// A duration as Prometheus prints it (`5m`, `1h30m`, `0s`).
pub fn fmt_dur(ms: i64) -> String {
    let s = Duration::from_millis(ms.unsigned_abs()).to_string();
    if ms < 0 { format!("-{s}") } else { s }
}
