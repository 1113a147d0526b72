//! A PromQL engine: an in-memory series store and an evaluator with Prometheus 3.x semantics
//! (left-open range and lookback windows, 5m lookback, stale markers). Parsing is promql-parser's.

pub mod eval;
pub mod script;
pub mod series;
pub mod store;

pub use eval::{Engine, EvalError, Sample, Series, Value};
pub use store::Store;

use std::collections::BTreeMap;

/// A label set, sorted by name. `__name__` is an ordinary entry.
pub type Labels = BTreeMap<String, String>;

/// Prometheus's staleness marker: a NaN with this exact bit pattern.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// `{a="b", c="d"}` as Prometheus prints a label set (name first when present).
pub fn format_labels(l: &Labels) -> String {
    let mut s = String::new();
    if let Some(n) = l.get("__name__") {
        s.push_str(n);
    }
    let rest: Vec<String> = l
        .iter()
        .filter(|(k, _)| k.as_str() != "__name__")
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    if !rest.is_empty() || s.is_empty() {
        s.push('{');
        s.push_str(&rest.join(", "));
        s.push('}');
    }
    s
}
