//! What a receiver integration is handed, and the one trait every integration
//! (webhook, email, ...) implements. The data model is Alertmanager's template data,
//! which is also the body of its webhook (see notify/webhook and template/template.go).

pub mod answer;
pub mod discord;
pub mod email;
pub mod http;
pub mod integration;
pub mod jira;
pub mod matrix;
pub mod msteams;
pub mod msteamsv2;
pub mod nflog;
pub mod ntfy;
pub mod opsgenie;
pub mod pagerduty;
pub mod pinned;
pub mod pipeline;
pub mod pushover;
mod reason;
pub mod receivers;
pub mod rocketchat;
pub mod send;
pub mod slack;
pub mod sns;
pub mod stats;
pub mod telegram;
pub mod template;
pub mod victorops;
pub mod webex;
pub mod webhook;
pub mod wechat;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

pub use reason::Reason;

pub type LabelMap = BTreeMap<String, String>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Firing,
    Resolved,
}

/// Go's zero `time.Time`, which Alertmanager reports as a firing alert's `endsAt`.
pub fn zero_time() -> DateTime<Utc> {
    chrono::NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(DateTime::<Utc>::MIN_UTC, |d| d.and_utc())
}

/// Alertmanager's template `Data`: what templates see and what the webhook posts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Data {
    pub receiver: String,
    pub status: Status,
    pub alerts: Vec<AlertData>,
    pub group_labels: LabelMap,
    pub common_labels: LabelMap,
    pub common_annotations: LabelMap,
    #[serde(rename = "externalURL")]
    pub external_url: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertData {
    pub status: Status,
    pub labels: LabelMap,
    pub annotations: LabelMap,
    pub starts_at: DateTime<Utc>,
    /// Alertmanager sends the zero time (0001-01-01T00:00:00Z) for firing alerts.
    pub ends_at: DateTime<Utc>,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    pub fingerprint: String,
}

/// One notification for one aggregation group, as handed to an integration.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    /// The aggregation group's key, e.g. `{}/{severity="critical"}:{alertname="X"}`.
    pub group_key: String,
    pub data: Data,
}

/// Why a delivery failed. `reason`, as [`Reason::as_str`], is the `reason` label
/// of `alertmanager_notifications_failed_total` (e.g. `connect_timeout`, `auth_rejected`).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct NotifyError {
    /// Alertmanager's notifiers say whether an error is worth retrying; so do ours.
    pub retryable: bool,
    pub reason: Reason,
    pub message: String,
}

impl NotifyError {
    /// The same error, its message prefixed with what was being sent.
    #[must_use]
    pub fn context(mut self, what: impl std::fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

/// A receiver integration. Implementations enforce their own deadlines.
pub trait Notifier: Send + Sync {
    /// The integration's name (`email`, `webhook`), used as a metric label.
    fn integration(&self) -> &'static str;

    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>>;
}

#[cfg(test)]
mod tests {
    use super::email::EmailConfig;
    use super::webhook::WebhookConfig;
    use config_values::Duration;

    #[test]
    fn timeouts_are_durations_and_a_bad_one_names_the_key() {
        // Duration's visitor raises the error inside serde_yaml, which prefixes the key.
        let c: EmailConfig = serde_yaml::from_str("timeout: 1s500ms").unwrap();
        assert_eq!(c.timeout, Some(Duration::from_millis(1500)));
        let c: EmailConfig = serde_yaml::from_str("to: a@example.com").unwrap();
        assert_eq!(c.timeout, None);
        let w: WebhookConfig = serde_yaml::from_str("timeout: 0").unwrap();
        assert_eq!(w.timeout, Some(Duration::ZERO));
        let e = serde_yaml::from_str::<EmailConfig>("timeout: 5x")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("timeout: invalid duration \"5x\""), "{e}");
        let e = serde_yaml::from_str::<WebhookConfig>("timeout: 10")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("timeout: invalid duration \"10\""), "{e}");
    }
}
