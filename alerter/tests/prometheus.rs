//! Debian's real Prometheus sends its alerts to our alerter (issue 3, done-when 3):
//! a rule that fires at once arrives at a webhook receiver with the rule's labels,
//! annotation and a `generatorURL` pointing back at Prometheus, and `/api/v2/alerts`
//! lists it as active. A second rule, gated on a series the test serves for
//! Prometheus to scrape, is switched off: the alert is resolved at the receiver too.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use e2e::prometheus::Prometheus;
use e2e::{ChildGuard, WebhookSink, free_port, wait_for};
use serde_json::Value;

fn get(port: u16, path: &str) -> Result<Value, String> {
    e2e::get_json(port, path)
}

/// A scrape target serving `e2e_switch 1` or `0`, as the test sets it. Runs on its
/// own thread until the test process ends.
fn switch_target() -> (u16, Arc<AtomicBool>) {
    let on = Arc::new(AtomicBool::new(true));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind scrape target");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("local addr").port();
    let flag = on.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let app = axum::Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    let v = u8::from(flag.load(Ordering::SeqCst));
                    async move {
                        format!("# HELP e2e_switch Set by the test.\n# TYPE e2e_switch gauge\ne2e_switch {v}\n")
                    }
                }),
            );
            let l = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            let _ = axum::serve(l, app).await;
        });
    });
    (port, on)
}

/// Polls `f` until it returns `Some`; on timeout fails with what Prometheus said about
/// sending (its "Error sending alert" lines) and both logs' tails.
fn wait_or_explain<T>(
    what: &str,
    timeout: Duration,
    logs: &Path,
    prometheus: &Prometheus,
    mut f: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() >= deadline {
            let prom = prometheus.log();
            let errors: Vec<&str> = prom
                .lines()
                .filter(|l| l.contains("Error sending alert"))
                .collect();
            let errors = &errors[errors.len().saturating_sub(5)..];
            let tail = |s: &str| {
                let lines: Vec<&str> = s.lines().collect();
                lines[lines.len().saturating_sub(15)..].join("\n")
            };
            let ask = |path: &str| get(prometheus.port, path).map_or_else(|e| e, |v| v.to_string());
            let alerter = std::fs::read_to_string(logs.join("alerter.log")).unwrap_or_default();
            panic!(
                "timed out after {timeout:?} waiting for {what}\n\
                 Prometheus send errors (last 5): {errors:#?}\n\
                 Prometheus alertmanagers: {}\n\
                 Prometheus alerts: {}\n\
                 --- prometheus.log (last lines)\n{}\n\
                 --- alerter.log (last lines)\n{}",
                ask("/api/v1/alertmanagers"),
                ask("/api/v1/alerts"),
                tail(&prom),
                tail(&alerter)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The alert named `name` in a webhook body's `alerts`, with the body's `status`.
fn find<'a>(body: &'a Value, name: &str) -> Option<&'a Value> {
    body["alerts"]
        .as_array()?
        .iter()
        .find(|a| a["labels"]["alertname"] == name)
}

/// The first notification with `status` that carries the alert `name`.
fn notified(sink: &WebhookSink, status: &str, name: &str) -> Option<Value> {
    sink.received()
        .into_iter()
        .find(|b| b["status"] == status && find(b, name).is_some())
}

#[test]
fn prometheus_alerts_reach_the_webhook_through_the_alerter() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let sink = WebhookSink::start();
    let (target_port, switch) = switch_target();

    // The alerter: everything to the webhook, one group per alertname.
    let am_port = free_port();
    let am_config = dir.path().join("alerter.yml");
    std::fs::write(
        &am_config,
        format!(
            "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n- name: hook\n  webhook_configs:\n  - url: {}\n    send_resolved: true\n",
            sink.url()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alerter"));
    cmd.arg(format!("--config.file={}", am_config.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("alerter-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{am_port}"));
    let _alerter = ChildGuard::spawn("alerter", &mut cmd, &dir.path().join("alerter.log"));
    wait_for("alerter ready", Duration::from_secs(20), || {
        get(am_port, "/-/ready").ok()
    });

    // Prometheus: rules evaluated every second, alerts sent to the alerter (API v2).
    std::fs::write(
        dir.path().join("rules.yml"),
        r#"groups:
- name: e2e
  interval: 1s
  rules:
  - alert: AlwaysFiring
    expr: vector(1)
    for: 0s
    labels:
      severity: critical
    annotations:
      summary: "fires from the first evaluation"
  - alert: SwitchOn
    expr: e2e_switch == 1
    for: 0s
    labels:
      severity: warning
    annotations:
      summary: "switch is {{ $value }}"
"#,
    )
    .unwrap();
    let prom_config = format!(
        r#"global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ['{rules}']
alerting:
  alertmanagers:
  - api_version: v2
    static_configs:
    - targets: ['127.0.0.1:{am_port}']
scrape_configs:
- job_name: switch
  static_configs:
  - targets: ['127.0.0.1:{target_port}']
"#,
        rules = dir.path().join("rules.yml").display()
    );
    // Prometheus learns the alertmanager from discovery ~5 s after start and drops
    // what it evaluated before; the default 1m resend would push the test past that.
    let Some(prom) = Prometheus::start_with(&prom_config, &["--rules.alert.resend-delay=1s"])
    else {
        return;
    };
    let prom_url = format!("http://127.0.0.1:{}", prom.port);

    // Both rules fire: one notification per group, each with the rule's labels.
    let always = wait_or_explain(
        "AlwaysFiring at the webhook",
        Duration::from_secs(12),
        dir.path(),
        &prom,
        || notified(&sink, "firing", "AlwaysFiring"),
    );
    let first_at = started.elapsed();
    let a = find(&always, "AlwaysFiring").unwrap();
    assert_eq!(a["status"], "firing", "{always}");
    assert_eq!(a["labels"]["severity"], "critical", "{always}");
    assert_eq!(
        a["annotations"]["summary"], "fires from the first evaluation",
        "{always}"
    );
    let gen_url = a["generatorURL"].as_str().unwrap_or_default();
    assert!(
        gen_url.starts_with(&format!("{prom_url}/graph?")) && gen_url.contains("vector%281%29"),
        "generatorURL {gen_url:?} should open vector(1) on {prom_url}"
    );
    assert_eq!(always["receiver"], "hook");
    assert_eq!(always["groupLabels"]["alertname"], "AlwaysFiring");
    assert_eq!(always["commonLabels"]["severity"], "critical");

    let on = wait_or_explain(
        "SwitchOn at the webhook",
        Duration::from_secs(8),
        dir.path(),
        &prom,
        || notified(&sink, "firing", "SwitchOn"),
    );
    let s = find(&on, "SwitchOn").unwrap();
    assert_eq!(s["labels"]["severity"], "warning", "{on}");
    assert_eq!(s["labels"]["job"], "switch", "{on}");
    assert_eq!(s["annotations"]["summary"], "switch is 1", "{on}");

    // Our API lists both as active, as Prometheus sent them.
    let listed = get(am_port, "/api/v2/alerts").unwrap();
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["labels"]["alertname"] == "AlwaysFiring")
        .unwrap_or_else(|| panic!("AlwaysFiring not in /api/v2/alerts: {listed}"));
    assert_eq!(entry["status"]["state"], "active", "{entry}");
    assert_eq!(entry["generatorURL"], gen_url, "{entry}");
    assert_eq!(
        entry["annotations"]["summary"],
        "fires from the first evaluation"
    );
    assert_eq!(entry["receivers"][0]["name"], "hook", "{entry}");

    // The switch goes off: Prometheus resolves SwitchOn, the receiver hears it.
    switch.store(false, Ordering::SeqCst);
    let off_at = Instant::now();
    let resolved = wait_or_explain(
        "SwitchOn resolved at the webhook",
        Duration::from_secs(8),
        dir.path(),
        &prom,
        || notified(&sink, "resolved", "SwitchOn"),
    );
    let r = find(&resolved, "SwitchOn").unwrap();
    assert_eq!(r["status"], "resolved", "{resolved}");
    let time = |k: &str| {
        chrono::DateTime::parse_from_rfc3339(r[k].as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{k} of {r}: {e}"))
    };
    // Prometheus ends it when the rule stopped firing: after it started, not ahead.
    assert!(time("endsAt") > time("startsAt"), "{resolved}");
    assert!(time("endsAt") <= chrono::Utc::now(), "{resolved}");
    // AlwaysFiring stays active, and was notified once (repeat_interval 1h).
    let listed = get(am_port, "/api/v2/alerts?active=true").unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["labels"]["alertname"].as_str())
        .collect();
    assert_eq!(names, ["AlwaysFiring"], "{listed}");
    let always_sent = sink
        .received()
        .iter()
        .filter(|b| find(b, "AlwaysFiring").is_some())
        .count();
    assert_eq!(always_sent, 1, "{:#?}", sink.received());
    eprintln!(
        "prometheus e2e: first notification after {first_at:?}, resolved {:?} after the \
         switch, {:?} in all",
        off_at.elapsed(),
        started.elapsed()
    );
}
