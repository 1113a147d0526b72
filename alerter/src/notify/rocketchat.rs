//! Alertmanager's Rocket.Chat integration (notify/rocketchat, newer
//! Alertmanagers): `chat.postMessage` of the REST API
//! (`POST {api_url}api/v1/chat.postMessage`), authenticated by the
//! `X-Auth-Token` / `X-User-Id` headers, with one attachment like Slack's. The
//! title is cut at 1024 characters. 5xx is retried; a JSON answer without
//! `"success": true` is a failure (retried when unreadable).

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::answer::refused;
use super::http::{HttpClient, HttpConfig};
use super::integration::{
    BuildContext, DEFAULT_ROCKETCHAT_API_URL, Fields, IntegrationConfig, IntegrationGlobals,
    check_url, truncate_runes,
};
use super::send::{Source, post_json};
use super::template::Templates;
use super::{Notification, Notifier, NotifyError, Reason};
use config_values::Secret;

const MAX_TITLE_RUNES: usize = 1024;

/// One entry of a receiver's `rocketchat_configs`, as Alertmanager defines it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RocketchatConfig {
    #[serde(default)]
    pub send_resolved: Option<bool>,
    #[serde(default)]
    pub http_config: Option<HttpConfig>,
    #[serde(default)]
    pub api_url: Option<String>,
    #[serde(default)]
    pub token_id: Option<Secret>,
    #[serde(default)]
    pub token_id_file: Option<String>,
    #[serde(default)]
    pub token: Option<Secret>,
    #[serde(default)]
    pub token_file: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub color: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub title_link: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub fields: Vec<RocketchatField>,
    #[serde(default)]
    pub short_fields: bool,
    #[serde(default)]
    pub emoji: Option<String>,
    #[serde(default)]
    pub icon_url: Option<String>,
    #[serde(default)]
    pub image_url: Option<String>,
    #[serde(default)]
    pub thumb_url: Option<String>,
    /// Accepted as Alertmanager does; Alertmanager does not send it either.
    #[serde(default)]
    pub link_names: bool,
    #[serde(default)]
    pub actions: Vec<RocketchatAction>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RocketchatField {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub short: Option<bool>,
}

/// A button: Alertmanager sends `type`, `text`, `url` and `msg` of it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RocketchatAction {
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub image_url: String,
    #[serde(default)]
    pub is_webview: bool,
    #[serde(default)]
    pub webview_height_ratio: String,
    #[serde(default)]
    pub msg: String,
    #[serde(default)]
    pub msg_in_chat_window: bool,
    #[serde(default)]
    pub msg_processing_type: String,
}

struct Parts {
    message: Fields,
    fields: Vec<(Fields, bool)>,
    actions: Vec<Fields>,
}

fn compile_parts(c: &RocketchatConfig, t: &Templates) -> Result<Parts, Vec<String>> {
    let mut errs = Vec::new();
    let message = Fields::compile(
        t,
        &[
            ("channel", c.channel.as_deref(), ""),
            (
                "color",
                c.color.as_deref(),
                r#"{{ if eq .Status "firing" }}red{{ else }}green{{ end }}"#,
            ),
            (
                "emoji",
                c.emoji.as_deref(),
                r#"{{ template "rocketchat.default.emoji" . }}"#,
            ),
            (
                "icon_url",
                c.icon_url.as_deref(),
                r#"{{ template "rocketchat.default.iconurl" . }}"#,
            ),
            (
                "text",
                c.text.as_deref(),
                r#"{{ template "rocketchat.default.text" . }}"#,
            ),
            (
                "title",
                c.title.as_deref(),
                r#"{{ template "rocketchat.default.title" . }}"#,
            ),
            (
                "title_link",
                c.title_link.as_deref(),
                r#"{{ template "rocketchat.default.titlelink" . }}"#,
            ),
            ("image_url", c.image_url.as_deref(), ""),
            ("thumb_url", c.thumb_url.as_deref(), ""),
        ],
    )
    .map_err(|e| errs.extend(e));
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
        match Fields::compile(
            t,
            &[
                ("text", Some(&a.text), ""),
                ("url", Some(&a.url), ""),
                ("msg", Some(&a.msg), ""),
            ],
        ) {
            Ok(x) => actions.push(x),
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

impl RocketchatConfig {
    fn token_of(&self, g: &IntegrationGlobals) -> Option<Source> {
        Source::from_pair(self.token.as_ref(), self.token_file.as_ref()).or_else(|| {
            Source::from_pair(
                g.rocketchat_token.as_ref(),
                g.rocketchat_token_file.as_ref(),
            )
        })
    }

    fn token_id_of(&self, g: &IntegrationGlobals) -> Option<Source> {
        Source::from_pair(self.token_id.as_ref(), self.token_id_file.as_ref()).or_else(|| {
            Source::from_pair(
                g.rocketchat_token_id.as_ref(),
                g.rocketchat_token_id_file.as_ref(),
            )
        })
    }
}

impl IntegrationConfig for RocketchatConfig {
    const NAME: &'static str = "rocketchat";
    const SEND_RESOLVED: bool = false;

    fn send_resolved(&self) -> Option<bool> {
        self.send_resolved
    }

    fn http_config(&self) -> Option<&HttpConfig> {
        self.http_config.as_ref()
    }

    fn check(&self, g: &IntegrationGlobals) -> Vec<String> {
        let mut errs = Vec::new();
        if self.token.is_some() && self.token_file.is_some() {
            errs.push("at most one of token & token_file must be configured".into());
        }
        if self.token_id.is_some() && self.token_id_file.is_some() {
            errs.push("at most one of token_id & token_id_file must be configured".into());
        }
        if self.token_id_of(g).is_none() {
            errs.push("no global Rocketchat TokenID set either inline or in a file".into());
        }
        if self.token_of(g).is_none() {
            errs.push("no global Rocketchat Token set either inline or in a file".into());
        }
        if let Some(u) = &self.api_url
            && let Err(e) = check_url(u)
        {
            errs.push(format!("api_url: {e}"));
        }
        errs
    }

    fn compile(&self, t: &Templates) -> Result<Fields, Vec<String>> {
        compile_parts(self, t).map(|p| p.message)
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Arc<dyn Notifier>, String> {
        let g = cx.globals;
        let base = self
            .api_url
            .clone()
            .or_else(|| g.rocketchat_api_url.clone())
            .unwrap_or_else(|| DEFAULT_ROCKETCHAT_API_URL.into());
        Ok(Arc::new(RocketchatNotifier {
            url: format!("{}/api/v1/chat.postMessage", base.trim_end_matches('/')),
            token: self
                .token_of(g)
                .ok_or("no global Rocketchat Token set either inline or in a file")?,
            token_id: self
                .token_id_of(g)
                .ok_or("no global Rocketchat TokenID set either inline or in a file")?,
            parts: compile_parts(self, cx.templates).map_err(|e| e.join("; "))?,
            client: super::send::client(self.http_config.as_ref(), cx.http, cx.base)?,
        }))
    }

    fn secret_files(&self) -> Vec<(&'static str, &str)> {
        [
            ("token_file", &self.token_file),
            ("token_id_file", &self.token_id_file),
        ]
        .into_iter()
        .filter_map(|(key, f)| Some((key, f.as_deref()?)))
        .collect()
    }
}

pub struct RocketchatNotifier {
    url: String,
    token: Source,
    token_id: Source,
    parts: Parts,
    client: HttpClient,
}

/// A JSON object of the non-empty `(key, value)` pairs (Go's `omitempty`).
fn object(pairs: &[(&str, String)]) -> serde_json::Map<String, Value> {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| ((*k).to_string(), json!(v)))
        .collect()
}

impl Notifier for RocketchatNotifier {
    fn integration(&self) -> &'static str {
        "rocketchat"
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let d = &n.data;
            let m = self.parts.message.render(d)?;
            let (title, _) = truncate_runes(&m.get("title"), MAX_TITLE_RUNES);
            let mut att = object(&[
                ("title", title),
                ("title_link", m.get("title_link")),
                ("text", m.get("text")),
                ("image_url", m.get("image_url")),
                ("thumb_url", m.get("thumb_url")),
                ("color", m.get("color")),
            ]);
            let mut fields = Vec::new();
            for (f, short) in &self.parts.fields {
                let r = f.render(d)?;
                let mut o = object(&[("title", r.get("title")), ("value", r.get("value"))]);
                o.insert("short".into(), json!(short));
                fields.push(Value::Object(o));
            }
            if !fields.is_empty() {
                att.insert("fields".into(), Value::Array(fields));
            }
            let mut actions = Vec::new();
            for a in &self.parts.actions {
                let r = a.render(d)?;
                // Only buttons exist; the two flags are always sent, as Alertmanager.
                let mut o = object(&[
                    ("type", "button".into()),
                    ("text", r.get("text")),
                    ("url", r.get("url")),
                    ("msg", r.get("msg")),
                ]);
                o.insert("is_webview".into(), json!(false));
                o.insert("msg_in_chat_window".into(), json!(false));
                actions.push(Value::Object(o));
            }
            if !actions.is_empty() {
                att.insert("actions".into(), Value::Array(actions));
            }
            let mut body = object(&[
                ("channel", m.get("channel")),
                ("emoji", m.get("emoji")),
                ("avatar", m.get("icon_url")),
            ]);
            body.insert("attachments".into(), json!([Value::Object(att)]));
            let headers = [
                ("X-Auth-Token", self.token.read()?.expose().to_string()),
                ("X-User-Id", self.token_id.read()?.expose().to_string()),
            ];
            let channel = m.get("channel");
            let answer = post_json(
                &self.client,
                &self.url,
                &headers,
                &Value::Object(body),
                None,
                &[],
            )
            .await
            .map_err(|e| e.context(format_args!("channel {channel:?}")))?;
            match serde_json::from_str::<Value>(&answer.body) {
                Ok(v) if v["success"] == json!(true) => Ok(()),
                Ok(v) => Err(refused("Rocketchat", &v["error"])),
                Err(e) => Err(NotifyError {
                    retryable: true,
                    reason: Reason::RequestError,
                    message: format!("could not read the answer: {e}"),
                }),
            }
            .map_err(|e| e.context(format_args!("channel {channel:?}")))
        })
    }
}
