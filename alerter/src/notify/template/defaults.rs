//! The built-in named templates, available to every templated field before the
//! users' files: the names of Alertmanager 0.25's default template files,
//! rendering what 0.25 renders, and ours: the phone-friendly email content
//! `alerter.email.*` render ([`subject`], [`text_body`], [`html_body`]).

use crate::notify::{AlertData, Data, Status};

/// Built-in named templates: the names of Alertmanager's default template file,
/// rendering what 0.25 renders (the integrations' defaults refer to them, and
/// users' templates do too), and ours: `alerter.email.*`, our phone-friendly
/// content ([`subject`], [`text_body`], [`html_body`] below), which the built-in
/// config names explicitly (`email.default.text`, which 0.25 lacks, is ours too).
/// A user's file that defines one of these names replaces it, as in Alertmanager.
///
/// `__subject`: `[FIRING:<n firing>]` or `[RESOLVED]`, the group label values by
/// name, a space, then in parentheses the values of the common labels that are
/// not group labels, when there are any.
pub(super) const BUILTIN: &str = concat!(
    r#"{{ define "alerter.email.subject" }}{{ __email_default "subject" . }}{{ end }}"#,
    r#"{{- define "alerter.email.text" }}{{ __email_default "text" . }}{{ end }}"#,
    r#"{{- define "alerter.email.html" }}{{ __email_default "html" . }}{{ end }}"#,
    r#"{{- define "email.default.text" }}{{ template "alerter.email.text" . }}{{ end }}"#,
    r#"{{- define "__alertmanager" }}Alertmanager{{ end }}"#,
    r#"{{- define "__alertmanagerURL" }}{{ .ExternalURL }}/#/alerts?receiver={{ urlquery .Receiver }}{{ end }}"#,
    r#"{{- define "__subject" }}[{{ toUpper .Status }}{{ if eq .Status "firing" }}:{{ len .Alerts.Firing }}{{ end }}] "#,
    r#"{{ join " " .GroupLabels.SortedPairs.Values }} {{ if lt (len .GroupLabels) (len .CommonLabels) }}"#,
    r#"({{ join " " (.CommonLabels.Remove .GroupLabels.Names).Values }}){{ end }}{{ end }}"#,
    r#"{{- define "__description" }}{{ end }}"#,
    // A list of alerts as dot: per alert its sorted labels and annotations, one
    // " - name = value" line each, then its source.
    r#"{{- define "__text_alert_list" }}{{ range . }}"#,
    "Labels:\n{{ range .Labels.SortedPairs }} - {{ .Name }} = {{ .Value }}\n{{ end }}",
    "Annotations:\n{{ range .Annotations.SortedPairs }} - {{ .Name }} = {{ .Value }}\n{{ end }}",
    "Source: {{ .GeneratorURL }}\n{{ end }}{{ end }}",
    r#"{{- define "slack.default.title" }}{{ template "__subject" . }}{{ end }}"#,
    r#"{{- define "slack.default.username" }}{{ template "__alertmanager" . }}{{ end }}"#,
    r#"{{- define "slack.default.titlelink" }}{{ template "__alertmanagerURL" . }}{{ end }}"#,
    r#"{{- define "slack.default.fallback" }}{{ template "slack.default.title" . }} | {{ template "slack.default.titlelink" . }}{{ end }}"#,
    r#"{{- define "slack.default.color" }}{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}{{ end }}"#,
    r#"{{- define "slack.default.callbackid" }}{{ end }}"#,
    r#"{{- define "slack.default.pretext" }}{{ end }}"#,
    r#"{{- define "slack.default.iconemoji" }}{{ end }}"#,
    r#"{{- define "slack.default.iconurl" }}{{ end }}"#,
    r#"{{- define "slack.default.text" }}{{ end }}"#,
    r#"{{- define "slack.default.footer" }}{{ end }}"#,
    r#"{{- define "pagerduty.default.description" }}{{ template "__subject" . }}{{ end }}"#,
    r#"{{- define "pagerduty.default.client" }}{{ template "__alertmanager" . }}{{ end }}"#,
    r#"{{- define "pagerduty.default.clientURL" }}{{ template "__alertmanagerURL" . }}{{ end }}"#,
    r#"{{- define "pagerduty.default.instances" }}{{ template "__text_alert_list" . }}{{ end }}"#,
    // Ours, to build Alertmanager's message defaults from: the common annotation
    // values; the firing and resolved lists with their headings, compact
    // (`__alert_sections`) or each set off by blank lines (`__alert_blocks`).
    r#"{{- define "__common_annotations" }}{{ join " " .CommonAnnotations.SortedPairs.Values }}{{ end }}"#,
    r#"{{- define "__alert_sections" }}"#,
    "{{ with .Alerts.Firing }}Alerts Firing:\n{{ template \"__text_alert_list\" . }}{{ end }}\n",
    "{{ with .Alerts.Resolved }}Alerts Resolved:\n{{ template \"__text_alert_list\" . }}{{ end }}{{ end }}",
    r#"{{- define "__alert_blocks" }}"#,
    "{{ with .Alerts.Firing }}\nAlerts Firing:\n{{ template \"__text_alert_list\" . }}\n{{ end }}\n",
    "{{ with .Alerts.Resolved }}\nAlerts Resolved:\n{{ template \"__text_alert_list\" . }}\n{{ end }}\n{{ end }}",
    r#"{{- define "opsgenie.default.message" }}{{ template "__subject" . }}{{ end }}"#,
    r#"{{- define "opsgenie.default.description" }}{{ template "__common_annotations" . }}"#,
    "\n{{ template \"__alert_sections\" . }}{{ end }}",
    r#"{{- define "opsgenie.default.source" }}{{ template "__alertmanagerURL" . }}{{ end }}"#,
    r#"{{- define "wechat.default.message" }}{{ template "__subject" . }}"#,
    "\n{{ template \"__common_annotations\" . }}\n{{ template \"__alert_sections\" . }}",
    "\nAlertmanagerUrl:\n{{ template \"__alertmanagerURL\" . }}{{ end }}",
    r#"{{- define "wechat.default.to_user" }}{{ end }}"#,
    r#"{{- define "wechat.default.to_party" }}{{ end }}"#,
    r#"{{- define "wechat.default.to_tag" }}{{ end }}"#,
    r#"{{- define "wechat.default.agent_id" }}{{ end }}"#,
    r#"{{- define "victorops.default.state_message" }}{{ template "__common_annotations" . }}"#,
    "\n{{ template \"__alert_sections\" . }}{{ end }}",
    r#"{{- define "victorops.default.entity_display_name" }}{{ template "__subject" . }}{{ end }}"#,
    r#"{{- define "victorops.default.monitoring_tool" }}{{ template "__alertmanager" . }}{{ end }}"#,
    r#"{{- define "pushover.default.title" }}{{ template "__subject" . }}{{ end }}"#,
    r#"{{- define "pushover.default.message" }}{{ template "__common_annotations" . }}"#,
    "\n{{ template \"__alert_blocks\" . }}{{ end }}",
    r#"{{- define "pushover.default.url" }}{{ template "__alertmanagerURL" . }}{{ end }}"#,
    r#"{{- define "sns.default.subject" }}{{ template "__subject" . }}{{ end }}"#,
    r#"{{- define "sns.default.message" }}{{ template "__common_annotations" . }}"#,
    "\n{{ template \"__alert_blocks\" . }}{{ end }}",
    r#"{{- define "telegram.default.message" }}"#,
    "\n{{ template \"__alert_blocks\" . }}{{ end }}",
    r#"{{- define "discord.default.title" }}{{ template "__subject" . }}{{ end }}"#,
    r#"{{- define "discord.default.message" }}"#,
    "\n{{ template \"__alert_blocks\" . }}{{ end }}",
    r#"{{- define "webex.default.message" }}{{ template "__common_annotations" . }}"#,
    "\n{{ template \"__alert_blocks\" . }}{{ end }}",
    // The Markdown list of newer Alertmanagers: a blank line before each part,
    // two-space indented items.
    r#"{{- define "__text_alert_list_markdown" }}{{ range . }}"#,
    "\nLabels:\n{{ range .Labels.SortedPairs }}  - {{ .Name }} = {{ .Value }}\n{{ end }}",
    "\nAnnotations:\n{{ range .Annotations.SortedPairs }}  - {{ .Name }} = {{ .Value }}\n{{ end }}",
    "\nSource: {{ .GeneratorURL }}\n{{ end }}\n{{ end }}",
    r#"{{- define "__alert_blocks_markdown" }}"#,
    "\n{{ with .Alerts.Firing }}\n# Alerts Firing:\n{{ template \"__text_alert_list_markdown\" . }}\n{{ end }}\n",
    "{{ with .Alerts.Resolved }}\n# Alerts Resolved:\n{{ template \"__text_alert_list_markdown\" . }}\n{{ end }}\n{{ end }}",
    r#"{{- define "msteams.default.summary" }}{{ template "__subject" . }}{{ end }}"#,
    r#"{{- define "msteams.default.title" }}{{ template "__subject" . }}{{ end }}"#,
    r#"{{- define "msteams.default.text" }}{{ template "__alert_blocks_markdown" . }}{{ end }}"#,
    r#"{{- define "msteamsv2.default.title" }}{{ template "__subject" . }}{{ end }}"#,
    r#"{{- define "msteamsv2.default.text" }}{{ template "__alert_blocks_markdown" . }}{{ end }}"#,
    r#"{{- define "rocketchat.default.title" }}{{ template "__subject" . }}{{ end }}"#,
    r#"{{- define "rocketchat.default.alias" }}{{ template "__alertmanager" . }}{{ end }}"#,
    r#"{{- define "rocketchat.default.titlelink" }}{{ template "__alertmanagerURL" . }}{{ end }}"#,
    r#"{{- define "rocketchat.default.emoji" }}{{ end }}"#,
    r#"{{- define "rocketchat.default.iconurl" }}{{ end }}"#,
    r#"{{- define "rocketchat.default.text" }}{{ end }}"#,
    // Newer Alertmanagers' Jira. The priority is the highest severity among the
    // firing alerts (critical High, warning Medium, info Low), else among the
    // resolved ones.
    r#"{{- define "jira.default.summary" }}{{ template "__subject" . }}{{ end }}"#,
    r#"{{- define "jira.default.description" }}{{ template "__alert_blocks_markdown" . }}{{ end }}"#,
    "{{- define \"jira.default.priority\" }}{{ $p := \"\" }}{{ range .Alerts.Firing }}{{ $s := index .Labels \"severity\" }}{{ if eq $s \"critical\" }}{{ $p = \"High\" }}{{ else if and (eq $s \"warning\") (ne $p \"High\") }}{{ $p = \"Medium\" }}{{ else if and (eq $s \"info\") (eq $p \"\") }}{{ $p = \"Low\" }}{{ end }}{{ end }}",
    "{{ if eq $p \"\" }}{{ range .Alerts.Resolved }}{{ $s := index .Labels \"severity\" }}{{ if eq $s \"critical\" }}{{ $p = \"High\" }}{{ else if and (eq $s \"warning\") (ne $p \"High\") }}{{ $p = \"Medium\" }}{{ else if and (eq $s \"info\") (eq $p \"\") }}{{ $p = \"Low\" }}{{ end }}{{ end }}{{ end }}{{ $p }}{{ end }}",
    // Ours (ntfy and Matrix are not Alertmanager integrations).
    r#"{{- define "ntfy.default.title" }}{{ template "__subject" . }}{{ end }}"#,
    r#"{{- define "ntfy.default.message" }}{{ template "__common_annotations" . }}"#,
    "\n{{ template \"__alert_sections\" . }}{{ end }}",
    r#"{{- define "matrix.default.message" }}{{ template "__subject" . }}"#,
    "\n{{ template \"__common_annotations\" . }}\n{{ template \"__alert_sections\" . }}{{ end }}",
);

/// Our subject: `[FIRING:2] HostHighCpuUsage (warning)`, the first group label
/// value, the others in parentheses.
pub fn subject(d: &Data) -> String {
    let n = d
        .alerts
        .iter()
        .filter(|a| a.status == Status::Firing)
        .count();
    let mut s = match d.status {
        Status::Firing => format!("[FIRING:{n}]"),
        Status::Resolved => "[RESOLVED]".to_string(),
    };
    let group: Vec<&str> = d.group_labels.values().map(String::as_str).collect();
    if !group.is_empty() {
        s.push(' ');
        s.push_str(group[0]);
        if group.len() > 1 {
            s.push_str(&format!(" ({})", group[1..].join(" ")));
        }
    }
    s
}

/// How both bodies title an alert: its `alertname`, or "alert" without one.
fn alert_name(a: &AlertData) -> &str {
    a.labels.get("alertname").map_or("alert", String::as_str)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The plain-text part: one block per alert, firing first.
pub fn text_body(d: &Data) -> String {
    let mut out = String::new();
    for (title, st) in [("Firing", Status::Firing), ("Resolved", Status::Resolved)] {
        let alerts: Vec<_> = d.alerts.iter().filter(|a| a.status == st).collect();
        if alerts.is_empty() {
            continue;
        }
        out.push_str(&format!("{} {title}\n\n", alerts.len()));
        for a in alerts {
            let name = alert_name(a);
            out.push_str(&format!("* {name}\n"));
            if let Some(s) = a.annotations.get("summary") {
                out.push_str(&format!("  {s}\n"));
            }
            if let Some(s) = a.annotations.get("description") {
                out.push_str(&format!("  {s}\n"));
            }
            out.push_str(&format!(
                "  Started: {}\n",
                a.starts_at.format("%Y-%m-%d %H:%M:%S UTC")
            ));
            for (k, v) in &a.labels {
                out.push_str(&format!("  {k} = {v}\n"));
            }
            if !a.generator_url.is_empty() {
                out.push_str(&format!("  Source: {}\n", a.generator_url));
            }
            out.push('\n');
        }
    }
    if !d.external_url.is_empty() {
        out.push_str(&format!("View in alerter: {}\n", d.external_url));
    }
    out
}

/// The HTML part: single column, large type, readable on a phone.
pub fn html_body(d: &Data) -> String {
    let mut out = String::from(
        "<!DOCTYPE html><html><head><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta charset=\"utf-8\"></head><body style=\"font-family:-apple-system,Helvetica,Arial,sans-serif;font-size:16px;margin:0;padding:12px;max-width:640px\">",
    );
    out.push_str(&format!(
        "<h2 style=\"margin:0 0 12px\">{}</h2>",
        esc(&subject(d))
    ));
    for (title, st, color) in [
        ("Firing", Status::Firing, "#d0021b"),
        ("Resolved", Status::Resolved, "#2e7d32"),
    ] {
        let alerts: Vec<_> = d.alerts.iter().filter(|a| a.status == st).collect();
        if alerts.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "<h3 style=\"color:{color};margin:16px 0 8px\">{} {title}</h3>",
            alerts.len()
        ));
        for a in alerts {
            let name = alert_name(a);
            out.push_str(&format!(
                "<div style=\"border-left:4px solid {color};padding:8px 12px;margin:0 0 12px;background:#f6f6f6\"><strong>{}</strong>",
                esc(name)
            ));
            if let Some(s) = a.annotations.get("summary") {
                out.push_str(&format!("<p style=\"margin:6px 0\">{}</p>", esc(s)));
            }
            if let Some(s) = a.annotations.get("description") {
                out.push_str(&format!(
                    "<p style=\"margin:6px 0;color:#444\">{}</p>",
                    esc(s)
                ));
            }
            out.push_str(&format!(
                "<p style=\"margin:6px 0;color:#666\">Started {}</p><ul style=\"padding-left:18px;margin:6px 0\">",
                a.starts_at.format("%Y-%m-%d %H:%M:%S UTC")
            ));
            for (k, v) in &a.labels {
                out.push_str(&format!("<li>{} = {}</li>", esc(k), esc(v)));
            }
            out.push_str("</ul>");
            if !a.generator_url.is_empty() {
                out.push_str(&format!("<a href=\"{}\">Source</a>", esc(&a.generator_url)));
            }
            out.push_str("</div>");
        }
    }
    if !d.external_url.is_empty() {
        out.push_str(&format!(
            "<p><a href=\"{}\">View in alerter</a></p>",
            esc(&d.external_url)
        ));
    }
    out.push_str("</body></html>");
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;

    #[test]
    fn builtin_defaults_render_our_content() {
        let d = data();
        assert_eq!(
            text(r#"{{ template "alerter.email.subject" . }}"#),
            super::subject(&d)
        );
        assert_eq!(super::subject(&d), "[FIRING:2] HostHighCpuUsage (warning)");
        assert_eq!(
            text(r#"{{ template "alerter.email.text" . }}"#),
            super::text_body(&d)
        );
        // In HTML the built-in body is trusted markup, not escaped again.
        assert_eq!(
            html(r#"{{ template "alerter.email.html" . }}"#),
            super::html_body(&d)
        );
        assert_eq!(
            html(r#"<title>{{ template "alerter.email.subject" . }}</title>"#),
            format!("<title>{}</title>", super::subject(&d))
        );
        // Alertmanager's subject: the common labels beyond the group's in parentheses.
        assert_eq!(
            text(r#"{{ template "__subject" . }}"#),
            "[FIRING:2] HostHighCpuUsage warning (ops)"
        );
        assert_eq!(
            text(r#"{{ template "slack.default.fallback" . }}"#),
            "[FIRING:2] HostHighCpuUsage warning (ops) | http://alerter:9093/#/alerts?receiver=team-x"
        );
        // Jira's priority: the highest severity of the firing alerts.
        assert_eq!(
            text(r#"{{ template "jira.default.priority" . }}"#),
            "Medium"
        );
        let e = text_err(r#"{{ template "alerter.email.subject" .Alerts }}"#);
        assert!(e.contains("want the notification data as dot"), "{e}");
    }
}
