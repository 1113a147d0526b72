//! The message an alert group becomes: our built-in subject, text and HTML
//! bodies (what `email.default.*` render), and the RFC 5322 message built from a
//! receiver's compiled templates and envelope.

use lettre::message::{Mailbox, MultiPart, SinglePart, header::ContentType};

use super::config::ResolvedEmail;
use super::err;
use crate::notify::{AlertData, Data, NotifyError, Reason, Status};

/// `[FIRING:2] HostHighCpuUsage (warning)`, as Alertmanager's default subject.
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

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// How both bodies title an alert: its `alertname`, or "alert" without one.
fn alert_name(a: &AlertData) -> &str {
    a.labels.get("alertname").map_or("alert", String::as_str)
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

/// Builds the RFC 5322 message from the compiled templates (text and/or HTML)
/// and the envelope (`from`, `to`; a templated `To`/`From` header changes only
/// what the message shows, as in Alertmanager). A template that fails to render
/// is a permanent error: retrying would fail the same way.
pub fn build_message(cfg: &ResolvedEmail, d: &Data) -> Result<lettre::Message, NotifyError> {
    use lettre::message::Mailboxes;
    use lettre::message::header::{self, HeaderName, HeaderValue};

    let tmpl_err = |message: String| err(false, Reason::Template, message);
    let value = crate::notify::template::data_value(d);
    let envelope = lettre::address::Envelope::new(
        Some(cfg.from.email.clone()),
        cfg.to.iter().map(|m| m.email.clone()).collect(),
    )
    .map_err(|e| {
        err(
            false,
            Reason::Message,
            format!("cannot build the envelope: {e}"),
        )
    })?;
    let mut b = lettre::Message::builder().envelope(envelope);
    let (mut from_set, mut to_set) = (false, false);
    for (name, t) in &cfg.content.headers {
        // One line: a rendered newline must not start a header of its own.
        let v = t
            .render_value(&value)
            .map_err(tmpl_err)?
            .replace(['\r', '\n'], " ");
        match name.as_str() {
            "Subject" => b = b.subject(v),
            "From" => {
                let m: Mailbox = v
                    .trim()
                    .parse()
                    .map_err(|e| tmpl_err(format!("headers.From: {v:?} is not an address: {e}")))?;
                b = b.from(m);
                from_set = true;
            }
            "To" => {
                let m: Mailboxes = v.trim().parse().map_err(|e| {
                    tmpl_err(format!("headers.To: {v:?} is not a list of addresses: {e}"))
                })?;
                b = b.mailbox(header::To::from(m));
                to_set = true;
            }
            _ => {
                let h = HeaderName::new_from_ascii(name.clone())
                    .map_err(|e| tmpl_err(format!("headers.{name}: {e}")))?;
                b = b.raw_header(HeaderValue::new(h, v));
            }
        }
    }
    if !from_set {
        b = b.from(cfg.from.clone());
    }
    if !to_set {
        for t in &cfg.to {
            b = b.to(t.clone());
        }
    }
    let text = match &cfg.content.text {
        Some(t) => Some(t.render_value(&value).map_err(tmpl_err)?),
        None => None,
    };
    let html = match &cfg.content.html {
        Some(t) => Some(t.render_value(&value).map_err(tmpl_err)?),
        None => None,
    };
    let part = |ct: ContentType, body: String| SinglePart::builder().header(ct).body(body);
    let built = match (text, html) {
        (Some(t), Some(h)) => b.multipart(
            MultiPart::alternative()
                .singlepart(part(ContentType::TEXT_PLAIN, t))
                .singlepart(part(ContentType::TEXT_HTML, h)),
        ),
        (Some(t), None) => b.singlepart(part(ContentType::TEXT_PLAIN, t)),
        (None, Some(h)) => b.singlepart(part(ContentType::TEXT_HTML, h)),
        (None, None) => {
            return Err(err(
                false,
                Reason::Message,
                "no text and no html part".into(),
            ));
        }
    };
    built.map_err(|e| {
        err(
            false,
            Reason::Message,
            format!("cannot build the message: {e}"),
        )
    })
}
