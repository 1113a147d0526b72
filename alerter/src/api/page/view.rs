//! The status page's markup. maud escapes every interpolated value, so labels,
//! annotations and error texts (which come from outside) are shown as text.
//! States are words first (colour only repeats them); every link and form
//! action is relative, so the page works under a route prefix or a proxy path.

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};

use super::{AlertRow, DeliveryRow, GroupRow, View};
use crate::labels::LabelSet;
use crate::silence::SilenceState;

/// The stylesheet, served as `status.css` next to the page.
pub const STYLE: &str = include_str!("status.css");

fn time(t: DateTime<Utc>, now: DateTime<Utc>) -> Markup {
    let secs = (now - t).num_seconds();
    let rel = match secs.abs() {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86400 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        s => format!("{}d{}h", s / 86400, s % 86400 / 3600),
    };
    let rel = if secs >= 0 {
        format!("{rel} ago")
    } else {
        format!("in {rel}")
    };
    html! {
        time datetime=(t.to_rfc3339()) title=(t.format("%Y-%m-%d %H:%M:%S UTC")) {
            (t.format("%Y-%m-%d %H:%M:%S")) " UTC (" (rel) ")"
        }
    }
}

fn labels_inline(ls: &LabelSet) -> String {
    let inner: Vec<String> = ls.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn pairs(ls: &LabelSet) -> Markup {
    html! {
        dl.pairs {
            @for (k, v) in ls {
                dt { (k) } dd { (v) }
            }
        }
    }
}

pub fn render(v: &View) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Alerter status" }
                link rel="stylesheet" href="status.css";
            }
            body {
                header {
                    h1 { a href="./" { "Alerter status" } }
                    nav aria-label="Sections" {
                        a href="#delivery" { "Delivery" }
                        a href="#alerts" { "Alerts" }
                        a href="#silences" { "Silences" }
                        a href="#self" { "Config" }
                    }
                }
                main {
                    @if !v.banners.is_empty() {
                        section.banners aria-label="Problems" {
                            @for b in &v.banners {
                                p.banner.bad role="alert" { strong { "Problem: " } (b) }
                            }
                        }
                    }
                    @if let Some(n) = &v.notice {
                        p.flash.ok role="status" { (n) }
                    }
                    @if let Some(e) = &v.error {
                        p.flash.bad role="alert" { strong { "Error: " } (e) }
                    }
                    (delivery(v))
                    (alerts(v))
                    (silences(v))
                    (self_info(v))
                }
                footer {
                    p { "Rendered " (time(v.now, v.now)) ". " a href="api/v2/status" { "API status" } " | " a href="metrics" { "Metrics" } }
                }
            }
        }
    }
    .into_string()
}

fn delivery_state(d: &DeliveryRow) -> Markup {
    match (&d.integration, &d.failure, &d.last_success) {
        (None, _, _) => html! { span.badge.muted { "No integrations" } },
        (_, Some(_), _) => html! { span.badge.bad { "FAILING" } },
        (_, None, Some(_)) => html! { span.badge.ok { "OK" } },
        (_, None, None) => html! { span.badge.muted { "Not used yet" } },
    }
}

fn delivery(v: &View) -> Markup {
    html! {
        section #delivery aria-labelledby="h-delivery" {
            h2 #h-delivery { "Delivery" }
            p.hint { "Is each receiver getting notifications out? One row per receiver and integration." }
            div.scroll {
                table.cards {
                    thead {
                        tr {
                            th scope="col" { "Receiver" }
                            th scope="col" { "Integration" }
                            th scope="col" { "State" }
                            th scope="col" { "Last success" }
                            th scope="col" { "Last failure" }
                            th scope="col" { "Pending" }
                            th scope="col" { "Retrying" }
                            th scope="col" { "Test" }
                        }
                    }
                    tbody {
                        @for d in &v.delivery {
                            tr {
                                th scope="row" data-label="Receiver" { (d.receiver) }
                                td data-label="Integration" { (d.integration.as_deref().unwrap_or("none: notifications are dropped")) }
                                td data-label="State" { (delivery_state(d)) }
                                td data-label="Last success" {
                                    @if let Some((at, n)) = d.last_success {
                                        (time(at, v.now)) ", " (n) @if n == 1 { " alert" } @else { " alerts" }
                                    } @else { "never since start" }
                                }
                                td data-label="Last failure" {
                                    @if let Some(f) = &d.failure {
                                        strong.reason { (f.cause) }
                                        br;
                                        "Failing since " (time(f.since, v.now)) " (reason " code { (f.reason.as_str()) } ")"
                                        details {
                                            summary { "Error message" }
                                            pre { (f.message) }
                                        }
                                    } @else { "none" }
                                }
                                td data-label="Pending" { (d.pending) }
                                td data-label="Retrying" { (d.retrying) }
                                td data-label="Test" {
                                    @if d.testable {
                                        form method="post" action="receivers/test" {
                                            input type="hidden" name="receiver" value=(d.receiver);
                                            button type="submit" aria-label={ "Send a test notification to " (d.receiver) } { "Send test" }
                                        }
                                    } @else { "email only" }
                                }
                            }
                        }
                    }
                }
            }
            @for (name, t) in &v.tests {
                details.test open {
                    summary {
                        "Test of " (name) " " (time(t.at, v.now)) ": "
                        @if t.ok { span.badge.ok { "DELIVERED" } } @else { span.badge.bad { "FAILED" } }
                    }
                    pre { (t.transcript) }
                }
            }
        }
    }
}

fn alert_state(a: &AlertRow) -> Markup {
    if a.silenced_by.is_empty() && a.inhibited_by.is_empty() {
        return html! { span.badge.bad { "FIRING" } };
    }
    html! {
        span.badge.muted { "SUPPRESSED" }
        @for id in &a.silenced_by {
            " by silence " a href={ "#silence-" (id) } { code { (id) } }
        }
        @for (fp, name) in &a.inhibited_by {
            " inhibited by alert " code { (fp) }
            @if let Some(n) = name { " (" (n) ")" }
        }
    }
}

fn group(v: &View, g: &GroupRow) -> Markup {
    html! {
        article.group {
            h3 {
                "Receiver " (g.receiver) ": "
                @if g.labels.is_empty() { "all alerts" } @else { (labels_inline(&g.labels)) }
                " (" (g.alerts.len()) ")"
            }
            ul.alerts {
                @for a in &g.alerts {
                    li {
                        (alert_state(a)) " "
                        strong { (a.labels.get("alertname").map_or("(no alertname)", String::as_str)) }
                        " started " (time(a.starts_at, v.now))
                        @if let Some(s) = a.annotations.get("summary") { p.summary { (s) } }
                        details {
                            summary { "Labels and annotations" }
                            h4 { "Labels" }
                            (pairs(&a.labels))
                            @if !a.annotations.is_empty() {
                                h4 { "Annotations" }
                                (pairs(&a.annotations))
                            }
                        }
                    }
                }
            }
        }
    }
}

fn alerts(v: &View) -> Markup {
    let f = &v.filter;
    html! {
        section #alerts aria-labelledby="h-alerts" {
            h2 #h-alerts { "Alerts (" (v.alert_count) ")" }
            form.filters method="get" action="./" role="search" aria-label="Filter alerts" {
                label for="f-matchers" { "Matchers" }
                input #f-matchers type="text" name="filter" value=(f.matchers) placeholder="alertname=\"HostDown\", severity=~\"crit.*\"";
                label for="f-receiver" { "Receiver" }
                select #f-receiver name="receiver" {
                    option value="" selected[f.receiver.is_empty()] { "all" }
                    @for r in &v.receivers {
                        option value=(r) selected[*r == f.receiver] { (r) }
                    }
                }
                label for="f-state" { "State" }
                select #f-state name="state" {
                    option value="" selected[f.state.is_empty()] { "all" }
                    option value="firing" selected[f.state == "firing"] { "firing" }
                    option value="suppressed" selected[f.state == "suppressed"] { "suppressed" }
                }
                button type="submit" { "Filter" }
            }
            @if let Some(e) = &v.filter_error {
                p.flash.bad role="alert" { strong { "Bad matchers: " } (e) }
            }
            @if v.groups.is_empty() {
                p { "No active alerts match." }
            }
            @for g in &v.groups { (group(v, g)) }
        }
    }
}

fn silences(v: &View) -> Markup {
    let d = &v.draft;
    html! {
        section #silences aria-labelledby="h-silences" {
            h2 #h-silences { "Silences" }
            form.silence method="post" action="silences/new" aria-label="New silence" {
                h3 { "New silence" }
                label for="s-matchers" { "Matchers" }
                input #s-matchers type="text" name="s_matchers" value=(d.matchers) required placeholder="alertname=\"HostDown\", instance=\"db1\"";
                label for="s-duration" { "Duration" }
                input #s-duration type="text" name="s_duration" value=(d.duration) required;
                label for="s-created-by" { "Created by" }
                input #s-created-by type="text" name="s_created_by" value=(d.created_by) required;
                label for="s-comment" { "Comment" }
                input #s-comment type="text" name="s_comment" value=(d.comment) required;
                div.buttons {
                    button type="submit" formmethod="get" formaction="./#silences" name="preview" value="1" formnovalidate { "Preview muted alerts" }
                    button type="submit" { "Create silence" }
                }
            }
            @if let Some(p) = &v.preview {
                div.preview #preview {
                    h3 { "Preview" }
                    @match p {
                        Err(e) => p.flash.bad role="alert" { strong { "Bad matchers: " } (e) },
                        Ok(ls) if ls.is_empty() => p { "This silence would mute no active alert." },
                        Ok(ls) => {
                            p { "This silence would mute " (ls.len()) " active alert(s):" }
                            ul { @for l in ls { li { code { (labels_inline(l)) } } } }
                        }
                    }
                }
            }
            @if v.silences.is_empty() {
                p { "No silences." }
            } @else {
                div.scroll {
                    table.cards {
                        thead {
                            tr {
                                th scope="col" { "State" }
                                th scope="col" { "Matchers" }
                                th scope="col" { "Starts" }
                                th scope="col" { "Ends" }
                                th scope="col" { "Created by" }
                                th scope="col" { "Comment" }
                                th scope="col" { "Action" }
                            }
                        }
                        tbody {
                            @for s in &v.silences {
                                tr #{ "silence-" (s.id) } {
                                    td data-label="State" {
                                        @match s.state {
                                            SilenceState::Active => span.badge.ok { "ACTIVE" },
                                            SilenceState::Pending => span.badge.muted { "PENDING" },
                                            SilenceState::Expired => span.badge.muted { "EXPIRED" },
                                        }
                                    }
                                    td data-label="Matchers" { code { (s.matchers) } }
                                    td data-label="Starts" { (time(s.starts_at, v.now)) }
                                    td data-label="Ends" { (time(s.ends_at, v.now)) }
                                    td data-label="Created by" { (s.created_by) }
                                    td data-label="Comment" { (s.comment) }
                                    td data-label="Action" {
                                        @if s.state == SilenceState::Expired { "-" } @else {
                                            form method="post" action="silences/expire" {
                                                input type="hidden" name="id" value=(s.id);
                                                button type="submit" aria-label={ "Expire silence " (s.id) } { "Expire" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn self_info(v: &View) -> Markup {
    let m = &v.me;
    html! {
        section #self aria-labelledby="h-self" {
            h2 #h-self { "Config and self" }
            dl.pairs {
                dt { "Config file" } dd { (m.config_file) }
                dt { "Config hash" } dd { code { (m.hash) } }
                dt { "Last reload" } dd {
                    @if m.reload_ok { span.badge.ok { "SUCCEEDED" } } @else { span.badge.bad { "FAILED" } }
                    " " (time(m.reload_at, v.now))
                    @if let Some(e) = &m.reload_error { pre { (e) } }
                }
                dt { "Config loaded at" } dd {
                    @if let Some(t) = m.last_success { (time(t, v.now)) } @else { "never" }
                }
                @if !m.warnings.is_empty() {
                    dt { "Warnings" } dd { ul { @for w in &m.warnings { li { (w) } } } }
                }
                dt { "Data directory" } dd {
                    (m.data_dir)
                    @if let Some(t) = m.last_write { ", last write " (time(t, v.now)) }
                }
                dt { "Data write errors" } dd {
                    @for (i, (file, n)) in m.storage_errors.iter().enumerate() {
                        @if i > 0 { ", " }
                        (file) ": " (n)
                    }
                }
                dt { "Version" } dd { (m.version) }
                dt { "Up since" } dd { (time(m.started, v.now)) }
            }
        }
    }
}
