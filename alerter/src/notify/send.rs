//! How an HTTP integration (slack, pagerduty, ...) sends: where its URL comes from
//! (inline secret or a file read at each send), one JSON POST through its
//! `http_config` client; what its answer means is `answer`'s.

use std::time::Duration;

use serde::Serialize;

use super::answer::{Answer, execute, redact};
use super::http::{HttpClient, HttpConfig};
use super::{NotifyError, Reason};
use config_values::Secret;

/// Where an integration's endpoint (or token) comes from.
#[derive(Clone, Debug)]
pub enum Source {
    Inline(Secret),
    /// Read at each send, trimmed, as Alertmanager does, so a rotated file is used
    /// without a reload. Relative to the working directory, as in Alertmanager.
    File(String),
}

impl Source {
    /// From a `key`/`key_file` pair; `None` when neither is set.
    pub fn from_pair(inline: Option<&Secret>, file: Option<&String>) -> Option<Source> {
        match (inline, file) {
            (Some(s), _) => Some(Source::Inline(s.clone())),
            (None, Some(f)) => Some(Source::File(f.clone())),
            (None, None) => None,
        }
    }

    pub fn read(&self) -> Result<Secret, NotifyError> {
        match self {
            Source::Inline(s) => Ok(s.clone()),
            Source::File(f) => config_values::read_secret_file(std::path::Path::new(f))
                .map(|s| Secret::new(s.trim()))
                .map_err(|e| NotifyError {
                    retryable: true,
                    reason: Reason::UrlFile,
                    message: format!("cannot read {f}: {e}"),
                }),
        }
    }
}

/// The client of an integration: its own `http_config`, else the global one, else
/// the shared default.
pub fn client(
    own: Option<&HttpConfig>,
    global: Option<&HttpConfig>,
    base: &std::path::Path,
) -> Result<HttpClient, String> {
    match own.or(global) {
        Some(h) => h.build(base),
        None => super::http::shared(),
    }
    .map_err(|e| format!("http_config: {e}"))
}

/// POSTs `body` as JSON to `url` with the client's credentials and `headers`;
/// classifies the failure as Alertmanager does: a transport error is retried,
/// a status is retried when it is 5xx or in `retry_codes`. The URL is shown in
/// messages without its path and query (they may carry a token).
pub async fn post_json(
    client: &HttpClient,
    url: &str,
    headers: &[(&str, String)],
    body: &impl Serialize,
    timeout: Option<Duration>,
    retry_codes: &[u16],
) -> Result<Answer, NotifyError> {
    send_json(
        client,
        reqwest::Method::POST,
        url,
        headers,
        body,
        timeout,
        retry_codes,
    )
    .await
}

/// [`post_json`] with any method. An `Authorization` among `headers` replaces
/// the `http_config` credentials, as Prometheus's client keeps a header the
/// request already has.
pub async fn send_json(
    client: &HttpClient,
    method: reqwest::Method,
    url: &str,
    headers: &[(&str, String)],
    body: &impl Serialize,
    timeout: Option<Duration>,
    retry_codes: &[u16],
) -> Result<Answer, NotifyError> {
    let own_auth = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
    let shown = format!("{method} {}", redact(url, false));
    let req = if own_auth {
        client.client().request(method, url)
    } else {
        client.request(method, url).await?
    };
    let mut req = req.json(body);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    if let Some(t) = timeout {
        req = req.timeout(t);
    }
    execute(req, &shown, retry_codes).await
}
