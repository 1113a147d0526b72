//! The subset of Go's text/template that Prometheus alert templates use: `{{ $labels.x }}`,
//! `{{ $value }}`, `{{ .Labels.x }}`, pipelines, `if`/`with`/`else`/`end`, variables, and Prometheus's
//! functions (humanize*, printf, toUpper, reReplaceAll, match, …). Unsupported constructs are
//! parse errors, so a rule file using them is rejected at load time.
//!
//! This file is the API: a [`Template`] is parsed once when the rule file loads and expanded
//! per alert with [`TemplateData`]. The parts: parse.rs (source to nodes), exec.rs (nodes and
//! alert data to text), value.rs (Go's values), functions.rs (the callable functions),
//! printf.rs and gofmt.rs (Go's `fmt`).

mod exec;
mod functions;
mod gofmt;
mod parse;
mod printf;
mod value;

pub use exec::TemplateData;
pub use functions::query_escape;
pub use gofmt::go_g;
pub use printf::go_printf;
pub use value::TVal;

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<parse::Node>,
}

impl Template {
    /// Parses `src` with Prometheus's variable prefix ($labels, $externalLabels, $externalURL,
    /// $value) in scope.
    pub fn parse(src: &str) -> Result<Template, String> {
        Ok(Template {
            nodes: parse::parse(src)?,
        })
    }

    /// Expands the template with alert data.
    pub fn expand(&self, data: &TemplateData) -> Result<String, String> {
        exec::run(&self.nodes, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::Labels;

    fn x(src: &str, value: f64) -> String {
        let mut labels = Labels::new();
        labels.insert("instance".into(), "host:9100".into());
        let d = TemplateData {
            labels,
            value,
            ..Default::default()
        };
        Template::parse(src).unwrap().expand(&d).unwrap()
    }

    #[test]
    fn expands_prometheus_style() {
        assert_eq!(
            x("{{ $labels.instance }} at {{ $value }}", 0.25),
            "host:9100 at 0.25"
        );
        assert_eq!(x("{{ .Labels.instance | stripPort }}", 0.0), "host");
        assert_eq!(x("{{ $value | humanize }}", 1234567.0), "1.235M");
        assert_eq!(x("{{ $value | humanize1024 }}", 2048.0), "2ki");
        assert_eq!(x("{{ $value | humanizePercentage }}", 0.8512), "85.12%");
        assert_eq!(x("{{ humanizeDuration $value }}", 3725.0), "1h 2m 5s");
        assert_eq!(x("{{ printf \"%.2f\" $value }}", 1.0 / 3.0), "0.33");
        assert_eq!(
            x("{{ if gt $value 1.0 }}big{{ else }}small{{ end }}", 2.0),
            "big"
        );
        assert_eq!(x("{{- $v := $value }} v={{ $v }}", 3.0), " v=3");
        assert!(Template::parse("{{ $labels.x").is_err());
        assert!(Template::parse("{{ nosuchfunc $value }}").is_err());
        assert!(Template::parse("{{ $nosuchvar }}").is_err());
        assert!(Template::parse("{{ if $value }}x").is_err());
    }

    /// `with` as kube-prometheus's annotations use it, `else with` and `else if`
    /// chains, and `.` bound inside the branch only.
    #[test]
    fn with_binds_dot() {
        assert_eq!(
            x("{{ with $labels.instance }}on {{ . }}{{ end }}", 0.0),
            "on host:9100"
        );
        assert_eq!(
            x(
                "{{ with $labels.nope }}a{{ else }}b {{ .Labels.instance }}{{ end }}",
                0.0
            ),
            "b host:9100"
        );
        assert_eq!(
            x(
                "{{ with $labels.nope }}a{{ else with $value }}v={{ . | humanize }}{{ else }}c{{ end }}",
                2.5
            ),
            "v=2.5"
        );
        assert_eq!(
            x(
                "{{ if $labels.nope }}a{{ else if gt $value 1.0 }}big{{ else }}small{{ end }}",
                0.5
            ),
            "small"
        );
        // As Go: no `else if` in a with, no `else with` in an if.
        assert!(Template::parse("{{ with $value }}a{{ else if $value }}b{{ end }}").is_err());
        assert!(Template::parse("{{ if $value }}a{{ else with $value }}b{{ end }}").is_err());
        assert_eq!(
            x("{{ with .Labels }}{{ .instance }}{{ end }}", 0.0),
            "host:9100"
        );
        assert!(Template::parse("{{ with $value }}x").is_err());
        assert!(Template::parse("{{ range $labels }}x{{ end }}").is_err());
    }
}
