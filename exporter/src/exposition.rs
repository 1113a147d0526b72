//! Encoding owned [`Family`] values for a scraper: OpenMetrics (prometheus-client's
//! encoder) when the scraper asks for it, else the classic text format 0.0.4.
//!
//! prometheus-client only writes OpenMetrics, where a counter family is named without
//! `_total` and untyped metrics are `unknown`. Read as text 0.0.4 (promtool, curl) that
//! looks like a family with no HELP/TYPE, so [`openmetrics_to_text`] rewrites the few
//! metadata lines that differ; sample lines are identical in both formats.

use std::fmt::Write as _;

use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::metrics::{Family, Kind, Value};

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

/// Encodes `families` in `format`. Takes ownership because prometheus-client's
/// registry only holds `'static` collectors; a scrape's families are built for this.
pub fn encode(families: Vec<Family>, format: Format) -> String {
    let bare: Vec<String> = families
        .iter()
        .filter(|f| is_bare_counter(f))
        .map(|f| f.name.clone())
        .collect();
    let om = encode_openmetrics(families);
    match format {
        Format::OpenMetrics => om,
        Format::Text => text_with_bare_counters(&om, &bare),
    }
}

/// A counter whose peer name has no `_total` (redis_exporter's
/// `redis_total_error_replies`). OpenMetrics requires `_total` on counter samples, so
/// such a family is `unknown` there and a `counter` under its exact name in text 0.0.4,
/// the only format redis_exporter serves.
fn is_bare_counter(fam: &Family) -> bool {
    fam.kind == Kind::Counter && !fam.name.ends_with("_total")
}

/// OpenMetrics text through prometheus-client's registry, `# EOF` included.
pub fn encode_openmetrics(families: Vec<Family>) -> String {
    let mut out = String::with_capacity(families.len() * 160);
    let mut registry = Registry::default();
    registry.register_collector(Box::new(OwnedSnapshot(families)));
    if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
        // Writing into a String cannot fail; an error means an encoder invariant broke.
        tracing::error!("encoding metrics failed");
    }
    out
}

#[derive(Debug)]
struct OwnedSnapshot(Vec<Family>);

impl prometheus_client::collector::Collector for OwnedSnapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for fam in &self.0 {
            encode_family(fam, &mut encoder)?;
        }
        Ok(())
    }
}

fn encode_family(fam: &Family, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    let bare = is_bare_counter(fam);
    let (name, metric_type) = match fam.kind {
        Kind::Counter if bare => (fam.name.as_str(), MetricType::Unknown),
        // The encoder appends `_total` to counter samples itself.
        Kind::Counter => (
            fam.name.strip_suffix("_total").unwrap_or(&fam.name),
            MetricType::Counter,
        ),
        Kind::Gauge => (fam.name.as_str(), MetricType::Gauge),
        Kind::Untyped => (fam.name.as_str(), MetricType::Unknown),
        Kind::Histogram => (fam.name.as_str(), MetricType::Histogram),
    };
    let mut metric = encoder.encode_descriptor(name, &fam.help, None, metric_type)?;
    for sample in &fam.samples {
        let labels = sample.labels.as_slice();
        // An empty label set would render as `name{}`; encode those without a family.
        if labels.is_empty() {
            encode_value(&mut metric, &sample.value, fam.kind, bare)?;
        } else {
            encode_value(
                &mut metric.encode_family(&labels)?,
                &sample.value,
                fam.kind,
                bare,
            )?;
        }
    }
    Ok(())
}

fn encode_value(
    m: &mut prometheus_client::encoding::MetricEncoder,
    value: &Value,
    kind: Kind,
    bare: bool,
) -> Result<(), std::fmt::Error> {
    {
        match (value, kind) {
            (Value::Scalar(v), Kind::Counter) if !bare => {
                m.encode_counter::<NoLabelSet, f64, f64>(v, None)?;
            }
            (Value::Scalar(v), _) => m.encode_gauge(v)?,
            (
                Value::Histogram {
                    buckets,
                    sum,
                    count,
                },
                _,
            ) => {
                // Our buckets are cumulative without +Inf; the encoder wants per-bucket
                // counts ending in +Inf.
                let mut per_bucket = Vec::with_capacity(buckets.len() + 1);
                let mut prev = 0u64;
                for &(le, cum) in buckets {
                    per_bucket.push((le, cum.saturating_sub(prev)));
                    prev = cum;
                }
                per_bucket.push((f64::INFINITY, count.saturating_sub(prev)));
                m.encode_histogram::<NoLabelSet>(*sum, *count, &per_bucket, None)?;
            }
        }
    }
    Ok(())
}

/// Rewrites prometheus-client's OpenMetrics output as text format 0.0.4: counter
/// families get their `_total` name back in HELP/TYPE, `unknown` becomes `untyped`,
/// `info` becomes `gauge`, and `# UNIT` / `# EOF` lines go.
pub fn openmetrics_to_text(om: &str) -> String {
    text_with_bare_counters(om, &[])
}

/// [`openmetrics_to_text`], typing the `bare` families (see [`is_bare_counter`]) back
/// as `counter`.
fn text_with_bare_counters(om: &str, bare: &[String]) -> String {
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
            let _ = writeln!(out, "# HELP {name}{suffix} {}", escape_help(help));
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
        } else if line.starts_with("# UNIT ") || line == "# EOF" {
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Text 0.0.4 escapes backslash and newline in HELP (OpenMetrics also escapes `"`,
/// which text format would render literally).
fn escape_help(help: &str) -> std::borrow::Cow<'_, str> {
    if help.contains("\\\"") {
        std::borrow::Cow::Owned(help.replace("\\\"", "\""))
    } else {
        std::borrow::Cow::Borrowed(help)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_families() -> Vec<Family> {
        let mut cpu = Family::counter(
            "node_cpu_seconds_total",
            "Seconds the CPUs spent in each mode.",
        );
        cpu.push([("cpu", "0"), ("mode", "idle")], 12.5);
        let load = Family::gauge("node_load1", "1m load average.").single(0.25);
        let oom = Family::untyped(
            "node_vmstat_oom_kill",
            "/proc/vmstat information field oom_kill.",
        )
        .single(3.0);
        let hist = Family {
            name: "task_runtime_seconds".into(),
            help: "Task runtime.".into(),
            kind: Kind::Histogram,
            samples: vec![crate::metrics::Sample {
                labels: vec![("task".into(), "a\"b".into())],
                value: Value::Histogram {
                    buckets: vec![(0.5, 1), (1.0, 3)],
                    sum: 2.5,
                    count: 4,
                },
            }],
        };
        vec![cpu, load, oom, hist]
    }

    #[test]
    fn openmetrics_names_counters_without_total_and_ends_with_eof() {
        let om = encode(sample_families(), Format::OpenMetrics);
        assert!(om.contains("# TYPE node_cpu_seconds counter\n"), "{om}");
        assert!(
            om.contains("node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 12.5\n"),
            "{om}"
        );
        assert!(om.contains("# TYPE node_vmstat_oom_kill unknown\n"), "{om}");
        assert!(om.ends_with("# EOF\n"));
    }

    #[test]
    fn text_format_restores_total_and_untyped() {
        let text = encode(sample_families(), Format::Text);
        let expected = "\
# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.
# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 12.5
# HELP node_load1 1m load average.
# TYPE node_load1 gauge
node_load1 0.25
# HELP node_vmstat_oom_kill /proc/vmstat information field oom_kill.
# TYPE node_vmstat_oom_kill untyped
node_vmstat_oom_kill 3.0
# HELP task_runtime_seconds Task runtime.
# TYPE task_runtime_seconds histogram
task_runtime_seconds_sum{task=\"a\\\"b\"} 2.5
task_runtime_seconds_count{task=\"a\\\"b\"} 4
task_runtime_seconds_bucket{le=\"0.5\",task=\"a\\\"b\"} 1
task_runtime_seconds_bucket{le=\"1.0\",task=\"a\\\"b\"} 3
task_runtime_seconds_bucket{le=\"+Inf\",task=\"a\\\"b\"} 4
";
        assert_eq!(text, expected);
    }

    #[test]
    fn a_counter_named_without_total_keeps_its_name() {
        // redis_exporter's `redis_total_error_replies` is a counter without `_total`.
        let fams = || {
            vec![
                Family::counter("redis_total_error_replies", "total_error_replies metric")
                    .single(7.0),
            ]
        };
        let text = encode(fams(), Format::Text);
        assert_eq!(
            text,
            "# HELP redis_total_error_replies total_error_replies metric\n\
             # TYPE redis_total_error_replies counter\n\
             redis_total_error_replies 7.0\n"
        );
        let om = encode(fams(), Format::OpenMetrics);
        assert!(
            om.contains(
                "# TYPE redis_total_error_replies unknown\nredis_total_error_replies 7.0\n"
            ),
            "{om}"
        );
    }

    #[test]
    fn negotiation_follows_accept_header() {
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
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
}
