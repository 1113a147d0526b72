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
    /// Known to Prometheus, not run by this build: refused by name, never ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_sd_configs: Option<serde_yaml::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relabel_configs: Option<serde_yaml::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_relabel_configs: Option<serde_yaml::Value>,
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
        for (key, set) in [
            ("file_sd_configs", c.file_sd_configs.is_some()),
            ("relabel_configs", c.relabel_configs.is_some()),
            ("metric_relabel_configs", c.metric_relabel_configs.is_some()),
            ("honor_timestamps", c.honor_timestamps.is_some()),
        ] {
            if set {
                errs.push(format!(
                    "{at}.{key}: not supported by this build's scraper (use static_configs and labels)"
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
        for (j, sc) in c.static_configs.iter().enumerate() {
            for (k, name) in sc.labels.keys().enumerate() {
                if !valid_label_name(name) {
                    errs.push(format!(
                        "{at}.static_configs[{j}].labels[{k}]: {name:?} is not a valid label name"
                    ));
                }
            }
            for (k, t) in sc.targets.iter().enumerate() {
                let url = format!("{scheme}://{t}{path}");
                let parsed = match url::Url::parse(&url) {
                    Ok(mut u) if !t.contains('/') && u.host_str().is_some() => {
                        if !c.params.is_empty() {
                            let mut q = u.query_pairs_mut();
                            for (name, vals) in &c.params {
                                for v in vals {
                                    q.append_pair(name, v);
                                }
                            }
                        }
                        u
                    }
                    _ => {
                        errs.push(format!(
                            "{at}.static_configs[{j}].targets[{k}]: {t:?}: expected host:port"
                        ));
                        continue;
                    }
                };
                let mut labels: Labels = sc.labels.clone().into_iter().collect();
                labels.insert("job".into(), c.job_name.clone());
                labels.insert("instance".into(), t.clone());
                let Some(client) = client.clone() else {
                    continue;
                };
                out.push(Target {
                    job: c.job_name.clone(),
                    url: parsed.to_string(),
                    key: format!(
                        "{}|{}|{labels:?}|{interval:?}|{timeout:?}|{}|{}|{:?}",
                        c.job_name,
                        parsed,
                        c.honor_labels,
                        c.sample_limit,
                        serde_yaml::to_string(&http).unwrap_or_default()
                    ),
                    labels,
                    interval,
                    timeout,
                    honor_labels: c.honor_labels,
                    sample_limit: c.sample_limit,
                    client,
                });
            }
        }
    }
    if errs.is_empty() { Ok(out) } else { Err(errs) }
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
        let samples = body.and_then(|b| {
            exposition::parse_limited(&b, limit).map_err(|e| format!("invalid exposition: {e}"))
        });
        let duration = start.elapsed().as_secs_f64();
        let (ok, err, n) = match &samples {
            Ok(s) => (true, String::new(), s.len()),
            Err(e) => (false, e.clone(), 0),
        };
        let mut now = HashSet::with_capacity(n);
        let mut added = 0usize;
        {
            let mut st = lock(store);
            if let Ok(samples) = samples {
                for (l, v) in samples {
                    let l = self.target_labels(l);
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
            &cfg("- job_name: a\n  scrape_interval: 5s\n  scrape_timeout: 10s\n  scheme: ftp\n  relabel_configs: []\n  static_configs: [{targets: ['x/y']}]\n- job_name: a\n  basic_auth: {password: a, password_file: b}\n"),
            DEFAULT_SCRAPE_INTERVAL,
            DEFAULT_SCRAPE_TIMEOUT,
            Path::new("."),
        )
        .unwrap_err()
        .join("\n");
        for want in [
            "scrape_configs[0].scrape_timeout: 10s is greater than scrape_interval 5s",
            "scrape_configs[0].scheme: \"ftp\"",
            "scrape_configs[0].relabel_configs: not supported",
            "scrape_configs[0].static_configs[0].targets[0]: \"x/y\": expected host:port",
            "scrape_configs[1].job_name: \"a\" is not unique",
            "scrape_configs[1]: ",
        ] {
            assert!(e.contains(want), "missing {want:?} in:\n{e}");
        }
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
