//! Reloads of the real binary, each waiting for a positive signal (a log line, a
//! metric, a notification) before it checks anything. (A broken config, by SIGHUP
//! and by the file watch, is the reliability matrix's row: tests/reliability/.)
//! - a successful reload does not notify again a group that was already notified
//!   (the notification log outlives the config, as in Alertmanager, where the new
//!   dispatcher's groups find their entries in the nflog); a reload that changes the
//!   group's key makes it a new group, which is notified.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use e2e::{ChildGuard, WebhookSink, free_port, wait_for};
use serde_json::{Value, json};

struct Alerter {
    port: u16,
    /// Stops the daemon when the test ends.
    _guard: ChildGuard,
    config: PathBuf,
}

impl Alerter {
    fn start(dir: &Path, config: &str) -> Alerter {
        let path = dir.join("alertmanager.yml");
        std::fs::write(&path, config).expect("write config");
        let port = free_port();
        let log = dir.join("alerter.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_alerter"));
        cmd.arg(format!("--config.file={}", path.display()))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"));
        let guard = ChildGuard::spawn("alerter", &mut cmd, &log);
        wait_for("alerter ready", Duration::from_secs(20), || {
            e2e::get_json(port, "/-/ready").ok()
        });
        Alerter {
            port,
            _guard: guard,
            config: path,
        }
    }

    fn receivers(&self) -> Vec<String> {
        e2e::get_json(self.port, "/api/v2/receivers")
            .expect("receivers")
            .as_array()
            .expect("array")
            .iter()
            .map(|r| r["name"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    fn post_alert(&self, name: &str) {
        let body = json!([{"labels": {"alertname": name, "instance": "vps1"}}]).to_string();
        let (st, text) = e2e::http("POST", self.port, "/api/v2/alerts", Some(&body)).unwrap();
        assert_eq!(st, 200, "{text}");
    }
}

/// A webhook route: group by `group_by`, 1 s timers, no repeat within the test.
fn config(sink: &WebhookSink, group_by: &str, extra_receivers: &str) -> String {
    format!(
        "route:
  receiver: hook
  group_by: [{group_by}]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
- name: hook
  webhook_configs:
  - url: {}
    send_resolved: false
{extra_receivers}",
        sink.url()
    )
}

/// Waits for the notification of the group whose `alertname` is `name`; every
/// body received so far.
fn wait_notified(sink: &WebhookSink, name: &str) -> Vec<Value> {
    wait_for(
        &format!("a notification for {name}"),
        Duration::from_secs(15),
        || {
            let r = sink.received();
            r.iter()
                .any(|n| n["groupLabels"]["alertname"] == name)
                .then_some(r)
        },
    )
}

fn group_names(bodies: &[Value]) -> Vec<String> {
    bodies
        .iter()
        .map(|n| {
            n["groupLabels"]["alertname"]
                .as_str()
                .unwrap_or("?")
                .to_string()
        })
        .collect()
}

#[test]
fn reload_does_not_notify_an_already_notified_group_again() {
    let dir = tempfile::tempdir().unwrap();
    let sink = WebhookSink::start();
    let a = Alerter::start(dir.path(), &config(&sink, "alertname", ""));
    a.post_alert("DiskFull");
    wait_notified(&sink, "DiskFull");

    // A reload that changes nothing the group depends on (one more receiver).
    std::fs::write(&a.config, config(&sink, "alertname", "- name: other\n")).unwrap();
    let (st, body) = e2e::http("POST", a.port, "/-/reload", None).unwrap();
    assert_eq!(st, 200, "{body}");
    assert_eq!(a.receivers(), ["hook", "other"]);
    // The positive signal: a canary posted after the reload is notified after its
    // group_wait (1s). The DiskFull group, rebuilt by the reload, was flushed at once
    // (its alert is older than group_wait) and every group_interval (1s) since.
    a.post_alert("Canary");
    let got = wait_notified(&sink, "Canary");
    assert_eq!(
        group_names(&got),
        ["DiskFull", "Canary"],
        "notified again after a reload"
    );

    // A reload that changes the group's key (group_by) makes a new group, which
    // is notified: Alertmanager's nflog is keyed by group key too.
    std::fs::write(&a.config, config(&sink, "alertname, instance", "")).unwrap();
    let (st, body) = e2e::http("POST", a.port, "/-/reload", None).unwrap();
    assert_eq!(st, 200, "{body}");
    let got = wait_for(
        "the regrouped notifications",
        Duration::from_secs(15),
        || {
            let r = sink.received();
            (r.len() >= 4).then_some(r)
        },
    );
    let mut regrouped: Vec<(String, String)> = got[2..]
        .iter()
        .map(|n| {
            (
                n["groupLabels"]["alertname"].as_str().unwrap_or("?").into(),
                n["groupLabels"]["instance"].as_str().unwrap_or("?").into(),
            )
        })
        .collect();
    regrouped.sort();
    assert_eq!(
        regrouped,
        [
            ("Canary".to_string(), "vps1".to_string()),
            ("DiskFull".into(), "vps1".into())
        ]
    );
}
