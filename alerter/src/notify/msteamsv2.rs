//! Alertmanager's Microsoft Teams integration for Workflows/Power Automate
//! webhooks (notify/msteamsv2, Alertmanager 0.28+): an Adaptive Card with the
//! title as a heading (colored Attention while firing, Good once resolved) and
//! the Markdown text, POSTed to `webhook_url` (or the URL in
//! `webhook_url_file`). 5xx is retried.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::http::{HttpClient, HttpConfig};
use super::integration::{BuildContext, Fields, IntegrationConfig, IntegrationGlobals, check_pair};
use super::send::{Source, post_json};
use super::template::Templates;
use super::{Notification, Notifier, NotifyError, Status};
use config_values::Secret;

/// One entry of a receiver's `msteamsv2_configs`, as Alertmanager defines it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MsteamsV2Config {
    #[serde(default)]
    pub send_resolved: Option<bool>,
    #[serde(default)]
    pub http_config: Option<HttpConfig>,
    /// The webhook URL carries its signature: a secret.
    #[serde(default)]
    pub webhook_url: Option<Secret>,
    #[serde(default)]
    pub webhook_url_file: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
}

impl IntegrationConfig for MsteamsV2Config {
    const NAME: &'static str = "msteamsv2";
    const SEND_RESOLVED: bool = true;

    fn send_resolved(&self) -> Option<bool> {
        self.send_resolved
    }

    fn http_config(&self) -> Option<&HttpConfig> {
        self.http_config.as_ref()
    }

    fn check(&self, _: &IntegrationGlobals) -> Vec<String> {
        check_pair(
            "webhook_url",
            self.webhook_url.as_ref(),
            self.webhook_url_file.as_ref(),
            true,
            Some("one of webhook_url or webhook_url_file must be configured"),
        )
    }

    fn compile(&self, t: &Templates) -> Result<Fields, Vec<String>> {
        Fields::compile(
            t,
            &[
                (
                    "title",
                    self.title.as_deref(),
                    r#"{{ template "msteamsv2.default.title" . }}"#,
                ),
                (
                    "text",
                    self.text.as_deref(),
                    r#"{{ template "msteamsv2.default.text" . }}"#,
                ),
            ],
        )
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Arc<dyn Notifier>, String> {
        Ok(Arc::new(MsteamsV2Notifier {
            target: Source::from_pair(self.webhook_url.as_ref(), self.webhook_url_file.as_ref())
                .ok_or("one of webhook_url or webhook_url_file must be configured")?,
            fields: self.compile(cx.templates).map_err(|e| e.join("; "))?,
            client: super::send::client(self.http_config.as_ref(), cx.http, cx.base)?,
        }))
    }

    fn secret_files(&self) -> Vec<(&'static str, &str)> {
        [("webhook_url_file", &self.webhook_url_file)]
            .into_iter()
            .filter_map(|(key, f)| Some((key, f.as_deref()?)))
            .collect()
    }
}

pub struct MsteamsV2Notifier {
    target: Source,
    fields: Fields,
    client: HttpClient,
}

impl Notifier for MsteamsV2Notifier {
    fn integration(&self) -> &'static str {
        "msteamsv2"
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let f = self.fields.render(&n.data)?;
            let color = match n.data.status {
                Status::Firing => "Attention",
                Status::Resolved => "Good",
            };
            let body = json!({
                "type": "message",
                "attachments": [{
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": null,
                    "content": {
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard",
                        "version": "1.2",
                        "body": [
                            {"type": "TextBlock", "text": f.get("title"), "weight": "Bolder",
                             "size": "Medium", "wrap": true, "style": "heading", "color": color},
                            {"type": "TextBlock", "text": f.get("text"), "wrap": true},
                        ],
                        "msteams": {"width": "full"},
                    },
                }],
            });
            let url = self.target.read()?;
            post_json(&self.client, url.expose(), &[], &body, None, &[])
                .await
                .map(|_| ())
        })
    }
}
