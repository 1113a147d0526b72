//! The alerter as a process for the matrix rows: started on a config and a data
//! directory, read through its log, metrics and API. Also the SMTP peer
//! (`tests/smtp_server.py`) the email rows stop, start and silence.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use chrono::Utc;
use e2e::{ChildGuard, free_port, wait_for, wait_port};
use serde_json::{Value, json};

pub struct Alerter {
    pub port: u16,
    pub guard: ChildGuard,
    pub log: PathBuf,
}

impl Alerter {
    /// Starts the binary on `config` (a file) and `storage`, logging to `log`, after
    /// `tweak` has had the command (a wrapper's environment); waits until ready.
    pub fn start_with(
        config: &Path,
        storage: &Path,
        log: &Path,
        tweak: impl FnOnce(&mut Command),
    ) -> Alerter {
        let bin = Path::new(env!("CARGO_BIN_EXE_alerter"));
        Self::start_bin(bin, config, storage, log, tweak)
    }

    /// [`Alerter::start_with`] for another build of the binary.
    pub fn start_bin(
        bin: &Path,
        config: &Path,
        storage: &Path,
        log: &Path,
        tweak: impl FnOnce(&mut Command),
    ) -> Alerter {
        let port = free_port();
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", storage.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"));
        tweak(&mut cmd);
        let mut guard = ChildGuard::spawn("alerter", &mut cmd, log);
        wait_for("alerter ready", Duration::from_secs(20), || {
            if !guard.alive() {
                panic!(
                    "the alerter exited: {}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            e2e::get_json(port, "/-/ready").ok()
        });
        Alerter {
            port,
            guard,
            log: log.to_path_buf(),
        }
    }

    /// Writes `config` to `dir/alertmanager.yml` and starts on `dir/data`.
    pub fn start(dir: &Path, config: &str) -> Alerter {
        let path = dir.join("alertmanager.yml");
        std::fs::write(&path, config).expect("write config");
        Self::start_with(&path, &dir.join("data"), &dir.join("alerter.log"), |_| {})
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The value of one series, written exactly as exposed (`name{labels}`).
    pub fn metric(&self, series: &str) -> Option<f64> {
        let (_, text) = e2e::http("GET", self.port, "/metrics", None).ok()?;
        metric_in(&text, series)
    }

    /// The sum of every series of `name` whose labels contain each of `having`.
    pub fn metric_sum(&self, name: &str, having: &[&str]) -> f64 {
        let (_, text) = e2e::http("GET", self.port, "/metrics", None).unwrap_or_default();
        text.lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
            })
            .filter(|l| having.iter().all(|h| l.contains(h)))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    pub fn status(&self) -> Value {
        e2e::get_json(self.port, "/api/v2/status").expect("GET /api/v2/status")
    }

    /// The status page's HTML.
    pub fn page(&self) -> String {
        let (code, text) = e2e::http("GET", self.port, "/", None).expect("GET /");
        assert_eq!(code, 200, "{text}");
        text
    }

    /// POST `body` as JSON: the status and the reply.
    pub fn post(&self, path: &str, body: &Value) -> Result<(u16, String), String> {
        e2e::http("POST", self.port, path, Some(&body.to_string()))
    }

    /// POSTs alerts, expecting 200.
    pub fn post_alerts(&self, alerts: &[Value]) {
        let (code, text) = self
            .post("/api/v2/alerts", &Value::from(alerts.to_vec()))
            .expect("POST /api/v2/alerts");
        assert_eq!(code, 200, "{text}");
    }
}

/// One series' value in an exposition text.
pub fn metric_in(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// A firing alert that ends in `hours` (so a test's clock never resolves it).
pub fn alert(name: &str, hours: i64) -> Value {
    json!({
        "labels": {"alertname": name, "severity": "critical", "instance": "vps1"},
        "annotations": {"summary": format!("{name} on vps1")},
        "startsAt": Utc::now().to_rfc3339(),
        "endsAt": (Utc::now() + chrono::Duration::hours(hours)).to_rfc3339(),
    })
}

/// A silence of `alertname=name` for two hours.
pub fn silence(name: &str) -> Value {
    json!({
        "matchers": [{"name": "alertname", "value": name, "isRegex": false, "isEqual": true}],
        "startsAt": Utc::now().to_rfc3339(),
        "endsAt": (Utc::now() + chrono::Duration::hours(2)).to_rfc3339(),
        "createdBy": "reliability",
        "comment": "matrix row",
    })
}

/// The test SMTP server (aiosmtpd, implicit TLS) on a fixed port, so it can be
/// stopped and started again where the alerter expects it.
pub struct Smtp {
    pub port: u16,
    pub out: PathBuf,
    pub cert: PathBuf,
    key: PathBuf,
    dir: PathBuf,
    guard: Option<ChildGuard>,
}

pub const SMTP_USER: &str = "alerts@example.com";
pub const SMTP_PASS: &str = "s3cret-pass";

impl Smtp {
    /// Makes the certificate and starts the server with `extra` arguments.
    pub fn start(dir: &Path, extra: &[&str]) -> Smtp {
        let (cert, key) = crate::common::make_cert(dir);
        let out = dir.join("inbox");
        std::fs::create_dir_all(&out).expect("inbox");
        let mut s = Smtp {
            port: free_port(),
            out,
            cert,
            key,
            dir: dir.to_path_buf(),
            guard: None,
        };
        s.up(extra);
        s
    }

    /// (Re)starts the server on its port.
    pub fn up(&mut self, extra: &[&str]) {
        let mut cmd = Command::new("python3");
        cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_server.py"))
            .args(["--port", &self.port.to_string(), "--mode", "implicit"])
            .arg("--cert")
            .arg(&self.cert)
            .arg("--key")
            .arg(&self.key)
            .arg("--out")
            .arg(&self.out)
            .args(extra);
        let log = self.dir.join("smtp.log");
        self.guard = Some(ChildGuard::spawn("smtp", &mut cmd, &log));
        wait_port(self.port, Duration::from_secs(10));
    }

    /// Stops the server: connections are refused from now on.
    pub fn down(&mut self) {
        if let Some(mut g) = self.guard.take() {
            g.kill();
        }
    }

    /// The messages delivered so far, as text.
    pub fn messages(&self) -> Vec<String> {
        let mut v: Vec<_> = std::fs::read_dir(&self.out)
            .expect("inbox")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        v.sort();
        v.iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .collect()
    }

    /// An `email_configs` entry for this server (password from `pass_file`).
    pub fn email_config(&self, pass_file: &Path) -> String {
        std::fs::write(pass_file, SMTP_PASS).expect("password file");
        format!(
            "  - to: admin@example.org
    from: alerts@example.com
    smarthost: 127.0.0.1:{port}
    implicit_tls: true
    auth_username: {SMTP_USER}
    auth_password_file: {pf}
    timeout: 1s
    tls_config: {{ca_file: {ca}, server_name: localhost}}
",
            port = self.port,
            pf = pass_file.display(),
            ca = self.cert.display(),
        )
    }
}
