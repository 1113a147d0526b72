//! Binary operators: arithmetic, comparison (filtering or `bool`) and set operators between
//! scalars and instant vectors, with vector matching (`on`, `ignoring`, `group_left`,
//! `group_right`) and Prometheus's rules for which side's labels and names survive.

use super::eval::{Ctx, EvalError, Sample, Value, err};
use super::{Labels, format_labels};
use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};
use std::collections::{HashMap, HashSet};

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
    pub(super) fn binary(&self, b: &BinaryExpr, t: i64) -> Result<Value, EvalError> {
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
                format_labels(&sig.into_iter().collect())
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
