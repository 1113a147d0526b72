//! Bad input at startup: each gives a non-zero exit and one clear line on stderr.

use std::process::{Command, Output};

fn exporter(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_exporter"))
        .args(args)
        .env_remove("EXPORTER_CONFIG_FILE")
        .output()
        .expect("run exporter")
}

/// Asserts failure with exactly one stderr line containing every `needle`.
fn assert_one_line_error(out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure, got {stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "expected one line, got:\n{stderr}"
    );
    for n in needles {
        assert!(stderr.contains(n), "{n:?} missing from: {stderr}");
    }
}

#[test]
fn unknown_flag_is_one_line() {
    let out = exporter(&["--web.listen-adress=:9100"]);
    assert_one_line_error(&out, &["--web.listen-adress"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn malformed_config_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exporter.yml");
    std::fs::write(
        &path,
        "web:\n  listen_address: ':9100'\n   telemetry_path: x\n",
    )
    .unwrap();
    let out = exporter(&["--config.file", path.to_str().unwrap(), "--config.check"]);
    assert_one_line_error(&out, &["exporter.yml", "line 3"]);
}

#[test]
fn unknown_config_key_names_key_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exporter.yml");
    std::fs::write(&path, "filesystem:\n  mount_point_exclude: '^/x'\n").unwrap();
    let out = exporter(&["--config.file", path.to_str().unwrap(), "--config.check"]);
    assert_one_line_error(
        &out,
        &[
            "exporter.yml",
            "filesystem",
            "unknown field `mount_point_exclude`",
            "line 2",
        ],
    );
}

#[test]
fn missing_config_file_is_one_line() {
    let out = exporter(&["--config.file", "/nonexistent/exporter.yml"]);
    assert_one_line_error(&out, &["/nonexistent/exporter.yml", "No such file"]);
}

#[test]
fn unreadable_procfs_is_one_line() {
    let out = exporter(&["--path.procfs", "/nonexistent-proc", "--config.check"]);
    assert_one_line_error(&out, &["--path.procfs /nonexistent-proc", "cannot read"]);
}

#[test]
fn config_check_accepts_good_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exporter.yml");
    std::fs::write(
        &path,
        "web:\n  listen_address: '127.0.0.1:9199'\ncollectors:\n  loadavg: false\n",
    )
    .unwrap();
    let out = exporter(&["--config.file", path.to_str().unwrap(), "--config.check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("config OK"), "{stdout}");
    assert!(stdout.contains("127.0.0.1:9199"), "{stdout}");
}

#[test]
fn env_overrides_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exporter.yml");
    std::fs::write(&path, "web:\n  listen_address: '127.0.0.1:9199'\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_exporter"))
        .args(["--config.check"])
        .env("EXPORTER_CONFIG_FILE", &path)
        .env("EXPORTER_WEB_LISTEN_ADDRESS", "127.0.0.1:9198")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("127.0.0.1:9198"), "{stdout}");
}

#[test]
fn serves_then_stops_cleanly_on_sigterm() {
    let port = e2e::free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_exporter"));
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .env_remove("EXPORTER_CONFIG_FILE");
    let mut child = e2e::ChildGuard::spawn("exporter", &mut cmd, &dir.path().join("log"));
    e2e::wait_port(port, std::time::Duration::from_secs(10));
    child.signal("TERM");
    let status = child
        .wait_exit(std::time::Duration::from_secs(5))
        .expect("exporter exits on SIGTERM");
    assert!(status.success(), "{status:?}");
}

/// `--web.telemetry-path /custom`: the metrics are served there, and `/metrics` is not (404),
/// as node_exporter does; the landing page links to the configured path.
#[test]
fn telemetry_path_moves_the_metrics() {
    let port = e2e::free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_exporter"));
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(["--web.telemetry-path", "/custom"])
        .args(["--collector.disable-defaults", "--collector.loadavg"])
        .env_remove("EXPORTER_CONFIG_FILE");
    let _exporter = e2e::ChildGuard::spawn("exporter", &mut cmd, &dir.path().join("log"));
    e2e::wait_port(port, std::time::Duration::from_secs(10));

    let (status, body) = e2e::http("GET", port, "/custom", None).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("# TYPE node_load1 gauge\n"), "{body}");
    let (status, body) = e2e::http("GET", port, "/metrics", None).unwrap();
    assert_eq!(
        status, 404,
        "/metrics must not serve metrics any more: {body}"
    );
    assert!(!body.contains("node_load1"), "{body}");
    let (status, page) = e2e::http("GET", port, "/", None).unwrap();
    assert_eq!(status, 200);
    assert!(page.contains("href=\"/custom\""), "{page}");
}
