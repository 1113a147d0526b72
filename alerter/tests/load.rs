//! Issue 20's load and cardinality rows for the alerter, against the built binary:
//!
//! - load: a fixed set of alerts re-posted in batches, as Prometheus re-sends its
//!   firing alerts, at 10,000 alerts/s for `RELIABILITY_LOAD_SECS` (default 60) by a
//!   bounded loader: no error, p99 bounded, memory flat after warm-up.
//! - cardinality: 100,000 distinct label values posted: the store's count limit
//!   holds, every refusal is answered with a 400 naming the flag and counted in
//!   `alerter_alerts_insert_limited_total`, the log warns at most once a minute, and
//!   memory stays where it was when the limit was reached.
//!
//! Each prints `RELIABILITY <row>: <figure>` for the README's table.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use e2e::load::{self, RssSampler};
use e2e::{ChildGuard, free_port, wait_for};

/// Prometheus sends at most this many alerts per POST (notifier maxBatchSize).
const BATCH: usize = 256;

fn start(dir: &Path, extra: &[&str]) -> (u16, ChildGuard, PathBuf) {
    let path = dir.join("alertmanager.yml");
    std::fs::write(
        &path,
        "route:\n  receiver: r\n  group_by: [alertname]\nreceivers:\n  - name: r\n",
    )
    .unwrap();
    let port = free_port();
    let log = dir.join("alerter.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alerter"));
    cmd.arg(format!("--config.file={}", path.display()))
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(extra);
    let guard = ChildGuard::spawn("alerter", &mut cmd, &log);
    wait_for("alerter ready", Duration::from_secs(20), || {
        e2e::get_json(port, "/-/ready").ok()
    });
    (port, guard, log)
}

/// The batch of alerts `first..first + n`, with Prometheus's fields: labels,
/// annotations, startsAt, endsAt (a few minutes ahead) and generatorURL.
fn batch(first: usize, n: usize, name: &str) -> String {
    let starts = chrono::Utc::now() - chrono::Duration::minutes(1);
    let ends = chrono::Utc::now() + chrono::Duration::minutes(10);
    let items: Vec<serde_json::Value> = (first..first + n)
        .map(|i| {
            serde_json::json!({
                "labels": {
                    "alertname": format!("{name}{}", i % 20),
                    "severity": if i % 3 == 0 { "critical" } else { "warning" },
                    "instance": format!("host-{i}:9100"),
                    "job": "node",
                },
                "annotations": {"summary": format!("load test alert {i}")},
                "startsAt": starts.to_rfc3339(),
                "endsAt": ends.to_rfc3339(),
                "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=up",
            })
        })
        .collect();
    serde_json::Value::Array(items).to_string()
}

/// POSTs `body` to `/api/v2/alerts`; Ok on 200, else the status and body.
async fn post(client: &reqwest::Client, url: &str, body: String) -> Result<(), String> {
    let r = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| format!("{e}"))?;
    let status = r.status();
    if status.is_success() {
        return Ok(());
    }
    Err(format!(
        "HTTP {status}: {}",
        r.text().await.unwrap_or_default()
    ))
}

fn metric(port: u16, series: &str) -> Option<f64> {
    let (_, text) = e2e::http("GET", port, "/metrics", None).ok()?;
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

fn runtime() -> tokio::runtime::Runtime {
    // One loader thread: it shares the two cores with the server it measures.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Row "load: 10,000 alerts/s for 60 s".
#[test]
fn load_10000_alerts_per_second() {
    let _one = e2e::load::serial();
    const FIXED: usize = 1024;
    const ALERTS_PER_S: f64 = 10_000.0;
    let dir = tempfile::tempdir().unwrap();
    let (port, guard, log) = start(dir.path(), &[]);
    let duration = load::duration_from_env();
    let url = format!("http://127.0.0.1:{port}/api/v2/alerts");
    let bodies: Vec<String> = (0..FIXED / BATCH)
        .map(|b| batch(b * BATCH, BATCH, "Load"))
        .collect();
    let sampler = RssSampler::start(guard.pid());
    let report = runtime().block_on(async {
        let client = reqwest::Client::new();
        load::run(ALERTS_PER_S / BATCH as f64, duration, 8, move |i| {
            let (client, url) = (client.clone(), url.clone());
            #[allow(clippy::cast_possible_truncation)]
            let body = bodies[i as usize % bodies.len()].clone();
            async move { post(&client, &url, body).await }
        })
        .await
    });
    let rss = sampler.stop();
    let offered = ALERTS_PER_S;
    #[allow(clippy::cast_precision_loss)]
    let alerts_rate = report.achieved_rate() * BATCH as f64;
    let warmup = (rss.len() / 6).max(5);
    let flat = load::rss_flat(&rss, warmup);
    println!(
        "RELIABILITY load 10,000 alerts/s: {alerts_rate:.0} alerts/s achieved ({} POSTs of {BATCH} over {:.0} s); POST {}; RSS start {} KiB, after warm-up {} KiB, end {} KiB",
        report.done,
        report.elapsed.as_secs_f64(),
        report.summary(offered / BATCH as f64),
        rss.first().copied().unwrap_or(0),
        rss.get(warmup).copied().unwrap_or(0),
        rss.last().copied().unwrap_or(0),
    );
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(report.errors, 0, "{:?}\nlog:\n{text}", report.error_samples);
    assert!(report.done > 0, "nothing completed");
    // Bounded: half of Prometheus's 10 s timeout for sending alerts.
    assert!(
        report.quantile(0.99) < Duration::from_secs(5),
        "p99 {:?}",
        report.quantile(0.99)
    );
    flat.unwrap();
    let stored = e2e::get_json(port, "/api/v2/status").unwrap()["alerts"]["stored"].clone();
    assert_eq!(
        stored, FIXED,
        "the fixed set, re-posted, stays {FIXED} alerts"
    );
}

/// Row "cardinality: 100,000 distinct label values posted".
#[test]
fn cardinality_100000_distinct_label_values() {
    let _one = e2e::load::serial();
    const DISTINCT: usize = 100_000;
    const CAP: usize = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let (port, guard, log) = start(dir.path(), &[&format!("--alerts.max-count={CAP}")]);
    let url = format!("http://127.0.0.1:{port}/api/v2/alerts");
    let (mut at_cap, mut refused_posts, mut first_refusal) = (0u64, 0usize, String::new());
    let started = std::time::Instant::now();
    let client_rt = runtime();
    client_rt.block_on(async {
        let client = reqwest::Client::new();
        for b in 0..DISTINCT / BATCH + 1 {
            let first = b * BATCH;
            let n = BATCH.min(DISTINCT - first);
            if n == 0 {
                break;
            }
            if first >= CAP && at_cap == 0 {
                at_cap = load::rss_kib(guard.pid());
            }
            match post(&client, &url, batch(first, n, "Card")).await {
                Ok(()) => assert!(first + n <= CAP, "batch at {first} taken past the cap"),
                Err(e) => {
                    refused_posts += 1;
                    if first_refusal.is_empty() {
                        first_refusal = e;
                    }
                }
            }
        }
    });
    let took = started.elapsed();
    let end = load::rss_kib(guard.pid());
    let status = e2e::get_json(port, "/api/v2/status").unwrap();
    let limited = metric(
        port,
        "alerter_alerts_insert_limited_total{reason=\"count\"}",
    );
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let warns = text
        .matches("alerts refused: the store is at its limit")
        .count();
    println!(
        "RELIABILITY cardinality 100,000 distinct: {} stored (cap {CAP}), {} refused and counted, {refused_posts} POSTs answered 400, {warns} warn line(s) in {:.1} s; RSS at the cap {at_cap} KiB, after all {DISTINCT} {end} KiB",
        status["alerts"]["stored"],
        limited.unwrap_or(-1.0),
        took.as_secs_f64(),
    );
    assert_eq!(status["alerts"]["stored"], CAP, "{status}");
    assert_eq!(status["alerts"]["maxCount"], CAP, "{status}");
    #[allow(clippy::cast_precision_loss)]
    let want = (DISTINCT - CAP) as f64;
    assert_eq!(limited, Some(want), "every refusal counted");
    assert_eq!(status["alerts"]["refused"]["count"], DISTINCT - CAP);
    // Every batch from the one that crosses the cap on.
    assert_eq!(refused_posts, DISTINCT.div_ceil(BATCH) - CAP / BATCH);
    assert!(
        first_refusal.starts_with("HTTP 400")
            && first_refusal.contains("--alerts.max-count")
            && first_refusal.contains(&format!("limit of {CAP} alerts")),
        "{first_refusal}"
    );
    // Rate-limited: one line a minute at most, however many POSTs were refused.
    let minutes = usize::try_from(took.as_secs() / 60).unwrap_or(0) + 1;
    assert!(
        (1..=minutes).contains(&warns),
        "{warns} warn lines in {took:?}"
    );
    // Bounded: what came after the cap did not grow the process.
    load::rss_flat(&[at_cap, end], 0).unwrap();
}

/// The size limit of the same row: alerts that would take the stored bytes past
/// `--alerts.max-size-bytes` are refused the same way, with reason `size`.
#[test]
fn size_limit_refuses_growth_past_max_size_bytes() {
    let _one = e2e::load::serial();
    const MAX: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let (port, _guard, _log) = start(dir.path(), &[&format!("--alerts.max-size-bytes={MAX}")]);
    let big = "x".repeat(30_000);
    let items: Vec<serde_json::Value> = (0..10)
        .map(|i| {
            serde_json::json!({
                "labels": {"alertname": "Big", "i": i.to_string()},
                "annotations": {"description": big},
            })
        })
        .collect();
    let body = serde_json::Value::Array(items).to_string();
    let (code, text) = e2e::http("POST", port, "/api/v2/alerts", Some(&body)).unwrap();
    assert_eq!(code, 400, "{text}");
    assert!(
        text.contains("7 alerts refused") && text.contains("--alerts.max-size-bytes"),
        "{text}"
    );
    let status = e2e::get_json(port, "/api/v2/status").unwrap();
    assert_eq!(status["alerts"]["stored"], 3, "{status}");
    assert!(
        status["alerts"]["storedBytes"]
            .as_u64()
            .is_some_and(|b| b <= MAX as u64 && b > 90_000),
        "{status}"
    );
    assert_eq!(
        metric(port, "alerter_alerts_insert_limited_total{reason=\"size\"}"),
        Some(7.0)
    );
    println!(
        "RELIABILITY cardinality / size limit: 3 of 10 alerts of 30 kB stored under --alerts.max-size-bytes={MAX}, 7 refused (reason size), storedBytes {}",
        status["alerts"]["storedBytes"]
    );
}
