//! The celery collector against a real Celery producer on a real redis-server: queue
//! lengths found from kombu's bindings, priority lists included.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::{Exporter, Fam, parse, scrape};
use e2e::RedisServer;

fn python_with_celery() -> Option<std::path::PathBuf> {
    let py = e2e::require("python3", "the Celery tests run a real Celery producer")?;
    let ok = Command::new(&py)
        .args(["-c", "import celery, redis"])
        .status()
        .is_ok_and(|s| s.success());
    let msg = "Python package celery[redis] is missing; `bash tests/run.sh` installs tests/requirements.txt";
    assert!(ok || !e2e::under_ci(), "{msg}");
    if !ok {
        eprintln!("SKIP: {msg}");
        return None;
    }
    Some(py)
}

fn by_queue(f: &BTreeMap<String, Fam>, name: &str) -> BTreeMap<String, f64> {
    f.get(name)
        .map(|fam| {
            fam.samples
                .iter()
                .filter(|((_, l), _)| !l.iter().any(|(k, _)| k == "priority"))
                .filter_map(|((_, l), v)| {
                    l.iter()
                        .find(|(k, _)| k == "queue_name")
                        .map(|(_, q)| (q.clone(), *v))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn queue_length_counts_priority_tasks_and_discovers_queues() {
    let Some(py) = python_with_celery() else {
        return;
    };
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let broker = format!("{}/0", redis.url());
    let app_dir = e2e::workspace_root().join("exporter/tests/celery_app");
    let out = Command::new(&py)
        .arg("enqueue.py")
        .args(["500", "100"])
        .current_dir(&app_dir)
        .env("CELERY_BROKER_URL", &broker)
        .output()
        .expect("run the Celery producer");
    assert!(
        out.status.success(),
        "producer: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let ours = Exporter::start(&[
        &format!("--celery.broker-url={broker}"),
        "--celery.queues=idle",
    ]);
    let f = parse(&scrape(&ours.url()).await);
    let lengths = by_queue(&f, "celery_queue_length");
    assert_eq!(
        lengths.get("celery"),
        Some(&500.0),
        "all 500, priority tasks included: {lengths:?}"
    );
    assert_eq!(
        lengths.get("reports"),
        Some(&1.0),
        "found from kombu's bindings: {lengths:?}"
    );
    assert_eq!(
        lengths.get("idle"),
        Some(&0.0),
        "a configured queue is reported at 0: {lengths:?}"
    );
    let per_priority: f64 = f["celery_queue_length_by_priority"]
        .samples
        .iter()
        .filter(|((_, l), _)| l.contains(&("queue_name".into(), "celery".into())))
        .filter(|((_, l), _)| !l.contains(&("priority".into(), "0".into())))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(
        per_priority, 100.0,
        "the priority lists hold the 100 priority tasks"
    );
    assert_eq!(f["celery_broker_up"].samples.values().next(), Some(&1.0));
    assert_eq!(
        f["celery_unacked_messages"].samples.values().next(),
        Some(&0.0)
    );

    // Broker down: the failure shows, and no stale queue gauge is served.
    let mut redis = redis;
    redis.guard.kill();
    let f = parse(&scrape(&ours.url()).await);
    assert_eq!(f["celery_broker_up"].samples.values().next(), Some(&0.0));
    assert!(
        !f.contains_key("celery_queue_length"),
        "no stale queue lengths while the broker is down"
    );
}
