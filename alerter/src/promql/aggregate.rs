//! Aggregation operators (`sum`, `avg`, `topk`, `count_values`, ...), in one table
//! ([`AGGREGATIONS`]): how samples are grouped (`by`, `without`) and what each operator
//! computes per group, with Prometheus's float behaviour (Kahan summation, incremental mean on
//! overflow, NaN ordering in topk/bottomk). Adding an operator is one entry here.

use super::eval::{Ctx, EvalError, Sample, Value, err};
use super::number::{cmp_nan_last, kahan_inc, quantile};
use super::{Labels, valid_label_name};
use promql_parser::parser::{AggregateExpr, LabelModifier};
use std::collections::HashMap;

/// One aggregation operator: its name and how it computes its result.
pub(super) struct Aggregation {
    name: &'static str,
    how: How,
}

enum How {
    /// One sample per distinct value, counting the samples that have it (`count_values`).
    CountValues,
    /// One result per group of the `by`/`without` grouping.
    PerGroup(PerGroup),
}

#[derive(Clone, Copy)]
enum PerGroup {
    /// Each sample's value is folded into its group (`add`, after the group's `count` has
    /// counted it); the group's result is read off it at the end (`result`).
    Fold {
        add: fn(&mut Group, f64),
        result: fn(&Group) -> f64,
    },
    /// The scalar parameter's quantile of the group's values.
    Quantile,
    /// Up to k (the scalar parameter) of the group's samples themselves.
    Keep(Keep),
}

/// Which k samples `topk`, `bottomk` and `limitk` keep.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// The largest, NaN last.
    Largest,
    /// The smallest, NaN last.
    Smallest,
    /// The first in input order.
    First,
}

const fn fold(
    name: &'static str,
    add: fn(&mut Group, f64),
    result: fn(&Group) -> f64,
) -> Aggregation {
    Aggregation {
        name,
        how: How::PerGroup(PerGroup::Fold { add, result }),
    }
}

const fn keep(name: &'static str, k: Keep) -> Aggregation {
    Aggregation {
        name,
        how: How::PerGroup(PerGroup::Keep(k)),
    }
}

/// Every aggregation operator this engine evaluates (checked before evaluation).
const AGGREGATIONS: &[Aggregation] = &[
    fold("sum", add_sum, |g| g.value + g.c),
    fold("avg", add_avg, avg),
    fold("count", |_, _| {}, |g| g.count),
    fold("min", add_min, |g| g.value),
    fold("max", add_max, |g| g.value),
    fold("group", |_, _| {}, |_| 1.0),
    fold("stddev", add_variance, |g| (g.value / g.count).sqrt()),
    fold("stdvar", add_variance, |g| g.value / g.count),
    keep("topk", Keep::Largest),
    keep("bottomk", Keep::Smallest),
    Aggregation {
        name: "quantile",
        how: How::PerGroup(PerGroup::Quantile),
    },
    Aggregation {
        name: "count_values",
        how: How::CountValues,
    },
    keep("limitk", Keep::First),
];

/// The aggregation operator `name`, if this engine evaluates it.
pub(super) fn aggregation(name: &str) -> Option<&'static Aggregation> {
    AGGREGATIONS.iter().find(|a| a.name == name)
}

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
    let Some(agg) = aggregation(op) else {
        // Only an expression check_supported refuses gets here: it fails on its first
        // sample, so an empty input still yields an empty result.
        if input.is_empty() {
            return Ok(Value::Vector(Vec::new()));
        }
        return err(format!("unsupported aggregation {op}"));
    };
    match agg.how {
        How::CountValues => count_values(input, param.as_ref(), modifier),
        How::PerGroup(how) => per_group(op, how, input, param.as_ref(), modifier),
    }
}

fn count_values(
    input: Vec<Sample>,
    param: Option<&Value>,
    modifier: Option<&LabelModifier>,
) -> Result<Value, EvalError> {
    let Some(Value::String(label)) = param else {
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
    Ok(Value::Vector(
        groups
            .into_iter()
            .map(|(labels, value)| Sample {
                labels,
                value,
                drop_name: false,
            })
            .collect(),
    ))
}

fn per_group(
    op: &str,
    how: PerGroup,
    input: Vec<Sample>,
    param: Option<&Value>,
    modifier: Option<&LabelModifier>,
) -> Result<Value, EvalError> {
    let scalar_param = || match param {
        Some(Value::Scalar(v)) => Ok(*v),
        _ => err(format!("{op} needs a scalar parameter")),
    };
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
        g.count += 1.0;
        match how {
            PerGroup::Fold { add, .. } => add(g, s.value),
            PerGroup::Quantile | PerGroup::Keep(_) => g.members.push(s),
        }
    }
    let mut out = Vec::new();
    for g in groups {
        let value = match how {
            PerGroup::Fold { result, .. } => result(&g),
            PerGroup::Quantile => {
                quantile(scalar_param()?, g.members.iter().map(|s| s.value).collect())
            }
            PerGroup::Keep(which) => {
                let k = scalar_param()?;
                if k.is_nan() {
                    return err(format!("Parameter value is NaN for {op}"));
                }
                if k >= 1.0 {
                    let k = if k > 1e9 { usize::MAX } else { k as usize };
                    let mut m = g.members;
                    if which != Keep::First {
                        let top = which == Keep::Largest;
                        m.sort_by(|a, b| cmp_nan_last(a.value, b.value, top));
                    }
                    out.extend(m.into_iter().take(k));
                }
                continue;
            }
        };
        out.push(Sample {
            labels: g.labels,
            value,
            drop_name: false,
        });
    }
    if matches!(how, PerGroup::Quantile) {
        scalar_param()?;
    }
    Ok(Value::Vector(out))
}

fn add_sum(g: &mut Group, f: f64) {
    (g.value, g.c) = kahan_inc(f, g.value, g.c);
}

/// Kahan summation while the sum stays finite, then an incremental mean, as Prometheus's
/// engine does so that averaging huge values does not overflow.
fn add_avg(g: &mut Group, f: f64) {
    if g.count == 1.0 {
        g.value = f;
        return;
    }
    if !g.incremental {
        let (nv, nc) = kahan_inc(f, g.value, g.c);
        if !nv.is_infinite() {
            (g.value, g.c) = (nv, nc);
            return;
        }
        g.incremental = true;
        g.mean = g.value / (g.count - 1.0);
        g.c /= g.count - 1.0;
    }
    if g.mean.is_infinite() {
        if f.is_infinite() && (g.mean > 0.0) == (f > 0.0) {
            return;
        }
        if !f.is_infinite() && !f.is_nan() {
            return;
        }
    }
    let q = (g.count - 1.0) / g.count;
    (g.mean, g.c) = kahan_inc(f / g.count, q * g.mean, q * g.c);
}

fn avg(g: &Group) -> f64 {
    if g.incremental {
        g.mean + g.c
    } else {
        g.value / g.count + g.c / g.count
    }
}

fn add_min(g: &mut Group, f: f64) {
    if g.count == 1.0 || f < g.value || g.value.is_nan() {
        g.value = f
    }
}

fn add_max(g: &mut Group, f: f64) {
    if g.count == 1.0 || f > g.value || g.value.is_nan() {
        g.value = f
    }
}

/// Welford's running variance: `mean` and the sum of squared deviations in `value`.
fn add_variance(g: &mut Group, f: f64) {
    if g.count == 1.0 {
        g.mean = f;
        g.value = if f.is_finite() { 0.0 } else { f64::NAN };
    } else {
        let delta = f - g.mean;
        g.mean += delta / g.count;
        g.value += delta * (f - g.mean);
    }
}
