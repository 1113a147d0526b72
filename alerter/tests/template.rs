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

const HTML: &[&str] = &[
    r#"<p title="{{ .CommonAnnotations.summary }}">{{ .CommonAnnotations.summary }}</p>"#,
    r#"<a href="{{ .ExternalURL }}/#/alerts?receiver={{ .Receiver }}">{{ .Alerts | len }}</a>{{ range .Alerts.Firing }}<a href="{{ .GeneratorURL }}">{{ .Labels.instance }}</a>{{ end }}"#,
    r#"{{ "<i>x</i>" | safeHtml }} {{ .CommonAnnotations.summary | html }}"#,
];

fn amtool(dir: &std::path::Path, kind: &str, text: &str) -> String {
    let out = Command::new("amtool")
        .arg("template")
        .arg("render")
        .arg(format!("--template.glob={}/none/*.tmpl", dir.display()))
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
    for t in HTML {
        let ours = set.html("h", t).unwrap().render(&d).unwrap();
        let ours = ours.trim_end_matches('\n');
        assert_eq!(ours, amtool(dir.path(), "html", t), "html template {t}");
    }
}
