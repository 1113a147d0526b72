//! Alertmanager's Jira integration (notify/jira, 0.28+): one issue per alert
//! group, found again by its `ALERT{<group key hash>}` label. Each notification
//! searches for the group's issue by JQL; without one it creates it (never for a
//! resolved group), with one it updates it (`PUT issue/<key>`), then moves it
//! through `resolve_transition` once the group is resolved, or
//! `reopen_transition` when it fires again after being done (found only within
//! `reopen_duration`, and never when resolved as `wont_fix_resolution`). The
//! description is a string for the REST v2 API (Data Center) and Atlassian
//! Document Format JSON for v3 (Cloud). 5xx and 429 are retried; as in
//! Alertmanager, a request that gets no answer at all is not.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::answer::execute;
use super::http::{HttpClient, HttpConfig};
use super::integration::{
    BuildContext, Fields, IntegrationConfig, IntegrationGlobals, check_url, group_key_hash,
    truncate_runes,
};
use super::template::{Templates, TextTemplate};
use super::{Notification, Notifier, NotifyError, Reason, Status};

const MAX_SUMMARY_RUNES: usize = 255;
const MAX_DESCRIPTION_RUNES: usize = 32767;

/// One entry of a receiver's `jira_configs`, as Alertmanager defines it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JiraConfig {
    #[serde(default)]
    pub send_resolved: Option<bool>,
    #[serde(default)]
    pub http_config: Option<HttpConfig>,
    #[serde(default)]
    pub api_url: Option<String>,
    /// `auto` (the default), `cloud` or `datacenter`: which search endpoint.
    #[serde(default)]
    pub api_type: Option<String>,
    #[serde(default)]
    pub project: String,
    #[serde(default)]
    pub summary: Option<JiraField>,
    #[serde(default)]
    pub description: Option<JiraField>,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub priority: Option<String>,
    #[serde(default)]
    pub issue_type: String,
    #[serde(default)]
    pub reopen_transition: String,
    #[serde(default)]
    pub resolve_transition: String,
    #[serde(default)]
    pub wont_fix_resolution: String,
    #[serde(default)]
    pub reopen_duration: Option<config_values::Duration>,
    /// Custom fields (`customfield_10000: ...`), merged into the issue's fields;
    /// every string in them, keys included, is a template. Alertmanager reads
    /// this key as `fields` (its JSON name is `custom_fields`).
    #[serde(default)]
    pub fields: BTreeMap<String, Value>,
}

/// `summary` / `description`: a template, or (newer Alertmanagers) the template
/// with whether an update of the issue rewrites the field.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum JiraField {
    Template(String),
    Full(JiraFieldFull),
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JiraFieldFull {
    #[serde(default)]
    pub template: Option<String>,
    #[serde(default)]
    pub enable_update: Option<bool>,
}

impl JiraField {
    fn template(&self) -> Option<&str> {
        match self {
            JiraField::Template(s) => Some(s),
            JiraField::Full(f) => f.template.as_deref(),
        }
    }

    fn enable_update(f: Option<&Self>) -> bool {
        match f {
            Some(JiraField::Full(f)) => f.enable_update.unwrap_or(true),
            _ => true,
        }
    }
}

/// A custom field value with its strings compiled.
enum Tree {
    Text(TextTemplate),
    List(Vec<Tree>),
    Map(Vec<(TextTemplate, Tree)>),
    Literal(Value),
}

fn compile_tree(t: &Templates, at: &str, v: &Value, errs: &mut Vec<String>) -> Tree {
    let mut text = |s: &str| match t.text(at, s) {
        Ok(x) => Some(x),
        Err(e) => {
            errs.push(e);
            None
        }
    };
    match v {
        Value::String(s) => text(s).map_or(Tree::Literal(Value::Null), Tree::Text),
        Value::Array(a) => Tree::List(
            a.iter()
                .enumerate()
                .map(|(i, x)| compile_tree(t, &format!("{at}[{i}]"), x, errs))
                .collect(),
        ),
        Value::Object(m) => {
            let mut out = Vec::new();
            for (k, x) in m {
                let key = t.text(at, k).map_err(|e| errs.push(e)).ok();
                let val = compile_tree(t, &format!("{at}.{k}"), x, errs);
                if let Some(key) = key {
                    out.push((key, val));
                }
            }
            Tree::Map(out)
        }
        other => Tree::Literal(other.clone()),
    }
}

/// Alertmanager's `DeepCopyWithTemplate`: a rendered string that reads as YAML
/// of another kind (a number, a list, a map, empty) is sent as that value.
fn render_tree(tree: &Tree, d: &gotmpl::Value) -> Result<Value, String> {
    Ok(match tree {
        Tree::Text(t) => {
            let s = t.render_value(d)?;
            match serde_yaml::from_str::<Value>(&s) {
                Ok(Value::String(_)) | Err(_) => Value::String(s),
                Ok(v) => v,
            }
        }
        Tree::List(l) => Value::Array(
            l.iter()
                .map(|x| render_tree(x, d))
                .collect::<Result<_, _>>()?,
        ),
        Tree::Map(m) => {
            let mut out = serde_json::Map::new();
            for (k, x) in m {
                out.insert(k.render_value(d)?, render_tree(x, d)?);
            }
            Value::Object(out)
        }
        Tree::Literal(v) => v.clone(),
    })
}

struct Parts {
    fields: Fields,
    labels: Fields,
    custom: Vec<(TextTemplate, Tree)>,
}

fn compile_parts(c: &JiraConfig, t: &Templates) -> Result<Parts, Vec<String>> {
    let mut errs = Vec::new();
    let fields = Fields::compile(
        t,
        &[
            (
                "summary",
                c.summary.as_ref().and_then(JiraField::template),
                r#"{{ template "jira.default.summary" . }}"#,
            ),
            (
                "description",
                c.description.as_ref().and_then(JiraField::template),
                r#"{{ template "jira.default.description" . }}"#,
            ),
            (
                "priority",
                c.priority.as_deref(),
                r#"{{ template "jira.default.priority" . }}"#,
            ),
            ("project", Some(&c.project), ""),
            ("issue_type", Some(&c.issue_type), ""),
        ],
    )
    .map_err(|e| errs.extend(e));
    let names: Vec<String> = (0..c.labels.len())
        .map(|i| format!("labels[{i}]"))
        .collect();
    let specs: Vec<(&str, Option<&str>, &str)> = names
        .iter()
        .zip(&c.labels)
        .map(|(n, l)| (n.as_str(), Some(l.as_str()), ""))
        .collect();
    let labels = Fields::compile(t, &specs).map_err(|e| errs.extend(e));
    let mut custom = Vec::new();
    for (k, v) in &c.fields {
        let at = format!("fields.{k}");
        let key = t.text(&at, k).map_err(|e| errs.push(e)).ok();
        let val = compile_tree(t, &at, v, &mut errs);
        custom.extend(key.map(|k| (k, val)));
    }
    match (fields, labels) {
        (Ok(fields), Ok(labels)) if errs.is_empty() => Ok(Parts {
            fields,
            labels,
            custom,
        }),
        _ => Err(errs),
    }
}

impl IntegrationConfig for JiraConfig {
    const NAME: &'static str = "jira";
    const SEND_RESOLVED: bool = true;

    fn send_resolved(&self) -> Option<bool> {
        self.send_resolved
    }

    fn http_config(&self) -> Option<&HttpConfig> {
        self.http_config.as_ref()
    }

    fn check(&self, g: &IntegrationGlobals) -> Vec<String> {
        let mut errs = Vec::new();
        if self.project.is_empty() {
            errs.push("missing project in jira_config".into());
        }
        if self.issue_type.is_empty() {
            errs.push("missing issue_type in jira_config".into());
        }
        if !matches!(
            self.api_type.as_deref().unwrap_or("auto"),
            "auto" | "cloud" | "datacenter"
        ) {
            errs.push("unknown api_type on jira_config, must be auto, cloud or datacenter".into());
        }
        match &self.api_url {
            Some(u) => {
                if let Err(e) = check_url(u) {
                    errs.push(format!("api_url: {e}"));
                }
            }
            None if g.jira_api_url.is_none() => errs.push("no global Jira Cloud URL set".into()),
            None => {}
        }
        errs
    }

    fn compile(&self, t: &Templates) -> Result<Fields, Vec<String>> {
        compile_parts(self, t).map(|p| p.fields)
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Arc<dyn Notifier>, String> {
        let raw = self
            .api_url
            .clone()
            .or_else(|| cx.globals.jira_api_url.clone())
            .ok_or("no global Jira Cloud URL set")?;
        let api_url = check_url(&raw).map_err(|e| format!("api_url: {e}"))?;
        let api_type = self.api_type.as_deref().unwrap_or("auto");
        let search_url = search_url(&api_url, api_type);
        Ok(Arc::new(JiraNotifier {
            v3: api_url.path().trim_end_matches('/').ends_with("/3"),
            api_url,
            search_url,
            reopen_minutes: self
                .reopen_duration
                .map_or(0, |d| d.as_std().as_secs() / 60),
            reopen_transition: self.reopen_transition.clone(),
            resolve_transition: self.resolve_transition.clone(),
            wont_fix_resolution: self.wont_fix_resolution.clone(),
            update_summary: JiraField::enable_update(self.summary.as_ref()),
            update_description: JiraField::enable_update(self.description.as_ref()),
            parts: compile_parts(self, cx.templates).map_err(|e| e.join("; "))?,
            client: super::send::client(self.http_config.as_ref(), cx.http, cx.base)?,
        }))
    }
}

/// Go's `URL.JoinPath` for the relative paths used here.
fn join(base: &url::Url, path: &str) -> String {
    let mut u = base.clone();
    let p = format!("{}/{path}", base.path().trim_end_matches('/'));
    u.set_path(&p);
    u.to_string()
}

/// Jira Cloud dropped the v2 `search` endpoint for v3's `search/jql`, which Data
/// Center lacks: `cloud` (or `auto` on an atlassian.net host) uses the latter.
fn search_url(api: &url::Url, api_type: &str) -> String {
    let cloud = api_type == "cloud"
        || (api_type == "auto" && api.host_str().is_some_and(|h| h.ends_with("atlassian.net")));
    if cloud {
        join(api, "search/jql").replacen("/rest/api/2/", "/rest/api/3/", 1)
    } else {
        join(api, "search")
    }
}

/// Go's `%q` for the JQL strings Alertmanager quotes.
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// Plain text as an Atlassian Document Format document: one paragraph, its
/// lines joined by hard breaks (ADF allows no empty text node).
fn adf(text: &str) -> Value {
    let mut content = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            content.push(json!({"type": "hardBreak"}));
        }
        if !line.is_empty() {
            content.push(json!({"type": "text", "text": line}));
        }
    }
    json!({"type": "doc", "version": 1,
           "content": [{"type": "paragraph", "content": content}]})
}

pub struct JiraNotifier {
    api_url: url::Url,
    search_url: String,
    v3: bool,
    reopen_minutes: u64,
    reopen_transition: String,
    resolve_transition: String,
    wont_fix_resolution: String,
    update_summary: bool,
    update_description: bool,
    parts: Parts,
    client: HttpClient,
}

fn fail(retryable: bool, reason: Reason, message: String) -> NotifyError {
    NotifyError {
        retryable,
        reason,
        message,
    }
}

impl JiraNotifier {
    /// One request: JSON in (when `body`), JSON out. A transport error is not
    /// retried, as Alertmanager's Jira notifier does not.
    async fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Value, NotifyError> {
        let shown = format!("jira: {method} {}", super::answer::redact(url, false));
        let mut req = self
            .client
            .request(method, url)
            .await?
            .header("Content-Type", "application/json")
            .header("Accept-Language", "en");
        if let Some(b) = body {
            req = req.json(b);
        }
        let answer = execute(req, &shown, &[429]).await.map_err(|mut e| {
            if !matches!(
                e.reason,
                Reason::Http5xx | Reason::Http4xx | Reason::HttpStatus
            ) {
                e.retryable = false;
            }
            e
        })?;
        if answer.body.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&answer.body)
            .map_err(|e| fail(false, Reason::RequestError, format!("{shown}: answer: {e}")))
    }

    fn jql(&self, project: &str, label: &str, firing: bool) -> String {
        let mut q = String::new();
        if !self.wont_fix_resolution.is_empty() {
            // `!=` alone would drop the unresolved issues (resolution EMPTY).
            q.push_str(&format!(
                "(resolution is EMPTY or resolution != {}) and ",
                quote(&self.wont_fix_resolution)
            ));
        }
        if firing && !self.reopen_transition.is_empty() && self.reopen_minutes > 0 {
            q.push_str(&format!(
                "(resolutiondate is EMPTY OR resolutiondate >= -{}m) and ",
                self.reopen_minutes
            ));
        } else {
            q.push_str("statusCategory != Done and ");
        }
        q.push_str(&format!(
            "project={} and labels={} order by status ASC,resolutiondate DESC",
            quote(project),
            quote(label)
        ));
        q
    }

    /// The issue's fields as Alertmanager sends them on create.
    fn issue_fields(
        &self,
        n: &Notification,
    ) -> Result<serde_json::Map<String, Value>, NotifyError> {
        let d = &n.data;
        let f = self.parts.fields.render(d)?;
        let (summary, cut) = truncate_runes(&f.get("summary"), MAX_SUMMARY_RUNES);
        if cut {
            tracing::warn!(group = %n.group_key, max_runes = MAX_SUMMARY_RUNES, "jira: truncated summary");
        }
        let (description, cut) = truncate_runes(&f.get("description"), MAX_DESCRIPTION_RUNES);
        if cut {
            tracing::warn!(group = %n.group_key, max_runes = MAX_DESCRIPTION_RUNES, "jira: truncated description");
        }
        let mut labels: Vec<String> = self
            .parts
            .labels
            .render(d)?
            .0
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        labels.push(format!("ALERT{{{}}}", group_key_hash(&n.group_key)));
        labels.sort();
        let mut out = serde_json::Map::new();
        out.insert("summary".into(), json!(summary));
        if self.v3 {
            let t = description.trim();
            // ADF JSON from the template goes as is; other text (such as the
            // default Markdown, which Alertmanager refuses here) as one paragraph.
            if !t.is_empty() {
                let v = serde_json::from_str::<Value>(t).unwrap_or_else(|_| adf(t));
                out.insert("description".into(), v);
            }
        } else if !description.is_empty() {
            out.insert("description".into(), json!(description));
        }
        out.insert("issuetype".into(), json!({"name": f.get("issue_type")}));
        out.insert("labels".into(), json!(labels));
        let priority = f.get("priority");
        if !priority.is_empty() {
            out.insert("priority".into(), json!({"name": priority}));
        }
        out.insert("project".into(), json!({"key": f.get("project")}));
        let v = super::template::data_value(d);
        for (k, tree) in &self.parts.custom {
            let render = |e: String| fail(false, Reason::Template, format!("fields: {e}"));
            out.insert(
                k.render_value(&v).map_err(render)?,
                render_tree(tree, &v).map_err(render)?,
            );
        }
        Ok(out)
    }

    /// The transition a found issue needs: reopen a done issue of a firing
    /// group, resolve an open issue of a resolved one.
    async fn transition(&self, issue: &Value, firing: bool) -> Result<(), NotifyError> {
        let key = issue["key"].as_str().unwrap_or_default();
        let Some(category) = issue["fields"]["status"]["statusCategory"]["key"].as_str() else {
            return Ok(());
        };
        let done = category == "done";
        let name = match (firing, done) {
            (true, true) => &self.reopen_transition,
            (false, false) => &self.resolve_transition,
            _ => return Ok(()),
        };
        if key.is_empty() || name.is_empty() {
            return Ok(());
        }
        let path = format!("issue/{key}/transitions");
        let url = join(&self.api_url, &path);
        let list = self.call(reqwest::Method::GET, &url, None).await?;
        let id = list["transitions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["name"].as_str() == Some(name.as_str()))
            .and_then(|t| t["id"].as_str())
            .ok_or_else(|| {
                fail(
                    false,
                    Reason::RequestError,
                    format!("jira: can't find transition {name} for issue {key}"),
                )
            })?;
        self.call(
            reqwest::Method::POST,
            &url,
            Some(&json!({"transition": {"id": id}})),
        )
        .await
        .map(|_| ())
    }
}

impl Notifier for JiraNotifier {
    fn integration(&self) -> &'static str {
        "jira"
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let firing = n.data.alerts.iter().any(|a| a.status == Status::Firing);
            let mut fields = self.issue_fields(n)?;
            let project = fields["project"]["key"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let label = format!("ALERT{{{}}}", group_key_hash(&n.group_key));
            let search = json!({
                "fields": ["status"],
                "jql": self.jql(&project, &label, firing),
                "maxResults": 2,
            });
            let found = self
                .call(reqwest::Method::POST, &self.search_url, Some(&search))
                .await
                .map_err(|e| e.context("jira: looking up the group's issue"))?;
            if found.is_null() {
                return Err(fail(
                    false,
                    Reason::RequestError,
                    "jira: empty answer to the issue search".into(),
                ));
            }
            let issue = found["issues"].as_array().and_then(|a| a.first()).cloned();
            let Some(issue) = issue else {
                // A resolved group without an issue needs none.
                if !firing {
                    return Ok(());
                }
                let body = json!({"fields": fields});
                return self
                    .call(
                        reqwest::Method::POST,
                        &join(&self.api_url, "issue"),
                        Some(&body),
                    )
                    .await
                    .map(|_| ());
            };
            let key = issue["key"].as_str().unwrap_or_default();
            if !self.update_summary {
                fields.remove("summary");
            }
            if !self.update_description {
                fields.remove("description");
            }
            let body = json!({"fields": fields});
            self.call(
                reqwest::Method::PUT,
                &join(&self.api_url, &format!("issue/{key}")),
                Some(&body),
            )
            .await?;
            self.transition(&issue, firing).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_endpoint_by_api_type() {
        let dc = url::Url::parse("https://jira.example.com/rest/api/2/").unwrap();
        assert_eq!(
            search_url(&dc, "auto"),
            "https://jira.example.com/rest/api/2/search"
        );
        assert_eq!(
            search_url(&dc, "cloud"),
            "https://jira.example.com/rest/api/3/search/jql"
        );
        let cloud = url::Url::parse("https://x.atlassian.net/rest/api/2").unwrap();
        assert_eq!(
            search_url(&cloud, "auto"),
            "https://x.atlassian.net/rest/api/3/search/jql"
        );
        assert_eq!(
            search_url(&cloud, "datacenter"),
            "https://x.atlassian.net/rest/api/2/search"
        );
        assert_eq!(
            join(&cloud, "issue/A-1"),
            "https://x.atlassian.net/rest/api/2/issue/A-1"
        );
    }

    /// Alertmanager's classification: 429 and 5xx retried, other statuses not,
    /// and (its Jira notifier only) no answer at all not either.
    #[tokio::test]
    async fn retry_classes() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let status = Arc::new(std::sync::atomic::AtomicU16::new(429));
        let st = status.clone();
        let app = axum::Router::new().fallback(move || {
            let code = st.load(std::sync::atomic::Ordering::SeqCst);
            async move { axum::http::StatusCode::from_u16(code).unwrap() }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        let notifier = |url: String| {
            let c = JiraConfig {
                api_url: Some(url),
                project: "OPS".into(),
                issue_type: "Bug".into(),
                ..Default::default()
            };
            let templates = Templates::builtin();
            let cx = BuildContext {
                globals: &IntegrationGlobals::default(),
                http: None,
                base: std::path::Path::new("."),
                templates: &templates,
            };
            c.build(&cx).unwrap()
        };
        let n = Notification {
            group_key: "{}:{}".into(),
            data: crate::notify::Data {
                receiver: "r".into(),
                status: Status::Resolved,
                alerts: Vec::new(),
                group_labels: Default::default(),
                common_labels: Default::default(),
                common_annotations: Default::default(),
                external_url: String::new(),
            },
        };
        let jira = notifier(format!("http://127.0.0.1:{port}/rest/api/2"));
        for (code, retry) in [(429, true), (503, true), (400, false), (401, false)] {
            status.store(code, std::sync::atomic::Ordering::SeqCst);
            let e = jira.notify(&n).await.unwrap_err();
            assert_eq!(e.retryable, retry, "{code}: {e}");
        }
        status.store(200, std::sync::atomic::Ordering::SeqCst);
        let e = jira.notify(&n).await.unwrap_err();
        assert!(e.message.contains("answer"), "an empty search answer: {e}");
        drop(jira);
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let gone = closed.local_addr().unwrap().port();
        drop(closed);
        let e = notifier(format!("http://127.0.0.1:{gone}/rest/api/2"))
            .notify(&n)
            .await
            .unwrap_err();
        assert!(!e.retryable, "{e}");
        assert_eq!(e.reason, Reason::ConnectionRefused, "{e}");
    }

    #[test]
    fn text_becomes_one_adf_paragraph() {
        assert_eq!(
            adf("a\n\nb"),
            json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
                {"type": "text", "text": "a"}, {"type": "hardBreak"}, {"type": "hardBreak"},
                {"type": "text", "text": "b"}]}]})
        );
    }
}
