//! alertmanager.yml, as Alertmanager reads it, plus our top-level `rule_files` and
//! `evaluation_interval` (kept for the rule evaluator). Unknown keys are errors.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::notify::email::{EmailConfig, Secret, SmtpGlobals, TlsConfig};
pub use crate::notify::webhook::WebhookConfig;

/// The whole file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub global: Global,
    #[serde(default)]
    pub route: Option<Route>,
    #[serde(default)]
    pub receivers: Vec<Receiver>,
    #[serde(default)]
    pub inhibit_rules: Vec<InhibitRule>,
    #[serde(default)]
    pub templates: Vec<String>,
    #[serde(default)]
    pub mute_time_intervals: Vec<serde_yaml::Value>,
    #[serde(default)]
    pub time_intervals: Vec<serde_yaml::Value>,
    /// Ours: rule files for the evaluator.
    #[serde(default)]
    pub rule_files: Vec<String>,
    /// Ours: how often rules are evaluated.
    #[serde(default)]
    pub evaluation_interval: Option<String>,
    /// Ours: the alarm path that avoids a broken receiver (see `selfmon`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_monitoring: Option<crate::selfmon::SelfMonitoringConfig>,
}

/// `global:`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Global {
    #[serde(default)]
    pub resolve_timeout: Option<String>,
    #[serde(default)]
    pub smtp_from: Option<String>,
    #[serde(default)]
    pub smtp_hello: Option<String>,
    #[serde(default)]
    pub smtp_smarthost: Option<String>,
    #[serde(default)]
    pub smtp_auth_username: Option<String>,
    #[serde(default)]
    pub smtp_auth_password: Option<String>,
    #[serde(default)]
    pub smtp_auth_password_file: Option<String>,
    #[serde(default)]
    pub smtp_auth_secret: Option<String>,
    #[serde(default)]
    pub smtp_auth_secret_file: Option<String>,
    #[serde(default)]
    pub smtp_auth_identity: Option<String>,
    #[serde(default)]
    pub smtp_require_tls: Option<bool>,
    #[serde(default)]
    pub smtp_tls_config: Option<TlsConfig>,
    #[serde(default)]
    pub http_config: Option<serde_yaml::Value>,
}

impl Global {
    /// The `global.smtp_*` settings for the email notifier.
    pub fn smtp(&self) -> SmtpGlobals {
        SmtpGlobals {
            smtp_from: self.smtp_from.clone(),
            smtp_hello: self.smtp_hello.clone(),
            smtp_smarthost: self.smtp_smarthost.clone(),
            smtp_auth_username: self.smtp_auth_username.clone(),
            smtp_auth_password: self.smtp_auth_password.clone().map(Secret::new),
            smtp_auth_password_file: self.smtp_auth_password_file.clone(),
            smtp_auth_secret: self.smtp_auth_secret.clone().map(Secret::new),
            smtp_auth_secret_file: self.smtp_auth_secret_file.clone(),
            smtp_auth_identity: self.smtp_auth_identity.clone(),
            smtp_require_tls: self.smtp_require_tls,
            smtp_tls_config: self.smtp_tls_config.clone(),
        }
    }
}

/// One node of the routing tree.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    #[serde(default)]
    pub receiver: Option<String>,
    #[serde(default)]
    pub group_by: Option<Vec<String>>,
    #[serde(default, rename = "continue")]
    pub continue_: bool,
    #[serde(default)]
    pub matchers: Vec<String>,
    #[serde(default, rename = "match")]
    pub match_: BTreeMap<String, String>,
    #[serde(default)]
    pub match_re: BTreeMap<String, String>,
    #[serde(default)]
    pub group_wait: Option<String>,
    #[serde(default)]
    pub group_interval: Option<String>,
    #[serde(default)]
    pub repeat_interval: Option<String>,
    #[serde(default)]
    pub mute_time_intervals: Vec<String>,
    #[serde(default)]
    pub active_time_intervals: Vec<String>,
    #[serde(default)]
    pub routes: Vec<Route>,
}

/// One receiver.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receiver {
    pub name: String,
    #[serde(default)]
    pub email_configs: Vec<EmailConfig>,
    #[serde(default)]
    pub webhook_configs: Vec<WebhookConfig>,
}

/// One inhibition rule.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRule {
    #[serde(default)]
    pub source_matchers: Vec<String>,
    #[serde(default)]
    pub target_matchers: Vec<String>,
    #[serde(default)]
    pub source_match: BTreeMap<String, String>,
    #[serde(default)]
    pub source_match_re: BTreeMap<String, String>,
    #[serde(default)]
    pub target_match: BTreeMap<String, String>,
    #[serde(default)]
    pub target_match_re: BTreeMap<String, String>,
    #[serde(default)]
    pub equal: Vec<String>,
}

impl Config {
    /// Whether anything renders templates (today: email) or names template files;
    /// otherwise the template engine is never started.
    pub fn uses_templates(&self) -> bool {
        !self.templates.is_empty() || self.receivers.iter().any(|r| !r.email_configs.is_empty())
    }
}

/// Parses a Prometheus/Alertmanager duration such as `1h30m`, `5m`, `250ms`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("not a valid duration {s:?} (expected e.g. 30s, 5m, 1h30m)");
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(bad());
    }
    let units: [(&str, u64); 8] = [
        ("ms", 1),
        ("s", 1_000),
        ("m", 60_000),
        ("h", 3_600_000),
        ("d", 86_400_000),
        ("w", 604_800_000),
        ("y", 31_536_000_000),
        ("", 0),
    ];
    let mut rest = s;
    let mut total: u64 = 0;
    let mut last_rank = usize::MAX;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        // Longest unit first: "ms" before "m".
        let (rank, (unit, ms)) = units[..7]
            .iter()
            .enumerate()
            .filter(|(_, (u, _))| rest.starts_with(u))
            .min_by_key(|(_, (u, _))| std::cmp::Reverse(u.len()))
            .ok_or_else(bad)?;
        // Units must go from largest to smallest, each at most once.
        let order = [6usize, 5, 4, 3, 2, 1, 0];
        let pos = order.iter().position(|o| *o == rank).unwrap_or(0);
        if last_rank != usize::MAX && pos <= last_rank {
            return Err(bad());
        }
        last_rank = pos;
        total = total
            .checked_add(n.checked_mul(*ms).ok_or_else(bad)?)
            .ok_or_else(bad)?;
        rest = &rest[unit.len()..];
    }
    Ok(Duration::from_millis(total))
}

/// Parses and validates a config file's text. Errors name the file, the line and
/// the field. `templates:` paths are taken relative to the working directory.
pub fn parse(text: &str, origin: &str) -> Result<Config, String> {
    parse_at(text, origin, Path::new("."))
}

/// [`parse`], with `templates:` paths relative to `base_dir` (Alertmanager
/// resolves them against the config file's directory).
pub fn parse_at(text: &str, origin: &str, base_dir: &Path) -> Result<Config, String> {
    parse_with_templates(text, origin, base_dir).map(|(cfg, _)| cfg)
}

/// [`parse_at`], also returning the loaded templates (none when nothing renders
/// templates), so the daemon does not read and compile them a second time.
pub fn parse_with_templates(
    text: &str,
    origin: &str,
    base_dir: &Path,
) -> Result<(Config, crate::notify::template::Templates), String> {
    let cfg: Config = serde_yaml::from_str(text).map_err(|e| format!("{origin}: {e}"))?;
    validate(&cfg).map_err(|e| format!("{origin}: {e}"))?;
    // Template files and every templated email field parse and reference only
    // defined templates and functions, or the file is rejected.
    let templates = if cfg.uses_templates() {
        let receivers = cfg
            .receivers
            .iter()
            .map(|r| (r.name.as_str(), r.email_configs.as_slice()));
        crate::notify::template::check_config(base_dir, &cfg.templates, receivers)
            .map_err(|e| format!("{origin}: {e}"))?
    } else {
        crate::notify::template::Templates::none()
    };
    Ok((cfg, templates))
}

/// Reads and parses a config file.
pub fn load(path: &Path) -> Result<Config, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    parse_at(&text, &path.display().to_string(), dir)
}

pub fn validate(cfg: &Config) -> Result<(), String> {
    let mut names = HashSet::new();
    for r in &cfg.receivers {
        if !names.insert(r.name.as_str()) {
            return Err(format!(
                "receivers: notification config name {:?} is not unique",
                r.name
            ));
        }
        for (i, w) in r.webhook_configs.iter().enumerate() {
            if w.url.is_none() && w.url_file.is_none() {
                return Err(format!(
                    "receivers[{}].webhook_configs[{i}]: one of url or url_file must be configured",
                    r.name
                ));
            }
        }
    }
    if let Some(d) = &cfg.global.resolve_timeout {
        parse_duration(d).map_err(|e| format!("global.resolve_timeout: {e}"))?;
    }
    if let Some(d) = &cfg.evaluation_interval {
        parse_duration(d).map_err(|e| format!("evaluation_interval: {e}"))?;
    }
    if let Some(sm) = &cfg.self_monitoring {
        sm.check()?;
    }
    // The route tree and the time intervals are validated by the types the
    // dispatcher runs on, so `check-config` and a reload reject the same files.
    let mut errs = Vec::new();
    if let Err(e) = crate::timeinterval::Intervals::from_config(cfg) {
        errs.push(e);
    }
    if let Err(e) = crate::dispatch::route::Route::from_config(cfg) {
        errs.push(e);
    }
    if let Err(e) = crate::inhibit::compile_rules(&cfg.inhibit_rules) {
        errs.push(e);
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("\n"))
    }
}

/// The config shown to users (status API, logs): secrets become `<secret>`.
pub fn redacted(cfg: &Config) -> Config {
    let mut c = cfg.clone();
    let s = |v: &mut Option<String>| {
        if v.is_some() {
            *v = Some("<secret>".into());
        }
    };
    s(&mut c.global.smtp_auth_password);
    s(&mut c.global.smtp_auth_secret);
    // Receivers' secrets are `Secret`s, which never show.
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("1m1h").is_err());
        assert!(parse_duration("").is_err());
    }
}
