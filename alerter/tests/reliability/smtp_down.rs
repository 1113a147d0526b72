//! Row "SMTP down, then back": the mail server is stopped before an alert arrives
//! and started again on the same port some seconds later. The notification that
//! was pending meanwhile is delivered, exactly once.

use std::time::{Duration, Instant};

use e2e::wait_for;

use crate::daemon::{Alerter, Smtp, alert};

/// How long the server stays down after the alert is posted.
const DOWN: Duration = Duration::from_secs(6);

#[test]
fn smtp_down_then_back_delivers_the_pending_notification_once() {
    if !crate::common::have_peers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut smtp = Smtp::start(dir.path(), &[]);
    // group_wait 2s > group_interval 1s: a group posted later is notified only after
    // the first group has had a tick of its own (the positive signal below).
    let config = format!(
        "route:
  receiver: admin
  group_by: [alertname]
  group_wait: 2s
  group_interval: 1s
  repeat_interval: 1h
receivers:
- name: admin
  email_configs:
{}",
        smtp.email_config(&dir.path().join("smtp-pass"))
    );
    let a = Alerter::start(dir.path(), &config);

    smtp.down();
    let posted = Instant::now();
    a.post_alerts(&[alert("SmtpWasDown", 3)]);
    let failed = |a: &Alerter| {
        a.metric_sum(
            "alertmanager_notification_requests_failed_total",
            &["integration=\"email\""],
        )
    };
    wait_for("a failed attempt", Duration::from_secs(15), || {
        (failed(&a) >= 1.0).then_some(())
    });
    std::thread::sleep(DOWN.saturating_sub(posted.elapsed()));
    assert!(smtp.messages().is_empty());
    let attempts_down = failed(&a);
    smtp.up(&[]);
    let back = Instant::now();
    wait_for("the pending notification", Duration::from_secs(30), || {
        (!smtp.messages().is_empty()).then_some(())
    });
    let delay = back.elapsed();

    // The canary's own group is notified after its group_wait (2s), by which time
    // the first group has ticked again (every 1s) and had its chance to repeat.
    a.post_alerts(&[alert("Canary", 3)]);
    let msgs = wait_for("the canary", Duration::from_secs(15), || {
        let m = smtp.messages();
        m.iter().any(|t| t.contains("Canary")).then_some(m)
    });
    let pending: Vec<&String> = msgs.iter().filter(|m| m.contains("SmtpWasDown")).collect();
    assert_eq!(pending.len(), 1, "delivered more than once: {msgs:#?}");
    assert_eq!(msgs.len(), 2, "{msgs:#?}");
    let sent = a
        .metric("alertmanager_notifications_total{integration=\"email\"}")
        .unwrap_or(0.0);
    println!(
        "RELIABILITY smtp-down-then-back: delivered exactly once after {:.0} s down ({attempts_down} failed attempts meanwhile), {:.1} s after the server came back; {sent} sends in all (with a canary)",
        DOWN.as_secs_f64(),
        delay.as_secs_f64()
    );
}
