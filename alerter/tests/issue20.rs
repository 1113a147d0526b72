//! Regression tests for the defects of issue 20, each named after its number there.

#[allow(dead_code)]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use e2e::{ChildGuard, free_port, wait_for};

fn start(dir: &Path, config: &str) -> (u16, ChildGuard, std::path::PathBuf) {
    let path = dir.join("alertmanager.yml");
    std::fs::write(&path, config).unwrap();
    let port = free_port();
    let log = dir.join("alerter.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alerter"));
    cmd.arg(format!("--config.file={}", path.display()))
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let guard = ChildGuard::spawn("alerter", &mut cmd, &log);
    wait_for("alerter ready", Duration::from_secs(20), || {
        e2e::get_json(port, "/-/ready").ok()
    });
    (port, guard, log)
}

fn metric(port: u16, name: &str) -> Option<f64> {
    let (_, text) = e2e::http("GET", port, "/metrics", None).ok()?;
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// Defect 1: a duration that overflows is refused with the flag's name, never a panic.
#[test]
fn defect_01_overflowing_duration_flag_is_an_error_naming_it() {
    for v in ["18446744073709551615s1s", "5124095576030432h"] {
        let out = Command::new(env!("CARGO_BIN_EXE_alerter"))
            .arg(format!("--data.retention={v}"))
            .arg("check-config")
            .arg("/nonexistent")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{v}: {err}");
        assert!(
            err.contains("--data.retention") && err.contains("out of range"),
            "{v}: {err}"
        );
    }
}

/// Defect 4: `/api/v2/status` shows no inline secret of an `http_config`, a proxy
/// URL or the heartbeat URL.
#[test]
fn defect_04_status_config_original_redacts_every_secret() {
    let dir = tempfile::tempdir().unwrap();
    let config = "global:
  http_config:
    basic_auth:
      username: u
      password: BASIC-SECRET-1
    proxy_url: http://proxyuser:PROXY-SECRET-2@127.0.0.1:3128
self_monitoring:
  heartbeat_url: http://127.0.0.1:9/ping/HEARTBEAT-SECRET-3
receivers:
  - name: r
    webhook_configs:
      - url: http://127.0.0.1:9/hook/WEBHOOK-SECRET-4
        http_config:
          authorization:
            credentials: AUTH-SECRET-5
route:
  receiver: r
";
    let (port, _g, log) = start(dir.path(), config);
    let (_, status) = e2e::http("GET", port, "/api/v2/status", None).unwrap();
    let (_, page) = e2e::http("GET", port, "/", None).unwrap();
    for shown in [&status, &page, &std::fs::read_to_string(&log).unwrap()] {
        assert!(!shown.contains("-SECRET-"), "a secret is shown: {shown}");
    }
    assert!(status.contains("<secret>"), "{status}");
}

/// Defect 9: the file watch failing to read the config (here: the file replaced by
/// a directory, an I/O error like running out of descriptors) is not a bad config:
/// no "reload FAILED", the reload metric stays 1, the status shows no error.
#[test]
fn defect_09_config_file_unreadable_to_the_watch_is_not_a_failed_reload() {
    let dir = tempfile::tempdir().unwrap();
    let (port, _g, log) = start(
        dir.path(),
        "route:\n  receiver: r\nreceivers:\n  - name: r\n",
    );
    let path = dir.path().join("alertmanager.yml");
    std::fs::rename(&path, dir.path().join("moved.yml")).unwrap();
    std::fs::create_dir(&path).unwrap();
    // The watch polls every 3 s.
    wait_for("the watch's warning", Duration::from_secs(15), || {
        let l = std::fs::read_to_string(&log).unwrap_or_default();
        (l.contains("configuration file watch") || l.contains("reload FAILED")).then_some(())
    });
    let l = std::fs::read_to_string(&log).unwrap();
    assert!(!l.contains("reload FAILED"), "{l}");
    assert_eq!(
        metric(port, "alertmanager_config_last_reload_successful"),
        Some(1.0)
    );
    let status = e2e::get_json(port, "/api/v2/status").unwrap();
    assert!(!status.to_string().contains("cannot read"), "{status}");
}

/// Defect 14: `alerter test` with no `--config.file` and no ./alertmanager.yml runs
/// the built-in default config, as the daemon does, instead of "cannot read".
#[test]
fn defect_14_test_without_config_uses_the_built_in_default() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_alerter"))
        .arg("test")
        .current_dir(dir.path())
        .env_remove("ALERTER_SMTP_PASSWORD")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("cannot read"), "{err}");
    assert!(err.contains("built-in default config"), "{err}");
    // The default's receiver, with its password variable unset, is what fails.
    assert!(err.contains("ALERTER_SMTP_PASSWORD"), "{err}");
}

/// Defect 12 (the alerter's half): `--log.format=json` writes JSON lines, without
/// colour codes in a file.
#[test]
fn defect_12_alerter_log_format_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alertmanager.yml");
    std::fs::write(&path, "route:\n  receiver: r\nreceivers:\n  - name: r\n").unwrap();
    let port = free_port();
    let log = dir.path().join("alerter.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alerter"));
    cmd.arg(format!("--config.file={}", path.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.format=json");
    let _g = ChildGuard::spawn("alerter", &mut cmd, &log);
    wait_for("alerter ready", Duration::from_secs(20), || {
        e2e::get_json(port, "/-/ready").ok()
    });
    let l = std::fs::read_to_string(&log).unwrap();
    assert!(!l.is_empty() && !l.contains('\u{1b}'), "{l:?}");
    for line in l.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        assert!(v["level"].is_string(), "{line}");
    }
}

/// Defect 5: a damaged `silences` file is recovered loudly: a corrupt line is
/// dropped and logged, and a file of garbage is set aside and logged.
#[test]
fn defect_05_silences_file_recovery_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let config = "route:\n  receiver: r\nreceivers:\n  - name: r\n";
    let silence = r#"{"matchers":[{"name":"alertname","value":"X","isRegex":false}],"startsAt":"2020-01-01T00:00:00Z","endsAt":"2099-01-01T00:00:00Z","createdBy":"t","comment":"c"}"#;
    {
        let (port, mut g, _) = start(dir.path(), config);
        for _ in 0..3 {
            let (code, body) = e2e::http("POST", port, "/api/v2/silences", Some(silence)).unwrap();
            assert_eq!(code, 200, "{body}");
        }
        g.signal("TERM");
        g.wait_exit(Duration::from_secs(15));
    }
    let file = dir.path().join("data").join("silences");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    assert!(lines.len() >= 3, "{text}");
    lines[1] = "{not json".into();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    {
        let (_port, mut g, log) = start(dir.path(), config);
        let l = std::fs::read_to_string(&log).unwrap();
        assert!(
            l.lines()
                .any(|x| x.contains("silences") && x.contains("dropped")),
            "{l}"
        );
        g.signal("TERM");
        g.wait_exit(Duration::from_secs(15));
    }
    std::fs::write(&file, "\u{0}\u{1}garbage garbage\n\u{7f}\n").unwrap();
    let (_port, _g, log) = start(dir.path(), config);
    let l = std::fs::read_to_string(&log).unwrap();
    assert!(
        l.lines()
            .any(|x| x.contains("silences") && x.contains("set aside")),
        "{l}"
    );
}

/// Defect 10: a data directory the alerter cannot write is one clear start-up error
/// naming the directory, the access needed and the fix (not "compaction failed").
/// Run as an unprivileged user (root ignores directory permissions).
#[test]
fn defect_10_read_only_data_directory_names_directory_and_fix() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = dir.path().join("alertmanager.yml");
    std::fs::write(&cfg, "route:\n  receiver: r\nreceivers:\n  - name: r\n").unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("silences"), "").unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o555)).unwrap();
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    let mut cmd = if root {
        let Some(setpriv) = e2e::require("setpriv", "runs the alerter as an unprivileged user")
        else {
            return;
        };
        let mut c = Command::new(setpriv);
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_alerter"),
        ]);
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_alerter"))
    };
    let out = cmd
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.path={}", data.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{}", free_port()))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&format!("--storage.path {}", data.display()))
            && err.contains("write and execute access")
            && err.contains("chown"),
        "{err}"
    );
    assert!(!err.contains("compaction failed"), "{err}");
}

/// Defect 6: a refused webhook shows at once, not when the flush gives up minutes
/// later (default group_interval 5m): a warn line and the failed-request count.
#[test]
fn defect_06_first_failed_attempt_is_logged_and_counted_at_once() {
    let sink = e2e::WebhookSink::start();
    sink.set_status(500);
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "route:\n  receiver: hook\n  group_wait: 0s\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: {}\n",
        sink.url()
    );
    let (port, _g, log) = start(dir.path(), &config);
    let (code, body) = e2e::http(
        "POST",
        port,
        "/api/v2/alerts",
        Some(r#"[{"labels":{"alertname":"Refused"}}]"#),
    )
    .unwrap();
    assert_eq!(code, 200, "{body}");
    wait_for(
        "the first failed attempt in the log",
        Duration::from_secs(10),
        || {
            let l = std::fs::read_to_string(&log).unwrap_or_default();
            l.lines()
                .find(|x| x.contains("WARN") && x.contains("notify attempt failed"))
                .map(str::to_string)
        },
    );
    let failed = metric(
        port,
        "alertmanager_notification_requests_failed_total{integration=\"webhook\"}",
    );
    assert!(failed.is_some_and(|n| n >= 1.0), "{failed:?}");
}

/// What `openssl req -x509` makes by default: a self-signed CA:TRUE certificate
/// for localhost; `expired` makes one whose notAfter has passed.
fn openssl_ca_cert(dir: &Path, stem: &str, expired: bool) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(format!("{stem}.pem")),
        dir.join(format!("{stem}.key")),
    );
    let san = "subjectAltName=DNS:localhost,IP:127.0.0.1";
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let (c, k) = (cert.to_str().unwrap(), key.to_str().unwrap());
    if expired {
        let csr = dir.join(format!("{stem}.csr"));
        let ext = dir.join(format!("{stem}.ext"));
        std::fs::write(&ext, format!("basicConstraints=critical,CA:TRUE\n{san}\n")).unwrap();
        let (r, e) = (csr.to_str().unwrap(), ext.to_str().unwrap());
        run(&[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            k,
            "-out",
            r,
        ]);
        run(&[
            "x509", "-req", "-in", r, "-signkey", k, "-days", "-1", "-extfile", e, "-out", c,
        ]);
    } else {
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "3",
            "-subj",
            "/CN=localhost",
            "-addext",
            san,
            "-keyout",
            k,
            "-out",
            c,
        ]);
    }
    (cert, key)
}

fn smtp_server(dir: &Path, mode: &str, (cert, key): &(PathBuf, PathBuf)) -> (u16, ChildGuard) {
    let port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_server.py");
    let out = dir.join(format!("inbox-{port}"));
    std::fs::create_dir_all(&out).unwrap();
    let mut cmd = Command::new("python3");
    cmd.arg(script)
        .args(["--port", &port.to_string(), "--mode", mode, "--cert"])
        .arg(cert)
        .arg("--key")
        .arg(key)
        .arg("--out")
        .arg(&out);
    let guard = ChildGuard::spawn("smtp", &mut cmd, &dir.join(format!("smtp-{port}.log")));
    e2e::wait_port(port, Duration::from_secs(10));
    (port, guard)
}

/// Defect 2: a mail server's self-signed CA:TRUE certificate pinned in
/// `tls_config.ca_file` is accepted (implicit TLS and STARTTLS); a different
/// self-signed certificate, an expired pinned one and a wrong name are refused.
#[tokio::test]
async fn defect_02_pinned_self_signed_ca_certificate_is_accepted_by_email() {
    use alerter::notify::email::{EmailConfig, Mode, SmtpGlobals, TlsConfig, dialogue, resolve};
    if !common::have_peers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let good = openssl_ca_cert(dir.path(), "good", false);
    let other = openssl_ca_cert(dir.path(), "other", false);
    let expired = openssl_ca_cert(dir.path(), "expired", true);
    let pw = dir.path().join("smtp_password");
    std::fs::write(&pw, "s3cret-pass").unwrap();
    let (implicit, _g1) = smtp_server(dir.path(), "implicit", &good);
    let (starttls, _g2) = smtp_server(dir.path(), "starttls", &good);
    let (stale, _g3) = smtp_server(dir.path(), "implicit", &expired);
    let send = |port: u16, ca: &Path, name: &str| {
        let c = EmailConfig {
            to: Some("admin@example.org".into()),
            from: Some("alerts@example.com".into()),
            smarthost: Some(format!("127.0.0.1:{port}")),
            auth_username: Some("alerts@example.com".into()),
            auth_password_file: Some(pw.display().to_string()),
            implicit_tls: Some(port != starttls),
            timeout: Some("5s".parse().unwrap()),
            tls_config: Some(TlsConfig {
                ca_file: Some(ca.display().to_string()),
                server_name: Some(name.into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let cfg = resolve(&c, &SmtpGlobals::default(), &|_| None).unwrap().0;
        async move {
            let mut lines = Vec::new();
            let r = dialogue(&cfg, None, Mode::ConnectOnly, &mut |l| lines.push(l)).await;
            (r, lines)
        }
    };
    for port in [implicit, starttls] {
        let (r, lines) = send(port, &good.0, "localhost").await;
        assert!(r.is_ok(), "{r:?}\n{lines:#?}");
    }
    for (port, ca, name, why) in [
        (implicit, &other.0, "localhost", "a different certificate"),
        (starttls, &other.0, "localhost", "a different certificate"),
        (implicit, &good.0, "mail.example.org", "not valid for name"),
        (stale, &expired.0, "localhost", "expired"),
    ] {
        let (r, lines) = send(port, ca, name).await;
        let e = r.expect_err(why);
        assert!(
            e.to_string().contains("not trusted"),
            "{why}: {e}\n{lines:#?}"
        );
    }
}

/// Defect 2, its `http_config` half: the same pinned certificate on an HTTPS
/// receiver (openssl s_server), and a different one refused.
#[tokio::test]
async fn defect_02_pinned_self_signed_ca_certificate_is_accepted_by_http_config() {
    use alerter::notify::http::HttpConfig;
    if e2e::require("openssl", "makes the certificate and serves HTTPS").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let good = openssl_ca_cert(dir.path(), "good", false);
    let other = openssl_ca_cert(dir.path(), "other", false);
    let port = free_port();
    let mut cmd = Command::new("openssl");
    cmd.args(["s_server", "-www", "-quiet", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(&good.0)
        .arg("-key")
        .arg(&good.1);
    let _g = ChildGuard::spawn("s_server", &mut cmd, &dir.path().join("s_server.log"));
    e2e::wait_port(port, Duration::from_secs(10));
    for (ca, ok) in [(&good.0, true), (&other.0, false)] {
        let yaml = format!("tls_config: {{ca_file: {}}}", ca.display());
        let hc: HttpConfig = serde_yaml::from_str(&yaml).unwrap();
        let client = hc.build(dir.path()).unwrap();
        let r = client
            .client()
            .get(format!("https://localhost:{port}/"))
            .send()
            .await;
        assert_eq!(r.is_ok(), ok, "{}: {r:?}", ca.display());
    }
}

/// Defect 7: one alert over the size limit is refused (400 naming the limit,
/// counted invalid), and the same large alert posted again and again keeps the
/// alerts log bounded by size; a restart loads it quickly and correctly.
#[test]
fn defect_07_alerts_log_is_bounded_by_size() {
    let dir = tempfile::tempdir().unwrap();
    let config = "route:\n  receiver: r\nreceivers:\n  - name: r\n";
    let post = |port: u16, name: &str, size: usize| {
        let body = format!(
            r#"[{{"labels":{{"alertname":"{name}"}},"annotations":{{"big":"{}"}}}}]"#,
            "x".repeat(size)
        );
        e2e::http("POST", port, "/api/v2/alerts", Some(&body)).unwrap()
    };
    let file = dir.path().join("data").join("alerts");
    let size = || std::fs::metadata(&file).map_or(0, |m| m.len());
    {
        let (port, mut g, _) = start(dir.path(), config);
        let (code, body) = post(port, "Huge", 3_900_000);
        assert_eq!(code, 400, "{body}");
        assert!(body.contains("1048576 bytes per alert"), "{body}");
        assert_eq!(
            metric(port, "alertmanager_alerts_invalid_total{version=\"v2\"}"),
            Some(1.0)
        );
        // 100 x 700 kB: 70 MB of log without a size bound.
        let mut peak = 0;
        for _ in 0..100 {
            let (code, body) = post(port, "Large", 700_000);
            assert_eq!(code, 200, "{body}");
            peak = peak.max(size());
        }
        let bound = 2 * 700_000 + (16 << 20) + 2 * 700_000;
        eprintln!("defect 7: alerts log peak {peak} bytes (bound {bound})");
        assert!(peak < bound, "the alerts log reached {peak} bytes");
        g.signal("TERM");
        g.wait_exit(Duration::from_secs(15));
    }
    let started = std::time::Instant::now();
    let (port, _g, _) = start(dir.path(), config);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "restart took {took:?}");
    // Opening rewrites the log to its live state, one alert (and the listeners'
    // replay appends it once more).
    assert!(size() < 1_500_000, "{} bytes after the restart", size());
    let alerts = e2e::get_json(port, "/api/v2/alerts").unwrap();
    let alerts = alerts.as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        alerts[0]["annotations"]["big"].as_str().map(str::len),
        Some(700_000)
    );
    eprintln!("defect 7: restart with the log took {took:?}");
}

fn vm_hwm_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Defect 8: with many alerts, `GET /api/v2/alerts` runs off the runtime thread:
/// `/-/healthy` and a single-alert POST keep answering within 50 ms meanwhile.
#[test]
fn defect_08_large_get_does_not_stall_health_or_ingest() {
    // The big requests take longer than e2e::http's 5 s deadline in a debug build.
    let Some(curl) = e2e::require("curl", "sends the large requests") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (port, g, _) = start(
        dir.path(),
        "route:\n  receiver: r\nreceivers:\n  - name: r\n",
    );
    // 30k: a debug build lists them in about 20 s, the stall it had on main.
    const N: usize = 30_000;
    let batch = dir.path().join("batch.json");
    for chunk in (0..N).collect::<Vec<_>>().chunks(10_000) {
        let items: Vec<String> = chunk
            .iter()
            .map(|i| format!(r#"{{"labels":{{"alertname":"Many","i":"{i}"}}}}"#))
            .collect();
        std::fs::write(&batch, format!("[{}]", items.join(","))).unwrap();
        let out = Command::new(&curl)
            .args([
                "-sS",
                "-f",
                "-H",
                "Content-Type: application/json",
                "--data-binary",
            ])
            .arg(format!("@{}", batch.display()))
            .arg(format!("http://127.0.0.1:{port}/api/v2/alerts"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for path in ["/api/v2/alerts", "/api/v2/alerts/groups"] {
        large_get_leaves_health_and_ingest_fast(&curl, port, g.pid(), path, N);
    }
}

/// GETs `path` (listing at least `n` alerts) while probing `/-/healthy` and posting
/// single alerts: each probe's 90th percentile must stay under 50 ms, its worst under 1 s.
fn large_get_leaves_health_and_ingest_fast(
    curl: &Path,
    port: u16,
    pid: u32,
    path: &str,
    n_min: usize,
) {
    let hwm_before = vm_hwm_kb(pid);
    let url = format!("http://127.0.0.1:{port}{path}");
    let curl = curl.to_path_buf();
    let getter = std::thread::spawn(move || {
        let t = std::time::Instant::now();
        let out = Command::new(&curl)
            .args(["-sS", "-f"])
            .arg(&url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let items = body.as_array().cloned().unwrap_or_default();
        // /alerts lists alerts; /alerts/groups lists groups, each with its alerts.
        let n = items
            .iter()
            .map(|x| {
                x.get("alerts")
                    .and_then(|a| a.as_array())
                    .map_or(1, Vec::len)
            })
            .sum::<usize>();
        (n, t.elapsed())
    });
    let (mut health, mut ingest) = (Vec::new(), Vec::new());
    while !getter.is_finished() {
        let t = std::time::Instant::now();
        let (code, _) = e2e::http("GET", port, "/-/healthy", None).unwrap();
        assert_eq!(code, 200);
        health.push(t.elapsed());
        let t = std::time::Instant::now();
        let (code, _) = e2e::http(
            "POST",
            port,
            "/api/v2/alerts",
            Some(r#"[{"labels":{"alertname":"During"}}]"#),
        )
        .unwrap();
        assert_eq!(code, 200);
        ingest.push(t.elapsed());
        std::thread::sleep(Duration::from_millis(10));
    }
    let (n, took) = getter.join().unwrap();
    assert!(n >= n_min, "{path}: {n} alerts");
    let hwm_after = vm_hwm_kb(pid);
    // Each probe's time includes e2e::http's own client start (a few ms in a
    // debug build on a loaded machine): the 90th percentile is held to 50 ms, the
    // worst to 1 s. On the runtime thread the GET stalled them for all of `took`.
    let pct = |v: &mut Vec<Duration>, p: usize| {
        v.sort();
        v[(v.len() * p / 100).min(v.len() - 1)]
    };
    let (h90, h100) = (pct(&mut health, 90), pct(&mut health, 100));
    let (i90, i100) = (pct(&mut ingest, 90), pct(&mut ingest, 100));
    eprintln!(
        "defect 8: GET {path} of {n} alerts took {took:?}; meanwhile {} health probes p90 {h90:?} max {h100:?}, {} single-alert posts p90 {i90:?} max {i100:?}; VmHWM {hwm_before} -> {hwm_after} kB",
        health.len(),
        ingest.len(),
    );
    assert!(
        health.len() >= 3,
        "{path}: too few probes during the GET ({took:?})"
    );
    assert!(
        h90 < Duration::from_millis(50) && h100 < Duration::from_secs(1),
        "{path}: {health:?}"
    );
    assert!(
        i90 < Duration::from_millis(50) && i100 < Duration::from_secs(1),
        "{path}: {ingest:?}"
    );
}

/// Issue 20, done-when 4: known test secrets (SMTP password, webhook URL
/// credentials, http_config basic_auth/authorization/proxy_url passwords, an
/// oauth2 client secret, the web basic-auth password and a wrong guess at it),
/// every one of them used against a peer that refuses, never appear in a log
/// line, an API response, the status page or `check-config` output.
#[test]
fn secrets_never_appear_in_logs_api_page_or_check_config() {
    let Some(curl) = e2e::require("curl", "sends requests with basic auth") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let closed = free_port();
    let peer = format!("127.0.0.1:{closed}");
    let config = format!(
        "route:
  receiver: all
  group_wait: 0s
receivers:
  - name: all
    email_configs:
      - to: admin@example.org
        from: alerts@example.org
        smarthost: {peer}
        auth_username: alerts
        auth_password: SMTP-SECRET-1
    webhook_configs:
      - url: http://hookuser:WEBHOOK-SECRET-2@{peer}/hook
      - url: http://{peer}/basic
        http_config:
          basic_auth: {{username: u, password: BASIC-SECRET-3}}
          proxy_url: http://proxyuser:PROXY-SECRET-5@{peer}
      - url: http://{peer}/authorization
        http_config:
          authorization: {{credentials: AUTH-SECRET-4}}
      - url: http://{peer}/oauth2
        http_config:
          oauth2: {{client_id: id, client_secret: OAUTH-SECRET-6, token_url: 'http://{peer}/token'}}
"
    );
    let path = dir.path().join("alertmanager.yml");
    std::fs::write(&path, &config).unwrap();
    let web = dir.path().join("web.yml");
    let hash = bcrypt::hash("WEB-SECRET-7", 4).unwrap();
    std::fs::write(&web, format!("basic_auth_users:\n  admin: '{hash}'\n")).unwrap();
    let port = free_port();
    let log = dir.path().join("alerter.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alerter"));
    cmd.arg(format!("--config.file={}", path.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.config.file={}", web.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let _g = ChildGuard::spawn("alerter", &mut cmd, &log);
    e2e::wait_port(port, Duration::from_secs(20));
    let curl = |user: &str, method: &str, path: &str, body: Option<&str>| {
        let mut c = Command::new(&curl);
        c.args(["-sS", "-u", user, "-X", method])
            .arg(format!("http://127.0.0.1:{port}{path}"));
        if let Some(b) = body {
            c.args(["-H", "Content-Type: application/json", "--data", b]);
        }
        let out = c.output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let ok = "admin:WEB-SECRET-7";
    wait_for("the alerter ready", Duration::from_secs(20), || {
        curl(ok, "GET", "/-/ready", None)
            .contains("OK")
            .then_some(())
    });
    curl("admin:WRONG-SECRET-8", "GET", "/api/v2/status", None);
    curl(
        ok,
        "POST",
        "/api/v2/alerts",
        Some(r#"[{"labels":{"alertname":"Leak"}}]"#),
    );
    wait_for(
        "the receivers' failures in the log",
        Duration::from_secs(30),
        || {
            let l = std::fs::read_to_string(&log).unwrap_or_default();
            let failed: Vec<&str> = l
                .lines()
                .filter(|x| x.contains("notify attempt failed"))
                .collect();
            (failed.len() >= 4 && failed.iter().any(|x| x.contains("email"))).then_some(())
        },
    );
    let mut shown = vec![("log", std::fs::read_to_string(&log).unwrap())];
    for p in [
        "/api/v2/status",
        "/api/v2/receivers",
        "/api/v2/alerts",
        "/api/v2/alerts/groups",
        "/api/v1/rules",
        "/metrics",
        "/",
    ] {
        shown.push((p, curl(ok, "GET", p, None)));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_alerter"))
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    shown.push((
        "check-config",
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ));
    for (what, text) in &shown {
        assert!(!text.is_empty(), "{what}: empty");
        assert!(!text.contains("-SECRET-"), "{what} shows a secret:\n{text}");
    }
    let status = &shown[1].1;
    assert!(
        status.contains("http://proxyuser:xxxxx@127.0.0.1"),
        "only the proxy URL's password is hidden: {status}"
    );
}
