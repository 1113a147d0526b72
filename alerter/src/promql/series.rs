//! The series notation shared by promqltest `load` blocks and promtool `input_series`:
//! `metric{a="b"}` with values like `0+10x100 _ _x3 stale 5x2 -Inf`.

use super::Labels;
use super::number::parse_float;
use promql_parser::label::MatchOp;
use promql_parser::parser::Expr;

/// One entry of a values string: a value, or a missing sample.
pub type SeriesValue = Option<f64>;

/// Parses `metric{a="b"}` (or `{__name__="m"}`) into labels.
pub fn parse_series_labels(s: &str) -> Result<Labels, String> {
    let s = s.trim();
    if s == "{}" || s.is_empty() {
        return Ok(Labels::new());
    }
    let expr = super::parse_expr(s).map_err(|e| format!("invalid series {s:?}: {e}"))?;
    let Expr::VectorSelector(vs) = expr else {
        return Err(format!(
            "invalid series {s:?}: expected a metric name and labels"
        ));
    };
    if vs.offset.is_some() || vs.at.is_some() || !vs.matchers.or_matchers.is_empty() {
        return Err(format!(
            "invalid series {s:?}: expected a metric name and labels"
        ));
    }
    let mut l = Labels::new();
    if let Some(n) = vs.name {
        l.insert("__name__".into(), n);
    }
    for m in vs.matchers.matchers {
        if m.op != MatchOp::Equal {
            return Err(format!(
                "invalid series {s:?}: only `=` matchers describe a series"
            ));
        }
        l.insert(m.name, m.value);
    }
    Ok(l)
}

/// Splits `metric{...} values` into the series part and the values part.
pub fn split_series_line(line: &str) -> Result<(&str, &str), String> {
    let line = line.trim();
    let cut = match (line.find('{'), line.find(char::is_whitespace)) {
        (Some(b), ws) if ws.is_none_or(|w| b < w) => {
            // Find the closing brace outside quotes.
            let mut in_q = false;
            let mut esc = false;
            let mut end = None;
            for (i, c) in line.char_indices().skip(b) {
                if esc {
                    esc = false;
                } else if c == '\\' {
                    esc = true;
                } else if c == '"' {
                    in_q = !in_q;
                } else if c == '}' && !in_q {
                    end = Some(i + 1);
                    break;
                }
            }
            end.ok_or_else(|| format!("unclosed '{{' in {line:?}"))?
        }
        (_, Some(w)) => w,
        (_, None) => line.len(),
    };
    Ok((&line[..cut], line[cut..].trim()))
}

fn split_op(head: &str) -> Option<(&str, char, &str)> {
    let b = head.as_bytes();
    for i in 1..b.len() {
        let c = b[i] as char;
        if (c == '+' || c == '-') && !matches!(b[i - 1], b'e' | b'E') {
            return Some((&head[..i], c, &head[i + 1..]));
        }
    }
    None
}

/// Expands a values string. `a+bxn` gives n+1 values by repeated addition, `_xn` n gaps.
pub fn parse_values(s: &str) -> Result<Vec<SeriesValue>, String> {
    let mut out = Vec::new();
    for tok in s.split_whitespace() {
        if tok.starts_with("{{") {
            return Err(format!(
                "native histogram values are not supported: {tok:?}"
            ));
        }
        if tok == "_" {
            out.push(None);
            continue;
        }
        if tok == "stale" {
            out.push(Some(super::stale_nan()));
            continue;
        }
        let expanded = tok.rfind('x').and_then(|x| {
            let (head, n) = (&tok[..x], &tok[x + 1..]);
            let n: usize = n.parse().ok()?;
            Some((head, n))
        });
        let Some((head, n)) = expanded else {
            out.push(Some(
                parse_float(tok).map_err(|e| format!("{e} in values {s:?}"))?,
            ));
            continue;
        };
        if n > 1_000_000 || out.len() + n > 1_000_000 {
            return Err(format!("too many values in {tok:?}"));
        }
        if head == "_" {
            out.extend(std::iter::repeat_n(None, n));
            continue;
        }
        if head == "stale" {
            out.extend(std::iter::repeat_n(Some(super::stale_nan()), n + 1));
            continue;
        }
        match split_op(head) {
            Some((a, op, b)) => {
                let mut a = parse_float(a).map_err(|e| format!("{e} in {tok:?}"))?;
                let mut b = parse_float(b).map_err(|e| format!("{e} in {tok:?}"))?;
                if op == '-' {
                    b = -b;
                }
                out.push(Some(a));
                for _ in 0..n {
                    a += b;
                    out.push(Some(a));
                }
            }
            None => {
                let a = parse_float(head).map_err(|e| format!("{e} in {tok:?}"))?;
                out.extend(std::iter::repeat_n(Some(a), n + 1));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_notation() {
        assert_eq!(
            parse_values("1+1x2 _ _x2 5x1 -1-2x1").unwrap(),
            vec![
                Some(1.0),
                Some(2.0),
                Some(3.0),
                None,
                None,
                None,
                Some(5.0),
                Some(5.0),
                Some(-1.0),
                Some(-3.0)
            ]
        );
        assert_eq!(
            parse_values("1e3 -Inf").unwrap(),
            vec![Some(1000.0), Some(f64::NEG_INFINITY)]
        );
        assert!(parse_values("abc").is_err());
    }

    #[test]
    fn splits_lines() {
        assert_eq!(
            split_series_line(r#"m{a="x y}"} 1 2"#).unwrap(),
            (r#"m{a="x y}"}"#, "1 2")
        );
        assert_eq!(split_series_line("m 1").unwrap(), ("m", "1"));
        let l = parse_series_labels(r#"m{a="b"}"#).unwrap();
        assert_eq!(l.get("a").map(String::as_str), Some("b"));
    }
}
