//! Alertmanager's Pushover integration (notify/pushover): every parameter in the
//! query of an empty `POST https://api.pushover.net/1/messages.json` (as
//! Alertmanager sends it), priority 2 (emergency, repeated every `retry` until
//! `expire`) while firing and 0 once resolved by default. Title, message and URL
//! are cut at Pushover's limits (250, 1024, 512 characters); an empty message is
//! sent as "(no details)". 5xx is retried.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::answer::execute;
use super::http::{HttpClient, HttpConfig};
use super::integration::{
    BuildContext, Fields, IntegrationConfig, IntegrationGlobals, Rendered, truncate_runes,
};
use super::send::Source;
use super::template::{HtmlTemplate, Templates};
use super::{Notification, Notifier, NotifyError, Reason};
use config_values::{Duration, Secret};

/// Pushover's message endpoint (fixed in Alertmanager too).
pub const API_URL: &str = "https://api.pushover.net/1/messages.json";

/// One entry of a receiver's `pushover_configs`, as Alertmanager defines it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushoverConfig {
    #[serde(default)]
    pub send_resolved: Option<bool>,
    #[serde(default)]
    pub http_config: Option<HttpConfig>,
    #[serde(default)]
    pub user_key: Option<Secret>,
    /// Alertmanager 0.26 and later.
    #[serde(default)]
    pub user_key_file: Option<String>,
    #[serde(default)]
    pub token: Option<Secret>,
    /// Alertmanager 0.26 and later.
    #[serde(default)]
    pub token_file: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub url_title: Option<String>,
    #[serde(default)]
    pub sound: Option<String>,
    #[serde(default)]
    pub priority: Option<String>,
    /// Default 1m.
    #[serde(default)]
    pub retry: Option<Duration>,
    /// Default 1h.
    #[serde(default)]
    pub expire: Option<Duration>,
    /// The message is HTML (rendered with HTML escaping).
    #[serde(default)]
    pub html: bool,
}

const DEFAULT_MESSAGE: &str = r#"{{ template "pushover.default.message" . }}"#;

impl IntegrationConfig for PushoverConfig {
    const NAME: &'static str = "pushover";
    const SEND_RESOLVED: bool = true;

    fn send_resolved(&self) -> Option<bool> {
        self.send_resolved
    }

    fn http_config(&self) -> Option<&HttpConfig> {
        self.http_config.as_ref()
    }

    fn check(&self, _: &IntegrationGlobals) -> Vec<String> {
        let mut errs = Vec::new();
        for (what, inline, file) in [
            (
                "user key",
                self.user_key.is_some(),
                self.user_key_file.is_some(),
            ),
            ("token", self.token.is_some(), self.token_file.is_some()),
        ] {
            if !inline && !file {
                errs.push(format!("missing {what} in Pushover config"));
            }
        }
        if self.user_key.is_some() && self.user_key_file.is_some() {
            errs.push("at most one of user_key & user_key_file must be configured".into());
        }
        if self.token.is_some() && self.token_file.is_some() {
            errs.push("at most one of token & token_file must be configured".into());
        }
        errs
    }

    fn compile(&self, t: &Templates) -> Result<Fields, Vec<String>> {
        if self.html {
            t.html(
                "message",
                self.message.as_deref().unwrap_or(DEFAULT_MESSAGE),
            )
            .map_err(|e| vec![e])?;
        }
        Fields::compile(
            t,
            &[
                (
                    "title",
                    self.title.as_deref(),
                    r#"{{ template "pushover.default.title" . }}"#,
                ),
                ("message", self.message.as_deref(), DEFAULT_MESSAGE),
                (
                    "url",
                    self.url.as_deref(),
                    r#"{{ template "pushover.default.url" . }}"#,
                ),
                ("url_title", self.url_title.as_deref(), ""),
                (
                    "priority",
                    self.priority.as_deref(),
                    r#"{{ if eq .Status "firing" }}2{{ else }}0{{ end }}"#,
                ),
                ("sound", self.sound.as_deref(), ""),
            ],
        )
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Arc<dyn Notifier>, String> {
        let html = if self.html {
            Some(cx.templates.html(
                "message",
                self.message.as_deref().unwrap_or(DEFAULT_MESSAGE),
            )?)
        } else {
            None
        };
        Ok(Arc::new(PushoverNotifier {
            user: Source::from_pair(self.user_key.as_ref(), self.user_key_file.as_ref())
                .ok_or("missing user key in Pushover config")?,
            token: Source::from_pair(self.token.as_ref(), self.token_file.as_ref())
                .ok_or("missing token in Pushover config")?,
            fields: self.compile(cx.templates).map_err(|e| e.join("; "))?,
            html,
            retry_secs: self.retry.map_or(60, |d| d.as_std().as_secs()),
            expire_secs: self.expire.map_or(3600, |d| d.as_std().as_secs()),
            templates: cx.templates.clone(),
            client: super::send::client(self.http_config.as_ref(), cx.http, cx.base)?,
        }))
    }

    fn secret_files(&self) -> Vec<(&'static str, &str)> {
        [
            ("user_key_file", &self.user_key_file),
            ("token_file", &self.token_file),
        ]
        .into_iter()
        .filter_map(|(key, f)| Some((key, f.as_deref()?)))
        .collect()
    }
}

pub struct PushoverNotifier {
    user: Source,
    token: Source,
    fields: Fields,
    html: Option<HtmlTemplate>,
    retry_secs: u64,
    expire_secs: u64,
    /// The user key and token are templates too.
    templates: Templates,
    client: HttpClient,
}

/// The query parameters of one message, sorted by name as Go's `url.Values`
/// encodes them: `(token, user)` already rendered, `f` the rendered fields,
/// `html_message` the message when `html` is on.
pub fn params(
    token: &str,
    user: &str,
    f: &Rendered,
    html_message: Option<String>,
    retry_secs: u64,
    expire_secs: u64,
) -> Vec<(&'static str, String)> {
    let (title, _) = truncate_runes(&f.get("title"), 250);
    let is_html = html_message.is_some();
    let message = html_message.unwrap_or_else(|| f.get("message"));
    let (message, _) = truncate_runes(&message, 1024);
    let message = match message.trim() {
        "" => "(no details)".to_string(),
        m => m.to_string(),
    };
    let (url, _) = truncate_runes(&f.get("url"), 512);
    let mut p = vec![
        ("token", token.to_string()),
        ("user", user.to_string()),
        ("title", title),
        ("message", message),
        ("url", url),
        ("url_title", f.get("url_title")),
        ("priority", f.get("priority")),
        ("retry", retry_secs.to_string()),
        ("expire", expire_secs.to_string()),
        ("sound", f.get("sound")),
    ];
    if is_html {
        p.push(("html", "1".into()));
    }
    p.sort_by_key(|(k, _)| *k);
    p
}

impl Notifier for PushoverNotifier {
    fn integration(&self) -> &'static str {
        "pushover"
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let template_err = |e: String| NotifyError {
                retryable: false,
                reason: Reason::Template,
                message: e,
            };
            let f = self.fields.render(&n.data)?;
            let html = match &self.html {
                Some(t) => Some(t.render(&n.data).map_err(template_err)?),
                None => None,
            };
            let render = |field: &str, s: &Secret| {
                self.templates
                    .text(field, s.expose())
                    .and_then(|t| t.render(&n.data))
                    .map_err(template_err)
            };
            let token = render("token", &self.token.read()?)?;
            let user = render("user_key", &self.user.read()?)?;
            let mut url = url::Url::parse(API_URL).map_err(|e| template_err(e.to_string()))?;
            url.query_pairs_mut().extend_pairs(params(
                &token,
                &user,
                &f,
                html,
                self.retry_secs,
                self.expire_secs,
            ));
            let req = self
                .client
                .post(url.as_str())
                .await?
                .header(reqwest::header::CONTENT_TYPE, "text/plain");
            // The URL carries the token: never shown.
            execute(req, &format!("pushover: POST {API_URL}"), &[])
                .await
                .map(|_| ())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::{AlertData, Data, Status, zero_time};

    fn data(status: Status) -> Data {
        let labels = |p: &[(&str, &str)]| {
            p.iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect()
        };
        Data {
            receiver: "phone".into(),
            status,
            alerts: vec![AlertData {
                status,
                labels: labels(&[("alertname", "Down"), ("job", "api")]),
                annotations: labels(&[("summary", "api <down>")]),
                starts_at: chrono::DateTime::UNIX_EPOCH,
                ends_at: zero_time(),
                generator_url: "http://prom/g".into(),
                fingerprint: "f".into(),
            }],
            group_labels: labels(&[("alertname", "Down")]),
            common_labels: labels(&[("alertname", "Down"), ("job", "api")]),
            common_annotations: labels(&[("summary", "api <down>")]),
            external_url: "http://am:9093".into(),
        }
    }

    /// The parameters of Pushover's message API (https://pushover.net/api):
    /// token, user, title, message, url, url_title, priority, retry, expire,
    /// sound (html when set), with Alertmanager's defaults rendered.
    #[test]
    fn documented_parameters_with_alertmanagers_defaults() {
        let c: PushoverConfig = serde_yaml::from_str("user_key: u\ntoken: t").unwrap();
        let t = Templates::builtin();
        let f = c
            .compile(&t)
            .unwrap()
            .render(&data(Status::Firing))
            .unwrap();
        let p = params("t", "u", &f, None, 60, 3600);
        let get = |k: &str| p.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        let names: Vec<&str> = p.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            names,
            [
                "expire",
                "message",
                "priority",
                "retry",
                "sound",
                "title",
                "token",
                "url",
                "url_title",
                "user"
            ]
        );
        assert_eq!(get("title"), Some("[FIRING:1] Down (api)"));
        assert_eq!(
            get("message"),
            Some(
                "api <down>\n\nAlerts Firing:\nLabels:\n - alertname = Down\n - job = api\n\
                 Annotations:\n - summary = api <down>\nSource: http://prom/g"
            )
        );
        assert_eq!(get("url"), Some("http://am:9093/#/alerts?receiver=phone"));
        assert_eq!(get("priority"), Some("2"));
        assert_eq!(get("retry"), Some("60"));
        assert_eq!(get("expire"), Some("3600"));
        let f = c
            .compile(&t)
            .unwrap()
            .render(&data(Status::Resolved))
            .unwrap();
        let p = params("t", "u", &f, Some("<b>x</b>".into()), 30, 60);
        assert!(p.contains(&("priority", "0".into())), "{p:?}");
        assert!(p.contains(&("html", "1".into())), "{p:?}");
        assert!(p.contains(&("message", "<b>x</b>".into())), "{p:?}");
    }

    #[test]
    fn an_empty_message_is_sent_as_no_details() {
        let c: PushoverConfig =
            serde_yaml::from_str("user_key: u\ntoken: t\nmessage: '  '").unwrap();
        let f = c
            .compile(&Templates::builtin())
            .unwrap()
            .render(&data(Status::Firing))
            .unwrap();
        let p = params("t", "u", &f, None, 60, 3600);
        assert!(p.contains(&("message", "(no details)".into())), "{p:?}");
    }
}
