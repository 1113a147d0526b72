//! Debian's amtool (Alertmanager 0.25's client) against our API: alerts added and
//! queried, silences added, queried and expired, all through its own models.

use std::process::Command;
use std::time::Duration;

use e2e::ChildGuard;

const CONFIG: &str = "route:
  receiver: admin-email
  group_by: [alertname]
receivers:
  - name: admin-email
";

fn amtool(bin: &std::path::Path, port: u16, args: &[&str]) -> (bool, String) {
    let out = Command::new(bin)
        .arg(format!("--alertmanager.url=http://127.0.0.1:{port}"))
        .args(args)
        .output()
        .expect("run amtool");
    // stdout only when it worked (amtool warns on stderr that our version is not
    // its own); both when it failed.
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        (true, stdout)
    } else {
        (
            false,
            format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)),
        )
    }
}

#[test]
fn amtool_alerts_and_silences() {
    let Some(bin) = e2e::require("amtool", "amtool is the reference client of the v2 API") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("alertmanager.yml");
    std::fs::write(&cfg, CONFIG).expect("write");
    let port = e2e::free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alerter"));
    cmd.arg("--config.file")
        .arg(&cfg)
        .arg("--storage.path")
        .arg(dir.path().join("data"))
        .args(["--web.listen-address", &format!("127.0.0.1:{port}")]);
    let _g = ChildGuard::spawn("alerter", &mut cmd, &dir.path().join("log"));
    e2e::wait_port(port, Duration::from_secs(10));

    let (ok, out) = amtool(
        &bin,
        port,
        &[
            "alert",
            "add",
            "alertname=CeleryQueueLong",
            "queue=default",
            "severity=warning",
            "--annotation=summary=backlog",
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = amtool(
        &bin,
        port,
        &["alert", "add", "alertname=HostDown", "severity=critical"],
    );
    assert!(ok, "{out}");
    let (ok, out) = amtool(&bin, port, &["alert", "query"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("CeleryQueueLong") && out.contains("HostDown"),
        "{out}"
    );
    assert!(out.contains("backlog"), "{out}");
    let (ok, out) = amtool(&bin, port, &["alert", "query", "severity=critical"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("HostDown") && !out.contains("CeleryQueueLong"),
        "{out}"
    );

    // A silence; amtool prints its id.
    let (ok, out) = amtool(
        &bin,
        port,
        &[
            "silence",
            "add",
            "alertname=~Celery.*",
            "--comment=deploying workers",
            "--author=admin",
            "--duration=2h",
        ],
    );
    assert!(ok, "{out}");
    let id = out.trim().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{out}");
    let (ok, out) = amtool(&bin, port, &["silence", "query"]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&id) && out.contains("deploying workers"),
        "{out}"
    );
    let (ok, out) = amtool(&bin, port, &["silence", "query", "-q"]);
    assert_eq!((ok, out.trim()), (true, id.as_str()));
    // The silenced alert is gone from the default query (amtool asks silenced=false).
    let (ok, out) = amtool(&bin, port, &["alert", "query"]);
    assert!(ok, "{out}");
    assert!(
        !out.contains("CeleryQueueLong") && out.contains("HostDown"),
        "{out}"
    );
    let (ok, out) = amtool(&bin, port, &["alert", "query", "--silenced"]);
    assert!(ok && out.contains("CeleryQueueLong"), "{out}");

    let (ok, out) = amtool(&bin, port, &["silence", "expire", &id]);
    assert!(ok, "{out}");
    let (ok, out) = amtool(&bin, port, &["silence", "query", "-q"]);
    assert_eq!((ok, out.trim()), (true, ""));
    let (ok, out) = amtool(&bin, port, &["silence", "query", "--expired", "-q"]);
    assert_eq!((ok, out.trim()), (true, id.as_str()));
    let (ok, out) = amtool(&bin, port, &["alert", "query"]);
    assert!(ok && out.contains("CeleryQueueLong"), "{out}");
    // Invalid silences come back with Alertmanager's text.
    let (ok, out) = amtool(
        &bin,
        port,
        &[
            "silence",
            "add",
            "alertname=~.*",
            "--comment=x",
            "--author=a",
        ],
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains("at least one matcher must not match the empty string"),
        "{out}"
    );
    let (ok, out) = amtool(&bin, port, &["config", "show"]);
    assert!(ok && out.contains("admin-email"), "{out}");
}
