//! Row "SMTP blackholed": the mail server accepts the connection and the TLS
//! handshake and then never greets. At the first failed attempt (timeouts 1 s + 1 s)
//! the cause, `greeting_timeout`, is named in the log, the attempt failure metric,
//! `/api/v2/status` and the status page; in the notification failure metric when the
//! flush gives up (10 s); and in `alerter test`; the webhook receiver next to it is notified
//! as if nothing were wrong.

use std::process::Command;
use std::time::{Duration, Instant};

use e2e::{WebhookSink, wait_for};

use crate::daemon::{Alerter, Smtp, alert};

const REASON: &str = "greeting_timeout";

#[test]
fn smtp_blackholed_is_named_everywhere_and_the_webhook_is_unaffected() {
    if !crate::common::have_peers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let smtp = Smtp::start(dir.path(), &["--silent"]);
    let sink = WebhookSink::start();
    let email = smtp.email_config(&dir.path().join("smtp-pass"));
    let config = format!(
        "route:
  receiver: admin
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
  routes:
  - receiver: admin
    continue: true
  - receiver: hook
receivers:
- name: admin
  email_configs:
{email}- name: hook
  webhook_configs:
  - url: {}
",
        sink.url()
    );
    let a = Alerter::start(dir.path(), &config);
    let posted = Instant::now();
    a.post_alerts(&[alert("MailBlackholed", 3)]);

    // The other receiver: notified at once, not after the email's timeout.
    wait_for("the webhook", Duration::from_secs(10), || {
        (!sink.received().is_empty()).then_some(())
    });
    let webhook_after = posted.elapsed();
    assert!(
        webhook_after < Duration::from_secs(1),
        "the webhook waited for the email: {webhook_after:?}"
    );

    // At the first failed attempt (1 s to connect, 1 s for the greeting): the log
    // names the cause.
    let log = wait_for(
        "a log line naming the cause",
        Duration::from_secs(10),
        || {
            let log = a.log();
            log.lines()
                .any(|l| l.contains("WARN") && l.contains(REASON) && l.contains("admin"))
                .then_some(log)
        },
    );
    let logged_after = posted.elapsed();
    assert!(
        logged_after < Duration::from_secs(4),
        "logged after {logged_after:?}: {log}"
    );
    // At the same first failed attempt: the attempt counter with its reason, the
    // status and the page (the flush keeps retrying until its deadline).
    let attempts = format!(
        "alerter_notification_attempts_failed_total{{receiver=\"admin\",integration=\"email\",reason=\"{REASON}\"}}"
    );
    wait_for(
        "the attempt failure metric",
        Duration::from_secs(10),
        || a.metric(&attempts).filter(|n| *n >= 1.0),
    );
    let status = wait_for(
        "the status naming the cause",
        Duration::from_secs(10),
        || {
            let status = a.status();
            status["notifications"]["failing"]
                .as_array()?
                .iter()
                .any(|f| {
                    f["receiver"] == "admin" && f["integration"] == "email" && f["reason"] == REASON
                })
                .then_some(status)
        },
    );
    let page = a.page();
    assert!(
        page.contains(REASON),
        "the status page does not name {REASON}"
    );
    let shown_after = posted.elapsed();
    assert!(
        shown_after < Duration::from_secs(4),
        "metric, status and page only {shown_after:?} after the alert (timeouts 1 s + 1 s)"
    );
    let failing = status["notifications"]["failing"].as_array().unwrap();
    assert!(!failing.iter().any(|f| f["receiver"] == "hook"), "{status}");
    // The notification counter with its reason: when the flush gives up, at its
    // deadline (max(group_interval, 10s)), as Alertmanager counts it.
    let series = format!(
        "alertmanager_notifications_failed_total{{integration=\"email\",reason=\"{REASON}\"}}"
    );
    wait_for("the failure metric", Duration::from_secs(20), || {
        a.metric(&series).filter(|n| *n >= 1.0)
    });
    let counted_after = posted.elapsed();
    assert!(
        counted_after < Duration::from_secs(13),
        "counted after {counted_after:?}"
    );
    assert!(
        a.log()
            .lines()
            .any(|l| l.contains("ERROR") && l.contains("notifications FAILING")),
        "the give-up is logged at error"
    );

    // `alerter test` on the same config: the same cause, within the deadline.
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_alerter"))
        .arg("test")
        .arg("--config")
        .arg(dir.path().join("alertmanager.yml"))
        .output()
        .expect("run alerter test");
    let test_took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains(&format!("FAILED [{REASON}]")), "{stdout}");
    assert!(stdout.contains("never greeted"), "{stdout}");
    assert!(test_took < Duration::from_secs(10), "{test_took:?}");
    assert!(smtp.messages().is_empty());
    assert_eq!(sink.received().len(), 1, "the webhook was notified once");
    println!(
        "RELIABILITY smtp-blackholed: {REASON} in the log {:.1} s after the alert (timeout 1 s), in alerter_notification_attempts_failed_total, status and page {:.1} s after, in alertmanager_notifications_failed_total {:.1} s after (the 10 s flush deadline), `alerter test` failed naming it in {:.1} s; webhook notified after {} ms",
        logged_after.as_secs_f64(),
        shown_after.as_secs_f64(),
        counted_after.as_secs_f64(),
        test_took.as_secs_f64(),
        webhook_after.as_millis()
    );
}
