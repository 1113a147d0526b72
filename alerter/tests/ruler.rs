//! Embedded evaluation end to end (issue 16, done-when 1 and 3): the real alerter
//! scrapes this workspace's real exporter (and through it a real redis-server) and
//! evaluates rule files that mirror rules/ with short `for`s; stopping the peer makes
//! the alert go pending, then firing at its time and reach a webhook; starting it
//! again sends the resolved notification. And an alert pending for half its `for`
//! keeps its active time across an alerter restart and fires on time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::{ChildGuard, RedisServer, WebhookSink, free_port, wait_for, wait_port};
use serde_json::Value;

/// The exporter binary of this workspace (built by `cargo test --workspace`).
fn exporter_bin() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_BIN_EXE_alerter")).with_file_name("exporter");
    e2e::require(
        &p.display().to_string(),
        "the workspace's exporter binary: `cargo build -p exporter` (cargo test --workspace builds it)",
    )
}

fn start_exporter(bin: &Path, port: u16, dir: &Path, extra: &[String]) -> ChildGuard {
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--collector.disable-defaults")
        .args(extra);
    let g = ChildGuard::spawn(
        "exporter",
        &mut cmd,
        &dir.join(format!("exporter-{port}.log")),
    );
    wait_port(port, Duration::from_secs(20));
    g
}

fn start_alerter(dir: &Path, config: &Path, port: u16, log: &str) -> ChildGuard {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alerter"));
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let g = ChildGuard::spawn("alerter", &mut cmd, &dir.join(log));
    wait_for("alerter ready", Duration::from_secs(20), || {
        e2e::get_json(port, "/-/ready").ok().map(|_| ())
    });
    g
}

fn config(dir: &Path, sink: &WebhookSink, scrape: &str, rules: &str) -> PathBuf {
    std::fs::write(dir.join("rules.yml"), rules).expect("write rules");
    let p = dir.join("alerter.yml");
    std::fs::write(
        &p,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 500ms\n  evaluation_interval: 1s\n  external_labels: {{site: test}}\nrule_files: [rules.yml]\n{scrape}route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n- name: hook\n  webhook_configs:\n  - url: {}\n    send_resolved: true\n",
            sink.url()
        ),
    )
    .expect("write config");
    p
}

/// The state of `alertname` in `/api/v1/alerts` (None: not active).
fn rule_alert(port: u16, alertname: &str) -> Option<Value> {
    let v = e2e::get_json(port, "/api/v1/alerts").ok()?;
    v["data"]["alerts"]
        .as_array()?
        .iter()
        .find(|a| a["labels"]["alertname"] == alertname)
        .cloned()
}

/// The first webhook alert named `alertname` with `status`, after `skip` bodies.
fn notified(sink: &WebhookSink, alertname: &str, status: &str) -> Option<Value> {
    sink.received().into_iter().find_map(|b| {
        b["alerts"]
            .as_array()?
            .iter()
            .find(|a| a["labels"]["alertname"] == alertname && a["status"] == status)
            .cloned()
    })
}

/// Stop the peer → pending, then firing after `for_`; start it → resolved.
fn down_then_up(
    port: u16,
    sink: &WebhookSink,
    alertname: &str,
    for_: Duration,
    mut set_up: impl FnMut(bool),
) -> Value {
    let t0 = Instant::now();
    set_up(false);
    let pending = wait_for(
        &format!("{alertname} pending"),
        Duration::from_secs(10),
        || rule_alert(port, alertname).filter(|a| a["state"] == "pending"),
    );
    let t_pending = t0.elapsed();
    assert!(
        t_pending < Duration::from_secs(4),
        "{alertname} pending only after {t_pending:?}"
    );
    assert!(
        notified(sink, alertname, "firing").is_none(),
        "fired before its for"
    );
    let firing = wait_for(
        &format!("{alertname} firing at the webhook"),
        Duration::from_secs(20),
        || notified(sink, alertname, "firing"),
    );
    let t_firing = t0.elapsed();
    // Not before `for` has passed since it went pending; at most a scrape, two
    // evaluations and a dispatch later.
    assert!(
        t_firing >= for_,
        "{alertname} fired after {t_firing:?}, before its for {for_:?}"
    );
    assert!(
        t_firing <= for_ + Duration::from_secs(5),
        "{alertname} fired late: {t_firing:?} (for {for_:?})"
    );
    assert_eq!(firing["labels"]["severity"], "critical", "{firing}");
    assert_eq!(firing["labels"]["site"], "test", "external label: {firing}");
    assert_eq!(pending["labels"]["alertname"], alertname);
    let t1 = Instant::now();
    set_up(true);
    wait_for(
        &format!("{alertname} resolved at the webhook"),
        Duration::from_secs(15),
        || notified(sink, alertname, "resolved"),
    );
    assert!(
        t1.elapsed() < Duration::from_secs(8),
        "resolved only after {:?}",
        t1.elapsed()
    );
    firing
}

const TARGET_RULES: &str = r#"groups:
  - name: targets
    rules:
      # rules/targets.yml's TargetDown with a short for.
      - alert: TargetDown
        expr: up == 0
        for: 3s
        labels:
          severity: critical
        annotations:
          summary: "Target {{ $labels.job }} {{ $labels.instance }} is down"
  - name: redis
    rules:
      # rules/redis.yml's RedisDown with a short for.
      - alert: RedisDown
        expr: redis_up == 0
        for: 3s
        labels:
          severity: critical
        annotations:
          summary: "Redis {{ $labels.instance }} is down"
"#;

#[test]
fn target_down_goes_pending_fires_and_resolves() {
    let Some(bin) = exporter_bin() else { return };
    let dir = tempfile::tempdir().unwrap();
    let sink = WebhookSink::start();
    let exp_port = free_port();
    let scrape = format!(
        "scrape_configs:\n- job_name: node\n  static_configs:\n  - targets: ['127.0.0.1:{exp_port}']\n"
    );
    let cfg = config(dir.path(), &sink, &scrape, TARGET_RULES);
    let mut exporter = Some(start_exporter(&bin, exp_port, dir.path(), &[]));
    let port = free_port();
    let _alerter = start_alerter(dir.path(), &cfg, port, "alerter.log");
    // Scraped and evaluated: up is 1 and TargetDown is a healthy, inactive rule.
    wait_for(
        "a healthy TargetDown evaluation",
        Duration::from_secs(10),
        || {
            let v = e2e::get_json(port, "/api/v1/rules").ok()?;
            let rule = v["data"]["groups"]
                .as_array()?
                .iter()
                .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
                .find(|r| r["name"] == "TargetDown")?;
            (rule["health"] == "ok" && rule["state"] == "inactive").then_some(())
        },
    );
    // Scraped at least once (the rule is inactive before the first scrape too).
    let metrics = wait_for("the exporter scraped", Duration::from_secs(10), || {
        let (_, m) = e2e::http("GET", port, "/metrics", None).ok()?;
        m.contains(&format!(
            "alerter_scrape_target_up{{job=\"node\",instance=\"127.0.0.1:{exp_port}\"}} 1"
        ))
        .then_some(m)
    });
    assert!(
        metrics.contains("alerter_rule_group_rules{rule_group="),
        "{metrics}"
    );
    let firing = down_then_up(port, &sink, "TargetDown", Duration::from_secs(3), |up| {
        if up {
            exporter = Some(start_exporter(&bin, exp_port, dir.path(), &[]));
        } else {
            exporter.take().expect("running").kill();
        }
    });
    assert_eq!(firing["labels"]["job"], "node");
    assert_eq!(
        firing["labels"]["instance"],
        format!("127.0.0.1:{exp_port}")
    );
    assert_eq!(
        firing["annotations"]["summary"],
        format!("Target node 127.0.0.1:{exp_port} is down")
    );
}

#[test]
fn redis_down_goes_pending_fires_and_resolves() {
    let Some(bin) = exporter_bin() else { return };
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sink = WebhookSink::start();
    let exp_port = free_port();
    let scrape = format!(
        "scrape_configs:\n- job_name: redis\n  static_configs:\n  - targets: ['127.0.0.1:{exp_port}']\n"
    );
    let cfg = config(dir.path(), &sink, &scrape, TARGET_RULES);
    let _exporter = start_exporter(
        &bin,
        exp_port,
        dir.path(),
        &[
            "--collector.redis".into(),
            format!("--redis.addr={}", redis.url()),
        ],
    );
    let port = free_port();
    let _alerter = start_alerter(dir.path(), &cfg, port, "alerter.log");
    wait_for(
        "redis_up scraped and RedisDown evaluated",
        Duration::from_secs(10),
        || {
            let v = e2e::get_json(port, "/api/v1/rules").ok()?;
            let ok = v["data"]["groups"]
                .as_array()?
                .iter()
                .any(|g| g["name"] == "redis" && g["rules"][0]["health"] == "ok");
            ok.then_some(())
        },
    );
    let mut redis = Some(redis);
    down_then_up(port, &sink, "RedisDown", Duration::from_secs(3), |up| {
        if up {
            let r = redis.take().expect("stopped");
            redis = Some(r.restart(&[]));
        } else if let Some(r) = redis.as_mut() {
            // Keep the port and data directory: stop the process only.
            r.guard.kill();
        }
    });
    // The exporter itself never went down.
    assert!(notified(&sink, "TargetDown", "firing").is_none());
}

#[test]
fn pending_alert_keeps_its_active_time_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let sink = WebhookSink::start();
    let rules = "groups:\n  - name: always\n    rules:\n      - alert: Slow\n        expr: vector(1)\n        for: 8s\n        labels:\n          severity: critical\n";
    let cfg = config(dir.path(), &sink, "", rules);
    let port = free_port();
    let mut alerter = start_alerter(dir.path(), &cfg, port, "first.log");
    let pending = wait_for("Slow pending", Duration::from_secs(10), || {
        rule_alert(port, "Slow").filter(|a| a["state"] == "pending")
    });
    let active_at = pending["activeAt"].as_str().unwrap().to_string();
    let t_active = Instant::now();
    // Half its `for`, then kill -9.
    std::thread::sleep(Duration::from_secs(4));
    alerter.kill();
    let _alerter = start_alerter(dir.path(), &cfg, port, "second.log");
    let again = wait_for("Slow pending again", Duration::from_secs(10), || {
        rule_alert(port, "Slow")
    });
    assert_eq!(
        again["activeAt"],
        active_at.as_str(),
        "active time lost: {again}"
    );
    wait_for("Slow firing", Duration::from_secs(15), || {
        notified(&sink, "Slow", "firing")
    });
    let took = t_active.elapsed();
    // On time: 8s after it went active (plus evaluation and dispatch), not 8s after
    // the restart.
    assert!(
        took >= Duration::from_secs(7) && took <= Duration::from_secs(11),
        "fired {took:?} after going active"
    );
}

/// Fake targets on one HTTP server: one that hangs, one that answers garbage, one
/// with 10 MB of samples, one with 10,000 series, and a good one.
fn fake_targets() -> (u16, std::sync::mpsc::Sender<()>) {
    use axum::routing::get;
    let big: String = (0..500_000)
        .map(|i| format!("big_metric{{i=\"{i}\"}} 1\n"))
        .collect();
    assert!(big.len() > 10_000_000);
    let many: String = (0..10_000)
        .map(|i| format!("many_metric{{i=\"{i}\"}} {i}\n"))
        .collect();
    serve(
        axum::Router::new()
            .route(
                "/hang",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    "never"
                }),
            )
            .route(
                "/garbage",
                get(|| async { "<html><body>not metrics</body></html>" }),
            )
            .route("/big", get(move || async move { big.clone() }))
            .route("/many", get(move || async move { many.clone() }))
            .route(
                "/ok",
                get(|| async { "# TYPE ok_metric gauge\nok_metric 1\n" }),
            ),
    )
}

/// Serves `app` on a free loopback port from its own thread until the sender is
/// dropped or sent to.
fn serve(app: axum::Router) -> (u16, std::sync::mpsc::Sender<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(listener).expect("listener");
            let stop = async move {
                while stop_rx.try_recv().is_err() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            };
            let _ = axum::serve(l, app).with_graceful_shutdown(stop).await;
        });
    });
    (port, stop_tx)
}

/// Done-when 4 (part): a hanging, a garbage and a 10 MB target give `up 0` with a
/// bounded error, never stall the good target or the evaluation loop, and while
/// 10,000 series are scraped and evaluated every second the API answers within 50 ms.
#[test]
fn faulty_targets_never_stall_others_or_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let sink = WebhookSink::start();
    let (tport, _stop) = fake_targets();
    let mut scrape = String::from("scrape_configs:\n");
    for (job, extra) in [
        ("hang", ""),
        ("garbage", ""),
        ("big", "  sample_limit: 20000\n"),
        ("many", ""),
        ("ok", ""),
    ] {
        scrape.push_str(&format!(
            "- job_name: {job}\n  metrics_path: /{job}\n{extra}  static_configs: [{{targets: ['127.0.0.1:{tport}']}}]\n"
        ));
    }
    let rules = "groups:\n  - name: load\n    rules:\n      - record: many:sum\n        expr: sum by (i) (many_metric * 2)\n      - alert: ManyHigh\n        expr: many:sum > 19990\n        labels:\n          severity: critical\n";
    let cfg = config(dir.path(), &sink, &scrape, rules);
    let port = free_port();
    let _alerter = start_alerter(dir.path(), &cfg, port, "alerter.log");
    let up = |job: &str| -> Option<String> {
        let (_, m) = e2e::http("GET", port, "/metrics", None).ok()?;
        let key =
            format!("alerter_scrape_target_up{{job=\"{job}\",instance=\"127.0.0.1:{tport}\"}} ");
        m.lines()
            .find_map(|l| l.strip_prefix(&key).map(str::to_string))
    };
    wait_for(
        "the good and the big targets scraped",
        Duration::from_secs(15),
        || (up("ok").as_deref() == Some("1") && up("many").as_deref() == Some("1")).then_some(()),
    );
    // The recording rule's output feeds the alert of the same group.
    wait_for(
        "ManyHigh firing from many:sum",
        Duration::from_secs(15),
        || notified(&sink, "ManyHigh", "firing"),
    );
    let iterations = || -> u64 {
        let (_, m) = e2e::http("GET", port, "/metrics", None).unwrap_or_default();
        m.lines()
            .find(|l| l.starts_with("alerter_rule_group_iterations_total{"))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0)
    };
    let before = iterations();
    // Poll the API for 4 s while everything runs.
    let mut worst = Duration::ZERO;
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(4) {
        let s = Instant::now();
        let (code, _) = e2e::http("GET", port, "/-/healthy", None).unwrap();
        assert_eq!(code, 200);
        worst = worst.max(s.elapsed());
        let s = Instant::now();
        let body = r#"[{"labels":{"alertname":"Probe","severity":"warning"}}]"#;
        let (code, _) = e2e::http("POST", port, "/api/v2/alerts", Some(body)).unwrap();
        assert_eq!(code, 200);
        worst = worst.max(s.elapsed());
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("slowest /-/healthy or POST /api/v2/alerts: {worst:?}");
    assert!(
        worst < Duration::from_millis(50),
        "the API stalled: {worst:?}"
    );
    // Evaluation kept its pace (one round a second).
    let after = iterations();
    assert!(
        after >= before + 3,
        "evaluation stalled: {before} -> {after} rounds in 4s"
    );
    for job in ["hang", "garbage", "big"] {
        assert_eq!(up(job).as_deref(), Some("0"), "{job} must be down");
    }
    assert_eq!(up("ok").as_deref(), Some("1"));
    let log = std::fs::read_to_string(dir.path().join("alerter.log")).unwrap();
    for want in [
        "scrape timed out after 500ms",
        "invalid exposition: line 1",
        "sample_limit exceeded",
    ] {
        assert!(log.contains(want), "log lacks {want:?}:\n{log}");
    }
}

/// A reload keeps the `for` state of rules that did not change, starts the new ones
/// fresh, and a broken rule file keeps the old rules running, loudly.
#[test]
fn reload_keeps_unchanged_rules_state_and_refuses_a_bad_rule_file() {
    let dir = tempfile::tempdir().unwrap();
    let sink = WebhookSink::start();
    let rule = |name: &str, for_: &str| {
        format!(
            "      - alert: {name}\n        expr: vector(1)\n        for: {for_}\n        labels:\n          severity: critical\n"
        )
    };
    let head = "groups:\n  - name: g\n    rules:\n";
    let cfg = config(
        dir.path(),
        &sink,
        "",
        &format!("{head}{}{}", rule("Kept", "1h"), rule("Changed", "1h")),
    );
    let port = free_port();
    let _alerter = start_alerter(dir.path(), &cfg, port, "alerter.log");
    let kept = wait_for("Kept pending", Duration::from_secs(10), || {
        rule_alert(port, "Kept")
    });
    let changed = wait_for("Changed pending", Duration::from_secs(10), || {
        rule_alert(port, "Changed")
    });
    std::thread::sleep(Duration::from_millis(1500));
    std::fs::write(
        dir.path().join("rules.yml"),
        format!("{head}{}{}", rule("Kept", "1h"), rule("Changed", "2h")),
    )
    .unwrap();
    let (code, body) = e2e::http("POST", port, "/-/reload", None).unwrap();
    assert_eq!(code, 200, "{body}");
    let (kept2, changed2) = wait_for(
        "both evaluated after the reload",
        Duration::from_secs(10),
        || {
            let c = rule_alert(port, "Changed")?;
            (c["activeAt"] != changed["activeAt"]).then(|| (rule_alert(port, "Kept"), c))
        },
    );
    assert_eq!(
        kept2.unwrap()["activeAt"],
        kept["activeAt"],
        "unchanged rule lost its state"
    );
    assert_ne!(changed2["activeAt"], changed["activeAt"]);
    // A broken rule file: the reload fails naming it, the old rules keep running.
    std::fs::write(
        dir.path().join("rules.yml"),
        format!("{head}      - alert: Broken\n        expr: rat(x[5m])\n"),
    )
    .unwrap();
    let (code, body) = e2e::http("POST", port, "/-/reload", None).unwrap();
    assert_eq!(code, 500, "{body}");
    assert!(
        body.contains("rules.yml:") && body.contains("rat"),
        "{body}"
    );
    std::thread::sleep(Duration::from_millis(1500));
    let v = e2e::get_json(port, "/api/v1/rules").unwrap();
    let names: Vec<&str> = v["data"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, ["Kept", "Changed"], "{v}");
    assert_eq!(
        rule_alert(port, "Kept").unwrap()["activeAt"],
        kept["activeAt"]
    );
    // A rule file fixed on disk is picked up by the file watch, no signal needed.
    std::fs::write(
        dir.path().join("rules.yml"),
        format!("{head}{}{}", rule("Kept", "1h"), rule("Added", "1h")),
    )
    .unwrap();
    wait_for("Added by the file watch", Duration::from_secs(15), || {
        rule_alert(port, "Added")
    });
    assert_eq!(
        rule_alert(port, "Kept").unwrap()["activeAt"],
        kept["activeAt"]
    );
}

/// The key paths of a JSON value (array items merged), for comparing shapes.
fn shape(v: &Value, at: &str, out: &mut std::collections::BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                // Label and annotation names are data, not shape.
                if matches!(at.rsplit('.').next(), Some("labels" | "annotations")) {
                    continue;
                }
                let p = format!("{at}.{k}");
                out.insert(p.clone());
                shape(x, &p, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| shape(x, &format!("{at}[]"), out)),
        _ => {}
    }
}

/// `/api/v1/rules` and `/api/v1/alerts` have the keys Debian's Prometheus answers for
/// the same rule file (what Grafana and promtool read).
#[test]
fn rules_and_alerts_api_shapes_match_prometheus() {
    let Some(prometheus) = e2e::require("prometheus", "to compare /api/v1 shapes") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sink = WebhookSink::start();
    let rules = "groups:\n  - name: g\n    rules:\n      - record: one\n        expr: vector(1)\n      - alert: Pending\n        expr: one > 0\n        for: 1h\n        labels:\n          severity: warning\n        annotations:\n          summary: s\n";
    let cfg = config(dir.path(), &sink, "", rules);
    let prom_cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_cfg,
        "global:\n  evaluation_interval: 1s\nrule_files: [rules.yml]\n",
    )
    .unwrap();
    let prom_port = free_port();
    let mut cmd = Command::new(prometheus);
    cmd.arg(format!("--config.file={}", prom_cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("prom-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"));
    let _prom = ChildGuard::spawn("prometheus", &mut cmd, &dir.path().join("prometheus.log"));
    let port = free_port();
    let _alerter = start_alerter(dir.path(), &cfg, port, "alerter.log");
    let pending = |p: u16| {
        let v = e2e::get_json(p, "/api/v1/alerts").ok()?;
        (v["data"]["alerts"].as_array()?.len() == 1).then_some(())
    };
    wait_for(
        "Prometheus's alert pending",
        Duration::from_secs(30),
        || pending(prom_port),
    );
    wait_for("our alert pending", Duration::from_secs(10), || {
        pending(port)
    });
    for path in ["/api/v1/rules", "/api/v1/alerts"] {
        let (mut ours, mut theirs) = Default::default();
        let o = e2e::get_json(port, path).unwrap();
        let t = e2e::get_json(prom_port, path).unwrap();
        shape(&o, "", &mut ours);
        shape(&t, "", &mut theirs);
        assert_eq!(ours, theirs, "{path}\nours: {o}\nPrometheus: {t}");
        let want = if path == "/api/v1/rules" {
            ".data.groups[].rules[].alerts[].activeAt"
        } else {
            ".data.alerts[].activeAt"
        };
        assert!(ours.contains(want), "{path}: {ours:?}");
    }
}

fn starts_at(a: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(a["startsAt"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("startsAt of {a}: {e}"))
        .to_utc()
}

/// A rule of `/api/v1/rules` by name.
fn rule_status(port: u16, name: &str) -> Option<Value> {
    let v = e2e::get_json(port, "/api/v1/rules").ok()?;
    v["data"]["groups"]
        .as_array()?
        .iter()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .find(|r| r["name"] == name)
}

/// One line of our `/metrics` starting with `prefix`: its value.
fn metric(port: u16, prefix: &str) -> Option<f64> {
    let (_, m) = e2e::http("GET", port, "/metrics", None).ok()?;
    m.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// Done-when 2 and part of 4: rules/targets.yml (with a short `for`) evaluated by our
/// alerter in remote mode against Debian's Prometheus, which scrapes Debian's
/// node_exporter and evaluates the same file itself, posting to a second alerter.
/// Stopping the exporter fires the same alerts with the same labels on both sides,
/// within one evaluation interval; stopping Prometheus is an evaluation error on
/// ours and resolves nothing.
#[test]
fn remote_mode_fires_as_prometheus_does_and_an_outage_resolves_nothing() {
    let Some(node) = e2e::require("prometheus-node-exporter", "the scraped target") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rules = std::fs::read_to_string(e2e::workspace_root().join("rules/targets.yml"))
        .unwrap()
        .replace("for: 2m", "for: 3s");
    assert!(
        rules.contains("for: 3s"),
        "rules/targets.yml changed: {rules}"
    );
    let rules_path = dir.path().join("rules.yml");
    std::fs::write(&rules_path, &rules).unwrap();
    let exp_port = free_port();
    let mut cmd = Command::new(node);
    cmd.arg(format!("--web.listen-address=127.0.0.1:{exp_port}"))
        .arg("--collector.disable-defaults")
        .arg("--collector.loadavg");
    let mut exporter = ChildGuard::spawn("node_exporter", &mut cmd, &dir.path().join("node.log"));
    wait_port(exp_port, Duration::from_secs(20));

    // Theirs: a pure Alertmanager that Prometheus posts its own alerts to.
    let theirs_dir = dir.path().join("theirs");
    std::fs::create_dir(&theirs_dir).unwrap();
    let theirs_sink = WebhookSink::start();
    let theirs_cfg = theirs_dir.join("alerter.yml");
    std::fs::write(
        &theirs_cfg,
        format!(
            "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n- name: hook\n  webhook_configs:\n  - url: {}\n    send_resolved: true\n",
            theirs_sink.url()
        ),
    )
    .unwrap();
    let theirs_port = free_port();
    let _theirs = start_alerter(&theirs_dir, &theirs_cfg, theirs_port, "theirs.log");
    let Some(prom) = e2e::prometheus::Prometheus::start(&format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n  external_labels: {{site: test}}\nrule_files: ['{}']\nalerting:\n  alertmanagers:\n  - static_configs: [{{targets: ['127.0.0.1:{theirs_port}']}}]\nscrape_configs:\n- job_name: node\n  static_configs: [{{targets: ['127.0.0.1:{exp_port}']}}]\n",
        rules_path.display()
    )) else {
        return;
    };
    prom.wait_all_up(1, Duration::from_secs(30));

    // Ours: the same rule file, every rule a query to that Prometheus.
    let sink = WebhookSink::start();
    let remote = format!(
        "remote_query:\n  url: http://127.0.0.1:{}/api/v1/query\n  timeout: 1s\n  headers: {{X-Scope-OrgID: test}}\n",
        prom.port
    );
    let cfg = config(dir.path(), &sink, &remote, &rules);
    let port = free_port();
    let _alerter = start_alerter(dir.path(), &cfg, port, "alerter.log");
    wait_for(
        "a healthy, inactive TargetDown in remote mode",
        Duration::from_secs(10),
        || {
            let r = rule_status(port, "TargetDown")?;
            (r["health"] == "ok" && r["state"] == "inactive").then_some(())
        },
    );
    // Prometheus's first Watchdog may go before it has found its Alertmanager (it is
    // dropped and re-sent a minute later), so ours is awaited at the sink and both
    // sides are compared on /api/v1/alerts.
    wait_for("our Watchdog at the sink", Duration::from_secs(20), || {
        notified(&sink, "Watchdog", "firing")
    });
    wait_for(
        "Prometheus has found its Alertmanager",
        Duration::from_secs(20),
        || {
            let v = e2e::get_json(prom.port, "/api/v1/alertmanagers").ok()?;
            (!v["data"]["activeAlertmanagers"].as_array()?.is_empty()).then_some(())
        },
    );
    exporter.kill();
    let ours = wait_for("our TargetDown firing", Duration::from_secs(20), || {
        notified(&sink, "TargetDown", "firing")
    });
    let theirs = wait_for(
        "Prometheus's TargetDown firing",
        Duration::from_secs(20),
        || notified(&theirs_sink, "TargetDown", "firing"),
    );
    eprintln!("ours: {ours}\nPrometheus's: {theirs}");
    assert_eq!(ours["labels"], theirs["labels"]);
    assert_eq!(ours["annotations"], theirs["annotations"]);
    assert_eq!(ours["labels"]["instance"], format!("127.0.0.1:{exp_port}"));
    let skew = (starts_at(&ours) - starts_at(&theirs)).abs();
    eprintln!("firing times differ by {skew}");
    assert!(
        skew <= chrono::Duration::seconds(1),
        "firing times {} vs {} differ by more than the evaluation interval",
        ours["startsAt"],
        theirs["startsAt"]
    );
    // Both sides' active alerts: the same names, labels and states.
    let active = |p: u16| -> BTreeMap<String, (Value, chrono::DateTime<chrono::Utc>)> {
        let v = e2e::get_json(p, "/api/v1/alerts").unwrap();
        v["data"]["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let at = chrono::DateTime::parse_from_rfc3339(a["activeAt"].as_str().unwrap())
                    .unwrap()
                    .to_utc();
                (a["labels"].to_string(), (a["state"].clone(), at))
            })
            .collect()
    };
    let (o, t) = (active(port), active(prom.port));
    assert_eq!(
        o.iter().map(|(k, v)| (k, &v.0)).collect::<Vec<_>>(),
        t.iter().map(|(k, v)| (k, &v.0)).collect::<Vec<_>>(),
        "/api/v1/alerts differ"
    );
    // Watchdog went active when each side started; TargetDown when the exporter stopped.
    for (k, (_, at)) in o.iter().filter(|(k, _)| k.contains("TargetDown")) {
        let skew = (*at - t[k].1).abs();
        assert!(
            skew <= chrono::Duration::seconds(1),
            "{k}: activeAt differs by {skew}"
        );
        // Both place the group at the same point of its interval (Prometheus's hash).
        let off = skew.num_milliseconds() % 1000;
        assert!(
            off <= 1 || off >= 999,
            "{k}: evaluated out of step by {skew}"
        );
    }
    assert!(
        o.keys().any(|k| k.contains("TargetDown")) && o.len() == 2,
        "{o:?}"
    );

    // The remote goes away: an evaluation error, and nothing resolves.
    drop(prom);
    let r = wait_for(
        "TargetDown's evaluation error",
        Duration::from_secs(10),
        || rule_status(port, "TargetDown").filter(|r| r["health"] == "err"),
    );
    let err = r["lastError"].as_str().unwrap_or_default().to_string();
    assert!(err.starts_with("remote query: "), "{r}");
    assert!(err.contains("after one retry"), "{err}");
    assert_eq!(r["state"], "firing", "{r}");
    std::thread::sleep(Duration::from_secs(4));
    let failures = metric(port, "alerter_rule_evaluation_failures_total{").unwrap_or(0.0);
    assert!(failures >= 3.0, "failures counted: {failures}");
    assert!(
        notified(&sink, "TargetDown", "resolved").is_none()
            && notified(&sink, "Watchdog", "resolved").is_none(),
        "resolved while the remote was down: {:?}",
        sink.received()
    );
    assert_eq!(rule_alert(port, "TargetDown").unwrap()["state"], "firing");
    let active = e2e::get_json(port, "/api/v2/alerts?active=true").unwrap();
    assert_eq!(
        active.as_array().map(Vec::len),
        Some(2),
        "TargetDown and Watchdog still active: {active}"
    );
    let log = std::fs::read_to_string(dir.path().join("alerter.log")).unwrap();
    let lines = log
        .lines()
        .filter(|l| l.contains("evaluating rule failed") && l.contains("TargetDown"))
        .count();
    // Logged when the failure starts (or its reason changes), not at every round.
    assert!(
        (1..=2).contains(&lines),
        "{lines} log lines for the outage:\n{log}"
    );
}

/// A Prometheus-compatible query endpoint that answers an empty vector after `delay`.
fn slow_remote(delay: Duration) -> (u16, std::sync::mpsc::Sender<()>) {
    serve(axum::Router::new().route(
        "/api/v1/query",
        axum::routing::post(move || async move {
            tokio::time::sleep(delay).await;
            r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#
        }),
    ))
}

/// Done-when 4 (DW4): a rule group whose round takes longer than its interval (its
/// engine answers in 2.5 s, the interval is 1 s) counts the ticks it missed.
#[test]
fn a_group_slower_than_its_interval_counts_missed_iterations() {
    let dir = tempfile::tempdir().unwrap();
    let sink = WebhookSink::start();
    let (rport, _stop) = slow_remote(Duration::from_millis(2500));
    let remote =
        format!("remote_query:\n  url: http://127.0.0.1:{rport}/api/v1/query\n  timeout: 5s\n");
    let rules =
        "groups:\n  - name: slow\n    rules:\n      - alert: Never\n        expr: up == 0\n";
    let cfg = config(dir.path(), &sink, &remote, rules);
    let port = free_port();
    let _alerter = start_alerter(dir.path(), &cfg, port, "alerter.log");
    let missed = wait_for("missed iterations counted", Duration::from_secs(15), || {
        metric(port, "alerter_rule_group_iterations_missed_total{").filter(|m| *m >= 2.0)
    });
    let took = metric(port, "alerter_rule_group_last_duration_seconds{").unwrap();
    eprintln!("missed {missed}, last round {took}s");
    assert!(took >= 2.5, "round took {took}s");
    // Slow is not failed: the rule is healthy.
    let r = rule_status(port, "Never").unwrap();
    assert_eq!(r["health"], "ok", "{r}");
    assert_eq!(
        metric(port, "alerter_rule_evaluation_failures_total{"),
        Some(0.0)
    );
}

/// The built-in config (no config file at all) is a monitoring stack: every group of
/// rules/ is loaded from the binary (named `<built-in>/rules/...`), the exporter's
/// default address is a scrape target of job `exporter`, and the config it runs passes
/// `check-config`. Port 9100 may be busy on this machine, so whether the target is up
/// is not asserted, only that it is scraped.
#[test]
fn built_in_config_scrapes_the_exporter_and_evaluates_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alerter"));
    cmd.current_dir(dir.path())
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let _alerter = ChildGuard::spawn("alerter", &mut cmd, &dir.path().join("alerter.log"));
    wait_port(port, Duration::from_secs(20));

    let rules_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules");
    let mut want: Vec<String> = Vec::new();
    for e in std::fs::read_dir(&rules_dir).expect("rules/") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "yml") {
            let v: serde_yaml::Value =
                serde_yaml::from_str(&std::fs::read_to_string(&p).expect("read")).expect("yaml");
            for g in v["groups"].as_sequence().expect("groups") {
                want.push(g["name"].as_str().expect("name").to_string());
            }
        }
    }
    want.sort();
    assert!(want.len() >= 6, "{want:?}");
    // Groups show once evaluated: within one 15 s evaluation interval.
    let groups = wait_for(
        "every rules/ group evaluated",
        Duration::from_secs(40),
        || {
            let v = e2e::get_json(port, "/api/v1/rules").ok()?;
            let gs = v["data"]["groups"].as_array()?.clone();
            let mut names: Vec<String> = gs
                .iter()
                .filter_map(|g| g["name"].as_str().map(String::from))
                .collect();
            names.sort();
            (names == want).then_some(gs)
        },
    );
    for g in &groups {
        let file = g["file"].as_str().unwrap_or_default();
        assert!(file.starts_with("<built-in>/rules/"), "{g}");
        assert!(!g["rules"].as_array().expect("rules").is_empty(), "{g}");
    }
    wait_for(
        "127.0.0.1:9100 scraped as job exporter",
        Duration::from_secs(40),
        || {
            let (_, text) = e2e::http("GET", port, "/metrics", None).ok()?;
            text.lines()
                .any(|l| {
                    l.starts_with("alerter_scrape_target_up{")
                        && l.contains("job=\"exporter\"")
                        && l.contains("instance=\"127.0.0.1:9100\"")
                })
                .then_some(())
        },
    );

    let status = e2e::get_json(port, "/api/v2/status").expect("status");
    let original = status["config"]["original"].as_str().expect("original");
    let copy = dir.path().join("built-in.yml");
    std::fs::write(&copy, original).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_alerter"))
        .arg("check-config")
        .arg(&copy)
        .output()
        .expect("check-config");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && stdout.contains("SUCCESS")
            && stdout.contains(&format!("rules in {} rule groups", want.len())),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Relabelling and file_sd end to end: the target is found through a file_sd file, a
/// `relabel_configs` rule renames its `team` label to `squad` and a
/// `metric_relabel_configs` keep rule stores only `kept_metric`; the alerts read back
/// through `/api/v1/alerts` show both. A change of the file is picked up.
#[test]
fn relabel_and_metric_relabel_shape_what_is_stored() {
    use axum::routing::get;
    let (target, _stop) = serve(axum::Router::new().route(
        "/metrics",
        get(|| async { "# TYPE kept_metric gauge\nkept_metric{mode=\"idle\"} 1\n# TYPE dropped_metric gauge\ndropped_metric 1\n" }),
    ));
    let dir = tempfile::tempdir().unwrap();
    let sink = WebhookSink::start();
    let sd = |team: &str| {
        std::fs::write(
            dir.path().join("targets.json"),
            format!(r#"[{{"targets": ["127.0.0.1:{target}"], "labels": {{"team": "{team}"}}}}]"#),
        )
        .unwrap();
    };
    sd("ops");
    let scrape = "scrape_configs:\n- job_name: app\n  file_sd_configs: [{files: ['*.json']}]\n  relabel_configs:\n  - {source_labels: [team], target_label: squad}\n  - {regex: team, action: labeldrop}\n  metric_relabel_configs:\n  - {source_labels: [__name__], regex: kept_metric, action: keep}\n";
    let rules = "groups:\n- name: g\n  rules:\n  - alert: Kept\n    expr: kept_metric == 1\n  - alert: DroppedAbsent\n    expr: absent(dropped_metric) and on() kept_metric\n";
    let cfg = config(dir.path(), &sink, scrape, rules);
    let port = free_port();
    let _alerter = start_alerter(dir.path(), &cfg, port, "alerter.log");
    let kept = wait_for("Kept firing", Duration::from_secs(20), || {
        rule_alert(port, "Kept").filter(|a| a["state"] == "firing")
    });
    let labels = &kept["labels"];
    assert_eq!(labels["squad"], "ops", "{kept}");
    assert_eq!(labels["mode"], "idle", "{kept}");
    assert_eq!(labels["job"], "app", "{kept}");
    assert_eq!(labels["instance"], format!("127.0.0.1:{target}"), "{kept}");
    assert!(
        labels.get("team").is_none(),
        "team was relabelled away: {kept}"
    );
    wait_for("DroppedAbsent firing", Duration::from_secs(10), || {
        rule_alert(port, "DroppedAbsent").filter(|a| a["state"] == "firing")
    });
    sd("dev");
    wait_for(
        "Kept with the file's new label",
        Duration::from_secs(20),
        || {
            let v = e2e::get_json(port, "/api/v1/alerts").ok()?;
            v["data"]["alerts"]
                .as_array()?
                .iter()
                .find(|a| a["labels"]["alertname"] == "Kept" && a["labels"]["squad"] == "dev")
                .cloned()
        },
    );
}
