//! Debian's Prometheus scrapes the exporter (asking for OpenMetrics, as it does): the
//! target is up with an empty lastError, and a host series is queryable.

mod common;

use std::process::Command;
use std::time::Duration;

use common::Exporter;
use e2e::ChildGuard;

async fn get_json(url: &str) -> Option<serde_json::Value> {
    reqwest::get(url).await.ok()?.json().await.ok()
}

#[tokio::test]
async fn prometheus_scrapes_target_up_without_error() {
    let Some(prom) = e2e::require("prometheus", "Prometheus scrapes the exporter") else {
        return;
    };
    let ours = Exporter::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
            ours.port
        ),
    )
    .unwrap();
    let port = e2e::free_port();
    let mut cmd = Command::new(prom);
    cmd.arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let _prom = ChildGuard::spawn("prometheus", &mut cmd, &dir.path().join("prometheus.log"));
    e2e::wait_port(port, Duration::from_secs(30));

    let targets_url = format!("http://127.0.0.1:{port}/api/v1/targets");
    let mut last = serde_json::Value::Null;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let target = loop {
        if let Some(v) = get_json(&targets_url).await {
            let t = v["data"]["activeTargets"][0].clone();
            if t["health"] == "up" && !t["lastScrape"].as_str().unwrap_or("").starts_with("0001") {
                break t;
            }
            last = v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "target never up; last /api/v1/targets: {last}\nprometheus log:\n{}",
            std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(target["lastError"], "", "{target}");

    let query = format!("http://127.0.0.1:{port}/api/v1/query?query=node_memory_MemTotal_bytes");
    let v = get_json(&query).await.unwrap();
    let result = &v["data"]["result"];
    assert_eq!(result.as_array().map(Vec::len), Some(1), "{v}");
    let mem: f64 = result[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(mem > 0.0, "{v}");
}
