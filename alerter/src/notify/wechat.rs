//! Alertmanager's WeChat Work integration (notify/wechat): an access token from
//! `GET {api_url}gettoken?corpid=..&corpsecret=..`, kept for 2 hours, then the
//! message POSTed to `{api_url}message/send?access_token=..` as `text` or
//! `markdown`. A non-200 status, an unreadable answer and an expired token
//! (errcode 42001, which also drops the token) are retried; another error code
//! is not.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::answer::{classify, redact};
use super::http::{HttpClient, HttpConfig};
use super::integration::{
    BuildContext, DEFAULT_WECHAT_API_URL, Fields, IntegrationConfig, IntegrationGlobals, check_url,
};
use super::template::Templates;
use super::{Notification, Notifier, NotifyError, Reason};
use config_values::Secret;

/// How long a token is used before a new one is fetched (WeChat's lifetime).
const TOKEN_LIFETIME: Duration = Duration::from_secs(2 * 3600);
/// WeChat's "access token expired" code.
const TOKEN_EXPIRED: i64 = 42001;

/// One entry of a receiver's `wechat_configs`, as Alertmanager defines it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WechatConfig {
    #[serde(default)]
    pub send_resolved: Option<bool>,
    #[serde(default)]
    pub http_config: Option<HttpConfig>,
    #[serde(default)]
    pub api_secret: Option<Secret>,
    #[serde(default)]
    pub corp_id: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub api_url: Option<String>,
    #[serde(default)]
    pub to_user: Option<String>,
    #[serde(default)]
    pub to_party: Option<String>,
    #[serde(default)]
    pub to_tag: Option<String>,
    #[serde(default)]
    pub agent_id: Option<String>,
    /// `text` (default) or `markdown`.
    #[serde(default)]
    pub message_type: Option<String>,
}

impl WechatConfig {
    fn message_type(&self) -> &str {
        self.message_type
            .as_deref()
            .filter(|t| !t.is_empty())
            .unwrap_or("text")
    }
}

impl IntegrationConfig for WechatConfig {
    const NAME: &'static str = "wechat";
    const SEND_RESOLVED: bool = false;

    fn send_resolved(&self) -> Option<bool> {
        self.send_resolved
    }

    fn http_config(&self) -> Option<&HttpConfig> {
        self.http_config.as_ref()
    }

    fn check(&self, g: &IntegrationGlobals) -> Vec<String> {
        let mut errs = Vec::new();
        if !matches!(self.message_type(), "text" | "markdown") {
            errs.push(format!(
                "weChat message type {:?} does not match valid options ^(text|markdown)$",
                self.message_type()
            ));
        }
        if self.api_secret.is_none() && g.wechat_api_secret.is_none() {
            errs.push("no global Wechat ApiSecret set".into());
        }
        if self.corp_id.as_deref().is_none_or(str::is_empty) && g.wechat_api_corp_id.is_none() {
            errs.push("no global Wechat CorpID set".into());
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
            &[
                (
                    "message",
                    self.message.as_deref(),
                    r#"{{ template "wechat.default.message" . }}"#,
                ),
                (
                    "to_user",
                    self.to_user.as_deref(),
                    r#"{{ template "wechat.default.to_user" . }}"#,
                ),
                (
                    "to_party",
                    self.to_party.as_deref(),
                    r#"{{ template "wechat.default.to_party" . }}"#,
                ),
                (
                    "to_tag",
                    self.to_tag.as_deref(),
                    r#"{{ template "wechat.default.to_tag" . }}"#,
                ),
                (
                    "agent_id",
                    self.agent_id.as_deref(),
                    r#"{{ template "wechat.default.agent_id" . }}"#,
                ),
            ],
        )
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Arc<dyn Notifier>, String> {
        let g = cx.globals;
        let mut api_url = self
            .api_url
            .clone()
            .or_else(|| g.wechat_api_url.clone())
            .unwrap_or_else(|| DEFAULT_WECHAT_API_URL.into());
        // `gettoken` and `message/send` are appended to it.
        if !api_url.ends_with('/') {
            api_url.push('/');
        }
        let secret = self
            .api_secret
            .clone()
            .or_else(|| g.wechat_api_secret.clone())
            .ok_or("no global Wechat ApiSecret set")?;
        let corp_id = self
            .corp_id
            .clone()
            .filter(|c| !c.is_empty())
            .or_else(|| g.wechat_api_corp_id.clone())
            .ok_or("no global Wechat CorpID set")?;
        Ok(Arc::new(WechatNotifier {
            api_url,
            secret,
            corp_id,
            message_type: self.message_type().to_string(),
            fields: self.compile(cx.templates).map_err(|e| e.join("; "))?,
            templates: cx.templates.clone(),
            client: super::send::client(self.http_config.as_ref(), cx.http, cx.base)?,
            token: Mutex::new(None),
        }))
    }
}

pub struct WechatNotifier {
    api_url: String,
    secret: Secret,
    corp_id: String,
    message_type: String,
    fields: Fields,
    /// The secret and corp id are templates too.
    templates: Templates,
    client: HttpClient,
    token: Mutex<Option<(String, Instant)>>,
}

fn fail(retryable: bool, reason: Reason, message: String) -> NotifyError {
    NotifyError {
        retryable,
        reason,
        message: format!("wechat: {message}"),
    }
}

impl WechatNotifier {
    fn cached_token(&self) -> Option<String> {
        let t = self.token.lock().ok()?;
        t.as_ref()
            .filter(|(_, at)| at.elapsed() < TOKEN_LIFETIME)
            .map(|(t, _)| t.clone())
    }

    fn set_token(&self, t: Option<String>) {
        if let Ok(mut g) = self.token.lock() {
            *g = t.map(|t| (t, Instant::now()));
        }
    }

    async fn fetch_token(&self, n: &Notification) -> Result<String, NotifyError> {
        let render = |field: &str, src: &str| {
            self.templates
                .text(field, src)
                .and_then(|t| t.render(&n.data))
                .map_err(|e| fail(false, Reason::Template, e))
        };
        let secret = render("api_secret", self.secret.expose())?;
        let corp_id = render("corp_id", &self.corp_id)?;
        let mut url = url::Url::parse(&format!("{}gettoken", self.api_url))
            .map_err(|e| fail(false, Reason::Config, format!("api_url: {e}")))?;
        url.query_pairs_mut()
            .append_pair("corpid", &corp_id)
            .append_pair("corpsecret", &secret);
        let req = self
            .client
            .request(reqwest::Method::GET, url.as_str())
            .await?;
        let resp = req.send().await.map_err(|e| {
            fail(
                true,
                classify(&e),
                format!("GET {}: {e}", redact(url.as_str(), false)),
            )
        })?;
        let body: Value = resp
            .json()
            .await
            .map_err(|e| fail(false, Reason::RequestError, format!("token answer: {e}")))?;
        match body["access_token"].as_str().filter(|t| !t.is_empty()) {
            Some(t) => {
                self.set_token(Some(t.to_string()));
                Ok(t.to_string())
            }
            None => Err(fail(
                false,
                Reason::AuthRejected,
                format!("invalid APISecret for CorpID: {}", self.corp_id),
            )),
        }
    }
}

impl Notifier for WechatNotifier {
    fn integration(&self) -> &'static str {
        "wechat"
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let f = self.fields.render(&n.data)?;
            let token = match self.cached_token() {
                Some(t) => t,
                None => self.fetch_token(n).await?,
            };
            let mut msg = serde_json::Map::new();
            // Alertmanager's message type always carries both content objects.
            let (text, markdown) = if self.message_type == "markdown" {
                (String::new(), f.get("message"))
            } else {
                (f.get("message"), String::new())
            };
            msg.insert("text".into(), json!({ "content": text }));
            for (k, v) in [
                ("touser", f.get("to_user")),
                ("toparty", f.get("to_party")),
                ("totag", f.get("to_tag")),
                ("agentid", f.get("agent_id")),
            ] {
                if !v.is_empty() {
                    msg.insert(k.into(), json!(v));
                }
            }
            msg.insert("safe".into(), json!("0"));
            msg.insert("msgtype".into(), json!(self.message_type));
            msg.insert("markdown".into(), json!({ "content": markdown }));
            let mut url = url::Url::parse(&format!("{}message/send", self.api_url))
                .map_err(|e| fail(false, Reason::Config, format!("api_url: {e}")))?;
            url.query_pairs_mut().append_pair("access_token", &token);
            let req = self
                .client
                .post(url.as_str())
                .await?
                .json(&Value::Object(msg));
            let resp = req.send().await.map_err(|e| {
                fail(
                    true,
                    classify(&e),
                    format!("POST {}: {e}", redact(url.as_str(), false)),
                )
            })?;
            let code = resp.status().as_u16();
            if code != 200 {
                let (_, reason) = super::answer::status_class(code, &[]);
                return Err(fail(true, reason, format!("unexpected status code {code}")));
            }
            let body: Value = resp
                .json()
                .await
                .map_err(|e| fail(true, Reason::RequestError, format!("answer: {e}")))?;
            // Alertmanager reads `code`/`error`; WeChat's API says `errcode`/`errmsg`.
            let code = body["errcode"]
                .as_i64()
                .or_else(|| body["code"].as_i64())
                .unwrap_or(0);
            let text = body["errmsg"]
                .as_str()
                .or_else(|| body["error"].as_str())
                .unwrap_or_default();
            match code {
                0 => Ok(()),
                TOKEN_EXPIRED => {
                    self.set_token(None);
                    Err(fail(true, Reason::AuthRejected, text.to_string()))
                }
                _ => Err(fail(
                    false,
                    Reason::MessageRejected,
                    format!("error {code}: {text}"),
                )),
            }
        })
    }
}
