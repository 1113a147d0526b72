//! Start-up with a `--storage.path` the daemon cannot use: it exits non-zero at
//! once, with one error line naming the path, instead of running without its state
//! (a silence it could not persist would come back unsilenced after a restart).
//! Tests run as root, whom permissions do not stop, so the unusable paths are
//! made from regular files: a path under a file, a file where the directory goes,
//! and a directory where a data file goes.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use e2e::{ChildGuard, free_port};

const CONFIG: &str = "route:\n  receiver: nobody\nreceivers:\n- name: nobody\n";

/// Starts the daemon on `storage` and waits for it to exit by itself: its exit
/// status and its log.
fn start_and_exit(dir: &Path, storage: &Path) -> (std::process::ExitStatus, String) {
    let config = dir.join("alertmanager.yml");
    std::fs::write(&config, CONFIG).unwrap();
    let log = dir.join("alerter.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alerter"));
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", storage.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{}", free_port()));
    let mut guard = ChildGuard::spawn("alerter", &mut cmd, &log);
    let status = guard.wait_exit(Duration::from_secs(20)).unwrap_or_else(|| {
        panic!(
            "still running on an unusable storage path: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    (status, std::fs::read_to_string(&log).unwrap())
}

fn assert_refused(status: std::process::ExitStatus, log: &str, path: &Path) {
    assert_eq!(status.code(), Some(1), "{log}");
    let line = log
        .lines()
        .find(|l| l.contains("ERROR"))
        .unwrap_or_else(|| panic!("no error line: {log}"));
    assert!(
        line.contains(&path.display().to_string()),
        "the error names {}: {line}",
        path.display()
    );
    assert!(!log.contains("listening"), "{log}");
}

#[test]
fn storage_path_under_a_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "").unwrap();
    let storage = file.join("data");
    let (status, log) = start_and_exit(dir.path(), &storage);
    assert_refused(status, &log, &storage);
    assert!(log.contains("Not a directory"), "{log}");
}

#[test]
fn storage_path_is_a_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("data");
    std::fs::write(&storage, "").unwrap();
    let (status, log) = start_and_exit(dir.path(), &storage);
    assert_refused(status, &log, &storage);
}
