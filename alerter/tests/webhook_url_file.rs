//! Webhook `url_file` (Alertmanager's: the URL, which often carries a token, read
//! from a file at each send) through the real binary and a real HTTP receiver: the
//! POST goes to the URL in the file, a new URL in the file is used by the next send,
//! and a missing file is a warning at load (status and log) and fails that
//! integration, counted with reason `url_file` and logged at error naming the file,
//! while the other receivers keep delivering.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use e2e::{ChildGuard, WebhookSink, free_port, wait_for};
use serde_json::{Value, json};

fn config(url_file: &Path, absent: &Path) -> String {
    format!(
        "route:
  receiver: from-file
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
  - matchers: ['alertname=\"ToMissing\"']
    receiver: missing
receivers:
- name: from-file
  webhook_configs:
  - url_file: {}
- name: missing
  webhook_configs:
  - url_file: {}
",
        url_file.display(),
        absent.display()
    )
}

fn post_alert(port: u16, name: &str) {
    let body = json!([{"labels": {"alertname": name}}]).to_string();
    let (st, text) = e2e::http("POST", port, "/api/v2/alerts", Some(&body)).unwrap();
    assert_eq!(st, 200, "{text}");
}

fn notified(sink: &WebhookSink, name: &str) -> Value {
    wait_for(
        &format!("{name} at the URL in the file"),
        Duration::from_secs(15),
        || {
            sink.received()
                .into_iter()
                .find(|n| n["groupLabels"]["alertname"] == name)
        },
    )
}

/// The value of the series named `name` whose labels include every one of `labels`.
fn metric(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn url_file_is_read_at_each_send_and_a_missing_one_fails_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let first = WebhookSink::start();
    let url_file = dir.path().join("webhook_url");
    std::fs::write(&url_file, format!("{}\n", first.url())).unwrap();
    let absent = dir.path().join("no_such_url_file");
    let config_path = dir.path().join("alertmanager.yml");
    std::fs::write(&config_path, config(&url_file, &absent)).unwrap();
    let port = free_port();
    let log = dir.path().join("alerter.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alerter"));
    cmd.arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let _guard = ChildGuard::spawn("alerter", &mut cmd, &log);
    wait_for("alerter ready", Duration::from_secs(20), || {
        e2e::get_json(port, "/-/ready").ok()
    });

    // A url_file that cannot be read is said at load, before any alert depends on
    // it: in the status warnings, and at error in the log ("what loads but will not
    // send"), as a missing password file is.
    let status = e2e::get_json(port, "/api/v2/status").unwrap();
    let warnings: Vec<&str> = status["config"]["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let absent_name = absent.display().to_string();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains(&absent_name) && w.contains("\"missing\"")),
        "no warning names the missing url_file: {warnings:?}"
    );
    assert!(
        !warnings
            .iter()
            .any(|w| w.contains(&url_file.display().to_string())),
        "{warnings:?}"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.lines()
            .any(|l| l.contains("ERROR") && l.contains("url_file") && l.contains(&absent_name)),
        "{text}"
    );

    // First, as its failure is counted only when the flush gives up retrying (10 s,
    // notify.MinTimeout): the alert for the receiver whose url_file is missing.
    post_alert(port, "ToMissing");

    // The URL in the file (its trailing newline trimmed) gets the POST.
    post_alert(port, "ToFile");
    let body = notified(&first, "ToFile");
    assert_eq!(body["receiver"], "from-file");
    assert_eq!(body["alerts"][0]["labels"]["alertname"], "ToFile");

    // The file is read at each send: a new URL in it takes the next one.
    let second = WebhookSink::start();
    std::fs::write(&url_file, second.url()).unwrap();
    post_alert(port, "ToNewUrl");
    notified(&second, "ToNewUrl");
    assert!(
        first
            .received()
            .iter()
            .all(|n| n["groupLabels"]["alertname"] != "ToNewUrl"),
        "sent to the old URL"
    );

    // The missing file: that integration fails, counted with its reason.
    let labels = [
        "receiver=\"missing\"",
        "integration=\"webhook\"",
        "reason=\"url_file\"",
    ];
    wait_for(
        "the url_file failure to be counted",
        Duration::from_secs(15),
        || {
            let (_, text) = e2e::http("GET", port, "/metrics", None).ok()?;
            metric(
                &text,
                "alerter_receiver_notifications_failed_total",
                &labels,
            )
            .filter(|v| *v >= 1.0)
            .map(|_| text)
        },
    );
    let (_, text) = e2e::http("GET", port, "/metrics", None).unwrap();
    assert_eq!(
        metric(
            &text,
            "alerter_notifications_failing",
            &["receiver=\"missing\"", "integration=\"webhook\""]
        ),
        Some(1.0),
        "{text}"
    );
    let log = std::fs::read_to_string(&log).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("notifications FAILING") && l.contains("receiver=\"missing\""))
        .unwrap_or_else(|| panic!("no failure line: {log}"));
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("reason=\"url_file\""), "{line}");
    assert!(
        line.contains(&absent.display().to_string()),
        "the log names the file: {line}"
    );
    // Nothing went to either sink for it.
    for sink in [&first, &second] {
        assert!(
            sink.received()
                .iter()
                .all(|n| n["groupLabels"]["alertname"] != "ToMissing")
        );
    }
}
