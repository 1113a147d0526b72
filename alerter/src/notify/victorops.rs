//! Alertmanager's VictorOps (Splunk On-Call) integration (notify/victorops): a
//! REST alert POSTed to `{api_url}{api_key}/{routing_key}`, `message_type` as
//! configured while firing (`CRITICAL` unless it renders to INFO, WARNING or
//! CRITICAL) and `RECOVERY` once resolved, the entity id being the hash of the
//! group key. `custom_fields` are added to the alert. 5xx is retried.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::http::{HttpClient, HttpConfig};
use super::integration::{
    BuildContext, DEFAULT_VICTOROPS_API_URL, Fields, IntegrationConfig, IntegrationGlobals,
    check_url, group_key_hash, truncate_runes,
};
use super::send::{Source, post_json};
use super::template::Templates;
use super::{Notification, Notifier, NotifyError, Status};
use config_values::Secret;

const MAX_MESSAGE_RUNES: usize = 20480;
/// Keys the alert sets itself; a custom field may not take them.
const RESERVED: [&str; 7] = [
    "routing_key",
    "message_type",
    "state_message",
    "entity_display_name",
    "monitoring_tool",
    "entity_id",
    "entity_state",
];

/// One entry of a receiver's `victorops_configs`, as Alertmanager defines it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VictoropsConfig {
    #[serde(default)]
    pub send_resolved: Option<bool>,
    #[serde(default)]
    pub http_config: Option<HttpConfig>,
    #[serde(default)]
    pub api_key: Option<Secret>,
    #[serde(default)]
    pub api_key_file: Option<String>,
    #[serde(default)]
    pub api_url: Option<String>,
    #[serde(default)]
    pub routing_key: String,
    #[serde(default)]
    pub message_type: Option<String>,
    #[serde(default)]
    pub state_message: Option<String>,
    #[serde(default)]
    pub entity_display_name: Option<String>,
    #[serde(default)]
    pub monitoring_tool: Option<String>,
    #[serde(default)]
    pub custom_fields: BTreeMap<String, String>,
}

struct Parts {
    message: Fields,
    custom: Fields,
}

fn compile_parts(c: &VictoropsConfig, t: &Templates) -> Result<Parts, Vec<String>> {
    let mut errs = Vec::new();
    let message = Fields::compile(
        t,
        &[
            ("routing_key", Some(&c.routing_key), ""),
            ("message_type", c.message_type.as_deref(), "CRITICAL"),
            (
                "state_message",
                c.state_message.as_deref(),
                r#"{{ template "victorops.default.state_message" . }}"#,
            ),
            (
                "entity_display_name",
                c.entity_display_name.as_deref(),
                r#"{{ template "victorops.default.entity_display_name" . }}"#,
            ),
            (
                "monitoring_tool",
                c.monitoring_tool.as_deref(),
                r#"{{ template "victorops.default.monitoring_tool" . }}"#,
            ),
        ],
    )
    .map_err(|e| errs.extend(e));
    let custom: Vec<(&str, Option<&str>, &str)> = c
        .custom_fields
        .iter()
        .map(|(k, v)| (k.as_str(), Some(v.as_str()), ""))
        .collect();
    let custom = Fields::compile(t, &custom)
        .map_err(|e| errs.extend(e.into_iter().map(|e| format!("custom_fields.{e}"))));
    match (message, custom) {
        (Ok(message), Ok(custom)) if errs.is_empty() => Ok(Parts { message, custom }),
        _ => Err(errs),
    }
}

impl IntegrationConfig for VictoropsConfig {
    const NAME: &'static str = "victorops";
    const SEND_RESOLVED: bool = true;

    fn send_resolved(&self) -> Option<bool> {
        self.send_resolved
    }

    fn http_config(&self) -> Option<&HttpConfig> {
        self.http_config.as_ref()
    }

    fn check(&self, g: &IntegrationGlobals) -> Vec<String> {
        let mut errs = Vec::new();
        if self.routing_key.is_empty() {
            errs.push("missing Routing key in VictorOps config".into());
        }
        if self.api_key.is_some() && self.api_key_file.is_some() {
            errs.push("at most one of api_key & api_key_file must be configured".into());
        }
        for k in RESERVED {
            if self.custom_fields.contains_key(k) {
                errs.push(format!("victorOps config contains custom field {k} which cannot be used as it conflicts with the fixed/static fields"));
            }
        }
        if self.api_key.is_none()
            && self.api_key_file.is_none()
            && g.victorops_api_key.is_none()
            && g.victorops_api_key_file.is_none()
        {
            errs.push("no global VictorOps API Key set".into());
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
        let mut api_url = self
            .api_url
            .clone()
            .or_else(|| g.victorops_api_url.clone())
            .unwrap_or_else(|| DEFAULT_VICTOROPS_API_URL.into());
        // The key and routing key are appended as path segments.
        if !api_url.ends_with('/') {
            api_url.push('/');
        }
        Ok(Arc::new(VictoropsNotifier {
            key: Source::from_pair(self.api_key.as_ref(), self.api_key_file.as_ref())
                .or_else(|| {
                    Source::from_pair(
                        g.victorops_api_key.as_ref(),
                        g.victorops_api_key_file.as_ref(),
                    )
                })
                .ok_or("no global VictorOps API Key set")?,
            api_url,
            parts: compile_parts(self, cx.templates).map_err(|e| e.join("; "))?,
            client: super::send::client(self.http_config.as_ref(), cx.http, cx.base)?,
        }))
    }

    fn secret_files(&self) -> Vec<(&'static str, &str)> {
        [("api_key_file", &self.api_key_file)]
            .into_iter()
            .filter_map(|(key, f)| Some((key, f.as_deref()?)))
            .collect()
    }
}

pub struct VictoropsNotifier {
    key: Source,
    api_url: String,
    parts: Parts,
    client: HttpClient,
}

impl Notifier for VictoropsNotifier {
    fn integration(&self) -> &'static str {
        "victorops"
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let d = &n.data;
            let m = self.parts.message.render(d)?;
            let message_type = match d.status {
                Status::Resolved => "RECOVERY".to_string(),
                Status::Firing => {
                    let t = m.get("message_type");
                    if matches!(t.as_str(), "INFO" | "WARNING" | "CRITICAL") {
                        t
                    } else {
                        "CRITICAL".into()
                    }
                }
            };
            let (state, cut) = truncate_runes(&m.get("state_message"), MAX_MESSAGE_RUNES);
            if cut {
                tracing::warn!(group = %n.group_key, max_runes = MAX_MESSAGE_RUNES, "victorops: truncated state_message");
            }
            let mut body = serde_json::Map::new();
            body.insert("message_type".into(), json!(message_type));
            body.insert("entity_id".into(), json!(group_key_hash(&n.group_key)));
            body.insert(
                "entity_display_name".into(),
                json!(m.get("entity_display_name")),
            );
            body.insert("state_message".into(), json!(state));
            body.insert("monitoring_tool".into(), json!(m.get("monitoring_tool")));
            for (k, v) in self.parts.custom.render(d)?.0 {
                body.insert(k, json!(v));
            }
            let key = self.key.read()?;
            let url = format!("{}{}/{}", self.api_url, key.expose(), m.get("routing_key"));
            post_json(&self.client, &url, &[], &Value::Object(body), None, &[])
                .await
                .map(|_| ())
        })
    }
}
