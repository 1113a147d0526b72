//! ntfy (ours; Alertmanager has no ntfy integration): one notification
//! published as JSON to the ntfy server's root (`POST {url}/` with the `topic` in
//! the body, as ntfy's "publish as JSON" documents), with a title, message,
//! priority (1-5 or ntfy's names), tags and a click URL. A token goes as
//! `Authorization: Bearer`. 5xx and 429 (ntfy's rate limit) are retried.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::http::{HttpClient, HttpConfig};
use super::integration::{
    BuildContext, Fields, IntegrationConfig, IntegrationGlobals, check_pair, check_url,
    truncate_bytes,
};
use super::send::{Source, post_json};
use super::template::Templates;
use super::{Notification, Notifier, NotifyError, Reason};
use config_values::Secret;

/// The public server.
pub const DEFAULT_URL: &str = "https://ntfy.sh";
/// ntfy's default message size limit.
const MAX_MESSAGE_BYTES: usize = 4096;

/// One entry of a receiver's `ntfy_configs`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NtfyConfig {
    #[serde(default)]
    pub send_resolved: Option<bool>,
    #[serde(default)]
    pub http_config: Option<HttpConfig>,
    /// The server, default `https://ntfy.sh`.
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub topic: String,
    /// An access token (`tk_...`), sent as `Authorization: Bearer`.
    #[serde(default)]
    pub token: Option<Secret>,
    #[serde(default)]
    pub token_file: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    /// 1-5 or min, low, default, high, max/urgent; default `high` while firing.
    #[serde(default)]
    pub priority: Option<String>,
    /// Comma-separated tags (ntfy shows emoji short codes as emoji).
    #[serde(default)]
    pub tags: Option<String>,
    /// Opened when the notification is tapped; default the alerts page.
    #[serde(default)]
    pub click: Option<String>,
}

/// ntfy's priority names and numbers as the number JSON wants.
fn priority(p: &str) -> Option<u8> {
    match p.trim() {
        "1" | "min" => Some(1),
        "2" | "low" => Some(2),
        "3" | "default" | "" => Some(3),
        "4" | "high" => Some(4),
        "5" | "max" | "urgent" => Some(5),
        _ => None,
    }
}

impl IntegrationConfig for NtfyConfig {
    const NAME: &'static str = "ntfy";
    const SEND_RESOLVED: bool = true;

    fn send_resolved(&self) -> Option<bool> {
        self.send_resolved
    }

    fn http_config(&self) -> Option<&HttpConfig> {
        self.http_config.as_ref()
    }

    fn check(&self, _: &IntegrationGlobals) -> Vec<String> {
        let mut errs = Vec::new();
        if self.topic.is_empty() {
            errs.push("missing topic in ntfy config".into());
        }
        errs.extend(check_pair(
            "token",
            self.token.as_ref(),
            self.token_file.as_ref(),
            false,
            None,
        ));
        if let Some(u) = &self.url
            && let Err(e) = check_url(u)
        {
            errs.push(format!("url: {e}"));
        }
        if let Some(p) = &self.priority
            && !p.contains("{{")
            && priority(p).is_none()
        {
            errs.push(format!(
                "priority: {p:?} is not 1-5 or min, low, default, high, max, urgent"
            ));
        }
        errs
    }

    fn compile(&self, t: &Templates) -> Result<Fields, Vec<String>> {
        Fields::compile(
            t,
            &[
                ("topic", Some(&self.topic), ""),
                (
                    "title",
                    self.title.as_deref(),
                    r#"{{ template "ntfy.default.title" . }}"#,
                ),
                (
                    "message",
                    self.message.as_deref(),
                    r#"{{ template "ntfy.default.message" . }}"#,
                ),
                (
                    "priority",
                    self.priority.as_deref(),
                    r#"{{ if eq .Status "firing" }}high{{ else }}default{{ end }}"#,
                ),
                ("tags", self.tags.as_deref(), ""),
                (
                    "click",
                    self.click.as_deref(),
                    r#"{{ template "__alertmanagerURL" . }}"#,
                ),
            ],
        )
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Arc<dyn Notifier>, String> {
        let url = self.url.as_deref().unwrap_or(DEFAULT_URL);
        Ok(Arc::new(NtfyNotifier {
            url: format!("{}/", url.trim_end_matches('/')),
            token: Source::from_pair(self.token.as_ref(), self.token_file.as_ref()),
            fields: self.compile(cx.templates).map_err(|e| e.join("; "))?,
            client: super::send::client(self.http_config.as_ref(), cx.http, cx.base)?,
        }))
    }

    fn secret_files(&self) -> Vec<(&'static str, &str)> {
        [("token_file", &self.token_file)]
            .into_iter()
            .filter_map(|(key, f)| Some((key, f.as_deref()?)))
            .collect()
    }
}

pub struct NtfyNotifier {
    url: String,
    token: Option<Source>,
    fields: Fields,
    client: HttpClient,
}

impl Notifier for NtfyNotifier {
    fn integration(&self) -> &'static str {
        "ntfy"
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let f = self.fields.render(&n.data)?;
            let p = f.get("priority");
            let prio = priority(&p).ok_or_else(|| NotifyError {
                retryable: false,
                reason: Reason::Template,
                message: format!("ntfy: priority rendered to {p:?}, not 1-5 or a priority name"),
            })?;
            let (message, _) = truncate_bytes(f.get("message").trim(), MAX_MESSAGE_BYTES);
            let mut body = serde_json::Map::new();
            body.insert("topic".into(), json!(f.get("topic")));
            body.insert("title".into(), json!(f.get("title")));
            body.insert("message".into(), json!(message));
            body.insert("priority".into(), json!(prio));
            let tags: Vec<String> = f
                .get("tags")
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect();
            if !tags.is_empty() {
                body.insert("tags".into(), json!(tags));
            }
            let click = f.get("click");
            if !click.is_empty() {
                body.insert("click".into(), json!(click));
            }
            let auth = match &self.token {
                Some(t) => vec![("Authorization", format!("Bearer {}", t.read()?.expose()))],
                None => Vec::new(),
            };
            post_json(
                &self.client,
                &self.url,
                &auth,
                &Value::Object(body),
                None,
                &[429],
            )
            .await
            .map(|_| ())
        })
    }
}
