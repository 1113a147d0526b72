//! Float arithmetic as Prometheus does it, shared by the evaluator, the test-script runner and
//! the series notation: number parsing (`Inf`, `NaN`, hex), compensated (Kahan) summation, the
//! quantile of a sample set, the NaN-last order of sorted values, and the relative comparison
//! promqltest uses.

/// One step of Kahan-Babuska summation: `sum + inc` with its running compensation `c`
/// (Prometheus's `kahanSumInc` in promql/functions.go).
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
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

/// The order `sort`, `sort_desc`, `topk` and `bottomk` put sample values in: by value,
/// descending when `desc`, NaN last either way, as Prometheus's results show them.
pub(crate) fn cmp_nan_last(a: f64, b: f64, desc: bool) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Equal,
        (true, false) => Greater,
        (false, true) => Less,
        _ if desc => b.partial_cmp(&a).unwrap_or(Equal),
        _ => a.partial_cmp(&b).unwrap_or(Equal),
    }
}

/// The `q`-quantile of `vals` with linear interpolation, NaN below everything; outside
/// [0, 1] the matching infinity (Prometheus's `quantile` in promql/quantile.go).
pub(crate) fn quantile(q: f64, mut vals: Vec<f64>) -> f64 {
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
