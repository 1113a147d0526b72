//! Reloads of the real binary, each waiting for a positive signal (a log line, a
//! metric, a notification) before it checks anything:
//! - a broken config delivered by SIGHUP, and by the file watcher (the file's hash is
//!   polled every 3 s), keeps the previous config running and says so in the log, in
//!   `alertmanager_config_last_reload_successful 0` and in `/api/v2/status`; the previous
//!   config still delivers; a fixed file then loads;
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
    guard: ChildGuard,
    config: PathBuf,
    log: PathBuf,
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
            guard,
            config: path,
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log after the first line containing `marker` (empty when none yet).
    fn log_after(&self, marker: &str) -> Option<String> {
        let log = self.log();
        log.find(marker).map(|i| log[i..].to_string())
    }

    fn metric(&self, name: &str) -> Option<f64> {
        let (_, text) = e2e::http("GET", self.port, "/metrics", None).ok()?;
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    fn status(&self) -> Value {
        e2e::get_json(self.port, "/api/v2/status").expect("status")
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

const FAILED: &str = "configuration reload FAILED, still running the previous configuration";

/// After a failed reload: the metric, the status and the previous config in service.
fn assert_kept_and_reported(a: &Alerter, culprit: &str, hash: f64, receivers: &[&str]) {
    assert_eq!(
        a.metric("alertmanager_config_last_reload_successful"),
        Some(0.0)
    );
    assert_eq!(
        a.metric("alertmanager_config_hash"),
        Some(hash),
        "old hash kept"
    );
    let status = a.status();
    assert_eq!(status["config"]["lastReloadSuccessful"], false, "{status}");
    let error = status["config"]["lastReloadError"].as_str().unwrap_or("");
    assert!(error.contains(culprit), "lastReloadError: {error}");
    assert!(
        !status["config"]["original"]
            .as_str()
            .unwrap_or("")
            .contains(culprit),
        "the broken config is not the one in service: {status}"
    );
    assert_eq!(a.receivers(), receivers);
}

#[test]
fn broken_config_by_sighup_and_by_file_watch_keeps_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let sink = WebhookSink::start();
    let good = config(&sink, "alertname", "");
    let a = Alerter::start(dir.path(), &good);
    let hash = a.metric("alertmanager_config_hash").expect("hash");
    assert_eq!(
        a.metric("alertmanager_config_last_reload_successful"),
        Some(1.0)
    );

    // SIGHUP with an unknown key in the file. The watcher may see the change too;
    // what is waited for is the failure that follows the SIGHUP's own log line.
    std::fs::write(&a.config, format!("{good}bogus_key: 1\n")).unwrap();
    a.guard.signal("HUP");
    let after = wait_for("the SIGHUP reload to fail", Duration::from_secs(15), || {
        a.log_after("SIGHUP: reloading configuration")
            .filter(|l| l.contains(FAILED))
    });
    let line = after.lines().find(|l| l.contains(FAILED)).unwrap();
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("bogus_key"), "{line}");
    assert!(line.contains(&a.config.display().to_string()), "{line}");
    assert_kept_and_reported(&a, "bogus_key", hash, &["hook"]);
    // The previous config still routes and delivers.
    a.post_alert("StillRouted");
    wait_notified(&sink, "StillRouted");

    // A fixed file by SIGHUP: loads (a new receiver shows it), metric back to 1.
    // (The watcher may load it first; the SIGHUP's own reload then succeeds too.)
    let fixed = config(&sink, "alertname", "- name: second\n");
    std::fs::write(&a.config, &fixed).unwrap();
    a.guard.signal("HUP");
    let hup = "SIGHUP: reloading configuration";
    wait_for(
        "the SIGHUP reload to succeed",
        Duration::from_secs(15),
        || {
            let log = a.log();
            (log.matches(hup).count() == 2
                && log[log.rfind(hup)?..].contains("configuration reloaded"))
            .then_some(())
        },
    );
    assert_eq!(a.receivers(), ["hook", "second"]);
    assert_eq!(
        a.metric("alertmanager_config_last_reload_successful"),
        Some(1.0)
    );
    let hash = a.metric("alertmanager_config_hash").expect("hash");
    assert_eq!(a.status()["config"]["lastReloadSuccessful"], true);

    // No signal: the watcher finds a route to a receiver that does not exist.
    let seen_before = a.log().matches(FAILED).count();
    std::fs::write(
        &a.config,
        fixed.replacen("receiver: hook", "receiver: nowhere", 1),
    )
    .unwrap();
    let after = wait_for(
        "the watcher's reload to fail",
        Duration::from_secs(15),
        || {
            let log = a.log();
            (log.matches(FAILED).count() > seen_before).then_some(log)
        },
    );
    let watched = "configuration file changed on disk; reloading";
    let tail = &after[after.rfind(watched).expect("the watcher's log line")..];
    let line = tail.lines().find(|l| l.contains(FAILED)).unwrap();
    assert!(line.contains("nowhere"), "{line}");
    assert_kept_and_reported(&a, "nowhere", hash, &["hook", "second"]);
    a.post_alert("StillRoutedAfterWatch");
    wait_notified(&sink, "StillRoutedAfterWatch");

    // The fixed file, no signal: the watcher loads it.
    std::fs::write(&a.config, config(&sink, "alertname", "- name: third\n")).unwrap();
    wait_for(
        "the watcher to load the fix",
        Duration::from_secs(15),
        || (a.receivers() == ["hook", "third"]).then_some(()),
    );
    assert_eq!(
        a.metric("alertmanager_config_last_reload_successful"),
        Some(1.0)
    );
    assert_ne!(a.metric("alertmanager_config_hash"), Some(hash));
    let status = a.status();
    assert_eq!(status["config"]["lastReloadSuccessful"], true, "{status}");
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
