//! Row "load: 1,000 scrapes/s for 60 s": a bounded loader (16 in flight at most)
//! offers 1,000 full scrapes of `/metrics` per second for `RELIABILITY_LOAD_SECS`
//! (default 60) to the built exporter with its host collectors. Pass: no error, p99
//! bounded, memory flat after warm-up, at whatever rate this machine achieves (the
//! figure says which).

use std::time::Duration;

use crate::common::Exporter;
use e2e::load::{self, RssSampler};

const SCRAPES_PER_S: f64 = 1_000.0;
/// Under `--web.max-requests`' default of 40, so no scrape is turned away.
const IN_FLIGHT: usize = 16;

#[test]
fn load_1000_scrapes_per_second() {
    let _one = e2e::load::serial();
    // Host collectors only: the peers (Redis, Celery, Docker, probes) are other rows.
    let ours = Exporter::start(&[
        "--no-collector.redis",
        "--no-collector.celery",
        "--no-collector.containers",
        "--no-collector.probes",
    ]);
    let duration = load::duration_from_env();
    let url = ours.url();
    let sampler = RssSampler::start(ours.guard.pid());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = rt.block_on(async {
        let client = reqwest::Client::new();
        load::run(SCRAPES_PER_S, duration, IN_FLIGHT, move |_| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let r = client
                    .get(&url)
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let status = r.status();
                let body = r.text().await.map_err(|e| e.to_string())?;
                if !status.is_success() {
                    return Err(format!("HTTP {status}: {body}"));
                }
                if !body.contains("node_scrape_collector_success{collector=\"cpu\"} 1") {
                    return Err("a collector failed under load".into());
                }
                Ok(())
            }
        })
        .await
    });
    let rss = sampler.stop();
    let warmup = (rss.len() / 6).max(5);
    let flat = load::rss_flat(&rss, warmup);
    println!(
        "RELIABILITY load 1,000 scrapes/s: {} over {:.0} s, {IN_FLIGHT} in flight at most; RSS start {} KiB, after warm-up {} KiB, end {} KiB",
        report.summary(SCRAPES_PER_S),
        report.elapsed.as_secs_f64(),
        rss.first().copied().unwrap_or(0),
        rss.get(warmup).copied().unwrap_or(0),
        rss.last().copied().unwrap_or(0),
    );
    let log = std::fs::read_to_string(ours.log.path()).unwrap_or_default();
    assert_eq!(report.errors, 0, "{:?}\nlog:\n{log}", report.error_samples);
    assert!(report.done > 0, "nothing completed");
    // Bounded: half of Prometheus's default 10 s scrape timeout.
    assert!(
        report.quantile(0.99) < Duration::from_secs(5),
        "p99 {:?}",
        report.quantile(0.99)
    );
    flat.unwrap();
}

/// A scrape storm is bounded by `--web.max-requests` (node_exporter's flag, default
/// 40): beyond it a scrape is answered 503 at once and counted in
/// `promhttp_metric_handler_requests_total{code="503"}`, so memory stays bounded
/// however many clients pile in. Scrapes here are held 1 s by a probe whose target
/// never answers, so the ones in flight are known.
#[test]
fn scrape_storm_is_bounded_by_web_max_requests() {
    let _one = e2e::load::serial();
    let hung = crate::common::HungServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("exporter.yml");
    std::fs::write(
        &file,
        format!(
            "probes:\n  - {{name: slow, url: 'http://127.0.0.1:{}/', timeout: 1s}}\n",
            hung.port
        ),
    )
    .unwrap();
    let config = format!("--config.file={}", file.display());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Every scrape's status code, `n` sent at once.
    let storm = |url: String, n: usize| {
        rt.block_on(async move {
            let client = reqwest::Client::new();
            let all = (0..n).map(|_| {
                let (client, url) = (client.clone(), url.clone());
                async move {
                    let r = client.get(&url).send().await.unwrap();
                    (r.status().as_u16(), r.text().await.unwrap())
                }
            });
            futures::future::join_all(all).await
        })
    };

    let two = Exporter::start(&[
        &config,
        "--collector.disable-defaults",
        "--collector.probes",
        "--collector.loadavg",
        "--web.max-requests=2",
    ]);
    let answers = storm(two.url(), 6);
    let ok = answers.iter().filter(|(c, _)| *c == 200).count();
    let limited: Vec<&String> = answers
        .iter()
        .filter(|(c, _)| *c == 503)
        .map(|(_, b)| b)
        .collect();
    assert_eq!((ok, limited.len()), (2, 4), "{answers:?}");
    assert!(
        limited[0].contains("--web.max-requests"),
        "the 503 names the flag: {}",
        limited[0]
    );
    let (_, text) = e2e::http("GET", two.port, "/metrics", None).unwrap();
    assert!(
        text.contains("promhttp_metric_handler_requests_total{code=\"503\"} 4"),
        "{text}"
    );
    assert!(
        text.contains("promhttp_metric_handler_requests_total{code=\"200\"} 2"),
        "{text}"
    );

    // The default limit against 300 clients at once: memory bounded by 40 scrapes.
    const CLIENTS: usize = 300;
    let ours = Exporter::start(&[
        "--no-collector.redis",
        "--no-collector.celery",
        "--no-collector.containers",
        "--no-collector.probes",
    ]);
    let before = load::rss_kib(ours.guard.pid());
    let mut codes = std::collections::BTreeMap::new();
    for _ in 0..3 {
        for (c, _) in storm(ours.url(), CLIENTS) {
            *codes.entry(c).or_insert(0usize) += 1;
        }
    }
    let hwm = vm_hwm_kib(ours.guard.pid());
    println!(
        "RELIABILITY load / scrape storm: {CLIENTS} clients at once, 3 rounds, --web.max-requests 40: answers {codes:?}; RSS {before} KiB before, peak {hwm} KiB"
    );
    assert!(codes.get(&200).copied().unwrap_or(0) >= 40, "{codes:?}");
    assert!(codes.keys().all(|c| *c == 200 || *c == 503), "{codes:?}");
    // 40 scrapes in flight at most, a few hundred KiB each in a debug build.
    assert!(
        hwm < before + 48 * 1024,
        "peak RSS {hwm} KiB from {before} KiB"
    );
}

/// A process's peak resident memory (VmHWM) in KiB.
fn vm_hwm_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
