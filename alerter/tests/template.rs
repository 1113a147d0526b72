//! Our Go-template rendering agrees with Alertmanager's own (`amtool template
//! render`, Debian's build) on the same data, template by template.

use std::collections::BTreeMap;
use std::process::Command;

use alerter::notify::template::Templates;
use alerter::notify::{AlertData, Data, Status};
use chrono::{TimeZone, Utc};

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn data() -> Data {
    let alert = |st: Status, inst: &str| AlertData {
        status: st,
        labels: labels(&[
            ("alertname", "HostHighCpuUsage"),
            ("severity", "warning"),
            ("instance", inst),
            ("Zone", "eu"),
        ]),
        annotations: labels(&[("summary", "CPU > 80% on <b>host</b> & co")]),
        starts_at: Utc.with_ymd_and_hms(2026, 11, 22, 12, 3, 4).unwrap()
            + chrono::Duration::milliseconds(250),
        ends_at: if st == Status::Firing {
            Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap()
        } else {
            Utc.with_ymd_and_hms(2026, 11, 22, 13, 0, 0).unwrap()
        },
        generator_url: "http://prom:9090/graph?g0.expr=cpu&x=1".into(),
        fingerprint: format!("fp{inst}"),
    };
    Data {
        receiver: "team x".into(),
        status: Status::Firing,
        alerts: vec![
            alert(Status::Firing, "web-1:9100"),
            alert(Status::Firing, "web-2:9100"),
            alert(Status::Resolved, "[::1]:9100"),
        ],
        group_labels: labels(&[("alertname", "HostHighCpuUsage")]),
        common_labels: labels(&[
            ("alertname", "HostHighCpuUsage"),
            ("severity", "warning"),
            ("Zone", "eu"),
        ]),
        common_annotations: labels(&[("summary", "CPU > 80% on <b>host</b> & co")]),
        external_url: "http://alerter:9093".into(),
    }
}

const TEXT: &[&str] = &[
    r#"[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .GroupLabels.SortedPairs.Values | join " " }} {{ if gt (len .CommonLabels) (len .GroupLabels) }}({{ with .CommonLabels.Remove .GroupLabels.Names }}{{ .Values | join " " }}{{ end }}){{ end }}"#,
    r#"{{ range .Alerts }}{{ .Status }} {{ .StartsAt }} / {{ .EndsAt }} {{ .Fingerprint }} {{ .GeneratorURL }}
{{ range .Labels.SortedPairs }} - {{ .Name }} = {{ .Value }}
{{ end }}{{ end }}"#,
    r#"{{ .CommonLabels.Names }} {{ .CommonLabels.Values }} {{ .GroupLabels.SortedPairs }} {{ .CommonLabels.SortedPairs.Names }}"#,
    r#"{{ range $i, $a := .Alerts.Resolved }}{{ $i }} {{ $a.Labels.instance | toUpper }} {{ $.Receiver }} {{ $.Alerts.Firing | len }}{{ end }}"#,
    r#"{{ with index .Alerts 0 }}{{ .StartsAt.Format "Mon Jan _2 15:04:05.000 MST 2006" }} {{ .StartsAt.Unix }} {{ .EndsAt.IsZero }}{{ end }}"#,
    r#"[{{ .CommonLabels.nope }}] [{{ index .CommonLabels "nope" }}] {{ if ne .CommonAnnotations.nope "" }}set{{ else }}unset{{ end }}"#,
    r#"{{ title "hello wORLD" }} {{ toLower "ABC" }} {{ reReplaceAll "web-(\\d)" "host$1" "web-1 web-2" }} {{ match "^web" "web-1" }}"#,
    r#"{{ .CommonAnnotations.summary }} {{ .ExternalURL }} {{ .Receiver | urlquery }} {{ printf "%-5s|%3d" "ab" 7 }}"#,
];

/// Every template of Alertmanager 0.25's default.tmpl and email.tmpl, by name,
/// rendered as text (`email.default.html` also as HTML, below).
const DEFAULTS: &[&str] = &[
    "email.default.subject",
    "email.default.html",
    "__alertmanager",
    "__alertmanagerURL",
    "__subject",
    "__description",
    "slack.default.title",
    "slack.default.username",
    "slack.default.fallback",
    "slack.default.callbackid",
    "slack.default.pretext",
    "slack.default.titlelink",
    "slack.default.iconemoji",
    "slack.default.iconurl",
    "slack.default.text",
    "slack.default.footer",
    "pagerduty.default.description",
    "pagerduty.default.client",
    "pagerduty.default.clientURL",
    "opsgenie.default.message",
    "opsgenie.default.description",
    "opsgenie.default.source",
    "wechat.default.message",
    "wechat.default.to_user",
    "wechat.default.to_party",
    "wechat.default.to_tag",
    "wechat.default.agent_id",
    "victorops.default.state_message",
    "victorops.default.entity_display_name",
    "victorops.default.monitoring_tool",
    "pushover.default.title",
    "pushover.default.message",
    "pushover.default.url",
    "sns.default.subject",
    "sns.default.message",
    "telegram.default.message",
    "discord.default.title",
    "discord.default.message",
    "webex.default.message",
];

/// Go text/template features users' templates use, as Go 1.19 (Alertmanager
/// 0.25's) runs them.
const GO_FEATURES: &[&str] = &[
    r#"{{ template "__text_alert_list" .Alerts.Firing }}{{ template "__text_alert_list" .Alerts.Resolved }}"#,
    r#"{{ template "pagerduty.default.instances" .Alerts }}"#,
    r#"{{ define "line" }}[{{ .Labels.instance }}]{{ end }}{{ range .Alerts }}{{ template "line" . }}{{ end }}"#,
    r#"{{ block "b" .CommonLabels }}{{ .severity }}{{ end }}|{{ template "b" .GroupLabels }}"#,
    r#"{{ range $i, $e := .Alerts }}{{ if $i }}, {{ end }}{{ $i }}={{ $e.Status }}{{ else }}none{{ end }}"#,
    r#"{{ with .CommonLabels.nope }}has{{ else }}{{ with .CommonLabels.severity }}sev={{ . }}{{ end }}{{ end }}"#,
    r#"{{ $n := 0 }}{{ range .Alerts.Firing }}{{ $n = len $.Alerts }}{{ end }}{{ $n }} {{ and 1 0 }} {{ or "" "x" }} {{ not true }} {{ le 1 2 }} {{ lt 2 1 }} {{ ge 2 2 }}"#,
    r#"{{- range .Alerts -}} {{ .Labels.instance -}} ; {{- end }}"#,
    r#"{{ (index .Alerts 1).Labels.instance }} {{ slice "abcdef" 1 3 }} {{ print 1 "a" 2 }} {{ println "x" }}{{ len .Alerts.Resolved }}"#,
];

const HTML: &[&str] = &[
    r#"<p title="{{ .CommonAnnotations.summary }}">{{ .CommonAnnotations.summary }}</p>"#,
    r#"<a href="{{ .ExternalURL }}/#/alerts?receiver={{ .Receiver }}">{{ .Alerts | len }}</a>{{ range .Alerts.Firing }}<a href="{{ .GeneratorURL }}">{{ .Labels.instance }}</a>{{ end }}"#,
    r#"{{ "<i>x</i>" | safeHtml }} {{ .CommonAnnotations.summary | html }}"#,
];

fn amtool(dir: &std::path::Path, kind: &str, text: &str) -> String {
    let out = Command::new("amtool")
        .arg("template")
        .arg("render")
        // Debian's amtool does not embed Alertmanager's default templates (its
        // daemon reads them from here); they are v0.25.0's, byte for byte.
        .arg("--template.glob=/usr/share/prometheus/alertmanager/*.tmpl")
        .arg(format!("--template.data={}/data.json", dir.display()))
        .arg(format!("--template.type={kind}"))
        .arg(format!("--template.text={text}"))
        .output()
        .expect("run amtool");
    assert!(
        out.status.success(),
        "amtool on {text}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // amtool ends its output with a newline (or trims the rendering's own), so
    // trailing newlines are compared without.
    let s = String::from_utf8(out.stdout).unwrap();
    s.trim_end_matches('\n').to_string()
}

#[test]
fn renders_like_alertmanager() {
    if e2e::require("amtool", "renders templates as Alertmanager does").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = data();
    std::fs::write(
        dir.path().join("data.json"),
        serde_json::to_string(&d).unwrap(),
    )
    .unwrap();
    let set = Templates::builtin();
    for t in TEXT {
        let ours = set.text("t", t).unwrap().render(&d).unwrap();
        let ours = ours.trim_end_matches('\n');
        assert_eq!(ours, amtool(dir.path(), "text", t), "text template {t}");
    }
    for name in DEFAULTS {
        let t = format!("{{{{ template \"{name}\" . }}}}");
        let ours = set
            .text("t", &t)
            .unwrap()
            .render(&d)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let ours = ours.trim_end_matches('\n');
        assert_eq!(
            ours,
            amtool(dir.path(), "text", &t),
            "default template {name}"
        );
    }
    for t in GO_FEATURES {
        let ours = set
            .text("t", t)
            .unwrap_or_else(|e| panic!("{t}: {e}"))
            .render(&d)
            .unwrap_or_else(|e| panic!("{t}: {e}"));
        let ours = ours.trim_end_matches('\n');
        assert_eq!(ours, amtool(dir.path(), "text", t), "text template {t}");
    }
    // The default email body, as 0.25's email notifier renders it (html/template).
    let t = r#"{{ template "email.default.html" . }}"#;
    let ours = set.html("h", t).unwrap().render(&d).unwrap();
    assert_eq!(
        ours.trim_end_matches('\n'),
        amtool(dir.path(), "html", t),
        "email.default.html as HTML"
    );
    for t in HTML {
        let ours = set.html("h", t).unwrap().render(&d).unwrap();
        let ours = ours.trim_end_matches('\n');
        assert_eq!(ours, amtool(dir.path(), "html", t), "html template {t}");
    }
}
