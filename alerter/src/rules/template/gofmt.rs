//! Go's number formatting as alert templates show numbers: `%g` (how `{{ $value }}` prints,
//! and what the humanize functions round to) and `%e` with Go's two-digit exponent.

/// Go's `%g` (shortest when `prec` is None, else `%.<prec>g`).
pub fn go_g(v: f64, prec: Option<usize>) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let e = match prec {
        Some(p) => format!("{:.*e}", p.max(1) - 1, v),
        None => format!("{v:e}"),
    };
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let eprec = match prec {
        None => 6, // Go: the shortest form picks %e vs %f as if the precision were 6
        Some(p) => {
            let p = p.max(1) as i32;
            if p > digits.len() as i32 && digits.len() as i32 > exp {
                digits.len() as i32
            } else {
                p
            }
        }
    };
    let sign = if neg { "-" } else { "" };
    if exp < -4 || exp >= eprec {
        let (a, b) = digits.split_at(1);
        let frac = if b.is_empty() {
            String::new()
        } else {
            format!(".{b}")
        };
        let es = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{a}{frac}e{es}{:02}", exp.abs());
    }
    if exp < 0 {
        return format!("{sign}0.{}{digits}", "0".repeat((-exp - 1) as usize));
    }
    let int_len = exp as usize + 1;
    if digits.len() <= int_len {
        format!("{sign}{digits}{}", "0".repeat(int_len - digits.len()))
    } else {
        format!("{sign}{}.{}", &digits[..int_len], &digits[int_len..])
    }
}

/// Go's `%.<prec>e`: Rust's `{:e}` with the exponent signed and at least two digits.
pub(super) fn go_e(v: f64, prec: usize) -> String {
    let r = format!("{v:.prec$e}");
    match r.split_once('e') {
        Some((m, e)) => {
            let ev: i32 = e.parse().unwrap_or(0);
            format!("{m}e{}{:02}", if ev < 0 { '-' } else { '+' }, ev.abs())
        }
        None => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        assert_eq!(go_g(1e6, None), "1e+06");
        assert_eq!(go_g(123456.0, None), "123456");
        assert_eq!(go_g(0.5, None), "0.5");
        assert_eq!(go_g(1234.5678, Some(4)), "1235");
        assert_eq!(go_g(12345.0, Some(4)), "1.234e+04");
        assert_eq!(go_g(100.0, Some(4)), "100");
        assert_eq!(go_g(0.0001234, None), "0.0001234");
        assert_eq!(go_g(0.00001234, None), "1.234e-05");
    }
}
