//! The Prometheus text exposition format (0.0.4) and the OpenMetrics text format, as
//! far as a scrape needs them: sample lines with labels and a value. Metadata lines
//! (`# HELP`, `# TYPE`, `# UNIT`) and comments are skipped, an OpenMetrics exemplar
//! (` # {...} v`) is dropped, `# EOF` ends the body, and a sample's own timestamp is
//! ignored (the scrape time is used, as with Prometheus's `honor_timestamps: false`).
//! No well-kept crate parses this format (prometheus-parse is unmaintained), hence
//! this one small module, fuzzed by its tests.

use crate::promql::{Labels, parse_float};

/// One parsed sample: its labels (`__name__` included) and value.
pub type ParsedSample = (Labels, f64);

/// Why a body is not an exposition: the line (1-based) and what was wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Parses a whole body.
pub fn parse(body: &str) -> Result<Vec<ParsedSample>, ParseError> {
    parse_limited(body, 0)
}

/// Parses a body, failing as soon as it holds more than `limit` samples (0: no limit),
/// so a huge body costs no more than the limit.
pub fn parse_limited(body: &str, limit: usize) -> Result<Vec<ParsedSample>, ParseError> {
    let mut out = Vec::new();
    for (i, raw) in body.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        let trimmed = line.trim_start();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('#') {
            if rest.trim() == "EOF" {
                break;
            }
            continue;
        }
        let s = parse_line(trimmed).map_err(|message| ParseError {
            line: i + 1,
            message,
        })?;
        out.push(s);
        if limit > 0 && out.len() > limit {
            return Err(ParseError {
                line: i + 1,
                message: format!("sample_limit exceeded: more than {limit} samples"),
            });
        }
    }
    Ok(out)
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

fn parse_line(line: &str) -> Result<ParsedSample, String> {
    let mut labels = Labels::new();
    let name_end = line
        .char_indices()
        .find(|&(_, c)| !is_name_char(c))
        .map_or(line.len(), |(i, _)| i);
    let name = &line[..name_end];
    if name.is_empty() || !name.starts_with(is_name_start) {
        return Err(format!("expected a metric name, got {:?}", truncate(line)));
    }
    labels.insert("__name__".into(), name.to_string());
    let mut rest = &line[name_end..];
    if let Some(r) = rest.strip_prefix('{') {
        rest = parse_labels(r, &mut labels)?;
    }
    if !rest.starts_with([' ', '\t']) {
        return Err(format!(
            "expected a space before the value of {name}, got {:?}",
            truncate(rest)
        ));
    }
    // Value, then an optional timestamp, then an optional OpenMetrics exemplar.
    let rest = rest.split(" # ").next().unwrap_or("");
    let mut fields = rest.split_ascii_whitespace();
    let value = fields
        .next()
        .ok_or_else(|| format!("{name}: missing value"))?;
    let v = parse_float(value).map_err(|_| format!("{name}: invalid value {value:?}"))?;
    if let Some(ts) = fields.next()
        && ts.parse::<f64>().is_err()
    {
        return Err(format!("{name}: invalid timestamp {ts:?}"));
    }
    if let Some(extra) = fields.next() {
        return Err(format!("{name}: unexpected {extra:?} after the timestamp"));
    }
    Ok((labels, v))
}

/// Reads `a="b",c="d"}` (after the opening brace); returns what follows the brace.
fn parse_labels<'a>(mut s: &'a str, labels: &mut Labels) -> Result<&'a str, String> {
    loop {
        s = s.trim_start();
        if let Some(r) = s.strip_prefix('}') {
            return Ok(r);
        }
        let end = s
            .char_indices()
            .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(s.len(), |(i, _)| i);
        let key = &s[..end];
        if key.is_empty() || key.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!("expected a label name, got {:?}", truncate(s)));
        }
        s = s[end..].trim_start();
        s = s
            .strip_prefix('=')
            .ok_or_else(|| format!("label {key}: expected '='"))?
            .trim_start();
        s = s
            .strip_prefix('"')
            .ok_or_else(|| format!("label {key}: expected a quoted value"))?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let mut closed = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    closed = Some(i + 1);
                    break;
                }
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, other)) => {
                        value.push('\\');
                        value.push(other);
                    }
                    None => break,
                },
                c => value.push(c),
            }
        }
        let Some(after) = closed else {
            return Err(format!("label {key}: unterminated value"));
        };
        if labels.insert(key.to_string(), value).is_some() {
            return Err(format!("label {key} repeated"));
        }
        s = s[after..].trim_start();
        if let Some(r) = s.strip_prefix(',') {
            s = r;
        } else if !s.starts_with('}') {
            return Err(format!(
                "expected ',' or '}}' after label {key}, got {:?}",
                truncate(s)
            ));
        }
    }
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(40) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(l: &str) -> ParsedSample {
        parse(l).unwrap().remove(0)
    }

    #[test]
    fn text_format_lines() {
        let body = "# HELP up x\n# TYPE up gauge\nup 1\nnode_cpu_seconds_total{cpu=\"0\",mode=\"idle\",} 12.5 1700000000000\n\nx{a=\"q\\\"\\\\\\n\"} -Inf\nnan_metric NaN\n";
        let v = parse(body).unwrap();
        assert_eq!(v.len(), 4);
        assert_eq!(v[0].0["__name__"], "up");
        assert_eq!(v[1].0["mode"], "idle");
        assert_eq!(v[1].1, 12.5);
        assert_eq!(v[2].0["a"], "q\"\\\n");
        assert_eq!(v[2].1, f64::NEG_INFINITY);
        assert!(v[3].1.is_nan());
    }

    #[test]
    fn openmetrics_exemplars_and_eof() {
        let body =
            "# TYPE a counter\na_total{x=\"1\"} 3 # {trace_id=\"abc\"} 1.0 1.5\n# EOF\nignored 1\n";
        let v = parse(body).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(one("a_total 3 1.5e9").1, 3.0);
    }

    #[test]
    fn a_limit_stops_the_parse_early() {
        let body = "a 1\nb 2\nc 3\n";
        assert_eq!(parse_limited(body, 3).unwrap().len(), 3);
        let e = parse_limited(body, 2).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("sample_limit exceeded"), "{e}");
    }

    #[test]
    fn errors_name_the_line() {
        for (body, line, want) in [
            ("up 1\n{a=\"b\"} 1\n", 2, "expected a metric name"),
            ("up\n", 1, "expected a space"),
            ("up one\n", 1, "invalid value"),
            ("up{a=b} 1\n", 1, "quoted value"),
            ("up{a=\"b} 1\n", 1, "unterminated"),
            ("up{a=\"b\",a=\"c\"} 1\n", 1, "repeated"),
            ("up 1 2 3\n", 1, "unexpected"),
            ("up 1 soon\n", 1, "invalid timestamp"),
            ("<html>\n", 1, "expected a metric name"),
        ] {
            let e = parse(body).unwrap_err();
            assert_eq!(e.line, line, "{body:?}: {e}");
            assert!(e.message.contains(want), "{body:?}: {e}");
        }
    }

    /// Fuzz-style: no input panics; every prefix of a valid body parses or errors.
    #[test]
    fn arbitrary_bytes_never_panic() {
        let seed = "a_b:c{l=\"v\\\"x\",m=\"é\"} 1.5e3 123 # {t=\"1\"} 2\n# EOF\n{}=\", \t\\\n";
        let chars: Vec<char> = seed.chars().collect();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for n in 0..5000 {
            let mut s = String::new();
            for _ in 0..(n % 60) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push(chars[(x % chars.len() as u64) as usize]);
            }
            let _ = parse(&s);
        }
        for i in 0..=seed.len() {
            if seed.is_char_boundary(i) {
                let _ = parse(&seed[..i]);
            }
        }
    }
}
