//! Load generator for `alerter/bench/alertmanager.sh`: posts N alerts to an
//! Alertmanager-compatible `/api/v2/alerts`, one alert per request, over a few
//! keep-alive connections, and prints the wall time. Loopback only.
//!
//!   bench_ingest http://127.0.0.1:9093 --alerts 10000 --groups 100 [--concurrency 4]

use std::time::Instant;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:9093".into());
    anyhow::ensure!(
        base.starts_with("http://127.") || base.starts_with("http://localhost"),
        "loopback targets only"
    );
    let (mut alerts, mut groups, mut conc) = (10_000usize, 100usize, 4usize);
    while let Some(a) = args.next() {
        let v: usize = args.next().unwrap_or_default().parse()?;
        match a.as_str() {
            "--alerts" => alerts = v,
            "--groups" => groups = v.max(1),
            "--concurrency" => conc = v.max(1),
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(conc)
        .build()?;
    let url = format!("{base}/api/v2/alerts");
    // Bodies are built before the clock starts: the load generator shares the cores
    // with the server, and its own work should weigh as little as possible.
    let bodies: Vec<bytes::Bytes> = (0..alerts)
        .map(|i| {
            serde_json::to_vec(&serde_json::json!([{
                "labels": {
                    "alertname": format!("Bench{}", i % groups),
                    "severity": "warning",
                    "instance": format!("host-{i}"),
                },
                "annotations": {"summary": format!("bench alert {i}")},
                "generatorURL": "http://127.0.0.1:9090/graph",
            }]))
            .map(bytes::Bytes::from)
        })
        .collect::<Result<_, _>>()?;
    let bodies = std::sync::Arc::new(bodies);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..conc {
        let (client, url, bodies) = (client.clone(), url.clone(), bodies.clone());
        tasks.push(tokio::spawn(async move {
            let mut failed = 0usize;
            for i in (w..alerts).step_by(conc) {
                let r = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(bodies[i].clone())
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().is_success() => {}
                    _ => failed += 1,
                }
            }
            failed
        }));
    }
    let mut failed = 0;
    for t in tasks {
        failed += t.await?;
    }
    let secs = start.elapsed().as_secs_f64();
    println!("ingest_seconds {secs:.3} alerts {alerts} groups {groups} failed {failed}");
    Ok(())
}
