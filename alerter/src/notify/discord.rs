//! Alertmanager's Discord integration (notify/discord): one embed (title,
//! description, a color for firing, resolved or mixed) POSTed to the
//! `webhook_url` (or the URL in `webhook_url_file`, read at each send). The title
//! is cut at 256 characters and the description at 4096 (Discord's limits). Only
//! 5xx is retried.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::http::{HttpClient, HttpConfig};
use super::integration::{
    BuildContext, Fields, IntegrationConfig, IntegrationGlobals, check_pair, truncate_runes,
};
use super::send::{Source, post_json};
use super::template::Templates;
use super::{Notification, Notifier, NotifyError, Status};
use config_values::Secret;

const MAX_TITLE_RUNES: usize = 256;
const MAX_DESCRIPTION_RUNES: usize = 4096;
/// Embed colors: firing, resolved.
const RED: u32 = 0x0099_2D22;
const GREEN: u32 = 0x002E_CC71;

/// One entry of a receiver's `discord_configs`, as Alertmanager defines it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    #[serde(default)]
    pub send_resolved: Option<bool>,
    #[serde(default)]
    pub http_config: Option<HttpConfig>,
    /// The webhook URL carries its token: a secret.
    #[serde(default)]
    pub webhook_url: Option<Secret>,
    /// Alertmanager 0.26 and later.
    #[serde(default)]
    pub webhook_url_file: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

impl IntegrationConfig for DiscordConfig {
    const NAME: &'static str = "discord";
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
            Some("no discord webhook URL provided"),
        )
    }

    fn compile(&self, t: &Templates) -> Result<Fields, Vec<String>> {
        Fields::compile(
            t,
            &[
                (
                    "title",
                    self.title.as_deref(),
                    r#"{{ template "discord.default.title" . }}"#,
                ),
                (
                    "message",
                    self.message.as_deref(),
                    r#"{{ template "discord.default.message" . }}"#,
                ),
            ],
        )
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Arc<dyn Notifier>, String> {
        Ok(Arc::new(DiscordNotifier {
            target: Source::from_pair(self.webhook_url.as_ref(), self.webhook_url_file.as_ref())
                .ok_or("no discord webhook URL provided")?,
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

pub struct DiscordNotifier {
    target: Source,
    fields: Fields,
    client: HttpClient,
}

impl Notifier for DiscordNotifier {
    fn integration(&self) -> &'static str {
        "discord"
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let f = self.fields.render(&n.data)?;
            let (title, _) = truncate_runes(&f.get("title"), MAX_TITLE_RUNES);
            let (description, _) = truncate_runes(&f.get("message"), MAX_DESCRIPTION_RUNES);
            let color = match n.data.status {
                Status::Firing => RED,
                Status::Resolved => GREEN,
            };
            let body = json!({
                "content": "",
                "embeds": [{"title": title, "description": description, "color": color}],
            });
            let url = self.target.read()?;
            post_json(&self.client, url.expose(), &[], &body, None, &[])
                .await
                .map(|_| ())
        })
    }
}
