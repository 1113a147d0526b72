//! Every receiver integration side by side with the real peer: Debian's
//! Alertmanager 0.25 and our alerter get the same config, the integration's URL
//! key pointing at a local capture server (one per daemon), and the same alerts;
//! the requests they send must be equal — method, path, the headers that matter,
//! and the body as JSON (up to what is an id or a timestamp).
//!
//! Each integration is one test of a few lines on the shared harness below.

mod common;

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

/// Two alerts of one group, with labels beyond the group's and annotations, so
/// every default template has something to show; resolved (ended now) when
/// `resolved`. They start now: Alertmanager flushes a new group at once, without
/// its group_wait, for an alert that started longer than group_wait ago, and the
/// second alert of the POST would miss the first notification.
fn alerts(resolved: bool) -> Value {
    let now = chrono::Utc::now();
    let at =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let alert = |instance: &str| {
        let mut a = json!({
            "labels": {"alertname": "HostHighCpuUsage", "instance": instance,
                       "severity": "critical", "team": "ops"},
            "annotations": {"summary": "CPU is high", "description": "above 90% <for> 10m & rising"},
            "startsAt": at(now - chrono::Duration::milliseconds(500)),
            "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
        });
        if resolved {
            a["startsAt"] = json!(at(now - chrono::Duration::seconds(5)));
            a["endsAt"] = json!(at(now));
        }
        a
    };
    json!([alert("web1:9100"), alert("web2:9100")])
}

/// Runs the receiver `r` (its integration list, where `{url}` stands for the
/// capture server's URL) in both daemons, posts the same alerts to both, and
/// returns the first request each sent: `(alertmanager's, ours)`. `None` when
/// Alertmanager is not installed (outside CI).
fn side_by_side(receiver: &str) -> Option<(SinkRequest, SinkRequest)> {
    rounds(receiver, &[(alerts(false), 1)]).map(|mut v| v.remove(0))
}

/// The whole config: one route to the receiver `r` whose integrations are
/// `receiver`, with `{url}` replaced by `url`. `group_wait` is not 0: Alertmanager
/// would flush a group as soon as the first alert of a POST joins it.
fn config(receiver: &str, url: &str) -> String {
    format!(
        "route:
  receiver: r
  group_by: [alertname]
  group_wait: 2s
  group_interval: 1s
  repeat_interval: 1h
receivers:
- name: r
{}
",
        receiver.replace("{url}", url)
    )
}

/// Our alerter alone (for what Alertmanager 0.25 cannot send to a capture
/// server): the first request it sends for the firing alerts.
fn ours_alone(receiver: &str) -> SinkRequest {
    let dir = tempfile::tempdir().unwrap();
    let sink = WebhookSink::start();
    let path = dir.path().join("ours.yml");
    std::fs::write(&path, config(receiver, &sink.url())).unwrap();
    let ours = start_alerter(dir.path(), &path);
    let body = alerts(false).to_string();
    let (st, text) = e2e::http("POST", ours.port, "/api/v2/alerts", Some(&body)).unwrap();
    assert_eq!(st, 200, "{text}");
    wait_for("alerter's request", Duration::from_secs(30), || {
        sink.requests().into_iter().next()
    })
}

/// As [`side_by_side`], for several rounds: each posts its alerts to both daemons
/// and waits for its number of further requests from each (group_interval is 1s,
/// so a change such as a resolve is sent at the next tick). Returns every
/// request, paired in the order sent.
fn rounds(receiver: &str, posts: &[(Value, usize)]) -> Option<Vec<(SinkRequest, SinkRequest)>> {
    rounds_answering(receiver, posts, "")
}

/// [`rounds`] with capture servers that answer `answer` (JSON) to every request.
fn rounds_answering(
    receiver: &str,
    posts: &[(Value, usize)],
    answer: &str,
) -> Option<Vec<(SinkRequest, SinkRequest)>> {
    let bin = alertmanager_bin()?;
    let dir = tempfile::tempdir().unwrap();
    let config = |url: &str| config(receiver, url);
    let am_sink = WebhookSink::start();
    let our_sink = WebhookSink::start();
    am_sink.set_body(answer);
    our_sink.set_body(answer);
    let am_config = dir.path().join("am.yml");
    let our_config = dir.path().join("ours.yml");
    std::fs::write(&am_config, config(&am_sink.url())).unwrap();
    std::fs::write(&our_config, config(&our_sink.url())).unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_alerter"))
        .arg("check-config")
        .arg(&our_config)
        .output()
        .unwrap();
    assert!(out.status.success(), "check-config: {out:?}");

    let am = start_alertmanager(&bin, dir.path(), &am_config);
    let ours = start_alerter(dir.path(), &our_config);
    let upto = |sink: &WebhookSink, who: &str, n: usize| {
        wait_for(
            &format!("{who}'s request {n} at the capture server"),
            Duration::from_secs(30),
            || Some(sink.requests()).filter(|r| r.len() >= n),
        )
    };
    let mut total = 0;
    for (alerts, n) in posts {
        let body = alerts.to_string();
        for d in [&am, &ours] {
            let (st, text) = e2e::http("POST", d.port, "/api/v2/alerts", Some(&body)).unwrap();
            assert_eq!(st, 200, "{text}");
        }
        total += n;
        upto(&am_sink, "alertmanager", total);
        upto(&our_sink, "alerter", total);
    }
    // The first `total` of each: a peer that retries (Telegram's client finds no
    // Bot API answer here) may have sent more by now.
    let (a, o) = (am_sink.requests(), our_sink.requests());
    Some(a.into_iter().zip(o).take(total).collect())
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

#[test]
fn pagerduty_v2_trigger_and_resolve() {
    let Some(r) = rounds(
        r#"  pagerduty_configs:
  - url: {url}
    routing_key: '{{ .CommonLabels.team }}-key'
    severity: '{{ .CommonLabels.severity }}'
    class: cpu
    details:
      team: '{{ .CommonLabels.team }}'
    images:
    - src: 'http://img/{{ .GroupLabels.alertname }}.png'
      alt: graph
    - alt: no-src-so-dropped
    links:
    - href: http://runbook/cpu
      text: runbook"#,
        &[(alerts(false), 1), (alerts(true), 1)],
    ) else {
        return;
    };
    for (am, ours) in &r {
        assert_same(am, ours, &["content-type"], |_| {});
    }
    assert_eq!(r[0].1.body["event_action"], "trigger");
    assert_eq!(r[1].1.body["event_action"], "resolve");
    assert_eq!(r[0].1.body["routing_key"], "ops-key");
}

#[test]
fn pagerduty_v2_defaults() {
    let Some((am, ours)) = side_by_side("  pagerduty_configs:\n  - url: {url}\n    routing_key: k")
    else {
        return;
    };
    assert_same(&am, &ours, &["content-type"], |_| {});
    assert_eq!(ours.body["payload"]["severity"], "error");
    assert!(
        ours.body["payload"]["custom_details"]["firing"]
            .as_str()
            .unwrap()
            .contains(" - instance = web1:9100\n"),
        "{}",
        ours.body
    );
}

/// Alertmanager 0.25 posts v1 events to PagerDuty's fixed address, so it cannot be
/// captured: ours (with `url` set) is checked against the v1 format in PagerDuty's
/// documentation (service_key, event_type, incident_key, description, client,
/// client_url, details), its values against what Alertmanager put in the same
/// places of its v2 event for the same alerts.
#[test]
fn pagerduty_v1_against_the_documented_format() {
    let Some((am_v2, _)) = side_by_side("  pagerduty_configs:\n  - url: {url}\n    routing_key: k")
    else {
        return;
    };
    let ours = ours_alone(
        "  pagerduty_configs:\n  - url: {url}\n    routing_key: k\n    service_key: s3rvice",
    );
    let v2 = &am_v2.body;
    let expected = json!({
        "service_key": "s3rvice",
        "event_type": "trigger",
        "incident_key": v2["dedup_key"],
        "description": v2["payload"]["summary"],
        "client": v2["client"],
        "client_url": v2["client_url"],
        "details": v2["payload"]["custom_details"],
        // Alertmanager's v1 events carry these two from its shared message type.
        "event_action": "",
        "payload": null,
    });
    assert_eq!(ours.method, "POST");
    assert_eq!(ours.body, expected);
}

#[test]
fn opsgenie_create_update_and_close() {
    let Some(r) = rounds(
        r#"  opsgenie_configs:
  - api_url: {url}
    api_key: '{{ .CommonLabels.team }}-genie'
    update_alerts: true
    details:
      team: 'the {{ .CommonLabels.team }} team'
      runbook: http://runbook/cpu
    responders:
    - name: '{{ .CommonLabels.team }},dba'
      type: teams
    - username: '{{ .CommonLabels.nobody }}'
      type: '{{ .CommonLabels.nobody }}'
    - id: abc
      type: schedule
    tags: 'cpu,{{ .CommonLabels.severity }},'
    actions: restart
    priority: P1
    note: note
    entity: '{{ .GroupLabels.alertname }}'"#,
        &[(alerts(false), 3), (alerts(true), 1)],
    ) else {
        return;
    };
    for (am, ours) in &r {
        assert_same(am, ours, &["content-type", "authorization"], |_| {});
    }
    assert_eq!(r[0].1.headers["authorization"], "GenieKey ops-genie");
    assert_eq!(r[2].1.method, "PUT");
    assert!(
        r[3].1.uri.ends_with("/close?identifierType=alias"),
        "{}",
        r[3].1.uri
    );
}

#[test]
fn opsgenie_defaults() {
    let Some((am, ours)) = side_by_side("  opsgenie_configs:\n  - api_url: {url}\n    api_key: k")
    else {
        return;
    };
    assert_same(&am, &ours, &["content-type", "authorization"], |_| {});
    assert!(
        ours.body["description"]
            .as_str()
            .unwrap()
            .starts_with("above 90% <for> 10m & rising CPU is high\nAlerts Firing:\nLabels:\n"),
        "{}",
        ours.body
    );
}

#[test]
fn discord_defaults_and_templates() {
    let Some(r) = rounds(
        "  discord_configs:\n  - webhook_url: {url}\n  - webhook_url: {url}\n    title: '{{ .GroupLabels.alertname }}'\n    message: '{{ len .Alerts }} alerts'",
        &[(alerts(false), 2), (alerts(true), 2)],
    ) else {
        return;
    };
    // The two entries send concurrently: pair them up by title.
    fn by_title(mut v: Vec<&SinkRequest>) -> Vec<&SinkRequest> {
        v.sort_by_key(|r| r.body["embeds"][0]["title"].to_string());
        v
    }
    for round in [&r[..2], &r[2..]] {
        let am = by_title(round.iter().map(|(a, _)| a).collect());
        let ours = by_title(round.iter().map(|(_, o)| o).collect());
        for (a, o) in am.iter().zip(&ours) {
            assert_same(a, o, &["content-type"], |_| {});
        }
    }
    assert_eq!(r[2].1.body["embeds"][0]["color"], 0x2E_CC71);
}

#[test]
fn telegram_html_default() {
    let Some((am, ours)) = side_by_side(
        "  telegram_configs:\n  - api_url: {url}\n    bot_token: '123:abc'\n    chat_id: -1001234",
    ) else {
        return;
    };
    assert_same(&am, &ours, &["content-type"], |_| {});
    assert!(
        ours.uri.ends_with("/bot123:abc/sendMessage"),
        "{}",
        ours.uri
    );
}

#[test]
fn telegram_markdown_and_silent() {
    let Some((am, ours)) = side_by_side(
        "  telegram_configs:\n  - api_url: {url}\n    bot_token: t\n    chat_id: 42\n    parse_mode: MarkdownV2\n    disable_notifications: true\n    message: '*{{ .CommonLabels.alertname }}* <{{ .CommonLabels.team }}>'",
    ) else {
        return;
    };
    assert_same(&am, &ours, &["content-type"], |_| {});
}

#[test]
fn webex_default_and_resolve() {
    let Some(r) = rounds(
        "  webex_configs:\n  - api_url: {url}\n    room_id: room-1\n    http_config:\n      authorization:\n        credentials: bot-token",
        &[(alerts(false), 1), (alerts(true), 1)],
    ) else {
        return;
    };
    for (am, ours) in &r {
        assert_same(am, ours, &["content-type", "authorization"], |_| {});
    }
    assert_eq!(r[0].1.headers["authorization"], "Bearer bot-token");
}

#[test]
fn victorops_trigger_and_recovery() {
    let Some(r) = rounds(
        r#"  victorops_configs:
  - api_url: {url}
    api_key: the-key
    routing_key: '{{ .CommonLabels.team }}'
    message_type: '{{ if eq .CommonLabels.severity "critical" }}CRITICAL{{ else }}nonsense{{ end }}'
    custom_fields:
      runbook: 'http://runbook/{{ .GroupLabels.alertname }}'"#,
        &[(alerts(false), 1), (alerts(true), 1)],
    ) else {
        return;
    };
    for (am, ours) in &r {
        assert_same(am, ours, &["content-type"], |_| {});
    }
    assert_eq!(r[0].1.uri, "/hook/the-key/ops");
    assert_eq!(r[1].1.body["message_type"], "RECOVERY");
}

#[test]
fn victorops_defaults() {
    let Some((am, ours)) = side_by_side(
        "  victorops_configs:\n  - api_url: {url}\n    api_key: k\n    routing_key: r\n    message_type: bogus",
    ) else {
        return;
    };
    assert_same(&am, &ours, &["content-type"], |_| {});
    assert_eq!(ours.body["message_type"], "CRITICAL");
}

#[test]
fn wechat_token_then_messages() {
    let Some(r) = rounds_answering(
        r#"  wechat_configs:
  - api_url: '{url}/'
    api_secret: s3cret
    corp_id: corp
    send_resolved: true
    to_user: '{{ .CommonLabels.team }}'
    agent_id: '1000002'"#,
        &[(alerts(false), 2), (alerts(true), 1)],
        r#"{"access_token": "tok-1", "errcode": 0}"#,
    ) else {
        return;
    };
    for (am, ours) in &r {
        assert_same(am, ours, &["content-type"], |_| {});
    }
    assert_eq!(r[0].1.method, "GET");
    assert_eq!(r[0].1.uri, "/hook/gettoken?corpid=corp&corpsecret=s3cret");
    // The token is kept: the resolve goes straight to message/send.
    assert_eq!(r[2].1.uri, "/hook/message/send?access_token=tok-1");
}

#[test]
fn wechat_markdown_default() {
    let Some((am, ours)) = rounds_answering(
        "  wechat_configs:\n  - api_url: '{url}/'\n    api_secret: s\n    corp_id: c\n    message_type: markdown",
        &[(alerts(false), 2)],
        r#"{"access_token": "t"}"#,
    )
    .map(|mut v| v.remove(1)) else {
        return;
    };
    assert_same(&am, &ours, &["content-type"], |_| {});
    assert!(
        ours.body["markdown"]["content"]
            .as_str()
            .unwrap()
            .ends_with("AlertmanagerUrl:\nhttp://alerts.example.com:9093/#/alerts?receiver=r"),
        "{}",
        ours.body
    );
}

/// Alertmanager 0.25 has no msteams: ours against the MessageCard format of the
/// Office 365 connector documentation (with Alertmanager's `type` key for the card
/// type) and the Markdown text newer Alertmanagers render by default.
#[test]
fn msteams_message_card() {
    let ours = ours_alone("  msteams_configs:\n  - webhook_url: {url}");
    let alert = |instance: &str| {
        format!(
            "\nLabels:\n  - alertname = HostHighCpuUsage\n  - instance = {instance}\n  - severity = critical\n  - team = ops\n\
             \nAnnotations:\n  - description = above 90% <for> 10m & rising\n  - summary = CPU is high\n\
             \nSource: http://prometheus:9090/graph?g0.expr=up\n"
        )
    };
    let text = format!(
        "\n\n# Alerts Firing:\n{}{}\n\n\n\n",
        alert("web1:9100"),
        alert("web2:9100")
    );
    assert_eq!(ours.method, "POST");
    assert_eq!(ours.headers["content-type"], "application/json");
    assert_eq!(
        ours.body,
        json!({
            "@context": "http://schema.org/extensions",
            "type": "MessageCard",
            "title": "[FIRING:2] HostHighCpuUsage (critical ops)",
            "summary": "[FIRING:2] HostHighCpuUsage (critical ops)",
            "text": text,
            "themeColor": "8C1A1A",
        })
    );
}

/// A form body as sorted pairs.
fn form(raw: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect();
    v.sort();
    v
}

/// The SigV4 `Authorization` header without its signature: algorithm, the
/// credential scope (key, day, region, service) and the signed headers.
fn sigv4_scope(auth: &str) -> (String, Vec<String>) {
    let credential = auth.split(", ").next().unwrap_or_default().to_string();
    let mut signed: Vec<String> = auth
        .split(", ")
        .find_map(|p| p.strip_prefix("SignedHeaders="))
        .unwrap_or_default()
        .split(';')
        .map(str::to_string)
        .collect();
    signed.sort();
    (credential, signed)
}

#[test]
fn sns_publish_signed() {
    let Some((am, ours)) = side_by_side(
        r#"  sns_configs:
  - api_url: {url}
    sigv4:
      region: eu-west-1
      access_key: AKIDEXAMPLE
      secret_key: wJalrXUtnFEMI
    topic_arn: arn:aws:sns:eu-west-1:123456789012:alerts.fifo
    attributes:
      team: '{{ .CommonLabels.team }}'
      severity: '{{ .CommonLabels.severity }}'"#,
    ) else {
        return;
    };
    assert_eq!(ours.method, am.method);
    assert_eq!(ours.uri, am.uri);
    assert_eq!(ours.headers["content-type"], am.headers["content-type"]);
    assert_eq!(form(&ours.raw), form(&am.raw), "{}\n{}", ours.raw, am.raw);
    let (a_cred, a_signed) = sigv4_scope(&am.headers["authorization"]);
    let (o_cred, o_signed) = sigv4_scope(&ours.headers["authorization"]);
    assert_eq!(o_cred, a_cred);
    assert!(o_cred.ends_with("/eu-west-1/sns/aws4_request"), "{o_cred}");
    for h in ["content-type", "host", "x-amz-date"] {
        assert!(o_signed.iter().any(|s| s == h), "{o_signed:?}");
        assert!(a_signed.iter().any(|s| s == h), "{a_signed:?}");
    }
}

/// Alertmanager 0.25 has no Slack bot token: ours against Slack's documented
/// `chat.postMessage` call (Bearer token, the same message JSON).
#[test]
fn slack_bot_token() {
    let ours = ours_alone(
        "  slack_configs:\n  - app_token: xoxb-123\n    app_url: {url}\n    channel: '#ops'",
    );
    assert_eq!(ours.method, "POST");
    assert_eq!(ours.uri, "/hook");
    assert_eq!(ours.headers["authorization"], "Bearer xoxb-123");
    assert_eq!(ours.headers["content-type"], "application/json");
    assert_eq!(ours.body["channel"], "#ops");
    assert_eq!(
        ours.body["attachments"][0]["title"],
        "[FIRING:2] HostHighCpuUsage (critical ops)"
    );
}

/// Alertmanager 0.25 has no msteamsv2: ours against the Adaptive Card format of
/// Teams' Workflows webhooks, as newer Alertmanagers send it.
#[test]
fn msteamsv2_adaptive_card() {
    let ours = ours_alone(
        "  msteamsv2_configs:\n  - webhook_url: {url}\n    text: '{{ len .Alerts.Firing }} firing'",
    );
    assert_eq!(ours.method, "POST");
    assert_eq!(ours.headers["content-type"], "application/json");
    assert_eq!(
        ours.body,
        json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.2",
                    "body": [
                        {"type": "TextBlock", "text": "[FIRING:2] HostHighCpuUsage (critical ops)",
                         "weight": "Bolder", "size": "Medium", "wrap": true, "style": "heading",
                         "color": "Attention"},
                        {"type": "TextBlock", "text": "2 firing", "wrap": true},
                    ],
                    "msteams": {"width": "full"},
                },
            }],
        })
    );
}

/// ntfy is ours (no Alertmanager peer): against ntfy's documented "publish as
/// JSON" request (POST to the server root, topic in the body, priority 1-5).
#[test]
fn ntfy_publish_as_json() {
    let ours = ours_alone(
        "  ntfy_configs:\n  - url: {url}\n    topic: ops-alerts\n    token: tk_abc\n    tags: 'rotating_light, {{ .CommonLabels.team }}'",
    );
    assert_eq!(ours.method, "POST");
    assert_eq!(ours.uri, "/hook/");
    assert_eq!(ours.headers["authorization"], "Bearer tk_abc");
    assert_eq!(ours.headers["content-type"], "application/json");
    let b = &ours.body;
    assert_eq!(b["topic"], "ops-alerts");
    assert_eq!(b["title"], "[FIRING:2] HostHighCpuUsage (critical ops)");
    assert_eq!(b["priority"], 4);
    assert_eq!(b["tags"], json!(["rotating_light", "ops"]));
    assert_eq!(
        b["click"],
        "http://alerts.example.com:9093/#/alerts?receiver=r"
    );
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .starts_with("above 90% <for> 10m & rising CPU is high\nAlerts Firing:\nLabels:\n"),
        "{b}"
    );
}

/// Matrix is ours (no Alertmanager peer): against the client-server API's
/// documented `PUT .../rooms/{roomId}/send/m.room.message/{txnId}`.
#[test]
fn matrix_room_message() {
    let ours = ours_alone(
        "  matrix_configs:\n  - homeserver_url: {url}\n    room_id: '!abc:example.org'\n    access_token: syt_x\n    message: '{{ len .Alerts }} alerts'\n    html: '<b>{{ .CommonLabels.alertname }}</b> {{ .CommonAnnotations.description }}'",
    );
    assert_eq!(ours.method, "PUT");
    let prefix = "/hook/_matrix/client/v3/rooms/%21abc%3Aexample.org/send/m.room.message/";
    assert!(ours.uri.starts_with(prefix), "{}", ours.uri);
    assert_eq!(
        ours.uri.len(),
        prefix.len() + 32,
        "a uuid txn id: {}",
        ours.uri
    );
    assert_eq!(ours.headers["authorization"], "Bearer syt_x");
    assert_eq!(
        ours.body,
        json!({
            "msgtype": "m.text",
            "body": "2 alerts",
            "format": "org.matrix.custom.html",
            "formatted_body": "<b>HostHighCpuUsage</b> above 90% &lt;for&gt; 10m &amp; rising",
        })
    );
}

/// The value of the series `name` whose labels include every one of `labels`.
fn metric(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// A failing integration is counted in the failure metric under its own name and
/// the reason: a 5xx, a 4xx, nothing listening.
#[test]
fn failures_are_counted_by_integration_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let broken = WebhookSink::start();
    broken.set_status(503);
    let refusing = WebhookSink::start();
    refusing.set_status(400);
    let closed = free_port();
    let receiver = format!(
        "  slack_configs:\n  - api_url: {broken}\n  discord_configs:\n  - webhook_url: {refusing}\n  opsgenie_configs:\n  - api_url: http://127.0.0.1:{closed}/\n    api_key: k",
        broken = broken.url(),
        refusing = refusing.url(),
    );
    let path = dir.path().join("ours.yml");
    std::fs::write(&path, config(&receiver, "unused")).unwrap();
    let ours = start_alerter(dir.path(), &path);
    let body = alerts(false).to_string();
    let (st, text) = e2e::http("POST", ours.port, "/api/v2/alerts", Some(&body)).unwrap();
    assert_eq!(st, 200, "{text}");
    for (integration, reason) in [
        ("slack", "http_5xx"),
        ("discord", "http_4xx"),
        ("opsgenie", "connection_refused"),
    ] {
        let labels = [
            "receiver=\"r\"".to_string(),
            format!("integration=\"{integration}\""),
            format!("reason=\"{reason}\""),
        ];
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        wait_for(
            &format!("{integration} failing with {reason} in the metrics"),
            Duration::from_secs(30),
            || {
                let (_, text) = e2e::http("GET", ours.port, "/metrics", None).ok()?;
                metric(
                    &text,
                    "alerter_receiver_notifications_failed_total",
                    &labels,
                )
                .filter(|v| *v >= 1.0)
            },
        );
    }
}

/// Alertmanager 0.25 has no Rocket.Chat: ours against the REST API's documented
/// `chat.postMessage` (token headers, one attachment), as newer Alertmanagers
/// send it.
#[test]
fn rocketchat_post_message() {
    let ours = ours_alone(
        r#"  rocketchat_configs:
  - api_url: {url}
    token: t0ken
    token_id: us3r
    channel: '#ops'
    text: '{{ len .Alerts }} alerts'
    fields:
    - title: Team
      value: '{{ .CommonLabels.team }}'
    actions:
    - text: Runbook
      url: http://runbook/cpu"#,
    );
    assert_eq!(ours.method, "POST");
    assert_eq!(ours.uri, "/hook/api/v1/chat.postMessage");
    assert_eq!(ours.headers["x-auth-token"], "t0ken");
    assert_eq!(ours.headers["x-user-id"], "us3r");
    assert_eq!(
        ours.body,
        json!({
            "channel": "#ops",
            "attachments": [{
                "title": "[FIRING:2] HostHighCpuUsage (critical ops)",
                "title_link": "http://alerts.example.com:9093/#/alerts?receiver=r",
                "text": "2 alerts",
                "color": "red",
                "fields": [{"title": "Team", "value": "ops", "short": false}],
                "actions": [{"type": "button", "text": "Runbook", "url": "http://runbook/cpu",
                             "is_webview": false, "msg_in_chat_window": false}],
            }],
        })
    );
}

/// Keys of newer Alertmanagers (0.25 lacks them): slack `message_text` (the
/// message's own `text`, beside the attachment) and telegram `message_thread_id`
/// (sent as a string, as telebot sends it).
#[test]
fn newer_keys_slack_message_text_and_telegram_thread() {
    let ours = ours_alone(
        "  slack_configs:\n  - api_url: {url}\n    message_text: '{{ len .Alerts }} alerts for {{ .CommonLabels.team }}'\n    timeout: 5s",
    );
    assert_eq!(ours.body["text"], "2 alerts for ops");
    assert_eq!(
        ours.body["attachments"][0]["title"],
        "[FIRING:2] HostHighCpuUsage (critical ops)"
    );
    let ours = ours_alone(
        "  telegram_configs:\n  - api_url: {url}\n    bot_token: t\n    chat_id: 42\n    message_thread_id: 7",
    );
    assert_eq!(ours.body["message_thread_id"], "7");
    assert_eq!(ours.body["chat_id"], "42");
}

/// `timeout` (slack, pagerduty; newer Alertmanagers) cuts a POST that gets no
/// answer, so the retries come well within the flush deadline (10 s), each on a
/// new connection; without it each integration would hang on its first POST.
/// `update_message`, which this alerter does not implement, is refused by name.
#[test]
fn newer_keys_timeout_takes_effect_and_update_message_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // Accepts connections, keeps them open and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/", silent.local_addr().unwrap().port());
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    silent.set_nonblocking(true).unwrap();
    let acceptor = std::thread::spawn(move || {
        let mut open = Vec::new();
        let until = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < until {
            match silent.accept() {
                Ok((c, _)) => {
                    open.push(c);
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
            if counter.load(std::sync::atomic::Ordering::SeqCst) >= 100 {
                break;
            }
        }
    });
    let receiver = format!(
        "  slack_configs:\n  - api_url: {url}\n    timeout: 300ms\n  pagerduty_configs:\n  - url: {url}\n    routing_key: k\n    timeout: 300ms"
    );
    let path = dir.path().join("ours.yml");
    std::fs::write(&path, config(&receiver, "unused")).unwrap();
    let ours = start_alerter(dir.path(), &path);
    let body = alerts(false).to_string();
    let (st, text) = e2e::http("POST", ours.port, "/api/v2/alerts", Some(&body)).unwrap();
    assert_eq!(st, 200, "{text}");
    // group_wait 2s, then per integration attempts at +0, +0.8, +1.85 s at least.
    wait_for(
        "at least 3 attempts per integration, each cut after 300ms",
        Duration::from_secs(7),
        || (accepted.load(std::sync::atomic::Ordering::SeqCst) >= 6).then_some(()),
    );
    drop(ours);
    accepted.store(100, std::sync::atomic::Ordering::SeqCst);
    acceptor.join().unwrap();

    let refused = dir.path().join("refused.yml");
    std::fs::write(
        &refused,
        config(
            "  slack_configs:\n  - api_url: {url}\n    update_message: true",
            "http://hooks.example.com/x",
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_alerter"))
        .arg("check-config")
        .arg(&refused)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("update_message: not supported"), "{said}");
}

/// What a [`JiraFake`] saw of one request.
#[derive(Clone, Debug)]
struct JiraRequest {
    method: String,
    path: String,
    authorization: Option<String>,
    body: Value,
}

/// A Jira REST API on 127.0.0.1 answering as Jira documents it: the search
/// (v2 `search`, v3 `search/jql`) with the issues the test sets, an issue's
/// transitions, `201` with the key on create, `204` on update and transition.
/// Stopped with its runtime when dropped.
struct JiraFake {
    port: u16,
    requests: std::sync::Arc<std::sync::Mutex<Vec<JiraRequest>>>,
    issues: std::sync::Arc<std::sync::Mutex<Value>>,
    _rt: tokio::runtime::Runtime,
}

impl JiraFake {
    fn start() -> JiraFake {
        use axum::http::StatusCode;
        let rt = tokio::runtime::Runtime::new().unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let issues = std::sync::Arc::new(std::sync::Mutex::new(json!([])));
        let (seen, found) = (requests.clone(), issues.clone());
        let app = axum::Router::new().fallback(axum::routing::any(
            move |method: axum::http::Method,
                  uri: axum::http::Uri,
                  headers: axum::http::HeaderMap,
                  body: axum::body::Bytes| {
                let (seen, found) = (seen.clone(), found.clone());
                async move {
                    let path = uri.path().to_string();
                    seen.lock().unwrap().push(JiraRequest {
                        method: method.to_string(),
                        path: path.clone(),
                        authorization: headers
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string),
                        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                    });
                    let (code, answer) = match (method.as_str(), path.as_str()) {
                        ("POST", p) if p.ends_with("/search") || p.ends_with("/search/jql") => (
                            StatusCode::OK,
                            json!({"startAt": 0, "maxResults": 2,
                                   "issues": found.lock().unwrap().clone()}),
                        ),
                        ("GET", p) if p.ends_with("/transitions") => (
                            StatusCode::OK,
                            json!({"expand": "transitions", "transitions": [
                                {"id": "11", "name": "Reopen Issue"},
                                {"id": "31", "name": "Resolve Issue"}]}),
                        ),
                        ("POST", p) if p.ends_with("/issue") => (
                            StatusCode::CREATED,
                            json!({"id": "10000", "key": "OPS-1",
                                   "self": "http://jira/rest/api/2/issue/10000"}),
                        ),
                        ("POST" | "PUT", _) => (StatusCode::NO_CONTENT, Value::Null),
                        _ => (StatusCode::NOT_FOUND, json!({"errorMessages": ["no such"]})),
                    };
                    if answer.is_null() {
                        axum::response::IntoResponse::into_response(code)
                    } else {
                        axum::response::IntoResponse::into_response((code, axum::Json(answer)))
                    }
                }
            },
        ));
        rt.spawn(async move { axum::serve(listener, app).await });
        JiraFake {
            port,
            requests,
            issues,
            _rt: rt,
        }
    }

    /// The issues the search answers from now on.
    fn set_issues(&self, issues: Value) {
        *self.issues.lock().unwrap() = issues;
    }

    /// Waits for `n` requests in all, and returns them.
    fn upto(&self, n: usize) -> Vec<JiraRequest> {
        wait_for(
            &format!("request {n} at the Jira API"),
            Duration::from_secs(30),
            || Some(self.requests.lock().unwrap().clone()).filter(|r| r.len() >= n),
        )
    }
}

/// An issue as Jira's search returns it, in the status category `category`.
fn jira_issue(category: &str) -> Value {
    json!([{"id": "10000", "key": "OPS-1", "fields": {"status": {
        "name": if category == "done" { "Done" } else { "Open" },
        "statusCategory": {"key": category}}}}])
}

/// Jira (newer Alertmanagers; 0.25 has none) against Jira's documented REST v2
/// API: create, then on resolve update and the resolve transition, then on
/// firing again (the issue done) update and the reopen transition, each preceded
/// by the JQL search on the group's `ALERT{<hash>}` label.
#[test]
fn jira_v2_create_update_resolve_reopen() {
    let jira = JiraFake::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ours.yml");
    let receiver = r#"  jira_configs:
  - api_url: {url}/rest/api/2/
    project: OPS
    issue_type: Bug
    labels: ['team-{{ .CommonLabels.team }}', alertmanager]
    reopen_transition: Reopen Issue
    resolve_transition: Resolve Issue
    wont_fix_resolution: Won't Fix
    reopen_duration: 30m
    fields:
      customfield_10001: '{{ .CommonLabels.team }}'
      customfield_10002: {value: '{{ .CommonLabels.severity }}'}
      customfield_10003: '{{ len .Alerts }}'
    http_config:
      basic_auth: {username: bot, password: s3cret}"#;
    let base = format!("http://127.0.0.1:{}", jira.port);
    std::fs::write(&path, config(receiver, &base)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_alerter"))
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "check-config: {out:?}");
    let ours = start_alerter(dir.path(), &path);
    let post = |resolved: bool| {
        let body = alerts(resolved).to_string();
        let (st, text) = e2e::http("POST", ours.port, "/api/v2/alerts", Some(&body)).unwrap();
        assert_eq!(st, 200, "{text}");
    };
    let label = format!(
        "ALERT{{{}}}",
        alerter::notify::integration::group_key_hash(r#"{}:{alertname="HostHighCpuUsage"}"#)
    );
    let jql = |firing_window: bool| {
        let status = if firing_window {
            "(resolutiondate is EMPTY OR resolutiondate >= -30m)"
        } else {
            "statusCategory != Done"
        };
        format!(
            "(resolution is EMPTY or resolution != \"Won't Fix\") and {status} and project=\"OPS\" and labels=\"{label}\" order by status ASC,resolutiondate DESC"
        )
    };
    let fields = |summary: &str| {
        json!({
            "summary": summary,
            "issuetype": {"name": "Bug"},
            "labels": [label, "alertmanager", "team-ops"],
            "priority": {"name": "High"},
            "project": {"key": "OPS"},
            "customfield_10001": "ops",
            "customfield_10002": {"value": "critical"},
            "customfield_10003": 2,
        })
    };
    let check = |r: &JiraRequest, method: &str, path: &str, body: &Value| {
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            (method, path),
            "{r:?}"
        );
        assert_eq!(
            r.authorization.as_deref(),
            Some("Basic Ym90OnMzY3JldA=="),
            "{r:?}"
        );
        let mut b = r.body.clone();
        if let Some(f) = b.get_mut("fields").and_then(Value::as_object_mut) {
            let d = f.remove("description").expect("a description");
            assert!(
                d.as_str().unwrap().starts_with(
                    "\n\n# Alerts Firing:\n\nLabels:\n  - alertname = HostHighCpuUsage\n"
                ) || d
                    .as_str()
                    .unwrap()
                    .starts_with("\n\n\n# Alerts Resolved:\n\nLabels:\n"),
                "{d}"
            );
        }
        assert_eq!(&b, body, "{method} {path}");
    };
    let search = |firing_window: bool| json!({"fields": ["status"], "jql": jql(firing_window), "maxResults": 2});

    // Firing, no issue yet: search, then create.
    post(false);
    let r = jira.upto(2);
    check(&r[0], "POST", "/rest/api/2/search", &search(true));
    let firing = fields("[FIRING:2] HostHighCpuUsage (critical ops)");
    check(
        &r[1],
        "POST",
        "/rest/api/2/issue",
        &json!({ "fields": firing }),
    );

    // Resolved, the issue open: update it, then the resolve transition.
    jira.set_issues(jira_issue("indeterminate"));
    post(true);
    let r = jira.upto(6);
    check(&r[2], "POST", "/rest/api/2/search", &search(false));
    let resolved = fields("[RESOLVED] HostHighCpuUsage (critical ops)");
    check(
        &r[3],
        "PUT",
        "/rest/api/2/issue/OPS-1",
        &json!({ "fields": resolved }),
    );
    check(
        &r[4],
        "GET",
        "/rest/api/2/issue/OPS-1/transitions",
        &Value::Null,
    );
    let t = json!({"transition": {"id": "31"}});
    check(&r[5], "POST", "/rest/api/2/issue/OPS-1/transitions", &t);

    // Firing again, the issue done (within reopen_duration): update, reopen.
    jira.set_issues(jira_issue("done"));
    post(false);
    let r = jira.upto(10);
    check(&r[6], "POST", "/rest/api/2/search", &search(true));
    check(
        &r[7],
        "PUT",
        "/rest/api/2/issue/OPS-1",
        &json!({ "fields": firing }),
    );
    check(
        &r[8],
        "GET",
        "/rest/api/2/issue/OPS-1/transitions",
        &Value::Null,
    );
    let t = json!({"transition": {"id": "11"}});
    check(&r[9], "POST", "/rest/api/2/issue/OPS-1/transitions", &t);
}

/// Jira Cloud's REST v3: the search at `search/jql`, the description as
/// Atlassian Document Format (the template's JSON as is), summary and
/// description left alone on update when `enable_update` is false.
#[test]
fn jira_v3_cloud_search_and_adf_description() {
    let jira = JiraFake::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ours.yml");
    let receiver = r#"  jira_configs:
  - api_url: {url}/rest/api/3
    api_type: cloud
    project: OPS
    issue_type: Task
    priority: P2
    summary:
      template: '{{ .CommonLabels.alertname }} on {{ len .Alerts }}'
      enable_update: false
    description:
      template: '{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"{{ .CommonAnnotations.summary }}"}]}]}'
      enable_update: false"#;
    let base = format!("http://127.0.0.1:{}", jira.port);
    let mut global =
        String::from("global:\n  http_config:\n    authorization:\n      credentials: t0ken\n");
    global.push_str(&config(receiver, &base));
    std::fs::write(&path, global).unwrap();
    let ours = start_alerter(dir.path(), &path);
    let body = alerts(false).to_string();
    let (st, text) = e2e::http("POST", ours.port, "/api/v2/alerts", Some(&body)).unwrap();
    assert_eq!(st, 200, "{text}");
    let r = jira.upto(2);
    assert_eq!(r[0].method, "POST");
    assert_eq!(r[0].path, "/rest/api/3/search/jql");
    assert_eq!(r[0].authorization.as_deref(), Some("Bearer t0ken"));
    assert!(
        r[0].body["jql"]
            .as_str()
            .unwrap()
            .starts_with("statusCategory != Done and project=\"OPS\" and labels=\"ALERT{"),
        "{}",
        r[0].body
    );
    assert_eq!(
        (r[1].method.as_str(), r[1].path.as_str()),
        ("POST", "/rest/api/3/issue")
    );
    let f = &r[1].body["fields"];
    assert_eq!(f["summary"], "HostHighCpuUsage on 2");
    assert_eq!(f["priority"], json!({"name": "P2"}));
    assert_eq!(
        f["description"],
        json!({"type": "doc", "version": 1, "content": [{"type": "paragraph",
               "content": [{"type": "text", "text": "CPU is high"}]}]})
    );
    // The issue exists now: an update leaves summary and description alone.
    jira.set_issues(jira_issue("indeterminate"));
    let second = json!([{
        "labels": {"alertname": "HostHighCpuUsage", "instance": "web3:9100",
                   "severity": "critical", "team": "ops"},
        "annotations": {"summary": "CPU is high"},
    }]);
    let (st, text) = e2e::http(
        "POST",
        ours.port,
        "/api/v2/alerts",
        Some(&second.to_string()),
    )
    .unwrap();
    assert_eq!(st, 200, "{text}");
    let r = jira.upto(4);
    assert_eq!(
        (r[3].method.as_str(), r[3].path.as_str()),
        ("PUT", "/rest/api/3/issue/OPS-1")
    );
    let f = r[3].body["fields"].as_object().unwrap();
    assert!(
        !f.contains_key("summary") && !f.contains_key("description"),
        "{f:?}"
    );
    assert_eq!(f["issuetype"], json!({"name": "Task"}));
}

/// Alertmanager's default email (issue 17, done-when 5): both daemons mail the
/// same alerts with an email_config that sets none of `headers`, `html`, `text`,
/// to one real SMTP server; the subject and the HTML part (0.25's email.tmpl) are
/// the same byte for byte, and neither sends a text part.
#[test]
fn email_defaults_as_alertmanager() {
    let Some(bin) = alertmanager_bin() else {
        return;
    };
    if !common::have_peers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("inbox");
    std::fs::create_dir_all(&out).unwrap();
    let port = free_port();
    let mut cmd = Command::new("python3");
    cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_server.py"))
        .args(["--port", &port.to_string(), "--mode", "plain", "--out"])
        .arg(&out);
    let _smtp = ChildGuard::spawn("smtp", &mut cmd, &dir.path().join("smtp.log"));
    e2e::wait_port(port, Duration::from_secs(10));
    let receiver = |to: &str| {
        format!(
            "  email_configs:\n  - to: {to}\n    from: alerts@example.com\n    smarthost: 127.0.0.1:{port}\n    require_tls: false"
        )
    };
    let (am_config, our_config) = (dir.path().join("am.yml"), dir.path().join("ours.yml"));
    std::fs::write(&am_config, config(&receiver("am@example.org"), "")).unwrap();
    std::fs::write(&our_config, config(&receiver("ours@example.org"), "")).unwrap();
    let am = start_alertmanager(&bin, dir.path(), &am_config);
    let ours = start_alerter(dir.path(), &our_config);
    let body = alerts(false).to_string();
    for d in [&am, &ours] {
        let (st, text) = e2e::http("POST", d.port, "/api/v2/alerts", Some(&body)).unwrap();
        assert_eq!(st, 200, "{text}");
    }
    let msgs = wait_for("both messages", Duration::from_secs(30), || {
        let m: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .collect();
        (m.len() >= 2).then_some(m)
    });
    let decoded: Vec<Value> = msgs
        .iter()
        .map(|m| common::decode_message(m, "From"))
        .collect();
    let by = |to: &str| {
        decoded
            .iter()
            .find(|m| m["to"] == to)
            .unwrap_or_else(|| panic!("no message to {to}: {decoded:?}"))
    };
    let (a, o) = (by("am@example.org"), by("ours@example.org"));
    assert_eq!(o["subject"], a["subject"], "subject");
    assert_eq!(a["subject"], "[FIRING:2] HostHighCpuUsage (critical ops)");
    let parts = |m: &Value| {
        m["parts"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(parts(o), parts(a), "the parts sent");
    assert_eq!(parts(a), ["text/html"]);
    let html = |m: &Value| {
        m["parts"]["text/html"]
            .as_str()
            .unwrap()
            .replace("\r\n", "\n")
    };
    let (ah, oh) = (html(a), html(o));
    if ah != oh {
        let at = ah
            .chars()
            .zip(oh.chars())
            .take_while(|(x, y)| x == y)
            .count();
        let show = |s: &str| {
            s.chars()
                .skip(at.saturating_sub(80))
                .take(240)
                .collect::<String>()
        };
        panic!(
            "HTML differs at character {at} (lengths {} and {})\nalertmanager: {:?}\nours:         {:?}",
            ah.len(),
            oh.len(),
            show(&ah),
            show(&oh)
        );
    }
    assert!(ah.contains("View in Alertmanager"), "{ah}");
}
