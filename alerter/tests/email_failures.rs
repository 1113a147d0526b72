//! Every failure class of the email integration, produced by a real SMTP server
//! (aiosmtpd, `tests/smtp_server.py`, with TLS) told to fail at one stage: the
//! reason (the metric label), whether the pipeline retries, and the plain-words
//! likely cause that the log, the alarm and `alerter test` print. Classes already
//! pinned in `email.rs`: connection refused, a silent raw TCP listener, an
//! untrusted certificate, STARTTLS not offered, a wrong password, a recipient
//! refused by domain.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use alerter::notify::NotifyError;
use alerter::notify::email::{
    EmailConfig, Mode, ResolvedEmail, SmtpGlobals, TlsConfig, build_message, diagnose, dialogue,
    resolve,
};
use common::{have_peers, make_cert};
use e2e::{ChildGuard, free_port, wait_port};

const USER: &str = "alerts@example.com";
const PASS: &str = "s3cret-pass";

/// One self-signed certificate for the whole test binary (making one costs more
/// than a test).
fn cert() -> &'static (PathBuf, PathBuf) {
    static CERT: std::sync::OnceLock<(tempfile::TempDir, (PathBuf, PathBuf))> =
        std::sync::OnceLock::new();
    &CERT
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let paths = make_cert(dir.path());
            (dir, paths)
        })
        .1
}

struct Smtp {
    port: u16,
    cert: PathBuf,
    out: PathBuf,
    _guard: ChildGuard,
}

/// The server in `mode` ("implicit" or "starttls") with extra arguments such as
/// `--fail mail=451`.
fn start_smtp(dir: &Path, mode: &str, auth: &str, extra: &[&str]) -> Smtp {
    let (cert, key) = cert().clone();
    let out = dir.join("inbox");
    std::fs::create_dir_all(&out).unwrap();
    let port = free_port();
    let mut cmd = Command::new("python3");
    cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_server.py"))
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
        cert,
        out,
        _guard: guard,
    }
}

fn config(s: &Smtp, mode: &str) -> EmailConfig {
    EmailConfig {
        to: Some("admin@example.org".into()),
        from: Some("alerts@example.com".into()),
        smarthost: Some(format!("127.0.0.1:{}", s.port)),
        implicit_tls: Some(mode == "implicit"),
        auth_username: Some(USER.into()),
        auth_password_env: Some("P".into()),
        timeout: Some("2s".parse().unwrap()),
        tls_config: Some(TlsConfig {
            ca_file: Some(s.cert.display().to_string()),
            server_name: Some("localhost".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn resolved(c: &EmailConfig) -> ResolvedEmail {
    resolve(c, &SmtpGlobals::default(), &|k: &str| {
        (k == "P").then(|| PASS.to_string())
    })
    .expect("valid config")
    .0
}

/// One delivery attempt: its result and the `alerter test` transcript lines.
async fn send(cfg: &ResolvedEmail) -> (Result<(), NotifyError>, String) {
    let data = alerter::selftest::synthetic_data("admin");
    let msg = build_message(cfg, &data).unwrap();
    let mut lines = Vec::new();
    let mut log = |l: String| lines.push(l);
    let r = dialogue(cfg, Some(&msg), Mode::Send, &mut log).await;
    (r, lines.join("\n"))
}

fn delivered(s: &Smtp) -> usize {
    std::fs::read_dir(&s.out)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .count()
}

/// What one failing server makes of a delivery: the error, its diagnosis, the
/// transcript, and the server (to check nothing was delivered).
struct Failed {
    e: NotifyError,
    cause: String,
    transcript: String,
    smtp: Smtp,
    _dir: tempfile::TempDir,
}

async fn failing(
    mode: &str,
    auth: &str,
    extra: &[&str],
    tweak: impl FnOnce(&mut EmailConfig),
) -> Option<Failed> {
    if !have_peers() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let smtp = start_smtp(dir.path(), mode, auth, extra);
    let mut c = config(&smtp, mode);
    tweak(&mut c);
    let cfg = resolved(&c);
    // A hang guard, not a timing check: every step has a 2s (or 500ms) deadline,
    // so a session that is still going after 20s ignores them.
    let (r, transcript) = tokio::time::timeout(Duration::from_secs(20), send(&cfg))
        .await
        .expect("the session must end within its step deadlines");
    let e = r.expect_err("the server was told to fail");
    let cause = diagnose(&e, &cfg);
    Some(Failed {
        e,
        cause,
        transcript,
        smtp,
        _dir: dir,
    })
}

/// Asserts reason, retryability, a piece of the likely cause, and no delivery.
fn check(f: &Failed, reason: &str, retryable: bool, cause: &str) {
    let Failed { e, transcript, .. } = f;
    assert_eq!(e.reason, reason, "{e:?}\n{transcript}");
    assert_eq!(e.retryable, retryable, "{e:?}");
    assert!(
        f.cause.contains(cause),
        "likely cause {:?} for {e:?}",
        f.cause
    );
    assert_eq!(delivered(&f.smtp), 0, "nothing may be delivered: {e:?}");
}

/// TCP and the TLS handshake succeed, then nothing: the server never greets.
#[tokio::test]
async fn silent_after_tls_handshake_is_greeting_timeout() {
    for mode in ["implicit", "starttls"] {
        let Some(f) = failing(mode, "PLAIN", &["--silent"], |c| {
            c.timeout = Some("500ms".parse().unwrap());
        })
        .await
        else {
            return;
        };
        check(&f, "greeting_timeout", true, "never greeted");
        // TCP connect (500ms, which succeeded) plus the greeting's own 500ms.
        assert!(
            f.e.message.contains("no reply within 1s"),
            "{}",
            f.e.message
        );
    }
}

/// The server closes the connection right after accepting it (plain TCP first,
/// as on a STARTTLS port).
#[tokio::test]
async fn closed_before_the_greeting_is_connect_failed() {
    let Some(f) = failing("starttls", "PLAIN", &["--drop", "greeting"], |_| {}).await else {
        return;
    };
    check(&f, "connect_failed", true, "see the message above");
}

#[tokio::test]
async fn ehlo_refused_permanent_and_transient() {
    for (code, reason, retryable) in [
        ("554", "smtp_permanent", false),
        ("451", "smtp_transient", true),
    ] {
        let arg = format!("ehlo={code}");
        let Some(f) = failing("implicit", "PLAIN", &["--fail", &arg], |_| {}).await else {
            return;
        };
        check(&f, reason, retryable, "see the message above");
        assert!(f.e.message.contains(code), "{}", f.e.message);
    }
}

/// The server advertises STARTTLS and then refuses it (454, RFC 3207).
#[tokio::test]
async fn starttls_refused_is_transient() {
    let Some(f) = failing("starttls", "PLAIN", &["--fail", "starttls=454"], |_| {}).await else {
        return;
    };
    check(&f, "smtp_transient", true, "see the message above");
    assert!(f.e.message.starts_with("STARTTLS with"), "{}", f.e.message);
}

/// The seed's failure: AUTH PLAIN refused while LOGIN works. The refusal falls
/// through to LOGIN on a fresh connection and the message is delivered.
#[tokio::test]
async fn plain_refused_falls_through_to_login_and_delivers() {
    if !have_peers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = start_smtp(
        dir.path(),
        "implicit",
        "PLAIN,LOGIN",
        &["--fail", "auth-plain=535"],
    );
    let mut c = config(&s, "implicit");
    c.auth_mechanisms = Some(vec!["PLAIN".into(), "LOGIN".into()]);
    let (r, t) = send(&resolved(&c)).await;
    assert!(r.is_ok(), "{r:?}\n{t}");
    assert!(
        t.contains("AUTH     PLAIN as alerts@example.com: AUTH with"),
        "{t}"
    );
    assert!(
        t.contains("(535): 5.7.0 test server refuses AUTH PLAIN"),
        "{t}"
    );
    assert!(
        t.contains("AUTH     LOGIN as alerts@example.com: 235"),
        "{t}"
    );
    assert_eq!(delivered(&s), 1);
}

/// Both mechanisms refused: permanent, with the order tried in the message.
#[tokio::test]
async fn every_mechanism_refused_is_auth_rejected() {
    let Some(f) = failing(
        "implicit",
        "PLAIN,LOGIN",
        &["--fail", "auth-plain=535", "--fail", "auth-login=535"],
        |c| c.auth_mechanisms = Some(vec!["LOGIN".into(), "PLAIN".into()]),
    )
    .await
    else {
        return;
    };
    check(
        &f,
        "auth_rejected",
        false,
        "check auth_username and the password source",
    );
    assert!(
        f.e.message.contains(r#"after trying ["LOGIN", "PLAIN"]"#),
        "{}",
        f.e.message
    );
}

/// A 4xx to AUTH is the server's trouble, not the credentials': retried, and
/// not a fall-through to the next mechanism.
#[tokio::test]
async fn auth_transient_is_retried_without_fall_through() {
    let Some(f) = failing(
        "implicit",
        "PLAIN,LOGIN",
        &["--fail", "auth-plain=454"],
        |c| c.auth_mechanisms = Some(vec!["PLAIN".into(), "LOGIN".into()]),
    )
    .await
    else {
        return;
    };
    check(&f, "smtp_transient", true, "see the message above");
    assert!(!f.transcript.contains("AUTH     LOGIN"), "{}", f.transcript);
}

/// The server lists only LOGIN; the config allows only PLAIN.
#[tokio::test]
async fn no_common_mechanism_is_auth_unsupported() {
    let Some(f) = failing("starttls", "LOGIN", &[], |c| {
        c.auth_mechanisms = Some(vec!["PLAIN".into()]);
    })
    .await
    else {
        return;
    };
    check(
        &f,
        "auth_unsupported",
        false,
        "offers none of the configured auth_mechanisms",
    );
    assert!(
        f.e.message.contains("Authentication(Login)"),
        "the server's list is shown: {}",
        f.e.message
    );
}

#[tokio::test]
async fn sender_refused_is_permanent_sender_rejected() {
    let Some(f) = failing("implicit", "PLAIN", &["--fail", "mail=553"], |_| {}).await else {
        return;
    };
    check(&f, "sender_rejected", false, "refused the From address");
    assert!(
        f.e.message.starts_with("MAIL FROM with") && f.e.message.contains("553"),
        "{}",
        f.e.message
    );
}

/// A 4xx at MAIL FROM (greylisting, a full queue) is retried.
#[tokio::test]
async fn transient_reply_at_mail_from_is_retryable() {
    let Some(f) = failing("starttls", "PLAIN", &["--fail", "mail=451"], |_| {}).await else {
        return;
    };
    check(&f, "smtp_transient", true, "see the message above");
    assert!(f.e.message.contains("451"), "{}", f.e.message);
}

#[tokio::test]
async fn recipient_refused_by_code_is_recipient_rejected() {
    let Some(f) = failing("implicit", "PLAIN", &["--fail", "rcpt=550"], |_| {}).await else {
        return;
    };
    check(&f, "recipient_rejected", false, "refused a recipient");
}

/// Refused after the body, as a content filter does.
#[tokio::test]
async fn message_refused_at_data_is_message_rejected() {
    let Some(f) = failing("implicit", "PLAIN", &["--fail", "data=554"], |_| {}).await else {
        return;
    };
    check(&f, "message_rejected", false, "see the message above");
    assert!(
        f.e.message.starts_with("DATA with") && f.e.message.contains("554"),
        "{}",
        f.e.message
    );
}

/// The server hangs up after AUTH, when the client sends MAIL FROM.
#[tokio::test]
async fn dropped_mid_dialogue_is_protocol() {
    let Some(f) = failing("implicit", "PLAIN", &["--drop", "mail"], |_| {}).await else {
        return;
    };
    check(&f, "protocol", true, "see the message above");
    assert!(
        f.transcript
            .contains("AUTH     PLAIN as alerts@example.com: 235"),
        "{}",
        f.transcript
    );
}

/// The server takes the message and then never answers it.
#[tokio::test]
async fn no_answer_mid_dialogue_is_timeout() {
    let Some(f) = failing(
        "implicit",
        "PLAIN",
        &["--hold", "2", "--expect", "2"],
        |c| {
            c.timeout = Some("500ms".parse().unwrap());
        },
    )
    .await
    else {
        return;
    };
    check(
        &f,
        "timeout",
        true,
        "stopped answering in the middle of the dialogue",
    );
    assert!(f.e.message.starts_with("DATA with"), "{}", f.e.message);
}

#[tokio::test]
async fn unresolvable_host_is_dns() {
    let c = EmailConfig {
        to: Some("admin@example.org".into()),
        from: Some("alerts@example.com".into()),
        smarthost: Some("smtp.no-such-host.invalid:587".into()),
        timeout: Some("2s".parse().unwrap()),
        ..Default::default()
    };
    let cfg = resolve(&c, &SmtpGlobals::default(), &|_: &str| None)
        .unwrap()
        .0;
    let (r, t) = send(&cfg).await;
    let e = r.unwrap_err();
    assert_eq!(
        (e.reason.as_str(), e.retryable),
        ("dns", true),
        "{e:?}\n{t}"
    );
    assert!(e.message.contains("smtp.no-such-host.invalid"), "{e:?}");
    assert!(diagnose(&e, &cfg).contains("does not resolve"));
}

/// A connection attempt nobody answers (a firewall dropping packets, the port 465
/// block of many hosting providers): connect_timeout, retried, and on port 465
/// the hint about outbound port blocks. The listener is on 465 when it can bind it.
#[tokio::test]
async fn unanswered_connect_is_connect_timeout_with_the_port_hint() {
    if !have_peers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("blackhole.log");
    let mut cmd = Command::new("python3");
    cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_server.py"))
        .args(["--mode", "blackhole", "--port", "465", "--out"])
        .arg(dir.path());
    let _guard = ChildGuard::spawn("blackhole", &mut cmd, &log);
    let port: u16 = e2e::wait_for("the blackhole listener", Duration::from_secs(10), || {
        let text = std::fs::read_to_string(&log).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("READY "))
            .map(|p| p.trim().parse().unwrap())
    });
    let c = EmailConfig {
        to: Some("admin@example.org".into()),
        from: Some("alerts@example.com".into()),
        smarthost: Some(format!("127.0.0.1:{port}")),
        timeout: Some("500ms".parse().unwrap()),
        ..Default::default()
    };
    let cfg = resolve(&c, &SmtpGlobals::default(), &|_: &str| None)
        .unwrap()
        .0;
    let (r, t) = send(&cfg).await;
    let e = r.unwrap_err();
    assert_eq!(
        (e.reason.as_str(), e.retryable),
        ("connect_timeout", true),
        "{e:?}\n{t}"
    );
    let cause = diagnose(&e, &cfg);
    if port == 465 {
        assert!(cause.contains("block outbound ports 25 and 465"), "{cause}");
    } else {
        eprintln!("127.0.0.1:465 is taken: checked the generic hint on port {port}");
        assert!(cause.contains("a firewall drops the traffic"), "{cause}");
    }
}

/// `alerter test` as a process, on a config file pointing at a failing server:
/// the transcript up to the failing step, `FAILED [reason]` with the server's
/// reply, the likely cause, and a non-zero exit.
#[test]
fn alerter_test_command_names_each_failure() {
    if !have_peers() {
        return;
    }
    for (mode, extra, reason, last_step, cause) in [
        // A server that never greets: the reliability matrix's blackhole row.
        (
            "starttls",
            &["--fail", "mail=553"][..],
            "sender_rejected",
            "AUTH     PLAIN as alerts@example.com: 235",
            "refused the From address",
        ),
        (
            "implicit",
            &["--fail", "rcpt=451"][..],
            "smtp_transient",
            "MAIL     FROM:<alerts@example.com>: 250",
            "see the message above",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let s = start_smtp(dir.path(), mode, "PLAIN", extra);
        let pass = dir.path().join("smtp-pass");
        std::fs::write(&pass, PASS).unwrap();
        let cfg = dir.path().join("alerter.yml");
        std::fs::write(
            &cfg,
            format!(
                "route:\n  receiver: admin\nreceivers:\n- name: admin\n  email_configs:\n  - to: admin@example.org\n    from: alerts@example.com\n    smarthost: 127.0.0.1:{port}\n    implicit_tls: {implicit}\n    auth_username: {USER}\n    auth_password_file: {pf}\n    timeout: 1s\n    tls_config: {{ca_file: {ca}, server_name: localhost}}\n",
                port = s.port,
                implicit = mode == "implicit",
                pf = pass.display(),
                ca = s.cert.display(),
            ),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_alerter"))
            .arg("test")
            .arg("--config")
            .arg(&cfg)
            .output()
            .expect("run alerter test");
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(!out.status.success(), "{stdout}");
        assert!(stdout.contains(last_step), "{reason}: {stdout}");
        assert!(
            stdout.contains(&format!("FAILED [{reason}]")),
            "{reason}: {stdout}"
        );
        assert!(
            stdout.contains("likely cause: ") && stdout.contains(cause),
            "{reason}: {stdout}"
        );
        assert!(
            stderr.contains(&format!("delivery failed ({reason})")),
            "{reason}: {stderr}"
        );
        assert!(!stdout.contains(PASS) && !stderr.contains(PASS));
        assert_eq!(delivered(&s), 0);
    }
}

/// The server hangs up on STARTTLS without a reply: a broken dialogue (no TLS
/// was attempted, so not a certificate matter), retried.
#[tokio::test]
async fn dropped_at_starttls_is_protocol() {
    let Some(f) = failing("starttls", "PLAIN", &["--drop", "starttls"], |_| {}).await else {
        return;
    };
    check(&f, "protocol", true, "see the message above");
    assert!(f.e.message.starts_with("STARTTLS with"), "{}", f.e.message);
}
