//! Alertmanager's PagerDuty integration (notify/pagerduty): one event per
//! notification, `trigger` while any alert fires and `resolve` once all are
//! resolved, deduplicated on the hash of the group key. With `routing_key(_file)`
//! it speaks Events API v2 to `url` (default `global.pagerduty_url`), retrying 5xx
//! and 429; with `service_key(_file)` the v1 API, retrying 5xx and 403. The key
//! is itself a template. Details larger than PagerDuty's 512 kB event limit are
//! replaced by a note, as Alertmanager does.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::http::{HttpClient, HttpConfig};
use super::integration::{
    BuildContext, DEFAULT_PAGERDUTY_URL, Fields, IntegrationConfig, IntegrationGlobals, check_url,
    group_key_hash, truncate_runes,
};
use super::send::{Source, post_json};
use super::template::Templates;
use super::{Notification, Notifier, NotifyError, Reason, Status};
use config_values::Secret;

/// Where v1 events go: Alertmanager's fixed endpoint (ours: unless `url` is set).
pub const V1_URL: &str = "https://events.pagerduty.com/generic/2010-04-15/create_event.json";
const MAX_EVENT_BYTES: usize = 512_000;
const MAX_SUMMARY_RUNES: usize = 1024;

/// One entry of a receiver's `pagerduty_configs`, as Alertmanager defines it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerdutyConfig {
    #[serde(default)]
    pub send_resolved: Option<bool>,
    /// Deadline of one POST (newer Alertmanagers); unset or `0`: none.
    #[serde(default)]
    pub timeout: Option<config_values::Duration>,
    #[serde(default)]
    pub http_config: Option<HttpConfig>,
    #[serde(default)]
    pub routing_key: Option<Secret>,
    #[serde(default)]
    pub routing_key_file: Option<String>,
    #[serde(default)]
    pub service_key: Option<Secret>,
    #[serde(default)]
    pub service_key_file: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub client: Option<String>,
    #[serde(default)]
    pub client_url: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub details: BTreeMap<String, String>,
    #[serde(default)]
    pub images: Vec<PagerdutyImage>,
    #[serde(default)]
    pub links: Vec<PagerdutyLink>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub class: Option<String>,
    #[serde(default)]
    pub component: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerdutyImage {
    #[serde(default)]
    pub src: String,
    #[serde(default)]
    pub alt: String,
    #[serde(default)]
    pub href: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerdutyLink {
    #[serde(default)]
    pub href: String,
    #[serde(default)]
    pub text: String,
}

/// The details every event carries unless the entry sets the key itself.
const DEFAULT_DETAILS: [(&str, &str); 4] = [
    (
        "firing",
        r#"{{ template "pagerduty.default.instances" .Alerts.Firing }}"#,
    ),
    (
        "resolved",
        r#"{{ template "pagerduty.default.instances" .Alerts.Resolved }}"#,
    ),
    ("num_firing", "{{ .Alerts.Firing | len }}"),
    ("num_resolved", "{{ .Alerts.Resolved | len }}"),
];

struct Parts {
    message: Fields,
    details: Fields,
    images: Vec<Fields>,
    links: Vec<Fields>,
}

fn compile_parts(c: &PagerdutyConfig, t: &Templates) -> Result<Parts, Vec<String>> {
    let client = c
        .client
        .as_deref()
        .unwrap_or(r#"{{ template "pagerduty.default.client" . }}"#);
    let mut errs = Vec::new();
    let message = Fields::compile(
        t,
        &[
            (
                "description",
                c.description.as_deref(),
                r#"{{ template "pagerduty.default.description" .}}"#,
            ),
            ("client", Some(client), ""),
            (
                "client_url",
                c.client_url.as_deref(),
                r#"{{ template "pagerduty.default.clientURL" . }}"#,
            ),
            // An unset source is the client, as Alertmanager fills it in.
            ("source", c.source.as_deref().or(Some(client)), ""),
            // Events API v2 requires a severity: `error` when none is set.
            (
                "severity",
                c.severity.as_deref().filter(|s| !s.is_empty()),
                "error",
            ),
            ("class", c.class.as_deref(), ""),
            ("component", c.component.as_deref(), ""),
            ("group", c.group.as_deref(), ""),
        ],
    )
    .map_err(|e| errs.extend(e));
    let mut details: Vec<(&str, Option<&str>, &str)> = c
        .details
        .iter()
        .map(|(k, v)| (k.as_str(), Some(v.as_str()), ""))
        .collect();
    for (k, v) in DEFAULT_DETAILS {
        if !c.details.contains_key(k) {
            details.push((k, Some(v), ""));
        }
    }
    let details = Fields::compile(t, &details)
        .map_err(|e| errs.extend(e.into_iter().map(|e| format!("details.{e}"))));
    let mut images = Vec::new();
    for (i, im) in c.images.iter().enumerate() {
        match Fields::compile(
            t,
            &[
                ("src", Some(&im.src), ""),
                ("alt", Some(&im.alt), ""),
                ("href", Some(&im.href), ""),
            ],
        ) {
            Ok(f) => images.push(f),
            Err(e) => errs.extend(e.into_iter().map(|e| format!("images[{i}].{e}"))),
        }
    }
    let mut links = Vec::new();
    for (i, l) in c.links.iter().enumerate() {
        match Fields::compile(
            t,
            &[("href", Some(&l.href), ""), ("text", Some(&l.text), "")],
        ) {
            Ok(f) => links.push(f),
            Err(e) => errs.extend(e.into_iter().map(|e| format!("links[{i}].{e}"))),
        }
    }
    match (message, details) {
        (Ok(message), Ok(details)) if errs.is_empty() => Ok(Parts {
            message,
            details,
            images,
            links,
        }),
        _ => Err(errs),
    }
}

impl IntegrationConfig for PagerdutyConfig {
    const NAME: &'static str = "pagerduty";
    const SEND_RESOLVED: bool = true;

    fn send_resolved(&self) -> Option<bool> {
        self.send_resolved
    }

    fn http_config(&self) -> Option<&HttpConfig> {
        self.http_config.as_ref()
    }

    fn check(&self, _: &IntegrationGlobals) -> Vec<String> {
        let mut errs = Vec::new();
        if self.routing_key.is_none()
            && self.service_key.is_none()
            && self.routing_key_file.is_none()
            && self.service_key_file.is_none()
        {
            errs.push("missing service or routing key in PagerDuty config".into());
        }
        if self.routing_key.is_some() && self.routing_key_file.is_some() {
            errs.push("at most one of routing_key & routing_key_file must be configured".into());
        }
        if self.service_key.is_some() && self.service_key_file.is_some() {
            errs.push("at most one of service_key & service_key_file must be configured".into());
        }
        if let Some(u) = &self.url
            && let Err(e) = check_url(u)
        {
            errs.push(format!("url: {e}"));
        }
        errs
    }

    fn compile(&self, t: &Templates) -> Result<Fields, Vec<String>> {
        compile_parts(self, t).map(|p| p.message)
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Arc<dyn Notifier>, String> {
        // A service key selects v1, as in Alertmanager, even next to a routing key.
        let (version, key) = match (
            Source::from_pair(self.service_key.as_ref(), self.service_key_file.as_ref()),
            Source::from_pair(self.routing_key.as_ref(), self.routing_key_file.as_ref()),
        ) {
            (Some(k), _) => (Version::V1, k),
            (None, Some(k)) => (Version::V2, k),
            (None, None) => return Err("missing service or routing key in PagerDuty config".into()),
        };
        let url = match version {
            Version::V1 => self.url.clone().unwrap_or_else(|| V1_URL.into()),
            Version::V2 => self
                .url
                .clone()
                .or_else(|| cx.globals.pagerduty_url.clone())
                .unwrap_or_else(|| DEFAULT_PAGERDUTY_URL.into()),
        };
        Ok(Arc::new(PagerdutyNotifier {
            version,
            key,
            url,
            parts: compile_parts(self, cx.templates).map_err(|e| e.join("; "))?,
            templates: cx.templates.clone(),
            client: super::send::client(self.http_config.as_ref(), cx.http, cx.base)?,
            timeout: super::integration::timeout(self.timeout),
        }))
    }

    fn secret_files(&self) -> Vec<(&'static str, &str)> {
        [
            ("routing_key_file", &self.routing_key_file),
            ("service_key_file", &self.service_key_file),
        ]
        .into_iter()
        .filter_map(|(key, f)| Some((key, f.as_deref()?)))
        .collect()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

pub struct PagerdutyNotifier {
    version: Version,
    key: Source,
    url: String,
    parts: Parts,
    /// The key is a template too, rendered at send time (a key file may change).
    templates: Templates,
    client: HttpClient,
    timeout: Option<std::time::Duration>,
}

fn template_err(e: String) -> NotifyError {
    NotifyError {
        retryable: false,
        reason: Reason::Template,
        message: e,
    }
}

/// Go's `omitempty` for a string field.
fn put(o: &mut serde_json::Map<String, Value>, k: &str, v: String) {
    if !v.is_empty() {
        o.insert(k.into(), Value::String(v));
    }
}

impl PagerdutyNotifier {
    /// The event, as Alertmanager encodes it (its v1 events carry an empty
    /// `event_action` and a null `payload`, from the shared message type).
    fn event(&self, n: &Notification) -> Result<Value, NotifyError> {
        let d = &n.data;
        let m = self.parts.message.render(d)?;
        let details: serde_json::Map<String, Value> = self
            .parts
            .details
            .render(d)?
            .0
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        let raw_key = self.key.read()?;
        let key = self
            .templates
            .text("key", raw_key.expose())
            .and_then(|t| t.render(d))
            .map_err(template_err)?;
        let action = match d.status {
            Status::Firing => "trigger",
            Status::Resolved => "resolve",
        };
        let (description, cut) = truncate_runes(&m.get("description"), MAX_SUMMARY_RUNES);
        if cut {
            tracing::warn!(group = %n.group_key, max_runes = MAX_SUMMARY_RUNES, "pagerduty: truncated description");
        }
        let mut o = serde_json::Map::new();
        match self.version {
            Version::V1 => {
                if key.is_empty() {
                    return Err(template_err("service key cannot be empty".into()));
                }
                o.insert("service_key".into(), json!(key));
                o.insert("event_type".into(), json!(action));
                o.insert("incident_key".into(), json!(group_key_hash(&n.group_key)));
                put(&mut o, "description", description);
                o.insert("event_action".into(), json!(""));
                o.insert("payload".into(), Value::Null);
                if action == "trigger" {
                    put(&mut o, "client", m.get("client"));
                    put(&mut o, "client_url", m.get("client_url"));
                }
                if !details.is_empty() {
                    o.insert("details".into(), Value::Object(details));
                }
            }
            Version::V2 => {
                if key.is_empty() {
                    return Err(template_err("routing key cannot be empty".into()));
                }
                o.insert("routing_key".into(), json!(key));
                o.insert("dedup_key".into(), json!(group_key_hash(&n.group_key)));
                o.insert("event_action".into(), json!(action));
                let mut p = serde_json::Map::new();
                p.insert("summary".into(), json!(description));
                p.insert("source".into(), json!(m.get("source")));
                p.insert("severity".into(), json!(m.get("severity")));
                put(&mut p, "class", m.get("class"));
                put(&mut p, "component", m.get("component"));
                put(&mut p, "group", m.get("group"));
                if !details.is_empty() {
                    p.insert("custom_details".into(), Value::Object(details));
                }
                o.insert("payload".into(), Value::Object(p));
                put(&mut o, "client", m.get("client"));
                put(&mut o, "client_url", m.get("client_url"));
                let mut images = Vec::new();
                for f in &self.parts.images {
                    let r = f.render(d)?;
                    if !r.get("src").is_empty() {
                        images.push(json!({"src": r.get("src"), "alt": r.get("alt"), "href": r.get("href")}));
                    }
                }
                let mut links = Vec::new();
                for f in &self.parts.links {
                    let r = f.render(d)?;
                    if !r.get("href").is_empty() {
                        links.push(json!({"href": r.get("href"), "text": r.get("text")}));
                    }
                }
                if !images.is_empty() {
                    o.insert("images".into(), Value::Array(images));
                }
                if !links.is_empty() {
                    o.insert("links".into(), Value::Array(links));
                }
            }
        }
        let mut event = Value::Object(o);
        // PagerDuty refuses events over 512 kB: drop the details, say why.
        if serde_json::to_vec(&event).map_or(0, |b| b.len()) > MAX_EVENT_BYTES {
            let note = json!({"error": "Custom details have been removed because the original event exceeds the maximum size of 512kB"});
            tracing::warn!(group = %n.group_key, "pagerduty: event over 512kB, details removed");
            match self.version {
                Version::V1 => event["details"] = note,
                Version::V2 => event["payload"]["custom_details"] = note,
            }
        }
        Ok(event)
    }
}

impl Notifier for PagerdutyNotifier {
    fn integration(&self) -> &'static str {
        "pagerduty"
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let event = self.event(n)?;
            // Rate limiting: 403 for v1, 429 for v2 (PagerDuty's retry advice).
            let retry = match self.version {
                Version::V1 => [403],
                Version::V2 => [429],
            };
            post_json(&self.client, &self.url, &[], &event, self.timeout, &retry)
                .await
                .map(|_| ())
                .map_err(|e| e.context("pagerduty"))
        })
    }
}
