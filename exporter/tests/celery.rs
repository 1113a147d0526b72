//! The celery collector against a real redis-server and a real Celery app and worker
//! (the tiny app in `celery_app/`): queue lengths summed over kombu's priority lists,
//! the queue draining when a worker runs, and a broker that goes away.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{Exporter, parse, scrape};
use e2e::{ChildGuard, RedisServer};

fn app_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/celery_app")
}

/// python3 with celery importable, or `None` (SKIP outside CI, failure under CI).
fn python_with_celery() -> Option<PathBuf> {
    let py = e2e::require("python3", "the celery tests run a real Celery app")?;
    let ok = Command::new(&py)
        .args(["-c", "import celery"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            !e2e::under_ci(),
            "celery is not importable (pip install -r tests/requirements.txt)"
        );
        eprintln!("SKIP: celery not importable");
        return None;
    }
    Some(py)
}

async fn queue_lengths(url: &str) -> (Option<f64>, Option<f64>) {
    let f = parse(&scrape(url).await);
    let len = f.get("celery_queue_length").and_then(|fam| {
        fam.samples
            .iter()
            .find(|((_, l), _)| l.iter().any(|(k, v)| k == "queue_name" && v == "celery"))
            .map(|(_, v)| *v)
    });
    let up = f
        .get("celery_broker_up")
        .and_then(|fam| fam.samples.values().next().copied());
    (len, up)
}

#[tokio::test]
async fn queue_length_with_priorities_drains_and_broker_down() {
    let Some(py) = python_with_celery() else {
        return;
    };
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let broker = format!("{}/0", redis.url());
    let st = Command::new(&py)
        .arg("produce.py")
        .arg("500")
        .current_dir(app_dir())
        .env("BROKER_URL", &broker)
        .output()
        .expect("run producer");
    assert!(st.status.success(), "producer: {st:?}");

    let ours = Exporter::start(&[
        "--collector.disable-defaults",
        "--collector.celery",
        &format!("--celery.broker-url={broker}"),
    ]);
    // Priorities 0-9 land on four lists; kombu's own count is their sum.
    let (len, up) = queue_lengths(&ours.url()).await;
    assert_eq!(up, Some(1.0));
    assert_eq!(
        len,
        Some(500.0),
        "celery_queue_length{{queue_name=\"celery\"}}"
    );

    let dir = tempfile::tempdir().unwrap();
    let mut worker = ChildGuard::spawn(
        "celery-worker",
        Command::new(&py)
            .args(["-m", "celery", "-A", "tasks", "worker", "-E", "-c", "2"])
            .args(["--without-gossip", "--without-mingle", "-l", "WARNING"])
            .current_dir(app_dir())
            .env("BROKER_URL", &broker),
        &dir.path().join("worker.log"),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let (len, _) = queue_lengths(&ours.url()).await;
        if len == Some(0.0) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "queue did not drain: {len:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    worker.kill();

    // Broker gone: an error metric, no stale queue gauge.
    drop(redis);
    let (len, up) = queue_lengths(&ours.url()).await;
    assert_eq!(up, Some(0.0));
    assert_eq!(
        len, None,
        "no stale celery_queue_length while the broker is down"
    );
}
