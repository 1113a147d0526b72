//! A runner for Prometheus's promqltest `.test` script language (`load`, `clear`,
//! `eval instant|range`, `expect fail|ordered`), evaluating through our engine. Only instant and
//! range evaluations are checked; `expect warn|info` lines (annotations) are not.

use super::eval::{Engine, Value};
use super::number::almost_equal;
use super::series::{parse_series_labels, parse_values, split_series_line};
use super::{Labels, Store, format_labels, is_stale};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Pass,
    Fail(String),
    /// The eval uses something this runner does not handle (native histograms, …).
    Unsupported(String),
}

#[derive(Debug, Clone)]
pub struct EvalResult {
    pub line: usize,
    pub kind: &'static str,
    pub expr: String,
    pub outcome: Outcome,
    /// A native histogram took part (loaded data or expectation).
    pub native_histogram: bool,
}

/// A promqltest time or duration (`load 5m`, `eval instant at 1h30m`) in milliseconds:
/// promqltest reads both with prometheus/common's `model.ParseDuration`.
pub fn parse_time(s: &str) -> Result<i64, String> {
    config_values::Duration::parse(s)
        .map(config_values::Duration::as_millis_i64)
        .map_err(|e| e.to_string())
}

struct Cmd {
    line: usize,
    lines: Vec<String>,
}

fn commands(text: &str) -> Vec<Cmd> {
    let mut out = Vec::new();
    let mut cur: Option<Cmd> = None;
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            if let Some(c) = cur.take() {
                out.push(c);
            }
            continue;
        }
        let starts = ["load", "clear", "eval"].iter().any(|k| l.starts_with(k));
        if starts && let Some(c) = cur.take() {
            out.push(c);
        }
        match &mut cur {
            Some(c) => c.lines.push(l.to_string()),
            None => {
                cur = Some(Cmd {
                    line: i + 1,
                    lines: vec![l.to_string()],
                })
            }
        }
    }
    out.extend(cur);
    out
}

#[derive(Default)]
struct Data {
    series: BTreeMap<Labels, BTreeMap<i64, f64>>,
    store: Option<Store>,
    /// Metric names loaded as native histograms.
    native: std::collections::HashSet<String>,
}

impl Data {
    fn store(&mut self) -> &Store {
        if self.store.is_none() {
            let mut st = Store::new();
            for (l, pts) in &self.series {
                for (&t, &v) in pts {
                    let _ = st.append(l, t, v);
                }
            }
            self.store = Some(st);
        }
        self.store.get_or_insert_with(Store::new)
    }
}

/// Runs a whole script; one result per eval command.
pub fn run_script(text: &str, engine: &Engine) -> Vec<EvalResult> {
    let mut data = Data::default();
    let mut results = Vec::new();
    for cmd in commands(text) {
        let head = cmd.lines[0].clone();
        let mut words = head.split_whitespace();
        let first = words.next().unwrap_or("");
        match first {
            "clear" => data = Data::default(),
            "load" | "load_with_nhcb" => {
                let Some(Ok(step)) = words.next().map(parse_time) else {
                    continue;
                };
                data.store = None;
                for l in &cmd.lines[1..] {
                    let Ok((s, vals)) = split_series_line(l) else {
                        continue;
                    };
                    if l.contains("{{") {
                        data.native
                            .insert(s.split('{').next().unwrap_or("").to_string());
                        continue;
                    }
                    let (Ok(labels), Ok(vals)) = (parse_series_labels(s), parse_values(vals))
                    else {
                        continue;
                    };
                    let e = data.series.entry(labels).or_default();
                    for (i, v) in vals.into_iter().enumerate() {
                        if let Some(v) = v {
                            e.insert(i as i64 * step, v);
                        }
                    }
                }
            }
            f if f.starts_with("eval") => {
                let r = run_eval(&cmd, &mut data, engine);
                results.push(r);
            }
            _ => {}
        }
    }
    results
}

fn run_eval(cmd: &Cmd, data: &mut Data, engine: &Engine) -> EvalResult {
    let head = &cmd.lines[0];
    let (verb, rest) = head.split_once(char::is_whitespace).unwrap_or((head, ""));
    let mut expect_fail = verb == "eval_fail";
    let mut ordered = verb == "eval_ordered";
    let rest = rest.trim();
    let mut res = EvalResult {
        line: cmd.line,
        kind: "instant",
        expr: String::new(),
        outcome: Outcome::Pass,
        native_histogram: false,
    };
    // eval instant at <t> <expr> | eval range from <a> to <b> step <s> <expr>
    let (times, expr) = if let Some(r) = rest.strip_prefix("instant") {
        let r = r.trim_start();
        let Some(r) = r.strip_prefix("at") else {
            res.outcome = Outcome::Unsupported(format!("cannot read {head:?}"));
            return res;
        };
        let r = r.trim_start();
        let (t, e) = r.split_once(char::is_whitespace).unwrap_or((r, ""));
        (vec![t.to_string()], e.trim().to_string())
    } else if let Some(r) = rest.strip_prefix("range") {
        res.kind = "range";
        let w: Vec<&str> = r.split_whitespace().collect();
        if w.len() < 7 || w[0] != "from" || w[2] != "to" || w[4] != "step" {
            res.outcome = Outcome::Unsupported(format!("cannot read {head:?}"));
            return res;
        }
        let e = r
            .splitn(8, char::is_whitespace)
            .filter(|x| !x.is_empty())
            .skip(6)
            .collect::<Vec<_>>()
            .join(" ");
        (
            vec![w[1].to_string(), w[3].to_string(), w[5].to_string()],
            e,
        )
    } else {
        res.outcome = Outcome::Unsupported(format!("cannot read {head:?}"));
        return res;
    };
    res.expr = expr.clone();
    res.native_histogram = expr
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .any(|w| data.native.contains(w))
        || (data.native.contains("") && expr.contains('{'));
    let mut expected = Vec::new();
    let mut want_string: Option<String> = None;
    let mut range_vector: Option<Vec<i64>> = None;
    for l in &cmd.lines[1..] {
        if let Some(x) = l.strip_prefix("expect") {
            let x = x.trim();
            if x.starts_with("fail") {
                expect_fail = true;
            } else if x.starts_with("ordered") {
                ordered = true;
            } else if let Some(r) = x.strip_prefix("string") {
                let r = r.trim();
                want_string = Some(
                    r.get(1..r.len().saturating_sub(1))
                        .unwrap_or("")
                        .to_string(),
                );
            } else if let Some(r) = x.strip_prefix("range vector") {
                let w: Vec<&str> = r.split_whitespace().collect();
                let ts: Option<Vec<i64>> =
                    if w.len() == 6 && w[0] == "from" && w[2] == "to" && w[4] == "step" {
                        [w[1], w[3], w[5]]
                            .iter()
                            .map(|t| parse_time(t).ok())
                            .collect()
                    } else {
                        None
                    };
                match ts {
                    Some(ts) => range_vector = Some(ts),
                    None => {
                        res.outcome = Outcome::Unsupported(format!("expect {x}"));
                        return res;
                    }
                }
            }
            continue;
        }
        if l.starts_with("expected_fail_") {
            expect_fail = true;
            continue;
        }
        if l.contains("{{") {
            res.native_histogram = true;
        }
        expected.push(l.clone());
    }
    let times: Result<Vec<i64>, String> = times.iter().map(|t| parse_time(t)).collect();
    let times = match times {
        Ok(t) => t,
        Err(e) => {
            res.outcome = Outcome::Unsupported(e);
            return res;
        }
    };
    let parsed = super::parse_expr(&expr);
    let store = data.store();
    let result = parsed
        .map_err(|e| format!("parse error: {e}"))
        .and_then(|ast| {
            if res.kind == "instant" {
                engine.instant(store, &ast, times[0]).map_err(|e| e.0)
            } else {
                engine
                    .range(store, &ast, times[0], times[1], times[2])
                    .map(Value::Matrix)
                    .map_err(|e| e.0)
            }
        });
    if res.native_histogram {
        res.outcome = Outcome::Unsupported("native histograms".into());
        return res;
    }
    res.outcome = match (result, expect_fail) {
        (Err(_), true) => Outcome::Pass,
        (Ok(_), true) => Outcome::Fail("expected an error, got a result".into()),
        (Err(e), false) => Outcome::Fail(format!("error: {e}")),
        (Ok(Value::String(got)), false) if want_string.is_some() => {
            if want_string.as_deref() == Some(got.as_str()) {
                Outcome::Pass
            } else {
                Outcome::Fail(format!("got string {got:?}, want {want_string:?}"))
            }
        }
        (Ok(v), false) => match compare(
            &v,
            &expected,
            ordered,
            range_vector.as_deref().unwrap_or(&times),
        ) {
            Ok(()) => Outcome::Pass,
            Err(e) => Outcome::Fail(e),
        },
    };
    res
}

fn eq(a: f64, b: f64) -> bool {
    if is_stale(a) || is_stale(b) {
        return is_stale(a) && is_stale(b);
    }
    almost_equal(a, b, 1e-6)
}

fn compare(v: &Value, expected: &[String], ordered: bool, times: &[i64]) -> Result<(), String> {
    match v {
        Value::Scalar(f) => {
            if expected.len() != 1 {
                return Err(format!("got scalar {f}, expected {expected:?}"));
            }
            let want =
                super::number::parse_float(&expected[0]).map_err(|e| format!("expected {e}"))?;
            if eq(*f, want) {
                Ok(())
            } else {
                Err(format!("got scalar {f}, want {want}"))
            }
        }
        Value::String(s) => Err(format!("got string {s:?}")),
        Value::Vector(vs) => {
            let mut want = Vec::new();
            for l in expected {
                let (s, val) = split_series_line(l)?;
                let labels = parse_series_labels(s)?;
                let vals = parse_values(val)?;
                let [Some(v)] = vals.as_slice() else {
                    return Err(format!("cannot read expected line {l:?}"));
                };
                want.push((labels, *v));
            }
            if want.len() != vs.len() {
                return Err(format!(
                    "got {} series, want {}: got {:?}",
                    vs.len(),
                    want.len(),
                    vs.iter()
                        .map(|s| format!("{} {}", format_labels(&s.labels), s.value))
                        .collect::<Vec<_>>()
                ));
            }
            for (i, (wl, wv)) in want.iter().enumerate() {
                let got = if ordered {
                    vs.get(i).filter(|s| &s.labels == wl)
                } else {
                    vs.iter().find(|s| &s.labels == wl)
                };
                match got {
                    None => {
                        return Err(format!(
                            "missing {} (ordered: {ordered})",
                            format_labels(wl)
                        ));
                    }
                    Some(s) if !eq(s.value, *wv) => {
                        return Err(format!("{}: got {}, want {wv}", format_labels(wl), s.value));
                    }
                    _ => {}
                }
            }
            Ok(())
        }
        Value::Matrix(ms) => {
            let (start, step) = (times[0], times.get(2).copied().unwrap_or(1));
            let mut want = Vec::new();
            for l in expected {
                let (s, val) = split_series_line(l)?;
                let labels = parse_series_labels(s)?;
                let vals = parse_values(val)?;
                let pts: Vec<(i64, f64)> = vals
                    .into_iter()
                    .enumerate()
                    .filter_map(|(i, v)| v.map(|v| (start + i as i64 * step, v)))
                    .collect();
                want.push((labels, pts));
            }
            if want.len() != ms.len() {
                return Err(format!(
                    "got {} series, want {}: got {:?}",
                    ms.len(),
                    want.len(),
                    ms.iter()
                        .map(|s| format!("{} {:?}", format_labels(&s.labels), s.points))
                        .collect::<Vec<_>>()
                ));
            }
            for (wl, wp) in &want {
                let Some(s) = ms.iter().find(|s| &s.labels == wl) else {
                    return Err(format!("missing {}", format_labels(wl)));
                };
                if s.points.len() != wp.len()
                    || s.points
                        .iter()
                        .zip(wp)
                        .any(|(a, b)| a.0 != b.0 || !eq(a.1, b.1))
                {
                    return Err(format!(
                        "{}: got {:?}, want {:?}",
                        format_labels(wl),
                        s.points,
                        wp
                    ));
                }
            }
            Ok(())
        }
    }
}
