//! Every query of dashboards/ over the alerter's families (the alerter dashboard, and
//! the `alertmanager_*` and `ALERTS` queries of the others) returns data from Debian's
//! Prometheus scraping the real alerter. Prometheus evaluates an always-firing rule (for
//! `ALERTS`) and posts it to the alerter; one receiver accepts and one refuses, so the
//! sent, failed and latency panels have data; a silence makes the silence panels real.
//! The exporter's families are checked in the exporter's `dashboards` test.

use std::process::Command;
use std::time::Duration;

use e2e::dashboards::{empty_or_failing, queries};
use e2e::prometheus::Prometheus;
use e2e::{ChildGuard, WebhookSink, free_port, wait_for};

fn is_alerter_query(dashboard: &str, expr: &str) -> bool {
    dashboard == "alerter" || expr.contains("alertmanager_") || expr.contains("ALERTS")
}

#[test]
fn every_alerter_panel_has_data() {
    let ok = WebhookSink::start();
    let refusing = WebhookSink::start();
    refusing.set_status(500);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            "route:\n  receiver: ok\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1s\n  routes:\n  - receiver: refusing\n    continue: true\n    matchers: ['alertname=\"DashboardTest\"']\n  - receiver: ok\n    matchers: ['alertname=\"DashboardTest\"']\ninhibit_rules:\n- source_matchers: ['alertname=\"DashboardTest\"']\n  target_matchers: ['alertname=\"Inhibited\"']\nreceivers:\n- name: ok\n  webhook_configs: [{{url: '{}'}}]\n- name: refusing\n  webhook_configs: [{{url: '{}'}}]\n",
            ok.url(),
            refusing.url()
        ),
    )
    .unwrap();
    let port = free_port();
    let _alerter = ChildGuard::spawn(
        "alerter",
        Command::new(env!("CARGO_BIN_EXE_alerter"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}")),
        &dir.path().join("alerter.log"),
    );
    wait_for("alerter ready", Duration::from_secs(20), || {
        e2e::get_json(port, "/-/ready").ok()
    });

    // Prometheus evaluates the rules and posts to the alerter, as in compose.yml.
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n- name: dash\n  interval: 1s\n  rules:\n  - alert: DashboardTest\n    expr: vector(1)\n  - alert: Inhibited\n    expr: vector(1)\n",
    )
    .unwrap();
    let prom_config = format!(
        "{}rule_files: ['{}']\nalerting:\n  alertmanagers:\n  - api_version: v2\n    static_configs:\n    - targets: ['127.0.0.1:{port}']\n",
        Prometheus::scrape_config(&[("alerter", format!("127.0.0.1:{port}"))]),
        rules.display()
    );
    // Prometheus finds the alertmanager a few seconds after start and drops what it
    // evaluated before; its default 1m resend delay would keep the alerts from us.
    let Some(prom) = Prometheus::start_with(&prom_config, &["--rules.alert.resend-delay=1s"])
    else {
        return;
    };
    // A silence, so the silence panels count one.
    let silence = serde_json::json!({
        "matchers": [{"name": "alertname", "value": "NothingFires", "isRegex": false}],
        "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2099-01-01T00:00:00Z",
        "createdBy": "test", "comment": "dashboard test"
    });
    let (status, body) =
        e2e::http("POST", port, "/api/v2/silences", Some(&silence.to_string())).unwrap();
    assert_eq!(status, 200, "create silence: {body}");

    let wanted = [
        "alertmanager_alerts_received_total > 0",
        "alertmanager_notifications_total > 0",
        "alertmanager_notifications_failed_total > 0",
        "alertmanager_alerts{state=\"suppressed\"} > 0",
        "alertmanager_silences{state=\"active\"} > 0",
        "ALERTS{alertstate=\"firing\"}",
    ];
    let missing = || -> Vec<&str> {
        wanted
            .iter()
            .copied()
            .filter(|q| prom.query(q).map_or(true, |r| r.is_empty()))
            .collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !missing().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "after 60 s Prometheus has nothing for {:?}\nPrometheus log:\n{}\nalerter log:\n{}",
            missing(),
            prom.log(),
            std::fs::read_to_string(dir.path().join("alerter.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    prom.wait_all_up(6, Duration::from_secs(30));

    let qs: Vec<_> = queries()
        .into_iter()
        .filter(|q| is_alerter_query(&q.dashboard, &q.expr))
        .collect();
    assert!(qs.len() >= 12, "only {} alerter queries", qs.len());
    let bad = empty_or_failing(&prom, &qs, &[]);
    assert!(
        bad.is_empty(),
        "{} of {} queries fail or return nothing:\n{}\nPrometheus log:\n{}",
        bad.len(),
        qs.len(),
        bad.join("\n"),
        prom.log()
    );
    assert!(
        !ok.received().is_empty(),
        "the accepting receiver got nothing"
    );
    println!("{} alerter queries return data", qs.len());
}
