//! Load generator for `alerter/bench/alertmanager.sh`: posts N alerts to an
//! Alertmanager-compatible `/api/v2/alerts`, one alert per request, over a few
//! keep-alive connections, and prints the wall time. Loopback only.
//!
//!   bench_ingest http://127.0.0.1:9093 --alerts 10000 --groups 100 [--concurrency 4]
//!
//! It shares the cores with the server it measures, so it is as light as a client
//! can be without writing HTTP by hand: one thread, hyper's connection-level client
//! (no pool, no per-request URL parsing), bodies built before the clock starts.

use std::time::Instant;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:9093".into());
    let addr = base
        .strip_prefix("http://")
        .map(|a| a.trim_end_matches('/'))
        .filter(|a| a.starts_with("127.") || a.starts_with("localhost"))
        .context("loopback targets only: http://127.x.y.z:PORT")?
        .to_string();
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
    let bodies: Vec<Bytes> = (0..alerts)
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
            .map(Bytes::from)
        })
        .collect::<Result<_, _>>()?;
    let bodies = std::sync::Arc::new(bodies);
    // Connections are open before the clock starts, as a sender's would be.
    let mut senders = Vec::with_capacity(conc);
    for _ in 0..conc {
        let tcp = tokio::net::TcpStream::connect(&addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        tcp.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
        tokio::spawn(conn);
        senders.push(sender);
    }
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(conc);
    for (w, mut sender) in senders.into_iter().enumerate() {
        let (bodies, addr) = (bodies.clone(), addr.clone());
        tasks.push(tokio::spawn(async move {
            let mut failed = 0usize;
            for i in (w..alerts).step_by(conc) {
                let req = Request::post("/api/v2/alerts")
                    .header("host", &addr)
                    .header("content-type", "application/json")
                    .body(Full::new(bodies[i].clone()))
                    .expect("static request parts");
                let ok = async {
                    sender.ready().await.ok()?;
                    let res = sender.send_request(req).await.ok()?;
                    let ok = res.status().is_success();
                    res.into_body().collect().await.ok()?;
                    Some(ok)
                };
                if ok.await != Some(true) {
                    failed += 1;
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
