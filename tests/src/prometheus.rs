//! Debian's Prometheus, started on a free port with a scrape config, for tests that
//! compare our output with what Prometheus makes of it.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::ChildGuard;

/// A running Prometheus (stopped on drop) with its own data directory.
pub struct Prometheus {
    pub port: u16,
    pub dir: tempfile::TempDir,
    _guard: ChildGuard,
}

impl Prometheus {
    /// Starts Prometheus with `config` (a whole prometheus.yml) and waits for its API.
    /// `None` when prometheus is missing outside CI (see [`crate::require`]).
    pub fn start(config: &str) -> Option<Prometheus> {
        Self::start_with(config, &[])
    }

    /// As [`Prometheus::start`], with extra command-line flags.
    pub fn start_with(config: &str, args: &[&str]) -> Option<Prometheus> {
        let bin = crate::require("prometheus", "Debian's Prometheus, the real peer")?;
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = dir.path().join("prometheus.yml");
        std::fs::write(&cfg, config).expect("write prometheus.yml");
        let port = crate::free_port();
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // Links it makes (an alert's generatorURL) name this instance, not the host name.
            .arg(format!("--web.external-url=http://127.0.0.1:{port}/"))
            .args(args);
        let guard = ChildGuard::spawn("prometheus", &mut cmd, &dir.path().join("prometheus.log"));
        crate::wait_port(port, Duration::from_secs(30));
        Some(Prometheus {
            port,
            dir,
            _guard: guard,
        })
    }

    /// A config scraping each `(job, target)` every second.
    pub fn scrape_config(jobs: &[(&str, String)]) -> String {
        let mut y =
            String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n");
        for (job, target) in jobs {
            y.push_str(&format!(
                "  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']\n"
            ));
        }
        y
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("prometheus.log")
    }

    /// `GET /api/v1/targets`' active targets.
    pub fn targets(&self) -> Vec<serde_json::Value> {
        crate::get_json(self.port, "/api/v1/targets")
            .ok()
            .and_then(|v| v["data"]["activeTargets"].as_array().cloned())
            .unwrap_or_default()
    }

    /// Waits until every target has been scraped `up` at least `scrapes` times since start
    /// (one scrape per second), so that rates over a few seconds have data.
    pub fn wait_all_up(&self, scrapes: u32, timeout: Duration) {
        let mut since_up: Option<std::time::Instant> = None;
        crate::wait_for("every target up", timeout, || {
            let t = self.targets();
            let up = !t.is_empty() && t.iter().all(|t| t["health"] == "up");
            if !up {
                since_up = None;
                return None;
            }
            let s = *since_up.get_or_insert_with(std::time::Instant::now);
            (s.elapsed() >= Duration::from_secs(u64::from(scrapes))).then_some(())
        });
        let down: Vec<_> = self
            .targets()
            .into_iter()
            .filter(|t| t["health"] != "up")
            .map(|t| format!("{} {}", t["scrapeUrl"], t["lastError"]))
            .collect();
        assert!(down.is_empty(), "targets down: {down:?}\n{}", self.log());
    }

    /// An instant query: the result vector (or the error Prometheus gives).
    pub fn query(&self, expr: &str) -> Result<Vec<serde_json::Value>, String> {
        let url = reqwest::Url::parse_with_params(
            &format!("http://127.0.0.1:{}/api/v1/query", self.port),
            &[("query", expr)],
        )
        .map_err(|e| e.to_string())?;
        let path = format!("{}?{}", url.path(), url.query().unwrap_or(""));
        let (status, body) = crate::http("GET", self.port, &path, None)?;
        let v: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| format!("HTTP {status}: {e}: {body}"))?;
        if v["status"] != "success" {
            return Err(format!("{}: {}", v["errorType"], v["error"]));
        }
        match &v["data"]["result"] {
            serde_json::Value::Array(a) => Ok(a.clone()),
            other => Ok(vec![other.clone()]),
        }
    }
}
