//! alertmanager.yml, as Alertmanager reads it, plus Prometheus's keys for the rule
//! evaluator (`rule_files`, `scrape_configs`, `global.scrape_interval`,
//! `global.scrape_timeout`, `global.evaluation_interval`, `global.external_labels`,
//! and our top-level `evaluation_interval`), and `remote_query` (rules evaluated by a
//! remote Prometheus-compatible engine). Unknown keys are errors.
//!
//! This module only assembles: each section's raw type and its compile step belong
//! to the component that runs it (`route:` to dispatch::route, `inhibit_rules:` to
//! inhibit, `receivers:` to notify, time intervals to timeinterval,
//! `self_monitoring:` to selfmon). [`compile`] runs every step once and returns the
//! [`Compiled`] value that `check-config` reports on and a reload puts in service.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use config_values::Duration as ConfigDuration;
use serde::{Deserialize, Serialize};

use crate::dispatch::route::{Known, Route, RouteConfig};
use crate::inhibit::{self, RawRule as InhibitRule};
use crate::notify::email::ResolvedEmail;
use crate::notify::email::{SmtpGlobals, check_host_port};
use crate::notify::http::HttpConfig;
use crate::notify::integration::IntegrationGlobals;
use crate::notify::pipeline::Receivers;
use crate::notify::receivers::{
    Built, ReceiverConfig as Receiver, build_receivers, load_templates,
};
use crate::notify::template::Templates;
use crate::ruler::remote::{self, RemoteQueryConfig};
use crate::ruler::scrape::{self, ScrapeConfig};
use crate::ruler::{self, Settings as RulerSettings};
use crate::rules::file::RuleKind;
use crate::selfmon::{self, SelfMonitoringConfig};
use crate::timeinterval::{self, Intervals};

/// Alertmanager's default `global.resolve_timeout`.
pub const DEFAULT_RESOLVE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The whole file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub global: Global,
    #[serde(default)]
    pub route: Option<RouteConfig>,
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
    /// Ours: how often rules are evaluated (`global.evaluation_interval` too).
    #[serde(default)]
    pub evaluation_interval: Option<ConfigDuration>,
    /// Prometheus's: the targets the evaluator scrapes (see `ruler::scrape`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scrape_configs: Vec<ScrapeConfig>,
    /// Ours: evaluate the rules against this engine instead (see `ruler::remote`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_query: Option<RemoteQueryConfig>,
    /// Ours: the alarm path that avoids a broken receiver (see `selfmon`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_monitoring: Option<SelfMonitoringConfig>,
}

/// `global:`. The `smtp_*` defaults belong to the email integration, which owns
/// their type; the rest is read here.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Global {
    #[serde(default)]
    pub resolve_timeout: Option<ConfigDuration>,
    /// The default of every integration without its own.
    #[serde(default)]
    pub http_config: Option<HttpConfig>,
    /// Prometheus's: the default interval and timeout of `scrape_configs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_interval: Option<ConfigDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_timeout: Option<ConfigDuration>,
    /// Prometheus's: how often rule groups without their own interval run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation_interval: Option<ConfigDuration>,
    /// Prometheus's: added to every alert the evaluator sends (not overriding its
    /// labels) and `$externalLabels` in templates.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub external_labels: BTreeMap<String, String>,
    #[serde(flatten)]
    pub smtp: SmtpGlobals,
    /// `slack_api_url` and the other integrations' defaults.
    #[serde(flatten)]
    pub integrations: IntegrationGlobals,
}

impl Config {
    /// Whether any integration renders templates (all but the webhook) or the file names template files;
    /// otherwise the template engine is never started.
    pub fn uses_templates(&self) -> bool {
        !self.templates.is_empty() || self.receivers.iter().any(Receiver::renders_templates)
    }
}

/// Everything one config runs, each section compiled once by the component that
/// owns it: what `check-config` reports on, and what a reload swaps in as a whole.
pub struct Compiled {
    /// The file as written, for the status API (its secrets are typed
    /// `config_values::Secret`, so any serialisation shows them redacted).
    pub config: Config,
    pub route: Arc<Route>,
    pub intervals: Intervals,
    pub inhibit_rules: Vec<inhibit::Rule>,
    pub templates: Templates,
    pub receivers: Receivers,
    /// Each receiver's email integrations, resolved or why not (see [`Built`]).
    pub emails: BTreeMap<String, Vec<Result<ResolvedEmail, String>>>,
    pub selfmon: selfmon::Settings,
    /// `global.resolve_timeout`, or Alertmanager's default.
    pub resolve_timeout: Duration,
    /// Hex SHA-256 of the text (`alertmanager_config_hash`, status, reload checks).
    pub hash: String,
    /// Problems that do not stop the config from loading but will stop mail (a
    /// password file that is missing, say), for status and logs.
    pub warnings: Vec<String>,
    /// Secret files the config names that cannot be read (see [`Built`]): a reload
    /// refuses such a config; at start-up they are among the warnings.
    pub unreadable_secrets: Vec<String>,
    /// What the rule evaluator runs: rules loaded and targets built; empty without
    /// `rule_files` and `scrape_configs`.
    pub ruler: Arc<RulerSettings>,
}

/// Where a compile looks up secrets named by environment variable.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The file's text as written: YAML errors name the file, line and key path.
pub fn parse(text: &str, origin: &str) -> Result<Config, String> {
    serde_yaml::from_str(text).map_err(|e| format!("{origin}: {e}"))
}

/// Parses and compiles a config file's text. `templates:` paths are taken relative
/// to `base_dir` (Alertmanager resolves them against the config file's directory).
/// Every problem is reported, one per line, each prefixed with `origin`.
pub fn compile(
    text: &str,
    origin: &str,
    base_dir: &Path,
    env: Env<'_>,
) -> Result<Compiled, String> {
    let config = parse(text, origin)?;
    compile_config(config, hash(text.as_bytes()), base_dir, env)
        .map_err(|e| format!("{origin}: {e}"))
}

/// Hex SHA-256 of a config file's bytes.
pub fn hash(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// [`compile`] with no environment and paths relative to the working directory.
pub fn compile_str(text: &str, origin: &str) -> Result<Compiled, String> {
    compile(text, origin, Path::new("."), &|_| None)
}

/// Reads and compiles a config file, with secrets from the process environment.
pub fn load(path: &Path) -> Result<Compiled, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let env = |k: &str| std::env::var(k).ok();
    compile(&text, &path.display().to_string(), dir, &env)
}

fn compile_config(
    config: Config,
    hash: String,
    base_dir: &Path,
    env: Env<'_>,
) -> Result<Compiled, String> {
    let mut errs = Vec::new();
    let mut receivers = HashSet::new();
    for r in &config.receivers {
        if !receivers.insert(r.name.as_str()) {
            errs.push(format!(
                "receivers: notification config name {:?} is not unique",
                r.name
            ));
        }
        for (i, e) in r.email_configs.iter().enumerate() {
            if let Some(err) = e.smarthost.as_deref().and_then(check_host_port) {
                errs.push(format!(
                    "receivers[{}].email_configs[{i}].smarthost: {err}",
                    r.name
                ));
            }
        }
        for (i, w) in r.webhook_configs.iter().enumerate() {
            if w.url.is_none() && w.url_file.is_none() {
                errs.push(format!(
                    "receivers[{}].webhook_configs[{i}]: one of url or url_file must be configured",
                    r.name
                ));
            }
            if let Some(h) = &w.http_config {
                errs.extend(h.check().into_iter().map(|e| {
                    format!(
                        "receivers[{}].webhook_configs[{i}].http_config: {e}",
                        r.name
                    )
                }));
            }
        }
    }
    for r in &config.receivers {
        errs.extend(r.check_integrations(&config.global.integrations));
    }
    errs.extend(config.global.smtp.check());
    errs.extend(config.global.integrations.check());
    if let Some(h) = &config.global.http_config {
        errs.extend(
            h.check()
                .into_iter()
                .map(|e| format!("global.http_config: {e}")),
        );
    }
    let sm = config.self_monitoring.clone().unwrap_or_default();
    if let Err(e) = sm.check() {
        errs.push(e);
    }
    let intervals = Intervals::compile(&config.mute_time_intervals, &config.time_intervals)
        .map_err(|e| errs.push(e))
        .ok();
    let known = Known {
        receivers,
        time_intervals: config
            .time_intervals
            .iter()
            .chain(&config.mute_time_intervals)
            .filter_map(timeinterval::name_of)
            .collect(),
    };
    let route = Route::compile(config.route.as_ref(), &known)
        .map_err(|e| errs.push(e))
        .ok();
    let inhibit_rules = inhibit::compile_rules(&config.inhibit_rules)
        .map_err(|e| errs.push(e))
        .ok();
    let ruler = compile_ruler(&config, base_dir)
        .map_err(|e| errs.extend(e))
        .ok();
    let (Some(intervals), Some(route), Some(inhibit_rules), Some(ruler), true) =
        (intervals, route, inhibit_rules, ruler, errs.is_empty())
    else {
        return Err(errs.join("\n"));
    };
    // Template files and every templated email field parse and reference only
    // defined templates and functions, or the file is rejected.
    let templates = if config.uses_templates() {
        load_templates(base_dir, &config.templates, &config.receivers)?
    } else {
        Templates::none()
    };
    let Built {
        receivers,
        emails,
        mut warnings,
        unreadable_secrets,
    } = build_receivers(
        &config.receivers,
        &config.global.smtp,
        &config.global.integrations,
        config.global.http_config.as_ref(),
        base_dir,
        env,
        &templates,
    );
    // A heartbeat URL that does not resolve must not stop alerting: warn, and run
    // without the heartbeat (its absence alarms on the other side).
    let selfmon = match sm.resolve(env) {
        Ok(s) => s,
        Err(e) => {
            warnings.push(format!("{e}; running without the heartbeat"));
            let no_url = SelfMonitoringConfig {
                heartbeat_url: None,
                heartbeat_url_file: None,
                heartbeat_url_env: None,
                ..sm
            };
            no_url.resolve(&|_| None)?
        }
    };
    if let Some(r) = &config.remote_query {
        warnings.extend(r.inline_secrets());
    }
    let resolve_timeout = config
        .global
        .resolve_timeout
        .map_or(DEFAULT_RESOLVE_TIMEOUT, ConfigDuration::as_std);
    Ok(Compiled {
        config,
        route: Arc::new(route),
        intervals,
        inhibit_rules,
        templates,
        receivers,
        emails,
        selfmon,
        resolve_timeout,
        hash,
        warnings,
        unreadable_secrets,
        ruler: Arc::new(ruler),
    })
}

/// The evaluator's settings: Prometheus's defaults for what is not set.
fn compile_ruler(config: &Config, base_dir: &Path) -> Result<RulerSettings, Vec<String>> {
    let g = &config.global;
    let mut errs = Vec::new();
    if config.evaluation_interval.is_some() && g.evaluation_interval.is_some() {
        errs.push(
            "evaluation_interval: set both at the top level and in global; keep one".to_string(),
        );
    }
    let evaluation_interval = g
        .evaluation_interval
        .or(config.evaluation_interval)
        .map_or(ruler::DEFAULT_EVALUATION_INTERVAL, ConfigDuration::as_std);
    let scrape_interval = g
        .scrape_interval
        .map_or(scrape::DEFAULT_SCRAPE_INTERVAL, ConfigDuration::as_std);
    let scrape_timeout = g
        .scrape_timeout
        .map_or(scrape::DEFAULT_SCRAPE_TIMEOUT, ConfigDuration::as_std);
    for (key, d) in [
        ("global.evaluation_interval", evaluation_interval),
        ("global.scrape_interval", scrape_interval),
    ] {
        if d.is_zero() {
            errs.push(format!("{key}: must be positive"));
        }
    }
    if scrape_timeout > scrape_interval {
        errs.push(format!(
            "global.scrape_timeout: {} is greater than global.scrape_interval {}",
            scrape::fmt_d(scrape_timeout),
            scrape::fmt_d(scrape_interval)
        ));
    }
    for name in g.external_labels.keys() {
        if name.is_empty()
            || name.starts_with(|c: char| c.is_ascii_digit())
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            errs.push(format!(
                "global.external_labels: {name:?} is not a valid label name"
            ));
        }
    }
    let targets = scrape::compile(
        &config.scrape_configs,
        scrape_interval,
        scrape_timeout,
        base_dir,
    )
    .map_err(|e| errs.extend(e))
    .unwrap_or_default();
    let groups = ruler::load_rule_files(base_dir, &config.rule_files)
        .map_err(|e| errs.extend(e))
        .unwrap_or_default();
    let remote = match &config.remote_query {
        None => None,
        Some(r) => {
            if !config.scrape_configs.is_empty() {
                errs.push(
                    "remote_query: cannot be used with scrape_configs: with remote_query every rule reads the remote engine, so scraped samples would never be read (let that engine scrape the targets)"
                        .into(),
                );
            }
            // As vmalert without -remoteWrite.url: a recording rule's output would
            // have to be written back to the engine for anything to read it.
            for g in &groups {
                for r in g.rules.iter().filter(|r| r.kind == RuleKind::Record) {
                    errs.push(format!(
                        "{}:{}: group {:?}: recording rule {:?}: not evaluated with remote_query (its output cannot be written back to the remote engine); record it in that engine's own rules",
                        g.file.display(),
                        r.line,
                        g.name,
                        r.name
                    ));
                }
            }
            remote::compile(r, base_dir)
                .map_err(|e| errs.extend(e))
                .ok()
                .map(Arc::new)
        }
    };
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(RulerSettings {
        groups,
        targets,
        evaluation_interval,
        external_labels: g.external_labels.clone().into_iter().collect(),
        remote,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `global:` is read through two types (ours and the email integration's
    /// `smtp_*` defaults): a misspelt key is still an error naming it.
    #[test]
    fn global_keys_from_both_owners_and_unknown_ones_refused() {
        let base = "route: {receiver: r}\nreceivers: [{name: r}]\n";
        let c = compile_str(
            &format!("global:\n  resolve_timeout: 1m\n  smtp_from: a@b.c\n  smtp_require_tls: false\n{base}"),
            "am.yml",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.resolve_timeout, Duration::from_secs(60));
        assert_eq!(c.config.global.smtp.smtp_from.as_deref(), Some("a@b.c"));
        assert_eq!(c.config.global.smtp.smtp_require_tls, Some(false));
        let e = compile_str(&format!("global:\n  smtp_form: a@b.c\n{base}"), "am.yml")
            .err()
            .unwrap();
        assert!(e.contains("smtp_form"), "{e}");
        let e = compile_str(
            &format!("global:\n  smtp_require_tls: maybe\n{base}"),
            "am.yml",
        )
        .err()
        .unwrap();
        assert!(
            e.contains("smtp_require_tls") || e.contains("global"),
            "{e}"
        );
        eprintln!("{e}");
    }

    #[test]
    fn config_validation_checks_inhibit_rules() {
        let y = "route: {receiver: r}\nreceivers: [{name: r}]\ninhibit_rules:\n- {}\n- source_matchers: ['a=~\"(\"']\n";
        let e = compile_str(y, "am.yml").err().unwrap();
        assert!(
            e.starts_with("am.yml: inhibit_rules[1].source_matchers[0]: "),
            "{e}"
        );
        let ok = "route: {receiver: r}\nreceivers: [{name: r}]\ninhibit_rules:\n- {source_matchers: ['a=b'], equal: [x]}\n";
        assert!(compile_str(ok, "am.yml").is_ok());
    }

    /// A bad `resolve_timeout` is an error naming the key; it used to be read again
    /// by the API, which turned a bad value into 5m without a word.
    #[test]
    fn resolve_timeout_is_compiled_once_and_a_bad_one_is_an_error() {
        let base = "route: {receiver: r}\nreceivers: [{name: r}]\n";
        let c = compile_str(
            &format!("global: {{resolve_timeout: 90s}}\n{base}"),
            "am.yml",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.resolve_timeout, Duration::from_secs(90));
        let c = compile_str(base, "am.yml").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.resolve_timeout, DEFAULT_RESOLVE_TIMEOUT);
        let e = compile_str(
            &format!("global: {{resolve_timeout: 5x}}\n{base}"),
            "am.yml",
        )
        .err()
        .unwrap();
        assert!(
            e.contains("global.resolve_timeout") && e.contains("invalid duration"),
            "{e}"
        );
    }

    /// Prometheus's keys for the evaluator: defaults, and each bad one named.
    #[test]
    fn evaluator_keys_compile_with_prometheus_defaults_and_errors_named() {
        let base = "route: {receiver: r}\nreceivers: [{name: r}]\n";
        let c = compile_str(base, "am.yml").unwrap_or_else(|e| panic!("{e}"));
        assert!(c.ruler.is_empty(), "nothing to evaluate without the keys");
        let c = compile_str(
            &format!("global: {{scrape_interval: 15s, external_labels: {{site: a}}}}\nscrape_configs:\n- job_name: node\n  static_configs: [{{targets: ['127.0.0.1:9100']}}]\n{base}"),
            "am.yml",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.ruler.targets[0].interval, Duration::from_secs(15));
        assert_eq!(c.ruler.targets[0].timeout, Duration::from_secs(10));
        assert_eq!(c.ruler.evaluation_interval, Duration::from_secs(60));
        assert_eq!(c.ruler.external_labels["site"], "a");
        let e = compile_str(
            &format!("evaluation_interval: 1m\nglobal: {{evaluation_interval: 30s, scrape_interval: 5s, scrape_timeout: 10s, external_labels: {{1x: a}}}}\nrule_files: [does-not-exist/*.yml]\nscrape_configs:\n- job_name: j\n  file_sd_configs: [{{files: [x.txt], refresh_interval: 1m}}]\n  metric_relabel_configs: [{{regex: '(', action: drop}}]\n{base}"),
            "am.yml",
        )
        .err()
        .unwrap();
        for want in [
            "evaluation_interval: set both",
            "global.scrape_timeout: 10s is greater than global.scrape_interval 5s",
            "global.external_labels: \"1x\"",
            "rule_files: \"does-not-exist/*.yml\" matches no file",
            "scrape_configs[0].file_sd_configs[0].files[0]: \"x.txt\": expected",
            "scrape_configs[0].metric_relabel_configs[0].regex: invalid regular expression",
        ] {
            assert!(e.contains(want), "missing {want:?} in:\n{e}");
        }
        let e = compile_str(
            &format!("scrape_configs:\n- job_name: j\n  relabel_config: []\n{base}"),
            "am.yml",
        )
        .err()
        .unwrap();
        assert!(e.contains("relabel_config"), "{e}");
    }

    /// `remote_query`: compiled into the evaluator's settings; with `scrape_configs`
    /// or a recording rule it is an error saying why; its secrets never show.
    #[test]
    fn remote_query_compiles_and_its_conflicts_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let alert = "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n";
        std::fs::write(dir.path().join("alerts.yml"), alert).unwrap();
        let record = "groups:\n- name: r\n  rules:\n  - alert: B\n    expr: up == 0\n  - record: job:up\n    expr: sum by (job) (up)\n";
        std::fs::write(dir.path().join("record.yml"), record).unwrap();
        let base = "route: {receiver: r}\nreceivers: [{name: r}]\n";
        let remote = "remote_query:\n  url: http://127.0.0.1:9090/api/v1/query\n  timeout: 3s\n  headers: {X-Scope-OrgID: secret-tenant}\n  basic_auth: {username: u, password: inline-pw}\n";
        let c = compile(
            &format!("rule_files: [alerts.yml]\n{remote}{base}"),
            "am.yml",
            dir.path(),
            &|_| None,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let r = c.ruler.remote.as_ref().expect("remote mode");
        assert_eq!(r.timeout, Duration::from_secs(3));
        assert!(c.ruler.targets.is_empty() && c.ruler.groups.len() == 1);
        assert!(
            c.warnings
                .iter()
                .any(|w| w.contains("remote_query.basic_auth.password is inline")),
            "{:?}",
            c.warnings
        );
        let shown = serde_yaml::to_string(&c.config).unwrap();
        assert!(
            !shown.contains("secret-tenant") && !shown.contains("inline-pw"),
            "{shown}"
        );
        let e = compile(
            &format!("rule_files: [record.yml]\n{remote}scrape_configs:\n- job_name: j\n  static_configs: [{{targets: ['h:1']}}]\n{base}"),
            "am.yml",
            dir.path(),
            &|_| None,
        )
        .err()
        .unwrap();
        for want in [
            "remote_query: cannot be used with scrape_configs: with remote_query every rule reads the remote engine",
            "record.yml:6: group \"r\": recording rule \"job:up\": not evaluated with remote_query",
        ] {
            assert!(e.contains(want), "missing {want:?} in:\n{e}");
        }
    }

    /// Every section's problems are reported together, each with its key path.
    #[test]
    fn all_problems_at_once() {
        let y = "route: {receiver: nobody}\nreceivers: [{name: r}, {name: r}]\ninhibit_rules: [{source_matchers: ['a=~\"(\"']}]\ntime_intervals: [{name: t, time_intervals: [{weekdays: [someday]}]}]\n";
        let e = compile_str(y, "am.yml").err().unwrap();
        for want in [
            "not unique",
            "route.receiver: undefined receiver \"nobody\"",
            "inhibit_rules[0].source_matchers[0]",
            "time_intervals[0]",
        ] {
            assert!(e.contains(want), "missing {want:?} in:\n{e}");
        }
    }
}
