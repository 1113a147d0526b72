//! Alertmanager's Webex integration (notify/webex): the message as Markdown
//! POSTed to `api_url` (default `global.webex_api_url`) for `room_id`, the bot
//! token in `http_config.authorization` (required). The message is cut at 7439
//! bytes, Webex's limit; 5xx is retried.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::http::{HttpClient, HttpConfig};
use super::integration::{
    BuildContext, Fields, IntegrationConfig, IntegrationGlobals, check_url, truncate_bytes,
};
use super::send::post_json;
use super::template::Templates;
use super::{Notification, Notifier, NotifyError};

/// Alertmanager's default `global.webex_api_url`.
pub const DEFAULT_API_URL: &str = "https://webexapis.com/v1/messages";
const MAX_MESSAGE_BYTES: usize = 7439;

/// One entry of a receiver's `webex_configs`, as Alertmanager defines it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebexConfig {
    #[serde(default)]
    pub send_resolved: Option<bool>,
    #[serde(default)]
    pub http_config: Option<HttpConfig>,
    #[serde(default)]
    pub api_url: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub room_id: String,
}

impl IntegrationConfig for WebexConfig {
    const NAME: &'static str = "webex";
    const SEND_RESOLVED: bool = true;

    fn send_resolved(&self) -> Option<bool> {
        self.send_resolved
    }

    fn http_config(&self) -> Option<&HttpConfig> {
        self.http_config.as_ref()
    }

    fn check(&self, _: &IntegrationGlobals) -> Vec<String> {
        let mut errs = Vec::new();
        if self.room_id.is_empty() {
            errs.push("missing room_id on webex_config".into());
        }
        // The entry's own http_config: the global one does not count (as 0.25).
        if self
            .http_config
            .as_ref()
            .is_none_or(|h| h.authorization.is_none())
        {
            errs.push("missing webex_configs.http_config.authorization".into());
        }
        if let Some(u) = &self.api_url
            && let Err(e) = check_url(u)
        {
            errs.push(format!("api_url: {e}"));
        }
        errs
    }

    fn compile(&self, t: &Templates) -> Result<Fields, Vec<String>> {
        Fields::compile(
            t,
            &[(
                "message",
                self.message.as_deref(),
                r#"{{ template "webex.default.message" . }}"#,
            )],
        )
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Arc<dyn Notifier>, String> {
        Ok(Arc::new(WebexNotifier {
            url: self
                .api_url
                .clone()
                .or_else(|| cx.globals.webex_api_url.clone())
                .unwrap_or_else(|| DEFAULT_API_URL.into()),
            room_id: self.room_id.clone(),
            fields: self.compile(cx.templates).map_err(|e| e.join("; "))?,
            client: super::send::client(self.http_config.as_ref(), cx.http, cx.base)?,
        }))
    }
}

pub struct WebexNotifier {
    url: String,
    room_id: String,
    fields: Fields,
    client: HttpClient,
}

impl Notifier for WebexNotifier {
    fn integration(&self) -> &'static str {
        "webex"
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let f = self.fields.render(&n.data)?;
            let (message, _) = truncate_bytes(&f.get("message"), MAX_MESSAGE_BYTES);
            let body = json!({"markdown": message, "roomId": self.room_id});
            post_json(&self.client, &self.url, &[], &body, None, &[])
                .await
                .map(|_| ())
        })
    }
}
