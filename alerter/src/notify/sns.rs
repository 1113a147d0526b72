//! Alertmanager's Amazon SNS integration (notify/sns): the `Publish` action of
//! the SNS query API, form-encoded and POSTed to `api_url` (default
//! `https://sns.{region}.amazonaws.com`), signed with SigV4 (AWS's `aws-sigv4`
//! crate) for `sigv4.region` with `sigv4.access_key`/`secret_key`, else the
//! `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` environment. To a topic, a target
//! or a phone number (messages cut at 256 KiB, or 1600 bytes for SMS, with a
//! `truncated` attribute); a FIFO topic gets the group key's hash as group and
//! deduplication id. 5xx and transport errors are retried.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::answer::{execute, redact};
use super::http::{HttpClient, HttpConfig};
use super::integration::{
    BuildContext, Fields, IntegrationConfig, IntegrationGlobals, group_key_hash,
};
use super::template::Templates;
use super::{Notification, Notifier, NotifyError, Reason};
use config_values::Secret;

const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// One entry of a receiver's `sns_configs`, as Alertmanager defines it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnsConfig {
    #[serde(default)]
    pub send_resolved: Option<bool>,
    #[serde(default)]
    pub http_config: Option<HttpConfig>,
    #[serde(default)]
    pub api_url: Option<String>,
    #[serde(default)]
    pub sigv4: Sigv4Config,
    #[serde(default)]
    pub topic_arn: Option<String>,
    #[serde(default)]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub target_arn: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// Prometheus's `sigv4` block.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sigv4Config {
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub access_key: Option<String>,
    #[serde(default)]
    pub secret_key: Option<Secret>,
    /// Not implemented (no shared-credentials files or STS): refused by name.
    #[serde(default)]
    pub profile: Option<String>,
    /// Not implemented: refused by name.
    #[serde(default)]
    pub role_arn: Option<String>,
}

fn empty(s: Option<&String>) -> bool {
    s.is_none_or(String::is_empty)
}

impl IntegrationConfig for SnsConfig {
    const NAME: &'static str = "sns";
    const SEND_RESOLVED: bool = true;

    fn send_resolved(&self) -> Option<bool> {
        self.send_resolved
    }

    fn http_config(&self) -> Option<&HttpConfig> {
        self.http_config.as_ref()
    }

    fn check(&self, _: &IntegrationGlobals) -> Vec<String> {
        let mut errs = Vec::new();
        // Alertmanager's own test, `(a != b) != c` over the three being empty.
        let (t, to, p) = (
            empty(self.target_arn.as_ref()),
            empty(self.topic_arn.as_ref()),
            empty(self.phone_number.as_ref()),
        );
        if (t != to) != p {
            errs.push(
                "must provide either a Target ARN, Topic ARN, or Phone Number for SNS config"
                    .into(),
            );
        }
        let s = &self.sigv4;
        if s.access_key.is_some() != s.secret_key.is_some() {
            errs.push("sigv4: must provide a AWS SigV4 Access key and Secret Key if credentials are specified in the SigV4 config".into());
        }
        if s.profile.is_some() {
            errs.push("sigv4.profile: not implemented (give access_key and secret_key, or the AWS_* environment)".into());
        }
        if s.role_arn.is_some() {
            errs.push("sigv4.role_arn: not implemented (no STS role assumption)".into());
        }
        errs
    }

    fn compile(&self, t: &Templates) -> Result<Fields, Vec<String>> {
        let mut specs: Vec<(&str, Option<&str>, &str)> = vec![
            ("api_url", self.api_url.as_deref(), ""),
            ("topic_arn", self.topic_arn.as_deref(), ""),
            ("phone_number", self.phone_number.as_deref(), ""),
            ("target_arn", self.target_arn.as_deref(), ""),
            (
                "subject",
                self.subject.as_deref(),
                r#"{{ template "sns.default.subject" . }}"#,
            ),
            (
                "message",
                self.message.as_deref(),
                r#"{{ template "sns.default.message" . }}"#,
            ),
        ];
        // Attribute names are templates too: compiled as "attr:<i>:name/value".
        let names: Vec<(String, String)> = (0..self.attributes.len())
            .map(|i| (format!("attr:{i}:name"), format!("attr:{i}:value")))
            .collect();
        for ((k, v), (kn, vn)) in self.attributes.iter().zip(&names) {
            specs.push((kn, Some(k), ""));
            specs.push((vn, Some(v), ""));
        }
        Fields::compile(t, &specs)
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Arc<dyn Notifier>, String> {
        let region = self
            .sigv4
            .region
            .clone()
            .filter(|r| !r.is_empty())
            .or_else(|| std::env::var("AWS_REGION").ok())
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
            .ok_or("region not configured in sns.sigv4.region or in default credentials chain")?;
        let credentials = match (&self.sigv4.access_key, &self.sigv4.secret_key) {
            (Some(a), Some(s)) => (a.clone(), s.clone()),
            _ => match (
                std::env::var("AWS_ACCESS_KEY_ID"),
                std::env::var("AWS_SECRET_ACCESS_KEY"),
            ) {
                (Ok(a), Ok(s)) => (a, Secret::new(s)),
                _ => return Err("no AWS credentials: set sigv4.access_key and secret_key, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into()),
            },
        };
        Ok(Arc::new(SnsNotifier {
            region,
            credentials,
            attributes: self.attributes.len(),
            subject_set: self.subject.as_deref() != Some(""),
            fields: self.compile(cx.templates).map_err(|e| e.join("; "))?,
            client: super::send::client(self.http_config.as_ref(), cx.http, cx.base)?,
        }))
    }
}

pub struct SnsNotifier {
    region: String,
    credentials: (String, Secret),
    attributes: usize,
    subject_set: bool,
    fields: Fields,
    client: HttpClient,
}

fn fail(retryable: bool, reason: Reason, message: String) -> NotifyError {
    NotifyError {
        retryable,
        reason,
        message: format!("sns: {message}"),
    }
}

/// At most `limit` bytes, on a character boundary.
fn cut(s: &str, limit: usize) -> (&str, bool) {
    if s.len() <= limit {
        return (s, false);
    }
    let mut end = limit;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (&s[..end], true)
}

impl SnsNotifier {
    /// The `Publish` form, keys sorted as Go's `url.Values` encodes them.
    fn form(&self, n: &Notification) -> Result<(String, String), NotifyError> {
        let f = self.fields.render(&n.data)?;
        let mut p: BTreeMap<String, String> = BTreeMap::new();
        p.insert("Action".into(), "Publish".into());
        p.insert("Version".into(), "2010-03-31".into());
        let mut limit = 256 * 1024;
        let topic = f.get("topic_arn");
        if !topic.is_empty() {
            if topic.ends_with(".fifo") {
                let id = group_key_hash(&n.group_key);
                p.insert("MessageDeduplicationId".into(), id.clone());
                p.insert("MessageGroupId".into(), id);
            }
            p.insert("TopicArn".into(), topic);
        }
        let phone = f.get("phone_number");
        if !phone.is_empty() {
            p.insert("PhoneNumber".into(), phone);
            limit = 1600;
        }
        let target = f.get("target_arn");
        if !target.is_empty() {
            p.insert("TargetArn".into(), target);
        }
        let message = f.get("message");
        let (message, truncated) = cut(&message, limit);
        p.insert("Message".into(), message.to_string());
        if self.subject_set {
            p.insert("Subject".into(), f.get("subject"));
        }
        let mut attrs: BTreeMap<String, String> = (0..self.attributes)
            .map(|i| {
                (
                    f.get(&format!("attr:{i}:name")),
                    f.get(&format!("attr:{i}:value")),
                )
            })
            .collect();
        if truncated {
            attrs.insert("truncated".into(), "true".into());
        }
        for (i, (k, v)) in attrs.into_iter().enumerate() {
            let at = format!("MessageAttributes.entry.{}", i + 1);
            p.insert(format!("{at}.Name"), k);
            p.insert(format!("{at}.Value.DataType"), "String".into());
            p.insert(format!("{at}.Value.StringValue"), v);
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&p)
            .finish();
        let mut url = match f.get("api_url") {
            u if u.is_empty() => format!("https://sns.{}.amazonaws.com/", self.region),
            u => u,
        };
        // The action's path, `/`, joined to the endpoint's, as the AWS SDK does.
        if !url.ends_with('/') {
            url.push('/');
        }
        Ok((url, body))
    }

    /// The SigV4 headers (`authorization`, `x-amz-date`) for this request.
    fn signature(&self, url: &str, body: &str) -> Result<Vec<(String, String)>, NotifyError> {
        let identity = Credentials::new(
            &self.credentials.0,
            self.credentials.1.expose(),
            None,
            None,
            "alerter-config",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("sns")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| fail(false, Reason::Config, format!("sigv4: {e}")))?
            .into();
        let request = SignableRequest::new(
            "POST",
            url,
            [("content-type", FORM)].into_iter(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| fail(false, Reason::Config, format!("sigv4: {e}")))?;
        let (instructions, _) = sign(request, &params)
            .map_err(|e| fail(false, Reason::Config, format!("sigv4: {e}")))?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect())
    }
}

impl Notifier for SnsNotifier {
    fn integration(&self) -> &'static str {
        "sns"
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let (url, body) = self.form(n)?;
            let mut req = self
                .client
                .post(&url)
                .await?
                .header(reqwest::header::CONTENT_TYPE, FORM);
            for (k, v) in self.signature(&url, &body)? {
                req = req.header(k, v);
            }
            execute(
                req.body(body),
                &format!("POST {}", redact(&url, false)),
                &[],
            )
            .await
            .map(|_| ())
        })
    }
}
