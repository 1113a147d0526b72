//! Aggregation operators (`sum`, `avg`, `topk`, `count_values`, ...): how samples are grouped
//! (`by`, `without`) and what each operator computes per group, with Prometheus's float
//! behaviour (Kahan summation, incremental mean on overflow, NaN ordering in topk/bottomk).

use super::eval::{Ctx, EvalError, Sample, Value, err};
use super::number::{kahan_inc, quantile};
use super::{Labels, valid_label_name};
use promql_parser::parser::{AggregateExpr, LabelModifier};
use std::collections::HashMap;

/// The aggregation operators this engine evaluates (checked before evaluation).
pub(super) const AGGREGATIONS: &[&str] = &[
    "sum",
    "avg",
    "count",
    "min",
    "max",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "limitk",
];

impl Ctx<'_> {
    pub(super) fn aggregate(&self, a: &AggregateExpr, t: i64) -> Result<Value, EvalError> {
        let op = a.op.to_string().to_lowercase();
        let input = self.vector_arg(&a.expr, t)?;
        let param = match &a.param {
            Some(p) => Some(self.eval(p, t)?),
            None => None,
        };
        aggregate(&op, input, param, a.modifier.as_ref())
    }
}

#[derive(Default)]
struct Group {
    labels: Labels,
    count: f64,
    value: f64,
    c: f64,
    mean: f64,
    incremental: bool,
    members: Vec<Sample>,
}

fn grouping_labels(l: &Labels, modifier: Option<&LabelModifier>) -> Labels {
    match modifier {
        Some(LabelModifier::Include(by)) => l
            .iter()
            .filter(|(k, _)| by.labels.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        Some(LabelModifier::Exclude(w)) => l
            .iter()
            .filter(|(k, _)| k.as_str() != "__name__" && !w.labels.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        None => Labels::new(),
    }
}

fn fmt_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

fn aggregate(
    op: &str,
    input: Vec<Sample>,
    param: Option<Value>,
    modifier: Option<&LabelModifier>,
) -> Result<Value, EvalError> {
    let scalar_param = || match &param {
        Some(Value::Scalar(v)) => Ok(*v),
        _ => err(format!("{op} needs a scalar parameter")),
    };
    if op == "count_values" {
        let Some(Value::String(label)) = &param else {
            return err("count_values needs a string parameter");
        };
        if !valid_label_name(label) {
            return err(format!("invalid label name {label:?}"));
        }
        let mut groups: Vec<(Labels, f64)> = Vec::new();
        let mut idx: HashMap<Labels, usize> = HashMap::new();
        for s in input {
            let mut l = grouping_labels(&s.labels, modifier);
            l.insert(label.clone(), fmt_float(s.value));
            match idx.get(&l) {
                Some(&i) => groups[i].1 += 1.0,
                None => {
                    idx.insert(l.clone(), groups.len());
                    groups.push((l, 1.0));
                }
            }
        }
        return Ok(Value::Vector(
            groups
                .into_iter()
                .map(|(labels, value)| Sample {
                    labels,
                    value,
                    drop_name: false,
                })
                .collect(),
        ));
    }
    let mut groups: Vec<Group> = Vec::new();
    let mut idx: HashMap<Labels, usize> = HashMap::new();
    for s in input {
        let mut src = s.labels.clone();
        if s.drop_name {
            src.remove("__name__");
        }
        let gl = grouping_labels(&src, modifier);
        let i = match idx.get(&gl) {
            Some(&i) => i,
            None => {
                idx.insert(gl.clone(), groups.len());
                groups.push(Group {
                    labels: gl,
                    ..Default::default()
                });
                groups.len() - 1
            }
        };
        let g = &mut groups[i];
        let f = s.value;
        g.count += 1.0;
        match op {
            "sum" => (g.value, g.c) = kahan_inc(f, g.value, g.c),
            "avg" => {
                if g.count == 1.0 {
                    g.value = f;
                    continue;
                }
                if !g.incremental {
                    let (nv, nc) = kahan_inc(f, g.value, g.c);
                    if !nv.is_infinite() {
                        (g.value, g.c) = (nv, nc);
                        continue;
                    }
                    g.incremental = true;
                    g.mean = g.value / (g.count - 1.0);
                    g.c /= g.count - 1.0;
                }
                if g.mean.is_infinite() {
                    if f.is_infinite() && (g.mean > 0.0) == (f > 0.0) {
                        continue;
                    }
                    if !f.is_infinite() && !f.is_nan() {
                        continue;
                    }
                }
                let q = (g.count - 1.0) / g.count;
                (g.mean, g.c) = kahan_inc(f / g.count, q * g.mean, q * g.c);
            }
            "min" => {
                if g.count == 1.0 || f < g.value || g.value.is_nan() {
                    g.value = f
                }
            }
            "max" => {
                if g.count == 1.0 || f > g.value || g.value.is_nan() {
                    g.value = f
                }
            }
            "count" | "group" => {}
            "stddev" | "stdvar" => {
                if g.count == 1.0 {
                    g.mean = f;
                    g.value = if f.is_finite() { 0.0 } else { f64::NAN };
                } else {
                    let delta = f - g.mean;
                    g.mean += delta / g.count;
                    g.value += delta * (f - g.mean);
                }
            }
            "topk" | "bottomk" | "quantile" | "limitk" => g.members.push(s),
            _ => return err(format!("unsupported aggregation {op}")),
        }
    }
    let mut out = Vec::new();
    for g in groups {
        let value = match op {
            "sum" => g.value + g.c,
            "avg" => {
                if g.incremental {
                    g.mean + g.c
                } else {
                    g.value / g.count + g.c / g.count
                }
            }
            "min" | "max" => g.value,
            "count" => g.count,
            "group" => 1.0,
            "stddev" => (g.value / g.count).sqrt(),
            "stdvar" => g.value / g.count,
            "quantile" => quantile(scalar_param()?, g.members.iter().map(|s| s.value).collect()),
            "topk" | "bottomk" | "limitk" => {
                let k = scalar_param()?;
                if k.is_nan() {
                    return err(format!("Parameter value is NaN for {op}"));
                }
                if k >= 1.0 {
                    let k = if k > 1e9 { usize::MAX } else { k as usize };
                    let mut m = g.members;
                    if op != "limitk" {
                        let top = op == "topk";
                        m.sort_by(|a, b| {
                            use std::cmp::Ordering::*;
                            match (a.value.is_nan(), b.value.is_nan()) {
                                (true, true) => Equal,
                                (true, false) => Greater,
                                (false, true) => Less,
                                _ if top => b.value.partial_cmp(&a.value).unwrap_or(Equal),
                                _ => a.value.partial_cmp(&b.value).unwrap_or(Equal),
                            }
                        });
                    }
                    out.extend(m.into_iter().take(k));
                }
                continue;
            }
            _ => unreachable_op(op)?,
        };
        out.push(Sample {
            labels: g.labels,
            value,
            drop_name: false,
        });
    }
    if op == "quantile" {
        scalar_param()?;
    }
    Ok(Value::Vector(out))
}

fn unreachable_op(op: &str) -> Result<f64, EvalError> {
    err(format!("unsupported aggregation {op}"))
}
