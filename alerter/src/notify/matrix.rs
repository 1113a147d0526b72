//! Matrix (ours; Alertmanager has no Matrix integration): one `m.room.message`
//! sent to `room_id` with the client-server API's
//! `PUT {homeserver_url}/_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}`,
//! the access token as `Authorization: Bearer`. A plain `message`, and with
//! `html` an `org.matrix.custom.html` formatted body. 5xx and 429 (Matrix's rate
//! limit) are retried.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::http::{HttpClient, HttpConfig};
use super::integration::{
    BuildContext, Fields, IntegrationConfig, IntegrationGlobals, check_pair, check_url,
};
use super::send::{Source, send_json};
use super::template::{HtmlTemplate, Templates};
use super::{Notification, Notifier, NotifyError, Reason};
use config_values::Secret;

/// One entry of a receiver's `matrix_configs`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixConfig {
    #[serde(default)]
    pub send_resolved: Option<bool>,
    #[serde(default)]
    pub http_config: Option<HttpConfig>,
    /// The homeserver's base URL, e.g. `https://matrix.example.org`.
    #[serde(default)]
    pub homeserver_url: String,
    /// `!opaque:server` (an alias `#room:server` is not resolved).
    #[serde(default)]
    pub room_id: String,
    #[serde(default)]
    pub access_token: Option<Secret>,
    #[serde(default)]
    pub access_token_file: Option<String>,
    /// The plain-text body.
    #[serde(default)]
    pub message: Option<String>,
    /// An HTML body (rendered with HTML escaping), sent beside the plain one.
    #[serde(default)]
    pub html: Option<String>,
    /// `m.text` (default) or `m.notice` (clients do not notify for notices).
    #[serde(default)]
    pub msgtype: Option<String>,
}

impl MatrixConfig {
    fn msgtype(&self) -> &str {
        self.msgtype.as_deref().unwrap_or("m.text")
    }
}

impl IntegrationConfig for MatrixConfig {
    const NAME: &'static str = "matrix";
    const SEND_RESOLVED: bool = true;

    fn send_resolved(&self) -> Option<bool> {
        self.send_resolved
    }

    fn http_config(&self) -> Option<&HttpConfig> {
        self.http_config.as_ref()
    }

    fn check(&self, _: &IntegrationGlobals) -> Vec<String> {
        let mut errs = Vec::new();
        if self.homeserver_url.is_empty() {
            errs.push("missing homeserver_url in Matrix config".into());
        } else if let Err(e) = check_url(&self.homeserver_url) {
            errs.push(format!("homeserver_url: {e}"));
        }
        if !self.room_id.starts_with('!') {
            errs.push(format!(
                "room_id: {:?} is not a room id (!opaque:server)",
                self.room_id
            ));
        }
        errs.extend(check_pair(
            "access_token",
            self.access_token.as_ref(),
            self.access_token_file.as_ref(),
            false,
            Some("missing access_token in Matrix config"),
        ));
        if !matches!(self.msgtype(), "m.text" | "m.notice") {
            errs.push(format!(
                "msgtype: {:?} is not m.text or m.notice",
                self.msgtype()
            ));
        }
        errs
    }

    fn compile(&self, t: &Templates) -> Result<Fields, Vec<String>> {
        if let Some(h) = &self.html {
            t.html("html", h).map_err(|e| vec![e])?;
        }
        Fields::compile(
            t,
            &[(
                "message",
                self.message.as_deref(),
                r#"{{ template "matrix.default.message" . }}"#,
            )],
        )
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Arc<dyn Notifier>, String> {
        let room =
            url::form_urlencoded::byte_serialize(self.room_id.as_bytes()).collect::<String>();
        Ok(Arc::new(MatrixNotifier {
            base: format!(
                "{}/_matrix/client/v3/rooms/{room}/send/m.room.message/",
                self.homeserver_url.trim_end_matches('/')
            ),
            token: Source::from_pair(self.access_token.as_ref(), self.access_token_file.as_ref())
                .ok_or("missing access_token in Matrix config")?,
            msgtype: self.msgtype().to_string(),
            fields: self.compile(cx.templates).map_err(|e| e.join("; "))?,
            html: match &self.html {
                Some(h) => Some(cx.templates.html("html", h)?),
                None => None,
            },
            client: super::send::client(self.http_config.as_ref(), cx.http, cx.base)?,
        }))
    }

    fn secret_files(&self) -> Vec<(&'static str, &str)> {
        [("access_token_file", &self.access_token_file)]
            .into_iter()
            .filter_map(|(key, f)| Some((key, f.as_deref()?)))
            .collect()
    }
}

pub struct MatrixNotifier {
    /// Everything up to the transaction id.
    base: String,
    token: Source,
    msgtype: String,
    fields: Fields,
    html: Option<HtmlTemplate>,
    client: HttpClient,
}

impl Notifier for MatrixNotifier {
    fn integration(&self) -> &'static str {
        "matrix"
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let f = self.fields.render(&n.data)?;
            let mut body = serde_json::Map::new();
            body.insert("msgtype".into(), json!(self.msgtype));
            body.insert("body".into(), json!(f.get("message").trim()));
            if let Some(h) = &self.html {
                let html = h.render(&n.data).map_err(|e| NotifyError {
                    retryable: false,
                    reason: Reason::Template,
                    message: e,
                })?;
                body.insert("format".into(), json!("org.matrix.custom.html"));
                body.insert("formatted_body".into(), json!(html));
            }
            // A fresh transaction id per attempt: a repeat is a new message.
            let url = format!("{}{}", self.base, uuid::Uuid::new_v4().simple());
            let auth = [(
                "Authorization",
                format!("Bearer {}", self.token.read()?.expose()),
            )];
            send_json(
                &self.client,
                reqwest::Method::PUT,
                &url,
                &auth,
                &Value::Object(body),
                None,
                &[429],
            )
            .await
            .map(|_| ())
        })
    }
}
