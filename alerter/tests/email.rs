//! Email over SMTP against a real server (aiosmtpd, tests/requirements.txt) with a
//! self-signed certificate made by `openssl req` at test time.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use alerter::notify::email::{
    EmailConfig, EmailNotifier, Mode, ResolvedEmail, Secret, SmtpGlobals, TlsConfig, diagnose,
    dialogue, resolve, resolve_with,
};
use alerter::notify::template::Templates;
use alerter::notify::{AlertData, Data, Notification, Notifier, NotifyError, Status};
use chrono::{TimeZone, Utc};
use common::{decode_message, have_peers, make_cert};
use e2e::{ChildGuard, free_port, wait_for, wait_port};

const USER: &str = "alerts@example.com";
const PASS: &str = "s3cret-pass";

struct Smtp {
    port: u16,
    out: PathBuf,
    cert: PathBuf,
    _guard: ChildGuard,
}

fn start_smtp(dir: &Path, mode: &str, auth: &str, extra: &[&str]) -> Smtp {
    let cert_key = make_cert(dir);
    start_smtp_on(dir, free_port(), cert_key, mode, auth, extra)
}

/// On a given port with a given certificate: a server that comes back after an outage.
fn start_smtp_on(
    dir: &Path,
    port: u16,
    (cert, key): (PathBuf, PathBuf),
    mode: &str,
    auth: &str,
    extra: &[&str],
) -> Smtp {
    let out = dir.join("inbox");
    std::fs::create_dir_all(&out).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_server.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script)
        .args(["--port", &port.to_string(), "--mode", mode, "--auth", auth])
        .arg("--cert")
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .arg("--out")
        .arg(&out)
        .args(extra);
    let guard = ChildGuard::spawn("smtp", &mut cmd, &dir.join("smtp.log"));
    wait_port(port, Duration::from_secs(10));
    Smtp {
        port,
        out,
        cert,
        _guard: guard,
    }
}

fn config(port: u16, ca: Option<&Path>) -> EmailConfig {
    EmailConfig {
        to: Some("admin@example.org".into()),
        from: Some("Alerter <alerts@example.com>".into()),
        smarthost: Some(format!("127.0.0.1:{port}")),
        auth_username: Some(USER.into()),
        timeout: Some("2s".parse().unwrap()),
        tls_config: Some(TlsConfig {
            ca_file: ca.map(|p| p.display().to_string()),
            server_name: Some("localhost".into()),
            ..Default::default()
        }),
        // Our phone-friendly content, named as the built-in config names it.
        headers: BTreeMap::from([(
            "Subject".into(),
            r#"{{ template "alerter.email.subject" . }}"#.into(),
        )]),
        text: Some(r#"{{ template "alerter.email.text" . }}"#.into()),
        html: Some(r#"{{ template "alerter.email.html" . }}"#.into()),
        ..Default::default()
    }
}

/// An email_config without `headers.Subject`, `html` and `text` mails as
/// Alertmanager 0.25 does: its subject, its HTML body (email.tmpl), no text part.
#[test]
fn omitted_keys_mail_as_alertmanager_0_25() {
    let mut c = config(25, None);
    c.headers.clear();
    c.auth_username = None;
    c.text = None;
    c.html = None;
    let msg = alerter::notify::email::build_message(&resolved(&c, &[]), &data()).unwrap();
    let m = String::from_utf8_lossy(&msg.formatted()).into_owned();
    assert!(
        m.contains("Subject: [FIRING:2] HostHighCpuUsage warning"),
        "{m}"
    );
    assert!(m.contains("Content-Type: text/html"), "{m}");
    assert!(!m.contains("Content-Type: text/plain"), "{m}");
    assert!(m.contains("View in Alertmanager"), "{m}");
}

fn resolved(c: &EmailConfig, env: &[(&str, &str)]) -> ResolvedEmail {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    resolve(c, &SmtpGlobals::default(), &lookup)
        .expect("valid config")
        .0
}

fn data() -> Data {
    let alert = |inst: &str| AlertData {
        status: Status::Firing,
        labels: BTreeMap::from([
            ("alertname".into(), "HostHighCpuUsage".into()),
            ("severity".into(), "warning".into()),
            ("instance".into(), inst.into()),
        ]),
        annotations: BTreeMap::from([("summary".into(), format!("CPU above 80% on {inst} <b>"))]),
        starts_at: Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap(),
        ends_at: Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap(),
        generator_url: "http://prom:9090/graph?g0.expr=cpu".into(),
        fingerprint: inst.into(),
    };
    Data {
        receiver: "admin".into(),
        status: Status::Firing,
        alerts: vec![alert("web-1"), alert("web-2")],
        group_labels: BTreeMap::from([
            ("alertname".into(), "HostHighCpuUsage".into()),
            ("severity".into(), "warning".into()),
        ]),
        common_labels: BTreeMap::new(),
        common_annotations: BTreeMap::new(),
        external_url: "http://alerter:9093".into(),
    }
}

fn notification() -> Notification {
    Notification {
        group_key: "{}:{alertname=\"HostHighCpuUsage\"}".into(),
        data: data(),
    }
}

async fn send(cfg: &ResolvedEmail) -> (Result<(), NotifyError>, Vec<String>) {
    let msg = alerter::notify::email::build_message(cfg, &data()).unwrap();
    let mut lines = Vec::new();
    let mut log = |l: String| lines.push(l);
    let r = dialogue(cfg, Some(&msg), Mode::Send, &mut log).await;
    (r, lines)
}

fn inbox(out: &Path) -> Vec<String> {
    let mut v: Vec<_> = std::fs::read_dir(out)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    v.sort();
    v.iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

fn assert_message(m: &str) {
    assert!(
        m.contains("Subject: [FIRING:2] HostHighCpuUsage (warning)"),
        "{m}"
    );
    assert!(m.contains("From: Alerter <alerts@example.com>"), "{m}");
    assert!(m.contains("To: admin@example.org"), "{m}");
    assert!(m.contains("multipart/alternative"), "{m}");
    assert!(m.contains("Content-Type: text/plain"), "{m}");
    assert!(m.contains("Content-Type: text/html"), "{m}");
    // text part lists each alert's summary, labels, start, link
    assert!(m.contains("CPU above 80% on web-1 <b>"), "{m}");
    assert!(m.contains("instance = web-2"), "{m}");
    assert!(m.contains("2026-11-22 12:00:00 UTC"), "{m}");
    assert!(
        m.contains("http://prom:9090/graph?g0.expr=3Dcpu")
            || m.contains("http://prom:9090/graph?g0.expr=cpu"),
        "{m}"
    );
    // html part escapes
    assert!(m.contains("&lt;b&gt;"), "{m}");
}

#[tokio::test]
async fn implicit_tls_auth_plain_password_from_file() {
    if !have_peers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = start_smtp(dir.path(), "implicit", "PLAIN,LOGIN", &[]);
    let pw = dir.path().join("smtp_password");
    std::fs::write(&pw, format!("{PASS}\n")).unwrap();
    let mut c = config(s.port, Some(&s.cert));
    c.implicit_tls = Some(true);
    c.auth_password_file = Some(pw.display().to_string());
    c.auth_mechanisms = Some(vec!["PLAIN".into()]);
    let cfg = resolved(&c, &[]);
    let (r, lines) = send(&cfg).await;
    assert!(r.is_ok(), "{r:?}\n{lines:#?}");
    let t = lines.join("\n");
    assert!(t.contains("implicit TLS"), "{t}");
    assert!(
        t.contains("AUTH     PLAIN as alerts@example.com: 235"),
        "{t}"
    );
    assert!(t.contains("DATA") && t.contains("250"), "{t}");
    assert!(!t.contains(PASS), "password in transcript: {t}");
    let msgs = wait_for("the message", Duration::from_secs(5), || {
        let m = inbox(&s.out);
        (!m.is_empty()).then_some(m)
    });
    assert_eq!(msgs.len(), 1);
    assert_message(&msgs[0]);
}

#[tokio::test]
async fn starttls_login_only_server_password_from_env() {
    if !have_peers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = start_smtp(dir.path(), "starttls", "LOGIN", &[]);
    let mut c = config(s.port, Some(&s.cert));
    c.auth_password_env = Some("ALERTER_TEST_SMTP_PASSWORD".into());
    c.auth_mechanisms = Some(vec!["PLAIN".into(), "LOGIN".into()]);
    let cfg = resolved(&c, &[("ALERTER_TEST_SMTP_PASSWORD", PASS)]);
    let n = EmailNotifier::new(cfg);
    let r = n.notify(&notification()).await;
    assert!(r.is_ok(), "{r:?}");
    let msgs = wait_for("the message", Duration::from_secs(5), || {
        let m = inbox(&s.out);
        (!m.is_empty()).then_some(m)
    });
    assert_eq!(msgs.len(), 1);
    assert_message(&msgs[0]);
    // and the transcript shows STARTTLS then LOGIN
    let (r, lines) = send(&n.cfg).await;
    assert!(r.is_ok(), "{r:?}");
    let t = lines.join("\n");
    assert!(
        t.contains("STARTTLS ok") && t.contains("AUTH     LOGIN"),
        "{t}"
    );
}

#[tokio::test]
async fn wrong_password_is_permanent_auth_rejected_and_suggests_login() {
    if !have_peers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = start_smtp(dir.path(), "implicit", "PLAIN,LOGIN", &[]);
    let mut c = config(s.port, Some(&s.cert));
    c.implicit_tls = Some(true);
    c.auth_password_env = Some("P".into());
    let cfg = resolved(&c, &[("P", "wrong-password")]);
    let (r, lines) = send(&cfg).await;
    let e = r.unwrap_err();
    assert_eq!(e.reason, "auth_rejected", "{e:?} {lines:#?}");
    assert!(!e.retryable);
    assert!(e.message.contains("535"), "{}", e.message);
    // fell through PLAIN then LOGIN
    let t = lines.join("\n");
    assert!(
        t.contains("AUTH     PLAIN") && t.contains("AUTH     LOGIN"),
        "{t}"
    );
    assert!(diagnose(&e, &cfg).contains("auth_mechanisms: [LOGIN]"));
    assert!(!t.contains("wrong-password") && !e.message.contains("wrong-password"));
    assert!(inbox(&s.out).is_empty());
}

#[tokio::test]
async fn rejected_recipient() {
    if !have_peers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = start_smtp(
        dir.path(),
        "starttls",
        "PLAIN",
        &["--reject-domain", "example.org"],
    );
    let mut c = config(s.port, Some(&s.cert));
    c.auth_password_env = Some("P".into());
    let cfg = resolved(&c, &[("P", PASS)]);
    let e = send(&cfg).await.0.unwrap_err();
    assert_eq!(e.reason, "recipient_rejected", "{e:?}");
    assert!(!e.retryable);
    assert!(e.message.contains("550"), "{}", e.message);
    assert!(diagnose(&e, &cfg).contains("recipient"));
}

#[tokio::test]
async fn untrusted_certificate_is_tls_handshake() {
    if !have_peers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = start_smtp(dir.path(), "implicit", "PLAIN", &[]);
    let mut c = config(s.port, None);
    c.implicit_tls = Some(true);
    c.auth_password_env = Some("P".into());
    let cfg = resolved(&c, &[("P", PASS)]);
    let e = send(&cfg).await.0.unwrap_err();
    assert_eq!(e.reason, "tls_handshake", "{e:?}");
    assert!(diagnose(&e, &cfg).contains("certificate"));
}

#[tokio::test]
async fn starttls_required_but_not_offered() {
    if !have_peers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = start_smtp(dir.path(), "plain", "PLAIN", &[]);
    let mut c = config(s.port, None);
    c.auth_username = None;
    let cfg = resolved(&c, &[]);
    let e = send(&cfg).await.0.unwrap_err();
    assert_eq!(e.reason, "tls_required", "{e:?}");
    // explicitly allowed plain text works
    c.require_tls = Some(false);
    let cfg = resolved(&c, &[]);
    let (r, lines) = send(&cfg).await;
    assert!(r.is_ok(), "{r:?} {lines:#?}");
}

#[tokio::test]
async fn nothing_listening_is_connection_refused() {
    let port = free_port();
    let mut c = config(port, None);
    c.auth_username = None;
    let cfg = resolved(&c, &[]);
    let e = send(&cfg).await.0.unwrap_err();
    assert_eq!(e.reason, "connection_refused", "{e:?}");
    assert!(e.retryable);
    assert!(diagnose(&e, &cfg).contains("nothing listens"));
}

#[tokio::test]
async fn server_that_never_greets_times_out() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut kept = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            kept.push(s); // accept, never write
        }
    });
    for implicit in [false, true] {
        let mut c = config(port, None);
        c.auth_username = None;
        c.timeout = Some("300ms".parse().unwrap());
        c.implicit_tls = Some(implicit);
        let cfg = resolved(&c, &[]);
        let e = send(&cfg).await.0.unwrap_err();
        assert_eq!(e.reason, "greeting_timeout", "{e:?}");
        // The opening step's deadline (connect, then greeting: twice the step),
        // not a wait for the kernel or the flush deadline.
        assert!(e.message.contains("no reply within 600ms"), "{e:?}");
        assert!(e.retryable);
        assert!(diagnose(&e, &cfg).contains("never greeted"));
    }
    hold.abort();
}

#[test]
fn password_never_shown() {
    let mut c = config(25, None);
    c.auth_password = Some(Secret::new("inline-secret-123"));
    let (cfg, warns) = resolve(&c, &SmtpGlobals::default(), &|_: &str| None).expect("valid");
    assert!(!format!("{cfg:?}").contains("inline-secret-123"));
    assert!(
        warns.iter().any(|w| w.contains("auth_password_file")),
        "{warns:?}"
    );
    assert_eq!(
        cfg.password.as_ref().map(|p| p.expose()),
        Some("inline-secret-123")
    );
}

#[test]
fn config_errors_all_at_once() {
    let c = EmailConfig {
        to: Some("not an address".into()),
        smarthost: Some("nohostport".into()),
        auth_username: Some("u".into()),
        auth_password_env: Some("UNSET_VAR_FOR_TEST".into()),
        auth_mechanisms: Some(vec!["CRAM-MD5".into()]),
        ..Default::default()
    };
    let errs = resolve(&c, &SmtpGlobals::default(), &|_: &str| None).unwrap_err();
    let all = errs.join("\n");
    for want in ["to:", "from", "smarthost", "UNSET_VAR_FOR_TEST", "CRAM-MD5"] {
        assert!(all.contains(want), "missing {want} in:\n{all}");
    }
}

#[tokio::test]
async fn alerter_test_transcript_and_diagnosis() {
    if !have_peers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = start_smtp(dir.path(), "implicit", "PLAIN,LOGIN", &[]);
    let mut c = config(s.port, Some(&s.cert));
    c.implicit_tls = Some(true);
    c.auth_password_env = Some("P".into());

    // delivers and prints every step
    let cfg = resolved(&c, &[("P", PASS)]);
    let mut out = Vec::new();
    let r = alerter::selftest::run_email("admin", &cfg, Mode::Send, &mut out).await;
    let t = String::from_utf8(out).unwrap();
    assert!(r.is_ok(), "{t}");
    for want in [
        "DNS",
        "CONNECT",
        "TLS",
        "EHLO",
        "AUTH",
        "MAIL",
        "RCPT",
        "DATA",
        "OK: the server accepted",
    ] {
        assert!(t.contains(want), "missing {want} in:\n{t}");
    }
    let msgs = wait_for("the test message", Duration::from_secs(5), || {
        let m = inbox(&s.out);
        (!m.is_empty()).then_some(m)
    });
    assert!(msgs[0].contains("AlerterTest"));

    // wrong password: fails, names the cause, no password printed
    let cfg = resolved(&c, &[("P", "hunter2-wrong")]);
    let mut out = Vec::new();
    let r = alerter::selftest::run_email("admin", &cfg, Mode::Send, &mut out).await;
    let t = String::from_utf8(out).unwrap();
    assert_eq!(r.unwrap_err().reason, "auth_rejected");
    assert!(
        t.contains("FAILED [auth_rejected]") && t.contains("535"),
        "{t}"
    );
    assert!(
        t.contains("likely cause:") && t.contains("auth_mechanisms: [LOGIN]"),
        "{t}"
    );
    assert!(!t.contains("hunter2-wrong"), "{t}");

    // connect-only readiness check (start-up / reload)
    let cfg = resolved(&c, &[("P", PASS)]);
    assert!(alerter::notify::email::check_ready(&cfg).await.is_ok());
    assert_eq!(inbox(&s.out).len(), 1, "check_ready must not send mail");
}

#[test]
fn redacted_config_hides_inline_secrets() {
    let mut c = config(25, None);
    c.auth_password = Some(Secret::new("inline-secret-123"));
    c.auth_secret = Some(Secret::new("another-secret"));
    let shown = serde_yaml::to_string(&c).unwrap();
    assert!(
        !shown.contains("inline-secret-123") && !shown.contains("another-secret"),
        "{shown}"
    );
    assert!(shown.contains("<secret>"), "{shown}");
    let g = SmtpGlobals {
        smtp_auth_password: Some(Secret::new("glob-pass")),
        ..Default::default()
    };
    let shown = serde_yaml::to_string(&g).unwrap();
    assert!(!shown.contains("glob-pass"), "{shown}");
}

/// Every secret-bearing field (email password and secret, inline TLS key, webhook
/// URL) is a `Secret`: the whole config, serialized or debug-printed with no
/// redaction step, shows none of them.
#[test]
fn secrets_in_a_parsed_config_never_serialize() {
    let cfg = alerter::config::parse(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  email_configs:\n  - to: a@example.org\n    from: b@example.org\n    smarthost: mail.example.org:587\n    auth_username: u\n    auth_password: inline-pass-123\n    auth_secret: inline-secret-456\n    tls_config:\n      key: inline-key-789\n  webhook_configs:\n  - url: https://hooks.example.com/T0K3N-abc?token=q1w2\n",
        "test.yml",
    )
    .unwrap();
    let shown = serde_yaml::to_string(&cfg).unwrap();
    let debug = format!("{cfg:?}");
    for secret in [
        "inline-pass-123",
        "inline-secret-456",
        "inline-key-789",
        "T0K3N-abc",
        "q1w2",
    ] {
        assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
        assert!(!debug.contains(secret), "{secret} in Debug:\n{debug}");
    }
    assert_eq!(shown.matches("<secret>").count(), 4, "{shown}");
}

/// A failed delivery's error carries the SMTP reply and the likely cause, never the
/// password: it is what the pipeline logs once and the alarm path reports (the log
/// line itself is checked against the daemon in `secrets_never_shown` and
/// `outage_then_restart_delivers_exactly_once_and_is_loud_meanwhile`).
#[tokio::test]
async fn failure_error_names_reply_and_cause_never_the_password() {
    if !have_peers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = start_smtp(dir.path(), "implicit", "PLAIN", &[]);
    let mut c = config(s.port, Some(&s.cert));
    c.implicit_tls = Some(true);
    c.auth_password_env = Some("P".into());
    let n = EmailNotifier::new(resolved(&c, &[("P", "pw-should-never-appear")]));
    let e = n.notify(&notification()).await.unwrap_err();
    assert_eq!((e.reason.as_str(), e.retryable), ("auth_rejected", false));
    assert!(
        e.message.contains("535") && e.message.contains("likely cause"),
        "{e}"
    );
    assert!(e.message.contains(&format!("127.0.0.1:{}", s.port)), "{e}");
    assert!(!e.message.contains("pw-should-never-appear"), "{e}");
}

/// The `alerter test` command end to end: config file, password file, real server.
#[test]
fn alerter_test_command_delivers_and_names_the_cause() {
    if !have_peers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = start_smtp(dir.path(), "implicit", "PLAIN,LOGIN", &[]);
    let pass_file = dir.path().join("smtp-pass");
    let write_config = |password: &str| {
        std::fs::write(&pass_file, format!("{password}\n")).unwrap();
        let cfg = dir.path().join("alerter.yml");
        std::fs::write(
            &cfg,
            format!(
                "route:\n  receiver: admin\nreceivers:\n- name: admin\n  email_configs:\n  - to: admin@example.org\n    from: alerts@example.com\n    smarthost: 127.0.0.1:{port}\n    implicit_tls: true\n    auth_username: {USER}\n    auth_password_file: {pf}\n    timeout: 2s\n    tls_config:\n      ca_file: {ca}\n      server_name: localhost\n",
                port = s.port,
                pf = pass_file.display(),
                ca = s.cert.display()
            ),
        )
        .unwrap();
        cfg
    };
    let run = |cfg: &Path| {
        Command::new(env!("CARGO_BIN_EXE_alerter"))
            .arg("test")
            .arg("--config")
            .arg(cfg)
            .output()
            .expect("run alerter test")
    };

    let cfg = write_config(PASS);
    let out = run(&cfg);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "TLS",
        "EHLO",
        "AUTH",
        "RCPT",
        "DATA",
        "OK: the server accepted",
    ] {
        assert!(stdout.contains(want), "missing {want} in:\n{stdout}");
    }
    assert_eq!(inbox(&s.out).len(), 1);

    let cfg = write_config("hunter2-wrong");
    let out = run(&cfg);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("FAILED [auth_rejected]") && stdout.contains("535"),
        "{stdout}"
    );
    assert!(
        stderr.contains("delivery failed (auth_rejected)"),
        "{stderr}"
    );
    assert!(!stdout.contains("hunter2") && !stderr.contains("hunter2"));
    assert_eq!(
        inbox(&s.out).len(),
        1,
        "nothing delivered with a wrong password"
    );
}

#[tokio::test]
async fn user_templates_shape_subject_headers_text_and_html() {
    if !have_peers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = start_smtp(dir.path(), "starttls", "PLAIN,LOGIN", &[]);
    std::fs::write(
        dir.path().join("team.tmpl"),
        r#"{{ define "team.subject" }}[{{ .Status | toUpper }}:{{ .Alerts.Firing | len }}] {{ .GroupLabels.SortedPairs.Values | join " " }}{{ end }}
{{ define "team.alert" }}{{ .Labels.instance }}: {{ .Annotations.summary }} (since {{ .StartsAt.Format "15:04 MST" }}){{ end }}"#,
    )
    .unwrap();
    let set = Templates::load(dir.path(), &["*.tmpl".into()]).unwrap();
    let mut c = config(s.port, Some(&s.cert));
    c.auth_password_env = Some("ALERTER_TEST_SMTP_PASSWORD".into());
    c.headers = BTreeMap::from([
        (
            "Subject".into(),
            r#"{{ template "team.subject" . }} ✓"#.into(),
        ),
        (
            "x-alert-count".into(),
            "{{ len .Alerts }} for {{ .Receiver }}".into(),
        ),
        ("To".into(), "On-call <admin@example.org>".into()),
    ]);
    c.text = Some(
        r#"{{ range .Alerts.Firing }}- {{ template "team.alert" . }}
{{ end }}{{ .GroupLabels.Remove (stringSlice "severity") | len }} group label left"#
            .into(),
    );
    c.html = Some(
        r#"<ul>{{ range $a := .Alerts }}<li><a href="{{ $a.GeneratorURL }}">{{ $a.Labels.instance }}</a> {{ $a.Annotations.summary }}</li>{{ end }}</ul>"#
            .into(),
    );
    let env = |k: &str| (k == "ALERTER_TEST_SMTP_PASSWORD").then(|| PASS.to_string());
    let (cfg, _) = resolve_with(&c, &SmtpGlobals::default(), &env, &set).expect("valid config");
    let n = EmailNotifier::new(cfg);
    let r = n.notify(&notification()).await;
    assert!(r.is_ok(), "{r:?}");
    let msgs = wait_for("the message", Duration::from_secs(5), || {
        let m = inbox(&s.out);
        (!m.is_empty()).then_some(m)
    });
    let m = decode_message(&msgs[0], "X-Alert-Count");
    assert_eq!(m["subject"], "[FIRING:2] HostHighCpuUsage warning ✓", "{m}");
    assert_eq!(m["header"], "2 for admin", "{m}");
    assert_eq!(m["to"], "On-call <admin@example.org>", "{m}");
    assert_eq!(
        m["parts"]["text/plain"]
            .as_str()
            .unwrap()
            .replace("\r\n", "\n")
            .trim_end(),
        "- web-1: CPU above 80% on web-1 <b> (since 12:00 UTC)\n- web-2: CPU above 80% on web-2 <b> (since 12:00 UTC)\n1 group label left",
        "{m}"
    );
    // html/template escapes the annotation and the URL's query, by context.
    assert_eq!(
        m["parts"]["text/html"].as_str().unwrap().trim_end(),
        r#"<ul><li><a href="http://prom:9090/graph?g0.expr=cpu">web-1</a> CPU above 80% on web-1 &lt;b&gt;</li><li><a href="http://prom:9090/graph?g0.expr=cpu">web-2</a> CPU above 80% on web-2 &lt;b&gt;</li></ul>"#,
        "{m}"
    );
}

#[tokio::test]
async fn a_template_failing_at_send_time_is_a_permanent_template_error() {
    let mut c = config(1, None);
    c.auth_username = None;
    c.text = Some("{{ index .Alerts 7 }}".into());
    let cfg = resolved(&c, &[]);
    let e = EmailNotifier::new(cfg)
        .notify(&notification())
        .await
        .unwrap_err();
    assert_eq!((e.reason.as_str(), e.retryable), ("template", false), "{e}");
    assert!(e.message.starts_with("text: "), "{e}");
    assert!(e.message.contains("index out of range: 7"), "{e}");
}

#[test]
fn bad_templates_are_config_errors_naming_the_field() {
    let mut c = config(25, None);
    c.auth_username = None;
    c.headers = BTreeMap::from([("Subject".into(), "{{ .Status | nope }}".into())]);
    c.html = Some("{{ template \"missing\" . }}".into());
    let errs = resolve(&c, &SmtpGlobals::default(), &|_| None).unwrap_err();
    assert_eq!(
        errs,
        vec![
            "email_configs.headers.Subject:1:14: function \"nope\" not defined".to_string(),
            errs[1].clone()
        ]
    );
    assert!(
        errs[1].starts_with("email_configs.html: template \"missing\" is not defined"),
        "{errs:?}"
    );
}

/// The daemon, on a free port, with its log in `dir/<log>`.
struct Daemon {
    port: u16,
    guard: ChildGuard,
    log: PathBuf,
}

fn start_daemon(dir: &Path, config: &Path, log: &str, env: &[(&str, &str)]) -> Daemon {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alerter"));
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .envs(env.iter().copied());
    let log = dir.join(log);
    let guard = ChildGuard::spawn("alerter", &mut cmd, &log);
    wait_port(port, Duration::from_secs(20));
    Daemon { port, guard, log }
}

fn http(method: &str, port: u16, path: &str, body: Option<&str>) -> String {
    e2e::http(method, port, path, body).unwrap().1
}

fn post_alert(port: u16, name: &str) {
    let body = format!(
        r#"[{{"labels":{{"alertname":"{name}","severity":"critical","instance":"vps1"}},"annotations":{{"summary":"{name} on vps1"}}}}]"#
    );
    http("POST", port, "/api/v2/alerts", Some(&body));
}

/// Issue 6, done-when 2 at the daemon level: the mail server is down (nothing
/// listens), the failure is counted with its reason and logged with the likely
/// cause, the other receiver is told, no heartbeat goes out while failing; the
/// alerter is killed, the server comes back, the alerter restarts: the pending
/// notification is delivered exactly once.
#[test]
fn outage_then_restart_delivers_exactly_once_and_is_loud_meanwhile() {
    if !have_peers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cert_key = make_cert(dir.path());
    let smtp_port = free_port();
    let backup = e2e::WebhookSink::start();
    let pass = dir.path().join("smtp-pass");
    std::fs::write(&pass, PASS).unwrap();
    let config = dir.path().join("alerter.yml");
    std::fs::write(
        &config,
        format!(
            "route:\n  receiver: mail\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 2s\n  repeat_interval: 1h\n  routes:\n  - matchers: [alertname=Marker]\n    group_wait: 5s\nreceivers:\n- name: mail\n  email_configs:\n  - to: admin@example.org\n    from: alerts@example.com\n    smarthost: 127.0.0.1:{smtp_port}\n    implicit_tls: true\n    auth_username: {USER}\n    auth_password_file: {pf}\n    timeout: 1s\n    tls_config:\n      ca_file: {ca}\n      server_name: localhost\n- name: backup\n  webhook_configs:\n  - url: {hook}\nself_monitoring:\n  failing_after: 1s\n  heartbeat_interval: 1s\n  repeat_interval: 1s\n  heartbeat_url: http://127.0.0.1:{hb}/ping\n",
            pf = pass.display(),
            ca = cert_key.0.display(),
            hook = backup.url(),
            hb = backup.port,
        ),
    )
    .unwrap();

    let mut d = start_daemon(dir.path(), &config, "first.log", &[]);
    post_alert(d.port, "DiskFull");
    let want = r#"alerter_receiver_notifications_failed_total{receiver="mail",integration="email",reason="connection_refused"}"#;
    wait_for(
        "the failure counted with its reason",
        Duration::from_secs(15),
        || {
            http("GET", d.port, "/metrics", None)
                .contains(want)
                .then_some(())
        },
    );
    let metrics = http("GET", d.port, "/metrics", None);
    assert!(
        metrics.contains(r#"alerter_notifications_failing{receiver="mail",integration="email"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"alerter_receiver_ready{receiver="mail"} 0"#),
        "{metrics}"
    );
    let status: serde_json::Value =
        serde_json::from_str(&http("GET", d.port, "/api/v2/status", None)).unwrap();
    let failing = &status["notifications"]["failing"][0];
    assert_eq!(failing["receiver"], "mail", "{status}");
    assert_eq!(failing["reason"], "connection_refused", "{status}");
    let log = std::fs::read_to_string(&d.log).unwrap();
    assert!(
        log.contains("connection_refused") && log.contains("nothing listens on that host:port"),
        "the log names the reason and the likely cause:\n{log}"
    );
    // The alarm path: the healthy receiver hears about the broken one.
    let alarm = wait_for("the self-monitoring alarm", Duration::from_secs(15), || {
        backup
            .received()
            .into_iter()
            .find(|b| b["alerts"][0]["labels"]["alertname"] == "AlerterReceiverFailing")
    });
    assert_eq!(alarm["alerts"][0]["labels"]["receiver"], "mail");
    assert_eq!(alarm["status"], "firing");
    let pings = |sink: &e2e::WebhookSink| sink.received().iter().filter(|b| b.is_null()).count();
    let before = pings(&backup);
    // The alarm is repeated every second (repeat_interval: 1s), each time by a
    // self-monitoring round that would also ping the heartbeat, due every second,
    // if it did so while failing; a round pings after sending its alarms, so by
    // the third alarm the pings of the first two rounds would have arrived.
    let alarms = |sink: &e2e::WebhookSink| {
        sink.received()
            .iter()
            .filter(|b| {
                b["alerts"][0]["labels"]["alertname"] == "AlerterReceiverFailing"
                    && b["status"] == "firing"
            })
            .count()
    };
    wait_for("two more alarm rounds", Duration::from_secs(15), || {
        (alarms(&backup) >= 3).then_some(())
    });
    assert_eq!(
        pings(&backup),
        before,
        "no heartbeat while a receiver fails"
    );

    d.guard.kill();
    let s = start_smtp_on(
        dir.path(),
        smtp_port,
        cert_key,
        "implicit",
        "PLAIN,LOGIN",
        &[],
    );
    let d = start_daemon(dir.path(), &config, "second.log", &[]);
    let msgs = wait_for("delivery after the outage", Duration::from_secs(20), || {
        let m = inbox(&s.out);
        (!m.is_empty()).then_some(m)
    });
    assert!(msgs[0].contains("DiskFull"), "{}", msgs[0]);
    // Several group_intervals later: still exactly one. The marker's group waits
    // 5s (its route's group_wait) on the daemon's own clock before it is sent, so
    // when it arrives the DiskFull group has ticked at least twice (every 2s)
    // since its delivery, each time finding it already delivered.
    post_alert(d.port, "Marker");
    let msgs = wait_for("the marker", Duration::from_secs(20), || {
        let m = inbox(&s.out);
        m.iter().any(|m| m.contains("Marker")).then_some(m)
    });
    assert_eq!(
        msgs.iter().filter(|m| m.contains("DiskFull")).count(),
        1,
        "delivered more than once"
    );
    assert_eq!(msgs.len(), 2, "only DiskFull, once, and the marker");
    let metrics = http("GET", d.port, "/metrics", None);
    assert!(
        !metrics.contains("alerter_notifications_failing{"),
        "healthy again: {metrics}"
    );
    wait_for(
        "the heartbeat once healthy",
        Duration::from_secs(10),
        || (pings(&backup) > before).then_some(()),
    );
}

/// Issue 6, done-when 4: no password in logs, `/api/v2/status` or `check-config`,
/// whether inline, from a file or from a variable.
#[test]
fn secrets_never_shown() {
    if !have_peers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = start_smtp(dir.path(), "implicit", "PLAIN,LOGIN", &[]);
    let pass = dir.path().join("smtp-pass");
    std::fs::write(&pass, "file-s3cret-value").unwrap();
    let config = dir.path().join("alerter.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  smtp_auth_password: inline-s3cret-value\nroute:\n  receiver: file\n  group_wait: 0s\n  group_interval: 1s\n  routes:\n  - receiver: env\n    matchers: [via=env]\nreceivers:\n- name: file\n  email_configs:\n  - to: admin@example.org\n    from: alerts@example.com\n    smarthost: 127.0.0.1:{port}\n    implicit_tls: true\n    auth_username: {USER}\n    auth_password_file: {pf}\n    timeout: 1s\n    tls_config: {{ca_file: {ca}, server_name: localhost}}\n- name: env\n  email_configs:\n  - to: admin@example.org\n    from: alerts@example.com\n    smarthost: 127.0.0.1:{port}\n    implicit_tls: true\n    auth_username: {USER}\n    auth_password_env: SMTP_PASS\n    timeout: 1s\n    tls_config: {{ca_file: {ca}, server_name: localhost}}\n",
            port = s.port,
            pf = pass.display(),
            ca = s.cert.display(),
        ),
    )
    .unwrap();
    let secrets = [
        "inline-s3cret-value",
        "file-s3cret-value",
        "env-s3cret-value",
    ];
    let d = start_daemon(
        dir.path(),
        &config,
        "daemon.log",
        &[("SMTP_PASS", "env-s3cret-value"), ("ALERTER_LOG", "debug")],
    );
    // Both wrong passwords: failures are logged with the server's reply.
    post_alert(d.port, "ViaFile");
    http(
        "POST",
        d.port,
        "/api/v2/alerts",
        Some(r#"[{"labels":{"alertname":"ViaEnv","via":"env"}}]"#),
    );
    wait_for("both failures counted", Duration::from_secs(15), || {
        let m = http("GET", d.port, "/metrics", None);
        (m.contains(r#"receiver="file",integration="email",reason="auth_rejected""#)
            && m.contains(r#"receiver="env",integration="email",reason="auth_rejected""#))
        .then_some(())
    });
    let status = http("GET", d.port, "/api/v2/status", None);
    assert!(status.contains("<secret>"), "{status}");
    let check = Command::new(env!("CARGO_BIN_EXE_alerter"))
        .arg("check-config")
        .arg(&config)
        .env("SMTP_PASS", "env-s3cret-value")
        .output()
        .unwrap();
    let check_out = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(check.status.success(), "{check_out}");
    let log = std::fs::read_to_string(&d.log).unwrap();
    assert!(log.contains("auth_rejected"), "{log}");
    for secret in secrets {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
        assert!(!status.contains(secret), "{secret} in /api/v2/status");
        assert!(
            !check_out.contains(secret),
            "{secret} in check-config output"
        );
    }
}

/// README "Email (alerter)": at most 4 SMTP sessions at once per integration. Twelve
/// groups flush together; the server holds each message in DATA until four wait
/// there (or every expected one has come), so four sessions are open at once
/// whenever the daemon allows four, and it counts the most it ever saw open
/// (from the connection to QUIT).
#[test]
fn at_most_four_smtp_sessions_at_once_and_all_delivered() {
    if !have_peers() {
        return;
    }
    const GROUPS: usize = 12;
    let dir = tempfile::tempdir().unwrap();
    let stats_file = dir.path().join("sessions.json");
    let s = start_smtp(
        dir.path(),
        "implicit",
        "PLAIN,LOGIN",
        &[
            "--hold",
            "4",
            "--expect",
            &GROUPS.to_string(),
            "--stats",
            stats_file.to_str().unwrap(),
        ],
    );
    let stats = || -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(&stats_file).unwrap()).unwrap()
    };
    let pass = dir.path().join("smtp-pass");
    std::fs::write(&pass, PASS).unwrap();
    let config = dir.path().join("alerter.yml");
    std::fs::write(
        &config,
        format!(
            "route:\n  receiver: mail\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1m\nreceivers:\n- name: mail\n  email_configs:\n  - to: admin@example.org\n    from: alerts@example.com\n    smarthost: 127.0.0.1:{port}\n    implicit_tls: true\n    auth_username: {USER}\n    auth_password_file: {pf}\n    timeout: 5s\n    tls_config: {{ca_file: {ca}, server_name: localhost}}\n",
            port = s.port,
            pf = pass.display(),
            ca = s.cert.display(),
        ),
    )
    .unwrap();
    let d = start_daemon(dir.path(), &config, "daemon.log", &[]);
    // The start-up readiness check has its own session, outside the limit: over
    // (QUIT received) before the groups exist.
    wait_for("the readiness check", Duration::from_secs(15), || {
        (http("GET", d.port, "/metrics", None)
            .contains(r#"alerter_receiver_ready{receiver="mail"} 1"#)
            && stats()["open"] == 0)
            .then_some(())
    });
    let alerts: Vec<String> = (0..GROUPS)
        .map(|i| format!(r#"{{"labels":{{"alertname":"Load{i}","instance":"vps1"}}}}"#))
        .collect();
    http(
        "POST",
        d.port,
        "/api/v2/alerts",
        Some(&format!("[{}]", alerts.join(","))),
    );
    let msgs = wait_for("every group delivered", Duration::from_secs(30), || {
        let m = inbox(&s.out);
        (m.len() >= GROUPS).then_some(m)
    });
    assert_eq!(msgs.len(), GROUPS);
    let mut subjects: Vec<&str> = msgs
        .iter()
        .filter_map(|m| m.lines().find(|l| l.starts_with("Subject: ")))
        .collect();
    subjects.sort_unstable();
    subjects.dedup();
    assert_eq!(subjects.len(), GROUPS, "each group once: {subjects:#?}");
    let st = stats();
    assert_eq!(st["max_open"], 4, "{st}");
    assert_eq!(st["delivered"], GROUPS, "{st}");
}
