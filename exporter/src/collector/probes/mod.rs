//! `probe_*`: HTTP health probes of the user's own services, with blackbox_exporter's
//! metric names, so its dashboards and rules work unchanged. Which probes exist is
//! decided here (the `probes:` list of the config file, validated into [`Probe`]s);
//! how one runs is [`run`], its TLS side [`tls`].
//!
//! On `/metrics` every probe runs concurrently on each scrape and its series carry
//! `probe` (the name) and `target` (the URL), not `job`/`instance`, which Prometheus
//! sets itself. `/probe?target=&module=` ([`for_request`]) runs one configured probe
//! for a blackbox-style scrape config; a target that is not configured is refused, so
//! the endpoint cannot be used to reach arbitrary hosts (redis_exporter #1104).

pub mod run;
pub mod tls;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use serde::Deserialize;

use crate::collector::source::{CollectResult, Collector};
use crate::metrics::Family;
use crate::setting::{Origin, Problems};

pub use run::Outcome;

/// blackbox_exporter's default module timeout is the scrape timeout; ours is fixed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// blackbox_exporter ends a probe this long before the scrape timeout
/// (`--timeout-offset`), so its result still reaches the scraper.
pub const TIMEOUT_OFFSET: Duration = Duration::from_millis(500);

/// One entry of `probes:` as written.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawProbe {
    pub name: String,
    pub url: String,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub valid_status_codes: Vec<i64>,
    #[serde(default)]
    pub body_regex: Option<String>,
    /// e.g. `5s`.
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub tls_config: Option<tls::RawTlsConfig>,
}

/// `probes:` in the config file.
pub type RawConfig = Vec<RawProbe>;

/// One validated probe.
#[derive(Clone, Debug)]
pub struct Probe {
    pub name: String,
    pub url: url::Url,
    /// The URL as written, the `target` label.
    pub target: String,
    pub method: reqwest::Method,
    /// Empty: any 2xx (blackbox_exporter's default).
    pub valid_status_codes: Vec<u16>,
    pub body_regex: Option<regex_lite::Regex>,
    pub timeout: Duration,
    pub headers: reqwest::header::HeaderMap,
    pub tls: Arc<tls::TlsSettings>,
}

impl Probe {
    /// blackbox_exporter's status rule: the listed codes, or any 2xx when none are.
    pub fn status_ok(&self, code: u16) -> bool {
        if self.valid_status_codes.is_empty() {
            (200..300).contains(&code)
        } else {
            self.valid_status_codes.contains(&code)
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Config {
    pub probes: Vec<Probe>,
    /// The budget of the collector the probes run in on `/metrics`.
    pub collector_timeout: Duration,
}

impl Config {
    /// Validates every probe; a problem names `probes[i].<key>`. `collector_timeout` is
    /// the budget a probe on `/metrics` must fit in.
    pub fn validate(
        raw: RawConfig,
        collector_timeout: Duration,
        path: Option<&Path>,
        problems: &mut Problems,
    ) -> Config {
        let mut probes = Vec::new();
        let mut names = BTreeSet::new();
        for (i, p) in raw.into_iter().enumerate() {
            let key = |k: &str| Origin::file(path, format!("probes[{i}].{k}"));
            // A probe with a problem is still built from defaults where it can be: the
            // whole config is refused anyway, and the other problems are still found.
            let bad = |origin: Origin, msg: String, problems: &mut Problems| {
                problems.push(&origin, msg);
            };
            if p.name.trim().is_empty() {
                bad(key("name"), "must not be empty".into(), problems);
            } else if !names.insert(p.name.clone()) {
                bad(
                    key("name"),
                    format!("duplicate probe name {:?}", p.name),
                    problems,
                );
            }
            let url = match url::Url::parse(&p.url) {
                Ok(u) if !matches!(u.scheme(), "http" | "https") => {
                    bad(
                        key("url"),
                        format!("{:?} is not an http:// or https:// URL", p.url),
                        problems,
                    );
                    None
                }
                Ok(u) if u.host_str().is_none_or(str::is_empty) => {
                    bad(key("url"), format!("{:?} has no host", p.url), problems);
                    None
                }
                Ok(u) if !u.username().is_empty() || u.password().is_some() => {
                    bad(
                        key("url"),
                        "credentials in the URL would be exported in the `target` label".into(),
                        problems,
                    );
                    None
                }
                Ok(u) => Some(u),
                Err(e) => {
                    bad(
                        key("url"),
                        format!("invalid URL {:?}: {e}", p.url),
                        problems,
                    );
                    None
                }
            };
            let method = match p.method.as_deref() {
                None => reqwest::Method::GET,
                Some(m) => match reqwest::Method::from_bytes(m.as_bytes()) {
                    Ok(m) => m,
                    Err(_) => {
                        bad(
                            key("method"),
                            format!("invalid HTTP method {m:?}"),
                            problems,
                        );
                        reqwest::Method::GET
                    }
                },
            };
            let mut valid_status_codes = Vec::new();
            for (j, code) in p.valid_status_codes.iter().enumerate() {
                match u16::try_from(*code) {
                    Ok(c) if (100..=599).contains(&c) => valid_status_codes.push(c),
                    _ => bad(
                        key(&format!("valid_status_codes[{j}]")),
                        format!("{code} is not an HTTP status code (100-599)"),
                        problems,
                    ),
                }
            }
            let body_regex = p
                .body_regex
                .as_deref()
                .and_then(|r| crate::setting::regex(r, &key("body_regex"), problems));
            let timeout = match p.timeout.as_deref() {
                None => Some(DEFAULT_TIMEOUT),
                Some(t) => crate::setting::duration(t, &key("timeout"), problems),
            };
            let timeout = match timeout {
                Some(t) if t.is_zero() => {
                    bad(key("timeout"), "must be greater than 0".into(), problems);
                    DEFAULT_TIMEOUT
                }
                Some(t) if t > collector_timeout => {
                    bad(
                        key("timeout"),
                        format!(
                            "{} is longer than scrape.collector_timeout ({}), which would end the probe first",
                            fmt_duration(t),
                            fmt_duration(collector_timeout)
                        ),
                        problems,
                    );
                    DEFAULT_TIMEOUT
                }
                Some(t) => t,
                None => DEFAULT_TIMEOUT,
            };
            let mut headers = reqwest::header::HeaderMap::new();
            for (name, value) in &p.headers {
                let origin = key(&format!("headers.{name}"));
                match (
                    reqwest::header::HeaderName::from_bytes(name.as_bytes()),
                    reqwest::header::HeaderValue::from_str(value),
                ) {
                    (Ok(n), Ok(mut v)) => {
                        // Never shown by `Debug` (the config's, a log line's).
                        v.set_sensitive(true);
                        headers.insert(n, v);
                    }
                    (Err(_), _) => bad(origin, "invalid header name".into(), problems),
                    (_, Err(_)) => bad(origin, "invalid header value".into(), problems),
                }
            }
            let tls = tls::TlsSettings::validate(
                p.tls_config.unwrap_or_default(),
                &format!("probes[{i}].tls_config"),
                path,
                problems,
            );
            if let (Some(url), Some(tls)) = (url, tls) {
                probes.push(Probe {
                    name: p.name,
                    url,
                    target: p.url,
                    method,
                    valid_status_codes,
                    body_regex,
                    timeout,
                    headers,
                    tls: Arc::new(tls),
                });
            }
        }
        Config {
            probes,
            collector_timeout,
        }
    }

    /// The probe `/probe?target=&module=` asks for. `target` is a probe's name or URL;
    /// `module`, when given, names the probe and must agree with `target`. Anything
    /// else is refused with a message for the caller.
    pub fn for_request(&self, target: &str, module: Option<&str>) -> Result<&Probe, String> {
        if target.is_empty() {
            return Err("missing ?target=<probe name or URL from the config file>".into());
        }
        if let Some(m) = module.filter(|m| !m.is_empty()) {
            let Some(p) = self.probes.iter().find(|p| p.name == m) else {
                return Err(format!(
                    "unknown module {m:?}: not a probe in the config file"
                ));
            };
            if p.name != target && p.target != target {
                return Err(format!(
                    "target {target:?} is not the URL of probe {m:?} in the config file"
                ));
            }
            return Ok(p);
        }
        let found: Vec<&Probe> = self
            .probes
            .iter()
            .filter(|p| p.name == target || p.target == target)
            .collect();
        match found.as_slice() {
            [p] => Ok(p),
            [] => Err(format!(
                "target {target:?} is not a probe in the config file; only configured probes can be run"
            )),
            _ => Err(format!(
                "target {target:?} is the URL of several probes; pass module=<probe name>"
            )),
        }
    }
}

fn fmt_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// How long a probe may run within a budget (the collector timeout, or the
/// scraper's `X-Prometheus-Scrape-Timeout-Seconds`): its own timeout, cut to the budget
/// less blackbox_exporter's offset (at most a tenth of the budget).
pub fn effective_timeout(timeout: Duration, budget: Option<Duration>) -> Duration {
    match budget {
        Some(b) => timeout.min(b.saturating_sub(TIMEOUT_OFFSET.min(b / 10))),
        None => timeout,
    }
}

/// One run of `probe` for `/probe`: its families without `probe`/`target` labels (the
/// scraper relabels), ended within `budget` as blackbox_exporter does.
pub async fn run_one(probe: &Probe, budget: Option<Duration>) -> Vec<Family> {
    let outcome = run::probe(probe, effective_timeout(probe.timeout, budget)).await;
    if let Some(e) = &outcome.error {
        tracing::debug!(probe = %probe.name, target = %probe.target, error = %e, "probe failed");
    }
    let mut fams = Families::default();
    fams.add(&outcome, None);
    fams.into_vec()
}

/// The collector: every configured probe, run concurrently on each scrape.
pub struct Probes {
    probes: Vec<Arc<Probe>>,
    collector_timeout: Duration,
    /// Each probe's last failure, so a failure is logged when it starts or changes.
    last_error: Mutex<BTreeMap<String, String>>,
}

pub fn build(cfg: &Config) -> anyhow::Result<Arc<dyn Collector>> {
    Ok(Arc::new(Probes {
        probes: cfg.probes.iter().cloned().map(Arc::new).collect(),
        collector_timeout: cfg.collector_timeout,
        last_error: Mutex::new(BTreeMap::new()),
    }))
}

impl Probes {
    fn note(&self, probe: &Probe, outcome: &Outcome) {
        let mut last = self
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match (&outcome.error, last.get(&probe.name)) {
            (Some(e), old) if old != Some(e) => {
                tracing::warn!(probe = %probe.name, target = %probe.target, error = %e, "probe failed");
                last.insert(probe.name.clone(), e.clone());
            }
            (None, Some(_)) => {
                tracing::info!(probe = %probe.name, "probe recovered");
                last.remove(&probe.name);
            }
            _ => {}
        }
    }
}

impl Collector for Probes {
    fn name(&self) -> &'static str {
        "probes"
    }

    fn collect(&self) -> BoxFuture<'_, CollectResult> {
        Box::pin(async move {
            let timeout = |p: &Probe| effective_timeout(p.timeout, Some(self.collector_timeout));
            let runs = self
                .probes
                .iter()
                .map(|p| async move { (p, run::probe(p, timeout(p)).await) });
            let mut fams = Families::default();
            for (p, outcome) in futures::future::join_all(runs).await {
                self.note(p, &outcome);
                fams.add(&outcome, Some(p));
            }
            Ok(fams.into_vec())
        })
    }
}

/// Metric names, as blackbox_exporter's `prober/http.go` and `prober/handler.go` name them.
pub mod names {
    pub const SUCCESS: &str = "probe_success";
    pub const DURATION: &str = "probe_duration_seconds";
    pub const DNS_LOOKUP: &str = "probe_dns_lookup_time_seconds";
    pub const STATUS_CODE: &str = "probe_http_status_code";
    pub const PHASE_DURATION: &str = "probe_http_duration_seconds";
    pub const CONTENT_LENGTH: &str = "probe_http_content_length";
    pub const BODY_LENGTH: &str = "probe_http_uncompressed_body_length";
    pub const REDIRECTS: &str = "probe_http_redirects";
    pub const SSL: &str = "probe_http_ssl";
    pub const VERSION: &str = "probe_http_version";
    pub const CERT_EXPIRY: &str = "probe_ssl_earliest_cert_expiry";
    pub const FAILED_REGEX: &str = "probe_failed_due_to_regex";
}

/// The families of one or more probe outcomes. `probe`/`target` labels are added when
/// a probe is given (`/metrics`), left off otherwise (`/probe`, as blackbox_exporter).
#[derive(Default)]
pub struct Families(BTreeMap<&'static str, Family>);

impl Families {
    fn gauge(&mut self, name: &'static str, help: &'static str) -> &mut Family {
        self.0
            .entry(name)
            .or_insert_with(|| Family::gauge(name, help))
    }

    pub fn add(&mut self, o: &Outcome, probe: Option<&Probe>) {
        use names::*;
        let base: Vec<(&str, String)> = match probe {
            Some(p) => vec![("probe", p.name.clone()), ("target", p.target.clone())],
            None => Vec::new(),
        };
        let mut put = |name, help, value: f64| {
            self.gauge(name, help).push(base.clone(), value);
        };
        put(
            SUCCESS,
            "Displays whether or not the probe was a success",
            bool_f(o.success),
        );
        put(
            DURATION,
            "Returns how long the probe took to complete in seconds",
            o.duration.as_secs_f64(),
        );
        put(
            DNS_LOOKUP,
            "Returns the time taken for probe dns lookup in seconds",
            o.phases.resolve.as_secs_f64(),
        );
        put(
            STATUS_CODE,
            "Response HTTP status code",
            f64::from(o.status_code),
        );
        put(
            CONTENT_LENGTH,
            "Length of http content response",
            o.content_length.map_or(-1.0, |n| n as f64),
        );
        put(
            BODY_LENGTH,
            "Length of uncompressed response body",
            o.body_length as f64,
        );
        put(REDIRECTS, "The number of redirects", f64::from(o.redirects));
        put(
            SSL,
            "Indicates if SSL was used for the final redirect",
            bool_f(o.ssl),
        );
        put(
            VERSION,
            "Returns the version of HTTP of the probe response",
            o.http_version,
        );
        put(
            FAILED_REGEX,
            "Indicates if probe failed due to regex",
            bool_f(o.failed_due_to_regex),
        );
        if let Some(expiry) = o.earliest_cert_expiry {
            put(
                CERT_EXPIRY,
                "Returns last SSL chain expiry in unixtime",
                expiry as f64,
            );
        }
        let phases = self.gauge(
            PHASE_DURATION,
            "Duration of http request by phase, summed over all redirects",
        );
        for (phase, d) in o.phases.measured() {
            let mut labels = base.clone();
            labels.push(("phase", phase.to_string()));
            phases.push(labels, d.as_secs_f64());
        }
    }

    pub fn into_vec(self) -> Vec<Family> {
        self.0.into_values().collect()
    }
}

fn bool_f(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate(yaml: &str) -> Result<Config, Vec<String>> {
        let raw: RawConfig = serde_yaml::from_str(yaml).map_err(|e| vec![e.to_string()])?;
        let mut problems = Problems::default();
        let cfg = Config::validate(
            raw,
            Duration::from_secs(10),
            Some(Path::new("x.yml")),
            &mut problems,
        );
        if problems.is_empty() {
            Ok(cfg)
        } else {
            Err(problems.into_vec())
        }
    }

    #[test]
    fn defaults_are_blackbox_http_2xx() {
        let cfg = validate("- {name: api, url: 'http://127.0.0.1:8000/health'}").unwrap();
        let p = &cfg.probes[0];
        assert_eq!(p.method, reqwest::Method::GET);
        assert_eq!(p.timeout, DEFAULT_TIMEOUT);
        assert!(p.status_ok(200) && p.status_ok(204) && !p.status_ok(301) && !p.status_ok(500));
        assert_eq!(p.target, "http://127.0.0.1:8000/health");
    }

    #[test]
    fn effective_timeout_leaves_blackbox_offset() {
        let s = Duration::from_secs;
        assert_eq!(
            effective_timeout(s(5), Some(s(5))),
            Duration::from_millis(4500)
        );
        assert_eq!(effective_timeout(s(1), Some(s(5))), s(1));
        assert_eq!(
            effective_timeout(s(1), Some(s(1))),
            Duration::from_millis(900)
        );
        assert_eq!(effective_timeout(s(3), None), s(3));
    }

    #[test]
    fn request_resolution_only_allows_configured_probes() {
        let cfg = validate(
            "- {name: a, url: 'http://h/a'}\n- {name: b, url: 'http://h/b'}\n- {name: c, url: 'http://h/b'}\n",
        )
        .unwrap();
        assert_eq!(cfg.for_request("a", None).unwrap().name, "a");
        assert_eq!(cfg.for_request("http://h/a", None).unwrap().name, "a");
        assert_eq!(cfg.for_request("http://h/b", Some("c")).unwrap().name, "c");
        assert_eq!(
            cfg.for_request("http://h/b", None).unwrap_err(),
            "target \"http://h/b\" is the URL of several probes; pass module=<probe name>"
        );
        assert_eq!(
            cfg.for_request("http://evil/", None).unwrap_err(),
            "target \"http://evil/\" is not a probe in the config file; only configured probes can be run"
        );
        assert_eq!(
            cfg.for_request("http://evil/", Some("a")).unwrap_err(),
            "target \"http://evil/\" is not the URL of probe \"a\" in the config file"
        );
        assert_eq!(
            cfg.for_request("a", Some("zzz")).unwrap_err(),
            "unknown module \"zzz\": not a probe in the config file"
        );
    }
}

/// Config-file validation, end to end: each bad input and its exact error.
#[cfg(test)]
mod config_tests {
    use std::path::Path;

    use crate::config::{Config, Flags};

    fn error(yaml: &str) -> String {
        let path = Path::new("exporter.yml");
        match Config::parse_file_text(yaml, path) {
            Err(e) => e.to_string(),
            Ok(raw) => Config::from_layers(&Flags::default(), raw, Some(path))
                .expect_err("config should be refused")
                .to_string(),
        }
    }

    #[test]
    fn good_probes_load() {
        let path = Path::new("exporter.yml");
        let raw = Config::parse_file_text(
            "probes:\n  - {name: api-health, url: 'http://api:8000/health'}\n  - name: web\n    url: https://example.test/\n    method: HEAD\n    valid_status_codes: [200, 301]\n    body_regex: 'ok|fine'\n    timeout: 2s\n    headers: {Host: example.test}\n    tls_config: {insecure_skip_verify: true, server_name: example.test}\n",
            path,
        )
        .unwrap();
        let cfg = Config::from_layers(&Flags::default(), raw, Some(path)).unwrap();
        assert_eq!(cfg.probes.probes.len(), 2);
        let web = &cfg.probes.probes[1];
        assert_eq!(web.method, reqwest::Method::HEAD);
        assert_eq!(web.valid_status_codes, [200, 301]);
        assert_eq!(web.timeout, std::time::Duration::from_secs(2));
        assert!(cfg.enabled("probes"));
    }

    #[test]
    fn bad_url() {
        assert_eq!(
            error("probes:\n  - {name: a, url: 'ftp://h/x'}\n"),
            "config file exporter.yml: probes[0].url: \"ftp://h/x\" is not an http:// or https:// URL"
        );
        assert_eq!(
            error("probes:\n  - {name: a, url: 'api:8000/health'}\n"),
            "config file exporter.yml: probes[0].url: \"api:8000/health\" is not an http:// or https:// URL"
        );
        assert_eq!(
            error("probes:\n  - {name: a, url: 'health'}\n"),
            "config file exporter.yml: probes[0].url: invalid URL \"health\": relative URL without a base"
        );
    }

    #[test]
    fn credentials_in_url() {
        assert_eq!(
            error("probes:\n  - {name: a, url: 'http://user:pw@h/'}\n"),
            "config file exporter.yml: probes[0].url: credentials in the URL would be exported in the `target` label"
        );
    }

    #[test]
    fn duplicate_name() {
        assert_eq!(
            error("probes:\n  - {name: a, url: 'http://h/1'}\n  - {name: a, url: 'http://h/2'}\n"),
            "config file exporter.yml: probes[1].name: duplicate probe name \"a\""
        );
    }

    #[test]
    fn unknown_key() {
        assert_eq!(
            error("probes:\n  - name: a\n    url: http://h/\n    timout: 1s\n"),
            "config file exporter.yml: probes[0]: unknown field `timout`, expected one of `name`, `url`, `method`, `valid_status_codes`, `body_regex`, `timeout`, `headers`, `tls_config` at line 4 column 5"
        );
        assert_eq!(
            error("probes:\n  - name: a\n    url: https://h/\n    tls_config: {insecure: true}\n"),
            "config file exporter.yml: probes[0].tls_config: unknown field `insecure`, expected one of `ca_file`, `cert_file`, `key_file`, `server_name`, `insecure_skip_verify` at line 4 column 18"
        );
        assert_eq!(
            error("probes:\n  - url: http://h/\n"),
            "config file exporter.yml: probes[0]: missing field `name` at line 2 column 5"
        );
    }

    #[test]
    fn bad_status_code() {
        assert_eq!(
            error("probes:\n  - {name: a, url: 'http://h/', valid_status_codes: [200, 2000]}\n"),
            "config file exporter.yml: probes[0].valid_status_codes[1]: 2000 is not an HTTP status code (100-599)"
        );
    }

    #[test]
    fn bad_regex() {
        assert_eq!(
            error("probes:\n  - {name: a, url: 'http://h/', body_regex: '(ok'}\n"),
            "config file exporter.yml: probes[0].body_regex: invalid regular expression: found open group without closing ')'"
        );
    }

    #[test]
    fn timeout_longer_than_the_collector_budget() {
        assert_eq!(
            error("probes:\n  - {name: a, url: 'http://h/', timeout: 10s}\n"),
            "config file exporter.yml: probes[0].timeout: 10s is longer than scrape.collector_timeout (5s), which would end the probe first"
        );
    }

    #[test]
    fn tls_files_are_checked_at_load() {
        assert_eq!(
            error(
                "probes:\n  - name: a\n    url: https://h/\n    tls_config: {ca_file: /nonexistent/ca.pem}\n"
            ),
            "config file exporter.yml: probes[0].tls_config.ca_file: /nonexistent/ca.pem: I/O error: No such file or directory (os error 2)"
        );
        assert_eq!(
            error(
                "probes:\n  - name: a\n    url: https://h/\n    tls_config: {cert_file: /x.pem}\n"
            ),
            "config file exporter.yml: probes[0].tls_config.key_file: cert_file is set, key_file is missing"
        );
    }
}
