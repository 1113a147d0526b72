//! Alertmanager's Telegram integration (notify/telegram): the Bot API's
//! `sendMessage` (`POST {api_url}/bot{token}/sendMessage`) to `chat_id`, without
//! link previews. With `parse_mode: HTML` (the default) the message template is
//! rendered with HTML escaping, as Alertmanager does; the text is cut at 4096
//! characters. Alertmanager retries every failure of this integration; so do we.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::http::{HttpClient, HttpConfig};
use super::integration::{
    BuildContext, Fields, IntegrationConfig, IntegrationGlobals, check_pair, check_url,
    truncate_runes,
};
use super::send::{Source, post_json};
use super::template::{HtmlTemplate, Templates, TextTemplate};
use super::{Notification, Notifier, NotifyError, Reason};
use config_values::Secret;

/// Alertmanager's default `global.telegram_api_url`.
pub const DEFAULT_API_URL: &str = "https://api.telegram.org";
const MAX_MESSAGE_RUNES: usize = 4096;
const DEFAULT_MESSAGE: &str = r#"{{ template "telegram.default.message" . }}"#;

/// One entry of a receiver's `telegram_configs`, as Alertmanager defines it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    #[serde(default)]
    pub send_resolved: Option<bool>,
    #[serde(default)]
    pub http_config: Option<HttpConfig>,
    #[serde(default)]
    pub api_url: Option<String>,
    #[serde(default)]
    pub bot_token: Option<Secret>,
    /// Alertmanager 0.26 and later.
    #[serde(default)]
    pub bot_token_file: Option<String>,
    #[serde(default)]
    pub chat_id: i64,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub disable_notifications: bool,
    /// Default `HTML`; `Markdown`, `MarkdownV2` or empty for plain text.
    #[serde(default)]
    pub parse_mode: Option<String>,
    /// A forum topic of the chat (newer Alertmanagers); `0`: none.
    #[serde(default)]
    pub message_thread_id: i64,
}

impl TelegramConfig {
    fn parse_mode(&self) -> &str {
        self.parse_mode.as_deref().unwrap_or("HTML")
    }
}

/// The message template: HTML-escaping under `parse_mode: HTML`.
enum Message {
    Text(TextTemplate),
    Html(HtmlTemplate),
}

impl IntegrationConfig for TelegramConfig {
    const NAME: &'static str = "telegram";
    const SEND_RESOLVED: bool = true;

    fn send_resolved(&self) -> Option<bool> {
        self.send_resolved
    }

    fn http_config(&self) -> Option<&HttpConfig> {
        self.http_config.as_ref()
    }

    fn check(&self, _: &IntegrationGlobals) -> Vec<String> {
        let mut errs = Vec::new();
        errs.extend(check_pair(
            "bot_token",
            self.bot_token.as_ref(),
            self.bot_token_file.as_ref(),
            false,
            Some("missing bot_token on telegram_config"),
        ));
        if self.chat_id == 0 {
            errs.push("missing chat_id on telegram_config".into());
        }
        if !matches!(self.parse_mode(), "" | "Markdown" | "MarkdownV2" | "HTML") {
            errs.push("unknown parse_mode on telegram_config, must be Markdown, MarkdownV2, HTML or empty string".into());
        }
        if let Some(u) = &self.api_url
            && let Err(e) = check_url(u)
        {
            errs.push(format!("api_url: {e}"));
        }
        errs
    }

    fn compile(&self, t: &Templates) -> Result<Fields, Vec<String>> {
        let src = self.message.as_deref().unwrap_or(DEFAULT_MESSAGE);
        if self.parse_mode() == "HTML" {
            t.html("message", src).map_err(|e| vec![e])?;
            return Fields::compile(t, &[]);
        }
        Fields::compile(t, &[("message", Some(src), "")])
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Arc<dyn Notifier>, String> {
        let src = self.message.as_deref().unwrap_or(DEFAULT_MESSAGE);
        let message = if self.parse_mode() == "HTML" {
            Message::Html(cx.templates.html("message", src)?)
        } else {
            Message::Text(cx.templates.text("message", src)?)
        };
        let api_url = self
            .api_url
            .clone()
            .or_else(|| cx.globals.telegram_api_url.clone())
            .unwrap_or_else(|| DEFAULT_API_URL.into());
        Ok(Arc::new(TelegramNotifier {
            token: Source::from_pair(self.bot_token.as_ref(), self.bot_token_file.as_ref())
                .ok_or("missing bot_token on telegram_config")?,
            api_url: api_url.trim_end_matches('/').to_string(),
            chat_id: self.chat_id,
            thread_id: self.message_thread_id,
            message,
            parse_mode: self.parse_mode().to_string(),
            disable_notifications: self.disable_notifications,
            client: super::send::client(self.http_config.as_ref(), cx.http, cx.base)?,
        }))
    }

    fn secret_files(&self) -> Vec<(&'static str, &str)> {
        [("bot_token_file", &self.bot_token_file)]
            .into_iter()
            .filter_map(|(key, f)| Some((key, f.as_deref()?)))
            .collect()
    }
}

pub struct TelegramNotifier {
    token: Source,
    api_url: String,
    chat_id: i64,
    thread_id: i64,
    message: Message,
    parse_mode: String,
    disable_notifications: bool,
    client: HttpClient,
}

impl Notifier for TelegramNotifier {
    fn integration(&self) -> &'static str {
        "telegram"
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let text = match &self.message {
                Message::Text(t) => t.render(&n.data),
                Message::Html(t) => t.render(&n.data),
            }
            .map_err(|e| NotifyError {
                retryable: false,
                reason: Reason::Template,
                message: e,
            })?;
            let (text, cut) = truncate_runes(&text, MAX_MESSAGE_RUNES);
            if cut {
                tracing::warn!(group = %n.group_key, max_runes = MAX_MESSAGE_RUNES, "telegram: truncated message");
            }
            let mut body = serde_json::Map::new();
            body.insert("chat_id".into(), json!(self.chat_id.to_string()));
            body.insert("text".into(), json!(text));
            // As telebot: sent as a string, and only when set.
            if self.thread_id != 0 {
                body.insert(
                    "message_thread_id".into(),
                    json!(self.thread_id.to_string()),
                );
            }
            if !self.parse_mode.is_empty() {
                body.insert("parse_mode".into(), json!(self.parse_mode));
            }
            body.insert("disable_web_page_preview".into(), json!("true"));
            if self.disable_notifications {
                body.insert("disable_notification".into(), json!("true"));
            }
            let token = self.token.read()?;
            let url = format!("{}/bot{}/sendMessage", self.api_url, token.expose());
            let answer = post_json(&self.client, &url, &[], &Value::Object(body), None, &[])
                .await
                .map_err(|mut e| {
                    // Alertmanager retries every Telegram failure.
                    e.retryable = true;
                    e
                })?;
            // The Bot API answers {"ok": false, "description": ...} when it refuses.
            if let Ok(v) = serde_json::from_str::<Value>(&answer.body)
                && v["ok"] == json!(false)
            {
                return Err(NotifyError {
                    retryable: true,
                    reason: Reason::Http4xx,
                    message: format!("telegram: {}", v["description"]),
                });
            }
            Ok(())
        })
    }
}
