//! Alertmanager's Microsoft Teams integration (notify/msteams, Alertmanager 0.26
//! and later): an Office 365 connector MessageCard (title, summary, Markdown
//! text, a theme color for firing or resolved) POSTed to the incoming webhook's
//! `webhook_url` (or the URL in `webhook_url_file`, read at each send). 5xx is
//! retried.

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

/// One entry of a receiver's `msteams_configs`, as Alertmanager defines it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MsteamsConfig {
    #[serde(default)]
    pub send_resolved: Option<bool>,
    #[serde(default)]
    pub http_config: Option<HttpConfig>,
    /// The webhook URL carries its token: a secret.
    #[serde(default)]
    pub webhook_url: Option<Secret>,
    #[serde(default)]
    pub webhook_url_file: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
}

impl IntegrationConfig for MsteamsConfig {
    const NAME: &'static str = "msteams";
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
                    r#"{{ template "msteams.default.title" . }}"#,
                ),
                (
                    "summary",
                    self.summary.as_deref(),
                    r#"{{ template "msteams.default.summary" . }}"#,
                ),
                (
                    "text",
                    self.text.as_deref(),
                    r#"{{ template "msteams.default.text" . }}"#,
                ),
            ],
        )
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Arc<dyn Notifier>, String> {
        Ok(Arc::new(MsteamsNotifier {
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

pub struct MsteamsNotifier {
    target: Source,
    fields: Fields,
    client: HttpClient,
}

impl Notifier for MsteamsNotifier {
    fn integration(&self) -> &'static str {
        "msteams"
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let f = self.fields.render(&n.data)?;
            let color = match n.data.status {
                Status::Firing => "8C1A1A",
                Status::Resolved => "2DC72D",
            };
            // Alertmanager names the card's type `type` (the connector accepts it).
            let body = json!({
                "@context": "http://schema.org/extensions",
                "type": "MessageCard",
                "title": f.get("title"),
                "summary": f.get("summary"),
                "text": f.get("text"),
                "themeColor": color,
            });
            let url = self.target.read()?;
            post_json(&self.client, url.expose(), &[], &body, None, &[])
                .await
                .map(|_| ())
        })
    }
}
