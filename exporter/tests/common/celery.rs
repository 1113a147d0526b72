//! A real Celery app (tests/celery_app) on a Redis broker: its worker and task senders.

use std::path::PathBuf;
use std::process::Command;

use e2e::ChildGuard;

pub fn app_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/celery_app")
}

/// python3 with celery importable, or `None` (SKIP outside CI, failure under CI).
pub fn python_with_celery() -> Option<PathBuf> {
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

pub fn send(py: &std::path::Path, broker: &str, what: &str) {
    let st = Command::new(py)
        .arg("send.py")
        .arg(what)
        .current_dir(app_dir())
        .env("BROKER_URL", broker)
        .output()
        .expect("run send.py");
    assert!(st.status.success(), "send {what}: {st:?}");
}

pub fn worker(py: &std::path::Path, broker: &str, log: &std::path::Path) -> ChildGuard {
    ChildGuard::spawn(
        "celery-worker",
        Command::new(py)
            .args(["-m", "celery", "-A", "tasks", "worker", "-E", "-c", "2"])
            .args(["--without-gossip", "--without-mingle", "-l", "WARNING"])
            .args(["--heartbeat-interval", "1", "-n", "w1@%h"])
            .current_dir(app_dir())
            .env("BROKER_URL", broker),
        log,
    )
}
