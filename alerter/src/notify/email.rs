//! Email over SMTP. This file starts as the config contract between the config
//! loader (which parses `email_configs` and `global.smtp_*` into these types) and the
//! email notifier, which owns everything else here.

use std::collections::BTreeMap;

pub use config_values::Secret;
use serde::{Deserialize, Serialize};

/// One entry of a receiver's `email_configs`, as Alertmanager defines it, plus our
/// additions (`auth_mechanisms`, `auth_password_env`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    #[serde(default)]
    pub send_resolved: Option<bool>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub hello: Option<String>,
    #[serde(default)]
    pub smarthost: Option<String>,
    #[serde(default)]
    pub auth_username: Option<String>,
    #[serde(default)]
    pub auth_password: Option<Secret>,
    #[serde(default)]
    pub auth_password_file: Option<String>,
    /// Ours: the name of an environment variable holding the password.
    #[serde(default)]
    pub auth_password_env: Option<String>,
    #[serde(default)]
    pub auth_secret: Option<Secret>,
    #[serde(default)]
    pub auth_secret_file: Option<String>,
    #[serde(default)]
    pub auth_identity: Option<String>,
    /// Ours: mechanisms to try, in order (`PLAIN`, `LOGIN`, `XOAUTH2`).
    #[serde(default)]
    pub auth_mechanisms: Option<Vec<String>>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub html: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub require_tls: Option<bool>,
    #[serde(default)]
    pub tls_config: Option<TlsConfig>,
    /// Ours: deadline for each SMTP step (connect, TLS, greeting, each command, DATA),
    /// e.g. `10s` or `500ms`. Default 10s.
    #[serde(default)]
    pub timeout: Option<config_values::Duration>,
    /// Ours: TLS from the first byte. Default: true on port 465, false elsewhere.
    #[serde(default)]
    pub implicit_tls: Option<bool>,
}

/// Alertmanager's `tls_config`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(default)]
    pub ca: Option<String>,
    #[serde(default)]
    pub ca_file: Option<String>,
    #[serde(default)]
    pub cert: Option<String>,
    #[serde(default)]
    pub cert_file: Option<String>,
    /// An inline private key (PEM): a secret, never shown.
    #[serde(default)]
    pub key: Option<Secret>,
    #[serde(default)]
    pub key_file: Option<String>,
    #[serde(default)]
    pub server_name: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
    #[serde(default)]
    pub min_version: Option<String>,
    #[serde(default)]
    pub max_version: Option<String>,
}

/// The `global.smtp_*` defaults an `EmailConfig` falls back to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SmtpGlobals {
    pub smtp_from: Option<String>,
    pub smtp_hello: Option<String>,
    pub smtp_smarthost: Option<String>,
    pub smtp_auth_username: Option<String>,
    pub smtp_auth_password: Option<Secret>,
    pub smtp_auth_password_file: Option<String>,
    pub smtp_auth_secret: Option<Secret>,
    pub smtp_auth_secret_file: Option<String>,
    pub smtp_auth_identity: Option<String>,
    pub smtp_require_tls: Option<bool>,
    pub smtp_tls_config: Option<TlsConfig>,
}

// ---------------------------------------------------------------------------
// Resolved (validated) configuration
// ---------------------------------------------------------------------------

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use lettre::Address;
use lettre::message::{Mailbox, MultiPart, SinglePart, header::ContentType};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::commands::{Mail, Rcpt};
use lettre::transport::smtp::extension::ClientId;

use super::template::{HtmlTemplate, Templates, TextTemplate};
use super::{Data, Notification, Notifier, NotifyError, Reason, Status};

/// How the session is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (port 465).
    ImplicitTls,
    /// STARTTLS must be offered and succeed (`require_tls: true`, the default).
    StartTlsRequired,
    /// STARTTLS when offered, plain otherwise (`require_tls: false` only).
    StartTlsOpportunistic,
}

/// A validated email receiver: everything needed to send, nothing left to look up.
#[derive(Clone, Debug)]
pub struct ResolvedEmail {
    pub to: Vec<Mailbox>,
    pub from: Mailbox,
    pub host: String,
    pub port: u16,
    pub hello: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// Tried in order; a 535 falls through to the next.
    pub mechanisms: Vec<Mechanism>,
    pub security: Security,
    pub tls_server_name: String,
    pub ca_pem: Option<Vec<u8>>,
    pub insecure_skip_verify: bool,
    pub send_resolved: bool,
    /// Deadline of each SMTP step.
    pub step_timeout: Duration,
    /// Subject, headers and bodies, compiled from `headers`, `text`, `html`.
    pub content: Arc<Content>,
}

/// The templated parts of a message, compiled at config load (Alertmanager's
/// email notifier: every header, `text` and `html` are templates).
#[derive(Debug)]
pub struct Content {
    /// Canonical header name (`Subject`, `X-Team`) and its template; always
    /// holds `Subject`.
    pub headers: Vec<(String, TextTemplate)>,
    pub text: Option<TextTemplate>,
    pub html: Option<HtmlTemplate>,
}

/// Go's textproto.CanonicalMIMEHeaderKey: `x-team` -> `X-Team`.
fn canonical_header(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        });
        upper = c == '-';
    }
    out
}

/// Headers the message structure owns; a template may not replace them.
const STRUCTURAL_HEADERS: [&str; 3] = ["Content-Type", "Content-Transfer-Encoding", "Mime-Version"];

/// Compiles an `email_configs` entry's templated fields against `set`. Missing
/// fields get Alertmanager's defaults, which render our built-in content:
/// `Subject: {{ template "email.default.subject" . }}`, `html: {{ template
/// "email.default.html" . }}`, and (ours) `text: {{ template "email.default.text" . }}`.
/// An empty `text` or `html` leaves that part out.
pub fn compile_content(c: &EmailConfig, set: &Templates) -> Result<Content, Vec<String>> {
    let mut errs = Vec::new();
    let mut headers: Vec<(String, TextTemplate)> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut given: Vec<(String, &str)> = c
        .headers
        .iter()
        .map(|(k, v)| (canonical_header(k), v.as_str()))
        .collect();
    if !given.iter().any(|(k, _)| k == "Subject") {
        given.push((
            "Subject".into(),
            r#"{{ template "email.default.subject" . }}"#,
        ));
    }
    for (name, src) in given {
        if !seen.insert(name.clone()) {
            errs.push(format!("headers: duplicate header {name:?}"));
            continue;
        }
        if STRUCTURAL_HEADERS.contains(&name.as_str()) {
            errs.push(format!(
                "headers.{name}: set by the message itself and cannot be templated"
            ));
            continue;
        }
        if lettre::message::header::HeaderName::new_from_ascii(name.clone()).is_err() {
            errs.push(format!("headers: {name:?} is not a valid header name"));
            continue;
        }
        match set.text(&format!("headers.{name}"), src) {
            Ok(t) => headers.push((name, t)),
            Err(e) => errs.push(e),
        }
    }
    let text_src = c
        .text
        .as_deref()
        .unwrap_or(r#"{{ template "email.default.text" . }}"#);
    let html_src = c
        .html
        .as_deref()
        .unwrap_or(r#"{{ template "email.default.html" . }}"#);
    if text_src.is_empty() && html_src.is_empty() {
        errs.push("text, html: both empty; set at least one".into());
    }
    let text = (!text_src.is_empty())
        .then(|| set.text("text", text_src))
        .transpose()
        .unwrap_or_else(|e| {
            errs.push(e);
            None
        });
    let html = (!html_src.is_empty())
        .then(|| set.html("html", html_src))
        .transpose()
        .unwrap_or_else(|e| {
            errs.push(e);
            None
        });
    if errs.is_empty() {
        Ok(Content {
            headers,
            text,
            html,
        })
    } else {
        Err(errs)
    }
}

fn parse_mechanism(s: &str) -> Option<Mechanism> {
    match s.to_ascii_uppercase().as_str() {
        "PLAIN" => Some(Mechanism::Plain),
        "LOGIN" => Some(Mechanism::Login),
        "XOAUTH2" => Some(Mechanism::Xoauth2),
        _ => None,
    }
}

/// [`resolve_with`] and only the built-in templates.
pub fn resolve(
    c: &EmailConfig,
    g: &SmtpGlobals,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(ResolvedEmail, Vec<String>), Vec<String>> {
    resolve_with(c, g, env, &Templates::builtin())
}

/// Resolves an `email_configs` entry against `global.smtp_*` and compiles its
/// templated fields against `templates` (the config's `templates:` files, see
/// `template::check_config`). `env` looks up environment variables (injected for
/// tests). Returns the config and warnings, or every error found at once. No
/// error or warning ever contains the password.
pub fn resolve_with(
    c: &EmailConfig,
    g: &SmtpGlobals,
    env: &dyn Fn(&str) -> Option<String>,
    templates: &Templates,
) -> Result<(ResolvedEmail, Vec<String>), Vec<String>> {
    let mut errs = Vec::new();
    let mut warns = Vec::new();

    let to: Vec<Mailbox> = match c.to.as_deref() {
        None | Some("") => {
            errs.push("email_configs.to: required (one or more addresses, comma-separated)".into());
            vec![]
        }
        Some(t) => t
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .filter_map(|a| match a.trim().parse::<Mailbox>() {
                Ok(m) => Some(m),
                Err(e) => {
                    errs.push(format!(
                        "email_configs.to: {:?} is not an email address: {e}",
                        a.trim()
                    ));
                    None
                }
            })
            .collect(),
    };
    let from = match c.from.clone().or_else(|| g.smtp_from.clone()) {
        None => {
            errs.push("email_configs.from (or global.smtp_from): required".into());
            None
        }
        Some(f) => match f.parse::<Mailbox>() {
            Ok(m) => Some(m),
            Err(e) => {
                errs.push(format!(
                    "email_configs.from: {f:?} is not an email address: {e}"
                ));
                None
            }
        },
    };
    let (host, port) = match c.smarthost.clone().or_else(|| g.smtp_smarthost.clone()) {
        None => {
            errs.push(
                "email_configs.smarthost (or global.smtp_smarthost): required, as host:port".into(),
            );
            (String::new(), 0)
        }
        Some(sh) => {
            match sh.rsplit_once(':').map(|(h, p)| (h, p.parse::<u16>())) {
                Some((h, Ok(p))) if !h.is_empty() => (h.trim_matches(['[', ']']).to_string(), p),
                _ => {
                    errs.push(format!("email_configs.smarthost: {sh:?} must be host:port, e.g. smtp.example.com:465"));
                    (String::new(), 0)
                }
            }
        }
    };
    let hello = c
        .hello
        .clone()
        .or_else(|| g.smtp_hello.clone())
        .unwrap_or_else(|| "localhost".into());
    let username = c
        .auth_username
        .clone()
        .or_else(|| g.smtp_auth_username.clone());

    // The password: a file, an env var, or (warned) inline.
    let file = c.auth_password_file.clone().or_else(|| {
        if c.auth_password.is_none() && c.auth_password_env.is_none() {
            g.smtp_auth_password_file.clone()
        } else {
            None
        }
    });
    let mut password = None;
    let sources = [
        c.auth_password.is_some(),
        file.is_some(),
        c.auth_password_env.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if sources > 1 {
        errs.push(
            "email_configs: set only one of auth_password, auth_password_file, auth_password_env"
                .into(),
        );
    } else if let Some(f) = &file {
        match Secret::read_file(std::path::Path::new(f)) {
            Ok(s) => password = Some(s),
            Err(config_values::SecretError::File { source: e, .. }) => errs.push(format!(
                "email_configs.auth_password_file: cannot read {f:?}: {e}"
            )),
            Err(e) => errs.push(format!("email_configs.auth_password_file: {e}")),
        }
    } else if let Some(var) = &c.auth_password_env {
        match Secret::from_env(var, env) {
            Ok(s) => password = Some(s),
            Err(e) => errs.push(format!("email_configs.auth_password_env: {e}")),
        }
    } else if let Some(p) = c
        .auth_password
        .clone()
        .or_else(|| g.smtp_auth_password.clone())
    {
        warns.push(
            "email_configs.auth_password is inline in the config file; move it to auth_password_file or auth_password_env so it stays out of git"
                .into(),
        );
        password = Some(p);
    }
    if username.is_some() && password.is_none() && errs.is_empty() {
        errs.push("email_configs: auth_username is set but no password (auth_password_file or auth_password_env)".into());
    }

    let mechanisms = match &c.auth_mechanisms {
        None => vec![Mechanism::Plain, Mechanism::Login],
        Some(list) => {
            let mut out = Vec::new();
            for m in list {
                match parse_mechanism(m) {
                    Some(m) => out.push(m),
                    None => errs.push(format!(
                        "email_configs.auth_mechanisms: unknown mechanism {m:?} (expected PLAIN, LOGIN or XOAUTH2)"
                    )),
                }
            }
            if out.is_empty() && list.is_empty() {
                errs.push("email_configs.auth_mechanisms: empty list".into());
            }
            out
        }
    };
    let require_tls = c.require_tls.or(g.smtp_require_tls).unwrap_or(true);
    let security = if c.implicit_tls.unwrap_or(port == 465) {
        Security::ImplicitTls
    } else if require_tls {
        Security::StartTlsRequired
    } else {
        Security::StartTlsOpportunistic
    };
    let tls = c
        .tls_config
        .clone()
        .or_else(|| g.smtp_tls_config.clone())
        .unwrap_or_default();
    let ca_pem = match (&tls.ca_file, &tls.ca) {
        (Some(f), _) => match std::fs::read(f) {
            Ok(b) => Some(b),
            Err(e) => {
                errs.push(format!(
                    "email_configs.tls_config.ca_file: cannot read {f:?}: {e}"
                ));
                None
            }
        },
        (None, Some(pem)) => Some(pem.clone().into_bytes()),
        _ => None,
    };
    let step_timeout = c.timeout.map_or(Duration::from_secs(10), |t| t.as_std());
    let content = match compile_content(c, templates) {
        Ok(content) => Some(content),
        Err(es) => {
            errs.extend(es.into_iter().map(|e| format!("email_configs.{e}")));
            None
        }
    };
    if !errs.is_empty() {
        return Err(errs);
    }
    let (Some(from), Some(content)) = (from, content) else {
        return Err(vec!["email_configs.from: required".into()]);
    };
    Ok((
        ResolvedEmail {
            to,
            from,
            tls_server_name: tls.server_name.clone().unwrap_or_else(|| host.clone()),
            host,
            port,
            hello,
            username,
            password,
            mechanisms,
            security,
            ca_pem,
            insecure_skip_verify: tls.insecure_skip_verify,
            send_resolved: c.send_resolved.unwrap_or(false),
            step_timeout,
            content: Arc::new(content),
        },
        warns,
    ))
}

// ---------------------------------------------------------------------------
// Content: the built-in template
// ---------------------------------------------------------------------------

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
            let name = a
                .labels
                .get("alertname")
                .map(String::as_str)
                .unwrap_or("alert");
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
            let name = a
                .labels
                .get("alertname")
                .map(String::as_str)
                .unwrap_or("alert");
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
    let value = super::template::data_value(d);
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

// ---------------------------------------------------------------------------
// The SMTP dialogue, step by step, every step with a deadline
// ---------------------------------------------------------------------------

/// How far to go: the start-up/reload check stops after EHLO (and STARTTLS, AUTH).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    ConnectOnly,
    Send,
}

fn err(retryable: bool, reason: Reason, message: String) -> NotifyError {
    NotifyError {
        retryable,
        reason,
        message,
    }
}

fn io_kind(e: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cur = c.source();
    }
    None
}

fn full_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Classifies a lettre error seen at `stage` into a reason.
fn classify(stage: &str, e: &lettre::transport::smtp::Error, cfg: &ResolvedEmail) -> NotifyError {
    let msg = format!("{stage} with {}:{}: {}", cfg.host, cfg.port, full_chain(e));
    if e.is_timeout() {
        return err(true, Reason::ConnectTimeout, msg);
    }
    if e.is_tls() {
        return err(true, Reason::TlsHandshake, msg);
    }
    match io_kind(e) {
        Some(std::io::ErrorKind::ConnectionRefused) => {
            return err(true, Reason::ConnectionRefused, msg);
        }
        Some(std::io::ErrorKind::TimedOut) => return err(true, Reason::ConnectTimeout, msg),
        _ => {}
    }
    let code = e.status().map(|c| c.to_string());
    if e.is_permanent() {
        let reason = match stage {
            "AUTH" => Reason::AuthRejected,
            "MAIL FROM" => Reason::SenderRejected,
            "RCPT TO" => Reason::RecipientRejected,
            "DATA" => Reason::MessageRejected,
            _ if code.as_deref() == Some("530") => Reason::TlsRequired,
            _ => Reason::SmtpPermanent,
        };
        return err(false, reason, msg);
    }
    if e.is_transient() {
        return err(true, Reason::SmtpTransient, msg);
    }
    if stage == "connect" || stage == "TLS handshake" {
        // A TLS failure on the first bytes shows up as a protocol/IO error.
        if matches!(cfg.security, Security::ImplicitTls) {
            return err(true, Reason::TlsHandshake, msg);
        }
        return err(true, Reason::ConnectFailed, msg);
    }
    err(true, Reason::Protocol, msg)
}

async fn step<T>(
    stage: &str,
    cfg: &ResolvedEmail,
    fut: impl std::future::Future<Output = Result<T, lettre::transport::smtp::Error>>,
) -> Result<T, NotifyError> {
    match tokio::time::timeout(cfg.step_timeout, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(classify(stage, &e, cfg)),
        Err(_) => Err(err(
            true,
            if stage == "connect" || stage == "TLS handshake" {
                Reason::GreetingTimeout
            } else {
                Reason::Timeout
            },
            format!(
                "{stage} with {}:{}: no reply within {:?}{}",
                cfg.host,
                cfg.port,
                cfg.step_timeout,
                if stage == "connect" || stage == "TLS handshake" {
                    " (the TCP connection was accepted, but no TLS handshake / greeting / EHLO reply followed)"
                } else {
                    ""
                }
            ),
        )),
    }
}

fn tls_params(cfg: &ResolvedEmail) -> Result<TlsParameters, NotifyError> {
    let mut b = TlsParameters::builder(cfg.tls_server_name.clone());
    if let Some(pem) = &cfg.ca_pem {
        let cert = Certificate::from_pem(pem)
            .map_err(|e| err(false, Reason::TlsConfig, format!("tls_config.ca: {e}")))?;
        b = b.add_root_certificate(cert);
    }
    if cfg.insecure_skip_verify {
        b = b
            .dangerous_accept_invalid_certs(true)
            .dangerous_accept_invalid_hostnames(true);
    }
    b.build().map_err(|e| {
        err(
            false,
            Reason::TlsConfig,
            format!("tls_config: {}", full_chain(&e)),
        )
    })
}

fn reply(r: &lettre::transport::smtp::response::Response) -> String {
    let lines: Vec<&str> = r.message().collect();
    format!("{} {}", r.code(), lines.join(" / "))
}

/// TCP connect (+ TLS for implicit TLS), greeting, EHLO, STARTTLS.
async fn open(
    cfg: &ResolvedEmail,
    addr: SocketAddr,
    log: &mut (dyn FnMut(String) + Send),
) -> Result<AsyncSmtpConnection, NotifyError> {
    // TCP connect (+ TLS for implicit TLS) + greeting + EHLO
    let hello = ClientId::Domain(cfg.hello.clone());
    let implicit = if cfg.security == Security::ImplicitTls {
        Some(tls_params(cfg)?)
    } else {
        None
    };
    let stage = if implicit.is_some() {
        "TLS handshake"
    } else {
        "connect"
    };
    log(format!(
        "CONNECT  {addr} ({})",
        match cfg.security {
            Security::ImplicitTls => "implicit TLS from the first byte",
            Security::StartTlsRequired => "STARTTLS required",
            Security::StartTlsOpportunistic => "STARTTLS if offered, plain allowed",
        }
    ));
    let connect =
        AsyncSmtpConnection::connect_tokio1(addr, Some(cfg.step_timeout), &hello, implicit, None);
    let mut conn = step(stage, cfg, connect).await?;
    if cfg.security == Security::ImplicitTls {
        log(format!(
            "TLS      handshake ok, certificate verified for {}",
            cfg.tls_server_name
        ));
    }
    log(format!("EHLO     {}", conn.server_info()));

    // STARTTLS
    if cfg.security != Security::ImplicitTls {
        if conn.can_starttls() {
            let p = tls_params(cfg)?;
            step("STARTTLS", cfg, conn.starttls(p, &hello)).await?;
            log(format!(
                "STARTTLS ok, certificate verified for {}; EHLO again: {}",
                cfg.tls_server_name,
                conn.server_info()
            ));
        } else if cfg.security == Security::StartTlsRequired {
            conn.abort().await;
            return Err(err(
                false,
                Reason::TlsRequired,
                format!(
                    "{}:{} does not offer STARTTLS and require_tls is true (use port 465 for implicit TLS, or set require_tls: false only for a trusted local relay)",
                    cfg.host, cfg.port
                ),
            ));
        } else {
            log("STARTTLS not offered; continuing in plain text (require_tls: false)".into());
        }
    }

    Ok(conn)
}

/// Connects to the first address that answers, as SMTP clients do with a host that
/// resolves to several (IPv6 and IPv4, or several MX-style A records).
async fn open_any(
    cfg: &ResolvedEmail,
    addrs: &[SocketAddr],
    log: &mut (dyn FnMut(String) + Send),
) -> Result<(AsyncSmtpConnection, SocketAddr), NotifyError> {
    let mut last = None;
    for (i, addr) in addrs.iter().copied().enumerate() {
        match open(cfg, addr, log).await {
            Ok(c) => return Ok((c, addr)),
            Err(e)
                if i + 1 < addrs.len()
                    && matches!(e.reason, Reason::ConnectionRefused | Reason::ConnectTimeout) =>
            {
                log(format!(
                    "CONNECT  {addr}: {}; trying the next address",
                    e.message
                ));
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        err(
            true,
            Reason::Dns,
            format!("DNS lookup of {}: no addresses", cfg.host),
        )
    }))
}

/// Runs the SMTP dialogue, reporting each step to `log` (the `alerter test`
/// transcript, or nothing). Never logs the password.
pub async fn dialogue(
    cfg: &ResolvedEmail,
    msg: Option<&lettre::Message>,
    mode: Mode,
    log: &mut (dyn FnMut(String) + Send),
) -> Result<(), NotifyError> {
    // DNS
    let target = format!("{}:{}", cfg.host, cfg.port);
    let addrs: Vec<SocketAddr> =
        match tokio::time::timeout(cfg.step_timeout, tokio::net::lookup_host(target.clone())).await
        {
            Ok(Ok(a)) => a.collect(),
            Ok(Err(e)) => {
                return Err(err(
                    true,
                    Reason::Dns,
                    format!("DNS lookup of {}: {e}", cfg.host),
                ));
            }
            Err(_) => {
                return Err(err(
                    true,
                    Reason::Dns,
                    format!("DNS lookup of {} timed out", cfg.host),
                ));
            }
        };
    if addrs.is_empty() {
        return Err(err(
            true,
            Reason::Dns,
            format!("DNS lookup of {}: no addresses", cfg.host),
        ));
    }
    log(format!(
        "DNS      {} -> {}",
        cfg.host,
        addrs
            .iter()
            .map(|a| a.ip().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));

    let (mut conn, addr) = open_any(cfg, &addrs, log).await?;
    // AUTH: each configured mechanism the server offers, in order; a 535 falls
    // through to the next on a fresh connection (lettre closes it after a 5xx).
    if let (Some(user), Some(pass)) = (&cfg.username, &cfg.password) {
        let creds = Credentials::new(user.clone(), pass.expose().to_string());
        let offered: Vec<Mechanism> = cfg
            .mechanisms
            .iter()
            .copied()
            .filter(|m| conn.server_info().supports_auth_mechanism(*m))
            .collect();
        if offered.is_empty() {
            conn.abort().await;
            return Err(err(
                false,
                Reason::AuthUnsupported,
                format!(
                    "{}:{} offers none of auth_mechanisms {:?} (server: {})",
                    cfg.host,
                    cfg.port,
                    cfg.mechanisms
                        .iter()
                        .map(|m| m.to_string())
                        .collect::<Vec<_>>(),
                    conn.server_info()
                ),
            ));
        }
        let mut last = None;
        for (i, m) in offered.iter().copied().enumerate() {
            if i > 0 {
                conn = open(cfg, addr, log).await?;
            }
            match step("AUTH", cfg, conn.auth(&[m], &creds)).await {
                Ok(r) => {
                    log(format!("AUTH     {m} as {user}: {}", reply(&r)));
                    last = None;
                    break;
                }
                Err(e) => {
                    log(format!("AUTH     {m} as {user}: {}", e.message));
                    let fall_through = matches!(e.reason, Reason::AuthRejected);
                    last = Some((m, e));
                    if !fall_through {
                        break;
                    }
                }
            }
        }
        if let Some((m, mut e)) = last {
            conn.abort().await;
            if matches!(e.reason, Reason::AuthRejected) {
                e.message = format!(
                    "{} (rejected after trying {:?} in order; not retried: fix the username/password or auth_mechanisms; last tried {m})",
                    e.message,
                    offered.iter().map(|m| m.to_string()).collect::<Vec<_>>()
                );
            }
            return Err(e);
        }
    }

    if mode == Mode::ConnectOnly {
        let _ = step("QUIT", cfg, conn.quit()).await;
        return Ok(());
    }
    let Some(msg) = msg else {
        return Ok(());
    };
    let env = msg.envelope();
    let r = step(
        "MAIL FROM",
        cfg,
        conn.command(Mail::new(env.from().cloned(), vec![])),
    )
    .await;
    match r {
        Ok(r) => log(format!(
            "MAIL     FROM:<{}>: {}",
            fmt_addr(env.from()),
            reply(&r)
        )),
        Err(e) => {
            conn.abort().await;
            return Err(e);
        }
    }
    for rcpt in env.to() {
        match step(
            "RCPT TO",
            cfg,
            conn.command(Rcpt::new(rcpt.clone(), vec![])),
        )
        .await
        {
            Ok(r) => log(format!("RCPT     TO:<{rcpt}>: {}", reply(&r))),
            Err(e) => {
                conn.abort().await;
                return Err(e);
            }
        }
    }
    match step(
        "DATA",
        cfg,
        conn.command(lettre::transport::smtp::commands::Data),
    )
    .await
    {
        Ok(_) => {}
        Err(e) => {
            conn.abort().await;
            return Err(e);
        }
    }
    let bytes = msg.formatted();
    match step("DATA", cfg, conn.message(&bytes)).await {
        Ok(r) => log(format!("DATA     {} bytes: {}", bytes.len(), reply(&r))),
        Err(e) => {
            conn.abort().await;
            return Err(e);
        }
    }
    let _ = step("QUIT", cfg, conn.quit()).await;
    Ok(())
}

fn fmt_addr(a: Option<&Address>) -> String {
    a.map(|a| a.to_string()).unwrap_or_default()
}

/// One line in plain words: the likely cause of a failure.
pub fn diagnose(e: &NotifyError, cfg: &ResolvedEmail) -> String {
    match e.reason {
        Reason::ConnectTimeout if matches!(cfg.port, 25 | 465) => format!(
            "connecting to port {} timed out: many hosting providers block outbound ports 25 and 465 by default; ask yours to lift the block, or try port 587 with STARTTLS",
            cfg.port
        ),
        Reason::ConnectTimeout => "connecting timed out: a firewall drops the traffic, or the host/port is wrong".into(),
        Reason::GreetingTimeout => "the server accepted the TCP connection but never greeted: wrong port for this protocol (implicit TLS on 465 vs STARTTLS on 587?) or an overloaded server".into(),
        Reason::ConnectionRefused => "nothing listens on that host:port: check smarthost".into(),
        Reason::Dns => "the smarthost name does not resolve: check the spelling and the host's DNS".into(),
        Reason::TlsHandshake => "TLS handshake failed: the server's certificate is not trusted for that name (tls_config.ca_file / server_name), or the port expects no TLS (587 wants STARTTLS, 465 implicit TLS)".into(),
        Reason::TlsRequired => "the server will not do TLS on this port: use port 465 (implicit TLS) or 587 (STARTTLS); set require_tls: false only for a trusted local relay".into(),
        Reason::AuthRejected if cfg.mechanisms.first() == Some(&Mechanism::Plain) => "the server rejected the credentials (535) after PLAIN: check the password; if it is right, try `auth_mechanisms: [LOGIN]`".into(),
        Reason::AuthRejected => "the server rejected the credentials: check auth_username and the password source".into(),
        Reason::AuthUnsupported => "the server offers none of the configured auth_mechanisms: set auth_mechanisms to one it lists in EHLO".into(),
        Reason::SenderRejected => "the server refused the From address: many providers only accept the authenticated account's own address".into(),
        Reason::RecipientRejected => "the server refused a recipient: check `to`, or whether the server relays for that domain".into(),
        Reason::Timeout => "the server stopped answering in the middle of the dialogue".into(),
        _ => "see the message above".into(),
    }
}

/// SMTP sessions one email integration runs at once: a failing server with
/// thousands of groups gets a few connections, not thousands.
pub const MAX_SESSIONS: usize = 4;

/// The email integration.
pub struct EmailNotifier {
    pub cfg: ResolvedEmail,
    sessions: tokio::sync::Semaphore,
}

impl EmailNotifier {
    pub fn new(cfg: ResolvedEmail) -> EmailNotifier {
        EmailNotifier {
            cfg,
            sessions: tokio::sync::Semaphore::new(MAX_SESSIONS),
        }
    }
}

impl Notifier for EmailNotifier {
    fn integration(&self) -> &'static str {
        "email"
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            if n.data.status == Status::Resolved && !self.cfg.send_resolved {
                return Ok(());
            }
            let msg = build_message(&self.cfg, &n.data)?;
            let _permit = self.sessions.acquire().await.map_err(|_| NotifyError {
                retryable: true,
                reason: Reason::Shutdown,
                message: "the notifier is shutting down".into(),
            })?;
            let mut sink = |_: String| {};
            let r = dialogue(&self.cfg, Some(&msg), Mode::Send, &mut sink).await;
            // The likely cause travels with the error, so the pipeline's one log
            // line (and the self-monitoring alarm) carry it.
            r.map_err(|mut e| {
                e.message = format!(
                    "{} (smarthost {}:{}); likely cause: {}",
                    e.message,
                    self.cfg.host,
                    self.cfg.port,
                    diagnose(&e, &self.cfg)
                );
                e
            })
        })
    }
}

/// The start-up / reload readiness check: connect, TLS, EHLO, AUTH, no mail.
pub async fn check_ready(cfg: &ResolvedEmail) -> Result<(), NotifyError> {
    let mut sink = |_: String| {};
    dialogue(cfg, None, Mode::ConnectOnly, &mut sink).await
}
