//! Our `/metrics` against Debian's Alertmanager 0.25's, side by side: both get the
//! same config, the same alerts, a silence and a notification to a capture
//! webhook; then every metric family of Alertmanager's that describes
//! notification, alert, silence and config state must exist in ours with the same
//! type and label names. What is left out is listed below with the reason. Ours
//! is also linted by `promtool check metrics`, in the classic text format it gets
//! without an `Accept` header.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use e2e::{ChildGuard, WebhookSink, free_port, wait_for};
use serde_json::json;

/// Families of Alertmanager 0.25 that ours does not have, by name prefix, and why.
const LEFT_OUT: &[(&str, &str)] = &[
    ("go_", "Go runtime"),
    ("promhttp_", "Go client's handler instrumentation"),
    ("net_conntrack_", "Go dialer instrumentation"),
    ("alertmanager_cluster_", "no gossip cluster: one instance"),
    (
        "alertmanager_nflog_gossip_",
        "no gossip cluster: nothing propagated",
    ),
    (
        "alertmanager_silences_gossip_",
        "no gossip cluster: nothing propagated",
    ),
    (
        "alertmanager_http_",
        "HTTP server instrumentation: request durations, response sizes, in-flight requests and the GET concurrency limiter, which ours lacks",
    ),
    (
        "alertmanager_dispatcher_alert_processing_duration_seconds",
        "a posted alert is routed inside the POST; its latency is the request's",
    ),
];

/// Label names ours adds to a family of Alertmanager 0.25, and why.
const EXTRA_LABELS: &[(&str, &str, &str)] = &[(
    "alertmanager_notifications_failed_total",
    "reason",
    "Alertmanager 0.26 and later label failures with their reason",
)];

const CONFIG: &str = "route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
- name: hook
  webhook_configs:
  - url: URL
- name: unused
  webhook_configs:
  - url: URL
  email_configs:
  - to: admin@example.com
    from: alerts@example.com
    smarthost: 127.0.0.1:1
    require_tls: false
";

struct Daemon {
    _guard: ChildGuard,
    port: u16,
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

/// family name → (type, label names). Histogram and summary series are folded
/// into their family; `le` and `quantile` are not labels of the family.
fn families(text: &str) -> BTreeMap<String, (String, BTreeSet<String>)> {
    let mut out: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    for line in text.lines() {
        if let Some(t) = line.strip_prefix("# TYPE ") {
            let (name, kind) = t.split_once(' ').expect("TYPE line");
            out.entry(name.into()).or_default().0 = kind.into();
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let series = line.rsplit_once(' ').map_or(line, |(s, _)| s);
        let (name, labels) = series.split_once('{').unwrap_or((series, ""));
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .filter_map(|s| name.strip_suffix(s))
            .find(|f| {
                out.get(*f)
                    .is_some_and(|(k, _)| k == "histogram" || k == "summary")
            })
            .unwrap_or(name);
        let entry = out.entry(family.into()).or_default();
        for pair in labels.trim_end_matches('}').split("\",") {
            if let Some((k, _)) = pair.split_once("=\"")
                && k != "le"
                && k != "quantile"
            {
                entry.1.insert(k.into());
            }
        }
    }
    out
}

fn get(port: u16, path: &str, accept: Option<&str>) -> (String, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut req = reqwest::Client::new().get(format!("http://127.0.0.1:{port}{path}"));
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        let r = req.send().await.expect("GET");
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        (ct, r.text().await.expect("body"))
    })
}

#[test]
fn alertmanager_metric_families_and_labels() {
    let Some(am_bin) = e2e::require(
        "prometheus-alertmanager",
        "our /metrics is compared with Alertmanager 0.25's",
    ) else {
        return;
    };
    let Some(promtool) = e2e::require("promtool", "lints the exposition") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (am_sink, our_sink) = (WebhookSink::start(), WebhookSink::start());
    let am_config = dir.path().join("am.yml");
    let our_config = dir.path().join("ours.yml");
    std::fs::write(&am_config, CONFIG.replace("URL", &am_sink.url())).unwrap();
    std::fs::write(&our_config, CONFIG.replace("URL", &our_sink.url())).unwrap();

    let port = free_port();
    let am = start(
        "alertmanager",
        Command::new(&am_bin)
            .arg(format!("--config.file={}", am_config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("am").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address="),
        dir.path(),
        port,
    );
    let port = free_port();
    let ours = start(
        "alerter",
        Command::new(env!("CARGO_BIN_EXE_alerter"))
            .arg(format!("--config.file={}", our_config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("ours").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}")),
        dir.path(),
        port,
    );

    let now = chrono::Utc::now();
    let alerts = json!([
        {"labels": {"alertname": "HostHighCpuUsage", "instance": "web1"}},
        {"labels": {"alertname": "Silenced", "instance": "web1"}},
        {"labels": {}},
    ])
    .to_string();
    let silence = json!({
        "matchers": [{"name": "alertname", "value": "Silenced", "isRegex": false}],
        "startsAt": now.to_rfc3339(),
        "endsAt": (now + chrono::Duration::hours(1)).to_rfc3339(),
        "createdBy": "test",
        "comment": "side by side",
    })
    .to_string();
    for d in [&am, &ours] {
        // One alert without labels is refused: alerts_invalid_total moves.
        let (st, _) = e2e::http("POST", d.port, "/api/v2/alerts", Some(&alerts)).unwrap();
        assert_eq!(st, 400);
        let valid = json!([
            {"labels": {"alertname": "HostHighCpuUsage", "instance": "web1"}},
            {"labels": {"alertname": "Silenced", "instance": "web1"}},
        ])
        .to_string();
        let (st, text) = e2e::http("POST", d.port, "/api/v2/silences", Some(&silence)).unwrap();
        assert_eq!(st, 200, "{text}");
        let (st, text) = e2e::http("POST", d.port, "/api/v2/alerts", Some(&valid)).unwrap();
        assert_eq!(st, 200, "{text}");
    }
    for (sink, who) in [(&am_sink, "alertmanager"), (&our_sink, "alerter")] {
        wait_for(
            &format!("{who}'s notification"),
            Duration::from_secs(30),
            || sink.requests().into_iter().next(),
        );
    }

    let (_, am_text) = get(am.port, "/metrics", None);
    let (ct, our_text) = get(ours.port, "/metrics", None);
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    if std::env::var_os("SHOW_METRICS").is_some() {
        eprintln!("alertmanager:\n{am_text}\nours:\n{our_text}");
    }
    let theirs = families(&am_text);
    let mine = families(&our_text);
    let mut problems = Vec::new();
    let mut compared = 0;
    for (name, (kind, labels)) in &theirs {
        if LEFT_OUT.iter().any(|(p, _)| name.starts_with(p)) {
            continue;
        }
        compared += 1;
        let Some((our_kind, our_labels)) = mine.get(name) else {
            problems.push(format!("{name} missing"));
            continue;
        };
        if our_kind != kind {
            problems.push(format!("{name}: type {our_kind}, Alertmanager's {kind}"));
        }
        let extra: BTreeSet<&String> = our_labels
            .difference(labels)
            .filter(|l| !EXTRA_LABELS.iter().any(|(f, x, _)| f == name && x == l))
            .collect();
        let missing: BTreeSet<&String> = labels.difference(our_labels).collect();
        if !extra.is_empty() || !missing.is_empty() {
            problems.push(format!(
                "{name}: labels {our_labels:?}, Alertmanager's {labels:?}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // Notification, alert, silence and config families all took part.
    assert!(compared >= 29, "only {compared} families compared");
    // What this test made happen shows in ours as it does in Alertmanager's.
    for want in [
        "alertmanager_alerts_invalid_total{version=\"v2\"} 1",
        "alertmanager_alerts_received_total{status=\"firing\",version=\"v2\"} 5",
        "alertmanager_silences{state=\"active\"} 1",
        "alertmanager_alerts{state=\"suppressed\"} 1",
        "alertmanager_notifications_total{integration=\"webhook\"} 1",
        // Only the receivers a route uses count (so not "unused").
        "alertmanager_receivers 1",
        "alertmanager_integrations 1",
        "alertmanager_config_last_reload_successful 1",
    ] {
        assert!(am_text.contains(want), "Alertmanager: {want}\n{am_text}");
        assert!(our_text.contains(want), "ours: {want}\n{our_text}");
    }

    // The stores' maintenance counts moved as Alertmanager's did: the dedup
    // stage asked the notification log, and muting asked the silences.
    for name in [
        "alertmanager_nflog_queries_total",
        "alertmanager_silences_queries_total",
    ] {
        for (who, text) in [("Alertmanager", &am_text), ("ours", &our_text)] {
            let v: f64 = text
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{who}: no {name}"));
            assert!(v >= 1.0, "{who}: {name} {v}");
        }
    }

    // promtool's lint: HELP on every family, counters named _total, and so on.
    let path = dir.path().join("ours.prom");
    std::fs::write(&path, &our_text).unwrap();
    let out = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&path).unwrap())
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}"
    );

    // OpenMetrics only when asked for.
    let (ct, om) = get(
        ours.port,
        "/metrics",
        Some("application/openmetrics-text;version=1.0.0,text/plain;q=0.5"),
    );
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    assert!(om.ends_with("# EOF\n"), "{om}");
    assert!(
        om.contains("# TYPE alertmanager_notifications counter"),
        "{om}"
    );
}
