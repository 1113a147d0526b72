//! One scrape: every enabled collector runs concurrently under its own timeout; a
//! collector that fails or times out yields `<prefix>_scrape_collector_success 0`
//! (node_exporter's series) and a log line, never a failed scrape.
//!
//! [`Scraper`] owns the collectors of `/metrics` and remembers each one's last result
//! for the landing page. [`render`] is the stateless path for collectors built per
//! request (redis_exporter's `/scrape?target=`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::collector::Collector;
use crate::exposition::{self, Format};
use crate::metrics::Family;

/// How one collector fared in one scrape.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub name: &'static str,
    pub prefix: &'static str,
    pub duration: Duration,
    /// `None` on success; the reason otherwise.
    pub error: Option<String>,
    pub timed_out: bool,
}

/// Runs `collectors` concurrently, each under `timeout`, and returns their families
/// (sorted by name, as node_exporter's registry emits them) and outcomes.
pub async fn collect(
    collectors: &[Arc<dyn Collector>],
    timeout: Duration,
) -> (Vec<Family>, Vec<Outcome>) {
    let runs = collectors.iter().map(|c| async move {
        let start = Instant::now();
        let result = tokio::time::timeout(timeout, c.collect()).await;
        let duration = start.elapsed();
        let (families, error, timed_out) = match result {
            Ok(Ok(f)) => (f, None, false),
            Ok(Err(e)) => (Vec::new(), Some(format!("{e:#}")), false),
            Err(_) => (
                Vec::new(),
                Some(format!("timed out after {}", humanize(timeout))),
                true,
            ),
        };
        let outcome = Outcome {
            name: c.name(),
            prefix: c.scrape_prefix(),
            duration,
            error,
            timed_out,
        };
        (families, outcome)
    });
    let results = futures::future::join_all(runs).await;
    let mut families = Vec::with_capacity(results.iter().map(|(f, _)| f.len()).sum());
    let mut outcomes = Vec::with_capacity(results.len());
    for (f, o) in results {
        families.extend(f);
        outcomes.push(o);
    }
    sort_families(&mut families);
    (families, outcomes)
}

/// Sorts by family name and merges families that two collectors both produced.
pub fn sort_families(families: &mut Vec<Family>) {
    families.sort_by(|a, b| a.name.cmp(&b.name));
    families.dedup_by(|later, earlier| {
        if later.name == earlier.name {
            earlier.samples.append(&mut later.samples);
            true
        } else {
            false
        }
    });
}

/// `<prefix>_scrape_collector_duration_seconds` and `<prefix>_scrape_collector_success`
/// for each outcome, grouped by prefix.
pub fn outcome_families(outcomes: &[Outcome]) -> Vec<Family> {
    let mut by_prefix: BTreeMap<&str, Vec<&Outcome>> = BTreeMap::new();
    for o in outcomes {
        by_prefix.entry(o.prefix).or_default().push(o);
    }
    let mut out = Vec::new();
    for (prefix, list) in by_prefix {
        let mut duration = Family::gauge(
            format!("{prefix}_scrape_collector_duration_seconds"),
            "Duration of a collector scrape.",
        );
        let mut success = Family::gauge(
            format!("{prefix}_scrape_collector_success"),
            "Whether a collector succeeded.",
        );
        for o in list {
            duration.push([("collector", o.name)], o.duration.as_secs_f64());
            success.push(
                [("collector", o.name)],
                if o.error.is_none() { 1.0 } else { 0.0 },
            );
        }
        out.push(duration);
        out.push(success);
    }
    out
}

/// Runs `collectors` once and encodes the result with their success/duration series.
/// No state is kept: the seam for collectors built per request.
pub async fn render(
    collectors: &[Arc<dyn Collector>],
    timeout: Duration,
    format: Format,
) -> String {
    let (mut families, outcomes) = collect(collectors, timeout).await;
    for o in &outcomes {
        if let Some(e) = &o.error {
            tracing::warn!(collector = o.name, error = %e, "collector failed");
        }
    }
    families.extend(outcome_families(&outcomes));
    sort_families(&mut families);
    exposition::encode(families, format)
}

/// The last result of one collector, for the landing page and the failure counter.
#[derive(Clone, Debug, Default)]
pub struct Status {
    pub last: Option<SystemTime>,
    pub duration: Duration,
    pub error: Option<String>,
    pub failures_error: u64,
    pub failures_timeout: u64,
}

/// The collectors behind `/metrics` and what each did last time.
pub struct Scraper {
    collectors: Vec<Arc<dyn Collector>>,
    timeout: Duration,
    status: Mutex<BTreeMap<&'static str, Status>>,
}

impl Scraper {
    pub fn new(collectors: Vec<Arc<dyn Collector>>, timeout: Duration) -> Self {
        let status = collectors
            .iter()
            .map(|c| (c.name(), Status::default()))
            .collect();
        Self {
            collectors,
            timeout,
            status: Mutex::new(status),
        }
    }

    /// One full scrape of `/metrics`: collectors, their success/duration series, the
    /// exporter's own failure counter, process metrics and build info.
    pub async fn scrape(&self, format: Format) -> String {
        self.scrape_with(format, Vec::new()).await
    }

    /// [`Scraper::scrape`] with more families of the caller's (the HTTP layer's own).
    pub async fn scrape_with(&self, format: Format, extra: Vec<Family>) -> String {
        let (mut families, outcomes) = collect(&self.collectors, self.timeout).await;
        families.extend(extra);
        families.extend(outcome_families(&outcomes));
        families.push(self.record(&outcomes));
        families.extend(crate::process::families());
        sort_families(&mut families);
        exposition::encode(families, format)
    }

    /// Remembers outcomes; logs a failure when it starts or changes, not on every
    /// scrape, so a collector that stays broken does not flood the log.
    fn record(&self, outcomes: &[Outcome]) -> Family {
        let mut status = self
            .status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = SystemTime::now();
        for o in outcomes {
            let s = status.entry(o.name).or_default();
            match (&o.error, &s.error) {
                (Some(new), old) if old.as_ref() != Some(new) => {
                    tracing::warn!(collector = o.name, error = %new, "collector failed");
                }
                (Some(new), _) => {
                    tracing::debug!(collector = o.name, error = %new, "collector still failing");
                }
                (None, Some(_)) => tracing::info!(collector = o.name, "collector recovered"),
                (None, None) => {}
            }
            if o.error.is_some() {
                if o.timed_out {
                    s.failures_timeout += 1;
                } else {
                    s.failures_error += 1;
                }
            }
            s.last = Some(now);
            s.duration = o.duration;
            s.error.clone_from(&o.error);
        }
        let mut fam = Family::counter(
            "exporter_collector_failures_total",
            "Collector runs that failed, by reason (error or timeout).",
        );
        for (name, s) in status.iter() {
            fam.push(
                [("collector", *name), ("reason", "error")],
                s.failures_error as f64,
            );
            fam.push(
                [("collector", *name), ("reason", "timeout")],
                s.failures_timeout as f64,
            );
        }
        fam
    }

    /// Each collector's last result, by name.
    pub fn status(&self) -> BTreeMap<&'static str, Status> {
        self.status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

fn humanize(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::CollectResult;
    use futures::future::BoxFuture;

    struct Fixed(&'static str, Result<f64, &'static str>);

    impl Collector for Fixed {
        fn name(&self) -> &'static str {
            self.0
        }
        fn collect(&self) -> BoxFuture<'_, CollectResult> {
            Box::pin(async move {
                match self.1 {
                    Ok(v) => Ok(vec![
                        Family::gauge(format!("test_{}", self.0), "t").single(v),
                    ]),
                    Err(e) => Err(anyhow::anyhow!(e)),
                }
            })
        }
    }

    struct Hang;

    impl Collector for Hang {
        fn name(&self) -> &'static str {
            "hang"
        }
        fn collect(&self) -> BoxFuture<'_, CollectResult> {
            Box::pin(futures::future::pending())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn failing_and_hung_collectors_only_fail_themselves() {
        let collectors: Vec<Arc<dyn Collector>> = vec![
            Arc::new(Fixed("good", Ok(1.0))),
            Arc::new(Fixed("bad", Err("boom"))),
            Arc::new(Hang),
        ];
        let scraper = Scraper::new(collectors, Duration::from_secs(2));
        let text = scraper.scrape(Format::Text).await;
        assert!(text.contains("test_good 1.0\n"), "{text}");
        assert!(text.contains("node_scrape_collector_success{collector=\"good\"} 1.0\n"));
        assert!(text.contains("node_scrape_collector_success{collector=\"bad\"} 0.0\n"));
        assert!(text.contains("node_scrape_collector_success{collector=\"hang\"} 0.0\n"));
        assert!(text.contains(
            "exporter_collector_failures_total{collector=\"hang\",reason=\"timeout\"} 1.0\n"
        ));
        let status = scraper.status();
        assert_eq!(status["bad"].error.as_deref(), Some("boom"));
        assert_eq!(status["hang"].error.as_deref(), Some("timed out after 2s"));
        assert_eq!(status["good"].error, None);
    }
}
