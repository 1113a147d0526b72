//! The PromQL evaluator. Instant queries evaluate the AST at one time; range queries evaluate it
//! at every step. Windows are left-open: a range `[r]` at `t` holds samples in `(t-r, t]`, an
//! instant selector takes the newest sample in `(t-lookback, t]` unless it is a stale marker.

use super::store::{Store, StoredSeries};
use super::{Labels, is_stale};
use chrono::{Datelike, TimeZone, Timelike};
use promql_parser::label::{MatchOp, Matchers};
use promql_parser::parser::{
    AggregateExpr, AtModifier, BinaryExpr, Call, Expr, LabelModifier, Offset,
    VectorMatchCardinality, VectorSelector,
};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, UNIX_EPOCH};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, EvalError> {
    Err(EvalError(msg.into()))
}

/// One element of an instant vector. `drop_name` marks a `__name__` that is removed when the
/// query finishes (Prometheus's delayed name removal).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub value: f64,
    pub drop_name: bool,
}

/// One series of a range vector or range-query result: (timestamp ms, value) points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub points: Vec<(i64, f64)>,
    pub drop_name: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(f64),
    String(String),
    Vector(Vec<Sample>),
    Matrix(Vec<Series>),
}

/// Evaluation settings.
#[derive(Debug, Clone)]
pub struct Engine {
    pub lookback_ms: i64,
    /// Step of subqueries written without one (`[5m:]`).
    pub default_subquery_step_ms: i64,
    /// Refuse queries touching more points than this.
    pub max_samples: usize,
}

impl Default for Engine {
    fn default() -> Self {
        Engine {
            lookback_ms: 300_000,
            default_subquery_step_ms: 60_000,
            max_samples: 50_000_000,
        }
    }
}

struct Ctx<'a> {
    store: &'a Store,
    engine: &'a Engine,
    start: i64,
    end: i64,
    samples: std::cell::Cell<usize>,
    /// Evaluation steps taken and current nesting, to refuse runaway queries.
    work: std::cell::Cell<usize>,
    depth: std::cell::Cell<usize>,
}

/// Deepest expression nesting evaluated (beyond it: an error, not a stack overflow).
pub const MAX_DEPTH: usize = 200;
/// Most node evaluations one query may take.
pub const MAX_WORK: usize = 2_000_000;

fn dur_ms(d: &Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => dur_ms(d),
        Some(Offset::Neg(d)) => -dur_ms(d),
    }
}

fn at_ms(ctx: &Ctx, at: &Option<AtModifier>) -> Option<i64> {
    match at {
        None => None,
        Some(AtModifier::Start) => Some(ctx.start),
        Some(AtModifier::End) => Some(ctx.end),
        Some(AtModifier::At(t)) => Some(match t.duration_since(UNIX_EPOCH) {
            Ok(d) => dur_ms(&d),
            Err(e) => -dur_ms(&e.duration()),
        }),
    }
}

impl Engine {
    /// Evaluates `expr` at `t` (ms) and removes names marked for removal.
    pub fn instant(&self, store: &Store, expr: &Expr, t: i64) -> Result<Value, EvalError> {
        let ctx = Ctx {
            store,
            engine: self,
            start: t,
            end: t,
            samples: Default::default(),
            work: Default::default(),
            depth: Default::default(),
        };
        let v = ctx.eval(expr, t)?;
        finish(v)
    }

    /// A range query: one evaluation per step, merged into series sorted by labels.
    pub fn range(
        &self,
        store: &Store,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<Vec<Series>, EvalError> {
        if step <= 0 {
            return err("zero or negative query resolution step widths are not accepted");
        }
        if (end - start) / step > 11_000 {
            return err("exceeded maximum resolution of 11,000 points per timeseries");
        }
        let ctx = Ctx {
            store,
            engine: self,
            start,
            end,
            samples: Default::default(),
            work: Default::default(),
            depth: Default::default(),
        };
        let mut out: HashMap<Labels, Vec<(i64, f64)>> = HashMap::new();
        let mut t = start;
        while t <= end {
            match finish(ctx.eval(expr, t)?)? {
                Value::Scalar(v) => out.entry(Labels::new()).or_default().push((t, v)),
                Value::Vector(vs) => {
                    for s in vs {
                        out.entry(s.labels).or_default().push((t, s.value));
                    }
                }
                _ => return err("range query result must be a scalar or an instant vector"),
            }
            t += step;
        }
        let mut series: Vec<Series> = out
            .into_iter()
            .map(|(labels, points)| Series {
                labels,
                points,
                drop_name: false,
            })
            .collect();
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(series)
    }
}

/// Applies delayed name removal; two results with the same labels after it are an error.
fn finish(v: Value) -> Result<Value, EvalError> {
    match v {
        Value::Vector(mut vs) => {
            let mut seen = HashSet::new();
            for s in &mut vs {
                if s.drop_name {
                    s.labels.remove("__name__");
                    s.drop_name = false;
                }
                if !seen.insert(s.labels.clone()) {
                    return err("vector cannot contain metrics with the same labelset");
                }
            }
            Ok(Value::Vector(vs))
        }
        Value::Matrix(mut ms) => {
            for s in &mut ms {
                if s.drop_name {
                    s.labels.remove("__name__");
                    s.drop_name = false;
                }
            }
            Ok(Value::Matrix(ms))
        }
        v => Ok(v),
    }
}

fn series_matches(s: &StoredSeries, name: &Option<String>, m: &Matchers) -> bool {
    let get = |k: &str| s.labels.get(k).map(String::as_str).unwrap_or("");
    if let Some(n) = name
        && get("__name__") != n
    {
        return false;
    }
    if !m.matchers.iter().all(|mm| mm.is_match(get(&mm.name))) {
        return false;
    }
    m.or_matchers.is_empty()
        || m.or_matchers
            .iter()
            .any(|g| g.iter().all(|mm| mm.is_match(get(&mm.name))))
}

fn equality_name(vs: &VectorSelector) -> Option<&str> {
    if let Some(n) = &vs.name {
        return Some(n);
    }
    if !vs.matchers.or_matchers.is_empty() {
        return None;
    }
    vs.matchers
        .matchers
        .iter()
        .find(|m| m.name == "__name__" && m.op == MatchOp::Equal)
        .map(|m| m.value.as_str())
}

fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

fn signature(l: &Labels, matching: Option<&LabelModifier>) -> Vec<(String, String)> {
    match matching {
        Some(LabelModifier::Include(on)) => on
            .labels
            .iter()
            .map(|k| (k.clone(), l.get(k).cloned().unwrap_or_default()))
            .filter(|(_, v)| !v.is_empty())
            .collect(),
        Some(LabelModifier::Exclude(ig)) => l
            .iter()
            .filter(|(k, _)| k.as_str() != "__name__" && !ig.labels.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        None => l
            .iter()
            .filter(|(k, _)| k.as_str() != "__name__")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

fn arith(op: &str, l: f64, r: f64) -> Option<f64> {
    Some(match op {
        "+" => l + r,
        "-" => l - r,
        "*" => l * r,
        "/" => l / r,
        "%" => l % r,
        "^" => l.powf(r),
        "atan2" => l.atan2(r),
        _ => return None,
    })
}

fn compare(op: &str, l: f64, r: f64) -> Option<bool> {
    Some(match op {
        "==" => l == r,
        "!=" => l != r,
        ">" => l > r,
        "<" => l < r,
        ">=" => l >= r,
        "<=" => l <= r,
        _ => return None,
    })
}

/// `op` applied to two floats: (value, keep).
fn binop(op: &str, l: f64, r: f64) -> Result<(f64, bool), EvalError> {
    if let Some(v) = arith(op, l, r) {
        return Ok((v, true));
    }
    if let Some(k) = compare(op, l, r) {
        return Ok((l, k));
    }
    err(format!(
        "operator {op:?} not allowed between these operands"
    ))
}

fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | ">" | "<" | ">=" | "<=")
}

impl Ctx<'_> {
    fn count(&self, n: usize) -> Result<(), EvalError> {
        let c = self.samples.get() + n;
        self.samples.set(c);
        if c > self.engine.max_samples {
            return err("query processing would load too many samples into memory");
        }
        Ok(())
    }

    fn select<'s>(&'s self, vs: &VectorSelector) -> Vec<&'s StoredSeries> {
        match equality_name(vs) {
            Some(n) => self
                .store
                .named(n)
                .filter(|s| series_matches(s, &vs.name, &vs.matchers))
                .collect(),
            None => self
                .store
                .all()
                .iter()
                .filter(|s| series_matches(s, &vs.name, &vs.matchers))
                .collect(),
        }
    }

    /// The instant vector of a selector at `t`; with `sample_ts`, values are the samples'
    /// timestamps in seconds (for `timestamp()`).
    fn vector_selector(
        &self,
        vs: &VectorSelector,
        t: i64,
        sample_ts: bool,
    ) -> Result<Vec<Sample>, EvalError> {
        let t = at_ms(self, &vs.at).unwrap_or(t) - offset_ms(&vs.offset);
        let mut out = Vec::new();
        for s in self.select(vs) {
            if let Some((st, v)) = s.last_in(t - self.engine.lookback_ms, t)
                && !is_stale(v)
            {
                let value = if sample_ts { st as f64 / 1000.0 } else { v };
                out.push(Sample {
                    labels: s.labels.clone(),
                    value,
                    drop_name: false,
                });
            }
        }
        self.count(out.len())?;
        Ok(out)
    }

    /// A range selector: samples in `(end - range, end]` without stale markers, and `end`.
    fn matrix_selector(
        &self,
        vs: &VectorSelector,
        range: i64,
        t: i64,
    ) -> Result<(Vec<Series>, i64), EvalError> {
        let end = at_ms(self, &vs.at).unwrap_or(t) - offset_ms(&vs.offset);
        let mut out = Vec::new();
        let mut buf = Vec::new();
        for s in self.select(vs) {
            buf.clear();
            s.samples(end - range, end, &mut buf);
            buf.retain(|p| !is_stale(p.1));
            self.count(buf.len())?;
            if !buf.is_empty() {
                out.push(Series {
                    labels: s.labels.clone(),
                    points: buf.clone(),
                    drop_name: false,
                });
            }
        }
        Ok((out, end))
    }

    /// A range-vector argument (matrix selector or subquery): its series, window end and range.
    fn range_arg(&self, e: &Expr, t: i64) -> Result<(Vec<Series>, i64, i64), EvalError> {
        match e {
            Expr::MatrixSelector(ms) => {
                let r = dur_ms(&ms.range);
                let (s, end) = self.matrix_selector(&ms.vs, r, t)?;
                Ok((s, end, r))
            }
            Expr::Subquery(sq) => {
                let range = dur_ms(&sq.range);
                let step = sq
                    .step
                    .as_ref()
                    .map(dur_ms)
                    .unwrap_or(self.engine.default_subquery_step_ms);
                if step <= 0 {
                    return err("subquery step must be positive");
                }
                let end = at_ms(self, &sq.at).unwrap_or(t) - offset_ms(&sq.offset);
                let start = end - range;
                let mut ts = start.div_euclid(step) * step;
                if ts <= start {
                    ts += step;
                }
                if (end - ts) / step > 100_000 {
                    return err("subquery has too many steps");
                }
                let mut by: Vec<Series> = Vec::new();
                let mut idx: HashMap<Labels, usize> = HashMap::new();
                while ts <= end {
                    let v = self.eval(&sq.expr, ts)?;
                    let samples = match v {
                        Value::Scalar(f) => vec![Sample {
                            labels: Labels::new(),
                            value: f,
                            drop_name: false,
                        }],
                        Value::Vector(v) => v,
                        _ => return err("subquery is only allowed on instant vector or scalar"),
                    };
                    self.count(samples.len())?;
                    for s in samples {
                        let mut labels = s.labels;
                        if s.drop_name {
                            labels.remove("__name__");
                        }
                        match idx.get(&labels) {
                            Some(&i) => by[i].points.push((ts, s.value)),
                            None => {
                                idx.insert(labels.clone(), by.len());
                                by.push(Series {
                                    labels,
                                    points: vec![(ts, s.value)],
                                    drop_name: false,
                                });
                            }
                        }
                    }
                    ts += step;
                }
                Ok((by, end, range))
            }
            Expr::Paren(p) => self.range_arg(&p.expr, t),
            _ => err("expected a range vector argument"),
        }
    }

    pub(crate) fn eval(&self, e: &Expr, t: i64) -> Result<Value, EvalError> {
        let w = self.work.get() + 1;
        self.work.set(w);
        if w > MAX_WORK {
            return err(
                "query is too expensive: too many evaluation steps (subquery steps or range-query points)",
            );
        }
        let d = self.depth.get();
        if d >= MAX_DEPTH {
            return err(format!(
                "expression is nested more than {MAX_DEPTH} levels deep"
            ));
        }
        self.depth.set(d + 1);
        let r = self.eval_inner(e, t);
        self.depth.set(d);
        r
    }

    fn eval_inner(&self, e: &Expr, t: i64) -> Result<Value, EvalError> {
        match e {
            Expr::NumberLiteral(n) => Ok(Value::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Value::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::Unary(u) => match self.eval(&u.expr, t)? {
                Value::Scalar(v) => Ok(Value::Scalar(-v)),
                Value::Vector(vs) => Ok(Value::Vector(
                    vs.into_iter()
                        .map(|s| Sample {
                            value: -s.value,
                            drop_name: true,
                            ..s
                        })
                        .collect(),
                )),
                _ => err("unary minus is only allowed on scalars and instant vectors"),
            },
            Expr::VectorSelector(vs) => Ok(Value::Vector(self.vector_selector(vs, t, false)?)),
            Expr::MatrixSelector(ms) => {
                let (s, _) = self.matrix_selector(&ms.vs, dur_ms(&ms.range), t)?;
                Ok(Value::Matrix(s))
            }
            Expr::Subquery(_) => {
                let (s, _, _) = self.range_arg(e, t)?;
                Ok(Value::Matrix(s))
            }
            Expr::Binary(b) => self.binary(b, t),
            Expr::Aggregate(a) => self.aggregate(a, t),
            Expr::Call(c) => self.call(c, t),
            Expr::Extension(_) => err("extension expressions are not supported"),
        }
    }

    fn scalar_arg(&self, e: &Expr, t: i64) -> Result<f64, EvalError> {
        match self.eval(e, t)? {
            Value::Scalar(v) => Ok(v),
            _ => err("expected a scalar argument"),
        }
    }

    fn vector_arg(&self, e: &Expr, t: i64) -> Result<Vec<Sample>, EvalError> {
        match self.eval(e, t)? {
            Value::Vector(v) => Ok(v),
            _ => err("expected an instant vector argument"),
        }
    }

    fn string_arg(&self, e: &Expr, t: i64) -> Result<String, EvalError> {
        match self.eval(e, t)? {
            Value::String(v) => Ok(v),
            _ => err("expected a string argument"),
        }
    }

    fn binary(&self, b: &BinaryExpr, t: i64) -> Result<Value, EvalError> {
        let op = b.op.to_string().to_lowercase();
        let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
        let lhs = self.eval(&b.lhs, t)?;
        let rhs = self.eval(&b.rhs, t)?;
        match (lhs, rhs) {
            (Value::Scalar(l), Value::Scalar(r)) => {
                let (v, keep) = binop(&op, l, r)?;
                if is_comparison(&op) {
                    return Ok(Value::Scalar(if keep { 1.0 } else { 0.0 }));
                }
                Ok(Value::Scalar(v))
            }
            (Value::Vector(l), Value::Scalar(r)) => {
                self.vector_scalar(&op, l, r, false, return_bool)
            }
            (Value::Scalar(l), Value::Vector(r)) => {
                self.vector_scalar(&op, r, l, true, return_bool)
            }
            (Value::Vector(l), Value::Vector(r)) => {
                let matching = b.modifier.as_ref().and_then(|m| m.matching.as_ref());
                let card = b
                    .modifier
                    .as_ref()
                    .map(|m| m.card.clone())
                    .unwrap_or(VectorMatchCardinality::OneToOne);
                match op.as_str() {
                    "and" | "or" | "unless" => Ok(Value::Vector(set_op(&op, l, r, matching))),
                    _ => Ok(Value::Vector(vector_vector(
                        &op,
                        l,
                        r,
                        matching,
                        &card,
                        return_bool,
                    )?)),
                }
            }
            _ => err(format!(
                "binary expression {op} must have scalar or instant vector operands"
            )),
        }
    }

    fn vector_scalar(
        &self,
        op: &str,
        v: Vec<Sample>,
        s: f64,
        swap: bool,
        return_bool: bool,
    ) -> Result<Value, EvalError> {
        let mut out = Vec::with_capacity(v.len());
        for mut smp in v {
            let (l, r) = if swap { (s, smp.value) } else { (smp.value, s) };
            let (mut val, keep) = binop(op, l, r)?;
            if is_comparison(op) && swap {
                val = r;
            }
            if return_bool {
                val = if keep { 1.0 } else { 0.0 };
            } else if !keep {
                continue;
            }
            if return_bool || !is_comparison(op) {
                smp.drop_name = true;
            }
            smp.value = val;
            out.push(smp);
        }
        Ok(Value::Vector(out))
    }

    fn aggregate(&self, a: &AggregateExpr, t: i64) -> Result<Value, EvalError> {
        let op = a.op.to_string().to_lowercase();
        let input = self.vector_arg(&a.expr, t)?;
        let param = match &a.param {
            Some(p) => Some(self.eval(p, t)?),
            None => None,
        };
        aggregate(&op, input, param, a.modifier.as_ref())
    }
}

fn set_op(
    op: &str,
    l: Vec<Sample>,
    r: Vec<Sample>,
    matching: Option<&LabelModifier>,
) -> Vec<Sample> {
    match op {
        "and" => {
            let rs: HashSet<_> = r.iter().map(|s| signature(&s.labels, matching)).collect();
            l.into_iter()
                .filter(|s| rs.contains(&signature(&s.labels, matching)))
                .collect()
        }
        "unless" => {
            let rs: HashSet<_> = r.iter().map(|s| signature(&s.labels, matching)).collect();
            l.into_iter()
                .filter(|s| !rs.contains(&signature(&s.labels, matching)))
                .collect()
        }
        _ => {
            let ls: HashSet<_> = l.iter().map(|s| signature(&s.labels, matching)).collect();
            let mut out = l;
            out.extend(
                r.into_iter()
                    .filter(|s| !ls.contains(&signature(&s.labels, matching))),
            );
            out
        }
    }
}

fn vector_vector(
    op: &str,
    lhs: Vec<Sample>,
    rhs: Vec<Sample>,
    matching: Option<&LabelModifier>,
    card: &VectorMatchCardinality,
    return_bool: bool,
) -> Result<Vec<Sample>, EvalError> {
    let one_to_many = matches!(card, VectorMatchCardinality::OneToMany(_));
    let (many, one) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };
    let mut one_sigs: HashMap<Vec<(String, String)>, &Sample> = HashMap::new();
    for s in &one {
        let sig = signature(&s.labels, matching);
        if one_sigs.insert(sig.clone(), s).is_some() {
            let side = if one_to_many { "left" } else { "right" };
            return err(format!(
                "found duplicate series for the match group {} on the {side} hand-side of the operation; many-to-many matching not allowed: matching labels must be unique on one side",
                super::format_labels(&sig.into_iter().collect())
            ));
        }
    }
    let include: Vec<String> = card.labels().map(|l| l.labels.clone()).unwrap_or_default();
    let mut matched: HashMap<Vec<(String, String)>, HashSet<Labels>> = HashMap::new();
    let mut out = Vec::new();
    for ls in &many {
        let sig = signature(&ls.labels, matching);
        let Some(rs) = one_sigs.get(&sig) else {
            continue;
        };
        let (fl, fr) = if one_to_many {
            (rs.value, ls.value)
        } else {
            (ls.value, rs.value)
        };
        let (mut value, keep) = binop(op, fl, fr)?;
        if return_bool {
            value = if keep { 1.0 } else { 0.0 };
        } else if !keep {
            continue;
        }
        let mut labels = ls.labels.clone();
        let drop_name = !is_comparison(op) || return_bool || ls.drop_name;
        if matches!(card, VectorMatchCardinality::OneToOne) {
            match matching {
                Some(LabelModifier::Include(on)) => labels.retain(|k, _| on.labels.contains(k)),
                Some(LabelModifier::Exclude(ig)) => labels.retain(|k, _| !ig.labels.contains(k)),
                None => {}
            }
        }
        for k in &include {
            match rs.labels.get(k) {
                Some(v) if !v.is_empty() => {
                    labels.insert(k.clone(), v.clone());
                }
                _ => {
                    labels.remove(k);
                }
            }
        }
        let mut key = labels.clone();
        if drop_name {
            key.remove("__name__");
        }
        let entry = matched.entry(sig).or_default();
        if matches!(card, VectorMatchCardinality::OneToOne) {
            if !entry.is_empty() {
                return err(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                );
            }
        } else if entry.contains(&key) {
            return err("multiple matches for labels: grouping labels must ensure unique matches");
        }
        entry.insert(key);
        out.push(Sample {
            labels,
            value,
            drop_name,
        });
    }
    Ok(out)
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

fn quantile(q: f64, mut vals: Vec<f64>) -> f64 {
    if vals.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    vals.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = vals.len() as f64;
    let rank = q * (n - 1.0);
    let lo = rank.floor().max(0.0);
    let hi = (lo + 1.0).min(n - 1.0);
    let w = rank - rank.floor();
    vals[lo as usize] * (1.0 - w) + vals[hi as usize] * w
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

pub(crate) fn valid_label_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn linear_regression(points: &[(i64, f64)], intercept_t: i64) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let init_y = points[0].1;
    let mut const_y = true;
    for (i, &(t, v)) in points.iter().enumerate() {
        if const_y && i > 0 && v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (t - intercept_t) as f64 / 1e3;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(v, sy, cy);
        (sxy, cxy) = kahan_inc(x * v, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

fn extrapolated_rate(
    p: &[(i64, f64)],
    end: i64,
    range: i64,
    counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    let start = end - range;
    let (ft, fv) = p[0];
    let (lt, lv) = p[p.len() - 1];
    let mut result = lv - fv;
    if counter {
        let mut prev = fv;
        for &(_, v) in &p[1..] {
            if v < prev {
                result += prev;
            }
            prev = v;
        }
    }
    let mut to_start = (ft - start) as f64 / 1000.0;
    let mut to_end = (end - lt) as f64 / 1000.0;
    let sampled = (lt - ft) as f64 / 1000.0;
    let avg = sampled / (p.len() - 1) as f64;
    let threshold = avg * 1.1;
    if to_start >= threshold {
        to_start = avg / 2.0;
    }
    if counter && result > 0.0 && fv >= 0.0 {
        let to_zero = sampled * (fv / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= range as f64 / 1000.0;
    }
    Some(result * factor)
}

fn over_time(name: &str, p: &[(i64, f64)], param: f64) -> Option<f64> {
    if p.is_empty() {
        return None;
    }
    Some(match name {
        "avg_over_time" => {
            let (mut sum, mut mean, mut count, mut c, mut inc) = (0.0, 0.0, 0.0, 0.0, false);
            for &(_, f) in p {
                count += 1.0;
                if !inc {
                    let (ns, nc) = kahan_inc(f, sum, c);
                    if count == 1.0 || !ns.is_infinite() {
                        (sum, c) = (ns, nc);
                        continue;
                    }
                    inc = true;
                    mean = sum / (count - 1.0);
                    c /= count - 1.0;
                }
                let q = (count - 1.0) / count;
                (mean, c) = kahan_inc(f / count, q * mean, q * c);
            }
            if inc {
                mean + c
            } else {
                sum / count + c / count
            }
        }
        "sum_over_time" => {
            let (mut s, mut c) = (0.0, 0.0);
            for &(_, f) in p {
                (s, c) = kahan_inc(f, s, c);
            }
            s + c
        }
        "count_over_time" => p.len() as f64,
        "min_over_time" => p.iter().fold(
            f64::NAN,
            |m, &(_, f)| if f < m || m.is_nan() { f } else { m },
        ),
        "max_over_time" => p.iter().fold(
            f64::NAN,
            |m, &(_, f)| if f > m || m.is_nan() { f } else { m },
        ),
        "last_over_time" => p[p.len() - 1].1,
        "present_over_time" => 1.0,
        "quantile_over_time" => quantile(param, p.iter().map(|x| x.1).collect()),
        "stddev_over_time" | "stdvar_over_time" => {
            let (mut count, mut mean, mut cm, mut aux, mut ca) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for &(_, f) in p {
                count += 1.0;
                let delta = f - (mean + cm);
                (mean, cm) = kahan_inc(delta / count, mean, cm);
                (aux, ca) = kahan_inc(delta * (f - (mean + cm)), aux, ca);
            }
            let var = (aux + ca) / count;
            if name == "stddev_over_time" {
                var.sqrt()
            } else {
                var
            }
        }
        "changes" => {
            let mut n = 0.0;
            for w in p.windows(2) {
                if w[1].1 != w[0].1 && !(w[1].1.is_nan() && w[0].1.is_nan()) {
                    n += 1.0;
                }
            }
            n
        }
        "resets" => p.windows(2).filter(|w| w[1].1 < w[0].1).count() as f64,
        _ => return None,
    })
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
    for bucket in c.iter_mut().skip(1) {
        let cur = bucket.1;
        if cur == prev {
            continue;
        }
        if almost_equal(prev, cur, 1e-12) || cur < prev {
            bucket.1 = prev;
            continue;
        }
        prev = cur;
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

/// Relative float comparison as Prometheus's util/almost.
pub fn almost_equal(a: f64, b: f64, eps: f64) -> bool {
    if a == b || (a.is_nan() && b.is_nan()) {
        return true;
    }
    let diff = (a - b).abs();
    let min_normal = f64::from_bits(0x0010000000000000);
    if a == 0.0 || b == 0.0 || diff < min_normal {
        return diff < eps * min_normal;
    }
    diff / (a.abs() + b.abs()) < eps
}

fn date_part(name: &str, secs: f64) -> Option<f64> {
    if !secs.is_finite() {
        return Some(f64::NAN);
    }
    let dt = chrono::Utc.timestamp_opt(secs.floor() as i64, 0).single()?;
    Some(match name {
        "minute" => dt.minute() as f64,
        "hour" => dt.hour() as f64,
        "day_of_month" => dt.day() as f64,
        "day_of_week" => dt.weekday().num_days_from_sunday() as f64,
        "day_of_year" => dt.ordinal() as f64,
        "month" => dt.month() as f64,
        "year" => dt.year() as f64,
        "days_in_month" => {
            let (y, m) = (dt.year(), dt.month());
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            let first = chrono::NaiveDate::from_ymd_opt(y, m, 1)?;
            let next = chrono::NaiveDate::from_ymd_opt(ny, nm, 1)?;
            (next - first).num_days() as f64
        }
        _ => return None,
    })
}

fn math_fn(name: &str, v: f64) -> Option<f64> {
    Some(match name {
        "abs" => v.abs(),
        "ceil" => v.ceil(),
        "floor" => v.floor(),
        "exp" => v.exp(),
        "sqrt" => v.sqrt(),
        "ln" => v.ln(),
        "log2" => v.log2(),
        "log10" => v.log10(),
        "sgn" => {
            if v > 0.0 {
                1.0
            } else if v < 0.0 {
                -1.0
            } else {
                v
            }
        }
        "deg" => v * 180.0 / std::f64::consts::PI,
        "rad" => v * std::f64::consts::PI / 180.0,
        "sin" => v.sin(),
        "cos" => v.cos(),
        "tan" => v.tan(),
        "asin" => v.asin(),
        "acos" => v.acos(),
        "atan" => v.atan(),
        "sinh" => v.sinh(),
        "cosh" => v.cosh(),
        "tanh" => v.tanh(),
        "asinh" => v.asinh(),
        "acosh" => v.acosh(),
        "atanh" => v.atanh(),
        _ => return None,
    })
}

impl Ctx<'_> {
    fn call(&self, c: &Call, t: i64) -> Result<Value, EvalError> {
        let name = c.func.name;
        let args = &c.args.args;
        let arg = |i: usize| -> Result<&Expr, EvalError> {
            args.get(i)
                .map(|b| b.as_ref())
                .ok_or_else(|| EvalError(format!("{name}: missing argument {i}")))
        };
        let map_vec = |v: Vec<Sample>, f: &dyn Fn(f64) -> f64| -> Value {
            Value::Vector(
                v.into_iter()
                    .map(|s| Sample {
                        value: f(s.value),
                        drop_name: true,
                        labels: s.labels,
                    })
                    .collect(),
            )
        };
        match name {
            "time" => Ok(Value::Scalar(t as f64 / 1000.0)),
            "pi" => Ok(Value::Scalar(std::f64::consts::PI)),
            "vector" => {
                let v = self.scalar_arg(arg(0)?, t)?;
                Ok(Value::Vector(vec![Sample {
                    labels: Labels::new(),
                    value: v,
                    drop_name: false,
                }]))
            }
            "scalar" => {
                let v = self.vector_arg(arg(0)?, t)?;
                Ok(Value::Scalar(if v.len() == 1 {
                    v[0].value
                } else {
                    f64::NAN
                }))
            }
            "timestamp" => {
                let mut inner = arg(0)?;
                while let Expr::Paren(p) = inner {
                    inner = &p.expr;
                }
                let v = match inner {
                    Expr::VectorSelector(vs) => self.vector_selector(vs, t, true)?,
                    e => {
                        let mut v = self.vector_arg(e, t)?;
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
            "absent" => {
                let v = self.vector_arg(arg(0)?, t)?;
                if !v.is_empty() {
                    return Ok(Value::Vector(vec![]));
                }
                Ok(Value::Vector(vec![Sample {
                    labels: absent_labels(arg(0)?),
                    value: 1.0,
                    drop_name: false,
                }]))
            }
            "absent_over_time" => {
                let (s, _, _) = self.range_arg(arg(0)?, t)?;
                if !s.is_empty() {
                    return Ok(Value::Vector(vec![]));
                }
                let mut e = arg(0)?;
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
            "rate" | "increase" | "delta" | "irate" | "idelta" | "deriv" | "predict_linear"
            | "changes" | "resets" | "avg_over_time" | "sum_over_time" | "count_over_time"
            | "min_over_time" | "max_over_time" | "last_over_time" | "present_over_time"
            | "quantile_over_time" | "stddev_over_time" | "stdvar_over_time" => {
                let (marg, param) = match name {
                    "quantile_over_time" => (arg(1)?, self.scalar_arg(arg(0)?, t)?),
                    "predict_linear" => (arg(0)?, self.scalar_arg(arg(1)?, t)?),
                    _ => (arg(0)?, 0.0),
                };
                let (series, end, range) = self.range_arg(marg, t)?;
                let mut out = Vec::new();
                for s in series {
                    let p = &s.points;
                    let v = match name {
                        "rate" => extrapolated_rate(p, end, range, true, true),
                        "increase" => extrapolated_rate(p, end, range, true, false),
                        "delta" => extrapolated_rate(p, end, range, false, false),
                        "irate" | "idelta" => {
                            if p.len() < 2 {
                                None
                            } else {
                                let (a, b) = (p[p.len() - 2], p[p.len() - 1]);
                                if name == "idelta" {
                                    Some(b.1 - a.1)
                                } else {
                                    let dv = if b.1 < a.1 { b.1 } else { b.1 - a.1 };
                                    let dt = (b.0 - a.0) as f64 / 1000.0;
                                    if dt == 0.0 { None } else { Some(dv / dt) }
                                }
                            }
                        }
                        "deriv" => {
                            if p.len() < 2 {
                                None
                            } else {
                                Some(linear_regression(p, p[0].0).0)
                            }
                        }
                        "predict_linear" => {
                            if p.len() < 2 {
                                None
                            } else {
                                let (slope, icpt) = linear_regression(p, end);
                                Some(icpt + slope * param)
                            }
                        }
                        _ => over_time(name, p, param),
                    };
                    let keep_name = matches!(name, "last_over_time");
                    if let Some(value) = v {
                        out.push(Sample {
                            labels: s.labels,
                            value,
                            drop_name: !keep_name || s.drop_name,
                        });
                    }
                }
                Ok(Value::Vector(out))
            }
            "histogram_quantile" => {
                let q = self.scalar_arg(arg(0)?, t)?;
                let v = self.vector_arg(arg(1)?, t)?;
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
            "round" => {
                let v = self.vector_arg(arg(0)?, t)?;
                let to = match args.get(1) {
                    Some(a) => self.scalar_arg(a, t)?,
                    None => 1.0,
                };
                let inv = 1.0 / to;
                Ok(map_vec(v, &|f| (f * inv + 0.5).floor() / inv))
            }
            "clamp" | "clamp_min" | "clamp_max" => {
                let v = self.vector_arg(arg(0)?, t)?;
                let (lo, hi) = match name {
                    "clamp" => (self.scalar_arg(arg(1)?, t)?, self.scalar_arg(arg(2)?, t)?),
                    "clamp_min" => (self.scalar_arg(arg(1)?, t)?, f64::NAN),
                    _ => (f64::NAN, self.scalar_arg(arg(1)?, t)?),
                };
                if name == "clamp" && hi < lo {
                    return Ok(Value::Vector(vec![]));
                }
                Ok(map_vec(v, &|f| {
                    let mut r = f;
                    if !lo.is_nan() && name != "clamp_max" {
                        r = if r.is_nan() { r } else { r.max(lo) };
                        if lo.is_nan() {
                            r = f64::NAN;
                        }
                    }
                    if name != "clamp_min" {
                        r = if r.is_nan() { r } else { r.min(hi) };
                        if hi.is_nan() {
                            r = f64::NAN;
                        }
                    }
                    if name == "clamp" && (lo.is_nan() || hi.is_nan()) {
                        r = f64::NAN;
                    }
                    if name == "clamp_min" && lo.is_nan() {
                        r = f64::NAN;
                    }
                    r
                }))
            }
            "minute" | "hour" | "day_of_month" | "day_of_week" | "day_of_year"
            | "days_in_month" | "month" | "year" => {
                let v = match args.first() {
                    Some(a) => self.vector_arg(a, t)?,
                    None => vec![Sample {
                        labels: Labels::new(),
                        value: t as f64 / 1000.0,
                        drop_name: false,
                    }],
                };
                Ok(map_vec(v, &|f| date_part(name, f).unwrap_or(f64::NAN)))
            }
            "sort" | "sort_desc" => {
                let mut v = self.vector_arg(arg(0)?, t)?;
                let desc = name == "sort_desc";
                v.sort_by(|a, b| {
                    use std::cmp::Ordering::*;
                    match (a.value.is_nan(), b.value.is_nan()) {
                        (true, true) => Equal,
                        (true, false) => Greater,
                        (false, true) => Less,
                        _ if desc => b.value.partial_cmp(&a.value).unwrap_or(Equal),
                        _ => a.value.partial_cmp(&b.value).unwrap_or(Equal),
                    }
                });
                Ok(Value::Vector(v))
            }
            "sort_by_label" | "sort_by_label_desc" => {
                let mut v = self.vector_arg(arg(0)?, t)?;
                let mut keys = Vec::new();
                for a in &args[1..] {
                    keys.push(self.string_arg(a, t)?);
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
            "label_replace" => {
                let v = self.vector_arg(arg(0)?, t)?;
                let dst = self.string_arg(arg(1)?, t)?;
                let repl = self.string_arg(arg(2)?, t)?;
                let src = self.string_arg(arg(3)?, t)?;
                let re = self.string_arg(arg(4)?, t)?;
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
            "label_join" => {
                let v = self.vector_arg(arg(0)?, t)?;
                let dst = self.string_arg(arg(1)?, t)?;
                let sep = self.string_arg(arg(2)?, t)?;
                let mut srcs = Vec::new();
                for a in &args[3..] {
                    let s = self.string_arg(a, t)?;
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
            _ => {
                if math_fn(name, 0.0).is_some() {
                    let v = self.vector_arg(arg(0)?, t)?;
                    return Ok(map_vec(v, &|f| math_fn(name, f).unwrap_or(f64::NAN)));
                }
                err(format!("function {name:?} is not supported by this engine"))
            }
        }
    }
}

/// Parses a float as Prometheus does (`Inf`, `+Inf`, `NaN`, hex, exponents).
pub fn parse_float(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let (neg, body) = match lower.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, lower.strip_prefix('+').unwrap_or(&lower)),
    };
    let v = match body {
        "inf" | "infinity" => f64::INFINITY,
        "nan" => f64::NAN,
        b if b.starts_with("0x") => {
            i64::from_str_radix(&b[2..], 16).map_err(|_| format!("invalid number {s:?}"))? as f64
        }
        b => b
            .parse::<f64>()
            .map_err(|_| format!("invalid number {s:?}"))?,
    };
    Ok(if neg { -v } else { v })
}

/// Names of the functions this engine evaluates.
pub fn supported_function(name: &str) -> bool {
    matches!(
        name,
        "time"
            | "pi"
            | "vector"
            | "scalar"
            | "timestamp"
            | "absent"
            | "absent_over_time"
            | "rate"
            | "increase"
            | "delta"
            | "irate"
            | "idelta"
            | "deriv"
            | "predict_linear"
            | "changes"
            | "resets"
            | "avg_over_time"
            | "sum_over_time"
            | "count_over_time"
            | "min_over_time"
            | "max_over_time"
            | "last_over_time"
            | "present_over_time"
            | "quantile_over_time"
            | "stddev_over_time"
            | "stdvar_over_time"
            | "histogram_quantile"
            | "round"
            | "clamp"
            | "clamp_min"
            | "clamp_max"
            | "minute"
            | "hour"
            | "day_of_month"
            | "day_of_week"
            | "day_of_year"
            | "days_in_month"
            | "month"
            | "year"
            | "sort"
            | "sort_desc"
            | "sort_by_label"
            | "sort_by_label_desc"
            | "label_replace"
            | "label_join"
    ) || math_fn(name, 0.0).is_some()
}

/// Checks that every function and aggregation in `e` is one this engine evaluates.
pub fn check_supported(e: &Expr) -> Result<(), String> {
    check_depth(e, 0)
}

fn check_depth(e: &Expr, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "expression is nested more than {MAX_DEPTH} levels deep"
        ));
    }
    let d = depth + 1;
    match e {
        Expr::Aggregate(a) => {
            let op = a.op.to_string().to_lowercase();
            if !matches!(
                op.as_str(),
                "sum"
                    | "avg"
                    | "count"
                    | "min"
                    | "max"
                    | "group"
                    | "stddev"
                    | "stdvar"
                    | "topk"
                    | "bottomk"
                    | "quantile"
                    | "count_values"
                    | "limitk"
            ) {
                return Err(format!("aggregation {op} is not supported by this engine"));
            }
            check_depth(&a.expr, d)?;
            if let Some(p) = &a.param {
                check_depth(p, d)?;
            }
            Ok(())
        }
        Expr::Unary(u) => check_depth(&u.expr, d),
        Expr::Binary(b) => {
            if b.modifier
                .as_ref()
                .is_some_and(|m| m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some())
            {
                return Err("fill modifiers are not supported by this engine".into());
            }
            check_depth(&b.lhs, d)?;
            check_depth(&b.rhs, d)
        }
        Expr::Paren(p) => check_depth(&p.expr, d),
        Expr::Subquery(s) => check_depth(&s.expr, d),
        Expr::Call(c) => {
            if !supported_function(c.func.name) {
                return Err(format!(
                    "function {:?} is not supported by this engine",
                    c.func.name
                ));
            }
            c.args.args.iter().try_for_each(|a| check_depth(a, d))
        }
        Expr::Extension(_) => Err("extension expressions are not supported".into()),
        _ => Ok(()),
    }
}
