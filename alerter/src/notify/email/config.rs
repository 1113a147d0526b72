//! An `email_configs` entry as written (with the `global.smtp_*` fallbacks and
//! `tls_config`) and its resolution into a [`ResolvedEmail`]: addresses parsed,
//! the password read from its one source, TLS and timeouts settled, and the
//! templated parts compiled. Everything a send needs is decided here, at config
//! load; nothing is looked up later.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use config_values::Secret;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Mechanism;
use serde::{Deserialize, Serialize};

use crate::notify::template::{HtmlTemplate, Templates, TextTemplate};

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

impl SmtpGlobals {
    /// What amtool refuses in `global.smtp_*`, with its words.
    pub fn check(&self) -> Vec<String> {
        let mut errs = Vec::new();
        if self.smtp_auth_password.is_some() && self.smtp_auth_password_file.is_some() {
            errs.push(
                "global: at most one of smtp_auth_password & smtp_auth_password_file must be configured"
                    .into(),
            );
        }
        if let Some(e) = self.smtp_smarthost.as_deref().and_then(check_host_port) {
            errs.push(format!("global.smtp_smarthost: {e}"));
        }
        errs
    }
}

/// A `smarthost` as Alertmanager's `HostPort` reads it: `host:port`, the port present.
pub fn check_host_port(s: &str) -> Option<String> {
    match s.rsplit_once(':') {
        None => Some(format!("address {s}: missing port in address")),
        Some((_, "")) => Some(format!("address {s:?}: port cannot be empty")),
        Some(_) => None,
    }
}

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
/// fields get Alertmanager 0.25's defaults: `Subject: {{ template
/// "email.default.subject" . }}`, `html: {{ template "email.default.html" . }}`,
/// no `text` (0.25 sends the HTML part alone). An empty `text` or `html` leaves
/// that part out.
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
    let text_src = c.text.as_deref().unwrap_or("");
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

/// The password file an email entry reads, with the key that names it: its own
/// `auth_password_file`, else the global one when it sets no other password.
pub fn password_file<'a>(
    c: &'a EmailConfig,
    g: &'a SmtpGlobals,
) -> Option<(&'static str, &'a str)> {
    if let Some(f) = &c.auth_password_file {
        return Some(("auth_password_file", f));
    }
    if c.auth_password.is_none() && c.auth_password_env.is_none() {
        return g
            .smtp_auth_password_file
            .as_deref()
            .map(|f| ("global.smtp_auth_password_file", f));
    }
    None
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
    let file = password_file(c, g).map(|(_, f)| f.to_owned());
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
    if let Some(pem) = &ca_pem {
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        if let Err(e) = crate::notify::pinned::PinnedVerifier::from_pem(pem, provider) {
            errs.push(format!("email_configs.tls_config: {e}"));
        }
    }
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
