//! kill -9, then restart on the same `--storage.path`: silences, active alerts and
//! the notification log are all back, and an unchanged group is not notified again
//! (issue 3, done-when 4). Also: a silence is durable as soon as the API answers
//! (Alertmanager snapshots every 15 minutes and lost 18 of 30 fresh silences).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use chrono::Utc;
use e2e::{ChildGuard, WebhookSink, free_port, wait_for};
use serde_json::{Value, json};

struct Alerter {
    port: u16,
    guard: ChildGuard,
}

fn start(dir: &Path, config: &Path, log: &str) -> Alerter {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alerter"));
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let guard = ChildGuard::spawn("alerter", &mut cmd, &dir.join(log));
    let a = Alerter { port, guard };
    wait_for("alerter ready", Duration::from_secs(20), || {
        get(a.port, "/-/ready").ok().map(|_| ())
    });
    a
}

fn get(port: u16, path: &str) -> Result<Value, String> {
    e2e::get_json(port, path)
}

/// POST `body`, expecting a 2xx answer; the reply as JSON (`null` when empty).
fn post(port: u16, path: &str, body: &Value) -> Value {
    let (status, text) = e2e::http("POST", port, path, Some(&body.to_string())).unwrap();
    assert!(
        (200..300).contains(&status),
        "{path}: HTTP {status}: {text}"
    );
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn alert(name: &str) -> Value {
    json!({
        "labels": {"alertname": name, "severity": "critical", "instance": "vps1"},
        "annotations": {"summary": format!("{name} on vps1")},
        "startsAt": Utc::now().to_rfc3339(),
        "endsAt": (Utc::now() + chrono::Duration::hours(1)).to_rfc3339(),
    })
}

fn silence(name: &str) -> Value {
    json!({
        "matchers": [{"name": "alertname", "value": name, "isRegex": false, "isEqual": true}],
        "startsAt": Utc::now().to_rfc3339(),
        "endsAt": (Utc::now() + chrono::Duration::hours(2)).to_rfc3339(),
        "createdBy": "restart-test",
        "comment": "survives kill -9",
    })
}

#[test]
fn kill_9_keeps_silences_alerts_and_notification_log() {
    let dir = tempfile::tempdir().unwrap();
    let sink = WebhookSink::start();
    let config = dir.path().join("alerter.yml");
    std::fs::write(
        &config,
        format!(
            "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n- name: hook\n  webhook_configs:\n  - url: {}\n    send_resolved: true\n",
            sink.url()
        ),
    )
    .unwrap();

    let mut a = start(dir.path(), &config, "first.log");
    post(a.port, "/api/v2/alerts", &json!([alert("DiskFull")]));
    let first = wait_for("the first notification", Duration::from_secs(10), || {
        let r = sink.received();
        (!r.is_empty()).then_some(r)
    });
    assert_eq!(first[0]["alerts"][0]["labels"]["alertname"], "DiskFull");
    // A silenced alert, and 30 fresh silences created just before the kill.
    let id = post(a.port, "/api/v2/silences", &silence("Muted"))["silenceID"]
        .as_str()
        .unwrap()
        .to_string();
    post(a.port, "/api/v2/alerts", &json!([alert("Muted")]));
    let fresh: Vec<String> = (0..30)
        .map(|i| {
            post(a.port, "/api/v2/silences", &silence(&format!("Fresh{i}")))["silenceID"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    a.guard.kill(); // SIGKILL: no chance to flush anything
    let sent_before = sink.received().len();

    let a = start(dir.path(), &config, "second.log");
    let silences = get(a.port, "/api/v2/silences").unwrap();
    let ids: Vec<&str> = silences
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"]["state"] == "active")
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert!(ids.contains(&id.as_str()), "silence {id} lost: {silences}");
    for f in &fresh {
        assert!(ids.contains(&f.as_str()), "fresh silence {f} lost");
    }
    let alerts = get(a.port, "/api/v2/alerts").unwrap();
    let names: Vec<&str> = alerts
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["labels"]["alertname"].as_str())
        .collect();
    assert!(
        names.contains(&"DiskFull") && names.contains(&"Muted"),
        "{alerts}"
    );
    let muted = alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["labels"]["alertname"] == "Muted")
        .unwrap();
    assert_eq!(muted["status"]["state"], "suppressed", "{muted}");
    assert_eq!(muted["status"]["silencedBy"][0], id.as_str());

    // The positive signal that the restored groups have been flushed: a canary in a
    // group of its own, posted now, is notified after its group_wait (1s). The
    // restored DiskFull and Muted groups were flushed at start-up, before the API
    // answered (their alerts are older than group_wait, so at once), and every
    // group_interval (1s) since. By the canary's notification they have had their
    // turns: the unchanged DiskFull group is not re-sent, the silenced one not sent.
    post(a.port, "/api/v2/alerts", &json!([alert("Canary")]));
    let after = wait_for("the canary's notification", Duration::from_secs(10), || {
        let r = sink.received();
        r[sent_before..]
            .iter()
            .any(|n| n["groupLabels"]["alertname"] == "Canary")
            .then_some(r)
    });
    let groups: Vec<&Value> = after[sent_before..]
        .iter()
        .map(|n| &n["groupLabels"]["alertname"])
        .collect();
    assert_eq!(
        groups,
        [&json!("Canary")],
        "duplicate after restart: {:?}",
        &after[sent_before..]
    );
    let sent_before = after.len();
    // Still dispatching: a new alert in the same group is notified with both.
    let mut second = alert("DiskFull");
    second["labels"]["instance"] = json!("vps2");
    post(a.port, "/api/v2/alerts", &json!([second]));
    let all = wait_for("the update after restart", Duration::from_secs(10), || {
        let r = sink.received();
        (r.len() > sent_before).then_some(r)
    });
    assert_eq!(all[sent_before]["alerts"].as_array().unwrap().len(), 2);
}
