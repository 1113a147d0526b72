//! What an HTTP integration (slack, pagerduty, ...) provides so that the config and
//! the receivers treat all of them alike: its config entry is checked as amtool
//! checks it, its templated fields are compiled at load, and it is built into a
//! [`Notifier`]. Also the `global:` keys these integrations default from, and the
//! templated fields of one entry ([`Fields`]).

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::http::HttpConfig;
use super::template::{Templates, TextTemplate};
use super::{Data, Notifier, NotifyError, Reason};
use config_values::Secret;

/// The `global:` keys of the HTTP integrations, as Alertmanager names them.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct IntegrationGlobals {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_api_url: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_api_url_file: Option<String>,
    /// Newer Alertmanagers: a Slack bot token for every slack_configs entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_app_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_app_token_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_app_url: Option<String>,
    /// Default [`DEFAULT_PAGERDUTY_URL`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagerduty_url: Option<String>,
    /// Default [`DEFAULT_OPSGENIE_API_URL`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opsgenie_api_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opsgenie_api_key: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opsgenie_api_key_file: Option<String>,
    /// Default `https://api.telegram.org`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram_api_url: Option<String>,
    /// Default `https://webexapis.com/v1/messages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webex_api_url: Option<String>,
    /// Default [`DEFAULT_VICTOROPS_API_URL`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub victorops_api_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub victorops_api_key: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub victorops_api_key_file: Option<String>,
    /// Default [`DEFAULT_WECHAT_API_URL`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wechat_api_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wechat_api_secret: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wechat_api_corp_id: Option<String>,
    /// Default [`DEFAULT_ROCKETCHAT_API_URL`] (newer Alertmanagers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rocketchat_api_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rocketchat_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rocketchat_token_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rocketchat_token_id: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rocketchat_token_id_file: Option<String>,
    /// Newer Alertmanagers: the Jira REST API of every jira_configs entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jira_api_url: Option<String>,
}

/// Alertmanager's default `global.rocketchat_api_url`.
pub const DEFAULT_ROCKETCHAT_API_URL: &str = "https://open.rocket.chat/";

/// Alertmanager's default `global.wechat_api_url`.
pub const DEFAULT_WECHAT_API_URL: &str = "https://qyapi.weixin.qq.com/cgi-bin/";

/// Alertmanager's default `global.victorops_api_url`.
pub const DEFAULT_VICTOROPS_API_URL: &str =
    "https://alert.victorops.com/integrations/generic/20131114/alert/";

/// Alertmanager's default `global.opsgenie_api_url`.
pub const DEFAULT_OPSGENIE_API_URL: &str = "https://api.opsgenie.com/";

/// Alertmanager's default `global.pagerduty_url` (Events API v2).
pub const DEFAULT_PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";

impl IntegrationGlobals {
    /// The rules amtool applies to these keys, with its messages.
    pub fn check(&self) -> Vec<String> {
        let mut errs = Vec::new();
        if self.slack_api_url.is_some() && self.slack_api_url_file.is_some() {
            errs.push(
                "global: at most one of slack_api_url & slack_api_url_file must be configured"
                    .into(),
            );
        }
        if self.slack_app_token.is_some() && self.slack_app_token_file.is_some() {
            errs.push(
                "global: at most one of slack_app_token & slack_app_token_file must be configured"
                    .into(),
            );
        }
        // Allowed together only in the transition form Alertmanager keeps: the API
        // URL being the app URL itself.
        let app_url = self
            .slack_app_url
            .as_deref()
            .unwrap_or("https://slack.com/api/chat.postMessage");
        if (self.slack_app_token.is_some() || self.slack_app_token_file.is_some())
            && (self.slack_api_url.is_some() || self.slack_api_url_file.is_some())
            && self.slack_api_url.as_ref().map(Secret::expose) != Some(app_url)
        {
            errs.push("global: at most one of slack_app_token/slack_app_token_file & slack_api_url/slack_api_url_file must be configured".into());
        }
        if let Some(u) = &self.slack_api_url
            && let Err(e) = check_url(u.expose())
        {
            errs.push(format!("global.slack_api_url: {e}"));
        }
        if self.opsgenie_api_key.is_some() && self.opsgenie_api_key_file.is_some() {
            errs.push(
                "global: at most one of opsgenie_api_key & opsgenie_api_key_file must be configured"
                    .into(),
            );
        }
        if self.rocketchat_token.is_some() && self.rocketchat_token_file.is_some() {
            errs.push(
                "at most one of rocketchat_token & rocketchat_token_file must be configured".into(),
            );
        }
        if self.rocketchat_token_id.is_some() && self.rocketchat_token_id_file.is_some() {
            errs.push(
                "at most one of rocketchat_token_id & rocketchat_token_id_file must be configured"
                    .into(),
            );
        }
        if self.victorops_api_key.is_some() && self.victorops_api_key_file.is_some() {
            errs.push(
                "global: at most one of victorops_api_key & victorops_api_key_file must be configured"
                    .into(),
            );
        }
        for (key, u) in [
            ("pagerduty_url", &self.pagerduty_url),
            ("slack_app_url", &self.slack_app_url),
            ("opsgenie_api_url", &self.opsgenie_api_url),
            ("telegram_api_url", &self.telegram_api_url),
            ("webex_api_url", &self.webex_api_url),
            ("victorops_api_url", &self.victorops_api_url),
            ("wechat_api_url", &self.wechat_api_url),
            ("rocketchat_api_url", &self.rocketchat_api_url),
            ("jira_api_url", &self.jira_api_url),
        ] {
            if let Some(u) = u
                && let Err(e) = check_url(u)
            {
                errs.push(format!("global.{key}: {e}"));
            }
        }
        errs
    }
}

/// An endpoint key as Alertmanager's `URL` type reads it: absolute, with a host.
pub fn check_url(u: &str) -> Result<url::Url, String> {
    let p = url::Url::parse(u).map_err(|e| match e {
        // Go parses a URL without a scheme as relative, then finds the scheme empty.
        url::ParseError::RelativeUrlWithoutBase => "unsupported scheme \"\" for URL".into(),
        e => format!("invalid URL: {e}"),
    })?;
    if !matches!(p.scheme(), "http" | "https") || p.host_str().is_none_or(str::is_empty) {
        return Err(if matches!(p.scheme(), "http" | "https") {
            "missing host for URL".into()
        } else {
            format!("unsupported scheme {:?} for URL", p.scheme())
        });
    }
    Ok(p)
}

/// amtool's checks of a `key` / `key_file` pair: `missing` (when given) if neither
/// is set, at most one of the two, and the inline value a valid endpoint URL when
/// `is_url`.
pub fn check_pair(
    key: &str,
    inline: Option<&Secret>,
    file: Option<&String>,
    is_url: bool,
    missing: Option<&str>,
) -> Vec<String> {
    match (inline, file) {
        (None, None) => missing.map(str::to_string).into_iter().collect(),
        (Some(_), Some(_)) => {
            vec![format!(
                "at most one of {key} & {key}_file must be configured"
            )]
        }
        (Some(u), None) if is_url => check_url(u.expose())
            .err()
            .map(|e| format!("{key}: {e}"))
            .into_iter()
            .collect(),
        _ => Vec::new(),
    }
}

/// A `timeout` key (newer Alertmanagers): unset or `0` is none.
pub fn timeout(t: Option<config_values::Duration>) -> Option<std::time::Duration> {
    t.filter(|t| !t.is_zero())
        .map(config_values::Duration::as_std)
}

/// What building an integration needs besides its own entry.
pub struct BuildContext<'a> {
    pub globals: &'a IntegrationGlobals,
    /// `global.http_config`, the default of an entry without its own.
    pub http: Option<&'a HttpConfig>,
    /// The config file's directory, for `http_config`'s files.
    pub base: &'a Path,
    pub templates: &'a Templates,
}

/// One kind of `*_configs` entry.
pub trait IntegrationConfig {
    /// The integration's name: `slack` for `slack_configs`, the metric label.
    const NAME: &'static str;
    /// Alertmanager's `send_resolved` default for this integration.
    const SEND_RESOLVED: bool;

    fn send_resolved(&self) -> Option<bool>;
    fn http_config(&self) -> Option<&HttpConfig>;
    /// Every problem amtool reports for this entry (with its wording where it has one).
    fn check(&self, globals: &IntegrationGlobals) -> Vec<String>;
    /// Compiles the templated fields: a template that does not parse or names an
    /// undefined template is a config error.
    fn compile(&self, templates: &Templates) -> Result<Fields, Vec<String>>;
    fn build(&self, cx: &BuildContext<'_>) -> Result<Arc<dyn Notifier>, String>;
    /// The `*_file` keys of the entry (read at each send), as (key, path): one
    /// that cannot be read at start is said then, and a reload naming it is refused.
    fn secret_files(&self) -> Vec<(&'static str, &str)> {
        Vec::new()
    }
}

/// The templated fields of one entry, compiled, by name.
pub struct Fields(Vec<(String, TextTemplate)>);

/// The rendered fields, by name, in the order compiled.
pub struct Rendered(pub Vec<(String, String)>);

impl Fields {
    /// Compiles each `(name, configured, default)`: the configured template, or
    /// the default when the key is absent (an empty string is kept as empty, as
    /// Alertmanager keeps an explicit `""`).
    pub fn compile(
        templates: &Templates,
        specs: &[(&str, Option<&str>, &str)],
    ) -> Result<Fields, Vec<String>> {
        let mut out = Vec::new();
        let mut errs = Vec::new();
        for (name, given, default) in specs {
            match templates.text(name, given.unwrap_or(default)) {
                Ok(t) => out.push(((*name).to_string(), t)),
                Err(e) => errs.push(e),
            }
        }
        if errs.is_empty() {
            Ok(Fields(out))
        } else {
            Err(errs)
        }
    }

    /// Renders every field; a failing template fails the notification (not
    /// retryable: the same data fails the same way), as Alertmanager's `tmplText`.
    pub fn render(&self, d: &Data) -> Result<Rendered, NotifyError> {
        let v = super::template::data_value(d);
        let mut out = Vec::with_capacity(self.0.len());
        for (name, t) in &self.0 {
            let s = t.render_value(&v).map_err(|e| NotifyError {
                retryable: false,
                reason: Reason::Template,
                message: e,
            })?;
            out.push((name.clone(), s));
        }
        Ok(Rendered(out))
    }
}

impl Rendered {
    /// The rendered field (empty when there is no such field).
    pub fn get(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| s.clone())
            .unwrap_or_default()
    }
}

/// Alertmanager's `Key.Hash`: the hex SHA-256 of the group key, the id PagerDuty
/// and others deduplicate on.
pub fn group_key_hash(key: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What marks a cut text (U+2026, three bytes), as Alertmanager.
pub const MARKER: &str = "\u{2026}";

/// Alertmanager's `TruncateInRunes`: at most `n` characters, the last one the
/// ellipsis [`MARKER`] when cut.
pub fn truncate_runes(s: &str, n: usize) -> (String, bool) {
    if s.chars().count() <= n {
        return (s.to_string(), false);
    }
    if n <= 3 {
        return (s.chars().take(n).collect(), true);
    }
    let mut out: String = s.chars().take(n - 1).collect();
    out.push_str(MARKER);
    (out, true)
}

/// Alertmanager's `TruncateInBytes`: at most `n` bytes, ending in [`MARKER`] when cut,
/// never splitting a character.
pub fn truncate_bytes(s: &str, n: usize) -> (String, bool) {
    if s.len() <= n {
        return (s.to_string(), false);
    }
    if n < 3 {
        return (".".repeat(n), true);
    }
    if n == 3 {
        return (MARKER.into(), true);
    }
    let mut end = n - 3;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (format!("{}{MARKER}", &s[..end]), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_as_alertmanager() {
        assert_eq!(truncate_runes("abcdef", 6), ("abcdef".into(), false));
        assert_eq!(truncate_runes("abcdef", 5), ("abcd\u{2026}".into(), true));
        assert_eq!(truncate_runes("abcdef", 2), ("ab".into(), true));
        assert_eq!(truncate_bytes("abcdef", 5), ("ab\u{2026}".into(), true));
        assert_eq!(
            truncate_bytes("\u{e9}\u{e9}\u{e9}", 5),
            ("\u{e9}\u{2026}".into(), true)
        );
        assert_eq!(
            truncate_bytes("\u{e9}\u{e9}\u{e9}", 4),
            ("\u{2026}".into(), true)
        );
        assert_eq!(truncate_bytes("abc", 3), ("abc".into(), false));
        assert_eq!(truncate_bytes("abcd", 3), ("\u{2026}".into(), true));
        assert_eq!(truncate_bytes("abcd", 2), ("..".into(), true));
    }

    #[test]
    fn endpoint_urls_need_a_scheme_and_host() {
        assert!(check_url("https://hooks.slack.com/services/x").is_ok());
        assert!(check_url("hooks.slack.com").is_err());
        assert!(check_url("ftp://x/").is_err());
    }

    #[test]
    fn a_secret_pair_is_checked_as_amtool_does() {
        let s = Secret::new("https://x/");
        let f = "f".to_string();
        assert_eq!(
            check_pair("webhook_url", None, None, true, Some("none")),
            ["none"]
        );
        assert!(check_pair("token", None, None, false, None).is_empty());
        assert_eq!(
            check_pair("token", Some(&s), Some(&f), false, None),
            ["at most one of token & token_file must be configured"]
        );
        assert!(check_pair("api_url", Some(&s), None, true, None).is_empty());
        assert_eq!(
            check_pair("api_url", Some(&Secret::new("x")), None, true, None),
            ["api_url: unsupported scheme \"\" for URL"]
        );
        assert!(check_pair("token", Some(&Secret::new("x")), None, false, None).is_empty());
    }
}
