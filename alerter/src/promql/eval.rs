//! The PromQL evaluator's core: the query entry points (instant and range), the evaluation
//! context with its limits (samples, steps, nesting), and the walk over the AST that hands each
//! node to the module deciding it (selector, binary, aggregate, functions). Windows are
//! left-open: a range `[r]` at `t` holds samples in `(t-r, t]`, an instant selector takes the
//! newest sample in `(t-lookback, t]` unless it is a stale marker.

use super::store::Store;
use super::{Labels, dur_ms};
use promql_parser::parser::Expr;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

pub(super) fn err<T>(msg: impl Into<String>) -> Result<T, EvalError> {
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

pub(super) struct Ctx<'a> {
    pub(super) store: &'a Store,
    pub(super) engine: &'a Engine,
    pub(super) start: i64,
    pub(super) end: i64,
    pub(super) samples: std::cell::Cell<usize>,
    /// Evaluation steps taken and current nesting, to refuse runaway queries.
    pub(super) work: std::cell::Cell<usize>,
    pub(super) depth: std::cell::Cell<usize>,
}

/// Deepest expression nesting evaluated (beyond it: an error, not a stack overflow).
pub const MAX_DEPTH: usize = 200;
/// Most node evaluations one query may take.
pub const MAX_WORK: usize = 2_000_000;

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

impl Ctx<'_> {
    pub(super) fn count(&self, n: usize) -> Result<(), EvalError> {
        let c = self.samples.get() + n;
        self.samples.set(c);
        if c > self.engine.max_samples {
            return err("query processing would load too many samples into memory");
        }
        Ok(())
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

    pub(super) fn scalar_arg(&self, e: &Expr, t: i64) -> Result<f64, EvalError> {
        match self.eval(e, t)? {
            Value::Scalar(v) => Ok(v),
            _ => err("expected a scalar argument"),
        }
    }

    pub(super) fn vector_arg(&self, e: &Expr, t: i64) -> Result<Vec<Sample>, EvalError> {
        match self.eval(e, t)? {
            Value::Vector(v) => Ok(v),
            _ => err("expected an instant vector argument"),
        }
    }

    pub(super) fn string_arg(&self, e: &Expr, t: i64) -> Result<String, EvalError> {
        match self.eval(e, t)? {
            Value::String(v) => Ok(v),
            _ => err("expected a string argument"),
        }
    }
}
