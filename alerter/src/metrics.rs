//! The alerter's own metrics (`/metrics`): Alertmanager's names and labels for what
//! Alertmanager measures (so its mixin's alerts and dashboards work unchanged), and
//! `alerter_*` only for what it lacks. Counters and histograms are bumped where
//! things happen; gauges that describe state (alerts and silences by state,
//! receivers, storage errors) are filled from a [`Snapshot`] taken just before
//! encoding, because prometheus-client's encoding is synchronous and must not wait
//! on locks held by request handlers. Served as text format 0.0.4 unless the
//! scraper asks for OpenMetrics, as Alertmanager's promhttp does.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use crate::notify::Reason;
use crate::notify::pipeline::{LATENCY_BUCKETS, PipelineStats};
use crate::store::stats::{MaintenanceSnapshot, MaintenanceStats, QUERY_BUCKETS};
pub use web_toolkit::exposition::Format;
use web_toolkit::exposition::openmetrics_to_text;

use chrono::{DateTime, Utc};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// Alert states as the API reports them (`status.state`).
pub const ALERT_STATES: [&str; 3] = ["active", "suppressed", "unprocessed"];
/// Silence states as the API reports them.
pub const SILENCE_STATES: [&str; 3] = ["active", "pending", "expired"];
/// The API version of Alertmanager's `version` label; we serve only v2.
const API_VERSION: &str = "v2";

pub struct Metrics {
    registry: Registry,
    alerts: Family<Labels, Gauge>,
    marked_alerts: Family<Labels, Gauge>,
    aggregation_groups: Gauge,
    receivers: Gauge,
    integrations: Gauge,
    alerts_received: Family<Labels, Counter>,
    /// The two series of `alerts_received`, held so a POST bumps them without a
    /// label lookup.
    received_firing: Counter,
    received_resolved: Counter,
    alerts_invalid: Family<Labels, Counter>,
    invalid_v2: Counter,
    build_info: Family<Labels, Gauge>,
    receiver_ready: Family<Labels, Gauge>,
    silences: Family<Labels, Gauge>,
    reload_successful: Gauge,
    reload_success_time: FloatGauge,
    config_hash: FloatGauge,
    storage_errors: Family<Labels, Counter>,
    alerts_limited: Family<Labels, Counter>,
    stored_bytes: Gauge,
    /// The notification log's and the silences' maintenance, by metric prefix.
    stores: Vec<(&'static str, &'static str, Arc<MaintenanceStats>)>,
}

/// What the state gauges show, collected (asynchronously, under the owners' locks)
/// into owned values before encoding.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// Count per alert state, in [`ALERT_STATES`] order.
    pub alerts: [i64; 3],
    /// Count per silence state, in [`SILENCE_STATES`] order.
    pub silences: [i64; 3],
    /// Cumulative write errors per data file.
    pub storage_errors: Vec<(String, u64)>,
    /// Aggregation groups that hold alerts now.
    pub aggregation_groups: i64,
    /// Receivers and integrations of the config in service.
    pub receivers: i64,
    pub integrations: i64,
    /// Alerts refused by the store's limits since start, by reason.
    pub alerts_limited: Vec<(&'static str, u64)>,
    /// The sum of the stored alerts' sizes (what `--alerts.max-size-bytes` bounds).
    pub stored_bytes: i64,
}

/// Encodes the notify pipeline's counters at scrape time: the pipeline's
/// [`PipelineStats`] are the one record of what was sent, so metrics, the
/// self-monitoring alarms and tests all read the same numbers.
#[derive(Debug)]
struct NotifyCollector(Arc<PipelineStats>);

impl Collector for NotifyCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.0.snapshot();
        let counter = |enc: &mut DescriptorEncoder,
                       name: &str,
                       help: &str,
                       rows: Vec<(Labels, u64)>|
         -> Result<(), std::fmt::Error> {
            let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (labels, v) in rows {
                m.encode_family(&labels)?
                    .encode_counter::<NoLabelSet, _, u64>(&v, None)?;
            }
            Ok(())
        };
        let by_integration = |m: &std::collections::BTreeMap<String, u64>| {
            m.iter()
                .map(|(i, v)| (vec![("integration", i.clone())], *v))
                .collect::<Vec<_>>()
        };
        let by_receiver = |m: &std::collections::BTreeMap<(String, String, String), u64>| {
            m.iter()
                .map(|((r, i, reason), v)| {
                    let labels = vec![
                        ("receiver", r.clone()),
                        ("integration", i.clone()),
                        ("reason", reason.clone()),
                    ];
                    (labels, *v)
                })
                .collect::<Vec<_>>()
        };
        counter(
            &mut enc,
            "alertmanager_notifications",
            "The total number of attempted notifications.",
            by_integration(&s.notifications),
        )?;
        // Alertmanager's labels (integration, and reason since 0.26): its mixin
        // divides this by notifications_total `ignoring (reason)`, so a further
        // label here would make that alert match nothing.
        // Every reason of every integration in use exists at 0 (Alertmanager
        // pre-creates its own reasons), so a rate() over them works at once.
        let mut failed: std::collections::BTreeMap<(&str, &str), u64> = s
            .notifications
            .keys()
            .flat_map(|i| {
                Reason::ALL
                    .iter()
                    .map(move |r| ((i.as_str(), r.as_str()), 0))
            })
            .collect();
        for ((_, i, reason), v) in &s.failed {
            *failed.entry((i, reason)).or_default() += v;
        }
        counter(
            &mut enc,
            "alertmanager_notifications_failed",
            "The total number of failed notifications.",
            failed
                .into_iter()
                .map(|((i, reason), v)| {
                    (
                        vec![
                            ("integration", i.to_string()),
                            ("reason", reason.to_string()),
                        ],
                        v,
                    )
                })
                .collect(),
        )?;
        counter(
            &mut enc,
            "alerter_notification_attempts_failed",
            "The total number of failed delivery attempts (each retry counts), by receiver, integration and reason.",
            by_receiver(&s.attempts_failed),
        )?;
        counter(
            &mut enc,
            "alerter_receiver_notifications_failed",
            "The total number of failed notifications, by receiver, integration and reason.",
            by_receiver(&s.failed),
        )?;
        counter(
            &mut enc,
            "alertmanager_notification_requests",
            "The total number of attempted notification requests.",
            by_integration(&s.requests),
        )?;
        counter(
            &mut enc,
            "alertmanager_notification_requests_failed",
            "The total number of failed notification requests.",
            by_integration(&s.requests_failed),
        )?;
        {
            let mut m = enc.encode_descriptor(
                "alertmanager_notification_latency_seconds",
                "The latency of notifications in seconds.",
                None,
                MetricType::Histogram,
            )?;
            for (i, l) in &s.latency {
                // The encoder wants per-bucket counts; the stats keep them cumulative.
                let mut prev = 0;
                let mut buckets: Vec<(f64, u64)> = LATENCY_BUCKETS
                    .iter()
                    .zip(l.buckets)
                    .map(|(b, c)| {
                        let own = c.saturating_sub(prev);
                        prev = c;
                        (*b, own)
                    })
                    .collect();
                buckets.push((f64::INFINITY, l.count.saturating_sub(prev)));
                let labels = vec![("integration", i.clone())];
                m.encode_family(&labels)?.encode_histogram::<NoLabelSet>(
                    l.sum_seconds,
                    l.count,
                    &buckets,
                    None,
                )?;
            }
        }
        let mut m = enc.encode_descriptor(
            "alerter_notifications_failing",
            "1 while an integration's last notification failed, by receiver and integration.",
            None,
            MetricType::Gauge,
        )?;
        for (r, i) in s.failing.keys() {
            let labels = vec![("receiver", r.clone()), ("integration", i.clone())];
            m.encode_family(&labels)?.encode_gauge(&1i64)?;
        }
        Ok(())
    }
}

/// `process_*`, as every Prometheus client serves them (Alertmanager's too), so the
/// alerter dashboard's memory and CPU panels have data.
#[derive(Debug)]
struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for p in web_toolkit::process::samples() {
            if p.counter {
                // The encoder adds `_total` to a counter's name.
                let name = p.name.strip_suffix("_total").unwrap_or(p.name);
                enc.encode_descriptor(name, p.help, None, MetricType::Counter)?
                    .encode_counter::<NoLabelSet, _, u64>(&p.value, None)?;
            } else {
                enc.encode_descriptor(p.name, p.help, None, MetricType::Gauge)?
                    .encode_gauge(&p.value)?;
            }
        }
        Ok(())
    }
}

impl Metrics {
    /// `stats` are the notify pipeline's counters, kept for the process lifetime.
    pub fn new(stats: Arc<PipelineStats>) -> Metrics {
        let mut registry = Registry::default();
        let m = Metrics {
            alerts: Family::default(),
            marked_alerts: Family::default(),
            aggregation_groups: Gauge::default(),
            receivers: Gauge::default(),
            integrations: Gauge::default(),
            alerts_received: Family::default(),
            received_firing: Counter::default(),
            received_resolved: Counter::default(),
            alerts_invalid: Family::default(),
            invalid_v2: Counter::default(),
            build_info: Family::default(),
            receiver_ready: Family::default(),
            silences: Family::default(),
            reload_successful: Gauge::default(),
            reload_success_time: FloatGauge::default(),
            config_hash: FloatGauge::default(),
            storage_errors: Family::default(),
            alerts_limited: Family::default(),
            stored_bytes: Gauge::default(),
            stores: Vec::new(),
            registry: Registry::default(),
        };
        registry.register(
            "alertmanager_build_info",
            "A metric with a constant '1' value labeled by version, revision, branch, goversion from which alertmanager was built, and the goos and goarch for the build",
            m.build_info.clone(),
        );
        registry.register(
            "alertmanager_alerts",
            "How many alerts by state",
            m.alerts.clone(),
        );
        registry.register(
            "alertmanager_marked_alerts",
            "How many alerts by state are currently marked in the Alertmanager regardless of their expiry",
            m.marked_alerts.clone(),
        );
        registry.register(
            "alertmanager_alerts_received",
            "The total number of received alerts",
            m.alerts_received.clone(),
        );
        registry.register(
            "alertmanager_alerts_invalid",
            "The total number of received alerts that were invalid",
            m.alerts_invalid.clone(),
        );
        registry.register(
            "alertmanager_dispatcher_aggregation_groups",
            "Number of active aggregation groups",
            m.aggregation_groups.clone(),
        );
        registry.register(
            "alertmanager_receivers",
            "Number of configured receivers",
            m.receivers.clone(),
        );
        registry.register(
            "alertmanager_integrations",
            "Number of configured integrations",
            m.integrations.clone(),
        );
        registry.register(
            "alerter_receiver_ready",
            "Whether the last connect-only check of the receiver's email integrations succeeded (1) or not (0), run at start-up and after every reload",
            m.receiver_ready.clone(),
        );
        registry.register_collector(Box::new(NotifyCollector(stats)));
        registry.register_collector(Box::new(ProcessCollector));
        registry.register(
            "alertmanager_silences",
            "How many silences by state",
            m.silences.clone(),
        );
        registry.register(
            "alertmanager_config_last_reload_successful",
            "Whether the last configuration reload attempt was successful",
            m.reload_successful.clone(),
        );
        registry.register(
            "alertmanager_config_last_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration reload",
            m.reload_success_time.clone(),
        );
        registry.register(
            "alertmanager_config_hash",
            "Hash of the currently loaded alertmanager configuration (first 48 bits of its SHA-256)",
            m.config_hash.clone(),
        );
        registry.register(
            "alerter_storage_errors",
            "The total number of failed writes to a data file",
            m.storage_errors.clone(),
        );
        registry.register(
            "alerter_alerts_insert_limited",
            "The total number of posted or evaluated alerts refused because the store was at its limit (reason: count for --alerts.max-count, size for --alerts.max-size-bytes)",
            m.alerts_limited.clone(),
        );
        registry.register(
            "alerter_alerts_stored_bytes",
            "Bytes of labels, annotations and generatorURL of the alerts held, as bounded by --alerts.max-size-bytes",
            m.stored_bytes.clone(),
        );
        for r in crate::provider::Refusal::ALL {
            m.alerts_limited
                .get_or_create_owned(&vec![("reason", r.label().to_string())]);
        }
        m.build_info.get_or_create_owned(&build_labels()).set(1);
        // prometheus-client ends every HELP with a full stop; the texts above have none.
        // Every labelled series exists from the start, so a rate() over them works
        // before the first event (Alertmanager pre-creates its series too).
        for s in ALERT_STATES {
            m.alerts
                .get_or_create_owned(&vec![("state", s.to_string())]);
            m.marked_alerts
                .get_or_create_owned(&vec![("state", s.to_string())]);
        }
        for s in SILENCE_STATES {
            m.silences
                .get_or_create_owned(&vec![("state", s.to_string())]);
        }
        let received = |s: &str| {
            m.alerts_received.get_or_create_owned(&vec![
                ("status", s.to_string()),
                ("version", API_VERSION.to_string()),
            ])
        };
        let (received_firing, received_resolved) = (received("firing"), received("resolved"));
        let invalid_v2 = m
            .alerts_invalid
            .get_or_create_owned(&vec![("version", API_VERSION.to_string())]);
        Metrics {
            registry,
            received_firing,
            received_resolved,
            invalid_v2,
            ..m
        }
    }

    /// Adds Alertmanager's `alertmanager_nflog_*` and `alertmanager_silences_*`
    /// maintenance families (queries, GC, snapshots) from the two stores.
    #[must_use]
    pub fn with_stores(
        mut self,
        nflog: Arc<MaintenanceStats>,
        silences: Arc<MaintenanceStats>,
    ) -> Self {
        self.stores = vec![
            ("alertmanager_nflog", "notification log", nflog),
            ("alertmanager_silences", "silence", silences),
        ];
        self
    }

    /// Counts a posted alert (`firing` when its end is in the future).
    pub fn alert_received(&self, firing: bool) {
        if firing {
            self.received_firing.inc();
        } else {
            self.received_resolved.inc();
        }
    }

    pub fn alert_invalid(&self) {
        self.invalid_v2.inc();
    }

    /// The readiness checks' results for the current config (older receivers'
    /// series are dropped).
    pub fn set_receivers_ready(&self, results: &[(String, bool)]) {
        self.receiver_ready.clear();
        for (r, ok) in results {
            self.receiver_ready
                .get_or_create(&vec![("receiver", r.clone())])
                .set(i64::from(*ok));
        }
    }

    /// The outcome of a (re)load: on success, the new config's hash and the time.
    pub fn config_loaded(&self, ok: bool, hash: Option<&str>, at: DateTime<Utc>) {
        self.reload_successful.set(i64::from(ok));
        if ok {
            #[allow(clippy::cast_precision_loss)]
            self.reload_success_time
                .set(at.timestamp_millis() as f64 / 1000.0);
            if let Some(h) = hash {
                self.config_hash.set(hash_value(h));
            }
        }
    }

    /// Encodes everything in `format`, state gauges from `snap`.
    /// `extra`: more families in OpenMetrics text (the rule evaluator's), placed before
    /// `# EOF` and converted with the rest.
    pub fn encode_as(&self, snap: &Snapshot, format: Format, extra: &str) -> String {
        let mut om = self.encode(snap);
        let at = om.rfind("# EOF").unwrap_or(om.len());
        om.insert_str(at, extra);
        match format {
            Format::OpenMetrics => om,
            Format::Text => openmetrics_to_text(&om, &[]),
        }
    }

    /// Encodes everything in the OpenMetrics text format, state gauges from `snap`.
    pub fn encode(&self, snap: &Snapshot) -> String {
        for (i, s) in ALERT_STATES.iter().enumerate() {
            self.alerts
                .get_or_create(&vec![("state", (*s).to_string())])
                .set(snap.alerts[i]);
        }
        for (i, s) in ALERT_STATES.iter().enumerate() {
            // Ours keeps no marks beyond an alert's end, so both agree.
            self.marked_alerts
                .get_or_create(&vec![("state", (*s).to_string())])
                .set(snap.alerts[i]);
        }
        for (i, s) in SILENCE_STATES.iter().enumerate() {
            self.silences
                .get_or_create(&vec![("state", (*s).to_string())])
                .set(snap.silences[i]);
        }
        self.aggregation_groups.set(snap.aggregation_groups);
        self.receivers.set(snap.receivers);
        self.integrations.set(snap.integrations);
        for (file, n) in &snap.storage_errors {
            let c = self
                .storage_errors
                .get_or_create_owned(&vec![("file", file.clone())]);
            let have = c.get();
            if *n > have {
                c.inc_by(n - have);
            }
        }
        for (reason, n) in &snap.alerts_limited {
            let c = self
                .alerts_limited
                .get_or_create_owned(&vec![("reason", (*reason).to_string())]);
            let have = c.get();
            if *n > have {
                c.inc_by(n - have);
            }
        }
        self.stored_bytes.set(snap.stored_bytes);
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        // prometheus-client has no summary type: the store families are written
        // here, in OpenMetrics, before its `# EOF`.
        if !self.stores.is_empty() && out.ends_with("# EOF\n") {
            out.truncate(out.len() - "# EOF\n".len());
            for (prefix, what, stats) in &self.stores {
                write_store(&mut out, prefix, what, &stats.values());
            }
            out.push_str("# EOF\n");
        }
        out
    }
}

/// One store's maintenance families, with Alertmanager's names and help texts.
fn write_store(out: &mut String, p: &str, what: &str, v: &MaintenanceSnapshot) {
    let queries = if what == "silence" {
        (
            "How many silence queries were received",
            "How many silence received queries did not succeed",
        )
    } else {
        (
            "Number of notification log queries were received",
            "Number notification log received queries that failed",
        )
    };
    let _ = writeln!(
        out,
        "# HELP {p}_gc_duration_seconds Duration of the last {what} garbage collection cycle."
    );
    let _ = writeln!(out, "# TYPE {p}_gc_duration_seconds summary");
    let _ = writeln!(out, "{p}_gc_duration_seconds_sum {}", v.gc.1);
    let _ = writeln!(out, "{p}_gc_duration_seconds_count {}", v.gc.0);
    let _ = writeln!(
        out,
        "# HELP {p}_snapshot_duration_seconds Duration of the last {what} snapshot."
    );
    let _ = writeln!(out, "# TYPE {p}_snapshot_duration_seconds summary");
    let _ = writeln!(out, "{p}_snapshot_duration_seconds_sum {}", v.snapshot.1);
    let _ = writeln!(out, "{p}_snapshot_duration_seconds_count {}", v.snapshot.0);
    let _ = writeln!(
        out,
        "# HELP {p}_snapshot_size_bytes Size of the last {what} snapshot in bytes."
    );
    let _ = writeln!(out, "# TYPE {p}_snapshot_size_bytes gauge");
    let _ = writeln!(out, "{p}_snapshot_size_bytes {}", v.snapshot_size_bytes);
    let _ = writeln!(out, "# HELP {p}_queries {}.", queries.0);
    let _ = writeln!(out, "# TYPE {p}_queries counter");
    let _ = writeln!(out, "{p}_queries_total {}", v.queries);
    let _ = writeln!(out, "# HELP {p}_query_errors {}.", queries.1);
    let _ = writeln!(out, "# TYPE {p}_query_errors counter");
    let _ = writeln!(out, "{p}_query_errors_total {}", v.query_errors);
    let _ = writeln!(
        out,
        "# HELP {p}_query_duration_seconds Duration of {what} query evaluation."
    );
    let _ = writeln!(out, "# TYPE {p}_query_duration_seconds histogram");
    for (bound, n) in QUERY_BUCKETS.iter().zip(v.query_buckets) {
        let _ = writeln!(
            out,
            "{p}_query_duration_seconds_bucket{{le=\"{bound:?}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "{p}_query_duration_seconds_bucket{{le=\"+Inf\"}} {}",
        v.queries
    );
    let _ = writeln!(out, "{p}_query_duration_seconds_sum {}", v.query_seconds);
    let _ = writeln!(out, "{p}_query_duration_seconds_count {}", v.queries);
}

/// `alertmanager_build_info`'s labels. The go* labels carry the target's OS and
/// architecture in Go's spelling, so dashboards that group by them still work.
fn build_labels() -> Labels {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    vec![
        (
            "branch",
            option_env!("ALERTER_BRANCH").unwrap_or("").to_string(),
        ),
        ("goarch", arch.to_string()),
        ("goos", std::env::consts::OS.to_string()),
        ("goversion", "none (Rust)".to_string()),
        (
            "revision",
            option_env!("ALERTER_REVISION").unwrap_or("").to_string(),
        ),
        ("version", env!("CARGO_PKG_VERSION").to_string()),
    ]
}

/// A config hash (hex SHA-256) as a gauge value: its first 48 bits, which an f64
/// holds exactly, so two configs compare equal exactly when the gauge does.
pub fn hash_value(hex: &str) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    u64::from_str_radix(hex.get(..12).unwrap_or("0"), 16).map_or(0.0, |v| v as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels() {
        let stats = Arc::new(PipelineStats::default());
        let (nflog, silences) = (Arc::<MaintenanceStats>::default(), Arc::default());
        nflog.query(std::time::Duration::from_millis(1), false);
        let m = Metrics::new(stats.clone()).with_stores(nflog, silences);
        m.alert_received(true);
        m.alert_invalid();
        stats.count_notification("email");
        stats.observe_request("email", std::time::Duration::from_millis(20), false);
        stats.count_failure(
            "admin-email",
            "email",
            &crate::notify::NotifyError {
                retryable: true,
                reason: crate::notify::Reason::ConnectTimeout,
                message: "timed out".into(),
            },
            Utc::now(),
        );
        m.set_receivers_ready(&[("admin-email".into(), false)]);
        m.config_loaded(false, None, Utc::now());
        let snap = Snapshot {
            alerts: [2, 1, 0],
            silences: [1, 0, 3],
            storage_errors: vec![("silences".into(), 2)],
            aggregation_groups: 4,
            receivers: 2,
            integrations: 3,
            alerts_limited: vec![("count", 7)],
            stored_bytes: 1234,
        };
        let out = m.encode(&snap);
        for want in [
            "alertmanager_alerts{state=\"active\"} 2",
            "alertmanager_alerts{state=\"suppressed\"} 1",
            "alertmanager_marked_alerts{state=\"active\"} 2",
            "alertmanager_alerts_received_total{status=\"firing\",version=\"v2\"} 1",
            "alertmanager_alerts_received_total{status=\"resolved\",version=\"v2\"} 0",
            "alertmanager_alerts_invalid_total{version=\"v2\"} 1",
            "alertmanager_notifications_total{integration=\"email\"} 1",
            "alertmanager_notifications_failed_total{integration=\"email\",reason=\"connect_timeout\"} 1",
            "alerter_receiver_notifications_failed_total{receiver=\"admin-email\",integration=\"email\",reason=\"connect_timeout\"} 1",
            "alertmanager_notification_latency_seconds_count{integration=\"email\"} 1",
            "alertmanager_notification_latency_seconds_bucket{le=\"1.0\",integration=\"email\"} 1",
            "alertmanager_notification_requests_failed_total{integration=\"email\"} 1",
            "alerter_notifications_failing{receiver=\"admin-email\",integration=\"email\"} 1",
            "alerter_receiver_ready{receiver=\"admin-email\"} 0",
            "alertmanager_silences{state=\"expired\"} 3",
            "alertmanager_config_last_reload_successful 0",
            "alertmanager_dispatcher_aggregation_groups 4",
            "alertmanager_receivers 2",
            "alertmanager_integrations 3",
            "alerter_storage_errors_total{file=\"silences\"} 2",
            "alerter_alerts_insert_limited_total{reason=\"count\"} 7",
            "alerter_alerts_insert_limited_total{reason=\"size\"} 0",
            "alerter_alerts_stored_bytes 1234",
            "alertmanager_nflog_queries_total 1",
            "alertmanager_nflog_query_errors_total 1",
            "alertmanager_nflog_query_duration_seconds_bucket{le=\"0.005\"} 1",
            "# TYPE alertmanager_silences_gc_duration_seconds summary",
            "alertmanager_silences_snapshot_size_bytes 0",
        ] {
            assert!(out.contains(want), "missing {want:?} in\n{out}");
        }
        assert!(out.contains("alertmanager_build_info{branch="), "{out}");
        // Text format 0.0.4: counters' HELP and TYPE name the `_total` series.
        let text = m.encode_as(&snap, Format::Text, "");
        assert!(text.contains("# TYPE alertmanager_notifications_total counter\n"));
        assert!(text.contains("# HELP alertmanager_notifications_total The total"));
        assert!(
            !text.contains("# EOF") && text.contains("alertmanager_alerts{state=\"active\"} 2")
        );
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(
            Format::negotiate(Some(
                "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;q=0.4"
            )),
            Format::OpenMetrics
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;q=0,*/*")),
            Format::Text
        );
        // Re-encoding with the same cumulative count does not double it.
        let out = m.encode(&snap);
        assert!(out.contains("alerter_storage_errors_total{file=\"silences\"} 2"));
    }

    #[test]
    fn hash_gauge_is_exact() {
        assert_eq!(hash_value("0000000000ff00"), 255.0);
        assert_eq!(hash_value("zz"), 0.0);
    }
}
