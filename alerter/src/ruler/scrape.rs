//! `scrape_configs` as Prometheus reads them (the subset this build runs; the rest is
//! refused by name), compiled into targets, and the scrape of one target: fetch with a
//! timeout and a body bound, parse, label, append to the store with stale markers for
//! series that went away, and the `up` / `scrape_*` series Prometheus writes.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use config_values::Duration as ConfigDuration;
use serde::{Deserialize, Serialize};

use super::exposition;
use super::relabel::{self, RelabelConfig, Rule};
use crate::notify::http::{Authorization, BasicAuth, HttpClient, HttpConfig, TlsConfig};
use crate::promql::{Labels, Store, stale_nan};
use crate::sync::lock;

/// Prometheus's defaults (config/config.go DefaultGlobalConfig).
pub const DEFAULT_SCRAPE_INTERVAL: Duration = Duration::from_secs(60);
pub const DEFAULT_SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
/// A body larger than this fails the scrape (`up` 0): memory stays bounded whatever a
/// target sends.
pub const MAX_BODY_BYTES: usize = 16 << 20;

/// One `scrape_configs` entry as written.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfig {
    pub job_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub static_configs: Vec<StaticConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_interval: Option<ConfigDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_timeout: Option<ConfigDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_path: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    #[serde(default)]
    pub honor_labels: bool,
    #[serde(default)]
    pub sample_limit: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<TlsConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relabel_configs: Vec<RelabelConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metric_relabel_configs: Vec<RelabelConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub file_sd_configs: Vec<FileSdConfig>,
    /// Known to Prometheus, not run by this build: refused by name, never ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub honor_timestamps: Option<serde_yaml::Value>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// One `file_sd_configs` entry: target files (globs, relative to the config file).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSdConfig {
    #[serde(default)]
    pub files: Vec<String>,
    /// Accepted for Prometheus compatibility; the files are re-read by the config
    /// file watch (every few seconds), which is sooner than its 5m default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_interval: Option<ConfigDuration>,
}

/// The files a `file_sd_configs` pattern names now, relative to `base_dir`.
pub fn sd_files(base_dir: &Path, pattern: &str) -> Vec<std::path::PathBuf> {
    let p = base_dir.join(pattern);
    if pattern.contains(['*', '?', '[']) {
        crate::rules::glob::glob_files(&p)
    } else if p.exists() {
        vec![p]
    } else {
        Vec::new()
    }
}

/// Every file any job's `file_sd_configs` names now (for the change watch).
pub fn all_sd_files(configs: &[ScrapeConfig], base_dir: &Path) -> Vec<std::path::PathBuf> {
    configs
        .iter()
        .flat_map(|c| &c.file_sd_configs)
        .flat_map(|f| &f.files)
        .flat_map(|pat| sd_files(base_dir, pat))
        .collect()
}

/// A target file: a list of groups, JSON or YAML by extension.
fn read_sd_file(path: &Path) -> Result<Vec<StaticConfig>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let json = path.extension().is_some_and(|e| e == "json");
    let parsed = if json {
        serde_json::from_str(&text).map_err(|e| e.to_string())
    } else {
        serde_yaml::from_str::<Option<Vec<StaticConfig>>>(&text)
            .map(Option::unwrap_or_default)
            .map_err(|e| e.to_string())
    };
    parsed.map_err(|e| format!("{}: {e}", path.display()))
}

/// A target ready to scrape.
#[derive(Clone, Debug)]
pub struct Target {
    pub job: String,
    pub url: String,
    /// `job`, `instance` and the static labels: put on every sample.
    pub labels: Labels,
    pub interval: Duration,
    pub timeout: Duration,
    pub honor_labels: bool,
    pub sample_limit: u64,
    /// `metric_relabel_configs`, run on each scraped sample before it is stored.
    pub metric_relabel: Arc<Vec<Rule>>,
    pub client: HttpClient,
    /// What makes two targets the same across a reload (client settings included).
    pub key: String,
}

/// Compiles every `scrape_configs` entry; all problems at once, each with its key path.
pub fn compile(
    configs: &[ScrapeConfig],
    global_interval: Duration,
    global_timeout: Duration,
    base_dir: &Path,
) -> Result<Vec<Target>, Vec<String>> {
    let mut errs = Vec::new();
    let mut out = Vec::new();
    let mut jobs = HashSet::new();
    for (i, c) in configs.iter().enumerate() {
        let at = format!("scrape_configs[{i}]");
        if c.job_name.is_empty() {
            errs.push(format!("{at}.job_name: must not be empty"));
        } else if !jobs.insert(c.job_name.as_str()) {
            errs.push(format!("{at}.job_name: {:?} is not unique", c.job_name));
        }
        for (key, set) in [("honor_timestamps", c.honor_timestamps.is_some())] {
            if set {
                errs.push(format!(
                    "{at}.{key}: not supported by this build's scraper (use static_configs, labels and relabel_configs)"
                ));
            }
        }
        let interval = c
            .scrape_interval
            .map_or(global_interval, ConfigDuration::as_std);
        // Prometheus: an unset timeout is the global one, capped at the interval.
        let timeout = c
            .scrape_timeout
            .map_or(global_timeout.min(interval), ConfigDuration::as_std);
        if interval.is_zero() {
            errs.push(format!("{at}.scrape_interval: must be positive"));
        }
        if timeout > interval {
            errs.push(format!(
                "{at}.scrape_timeout: {} is greater than scrape_interval {}",
                fmt_d(timeout),
                fmt_d(interval)
            ));
        }
        let scheme = c.scheme.as_deref().unwrap_or("http");
        if scheme != "http" && scheme != "https" {
            errs.push(format!("{at}.scheme: {scheme:?}: expected http or https"));
        }
        let path = c.metrics_path.as_deref().unwrap_or("/metrics");
        if !path.starts_with('/') {
            errs.push(format!("{at}.metrics_path: {path:?}: must start with /"));
        }
        let http = HttpConfig {
            basic_auth: c.basic_auth.clone(),
            authorization: c.authorization.clone(),
            tls_config: c.tls_config.clone(),
            ..HttpConfig::default()
        };
        let problems = http.check();
        errs.extend(problems.iter().map(|e| format!("{at}: {e}")));
        let client = if problems.is_empty() {
            match http.build(base_dir) {
                Ok(cl) => Some(cl),
                Err(e) => {
                    errs.push(format!("{at}: {e}"));
                    None
                }
            }
        } else {
            None
        };
        let relabel_rules = relabel::compile(&c.relabel_configs, &format!("{at}.relabel_configs"))
            .map_err(|e| errs.extend(e))
            .unwrap_or_default();
        let metric_relabel = Arc::new(
            relabel::compile(
                &c.metric_relabel_configs,
                &format!("{at}.metric_relabel_configs"),
            )
            .map_err(|e| errs.extend(e))
            .unwrap_or_default(),
        );
        let mut sources: Vec<(String, StaticConfig, Option<String>)> = c
            .static_configs
            .iter()
            .enumerate()
            .map(|(j, sc)| (format!("{at}.static_configs[{j}]"), sc.clone(), None))
            .collect();
        for (f, sd) in c.file_sd_configs.iter().enumerate() {
            for (m, pat) in sd.files.iter().enumerate() {
                let ok_ext = [".json", ".yml", ".yaml"].iter().any(|e| pat.ends_with(e));
                let dir_glob = Path::new(pat)
                    .parent()
                    .is_some_and(|d| d.to_string_lossy().contains(['*', '?', '[']));
                if !ok_ext || dir_glob {
                    errs.push(format!(
                        "{at}.file_sd_configs[{f}].files[{m}]: {pat:?}: expected a path or a glob in its last element, ending in .json, .yml or .yaml"
                    ));
                    continue;
                }
                for file in sd_files(base_dir, pat) {
                    match read_sd_file(&file) {
                        Ok(groups) => {
                            for (g, sc) in groups.into_iter().enumerate() {
                                let where_ = format!("{}[{g}]", file.display());
                                let meta = file.display().to_string();
                                sources.push((where_, sc, Some(meta)));
                            }
                        }
                        Err(e) => errs.push(format!("{at}.file_sd_configs[{f}]: {e}")),
                    }
                }
            }
        }
        for (src_at, sc, filepath) in &sources {
            for (k, name) in sc.labels.keys().enumerate() {
                if !valid_label_name(name) {
                    errs.push(format!(
                        "{src_at}.labels[{k}]: {name:?} is not a valid label name"
                    ));
                }
            }
            for (k, t) in sc.targets.iter().enumerate() {
                let mut l: Labels = sc.labels.clone().into_iter().collect();
                l.insert("__address__".into(), t.clone());
                if let Some(fp) = filepath {
                    l.insert("__meta_filepath".into(), fp.clone());
                }
                let defaults = TargetDefaults {
                    job: &c.job_name,
                    scheme,
                    path,
                    interval,
                    timeout,
                    params: &c.params,
                };
                let at = format!("{src_at}.targets[{k}]");
                let built = match build_target(l, &defaults, &relabel_rules, &at) {
                    Ok(Some(b)) => b,
                    // Dropped by relabelling, or its __address__ relabelled away.
                    Ok(None) => continue,
                    Err(e) => {
                        errs.push(e);
                        continue;
                    }
                };
                let Some(client) = client.clone() else {
                    continue;
                };
                let BuiltTarget {
                    url,
                    labels,
                    interval,
                    timeout,
                } = built;
                out.push(Target {
                    job: c.job_name.clone(),
                    key: format!(
                        "{}|{}|{labels:?}|{interval:?}|{timeout:?}|{}|{}|{:?}|{:?}",
                        c.job_name,
                        url,
                        c.honor_labels,
                        c.sample_limit,
                        serde_yaml::to_string(&http).unwrap_or_default(),
                        serde_yaml::to_string(&c.metric_relabel_configs).unwrap_or_default()
                    ),
                    url,
                    labels,
                    interval,
                    timeout,
                    honor_labels: c.honor_labels,
                    sample_limit: c.sample_limit,
                    metric_relabel: metric_relabel.clone(),
                    client,
                });
            }
        }
    }
    if errs.is_empty() { Ok(out) } else { Err(errs) }
}

/// The job-level settings a target starts from, before relabelling.
struct TargetDefaults<'a> {
    job: &'a str,
    scheme: &'a str,
    path: &'a str,
    interval: Duration,
    timeout: Duration,
    params: &'a BTreeMap<String, Vec<String>>,
}

struct BuiltTarget {
    url: String,
    labels: Labels,
    interval: Duration,
    timeout: Duration,
}

/// Prometheus's target labelling: the job's settings as `__`-labels (unless the target
/// sets them), `relabel_configs`, then URL, interval and timeout read back from the
/// labels, `instance` defaulting to `__address__`, and every `__` label removed.
/// `Ok(None)`: dropped.
fn build_target(
    mut l: Labels,
    d: &TargetDefaults<'_>,
    rules: &[Rule],
    at: &str,
) -> Result<Option<BuiltTarget>, String> {
    for (name, value) in [
        ("job", d.job.to_string()),
        ("__scheme__", d.scheme.to_string()),
        ("__metrics_path__", d.path.to_string()),
        ("__scrape_interval__", fmt_d(d.interval).to_string()),
        ("__scrape_timeout__", fmt_d(d.timeout).to_string()),
    ] {
        l.entry(name.into()).or_insert(value);
    }
    for (name, vals) in d.params {
        if let Some(first) = vals.first() {
            l.entry(format!("__param_{name}"))
                .or_insert_with(|| first.clone());
        }
    }
    let Some(mut l) = relabel::apply(rules, l) else {
        return Ok(None);
    };
    let addr = l.get("__address__").cloned().unwrap_or_default();
    if addr.is_empty() {
        return Ok(None);
    }
    let scheme = l.get("__scheme__").map_or("http", String::as_str);
    // What the job set is checked once at job level, not again per target.
    if scheme != d.scheme && scheme != "http" && scheme != "https" {
        return Err(format!(
            "{at}: __scheme__ {scheme:?} after relabelling: expected http or https"
        ));
    }
    let path = l.get("__metrics_path__").map_or("", String::as_str);
    let mut url = match url::Url::parse(&format!("{scheme}://{addr}{path}")) {
        Ok(u) if !addr.contains('/') && u.host_str().is_some() => u,
        _ => return Err(format!("{at}: {addr:?}: expected host:port")),
    };
    // A __param_<name> label replaces the first value of that URL parameter.
    let mut params = d.params.clone();
    for (name, v) in &l {
        if let Some(p) = name.strip_prefix("__param_") {
            let vals = params.entry(p.to_string()).or_default();
            match vals.first_mut() {
                Some(first) => *first = v.clone(),
                None => vals.push(v.clone()),
            }
        }
    }
    if !params.is_empty() {
        let mut q = url.query_pairs_mut();
        for (name, vals) in &params {
            for v in vals {
                q.append_pair(name, v);
            }
        }
    }
    let dur = |key: &str| -> Result<Duration, String> {
        let v = l.get(key).map_or("", String::as_str);
        ConfigDuration::parse(v)
            .map(ConfigDuration::as_std)
            .map_err(|e| format!("{at}: {key} {v:?} after relabelling: {e}"))
    };
    let interval = dur("__scrape_interval__")?;
    let timeout = dur("__scrape_timeout__")?;
    let changed = (interval, timeout) != (d.interval, d.timeout);
    if changed && interval.is_zero() {
        return Err(format!("{at}: __scrape_interval__ must be positive"));
    }
    if changed && timeout > interval {
        return Err(format!(
            "{at}: scrape timeout {} is greater than scrape interval {}",
            fmt_d(timeout),
            fmt_d(interval)
        ));
    }
    l.entry("instance".into()).or_insert(addr);
    l.retain(|name, _| !name.starts_with("__"));
    Ok(Some(BuiltTarget {
        url: url.to_string(),
        labels: l,
        interval,
        timeout,
    }))
}

/// A duration as written in config (`15s`, `1m30s`).
pub fn fmt_d(d: Duration) -> ConfigDuration {
    ConfigDuration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn valid_label_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Prometheus's per-target offset (scrape/target.go `offset`): a stable point in the
/// interval derived from the target, so targets do not all fire at once.
pub fn offset(key: &str, interval: Duration, now_ms: i64) -> Duration {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    let iv = interval.as_millis().max(1) as i64;
    let base = iv - now_ms.rem_euclid(iv);
    let off = (h.finish() % iv as u64) as i64;
    Duration::from_millis(((base + off) % iv) as u64)
}

/// The last scrape of a target, for the API and metrics.
#[derive(Clone, Debug, Default)]
pub struct Health {
    pub up: bool,
    pub last_error: String,
    pub last_scrape_ms: i64,
    pub duration_secs: f64,
    pub samples: usize,
}

/// A target's state between scrapes: the series it wrote last time (for stale markers).
pub struct Scraper {
    pub target: Target,
    prev: HashSet<Labels>,
    pub health: Arc<Mutex<Health>>,
}

impl Scraper {
    pub fn new(target: Target) -> Scraper {
        Scraper {
            target,
            prev: HashSet::new(),
            health: Arc::new(Mutex::new(Health::default())),
        }
    }

    /// One scrape at `ts` (ms): fetch, then write samples and the report series.
    pub async fn scrape(&mut self, store: &Mutex<Store>, ts: i64) {
        let start = std::time::Instant::now();
        let fetched = tokio::time::timeout(self.target.timeout, self.fetch()).await;
        let body = match fetched {
            Ok(r) => r,
            Err(_) => Err(format!(
                "scrape timed out after {}",
                fmt_d(self.target.timeout)
            )),
        };
        let limit = usize::try_from(self.target.sample_limit).unwrap_or(usize::MAX);
        let relabelling = !self.target.metric_relabel.is_empty();
        // Prometheus applies sample_limit after metric relabelling; without rules the
        // parser stops at the limit (the body is bounded either way).
        let samples = body.and_then(|b| {
            exposition::parse_limited(&b, if relabelling { 0 } else { limit })
                .map_err(|e| format!("invalid exposition: {e}"))
        });
        let samples = samples.and_then(|s| self.relabel_samples(s, limit));
        let duration = start.elapsed().as_secs_f64();
        let (ok, err, n) = match &samples {
            Ok((n, _)) => (true, String::new(), *n),
            Err(e) => (false, e.clone(), 0),
        };
        let mut now = HashSet::with_capacity(n);
        let mut added = 0usize;
        {
            let mut st = lock(store);
            if let Ok((_, samples)) = samples {
                for (l, v) in samples {
                    if st.append(&l, ts, v).is_ok() {
                        if !self.prev.contains(&l) {
                            added += 1;
                        }
                        now.insert(l);
                    }
                }
            }
            // Prometheus writes a stale marker for every series the target no longer
            // exposes (and for all of them when the scrape fails).
            for gone in self.prev.difference(&now) {
                let _ = st.append(gone, ts, stale_nan());
            }
            for (name, v) in [
                ("up", if ok { 1.0 } else { 0.0 }),
                ("scrape_duration_seconds", duration),
                ("scrape_samples_scraped", n as f64),
                ("scrape_series_added", added as f64),
            ] {
                let mut l = self.target.labels.clone();
                l.insert("__name__".into(), name.into());
                let _ = st.append(&l, ts, v);
            }
        }
        self.prev = now;
        let mut h = lock(&self.health);
        // Logged when the outcome changes, not at every failed scrape.
        if !ok && (h.up || h.last_scrape_ms == 0 || h.last_error != err) {
            tracing::warn!(job = %self.target.job, url = %self.target.url, "scrape failed: {err}");
        } else if ok && !h.up && h.last_scrape_ms != 0 {
            tracing::info!(job = %self.target.job, url = %self.target.url, "scrape recovered");
        }
        *h = Health {
            up: ok,
            last_error: err,
            last_scrape_ms: ts,
            duration_secs: duration,
            samples: n,
        };
    }

    /// Stale markers for everything this target wrote: it was removed.
    pub fn retire(&mut self, store: &Mutex<Store>, ts: i64) {
        let mut st = lock(store);
        for l in self.prev.drain() {
            let _ = st.append(&l, ts, stale_nan());
        }
        for name in [
            "up",
            "scrape_duration_seconds",
            "scrape_samples_scraped",
            "scrape_series_added",
        ] {
            let mut l = self.target.labels.clone();
            l.insert("__name__".into(), name.into());
            let _ = st.append(&l, ts, stale_nan());
        }
    }

    /// Target labels, then `metric_relabel_configs`, on every sample; `sample_limit`
    /// counts what is kept, as in Prometheus. Returns the count scraped and the samples
    /// to store.
    fn relabel_samples(
        &self,
        s: Vec<exposition::ParsedSample>,
        limit: usize,
    ) -> Result<(usize, Vec<exposition::ParsedSample>), String> {
        let n = s.len();
        let kept: Vec<_> = s
            .into_iter()
            .filter_map(|(l, v)| {
                let l = relabel::apply(&self.target.metric_relabel, self.target_labels(l))?;
                (!l.is_empty()).then_some((l, v))
            })
            .collect();
        if limit > 0 && kept.len() > limit {
            return Err(format!("sample_limit exceeded: {} > {limit}", kept.len()));
        }
        Ok((n, kept))
    }

    /// Target labels win over scraped ones unless `honor_labels`; a scraped label
    /// that loses is kept as `exported_<name>` (Prometheus's mutateSampleLabels).
    fn target_labels(&self, mut l: Labels) -> Labels {
        for (k, v) in &self.target.labels {
            match l.get(k) {
                Some(have) if self.target.honor_labels => {
                    let _ = have;
                }
                Some(have) => {
                    let old = have.clone();
                    if !old.is_empty() {
                        l.insert(format!("exported_{k}"), old);
                    }
                    l.insert(k.clone(), v.clone());
                }
                None => {
                    l.insert(k.clone(), v.clone());
                }
            }
        }
        l
    }

    async fn fetch(&self) -> Result<String, String> {
        let req = self
            .target
            .client
            .request(reqwest::Method::GET, &self.target.url)
            .await
            .map_err(|e| e.message)?
            .header(
                reqwest::header::ACCEPT,
                "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1",
            )
            .header(
                "X-Prometheus-Scrape-Timeout-Seconds",
                format!("{}", self.target.timeout.as_secs_f64()),
            );
        let mut resp = req.send().await.map_err(|e| format!("{e}"))?;
        if !resp.status().is_success() {
            return Err(format!("server returned HTTP status {}", resp.status()));
        }
        let mut body: Vec<u8> = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| format!("{e}"))? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(format!("body larger than {MAX_BODY_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        String::from_utf8(body).map_err(|_| "body is not UTF-8".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(y: &str) -> Vec<ScrapeConfig> {
        serde_yaml::from_str(y).unwrap()
    }

    #[test]
    fn targets_with_defaults_and_labels() {
        let t = compile(
            &cfg("- job_name: node\n  scrape_interval: 15s\n  params: {a: [b]}\n  static_configs:\n  - targets: ['127.0.0.1:9100']\n    labels: {env: prod}\n"),
            DEFAULT_SCRAPE_INTERVAL,
            DEFAULT_SCRAPE_TIMEOUT,
            Path::new("."),
        )
        .unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].url, "http://127.0.0.1:9100/metrics?a=b");
        assert_eq!(t[0].interval, Duration::from_secs(15));
        assert_eq!(t[0].timeout, Duration::from_secs(10));
        assert_eq!(t[0].labels["job"], "node");
        assert_eq!(t[0].labels["instance"], "127.0.0.1:9100");
        assert_eq!(t[0].labels["env"], "prod");
    }

    #[test]
    fn every_problem_named() {
        let e = compile(
            &cfg("- job_name: a\n  scrape_interval: 5s\n  scrape_timeout: 10s\n  scheme: ftp\n  file_sd_configs: [{files: [a.txt]}]\n  relabel_configs: [{action: nope}]\n  static_configs: [{targets: ['x/y']}]\n- job_name: a\n  basic_auth: {password: a, password_file: b}\n"),
            DEFAULT_SCRAPE_INTERVAL,
            DEFAULT_SCRAPE_TIMEOUT,
            Path::new("."),
        )
        .unwrap_err()
        .join("\n");
        for want in [
            "scrape_configs[0].scrape_timeout: 10s is greater than scrape_interval 5s",
            "scrape_configs[0].scheme: \"ftp\"",
            "scrape_configs[0].file_sd_configs[0].files[0]: \"a.txt\": expected a path or a glob",
            "scrape_configs[0].relabel_configs[0].action: unknown relabel action \"nope\"",
            "scrape_configs[0].static_configs[0].targets[0]: \"x/y\": expected host:port",
            "scrape_configs[1].job_name: \"a\" is not unique",
            "scrape_configs[1]: ",
        ] {
            assert!(e.contains(want), "missing {want:?} in:\n{e}");
        }
    }

    fn one(y: &str) -> Result<Vec<Target>, String> {
        compile(
            &cfg(y),
            DEFAULT_SCRAPE_INTERVAL,
            DEFAULT_SCRAPE_TIMEOUT,
            Path::new("."),
        )
        .map_err(|e| e.join("\n"))
    }

    /// As Prometheus: the job's settings are `__` labels relabelling can read and set;
    /// `__` labels are gone afterwards; `instance` defaults to the final `__address__`.
    #[test]
    fn target_relabelling_sets_address_path_params_interval_and_labels() {
        let t = one(concat!(
            "- job_name: j\n  params: {a: [x, y]}\n",
            "  static_configs: [{targets: ['h:1', 'drop:2', 'gone:3'], labels: {team: ops}}]\n",
            "  relabel_configs:\n",
            "  - {source_labels: [__address__], regex: 'drop:.*', action: drop}\n",
            "  - {source_labels: [__address__], regex: 'gone:.*', target_label: __address__, replacement: ''}\n",
            "  - {source_labels: [team], target_label: squad}\n",
            "  - {regex: team, action: labeldrop}\n",
            "  - {source_labels: [__address__], regex: '(.*):1', target_label: __address__, replacement: '$1:9100'}\n",
            "  - {target_label: __metrics_path__, replacement: /m}\n",
            "  - {target_label: __scheme__, replacement: https}\n",
            "  - {target_label: __param_a, replacement: z}\n",
            "  - {target_label: __param_b, replacement: w}\n",
            "  - {target_label: __scrape_interval__, replacement: 30s}\n",
            "  - {target_label: __scrape_timeout__, replacement: 20s}\n",
            "  - {source_labels: [job], target_label: job, replacement: 'k-$1'}\n",
        ))
        .unwrap();
        assert_eq!(t.len(), 1, "{t:?}");
        assert_eq!(t[0].url, "https://h:9100/m?a=z&a=y&b=w");
        assert_eq!(t[0].interval, Duration::from_secs(30));
        assert_eq!(t[0].timeout, Duration::from_secs(20));
        let want: Labels = [("instance", "h:9100"), ("job", "k-j"), ("squad", "ops")]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(t[0].labels, want);
        // An explicit instance survives; the relabelled URL's problems name the target.
        let t = one("- job_name: j\n  static_configs: [{targets: ['h:1']}]\n  relabel_configs: [{target_label: instance, replacement: me}]\n").unwrap();
        assert_eq!(t[0].labels["instance"], "me");
        let e = one("- job_name: j\n  static_configs: [{targets: ['h:1']}]\n  relabel_configs: [{target_label: __address__, replacement: 'a/b'}, {target_label: __scrape_timeout__, replacement: 2m}]\n").unwrap_err();
        assert!(
            e.contains(
                "scrape_configs[0].static_configs[0].targets[0]: \"a/b\": expected host:port"
            ),
            "{e}"
        );
        let e = one("- job_name: j\n  static_configs: [{targets: ['h:1']}]\n  relabel_configs: [{target_label: __scrape_timeout__, replacement: 2m}]\n").unwrap_err();
        assert!(e.contains("scrape_configs[0].static_configs[0].targets[0]: scrape timeout 2m is greater than scrape interval 1m"), "{e}");
    }

    /// metric_relabel_configs run after the target labels are merged (so `job` and
    /// `instance` are visible to them), and sample_limit counts what they keep.
    #[test]
    fn metric_relabelling_keeps_drops_and_limits_after_target_labels() {
        let t = one(concat!(
            "- job_name: j\n  sample_limit: 2\n  static_configs: [{targets: ['h:1']}]\n",
            "  metric_relabel_configs:\n",
            "  - {source_labels: [__name__, job], regex: '(a|b|c);j', action: keep}\n",
            "  - {source_labels: [mode], target_label: cpu_mode}\n",
            "  - {regex: mode, action: labeldrop}\n",
        ))
        .unwrap()
        .remove(0);
        let s = Scraper::new(t);
        let sample = |name: &str| -> exposition::ParsedSample {
            let l: Labels = [("__name__", name), ("mode", "idle")]
                .into_iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            (l, 1.0)
        };
        let (n, kept) = s
            .relabel_samples(vec![sample("a"), sample("x"), sample("b")], 2)
            .unwrap();
        assert_eq!(n, 3);
        let names: Vec<&str> = kept.iter().map(|(l, _)| l["__name__"].as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(kept[0].0["cpu_mode"], "idle");
        assert!(!kept[0].0.contains_key("mode"));
        assert_eq!(kept[0].0["instance"], "h:1");
        let e = s
            .relabel_samples(vec![sample("a"), sample("b"), sample("c")], 2)
            .unwrap_err();
        assert!(e.contains("sample_limit exceeded"), "{e}");
    }

    /// file_sd_configs: JSON and YAML target files by glob, relative to the config's
    /// directory, with `__meta_filepath` for relabelling; a bad file names file and line.
    #[test]
    fn file_sd_reads_json_and_yaml_groups_with_their_filepath() {
        let dir = tempfile::tempdir().unwrap();
        let sd = dir.path().join("sd");
        std::fs::create_dir(&sd).unwrap();
        std::fs::write(
            sd.join("a.json"),
            r#"[{"targets": ["h:1", "h:2"], "labels": {"env": "prod"}}]"#,
        )
        .unwrap();
        std::fs::write(sd.join("b.yml"), "- targets: ['k:3']\n").unwrap();
        std::fs::write(sd.join("c.txt"), "not read").unwrap();
        let y = "- job_name: j\n  file_sd_configs: [{files: ['sd/*.json', 'sd/*.yml'], refresh_interval: 1m}]\n  relabel_configs: [{source_labels: [__meta_filepath], regex: '.*/(.*)', target_label: from}]\n";
        let t = compile(
            &cfg(y),
            DEFAULT_SCRAPE_INTERVAL,
            DEFAULT_SCRAPE_TIMEOUT,
            dir.path(),
        )
        .unwrap();
        let got: Vec<(String, String, Option<String>)> = t
            .iter()
            .map(|t| {
                (
                    t.labels["instance"].clone(),
                    t.labels["from"].clone(),
                    t.labels.get("env").cloned(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("h:1".into(), "a.json".into(), Some("prod".into())),
                ("h:2".into(), "a.json".into(), Some("prod".into())),
                ("k:3".into(), "b.yml".into(), None),
            ]
        );
        assert!(t.iter().all(|t| !t.labels.contains_key("__meta_filepath")));
        std::fs::write(sd.join("b.yml"), "- targets: ['k:3']\n  labelz: {}\n").unwrap();
        let e = compile(
            &cfg(y),
            DEFAULT_SCRAPE_INTERVAL,
            DEFAULT_SCRAPE_TIMEOUT,
            dir.path(),
        )
        .unwrap_err()
        .join("\n");
        assert!(e.contains("scrape_configs[0].file_sd_configs[0]: "), "{e}");
        assert!(
            e.contains("b.yml: ") && e.contains("labelz") && e.contains("line 2"),
            "{e}"
        );
    }

    #[test]
    fn offsets_spread_targets_within_the_interval() {
        let iv = Duration::from_secs(15);
        let a = offset("a", iv, 1_000);
        let b = offset("b", iv, 1_000);
        assert!(a < iv && b < iv);
        assert_ne!(a, b);
        // The same target lands on the same phase whenever it starts.
        let phase = |k: &str, now: i64| (now + offset(k, iv, now).as_millis() as i64) % 15_000;
        assert_eq!(phase("a", 1_000), phase("a", 7_777));
    }

    #[test]
    fn target_labels_win_unless_honor_labels() {
        let t = compile(
            &cfg("- job_name: j\n  static_configs: [{targets: ['h:1']}]\n"),
            DEFAULT_SCRAPE_INTERVAL,
            DEFAULT_SCRAPE_TIMEOUT,
            Path::new("."),
        )
        .unwrap()
        .remove(0);
        let mut s = Scraper::new(t);
        let l: Labels = [("__name__", "m"), ("job", "other")]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let out = s.target_labels(l.clone());
        assert_eq!(out["job"], "j");
        assert_eq!(out["exported_job"], "other");
        s.target.honor_labels = true;
        let out = s.target_labels(l);
        assert_eq!(out["job"], "other");
        assert_eq!(out["instance"], "h:1");
    }
}
