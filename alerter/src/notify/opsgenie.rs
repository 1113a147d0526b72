//! Alertmanager's Opsgenie integration (notify/opsgenie): while any alert fires,
//! create an alert (`POST {api_url}v2/alerts`, and with `update_alerts` also
//! update its message and description); once all are resolved, close it
//! (`POST {api_url}v2/alerts/{alias}/close?identifierType=alias`). The alias is
//! the hash of the group key, so Opsgenie deduplicates. Authenticated by
//! `Authorization: GenieKey <api_key>`; 5xx and 429 are retried.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::http::{HttpClient, HttpConfig};
use super::integration::{
    BuildContext, DEFAULT_OPSGENIE_API_URL, Fields, IntegrationConfig, IntegrationGlobals,
    check_url, group_key_hash, truncate_runes,
};
use super::send::{Source, send_json};
use super::template::Templates;
use super::{Notification, Notifier, NotifyError, Reason, Status};
use config_values::Secret;

/// Opsgenie's limit on an alert message, in characters.
const MAX_MESSAGE_RUNES: usize = 130;

/// One entry of a receiver's `opsgenie_configs`, as Alertmanager defines it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpsgenieConfig {
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
    pub message: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub details: BTreeMap<String, String>,
    #[serde(default)]
    pub entity: Option<String>,
    #[serde(default)]
    pub responders: Vec<OpsgenieResponder>,
    #[serde(default)]
    pub actions: Option<String>,
    #[serde(default)]
    pub tags: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub priority: Option<String>,
    #[serde(default)]
    pub update_alerts: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpsgenieResponder {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub username: String,
    #[serde(default, rename = "type")]
    pub kind: String,
}

struct Parts {
    message: Fields,
    details: Fields,
    responders: Vec<Fields>,
}

fn compile_parts(c: &OpsgenieConfig, t: &Templates) -> Result<Parts, Vec<String>> {
    let mut errs = Vec::new();
    let message = Fields::compile(
        t,
        &[
            (
                "message",
                c.message.as_deref(),
                r#"{{ template "opsgenie.default.message" . }}"#,
            ),
            (
                "description",
                c.description.as_deref(),
                r#"{{ template "opsgenie.default.description" . }}"#,
            ),
            (
                "source",
                c.source.as_deref(),
                r#"{{ template "opsgenie.default.source" . }}"#,
            ),
            ("entity", c.entity.as_deref(), ""),
            ("actions", c.actions.as_deref(), ""),
            ("tags", c.tags.as_deref(), ""),
            ("note", c.note.as_deref(), ""),
            ("priority", c.priority.as_deref(), ""),
        ],
    )
    .map_err(|e| errs.extend(e));
    let details: Vec<(&str, Option<&str>, &str)> = c
        .details
        .iter()
        .map(|(k, v)| (k.as_str(), Some(v.as_str()), ""))
        .collect();
    let details = Fields::compile(t, &details)
        .map_err(|e| errs.extend(e.into_iter().map(|e| format!("details.{e}"))));
    let mut responders = Vec::new();
    for (i, r) in c.responders.iter().enumerate() {
        match Fields::compile(
            t,
            &[
                ("id", Some(&r.id), ""),
                ("name", Some(&r.name), ""),
                ("username", Some(&r.username), ""),
                ("type", Some(&r.kind), ""),
            ],
        ) {
            Ok(f) => responders.push(f),
            Err(e) => errs.extend(e.into_iter().map(|e| format!("responders[{i}].{e}"))),
        }
    }
    match (message, details) {
        (Ok(message), Ok(details)) if errs.is_empty() => Ok(Parts {
            message,
            details,
            responders,
        }),
        _ => Err(errs),
    }
}

impl IntegrationConfig for OpsgenieConfig {
    const NAME: &'static str = "opsgenie";
    const SEND_RESOLVED: bool = true;

    fn send_resolved(&self) -> Option<bool> {
        self.send_resolved
    }

    fn http_config(&self) -> Option<&HttpConfig> {
        self.http_config.as_ref()
    }

    fn check(&self, g: &IntegrationGlobals) -> Vec<String> {
        let mut errs = Vec::new();
        if self.api_key.is_some() && self.api_key_file.is_some() {
            errs.push("at most one of api_key & api_key_file must be configured".into());
        }
        if self.api_key.is_none()
            && self.api_key_file.is_none()
            && g.opsgenie_api_key.is_none()
            && g.opsgenie_api_key_file.is_none()
        {
            errs.push("no global OpsGenie API Key set either inline or in a file".into());
        }
        if let Some(u) = &self.api_url
            && let Err(e) = check_url(u)
        {
            errs.push(format!("api_url: {e}"));
        }
        for r in &self.responders {
            let shown = format!("{{{} {} {} {}}}", r.id, r.name, r.username, r.kind);
            if r.id.is_empty() && r.username.is_empty() && r.name.is_empty() {
                errs.push(format!("opsGenieConfig responder {shown} has to have at least one of id, username or name specified"));
            }
            // A templated type is checked when rendered; a literal one here.
            if !r.kind.contains("{{")
                && !matches!(
                    r.kind.to_lowercase().as_str(),
                    "team" | "teams" | "user" | "escalation" | "schedule"
                )
            {
                errs.push(format!("opsGenieConfig responder {shown} type does not match valid options ^(team|teams|user|escalation|schedule)$"));
            }
        }
        errs
    }

    fn compile(&self, t: &Templates) -> Result<Fields, Vec<String>> {
        compile_parts(self, t).map(|p| p.message)
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Arc<dyn Notifier>, String> {
        let g = cx.globals;
        let key = Source::from_pair(self.api_key.as_ref(), self.api_key_file.as_ref())
            .or_else(|| {
                Source::from_pair(
                    g.opsgenie_api_key.as_ref(),
                    g.opsgenie_api_key_file.as_ref(),
                )
            })
            .ok_or("no global OpsGenie API Key set either inline or in a file")?;
        let mut api_url = self
            .api_url
            .clone()
            .or_else(|| g.opsgenie_api_url.clone())
            .unwrap_or_else(|| DEFAULT_OPSGENIE_API_URL.into());
        // Paths are appended to it, so it ends in a slash (as Alertmanager makes it).
        let mut u = check_url(&api_url).map_err(|e| format!("api_url: {e}"))?;
        if !u.path().ends_with('/') {
            let p = format!("{}/", u.path());
            u.set_path(&p);
            api_url = u.to_string();
        }
        Ok(Arc::new(OpsgenieNotifier {
            key,
            api_url,
            update_alerts: self.update_alerts,
            parts: compile_parts(self, cx.templates).map_err(|e| e.join("; "))?,
            templates: cx.templates.clone(),
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

pub struct OpsgenieNotifier {
    key: Source,
    api_url: String,
    update_alerts: bool,
    parts: Parts,
    /// The key is a template too.
    templates: Templates,
    client: HttpClient,
}

/// Alertmanager's `safeSplit`: split the trimmed text at `,`, dropping empty parts.
fn split_list(s: &str) -> Vec<String> {
    s.trim()
        .split(',')
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

/// One request of a notification.
struct Call {
    method: reqwest::Method,
    url: String,
    body: Value,
}

impl OpsgenieNotifier {
    fn calls(&self, n: &Notification) -> Result<Vec<Call>, NotifyError> {
        let d = &n.data;
        let m = self.parts.message.render(d)?;
        let alias = group_key_hash(&n.group_key);
        let by_alias = |what: &str| {
            format!(
                "{}v2/alerts/{alias}/{what}?identifierType=alias",
                self.api_url
            )
        };
        if d.status == Status::Resolved {
            return Ok(vec![Call {
                method: reqwest::Method::POST,
                url: by_alias("close"),
                body: json!({"source": m.get("source")}),
            }]);
        }
        let (message, cut) = truncate_runes(&m.get("message"), MAX_MESSAGE_RUNES);
        if cut {
            tracing::warn!(group = %n.group_key, max_runes = MAX_MESSAGE_RUNES, "opsgenie: truncated message");
        }
        // The common labels, then the configured details over them.
        let mut details: serde_json::Map<String, Value> = d
            .common_labels
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        for (k, v) in self.parts.details.render(d)?.0 {
            details.insert(k, json!(v));
        }
        let mut responders = Vec::new();
        for f in &self.parts.responders {
            let r = f.render(d)?;
            let (id, name, username, kind) =
                (r.get("id"), r.get("name"), r.get("username"), r.get("type"));
            // Empty once rendered (say, from a label that is absent): left out.
            if id.is_empty() && name.is_empty() && username.is_empty() && kind.is_empty() {
                continue;
            }
            if kind == "teams" {
                for team in split_list(&name) {
                    responders.push(json!({"name": team, "type": "team"}));
                }
                continue;
            }
            let mut o = serde_json::Map::new();
            for (k, v) in [("id", id), ("name", name), ("username", username)] {
                if !v.is_empty() {
                    o.insert(k.into(), json!(v));
                }
            }
            o.insert("type".into(), json!(kind));
            responders.push(Value::Object(o));
        }
        let mut create = serde_json::Map::new();
        create.insert("alias".into(), json!(alias));
        create.insert("message".into(), json!(message));
        let description = m.get("description");
        if !description.is_empty() {
            create.insert("description".into(), json!(description));
        }
        create.insert("details".into(), Value::Object(details));
        create.insert("source".into(), json!(m.get("source")));
        if !responders.is_empty() {
            create.insert("responders".into(), Value::Array(responders));
        }
        for (k, v) in [("tags", m.get("tags")), ("actions", m.get("actions"))] {
            let list = split_list(&v);
            if !list.is_empty() {
                create.insert(k.into(), json!(list));
            }
        }
        for k in ["note", "priority", "entity"] {
            let v = m.get(k);
            if !v.is_empty() {
                create.insert(k.into(), json!(v));
            }
        }
        let mut calls = vec![Call {
            method: reqwest::Method::POST,
            url: format!("{}v2/alerts", self.api_url),
            body: Value::Object(create),
        }];
        if self.update_alerts {
            let only = |k: &str, v: String| {
                if v.is_empty() {
                    json!({})
                } else {
                    json!({ k: v })
                }
            };
            calls.push(Call {
                method: reqwest::Method::PUT,
                url: by_alias("message"),
                body: only("message", message),
            });
            calls.push(Call {
                method: reqwest::Method::PUT,
                url: by_alias("description"),
                body: only("description", description),
            });
        }
        Ok(calls)
    }
}

impl Notifier for OpsgenieNotifier {
    fn integration(&self) -> &'static str {
        "opsgenie"
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let calls = self.calls(n)?;
            let raw = self.key.read()?;
            let key = self
                .templates
                .text("api_key", raw.expose())
                .and_then(|t| t.render(&n.data))
                .map_err(|e| NotifyError {
                    retryable: false,
                    reason: Reason::Template,
                    message: e,
                })?;
            let auth = [("Authorization", format!("GenieKey {key}"))];
            for c in calls {
                send_json(&self.client, c.method, &c.url, &auth, &c.body, None, &[429])
                    .await
                    .map_err(|e| e.context("opsgenie"))?;
            }
            Ok(())
        })
    }
}
