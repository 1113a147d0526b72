//! Debian's Prometheus scrapes the exporter (asking for OpenMetrics, as it does): the
//! target is up with an empty lastError, and a host series is queryable.

mod common;

use std::time::Duration;

use common::Exporter;
use e2e::prometheus::Prometheus;

#[test]
fn prometheus_scrapes_target_up_without_error() {
    let ours = Exporter::start(&[]);
    let Some(prom) = Prometheus::start(&Prometheus::scrape_config(&[(
        "node",
        format!("127.0.0.1:{}", ours.port),
    )])) else {
        return;
    };
    let target = e2e::wait_for("the target scraped and up", Duration::from_secs(30), || {
        prom.targets().into_iter().find(|t| {
            t["health"] == "up" && !t["lastScrape"].as_str().unwrap_or("").starts_with("0001")
        })
    });
    assert_eq!(target["lastError"], "", "{target}\n{}", prom.log());

    let result = prom.query("node_memory_MemTotal_bytes").unwrap();
    assert_eq!(result.len(), 1, "{result:?}");
    let mem: f64 = result[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(mem > 0.0, "{result:?}");
}
