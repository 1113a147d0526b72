//! What both binaries' `/metrics` share: choosing the format from `Accept`, and
//! turning prometheus-client's OpenMetrics output into the classic text format 0.0.4.
//!
//! prometheus-client only writes OpenMetrics, where a counter family is named without
//! `_total` and untyped metrics are `unknown`. Read as text 0.0.4 (promtool, curl) that
//! looks like a family with no HELP/TYPE, so [`openmetrics_to_text`] rewrites the few
//! metadata lines that differ; sample lines are identical in both formats.

use std::fmt::Write as _;

/// Which exposition format a scrape gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    Text,
}

impl Format {
    /// Chooses the format from an `Accept` header as promhttp does: OpenMetrics when the
    /// scraper lists `application/openmetrics-text` with a non-zero quality, else text.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text;
        };
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            if parts.next() != Some("application/openmetrics-text") {
                continue;
            }
            let zero_q = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f64>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            if !zero_q {
                return Format::OpenMetrics;
            }
        }
        Format::Text
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// Rewrites prometheus-client's OpenMetrics output as text format 0.0.4: counter
/// families get their `_total` name back in HELP/TYPE, `unknown` becomes `untyped`
/// (or `counter` for the `bare` families: counters whose name has no `_total`, which
/// OpenMetrics can only carry as `unknown`), `info` and `stateset` become `gauge`, and
/// `# UNIT` / `# EOF` lines go.
pub fn openmetrics_to_text(om: &str, bare: &[String]) -> String {
    let mut out = String::with_capacity(om.len() + om.len() / 32);
    let mut lines = om.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            let kind = lines
                .peek()
                .and_then(|next| next.strip_prefix("# TYPE "))
                .and_then(|t| t.split_once(' '))
                .filter(|(n, _)| *n == name)
                .map(|(_, k)| k);
            let suffix = if kind == Some("counter") {
                "_total"
            } else {
                ""
            };
            // OpenMetrics escapes `"` in HELP; text format would show the backslash.
            let _ = writeln!(out, "# HELP {name}{suffix} {}", help.replace("\\\"", "\""));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let (suffix, kind) = match kind {
                "counter" => ("_total", "counter"),
                "unknown" if bare.iter().any(|b| b == name) => ("", "counter"),
                "unknown" => ("", "untyped"),
                "info" | "stateset" => ("", "gauge"),
                other => ("", other),
            };
            let _ = writeln!(out, "# TYPE {name}{suffix} {kind}");
        } else if !(line.starts_with("# UNIT ") || line == "# EOF") {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_follows_accept_header() {
        let prom =
            "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4";
        assert_eq!(Format::negotiate(Some(prom)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Text);
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text; q=0")),
            Format::Text
        );
        assert_eq!(
            Format::negotiate(Some("text/plain;version=0.0.4")),
            Format::Text
        );
    }

    #[test]
    fn text_names_counters_with_total_and_drops_openmetrics_only_lines() {
        let om = "# HELP a_seconds A \\\"quoted\\\" help.\n# TYPE a_seconds counter\n# UNIT a_seconds seconds\na_seconds_total 1\n# HELP b Untyped.\n# TYPE b unknown\nb 2\n# HELP c Bare counter.\n# TYPE c unknown\nc 3\n# HELP d Info.\n# TYPE d info\nd_info{v=\"1\"} 1\n# EOF\n";
        assert_eq!(
            openmetrics_to_text(om, &["c".to_string()]),
            "# HELP a_seconds_total A \"quoted\" help.\n# TYPE a_seconds_total counter\na_seconds_total 1\n# HELP b Untyped.\n# TYPE b untyped\nb 2\n# HELP c Bare counter.\n# TYPE c counter\nc 3\n# HELP d Info.\n# TYPE d gauge\nd_info{v=\"1\"} 1\n"
        );
    }
}
