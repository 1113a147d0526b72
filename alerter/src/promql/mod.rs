//! A PromQL engine: an in-memory series store and an evaluator with Prometheus 3.x semantics
//! (left-open range and lookback windows, 5m lookback, stale markers). Parsing is promql-parser's.
//!
//! `eval` walks the AST and owns the limits; `selector`, `binary`, `aggregate` and `functions`
//! (the one table of PromQL functions, with `window` for range functions) decide each kind of
//! node; `check` is what rule files are checked with before evaluation; `store` holds series;
//! `series` and `script` read promtool's series notation and promqltest scripts.
//! Depends on nothing else in this crate (a test enforces it), so it can become its own crate.

mod aggregate;
mod binary;
pub mod check;
pub mod eval;
mod functions;
pub mod number;
pub mod script;
mod selector;
pub mod series;
pub mod store;
mod window;

pub use check::{check_supported, supported_function};
pub use eval::{Engine, EvalError, MAX_DEPTH, MAX_WORK, Sample, Series, Value};
pub use number::{almost_equal, parse_float};
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

/// Prometheus's label-name grammar: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(crate) fn valid_label_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
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

/// Largest number of seconds accepted where a duration is written as a plain number.
const MAX_NUMBER_DURATION_SECS: f64 = 1e11;

/// Parses PromQL with promql-parser, first refusing durations written as numbers that it would
/// panic on (`[1e300]`, `offset Inf`, `[NaN:]`): it converts them with `Duration::from_secs_f64`.
pub fn parse_expr(text: &str) -> Result<promql_parser::parser::Expr, String> {
    check_number_durations(text)?;
    promql_parser::parser::parse(text)
}

fn check_number_durations(text: &str) -> Result<(), String> {
    let cs: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut in_brackets = false;
    let mut after_offset = false;
    while i < cs.len() {
        let c = cs[i];
        match c {
            '"' | '\'' | '`' => {
                let q = c;
                i += 1;
                while i < cs.len() && cs[i] != q {
                    if cs[i] == '\\' && q != '`' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
                after_offset = false;
                continue;
            }
            '[' => in_brackets = true,
            ']' => in_brackets = false,
            '#' => {
                while i < cs.len() && cs[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            _ => {}
        }
        if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
            let start = i;
            while i < cs.len()
                && (cs[i].is_ascii_alphanumeric()
                    || matches!(cs[i], '.' | '_')
                    || (cs[i] == ':' && !in_brackets))
            {
                // An exponent's sign belongs to the number.
                if matches!(cs[i], 'e' | 'E')
                    && i + 1 < cs.len()
                    && matches!(cs[i + 1], '+' | '-')
                    && cs[start].is_ascii_digit()
                {
                    i += 1;
                }
                i += 1;
            }
            let word: String = cs[start..i].iter().collect();
            let lower = word.to_ascii_lowercase();
            let huge_hex = lower.strip_prefix("0x").is_some_and(|h| {
                !h.is_empty()
                    && h.chars().all(|c| c.is_ascii_hexdigit())
                    && i64::from_str_radix(h, 16).is_err()
            });
            if (in_brackets || after_offset) && huge_hex {
                return Err(format!("duration {word} is out of range"));
            }
            if (in_brackets || after_offset)
                && let Ok(v) = parse_float(&word)
                && !(v.is_finite() && v.abs() <= MAX_NUMBER_DURATION_SECS)
            {
                return Err(format!("duration {word} is out of range"));
            }
            after_offset = word.eq_ignore_ascii_case("offset");
            continue;
        }
        if !c.is_whitespace() && !matches!(c, '-' | '+') {
            after_offset = false;
        }
        i += 1;
    }
    Ok(())
}

/// A PromQL duration in milliseconds, the engine's unit of time.
pub(crate) fn dur_ms(d: &std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}
