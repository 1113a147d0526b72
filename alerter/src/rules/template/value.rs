//! The values alert templates compute with, and what Go's text/template does with them:
//! which are true in an `if`, how each prints, which convert to a number, what their Go
//! type is called in error messages, and how `.field` looks into a label map.

use super::gofmt::go_g;
use crate::promql::Labels;

/// A template value: what a variable, a literal, a field or a function call yields.
#[derive(Debug, Clone, PartialEq)]
pub enum TVal {
    Nil,
    Bool(bool),
    Num(f64),
    Str(String),
    Map(Labels),
}

impl TVal {
    /// Go's truthiness: the zero value of each type is false.
    pub(super) fn truthy(&self) -> bool {
        match self {
            TVal::Nil => false,
            TVal::Bool(b) => *b,
            TVal::Num(n) => *n != 0.0,
            TVal::Str(s) => !s.is_empty(),
            TVal::Map(m) => !m.is_empty(),
        }
    }
    /// How `{{ x }}` prints the value (Go's `fmt.Print`; a nil is `<no value>`).
    pub(super) fn print(&self) -> String {
        match self {
            TVal::Nil => "<no value>".into(),
            TVal::Bool(b) => b.to_string(),
            TVal::Num(n) => go_g(*n, None),
            TVal::Str(s) => s.clone(),
            TVal::Map(m) => {
                let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("map[{}]", parts.join(" "))
            }
        }
    }
    /// The value as a float, as Prometheus's template functions convert their argument.
    pub(super) fn num(&self) -> Result<f64, String> {
        match self {
            TVal::Num(n) => Ok(*n),
            TVal::Str(s) => {
                crate::promql::parse_float(s).map_err(|_| format!("can't convert {s:?} to float"))
            }
            TVal::Bool(_) | TVal::Nil | TVal::Map(_) => {
                Err(format!("can't convert {} to float", self.print()))
            }
        }
    }
}

/// `.a.b` on a value: each step looks into a label map (a missing label is empty).
pub(super) fn field(v: TVal, path: &[String]) -> Result<TVal, String> {
    let mut v = v;
    for f in path {
        v = match v {
            TVal::Map(m) => TVal::Str(m.get(f).cloned().unwrap_or_default()),
            other => {
                return Err(format!(
                    "can't evaluate field {f} in type {}",
                    type_name(&other)
                ));
            }
        };
    }
    Ok(v)
}

/// The Go type name of a value, as Go's error messages and `%!verb(type=value)` show it.
pub(super) fn type_name(v: &TVal) -> &'static str {
    match v {
        TVal::Nil => "nil",
        TVal::Bool(_) => "bool",
        TVal::Num(_) => "float64",
        TVal::Str(_) => "string",
        TVal::Map(_) => "map[string]string",
    }
}
