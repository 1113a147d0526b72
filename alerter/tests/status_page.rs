//! The status page in a real browser (Debian's chromium, headless, driven by
//! `tests/browser.py` through Selenium and chromedriver) against the real binary
//! behind a path prefix, with alerts posted and an email receiver that a real
//! SMTP server (aiosmtpd, `tests/smtp_server.py`) refuses: the page names the
//! failure in plain words and shows the firing alerts; a silence created with the
//! page's form mutes an alert (checked through the API) and expiring it un-mutes
//! it; a `<script>` label value is text; axe-core finds no accessibility
//! violation. Full-page screenshots (desktop and 390 px wide) are saved under
//! `target/test-artifacts/status-page/`.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use common::{have_peers, make_cert};
use e2e::{ChildGuard, free_port, get_json, wait_for, wait_port};
use serde_json::{Value, json};

/// The browser driver: one chromium for the whole test, stopped on drop.
struct Browser {
    child: Child,
    stdin: Option<ChildStdin>,
    out: BufReader<ChildStdout>,
}

impl Browser {
    /// `None` (a SKIP) when chromium, chromedriver or the Python packages are
    /// missing; under CI that is a failure naming what is missing.
    fn start() -> Option<Browser> {
        e2e::require("chromium", "the browser the status page is tested in")?;
        e2e::require("chromedriver", "drives chromium for Selenium")?;
        let ok = Command::new("python3")
            .args(["-c", "import selenium, axe_core_python"])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let msg = "python packages selenium / axe-core-python missing: pip install -r tests/requirements.txt";
            assert!(!e2e::under_ci(), "{msg}");
            eprintln!("SKIP: {msg}");
            return None;
        }
        let mut child = Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start tests/browser.py");
        let stdin = child.stdin.take();
        let out = BufReader::new(child.stdout.take().expect("piped stdout"));
        Some(Browser { child, stdin, out })
    }

    /// One command; panics with the driver's error.
    fn call(&mut self, cmd: &Value) -> Value {
        let stdin = self.stdin.as_mut().expect("driver running");
        writeln!(stdin, "{cmd}").expect("write to the browser driver");
        stdin.flush().expect("flush");
        let mut line = String::new();
        self.out
            .read_line(&mut line)
            .expect("read the browser driver");
        assert!(!line.is_empty(), "the browser driver exited (after {cmd})");
        let v: Value = serde_json::from_str(&line).expect("driver answers JSON");
        if let Some(e) = v.get("error") {
            panic!("browser: {cmd}: {e}\n{}", v["trace"].as_str().unwrap_or(""));
        }
        v
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // End of input makes the driver quit chromium and chromedriver itself;
        // killing it would leave them behind.
        drop(self.stdin.take());
        for _ in 0..200 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(page: &Value) -> &str {
    page["text"].as_str().unwrap_or_default()
}

/// The posted alert's state and silences, as the API reports it.
fn api_state(port: u16, alertname: &str) -> (String, Vec<String>) {
    let q = format!("/am/api/v2/alerts?filter=alertname%3D%22{alertname}%22");
    let v = get_json(port, &q).unwrap_or_else(|e| panic!("{e}"));
    let a = &v[0]["status"];
    let ids = a["silencedBy"]
        .as_array()
        .map(|ids| {
            ids.iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    (a["state"].as_str().unwrap_or_default().to_string(), ids)
}

fn artifacts() -> PathBuf {
    let d = e2e::workspace_root().join("target/test-artifacts/status-page");
    std::fs::create_dir_all(&d).expect("create the artifacts directory");
    d
}

#[test]
fn status_page_in_a_browser() {
    if !have_peers() {
        return;
    }
    let Some(mut browser) = Browser::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // The SMTP server wants alerts@example.com / s3cret-pass; the config gives a
    // wrong password, so every delivery fails at AUTH (535).
    let (cert, key) = make_cert(d);
    std::fs::create_dir_all(d.join("inbox")).unwrap();
    let smtp_port = free_port();
    let mut smtp = Command::new("python3");
    smtp.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_server.py"))
        .args(["--port", &smtp_port.to_string(), "--mode", "implicit"])
        .arg("--cert")
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .arg("--out")
        .arg(d.join("inbox"));
    let _smtp = ChildGuard::spawn("smtp", &mut smtp, &d.join("smtp.log"));
    wait_port(smtp_port, Duration::from_secs(10));
    std::fs::write(d.join("smtp-pass"), "wrong-password\n").unwrap();
    let config = d.join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            "route:\n  receiver: mail\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n  routes:\n  - matchers: [severity=info]\n    receiver: blackhole\nreceivers:\n- name: mail\n  email_configs:\n  - to: admin@example.org\n    from: alerts@example.com\n    smarthost: 127.0.0.1:{smtp_port}\n    implicit_tls: true\n    auth_username: alerts@example.com\n    auth_password_file: {pf}\n    timeout: 2s\n    tls_config:\n      ca_file: {ca}\n      server_name: localhost\n- name: blackhole\n",
            pf = d.join("smtp-pass").display(),
            ca = cert.display()
        ),
    )
    .unwrap();

    // Behind a reverse proxy at /am/: the route prefix comes from the external URL.
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alerter"));
    cmd.arg("--config.file")
        .arg(&config)
        .arg("--storage.path")
        .arg(d.join("data"))
        .arg("--web.listen-address")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--web.external-url")
        .arg(format!("http://127.0.0.1:{port}/am/"));
    let _alerter = ChildGuard::spawn("alerter", &mut cmd, &d.join("alerter.log"));
    wait_port(port, Duration::from_secs(10));

    let alerts = json!([
        {"labels": {"alertname": "HostDown", "severity": "critical",
                    "instance": "<script>alert(1)</script>"},
         "annotations": {"summary": "the host <b>is down</b>"}},
        {"labels": {"alertname": "DiskFull", "severity": "warning", "instance": "db1"},
         "annotations": {"summary": "disk 95% full"}}
    ]);
    let (st, body) = e2e::http("POST", port, "/am/api/v2/alerts", Some(&alerts.to_string()))
        .expect("post alerts");
    assert_eq!(st, 200, "{body}");
    wait_for(
        "the mail receiver to be failing",
        Duration::from_secs(30),
        || {
            let s = get_json(port, "/am/api/v2/status").ok()?;
            (!s["notifications"]["failing"].as_array()?.is_empty()).then_some(())
        },
    );

    let url = format!("http://127.0.0.1:{port}/am/");
    let page = browser.call(&json!({"cmd": "open", "url": url}));
    let t = text(&page);
    for want in [
        "Problem: Receiver mail (email) is failing",
        "the server rejected the credentials (535)",
        "FAILING",
        "auth_rejected",
        "FIRING HostDown",
        "FIRING DiskFull",
        "Alerts (2)",
    ] {
        assert!(t.contains(want), "page lacks {want:?}:\n{t}");
    }
    // The label value is text, and no script ran (none is on the page at all).
    let content = page["content"].as_str().unwrap_or_default();
    assert!(content.contains("<script>alert(1)</script>"), "{content}");
    assert!(t.contains("the host <b>is down</b>"), "{t}");
    assert_eq!(page["scripts"], 0);
    assert_eq!(page["dialogs"], 0);

    let out = artifacts();
    for (name, width) in [("desktop.png", 1280), ("phone-390.png", 390)] {
        let path = out.join(name);
        browser.call(&json!({"cmd": "screenshot", "width": width, "path": path}));
        let png = std::fs::read(&path).expect("screenshot written");
        assert!(png.starts_with(b"\x89PNG"), "{}", path.display());
    }

    // Accessibility: landmarks, form labels and contrast among the rules that ran.
    let axe = browser.call(&json!({"cmd": "axe"}));
    assert_eq!(
        axe["violations"],
        json!([]),
        "axe-core {}: {axe:#}",
        axe["version"]
    );
    let passes: Vec<&str> = axe["passes"]
        .as_array()
        .expect("axe passes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for rule in [
        "region",
        "landmark-one-main",
        "label",
        "color-contrast",
        "html-has-lang",
    ] {
        assert!(
            passes.contains(&rule),
            "axe did not check {rule}: {passes:?}"
        );
    }

    // A silence through the form: the preview names the alert it would mute.
    assert_eq!(api_state(port, "DiskFull").0, "active");
    let page = browser.call(
        &json!({"cmd": "silence", "matchers": "alertname=\"DiskFull\"",
        "by": "ops", "comment": "disk swap tonight"}),
    );
    let preview = page["preview"].as_str().unwrap_or_default();
    assert!(
        preview.contains("would mute 1 active alert") && preview.contains("DiskFull"),
        "{preview}"
    );
    assert!(text(&page).contains("created"), "{}", text(&page));
    assert_eq!(
        page["url"].as_str().unwrap_or_default().split('?').next(),
        Some(url.as_str())
    );
    let (state, ids) = api_state(port, "DiskFull");
    assert_eq!(state, "suppressed");
    assert_eq!(ids.len(), 1);
    assert_eq!(
        api_state(port, "HostDown").0,
        "active",
        "only the matched alert"
    );
    let page = browser.call(&json!({"cmd": "open", "url": url}));
    assert!(
        text(&page).contains("SUPPRESSED by silence"),
        "{}",
        text(&page)
    );

    // Expiring it through the page un-mutes the alert.
    let page = browser.call(&json!({"cmd": "expire", "id": ids[0]}));
    assert!(text(&page).contains("expired"), "{}", text(&page));
    assert_eq!(api_state(port, "DiskFull"), ("active".to_string(), vec![]));

    // "Send test" runs `alerter test`'s path and shows its transcript.
    let page = browser.call(&json!({"cmd": "test", "receiver": "mail"}));
    let t = text(&page);
    assert!(t.contains("Test of mail") && t.contains("FAILED"), "{t}");
    assert!(t.contains("535"), "{t}");

    // A form post from another site is refused.
    let (st, _) = e2e::http("POST", port, "/am/silences/new", Some("{}")).expect("post");
    assert_eq!(st, 403);
}
