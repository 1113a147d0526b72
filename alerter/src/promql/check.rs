//! What the engine accepts before evaluating: every function in the function table, every
//! aggregation it implements, no fill modifiers, nesting no deeper than the evaluator goes.
//! Rule files are checked with this at load time, so an unsupported rule is a load error.

use super::aggregate::aggregation;
use super::eval::MAX_DEPTH;
use super::functions::function;
use promql_parser::parser::Expr;

/// Whether this engine evaluates the function `name`.
pub fn supported_function(name: &str) -> bool {
    function(name).is_some()
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
            if aggregation(&op).is_none() {
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
