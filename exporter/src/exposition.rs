//! Encoding owned [`Family`] values for a scraper: OpenMetrics (prometheus-client's
//! encoder) when the scraper asks for it, else the classic text format 0.0.4
//! ([`web_toolkit::exposition`], shared with the alerter).

use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::metrics::{Family, Kind, Value};

pub use web_toolkit::exposition::Format;
use web_toolkit::exposition::openmetrics_to_text;

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
        Format::Text => openmetrics_to_text(&om, &bare),
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
}
