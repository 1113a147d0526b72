//! Alertmanager's webhook integration (notify/webhook): POSTs the notification as
//! JSON (`version: "4"`, `groupKey`, `truncatedAlerts` plus the template data) to
//! `url`, or to the URL read from `url_file` at each send. Decides which failures
//! are worth a retry: connection problems and 5xx are, 4xx are not.

use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::answer::{execute, redact};
use super::http::{HttpClient, HttpConfig};
use super::{AlertData, LabelMap, Notification, Notifier, NotifyError, Reason, Status};
use config_values::Secret;

/// One entry of a receiver's `webhook_configs`, as Alertmanager defines it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    #[serde(default)]
    pub send_resolved: Option<bool>,
    /// Often carries a token, so a secret (as in Alertmanager).
    #[serde(default)]
    pub url: Option<Secret>,
    #[serde(default)]
    pub url_file: Option<String>,
    #[serde(default)]
    pub max_alerts: Option<u64>,
    /// Deadline of one POST; unset or `0`: none (the flush deadline still applies).
    #[serde(default)]
    pub timeout: Option<config_values::Duration>,
    /// Unset: `global.http_config`, as Alertmanager.
    #[serde(default)]
    pub http_config: Option<HttpConfig>,
}

/// The body Alertmanager posts (webhook.Message), fields in its order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Message<'a> {
    receiver: &'a str,
    status: Status,
    alerts: &'a [AlertData],
    group_labels: &'a LabelMap,
    common_labels: &'a LabelMap,
    common_annotations: &'a LabelMap,
    #[serde(rename = "externalURL")]
    external_url: &'a str,
    version: &'static str,
    group_key: &'a str,
    truncated_alerts: u64,
}

enum Target {
    Url(Secret),
    File(String),
}

pub struct WebhookNotifier {
    target: Target,
    client: HttpClient,
    max_alerts: u64,
    timeout: Option<Duration>,
}

/// The shared client of integrations without `http_config` (see [`super::http::shared`]).
pub fn http_client() -> Result<reqwest::Client, NotifyError> {
    super::http::shared()
        .map(|c| c.client().clone())
        .map_err(|e| NotifyError {
            retryable: false,
            reason: Reason::HttpClient,
            message: format!("cannot set up the HTTP client: {e}"),
        })
}

impl WebhookNotifier {
    /// From a `webhook_configs` entry (already checked to have `url` or `url_file`),
    /// with `global` the global `http_config` and `base` the config file's directory.
    pub fn from_config(
        c: &WebhookConfig,
        global: Option<&HttpConfig>,
        base: &std::path::Path,
    ) -> Result<WebhookNotifier, String> {
        let target = match (&c.url, &c.url_file) {
            (Some(u), _) => {
                url::Url::parse(u.expose()).map_err(|e| format!("url: invalid URL: {e}"))?;
                Target::Url(u.clone())
            }
            (None, Some(f)) => Target::File(f.clone()),
            (None, None) => return Err("one of url or url_file must be configured".into()),
        };
        let timeout = super::integration::timeout(c.timeout);
        let client = match c.http_config.as_ref().or(global) {
            Some(h) => h.build(base),
            None => super::http::shared(),
        }
        .map_err(|e| format!("http_config: {e}"))?;
        Ok(WebhookNotifier {
            target,
            client,
            max_alerts: c.max_alerts.unwrap_or(0),
            timeout,
        })
    }

    fn url(&self) -> Result<String, NotifyError> {
        match &self.target {
            Target::Url(u) => Ok(u.expose().to_string()),
            Target::File(f) => config_values::read_secret_file(std::path::Path::new(f))
                .map(|s| s.trim().to_string())
                .map_err(|e| NotifyError {
                    retryable: true,
                    reason: Reason::UrlFile,
                    message: format!("cannot read url_file {f}: {e}"),
                }),
        }
    }
}

impl Notifier for WebhookNotifier {
    fn integration(&self) -> &'static str {
        "webhook"
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let d = &n.data;
            let all = d.alerts.len() as u64;
            let keep = if self.max_alerts > 0 && all > self.max_alerts {
                usize::try_from(self.max_alerts).unwrap_or(usize::MAX)
            } else {
                d.alerts.len()
            };
            let msg = Message {
                receiver: &d.receiver,
                status: d.status,
                alerts: &d.alerts[..keep],
                group_labels: &d.group_labels,
                common_labels: &d.common_labels,
                common_annotations: &d.common_annotations,
                external_url: &d.external_url,
                version: "4",
                group_key: &n.group_key,
                truncated_alerts: all - keep as u64,
            };
            let url = self.url()?;
            let mut req = self.client.post(&url).await?.json(&msg);
            if let Some(t) = self.timeout {
                req = req.timeout(t);
            }
            execute(req, &format!("POST {}", redact(&url, true)), &[])
                .await
                .map(|_| ())
        })
    }
}
