//! Alertmanager's Slack integration (notify/slack): one message with one
//! attachment, POSTed as JSON to an incoming-webhook `api_url` (or the URL in
//! `api_url_file`, read at each send; else `global.slack_api_url(_file)`), or
//! with a bot token (`app_token(_file)`, newer Alertmanagers) to `app_url`.
//! Every text field is a template with Alertmanager's default; the title is cut
//! at 1024 characters. 5xx is retried, any other failure is not; a JSON answer
//! with `"ok": false` (the Web API's way to fail with 200) is a failure too.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::answer::refused;
use super::http::{HttpClient, HttpConfig};
use super::integration::{
    BuildContext, Fields, IntegrationConfig, IntegrationGlobals, check_pair, check_url,
    truncate_runes,
};
use super::send::{Source, post_json};
use super::template::Templates;
use super::{Notification, Notifier, NotifyError};
use config_values::Secret;

/// Slack's limit on an attachment title, in characters.
const MAX_TITLE_RUNES: usize = 1024;

/// One entry of a receiver's `slack_configs`, as Alertmanager defines it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    #[serde(default)]
    pub send_resolved: Option<bool>,
    #[serde(default)]
    pub http_config: Option<HttpConfig>,
    /// The incoming webhook's URL carries its token: a secret.
    #[serde(default)]
    pub api_url: Option<Secret>,
    #[serde(default)]
    pub api_url_file: Option<String>,
    /// A bot token (Alertmanager 0.28+): sent as `Authorization: Bearer` to `app_url`.
    #[serde(default)]
    pub app_token: Option<Secret>,
    #[serde(default)]
    pub app_token_file: Option<String>,
    /// Default `global.slack_app_url`, else Slack's `chat.postMessage`.
    #[serde(default)]
    pub app_url: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub color: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub title_link: Option<String>,
    #[serde(default)]
    pub pretext: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub fields: Vec<SlackField>,
    #[serde(default)]
    pub short_fields: bool,
    #[serde(default)]
    pub footer: Option<String>,
    #[serde(default)]
    pub fallback: Option<String>,
    #[serde(default)]
    pub callback_id: Option<String>,
    #[serde(default)]
    pub icon_emoji: Option<String>,
    #[serde(default)]
    pub icon_url: Option<String>,
    #[serde(default)]
    pub image_url: Option<String>,
    #[serde(default)]
    pub thumb_url: Option<String>,
    #[serde(default)]
    pub link_names: bool,
    #[serde(default)]
    pub mrkdwn_in: Vec<String>,
    #[serde(default)]
    pub actions: Vec<SlackAction>,
    /// The message's own `text`, outside the attachment (newer Alertmanagers).
    #[serde(default)]
    pub message_text: Option<String>,
    /// Newer Alertmanagers edit the group's previous message; not implemented
    /// here, so `true` is refused rather than ignored.
    #[serde(default)]
    pub update_message: bool,
    /// Deadline of one POST (newer Alertmanagers); unset or `0`: none.
    #[serde(default)]
    pub timeout: Option<config_values::Duration>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackField {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub short: Option<bool>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackAction {
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub style: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub confirm: Option<SlackConfirm>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfirm {
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub ok_text: String,
    #[serde(default)]
    pub dismiss_text: String,
}

/// The message fields and their defaults (Alertmanager's `DefaultSlackConfig`).
fn field_specs(c: &SlackConfig) -> Vec<(&'static str, Option<&str>, &'static str)> {
    vec![
        ("channel", c.channel.as_deref(), ""),
        ("message_text", c.message_text.as_deref(), ""),
        (
            "username",
            c.username.as_deref(),
            r#"{{ template "slack.default.username" . }}"#,
        ),
        (
            "color",
            c.color.as_deref(),
            r#"{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}"#,
        ),
        (
            "title",
            c.title.as_deref(),
            r#"{{ template "slack.default.title" . }}"#,
        ),
        (
            "title_link",
            c.title_link.as_deref(),
            r#"{{ template "slack.default.titlelink" . }}"#,
        ),
        (
            "pretext",
            c.pretext.as_deref(),
            r#"{{ template "slack.default.pretext" . }}"#,
        ),
        (
            "text",
            c.text.as_deref(),
            r#"{{ template "slack.default.text" . }}"#,
        ),
        (
            "footer",
            c.footer.as_deref(),
            r#"{{ template "slack.default.footer" . }}"#,
        ),
        (
            "fallback",
            c.fallback.as_deref(),
            r#"{{ template "slack.default.fallback" . }}"#,
        ),
        (
            "callback_id",
            c.callback_id.as_deref(),
            r#"{{ template "slack.default.callbackid" . }}"#,
        ),
        (
            "icon_emoji",
            c.icon_emoji.as_deref(),
            r#"{{ template "slack.default.iconemoji" . }}"#,
        ),
        (
            "icon_url",
            c.icon_url.as_deref(),
            r#"{{ template "slack.default.iconurl" . }}"#,
        ),
        ("image_url", c.image_url.as_deref(), ""),
        ("thumb_url", c.thumb_url.as_deref(), ""),
    ]
}

/// The fields and actions, compiled: each field as `(title, value, short)`, each
/// action with its templated parts.
struct Parts {
    message: Fields,
    fields: Vec<(Fields, bool)>,
    actions: Vec<(Fields, bool)>,
}

fn compile_parts(c: &SlackConfig, t: &Templates) -> Result<Parts, Vec<String>> {
    let mut errs = Vec::new();
    let message = Fields::compile(t, &field_specs(c)).map_err(|e| errs.extend(e));
    let mut fields = Vec::new();
    for (i, f) in c.fields.iter().enumerate() {
        match Fields::compile(
            t,
            &[("title", Some(&f.title), ""), ("value", Some(&f.value), "")],
        ) {
            Ok(x) => fields.push((x, f.short.unwrap_or(c.short_fields))),
            Err(e) => errs.extend(e.into_iter().map(|e| format!("fields[{i}].{e}"))),
        }
    }
    let mut actions = Vec::new();
    for (i, a) in c.actions.iter().enumerate() {
        // A URL button drops the message-action keys, as Alertmanager does.
        let is_url = !a.url.is_empty();
        let cf = a.confirm.as_ref().filter(|_| !is_url);
        let specs = [
            ("type", Some(a.kind.as_str()), ""),
            ("text", Some(a.text.as_str()), ""),
            ("url", Some(a.url.as_str()), ""),
            ("style", Some(a.style.as_str()), ""),
            ("name", Some(if is_url { "" } else { a.name.as_str() }), ""),
            (
                "value",
                Some(if is_url { "" } else { a.value.as_str() }),
                "",
            ),
            ("confirm.title", cf.map(|c| c.title.as_str()), ""),
            ("confirm.text", cf.map(|c| c.text.as_str()), ""),
            ("confirm.ok_text", cf.map(|c| c.ok_text.as_str()), ""),
            (
                "confirm.dismiss_text",
                cf.map(|c| c.dismiss_text.as_str()),
                "",
            ),
        ];
        match Fields::compile(t, &specs) {
            Ok(x) => actions.push((x, cf.is_some())),
            Err(e) => errs.extend(e.into_iter().map(|e| format!("actions[{i}].{e}"))),
        }
    }
    match message {
        Ok(message) if errs.is_empty() => Ok(Parts {
            message,
            fields,
            actions,
        }),
        _ => Err(errs),
    }
}

impl IntegrationConfig for SlackConfig {
    const NAME: &'static str = "slack";
    const SEND_RESOLVED: bool = false;

    fn send_resolved(&self) -> Option<bool> {
        self.send_resolved
    }

    fn http_config(&self) -> Option<&HttpConfig> {
        self.http_config.as_ref()
    }

    fn check(&self, g: &IntegrationGlobals) -> Vec<String> {
        let mut errs = Vec::new();
        if self.update_message {
            errs.push("update_message: not supported by this alerter (each notification is a new message)".into());
        }
        errs.extend(check_pair(
            "api_url",
            self.api_url.as_ref(),
            self.api_url_file.as_ref(),
            true,
            None,
        ));
        errs.extend(check_pair(
            "app_token",
            self.app_token.as_ref(),
            self.app_token_file.as_ref(),
            false,
            None,
        ));
        let own_url = self.api_url.is_some() || self.api_url_file.is_some();
        let own_token = self.app_token.is_some() || self.app_token_file.is_some();
        if own_url && own_token {
            errs.push(
                "at most one of api_url/api_url_file & app_token/app_token_file must be configured"
                    .into(),
            );
        }
        if own_token
            && self
                .http_config
                .as_ref()
                .is_some_and(|h| h.authorization.is_some())
        {
            errs.push("http authorization can't be set when using Slack App tokens".into());
        }
        if let Some(u) = &self.app_url
            && let Err(e) = check_url(u)
        {
            errs.push(format!("app_url: {e}"));
        }
        if !own_url && !own_token && self.app_token_of(g).is_none() && self.url_of(g).is_none() {
            errs.push("no global Slack API URL set either inline or in a file".into());
        }
        for (i, f) in self.fields.iter().enumerate() {
            if f.title.is_empty() {
                errs.push(format!(
                    "fields[{i}]: missing title in Slack field configuration"
                ));
            }
            if f.value.is_empty() {
                errs.push(format!(
                    "fields[{i}]: missing value in Slack field configuration"
                ));
            }
        }
        for (i, a) in self.actions.iter().enumerate() {
            if a.kind.is_empty() {
                errs.push(format!(
                    "actions[{i}]: missing type in Slack action configuration"
                ));
            }
            if a.text.is_empty() {
                errs.push(format!(
                    "actions[{i}]: missing text in Slack action configuration"
                ));
            }
            if a.url.is_empty() && a.name.is_empty() {
                errs.push(format!(
                    "actions[{i}]: missing name or url in Slack action configuration"
                ));
            }
            if let Some(c) = &a.confirm
                && c.text.is_empty()
            {
                errs.push(format!(
                    "actions[{i}].confirm: missing text in Slack confirmation configuration"
                ));
            }
        }
        errs
    }

    fn compile(&self, t: &Templates) -> Result<Fields, Vec<String>> {
        compile_parts(self, t).map(|p| p.message)
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Arc<dyn Notifier>, String> {
        let g = cx.globals;
        let token = self.app_token_of(g);
        let target = match &token {
            Some(_) => Source::Inline(Secret::new(
                self.app_url
                    .clone()
                    .or_else(|| g.slack_app_url.clone())
                    .unwrap_or_else(|| DEFAULT_APP_URL.into()),
            )),
            None => self
                .url_of(g)
                .ok_or("no global Slack API URL set either inline or in a file")?,
        };
        let parts = compile_parts(self, cx.templates).map_err(|e| e.join("; "))?;
        let client = super::send::client(self.http_config.as_ref(), cx.http, cx.base)?;
        let mrkdwn_in = if self.mrkdwn_in.is_empty() {
            vec!["fallback".into(), "pretext".into(), "text".into()]
        } else {
            self.mrkdwn_in.clone()
        };
        Ok(Arc::new(SlackNotifier {
            target,
            token,
            client,
            parts,
            link_names: self.link_names,
            mrkdwn_in,
            timeout: super::integration::timeout(self.timeout),
        }))
    }

    fn secret_files(&self) -> Vec<(&'static str, &str)> {
        [
            ("api_url_file", &self.api_url_file),
            ("app_token_file", &self.app_token_file),
        ]
        .into_iter()
        .filter_map(|(key, f)| Some((key, f.as_deref()?)))
        .collect()
    }
}

impl SlackConfig {
    /// The webhook URL: the entry's, else the global one.
    fn url_of(&self, g: &IntegrationGlobals) -> Option<Source> {
        Source::from_pair(self.api_url.as_ref(), self.api_url_file.as_ref())
            .or_else(|| Source::from_pair(g.slack_api_url.as_ref(), g.slack_api_url_file.as_ref()))
    }

    /// The bot token: the entry's, else the global one unless the entry has its
    /// own webhook URL or `Authorization` (as Alertmanager decides).
    fn app_token_of(&self, g: &IntegrationGlobals) -> Option<Source> {
        Source::from_pair(self.app_token.as_ref(), self.app_token_file.as_ref()).or_else(|| {
            let own_auth = self
                .http_config
                .as_ref()
                .is_some_and(|h| h.authorization.is_some());
            if own_auth || self.api_url.is_some() || self.api_url_file.is_some() {
                None
            } else {
                Source::from_pair(g.slack_app_token.as_ref(), g.slack_app_token_file.as_ref())
            }
        })
    }
}

/// Alertmanager's default `global.slack_app_url`.
pub const DEFAULT_APP_URL: &str = "https://slack.com/api/chat.postMessage";

pub struct SlackNotifier {
    target: Source,
    /// A bot token, sent as `Authorization: Bearer`.
    token: Option<Source>,
    client: HttpClient,
    parts: Parts,
    link_names: bool,
    mrkdwn_in: Vec<String>,
    timeout: Option<std::time::Duration>,
}

/// Slack's message body, keys as Alertmanager sends them (empty optional keys left out).
#[derive(Serialize)]
struct Message {
    #[serde(skip_serializing_if = "String::is_empty")]
    channel: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    icon_emoji: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    icon_url: String,
    #[serde(skip_serializing_if = "is_false")]
    link_names: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    text: String,
    attachments: [Attachment; 1],
}

#[derive(Serialize)]
struct Attachment {
    #[serde(skip_serializing_if = "String::is_empty")]
    title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    title_link: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pretext: String,
    text: String,
    fallback: String,
    callback_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fields: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    actions: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "String::is_empty")]
    image_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    thumb_url: String,
    footer: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    color: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    mrkdwn_in: Vec<String>,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if signature
fn is_false(b: &bool) -> bool {
    !*b
}

/// A JSON object of the non-empty `(key, value)` pairs (Go's `omitempty`).
fn object(pairs: &[(&str, String)]) -> serde_json::Map<String, serde_json::Value> {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| ((*k).to_string(), serde_json::Value::String(v.clone())))
        .collect()
}

impl SlackNotifier {
    fn message(&self, n: &Notification) -> Result<Message, NotifyError> {
        let d = &n.data;
        let m = self.parts.message.render(d)?;
        let (title, cut) = truncate_runes(&m.get("title"), MAX_TITLE_RUNES);
        if cut {
            tracing::warn!(group = %n.group_key, max_runes = MAX_TITLE_RUNES, "slack: truncated title");
        }
        let mut fields = Vec::new();
        for (f, short) in &self.parts.fields {
            let r = f.render(d)?;
            let mut o = object(&[("title", r.get("title")), ("value", r.get("value"))]);
            o.insert("short".into(), serde_json::Value::Bool(*short));
            fields.push(serde_json::Value::Object(o));
        }
        let mut actions = Vec::new();
        for (a, has_confirm) in &self.parts.actions {
            let r = a.render(d)?;
            let mut o = object(&[
                ("type", r.get("type")),
                ("text", r.get("text")),
                ("url", r.get("url")),
                ("style", r.get("style")),
                ("name", r.get("name")),
                ("value", r.get("value")),
            ]);
            if *has_confirm {
                let c = object(&[
                    ("text", r.get("confirm.text")),
                    ("title", r.get("confirm.title")),
                    ("ok_text", r.get("confirm.ok_text")),
                    ("dismiss_text", r.get("confirm.dismiss_text")),
                ]);
                o.insert("confirm".into(), serde_json::Value::Object(c));
            }
            actions.push(serde_json::Value::Object(o));
        }
        Ok(Message {
            channel: m.get("channel"),
            username: m.get("username"),
            icon_emoji: m.get("icon_emoji"),
            icon_url: m.get("icon_url"),
            link_names: self.link_names,
            text: m.get("message_text"),
            attachments: [Attachment {
                title,
                title_link: m.get("title_link"),
                pretext: m.get("pretext"),
                text: m.get("text"),
                fallback: m.get("fallback"),
                callback_id: m.get("callback_id"),
                fields,
                actions,
                image_url: m.get("image_url"),
                thumb_url: m.get("thumb_url"),
                footer: m.get("footer"),
                color: m.get("color"),
                mrkdwn_in: self.mrkdwn_in.clone(),
            }],
        })
    }
}

/// The Web API answers 200 with `{"ok": false, "error": ...}` when it refuses.
#[derive(Deserialize)]
struct ApiAnswer {
    ok: bool,
    #[serde(default)]
    error: String,
}

impl Notifier for SlackNotifier {
    fn integration(&self) -> &'static str {
        "slack"
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let msg = self.message(n)?;
            let url = self.target.read()?;
            let auth = match &self.token {
                Some(t) => vec![("Authorization", format!("Bearer {}", t.read()?.expose()))],
                None => Vec::new(),
            };
            let answer = post_json(&self.client, url.expose(), &auth, &msg, self.timeout, &[])
                .await
                .map_err(|e| e.context(format_args!("channel {:?}", msg.channel)))?;
            if answer.content_type.starts_with("application/json")
                && let Ok(a) = serde_json::from_str::<ApiAnswer>(&answer.body)
                && !a.ok
            {
                return Err(
                    refused("Slack", &a.error).context(format_args!("channel {:?}", msg.channel))
                );
            }
            Ok(())
        })
    }
}
