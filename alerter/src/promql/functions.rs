//! The PromQL functions this engine evaluates, in one table ([`FUNCTIONS`]): each entry's name,
//! argument types and return type (Prometheus's signature, which promql-parser checks at parse
//! time; a test keeps the two in step) and its implementation. Adding a function is one entry
//! here. What the range functions compute from a window is in window.rs.

use super::eval::{Ctx, EvalError, Sample, Value, err};
use super::number::{almost_equal, cmp_nan_last, parse_float};
use super::window::{self, Window};
use super::{Labels, valid_label_name};
use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};
use promql_parser::label::MatchOp;
use promql_parser::parser::value::ValueType::{self, Matrix, Scalar, String as Str, Vector};
use promql_parser::parser::{Call, Expr};
use std::collections::{HashMap, HashSet};

/// One PromQL function. `variadic` and `returns` are read only by the test that keeps this
/// table in step with promql-parser's, which is what enforces them at parse time.
#[cfg_attr(not(test), allow(dead_code))]
pub(super) struct Function {
    pub name: &'static str,
    /// Argument types, optional ones included.
    pub args: &'static [ValueType],
    /// Prometheus's variadic count: 0 all arguments required, n > 0 the last n optional,
    /// negative: the last type repeats without bound.
    pub variadic: i32,
    pub returns: ValueType,
    pub imp: Impl,
}

/// How a function is evaluated.
pub(super) enum Impl {
    /// Applied to every sample of the instant-vector argument; the metric name is dropped.
    Math(fn(f64) -> f64),
    /// A calendar field (UTC) of every sample's value taken as Unix seconds, or of the
    /// evaluation time without an argument; the metric name is dropped.
    Date(fn(&DateTime<Utc>) -> f64),
    /// Computed from each series' window of the range-vector argument, with the scalar
    /// argument (if the signature has one) as the window's parameter. `keep_name`: the
    /// result keeps the metric name (`last_over_time`).
    Window {
        f: fn(&Window) -> Option<f64>,
        keep_name: bool,
    },
    /// Evaluates its own arguments.
    Call(fn(&Ctx, &Call, i64) -> Result<Value, EvalError>),
}

const fn math(name: &'static str, f: fn(f64) -> f64) -> Function {
    Function {
        name,
        args: &[Vector],
        variadic: 0,
        returns: Vector,
        imp: Impl::Math(f),
    }
}

const fn date(name: &'static str, f: fn(&DateTime<Utc>) -> f64) -> Function {
    Function {
        name,
        args: &[Vector],
        variadic: 1,
        returns: Vector,
        imp: Impl::Date(f),
    }
}

const fn over(name: &'static str, f: fn(&Window) -> Option<f64>) -> Function {
    Function {
        name,
        args: &[Matrix],
        variadic: 0,
        returns: Vector,
        imp: Impl::Window {
            f,
            keep_name: false,
        },
    }
}

const fn call(
    name: &'static str,
    args: &'static [ValueType],
    variadic: i32,
    returns: ValueType,
    f: fn(&Ctx, &Call, i64) -> Result<Value, EvalError>,
) -> Function {
    Function {
        name,
        args,
        variadic,
        returns,
        imp: Impl::Call(f),
    }
}

/// Every function this engine evaluates.
pub(super) const FUNCTIONS: &[Function] = &[
    call("time", &[], 0, Scalar, time),
    call("pi", &[], 0, Scalar, pi),
    call("vector", &[Scalar], 0, Vector, vector),
    call("scalar", &[Vector], 0, Scalar, scalar),
    call("timestamp", &[Vector], 0, Vector, timestamp),
    call("absent", &[Vector], 0, Vector, absent),
    call("absent_over_time", &[Matrix], 0, Vector, absent_over_time),
    over("rate", window::rate),
    over("increase", window::increase),
    over("delta", window::delta),
    over("irate", window::irate),
    over("idelta", window::idelta),
    over("deriv", window::deriv),
    Function {
        name: "predict_linear",
        args: &[Matrix, Scalar],
        variadic: 0,
        returns: Vector,
        imp: Impl::Window {
            f: window::predict_linear,
            keep_name: false,
        },
    },
    over("changes", window::changes),
    over("resets", window::resets),
    over("avg_over_time", window::avg_over_time),
    over("sum_over_time", window::sum_over_time),
    over("count_over_time", window::count_over_time),
    over("min_over_time", window::min_over_time),
    over("max_over_time", window::max_over_time),
    Function {
        name: "last_over_time",
        args: &[Matrix],
        variadic: 0,
        returns: Vector,
        imp: Impl::Window {
            f: window::last_over_time,
            keep_name: true,
        },
    },
    over("present_over_time", window::present_over_time),
    Function {
        name: "quantile_over_time",
        args: &[Scalar, Matrix],
        variadic: 0,
        returns: Vector,
        imp: Impl::Window {
            f: window::quantile_over_time,
            keep_name: false,
        },
    },
    over("stddev_over_time", window::stddev_over_time),
    over("stdvar_over_time", window::stdvar_over_time),
    call(
        "histogram_quantile",
        &[Scalar, Vector],
        0,
        Vector,
        histogram_quantile,
    ),
    call("round", &[Vector, Scalar], 1, Vector, round),
    call("clamp", &[Vector, Scalar, Scalar], 0, Vector, clamp),
    call("clamp_min", &[Vector, Scalar], 0, Vector, clamp),
    call("clamp_max", &[Vector, Scalar], 0, Vector, clamp),
    date("minute", |d| f64::from(d.minute())),
    date("hour", |d| f64::from(d.hour())),
    date("day_of_month", |d| f64::from(d.day())),
    date("day_of_week", |d| {
        f64::from(d.weekday().num_days_from_sunday())
    }),
    date("day_of_year", |d| f64::from(d.ordinal())),
    date("days_in_month", days_in_month),
    date("month", |d| f64::from(d.month())),
    date("year", |d| f64::from(d.year())),
    call("sort", &[Vector], 0, Vector, sort),
    call("sort_desc", &[Vector], 0, Vector, sort),
    call("sort_by_label", &[Vector, Str], -1, Vector, sort_by_label),
    call(
        "sort_by_label_desc",
        &[Vector, Str],
        -1,
        Vector,
        sort_by_label,
    ),
    call(
        "label_replace",
        &[Vector, Str, Str, Str, Str],
        0,
        Vector,
        label_replace,
    ),
    call(
        "label_join",
        &[Vector, Str, Str, Str],
        -1,
        Vector,
        label_join,
    ),
    math("abs", f64::abs),
    math("ceil", f64::ceil),
    math("floor", f64::floor),
    math("exp", f64::exp),
    math("sqrt", f64::sqrt),
    math("ln", f64::ln),
    math("log2", f64::log2),
    math("log10", f64::log10),
    math("sgn", sgn),
    math("deg", |v| v * 180.0 / std::f64::consts::PI),
    math("rad", |v| v * std::f64::consts::PI / 180.0),
    math("sin", f64::sin),
    math("cos", f64::cos),
    math("tan", f64::tan),
    math("asin", f64::asin),
    math("acos", f64::acos),
    math("atan", f64::atan),
    math("sinh", f64::sinh),
    math("cosh", f64::cosh),
    math("tanh", f64::tanh),
    math("asinh", f64::asinh),
    math("acosh", f64::acosh),
    math("atanh", f64::atanh),
];

/// The table entry for `name`, if this engine evaluates it.
pub(super) fn function(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

/// The `i`th argument expression of a call.
fn arg(c: &Call, i: usize) -> Result<&Expr, EvalError> {
    c.args
        .args
        .get(i)
        .map(|b| b.as_ref())
        .ok_or_else(|| EvalError(format!("{}: missing argument {i}", c.func.name)))
}

/// Every sample's value mapped by `f`; the metric name is dropped.
fn map_values(v: Vec<Sample>, f: impl Fn(f64) -> f64) -> Value {
    Value::Vector(
        v.into_iter()
            .map(|s| Sample {
                value: f(s.value),
                drop_name: true,
                labels: s.labels,
            })
            .collect(),
    )
}

impl Ctx<'_> {
    pub(super) fn call(&self, c: &Call, t: i64) -> Result<Value, EvalError> {
        let name = c.func.name;
        let Some(func) = function(name) else {
            return err(format!("function {name:?} is not supported by this engine"));
        };
        match func.imp {
            Impl::Call(f) => f(self, c, t),
            Impl::Math(f) => Ok(map_values(self.vector_arg(arg(c, 0)?, t)?, f)),
            Impl::Date(f) => {
                let v = match c.args.args.first() {
                    Some(a) => self.vector_arg(a, t)?,
                    None => vec![Sample {
                        labels: Labels::new(),
                        value: t as f64 / 1000.0,
                        drop_name: false,
                    }],
                };
                Ok(map_values(v, |secs| date_part(f, secs)))
            }
            Impl::Window { f, keep_name } => self.window_call(func, f, keep_name, c, t),
        }
    }

    /// A range function: the scalar parameter is evaluated before the range argument, as
    /// the evaluator always has.
    fn window_call(
        &self,
        func: &Function,
        f: fn(&Window) -> Option<f64>,
        keep_name: bool,
        c: &Call,
        t: i64,
    ) -> Result<Value, EvalError> {
        let param = match func.args.iter().position(|a| *a == Scalar) {
            Some(i) => self.scalar_arg(arg(c, i)?, t)?,
            None => 0.0,
        };
        let m = func.args.iter().position(|a| *a == Matrix).unwrap_or(0);
        let (series, end, range) = self.range_arg(arg(c, m)?, t)?;
        let mut out = Vec::new();
        for s in series {
            if s.points.is_empty() {
                continue;
            }
            let w = Window {
                points: &s.points,
                end,
                range,
                param,
            };
            if let Some(value) = f(&w) {
                out.push(Sample {
                    labels: s.labels,
                    value,
                    drop_name: !keep_name || s.drop_name,
                });
            }
        }
        Ok(Value::Vector(out))
    }
}

/// A calendar field of `secs` (Unix seconds, UTC); NaN for values that are no time.
fn date_part(f: fn(&DateTime<Utc>) -> f64, secs: f64) -> f64 {
    if !secs.is_finite() {
        return f64::NAN;
    }
    match Utc.timestamp_opt(secs.floor() as i64, 0).single() {
        Some(dt) => f(&dt),
        None => f64::NAN,
    }
}

fn days_in_month(dt: &DateTime<Utc>) -> f64 {
    let (y, m) = (dt.year(), dt.month());
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    match (
        chrono::NaiveDate::from_ymd_opt(y, m, 1),
        chrono::NaiveDate::from_ymd_opt(ny, nm, 1),
    ) {
        (Some(first), Some(next)) => (next - first).num_days() as f64,
        _ => f64::NAN,
    }
}

fn sgn(v: f64) -> f64 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        v
    }
}

fn time(_: &Ctx, _: &Call, t: i64) -> Result<Value, EvalError> {
    Ok(Value::Scalar(t as f64 / 1000.0))
}

fn pi(_: &Ctx, _: &Call, _: i64) -> Result<Value, EvalError> {
    Ok(Value::Scalar(std::f64::consts::PI))
}

fn vector(ctx: &Ctx, c: &Call, t: i64) -> Result<Value, EvalError> {
    let v = ctx.scalar_arg(arg(c, 0)?, t)?;
    Ok(Value::Vector(vec![Sample {
        labels: Labels::new(),
        value: v,
        drop_name: false,
    }]))
}

fn scalar(ctx: &Ctx, c: &Call, t: i64) -> Result<Value, EvalError> {
    let v = ctx.vector_arg(arg(c, 0)?, t)?;
    Ok(Value::Scalar(if v.len() == 1 {
        v[0].value
    } else {
        f64::NAN
    }))
}

fn timestamp(ctx: &Ctx, c: &Call, t: i64) -> Result<Value, EvalError> {
    let mut inner = arg(c, 0)?;
    while let Expr::Paren(p) = inner {
        inner = &p.expr;
    }
    let v = match inner {
        Expr::VectorSelector(vs) => ctx.vector_selector(vs, t, true)?,
        e => {
            let mut v = ctx.vector_arg(e, t)?;
            for s in &mut v {
                s.value = t as f64 / 1000.0;
            }
            v
        }
    };
    Ok(Value::Vector(
        v.into_iter()
            .map(|s| Sample {
                drop_name: true,
                ..s
            })
            .collect(),
    ))
}

fn absent(ctx: &Ctx, c: &Call, t: i64) -> Result<Value, EvalError> {
    let v = ctx.vector_arg(arg(c, 0)?, t)?;
    if !v.is_empty() {
        return Ok(Value::Vector(vec![]));
    }
    Ok(Value::Vector(vec![Sample {
        labels: absent_labels(arg(c, 0)?),
        value: 1.0,
        drop_name: false,
    }]))
}

fn absent_over_time(ctx: &Ctx, c: &Call, t: i64) -> Result<Value, EvalError> {
    let (s, _, _) = ctx.range_arg(arg(c, 0)?, t)?;
    if !s.is_empty() {
        return Ok(Value::Vector(vec![]));
    }
    let mut e = arg(c, 0)?;
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    let labels = match e {
        Expr::Subquery(_) => Labels::new(),
        e => absent_labels(e),
    };
    Ok(Value::Vector(vec![Sample {
        labels,
        value: 1.0,
        drop_name: false,
    }]))
}

fn histogram_quantile(ctx: &Ctx, c: &Call, t: i64) -> Result<Value, EvalError> {
    let q = ctx.scalar_arg(arg(c, 0)?, t)?;
    let v = ctx.vector_arg(arg(c, 1)?, t)?;
    let mut groups: Vec<(Labels, Vec<(f64, f64)>)> = Vec::new();
    let mut idx: HashMap<Labels, usize> = HashMap::new();
    for s in v {
        let Some(le) = s.labels.get("le") else {
            continue;
        };
        let Ok(ub) = parse_float(le) else { continue };
        let mut l = s.labels.clone();
        l.remove("le");
        l.remove("__name__");
        match idx.get(&l) {
            Some(&i) => groups[i].1.push((ub, s.value)),
            None => {
                idx.insert(l.clone(), groups.len());
                groups.push((l, vec![(ub, s.value)]));
            }
        }
    }
    Ok(Value::Vector(
        groups
            .into_iter()
            .map(|(labels, b)| Sample {
                labels,
                value: bucket_quantile(q, b),
                drop_name: false,
            })
            .collect(),
    ))
}

fn round(ctx: &Ctx, c: &Call, t: i64) -> Result<Value, EvalError> {
    let v = ctx.vector_arg(arg(c, 0)?, t)?;
    let to = match c.args.args.get(1) {
        Some(a) => ctx.scalar_arg(a, t)?,
        None => 1.0,
    };
    let inv = 1.0 / to;
    Ok(map_values(v, |f| (f * inv + 0.5).floor() / inv))
}

fn clamp(ctx: &Ctx, c: &Call, t: i64) -> Result<Value, EvalError> {
    let name = c.func.name;
    let v = ctx.vector_arg(arg(c, 0)?, t)?;
    let (lo, hi) = match name {
        "clamp" => (
            ctx.scalar_arg(arg(c, 1)?, t)?,
            ctx.scalar_arg(arg(c, 2)?, t)?,
        ),
        "clamp_min" => (ctx.scalar_arg(arg(c, 1)?, t)?, f64::NAN),
        _ => (f64::NAN, ctx.scalar_arg(arg(c, 1)?, t)?),
    };
    if name == "clamp" && hi < lo {
        return Ok(Value::Vector(vec![]));
    }
    Ok(map_values(v, |f| match name {
        "clamp" => go_max(lo, go_min(hi, f)),
        "clamp_min" => go_max(lo, f),
        _ => go_min(hi, f),
    }))
}

/// Go's `math.Max`, which Prometheus's clamp uses: +Inf wins over NaN, NaN over the rest
/// (Rust's `f64::max` ignores a NaN instead).
fn go_max(a: f64, b: f64) -> f64 {
    if a == f64::INFINITY || b == f64::INFINITY {
        f64::INFINITY
    } else if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Go's `math.Min`: -Inf wins over NaN, NaN over the rest.
fn go_min(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY || b == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

fn sort(ctx: &Ctx, c: &Call, t: i64) -> Result<Value, EvalError> {
    let name = c.func.name;
    let mut v = ctx.vector_arg(arg(c, 0)?, t)?;
    let desc = name == "sort_desc";
    v.sort_by(|a, b| cmp_nan_last(a.value, b.value, desc));
    Ok(Value::Vector(v))
}

fn sort_by_label(ctx: &Ctx, c: &Call, t: i64) -> Result<Value, EvalError> {
    let name = c.func.name;
    let mut v = ctx.vector_arg(arg(c, 0)?, t)?;
    let mut keys = Vec::new();
    for a in &c.args.args[1..] {
        keys.push(ctx.string_arg(a, t)?);
    }
    v.sort_by(|a, b| {
        let mut o = std::cmp::Ordering::Equal;
        for k in &keys {
            o = a.labels.get(k).cmp(&b.labels.get(k));
            if o.is_ne() {
                break;
            }
        }
        if o.is_eq() {
            o = a.labels.cmp(&b.labels);
        }
        if name == "sort_by_label_desc" {
            o.reverse()
        } else {
            o
        }
    });
    Ok(Value::Vector(v))
}

fn label_replace(ctx: &Ctx, c: &Call, t: i64) -> Result<Value, EvalError> {
    let v = ctx.vector_arg(arg(c, 0)?, t)?;
    let dst = ctx.string_arg(arg(c, 1)?, t)?;
    let repl = ctx.string_arg(arg(c, 2)?, t)?;
    let src = ctx.string_arg(arg(c, 3)?, t)?;
    let re = ctx.string_arg(arg(c, 4)?, t)?;
    let re = regex::Regex::new(&format!("^(?s:{re})$")).map_err(|e| {
        EvalError(format!(
            "invalid regular expression in label_replace(): {re}: {e}"
        ))
    })?;
    if !valid_label_name(&dst) {
        return err(format!(
            "invalid destination label name in label_replace(): {dst}"
        ));
    }
    let mut out = Vec::new();
    for mut s in v {
        let sv = s.labels.get(&src).cloned().unwrap_or_default();
        if let Some(caps) = re.captures(&sv) {
            let mut res = String::new();
            caps.expand(&repl, &mut res);
            if res.is_empty() {
                s.labels.remove(&dst);
            } else {
                s.labels.insert(dst.clone(), res);
            }
            if dst == "__name__" {
                s.drop_name = false;
            }
        }
        out.push(s);
    }
    Ok(Value::Vector(out))
}

fn label_join(ctx: &Ctx, c: &Call, t: i64) -> Result<Value, EvalError> {
    let v = ctx.vector_arg(arg(c, 0)?, t)?;
    let dst = ctx.string_arg(arg(c, 1)?, t)?;
    let sep = ctx.string_arg(arg(c, 2)?, t)?;
    let mut srcs = Vec::new();
    for a in &c.args.args[3..] {
        let s = ctx.string_arg(a, t)?;
        if !valid_label_name(&s) {
            return err(format!("invalid source label name in label_join(): {s}"));
        }
        srcs.push(s);
    }
    if !valid_label_name(&dst) {
        return err(format!(
            "invalid destination label name in label_join(): {dst}"
        ));
    }
    let mut out = Vec::new();
    for mut s in v {
        let joined: Vec<String> = srcs
            .iter()
            .map(|k| s.labels.get(k).cloned().unwrap_or_default())
            .collect();
        let joined = joined.join(&sep);
        if joined.is_empty() {
            s.labels.remove(&dst);
        } else {
            s.labels.insert(dst.clone(), joined);
        }
        if dst == "__name__" {
            s.drop_name = false;
        }
        out.push(s);
    }
    Ok(Value::Vector(out))
}

fn absent_labels(e: &Expr) -> Labels {
    let vs = match e {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::new(),
    };
    let mut out = Labels::new();
    let mut seen = HashSet::new();
    for m in &vs.matchers.matchers {
        if m.name == "__name__" {
            continue;
        }
        if m.op == MatchOp::Equal && !seen.contains(&m.name) {
            out.insert(m.name.clone(), m.value.clone());
        } else {
            out.remove(&m.name);
        }
        seen.insert(m.name.clone());
    }
    out
}

fn bucket_quantile(q: f64, mut b: Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    b.sort_by(|x, y| x.0.partial_cmp(&y.0).unwrap_or(std::cmp::Ordering::Equal));
    if b.last().is_none_or(|l| l.0 != f64::INFINITY) {
        return f64::NAN;
    }
    let mut c: Vec<(f64, f64)> = Vec::new();
    for (ub, n) in b {
        match c.last_mut() {
            Some(l) if l.0 == ub => l.1 += n,
            _ => c.push((ub, n)),
        }
    }
    let mut prev = c[0].1;
    // Prometheus's ensureMonotonic: a count below the previous one, or within float
    // noise of it, is raised to it.
    for bucket in c.iter_mut().skip(1) {
        if almost_equal(prev, bucket.1, 1e-12) {
            bucket.1 = prev;
        }
        bucket.1 = bucket.1.max(prev);
        prev = bucket.1;
    }
    if c.len() < 2 {
        return f64::NAN;
    }
    let obs = c[c.len() - 1].1;
    if obs == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * obs;
    let n = c.len() - 1;
    let i = c[..n].iter().position(|x| x.1 >= rank).unwrap_or(n);
    if i == n {
        return c[n - 1].0;
    }
    if i == 0 && c[0].0 <= 0.0 {
        return c[0].0;
    }
    let (mut bstart, bend, mut count) = (0.0, c[i].0, c[i].1);
    if i > 0 {
        bstart = c[i - 1].0;
        count -= c[i - 1].1;
        rank -= c[i - 1].1;
    }
    bstart + (bend - bstart) * (rank / count)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our signatures are Prometheus's as promql-parser has them: a call built from each
    /// entry's argument types parses, and the parser's signature equals ours.
    #[test]
    fn table_agrees_with_promql_parser() {
        for f in FUNCTIONS {
            let args: Vec<&str> = f
                .args
                .iter()
                .map(|a| match a {
                    Scalar => "1",
                    Vector => "m",
                    Matrix => "m[5m]",
                    Str => "\"a\"",
                })
                .collect();
            let text = format!("{}({})", f.name, args.join(", "));
            let expr =
                promql_parser::parser::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let Expr::Call(c) = expr else {
                panic!("{text}: not a call");
            };
            assert_eq!(c.func.arg_types, f.args, "{}: argument types", f.name);
            assert_eq!(c.func.variadic, f.variadic, "{}: variadic", f.name);
            assert_eq!(c.func.return_type, f.returns, "{}: return type", f.name);
        }
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = FUNCTIONS.iter().map(|f| f.name).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}
