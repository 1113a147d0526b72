//! What a sent HTTP request's answer means, as Alertmanager's `notify.Retrier`
//! decides: 2xx done, 5xx and the integration's extra codes retried, anything else
//! permanent; a transport error retried and named by its cause. Also how a URL is
//! shown in messages. Below `http` (its oauth2 token fetch reads answers here) and
//! `send`.

use super::{NotifyError, Reason};

/// What one POST came back with, once it is known to be a success.
pub struct Answer {
    pub content_type: String,
    pub body: String,
}

/// Sends a built request and classifies the outcome as Alertmanager's `Retrier`:
/// a transport error is retried, a status as [`status_class`] says. `shown` names
/// the request in messages; reqwest's own URL is left out (it may carry a token).
pub async fn execute(
    req: reqwest::RequestBuilder,
    shown: &str,
    retry_codes: &[u16],
) -> Result<Answer, NotifyError> {
    let resp = req.send().await.map_err(|e| NotifyError {
        retryable: true,
        reason: classify(&e),
        message: format!("{shown}: {}", e.without_url()),
    })?;
    let code = resp.status();
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = resp.text().await.unwrap_or_default();
    if code.is_success() {
        return Ok(Answer {
            content_type,
            body: text,
        });
    }
    let body: String = text.chars().take(200).collect();
    let (retryable, reason) = status_class(code.as_u16(), retry_codes);
    Err(NotifyError {
        retryable,
        reason,
        message: format!("{shown}: unexpected status code {}: {body}", code.as_u16()),
    })
}

/// A 2xx answer whose body says the API refused the message (Slack's `ok: false`,
/// Rocket.Chat's `success: false`): not retried, as Alertmanager.
pub fn refused(service: &str, error: impl std::fmt::Display) -> NotifyError {
    NotifyError {
        retryable: false,
        reason: Reason::Http4xx,
        message: format!("error response from {service}: {error}"),
    }
}

/// Alertmanager's `Retrier.Check` for a non-2xx status: retry 5xx and the
/// integration's own `retry_codes` (e.g. 429 for PagerDuty), never other codes.
pub fn status_class(code: u16, retry_codes: &[u16]) -> (bool, Reason) {
    let retry = code / 100 == 5 || retry_codes.contains(&code);
    let reason = match code / 100 {
        5 => Reason::Http5xx,
        4 => Reason::Http4xx,
        _ => Reason::HttpStatus,
    };
    (retry, reason)
}

/// The reason label of a transport error.
pub fn classify(e: &reqwest::Error) -> Reason {
    if e.is_timeout() {
        return Reason::Timeout;
    }
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return Reason::ConnectionRefused,
                std::io::ErrorKind::TimedOut => return Reason::Timeout,
                std::io::ErrorKind::ConnectionReset => return Reason::ConnectionReset,
                _ => {}
            }
        }
        src = s.source();
    }
    if e.is_connect() {
        Reason::ConnectError
    } else {
        Reason::RequestError
    }
}

/// A URL as shown in logs and errors: never its user info or query (they may carry
/// a token); its path only with `keep_path` (a webhook's own URL), since a Slack or
/// Discord webhook path is itself the token.
pub fn redact(u: &str, keep_path: bool) -> String {
    match url::Url::parse(u) {
        Ok(mut p) if keep_path => {
            p.set_password(None).ok();
            p.set_username("").ok();
            p.set_query(None);
            p.to_string()
        }
        Ok(p) => match p.port() {
            Some(port) => format!("{}://{}:{port}/...", p.scheme(), p.host_str().unwrap_or("")),
            None => format!("{}://{}/...", p.scheme(), p.host_str().unwrap_or("")),
        },
        Err(_) => "<invalid url>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_classes_follow_alertmanagers_retrier() {
        assert_eq!(status_class(500, &[]), (true, Reason::Http5xx));
        assert_eq!(status_class(503, &[]), (true, Reason::Http5xx));
        assert_eq!(status_class(429, &[]), (false, Reason::Http4xx));
        assert_eq!(status_class(429, &[429]), (true, Reason::Http4xx));
        assert_eq!(status_class(400, &[429]), (false, Reason::Http4xx));
        assert_eq!(status_class(302, &[]), (false, Reason::HttpStatus));
    }

    #[test]
    fn urls_are_shown_without_secrets() {
        assert_eq!(
            redact("https://u:p@hooks.slack.com/services/T/B/X?token=1", false),
            "https://hooks.slack.com/..."
        );
        assert_eq!(
            redact("https://u:p@example.com:8443/hook?token=1", true),
            "https://example.com:8443/hook"
        );
        assert_eq!(redact("not a url", false), "<invalid url>");
    }
}
