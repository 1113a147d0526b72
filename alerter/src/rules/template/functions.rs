//! The functions alert templates can call: THE list of names a template may use
//! ([`FUNCS`], checked at parse time) and what each computes ([`call`]) — Prometheus's
//! humanize* family, printf, string and regex helpers, comparisons and Go's builtins.
//! Functions that need a query engine or the server (`query`, `label`, `externalURL`, ...)
//! parse but fail when run, since rule templates here expand without one.

use super::gofmt::go_g;
use super::printf::go_printf;
use super::value::{TVal, field};

/// Every function name a template may use.
pub(super) const FUNCS: &[&str] = &[
    "humanize",
    "humanize1024",
    "humanizePercentage",
    "humanizeDuration",
    "humanizeTimestamp",
    "printf",
    "print",
    "toUpper",
    "toLower",
    "title",
    "reReplaceAll",
    "match",
    "stripPort",
    "stripDomain",
    "safeHtml",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "and",
    "or",
    "not",
    "len",
    "index",
    "urlQueryEscape",
    "query",
    "first",
    "label",
    "value",
    "strvalue",
    "sortByLabel",
    "args",
    "toTime",
    "parseDuration",
    "externalURL",
    "pathPrefix",
];

fn want(f: &str, args: &[TVal], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!(
            "wrong number of args for {f}: want {n} got {}",
            args.len()
        ));
    }
    Ok(())
}

pub(super) fn call(f: &str, args: Vec<TVal>) -> Result<TVal, String> {
    let s = |v: &TVal| v.print();
    Ok(match f {
        "humanize" | "humanize1024" | "humanizePercentage" | "humanizeDuration"
        | "humanizeTimestamp" => {
            want(f, &args, 1)?;
            let v = args[0].num()?;
            TVal::Str(match f {
                "humanize" => humanize(v),
                "humanize1024" => humanize1024(v),
                "humanizePercentage" => format!("{}%", go_g(v * 100.0, Some(4))),
                "humanizeDuration" => humanize_duration(v),
                _ => humanize_timestamp(v),
            })
        }
        "printf" => {
            let Some((fmt, rest)) = args.split_first() else {
                return Err("printf needs a format".into());
            };
            TVal::Str(go_printf(&s(fmt), rest))
        }
        "print" => TVal::Str(args.iter().map(s).collect::<Vec<_>>().join(" ")),
        "toUpper" | "toLower" | "title" | "stripPort" | "stripDomain" | "safeHtml"
        | "urlQueryEscape" => {
            want(f, &args, 1)?;
            let x = s(&args[0]);
            TVal::Str(match f {
                "toUpper" => x.to_uppercase(),
                "toLower" => x.to_lowercase(),
                "title" => x
                    .split(' ')
                    .map(|w| {
                        let mut c = w.chars();
                        c.next()
                            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                            .unwrap_or_default()
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
                "stripPort" => match x.rsplit_once(':') {
                    Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => {
                        h.trim_start_matches('[').trim_end_matches(']').to_string()
                    }
                    _ => x,
                },
                "stripDomain" => {
                    let (host, port) = match x.rsplit_once(':') {
                        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => {
                            (h.to_string(), format!(":{p}"))
                        }
                        _ => (x.clone(), String::new()),
                    };
                    if host.parse::<std::net::IpAddr>().is_ok() {
                        x
                    } else {
                        format!("{}{port}", host.split('.').next().unwrap_or(""))
                    }
                }
                "urlQueryEscape" => query_escape(&x),
                _ => x,
            })
        }
        "reReplaceAll" => {
            want(f, &args, 3)?;
            let re =
                regex::Regex::new(&format!("(?s:{})", s(&args[0]))).map_err(|e| e.to_string())?;
            TVal::Str(
                re.replace_all(&s(&args[2]), s(&args[1]).as_str())
                    .into_owned(),
            )
        }
        "match" => {
            want(f, &args, 2)?;
            let re = regex::Regex::new(&s(&args[0])).map_err(|e| e.to_string())?;
            TVal::Bool(re.is_match(&s(&args[1])))
        }
        "eq" | "ne" | "lt" | "le" | "gt" | "ge" => {
            want(f, &args, 2)?;
            let o = match (&args[0], &args[1]) {
                (TVal::Num(a), TVal::Num(b)) => a.partial_cmp(b),
                (a, b) => Some(s(a).cmp(&s(b))),
            };
            let Some(o) = o else {
                return Ok(TVal::Bool(f == "ne"));
            };
            TVal::Bool(match f {
                "eq" => o.is_eq(),
                "ne" => o.is_ne(),
                "lt" => o.is_lt(),
                "le" => o.is_le(),
                "gt" => o.is_gt(),
                _ => o.is_ge(),
            })
        }
        "not" => {
            want(f, &args, 1)?;
            TVal::Bool(!args[0].truthy())
        }
        "and" => args
            .iter()
            .find(|a| !a.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(TVal::Nil),
        "or" => args
            .iter()
            .find(|a| a.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(TVal::Nil),
        "len" => {
            want(f, &args, 1)?;
            TVal::Num(match &args[0] {
                TVal::Map(m) => m.len() as f64,
                v => s(v).len() as f64,
            })
        }
        "index" => {
            want(f, &args, 2)?;
            field(args[0].clone(), &[s(&args[1])])?
        }
        "toTime" | "parseDuration" => {
            want(f, &args, 1)?;
            match f {
                "parseDuration" => TVal::Num(
                    crate::rules::duration::parse_duration(&s(&args[0]))
                        .map_err(|e| e.to_string())?
                        .as_std()
                        .as_secs_f64(),
                ),
                _ => TVal::Str(humanize_timestamp(args[0].num()?)),
            }
        }
        _ => return Err(format!("function {f:?} is not available in this context")),
    })
}

/// Go's `url.QueryEscape`: unreserved bytes kept, space as `+`, the rest `%XX`.
pub fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn humanize(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return go_g(v, Some(4));
    }
    let mut v = v;
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        (v, prefix) = sub_unit(v);
    }
    format!("{}{prefix}", go_g(v, Some(4)))
}

fn humanize1024(v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return go_g(v, Some(4));
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", go_g(v, Some(4)))
}

fn humanize_duration(v: f64) -> String {
    if !v.is_finite() {
        return go_g(v, Some(4));
    }
    if v == 0.0 {
        return format!("{}s", go_g(v, Some(4)));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        let v = v.abs();
        let d = v as i64;
        let (s, m, h, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86400);
        if days != 0 {
            return format!("{sign}{days}d {h}h {m}m {s}s");
        }
        if h != 0 {
            return format!("{sign}{h}h {m}m {s}s");
        }
        if m != 0 {
            return format!("{sign}{m}m {s}s");
        }
        return format!("{sign}{}s", go_g(v, Some(4)));
    }
    let (v, prefix) = sub_unit(v);
    format!("{}{prefix}s", go_g(v, Some(4)))
}

/// `v` (below 1 in magnitude) multiplied by 1000 until it is not, with the SI prefix saying
/// how often (milli to yocto), as humanize and humanizeDuration scale small values.
fn sub_unit(v: f64) -> (f64, &'static str) {
    let mut v = v;
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    (v, prefix)
}

fn humanize_timestamp(v: f64) -> String {
    if !v.is_finite() {
        return go_g(v, Some(4));
    }
    let secs = v.floor() as i64;
    let nanos = ((v - v.floor()) * 1e9).round() as u32;
    match chrono::DateTime::from_timestamp(secs, nanos.min(999_999_999)) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S%.f +0000 UTC").to_string(),
        None => go_g(v, Some(4)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_take_sub_unit_prefixes() {
        assert_eq!(humanize(0.00123), "1.23m");
        assert_eq!(humanize(-0.5), "-500m");
        assert_eq!(humanize_duration(0.0015), "1.5ms");
        assert_eq!(humanize_duration(2e-7), "200ns");
    }
}
