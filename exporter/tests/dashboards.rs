//! Every query of the dashboards in dashboards/ over the exporter's families returns data
//! from Debian's Prometheus scraping the real exporter, with a real redis-server, a real
//! Celery worker that ran tasks (one succeeding, one failing, one not registered) and a
//! real Docker container with CPU and memory limits. No panel is empty by construction.
//! The alerter's families are checked in the alerter's `dashboards` test.

mod common;

use std::process::Command;
use std::time::Duration;

use common::Exporter;
use common::celery::{python_with_celery, send, worker};
use common::docker::{Container, ready};
use e2e::RedisServer;
use e2e::dashboards::{empty_or_failing, queries};
use e2e::prometheus::Prometheus;

/// Families of the alerter, and Prometheus's own `ALERTS`: not the exporter's.
fn is_alerter_query(expr: &str) -> bool {
    expr.contains("alertmanager_") || expr.contains("ALERTS")
}

#[test]
fn every_exporter_panel_has_data() {
    if !ready() {
        return;
    }
    let Some(py) = python_with_celery() else {
        return;
    };
    let Some(redis) = RedisServer::start(&["--maxmemory", "100mb"]) else {
        return;
    };
    let broker = format!("{}/0", redis.url());
    let dir = tempfile::tempdir().unwrap();
    // A container with limits, so the throttling and memory-against-limit panels have data.
    let _busy = Container::run(
        "dash",
        &["--memory", "64m", "--cpus", "0.5"],
        "while true; do :; done",
    );
    let exporter = Exporter::start_env(
        &[
            &format!("--redis.addr={}", redis.url()),
            &format!("--celery.broker-url={broker}"),
            "--celery.queues=celery",
        ],
        &[("DOCKER_HOST", "unix:///var/run/docker.sock")],
    );
    // Redis traffic for the hit-ratio and error panels.
    let cli = |args: &[&str]| {
        let _ = Command::new("redis-cli")
            .args(["-p", &redis.port.to_string()])
            .args(args)
            .output();
    };
    cli(&["SET", "k", "v"]);
    cli(&["GET", "k"]);
    cli(&["GET", "missing"]);
    cli(&["NOSUCHCOMMAND"]);

    let _worker = worker(&py, &broker, &dir.path().join("worker.log"));
    let Some(prom) = Prometheus::start(&Prometheus::scrape_config(&[(
        "exporter",
        format!("127.0.0.1:{}", exporter.port),
    )])) else {
        return;
    };
    // Events are pub/sub: send once the exporter has subscribed and the worker is up.
    e2e::wait_for("a celery worker up", Duration::from_secs(60), || {
        prom.query("celery_worker_up == 1")
            .ok()
            .filter(|r| !r.is_empty())
    });
    for what in ["add", "boom", "unknown"] {
        send(&py, &broker, what);
    }
    e2e::wait_for(
        "task outcomes in Prometheus",
        Duration::from_secs(60),
        || {
            let ok = ["celery_task_succeeded_total", "celery_task_failed_total"]
                .iter()
                .all(|m| prom.query(m).is_ok_and(|r| !r.is_empty()));
            ok.then_some(())
        },
    );
    prom.wait_all_up(6, Duration::from_secs(60));

    let qs: Vec<_> = queries()
        .into_iter()
        .filter(|q| !is_alerter_query(&q.expr))
        .collect();
    assert!(qs.len() > 50, "only {} queries", qs.len());
    // What this machine cannot produce: its cgroup v1 blkio files attribute no I/O to
    // containers (`blkio.throttle.io_service_bytes` stays `Total 0` after a fsync'd write),
    // so the collector has no per-device series to export, as cAdvisor would not.
    let bad = empty_or_failing(&prom, &qs, &["Block I/O"]);
    assert!(
        bad.is_empty(),
        "{} of {} queries fail or return nothing:\n{}\nexporter log:\n{}",
        bad.len(),
        qs.len(),
        bad.join("\n"),
        std::fs::read_to_string(exporter.log.path()).unwrap_or_default()
    );
    println!("{} exporter queries return data", qs.len());
}
