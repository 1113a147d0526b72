//! Which stored samples a selector yields at an evaluation time: instant selectors (the newest
//! sample in the lookback window, unless stale), range selectors (samples in `(t-r, t]`), and
//! subqueries (the inner expression evaluated at every step of the window). Offsets and `@` are
//! applied here.

use super::eval::{Ctx, EvalError, Sample, Series, Value, err};
use super::store::StoredSeries;
use super::{Labels, dur_ms, is_stale};
use promql_parser::label::{MatchOp, Matchers};
use promql_parser::parser::{AtModifier, Expr, Offset, VectorSelector};
use std::collections::HashMap;
use std::time::UNIX_EPOCH;

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

impl Ctx<'_> {
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
    pub(super) fn vector_selector(
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
    pub(super) fn matrix_selector(
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
    pub(super) fn range_arg(&self, e: &Expr, t: i64) -> Result<(Vec<Series>, i64, i64), EvalError> {
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
}
