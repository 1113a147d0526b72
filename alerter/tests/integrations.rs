//! Every receiver integration side by side with the real peer: Debian's
//! Alertmanager 0.25 and our alerter get the same config, the integration's URL
//! key pointing at a local capture server (one per daemon), and the same alerts;
//! the requests they send must be equal — method, path, the headers that matter,
//! and the body as JSON (up to what is an id or a timestamp).
//!
//! Each integration is one test of a few lines on the shared harness below.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use e2e::{ChildGuard, SinkRequest, WebhookSink, free_port, wait_for};
use serde_json::{Value, json};

const EXTERNAL_URL: &str = "http://alerts.example.com:9093";

/// A daemon listening on `port`, stopped when dropped.
struct Daemon {
    _guard: ChildGuard,
    port: u16,
}

fn alertmanager_bin() -> Option<std::path::PathBuf> {
    e2e::require(
        "prometheus-alertmanager",
        "the integrations are compared with what Alertmanager 0.25 sends",
    )
}

fn start(name: &str, cmd: &mut Command, dir: &Path, port: u16) -> Daemon {
    let guard = ChildGuard::spawn(name, cmd, &dir.join(format!("{name}.log")));
    wait_for(&format!("{name} ready"), Duration::from_secs(30), || {
        e2e::http("GET", port, "/-/ready", None)
            .ok()
            .filter(|(st, _)| *st == 200)
    });
    Daemon {
        _guard: guard,
        port,
    }
}

fn start_alertmanager(bin: &Path, dir: &Path, config: &Path) -> Daemon {
    let port = free_port();
    let mut cmd = Command::new(bin);
    cmd.current_dir(dir)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--web.external-url={EXTERNAL_URL}"))
        .arg("--cluster.listen-address=");
    start("alertmanager", &mut cmd, dir, port)
}

fn start_alerter(dir: &Path, config: &Path) -> Daemon {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alerter"));
    cmd.current_dir(dir)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.join("our-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--web.external-url={EXTERNAL_URL}"));
    start("alerter", &mut cmd, dir, port)
}

/// Two firing alerts of one group, with labels beyond the group's and annotations,
/// so every default template has something to show.
fn alerts() -> Value {
    let alert = |instance: &str| {
        json!({
            "labels": {"alertname": "HostHighCpuUsage", "instance": instance,
                       "severity": "critical", "team": "ops"},
            "annotations": {"summary": "CPU is high", "description": "above 90% for 10m"},
            "startsAt": "2024-05-01T14:03:09Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
        })
    };
    json!([alert("web1:9100"), alert("web2:9100")])
}

/// Runs the receiver `r` (its integration list, where `{url}` stands for the
/// capture server's URL) in both daemons, posts the same alerts to both, and
/// returns the first request each sent: `(alertmanager's, ours)`. `None` when
/// Alertmanager is not installed (outside CI).
fn side_by_side(receiver: &str) -> Option<(SinkRequest, SinkRequest)> {
    let bin = alertmanager_bin()?;
    let dir = tempfile::tempdir().unwrap();
    let config = |url: &str| {
        format!(
            "route:
  receiver: r
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1m
  repeat_interval: 1h
receivers:
- name: r
{}
",
            receiver.replace("{url}", url)
        )
    };
    let am_sink = WebhookSink::start();
    let our_sink = WebhookSink::start();
    let am_config = dir.path().join("am.yml");
    let our_config = dir.path().join("ours.yml");
    std::fs::write(&am_config, config(&am_sink.url())).unwrap();
    std::fs::write(&our_config, config(&our_sink.url())).unwrap();

    // amtool's verdict and ours agree before anything runs.
    let out = Command::new(env!("CARGO_BIN_EXE_alerter"))
        .arg("check-config")
        .arg(&our_config)
        .output()
        .unwrap();
    assert!(out.status.success(), "check-config: {out:?}");

    let am = start_alertmanager(&bin, dir.path(), &am_config);
    let ours = start_alerter(dir.path(), &our_config);
    let body = alerts().to_string();
    for d in [&am, &ours] {
        let (st, text) = e2e::http("POST", d.port, "/api/v2/alerts", Some(&body)).unwrap();
        assert_eq!(st, 200, "{text}");
    }
    let first = |sink: &WebhookSink, who: &str| {
        wait_for(
            &format!("{who}'s request at the capture server"),
            Duration::from_secs(30),
            || sink.requests().into_iter().next(),
        )
    };
    Some((first(&am_sink, "alertmanager"), first(&our_sink, "alerter")))
}

/// The two requests are the same: method, path and query, `headers`, and the
/// body as JSON after `normalize` (which blanks ids and timestamps).
fn assert_same(
    am: &SinkRequest,
    ours: &SinkRequest,
    headers: &[&str],
    normalize: impl Fn(&mut Value),
) {
    assert_eq!(ours.method, am.method, "method");
    assert_eq!(ours.uri, am.uri, "path and query");
    for h in headers {
        assert_eq!(ours.headers.get(*h), am.headers.get(*h), "header {h}");
    }
    let (mut a, mut o) = (am.body.clone(), ours.body.clone());
    if std::env::var_os("SHOW_REQUESTS").is_some() {
        eprintln!(
            "alertmanager: {} {} {:?}\n{a:#}",
            am.method, am.uri, am.headers
        );
        eprintln!(
            "ours: {} {} {:?}\n{o:#}",
            ours.method, ours.uri, ours.headers
        );
    }
    normalize(&mut a);
    normalize(&mut o);
    assert_eq!(
        o,
        a,
        "body\nours:         {}\nalertmanager: {}",
        serde_json::to_string_pretty(&o).unwrap(),
        serde_json::to_string_pretty(&a).unwrap()
    );
}

#[test]
fn slack_defaults() {
    let Some((am, ours)) =
        side_by_side("  slack_configs:\n  - api_url: {url}\n    channel: '#ops'")
    else {
        return;
    };
    assert_same(&am, &ours, &["content-type", "authorization"], |_| {});
    // The defaults rendered: not an empty body on both sides.
    assert_eq!(
        ours.body["attachments"][0]["title"],
        "[FIRING:2] HostHighCpuUsage (critical ops)"
    );
}

#[test]
fn slack_fields_actions_and_templates() {
    let Some((am, ours)) = side_by_side(
        r#"  slack_configs:
  - api_url: {url}
    send_resolved: true
    username: bot
    color: '{{ if eq .Status "firing" }}#ff0000{{ end }}'
    title: '{{ .CommonLabels.alertname }} on {{ len .Alerts }} hosts'
    text: '{{ range .Alerts }}{{ .Labels.instance }}: {{ .Annotations.summary }} {{ end }}'
    pretext: pre
    footer: foot
    icon_emoji: ':fire:'
    image_url: 'http://img/{{ .GroupLabels.alertname }}.png'
    link_names: true
    short_fields: true
    mrkdwn_in: [text]
    fields:
    - title: Severity
      value: '{{ .CommonLabels.severity }}'
    - title: Team
      value: '{{ .CommonLabels.team }}'
      short: false
    actions:
    - type: button
      text: Runbook
      url: 'http://runbook/{{ .GroupLabels.alertname }}'
      name: dropped-for-url-buttons
    - type: button
      text: Ack
      name: ack
      value: '{{ .CommonLabels.instance }}'
      confirm:
        text: Sure?
        ok_text: 'Yes'
    http_config:
      authorization:
        credentials: t0ken"#,
    ) else {
        return;
    };
    assert_same(&am, &ours, &["content-type", "authorization"], |_| {});
    assert_eq!(ours.headers["authorization"], "Bearer t0ken");
}
