//! The `receivers:` section: each receiver's integrations built from their config
//! entries, ready for the pipeline. An integration that cannot be built does not
//! stop the config from loading (see [`build_receivers`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::Notifier;
use super::discord::DiscordConfig;
use super::email::{self, EmailConfig, EmailNotifier, ResolvedEmail, SmtpGlobals};
use super::http::HttpConfig;
use super::integration::{BuildContext, IntegrationConfig, IntegrationGlobals};
use super::jira::JiraConfig;
use super::matrix::MatrixConfig;
use super::msteams::MsteamsConfig;
use super::msteamsv2::MsteamsV2Config;
use super::ntfy::NtfyConfig;
use super::opsgenie::OpsgenieConfig;
use super::pagerduty::PagerdutyConfig;
use super::pipeline::{Integration, Receivers};
use super::pushover::PushoverConfig;
use super::rocketchat::RocketchatConfig;
use super::slack::SlackConfig;
use super::sns::SnsConfig;
use super::telegram::TelegramConfig;
use super::template::Templates;
use super::victorops::VictoropsConfig;
use super::webex::WebexConfig;
use super::webhook::{WebhookConfig, WebhookNotifier};
use super::wechat::WechatConfig;

/// One `receivers:` entry as written in alertmanager.yml.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    pub name: String,
    #[serde(default)]
    pub email_configs: Vec<EmailConfig>,
    #[serde(default)]
    pub webhook_configs: Vec<WebhookConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slack_configs: Vec<SlackConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pagerduty_configs: Vec<PagerdutyConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub opsgenie_configs: Vec<OpsgenieConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discord_configs: Vec<DiscordConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub telegram_configs: Vec<TelegramConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webex_configs: Vec<WebexConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub victorops_configs: Vec<VictoropsConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wechat_configs: Vec<WechatConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub msteams_configs: Vec<MsteamsConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub msteamsv2_configs: Vec<MsteamsV2Config>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pushover_configs: Vec<PushoverConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sns_configs: Vec<SnsConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ntfy_configs: Vec<NtfyConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matrix_configs: Vec<MatrixConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rocketchat_configs: Vec<RocketchatConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jira_configs: Vec<JiraConfig>,
}

/// Every integration kind beyond email and webhook: `$m!(field)` once per
/// `*_configs` list, so checking, compiling and building each is one line here.
macro_rules! each_integration {
    ($m:ident) => {
        $m!(slack_configs);
        $m!(pagerduty_configs);
        $m!(opsgenie_configs);
        $m!(discord_configs);
        $m!(telegram_configs);
        $m!(webex_configs);
        $m!(victorops_configs);
        $m!(wechat_configs);
        $m!(msteams_configs);
        $m!(msteamsv2_configs);
        $m!(pushover_configs);
        $m!(sns_configs);
        $m!(ntfy_configs);
        $m!(matrix_configs);
        $m!(rocketchat_configs);
        $m!(jira_configs);
    };
}

impl ReceiverConfig {
    /// Whether any integration renders templates (all but the webhook do).
    pub fn renders_templates(&self) -> bool {
        let mut any = !self.email_configs.is_empty();
        macro_rules! has {
            ($f:ident) => {
                any |= !self.$f.is_empty();
            };
        }
        each_integration!(has);
        any
    }

    /// amtool's checks of every integration entry, each error prefixed with where it is.
    pub fn check_integrations(&self, globals: &IntegrationGlobals) -> Vec<String> {
        let mut errs = Vec::new();
        macro_rules! check {
            ($f:ident) => {
                for (i, c) in self.$f.iter().enumerate() {
                    let at = format!("receivers[{}].{}[{i}]", self.name, stringify!($f));
                    errs.extend(c.check(globals).into_iter().map(|e| format!("{at}: {e}")));
                    if let Some(h) = c.http_config() {
                        errs.extend(
                            h.check()
                                .into_iter()
                                .map(|e| format!("{at}.http_config: {e}")),
                        );
                    }
                }
            };
        }
        each_integration!(check);
        errs
    }
}

/// Loads the `templates:` files matched by `patterns` (relative to `base_dir`)
/// and compiles the templated fields of every receiver's email configs against
/// them. All errors at once, each naming the receiver and field.
pub fn load_templates(
    base_dir: &Path,
    patterns: &[String],
    receivers: &[ReceiverConfig],
) -> Result<Templates, String> {
    let set = Templates::load(base_dir, patterns)?;
    let mut errs = Vec::new();
    for r in receivers {
        for (i, e) in r.email_configs.iter().enumerate() {
            let at = format!("receivers[{}].email_configs[{i}]", r.name);
            if let Err(es) = email::compile_content(e, &set) {
                errs.extend(es.into_iter().map(|m| format!("{at}.{m}")));
            }
        }
        macro_rules! compile {
            ($f:ident) => {
                for (i, c) in r.$f.iter().enumerate() {
                    let at = format!("receivers[{}].{}[{i}]", r.name, stringify!($f));
                    if let Err(es) = c.compile(&set) {
                        errs.extend(es.into_iter().map(|m| format!("{at}.{m}")));
                    }
                }
            };
        }
        each_integration!(compile);
    }
    if errs.is_empty() {
        Ok(set)
    } else {
        Err(errs.join("\n"))
    }
}

/// What [`build_receivers`] made of the `receivers:` section.
#[derive(Default)]
pub struct Built {
    pub receivers: Receivers,
    /// Every email integration by receiver, in config order: resolved, or why it
    /// cannot send. The readiness check and `alerter test` use these, so they
    /// connect with exactly what the pipeline sends with.
    pub emails: BTreeMap<String, Vec<Result<ResolvedEmail, String>>>,
    pub warnings: Vec<String>,
    /// Secret files named by the config that cannot be read now, each naming the
    /// receiver, key and path. At start-up they are warnings (the receiver fails
    /// loudly); a reload naming one is refused, so the running config keeps going.
    pub unreadable_secrets: Vec<String>,
}

/// The integrations of every receiver: webhooks and emails, each with its
/// `send_resolved` (webhook default true, email default false, as Alertmanager).
/// `env` resolves secrets from variables; `templates` are the config's
/// `templates:` files. An integration whose settings do not resolve (a password
/// file that is missing, say) does not stop the config from loading: it becomes an
/// [`Unusable`] one that fails every delivery with the reason, and the reason is
/// returned as a warning, so it is loud in logs, metrics and status instead of
/// taking the whole alerter down.
pub fn build_receivers(
    receivers: &[ReceiverConfig],
    globals: &SmtpGlobals,
    integration_globals: &IntegrationGlobals,
    global_http: Option<&HttpConfig>,
    base_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    templates: &Templates,
) -> Built {
    let cx = BuildContext {
        globals: integration_globals,
        http: global_http,
        base: base_dir,
        templates,
    };
    let mut out = Receivers::new();
    let mut emails = BTreeMap::new();
    let mut warnings = Vec::new();
    let mut unusable = |integration: &'static str, reason: String, index: usize| {
        warnings.push(reason.clone());
        Integration {
            notifier: Arc::new(Unusable {
                integration,
                reason,
            }) as Arc<dyn Notifier>,
            send_resolved: true,
            index,
        }
    };
    let mut notes = Vec::new();
    let mut unreadable = Vec::new();
    for r in receivers {
        let mut list = Vec::new();
        let mut resolved_emails = Vec::new();
        for (i, w) in r.webhook_configs.iter().enumerate() {
            let http = w.http_config.as_ref().or(global_http);
            match WebhookNotifier::from_config(w, global_http, base_dir) {
                Ok(n) => {
                    for key in http.map(HttpConfig::inline_secrets).unwrap_or_default() {
                        notes.push(format!(
                            "receivers[{:?}].webhook_configs[{i}].http_config.{key} is inline in the config file; move it to its _file form so it stays out of git",
                            r.name
                        ));
                    }
                    // Read at each send, as Alertmanager does, so a rotated file is
                    // used; one that cannot be read now is an outage in waiting.
                    let at = format!("receivers[{:?}].webhook_configs[{i}]", r.name);
                    if w.url.is_none()
                        && let Some(f) = &w.url_file
                    {
                        check_secret(&mut unreadable, &at, "url_file", Path::new(f));
                    }
                    check_http_secrets(&mut unreadable, &at, http, base_dir);
                    list.push(Integration {
                        notifier: Arc::new(n) as Arc<dyn Notifier>,
                        send_resolved: w.send_resolved.unwrap_or(true),
                        index: i,
                    });
                }
                Err(e) => list.push(unusable(
                    "webhook",
                    format!(
                        "receivers[{:?}].webhook_configs[{i}] cannot send: {e}",
                        r.name
                    ),
                    i,
                )),
            }
        }
        for (i, e) in r.email_configs.iter().enumerate() {
            if let Some((key, f)) = email::password_file(e, globals) {
                let at = format!("receivers[{:?}].email_configs[{i}]", r.name);
                check_secret(&mut unreadable, &at, key, Path::new(f));
            }
            match email::resolve_with(e, globals, env, templates) {
                Ok((resolved, warns)) => {
                    notes.extend(
                        warns
                            .into_iter()
                            .map(|w| format!("receivers[{:?}].email_configs[{i}]: {w}", r.name)),
                    );
                    list.push(Integration {
                        send_resolved: resolved.send_resolved,
                        notifier: Arc::new(EmailNotifier::new(resolved.clone()))
                            as Arc<dyn Notifier>,
                        index: i,
                    });
                    resolved_emails.push(Ok(resolved));
                }
                Err(es) => {
                    let why = es.join("; ");
                    list.push(unusable(
                        "email",
                        format!(
                            "receivers[{:?}].email_configs[{i}] cannot send: {why}",
                            r.name
                        ),
                        i,
                    ));
                    resolved_emails.push(Err(why));
                }
            }
        }
        macro_rules! build {
            ($f:ident) => {
                for (i, c) in r.$f.iter().enumerate() {
                    let at = format!("receivers[{:?}].{}[{i}]", r.name, stringify!($f));
                    note_inline_secrets(&mut notes, &at, c.http_config().or(global_http));
                    for (key, f) in c.secret_files() {
                        check_secret(&mut unreadable, &at, key, Path::new(f));
                    }
                    check_http_secrets(
                        &mut unreadable,
                        &at,
                        c.http_config().or(global_http),
                        base_dir,
                    );
                    match c.build(&cx) {
                        Ok(n) => list.push(Integration {
                            notifier: n,
                            send_resolved: send_resolved_of(c),
                            index: i,
                        }),
                        Err(e) => list.push(unusable(
                            integration_name(c),
                            format!("{at} cannot send: {e}"),
                            i,
                        )),
                    }
                }
            };
        }
        each_integration!(build);
        out.insert(r.name.clone(), list);
        emails.insert(r.name.clone(), resolved_emails);
    }
    warnings.extend(notes);
    warnings.extend(
        unreadable
            .iter()
            .map(|u| format!("{u}; every send fails until it can be read")),
    );
    Built {
        receivers: out,
        emails,
        warnings,
        unreadable_secrets: unreadable,
    }
}

/// Notes a secret file that cannot be read now, naming where it is configured.
/// Only whether it can be read: its content is read again at each use (or
/// reload), which is what lets a secret be rotated by rewriting the file.
fn check_secret(unreadable: &mut Vec<String>, at: &str, key: &str, path: &Path) {
    if let Err(e) = std::fs::File::open(path) {
        unreadable.push(format!("{at}.{key}: cannot read {}: {e}", path.display()));
    }
}

/// The `http_config` files, which are read relative to the config's directory.
fn check_http_secrets(
    unreadable: &mut Vec<String>,
    at: &str,
    http: Option<&HttpConfig>,
    base_dir: &Path,
) {
    for (key, f) in http.map(HttpConfig::secret_files).unwrap_or_default() {
        check_secret(
            unreadable,
            &format!("{at}.http_config"),
            key,
            &base_dir.join(f),
        );
    }
}

fn send_resolved_of<C: IntegrationConfig>(c: &C) -> bool {
    c.send_resolved().unwrap_or(C::SEND_RESOLVED)
}

fn integration_name<C: IntegrationConfig>(_: &C) -> &'static str {
    C::NAME
}

/// Inline credentials of an `http_config` belong in their `_file` form.
fn note_inline_secrets(notes: &mut Vec<String>, at: &str, http: Option<&HttpConfig>) {
    for key in http.map(HttpConfig::inline_secrets).unwrap_or_default() {
        notes.push(format!(
            "{at}.http_config.{key} is inline in the config file; move it to its _file form so it stays out of git"
        ));
    }
}

/// An integration whose settings do not resolve: every delivery fails with the
/// reason (not retryable: retrying cannot make a missing file appear mid-flush).
pub struct Unusable {
    pub integration: &'static str,
    pub reason: String,
}

impl Notifier for Unusable {
    fn integration(&self) -> &'static str {
        self.integration
    }

    fn notify<'a>(
        &'a self,
        _: &'a super::Notification,
    ) -> futures::future::BoxFuture<'a, Result<(), super::NotifyError>> {
        Box::pin(async move {
            Err(super::NotifyError {
                retryable: false,
                reason: super::Reason::Config,
                message: self.reason.clone(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_errors_name_receiver_and_field() {
        #[derive(serde::Deserialize)]
        struct Config {
            receivers: Vec<ReceiverConfig>,
        }
        let cfg: Config = serde_yaml::from_str(
            r#"
receivers:
  - name: ok
    email_configs:
      - to: a@example.com
        headers: { subject: '{{ template "email.default.subject" . }}', X-Team: '{{ .CommonLabels.team }}' }
  - name: team-x
    email_configs:
      - to: a@example.com
        html: '{{ .Alerts | nope }}'
        headers: { Subject: '{{ template "nope" . }}' }
"#,
        )
        .unwrap();
        let e = load_templates(Path::new("."), &[], &cfg.receivers).unwrap_err();
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines.len(), 2, "{e}");
        assert!(lines[0].starts_with("receivers[team-x].email_configs[0].headers.Subject: template \"nope\" is not defined"), "{e}");
        assert_eq!(
            lines[1],
            "receivers[team-x].email_configs[0].html:1:14: function \"nope\" not defined"
        );
    }
}
