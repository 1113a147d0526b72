//! Row "bad config reload": broken YAML, a bad matcher, a bad rule file and a
//! missing secret file (by SIGHUP), and a route to a missing receiver (found by the
//! file watch, no signal). Each keeps the previous config running and shows in
//! the log, in `alertmanager_config_last_reload_successful 0` (hash unchanged), in
//! `/api/v2/status` and on the status page; the previous config still delivers.
//! A fixed config then loads. (Moved here from reload.rs, and extended.)

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use e2e::{WebhookSink, wait_for};

use crate::daemon::{Alerter, alert};

/// A change to the files, boxed so the cases fit in one list.
type Step<'a> = Box<dyn Fn() + 'a>;

const FAILED: &str = "configuration reload FAILED, still running the previous configuration";
const RELOADED: &str = "configuration reloaded";

struct Files {
    config: PathBuf,
    rules: PathBuf,
    secret: PathBuf,
}

const GOOD_RULES: &str = "groups:
- name: host
  rules:
  - alert: HostDown
    expr: up == 0
";

/// The config in service: a webhook for everything, an email receiver whose
/// password is in `secret` (nothing routes to it), and `rules.yml`.
fn config(sink: &WebhookSink, f: &Files, matcher: &str, receiver: &str) -> String {
    format!(
        "route:
  receiver: {receiver}
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
  routes:
  - matchers: ['{matcher}']
    receiver: mail
receivers:
- name: hook
  webhook_configs:
  - url: {}
- name: mail
  email_configs:
  - to: admin@example.org
    from: alerts@example.com
    smarthost: 127.0.0.1:9
    auth_username: alerts@example.com
    auth_password_file: {}
rule_files: [{}]
",
        sink.url(),
        f.secret.display(),
        f.rules.display()
    )
}

/// Count of log lines holding `what`.
fn count(a: &Alerter, what: &str) -> usize {
    a.log().matches(what).count()
}

/// Applies `change`, sends SIGHUP when `hup`, and waits for one more line holding
/// `outcome`: the log after the line before it.
fn reload(a: &Alerter, hup: bool, outcome: &str, change: impl FnOnce()) -> String {
    let before = count(a, outcome);
    change();
    if hup {
        a.guard.signal("HUP");
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while count(a, outcome) <= before {
        assert!(Instant::now() < deadline, "no {outcome:?} in: {}", a.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = a.log();
    let mut at = 0;
    for _ in 0..before {
        at += log[at..].find(outcome).unwrap() + outcome.len();
    }
    log[at..].to_string()
}

/// After a failed reload: log, metric, status, page; the old config delivers.
fn assert_kept_and_reported(a: &Alerter, sink: &WebhookSink, tail: &str, culprit: &str, hash: f64) {
    let line = tail
        .lines()
        .find(|l| l.contains(FAILED))
        .expect("the failure line");
    assert!(line.contains("ERROR") && line.contains(culprit), "{line}");
    assert_eq!(
        a.metric("alertmanager_config_last_reload_successful"),
        Some(0.0)
    );
    assert_eq!(a.metric("alertmanager_config_hash"), Some(hash), "old hash");
    let status = a.status();
    assert_eq!(status["config"]["lastReloadSuccessful"], false, "{status}");
    let error = status["config"]["lastReloadError"].as_str().unwrap_or("");
    assert!(error.contains(culprit), "lastReloadError: {error}");
    let page = a.page();
    assert!(
        page.contains("FAILED") && page.contains(culprit),
        "the status page does not show the failure naming {culprit}"
    );
    let name = format!("StillRouted{}", sink.received().len());
    a.post_alerts(&[alert(&name, 3)]);
    wait_for(&name, Duration::from_secs(15), || {
        sink.received()
            .iter()
            .any(|n| n["groupLabels"]["alertname"] == name.as_str())
            .then_some(())
    });
}

#[test]
fn bad_config_reloads_keep_the_previous_config_and_say_so_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let sink = WebhookSink::start();
    let f = Files {
        config: dir.path().join("alertmanager.yml"),
        rules: dir.path().join("rules.yml"),
        secret: dir.path().join("smtp-secret"),
    };
    std::fs::write(&f.rules, GOOD_RULES).unwrap();
    std::fs::write(&f.secret, "pass").unwrap();
    let good = config(&sink, &f, "receiver=\"mail\"", "hook");
    let a = Alerter::start(dir.path(), &good);
    assert_eq!(
        a.metric("alertmanager_config_last_reload_successful"),
        Some(1.0)
    );
    let hash = a.metric("alertmanager_config_hash").expect("hash");
    let write = |p: &Path, text: &str| std::fs::write(p, text).unwrap();
    let started = Instant::now();

    // Each breakage by SIGHUP, then the good files again by SIGHUP.
    let cases: [(&str, &str, Step, Step); 3] = [
        (
            "broken YAML",
            "alertmanager.yml",
            Box::new(|| write(&f.config, &format!("{good}  - [unclosed\n"))),
            Box::new(|| write(&f.config, &good)),
        ),
        (
            "bad matcher",
            "(unclosed",
            Box::new(|| {
                write(
                    &f.config,
                    &config(&sink, &f, "alertname=~\"(unclosed\"", "hook"),
                )
            }),
            Box::new(|| write(&f.config, &good)),
        ),
        (
            "bad rule file",
            "no_such_function",
            Box::new(|| {
                write(
                    &f.rules,
                    "groups:\n- name: a\n  rules:\n  - alert: X\n    expr: no_such_function(up) == 0\n",
                )
            }),
            Box::new(|| write(&f.rules, GOOD_RULES)),
        ),
    ];
    for (what, culprit, break_it, fix_it) in &cases {
        // (The file watch may see a changed file before the signal; either way.)
        let tail = reload(&a, true, FAILED, break_it);
        assert_kept_and_reported(&a, &sink, &tail, culprit, hash);
        reload(&a, true, RELOADED, fix_it);
        assert_eq!(
            a.metric("alertmanager_config_last_reload_successful"),
            Some(1.0),
            "{what}: fixed"
        );
        assert_eq!(a.metric("alertmanager_config_hash"), Some(hash), "{what}");
    }

    // A secret file that cannot be read is refused like broken YAML (at start-up,
    // with no config to keep, the receiver is shown broken instead); a readable
    // secret file that changed is simply read again: rotation needs no config edit.
    let culprit = format!(
        ".email_configs[0].auth_password_file: cannot read {}",
        f.secret.display()
    );
    let tail = reload(&a, true, FAILED, || {
        std::fs::remove_file(&f.secret).unwrap()
    });
    assert_kept_and_reported(&a, &sink, &tail, &culprit, hash);
    let error = a.status()["config"]["lastReloadError"].to_string();
    assert!(
        error.contains("receivers[\\\"mail\\\"]"),
        "the receiver is not named: {error}"
    );
    reload(&a, true, RELOADED, || write(&f.secret, "pass"));
    assert_eq!(
        a.metric("alertmanager_config_last_reload_successful"),
        Some(1.0)
    );
    reload(&a, true, RELOADED, || write(&f.secret, "rotated"));
    assert_eq!(a.metric("alertmanager_config_hash"), Some(hash));

    // No signal: the file watch finds a route to a receiver that does not exist.
    let tail = reload(&a, false, FAILED, || {
        write(
            &f.config,
            &config(&sink, &f, "receiver=\"mail\"", "nowhere"),
        );
    });
    assert!(
        tail.contains("configuration file changed on disk; reloading"),
        "{tail}"
    );
    assert_kept_and_reported(&a, &sink, &tail, "nowhere", hash);
    // The fixed file, no signal: the watch loads it.
    let fixed = good.replace("- name: mail", "- name: second\n- name: mail");
    reload(&a, false, RELOADED, || write(&f.config, &fixed));
    let receivers = e2e::get_json(a.port, "/api/v2/receivers").unwrap();
    assert!(receivers.to_string().contains("second"), "{receivers}");
    assert_ne!(a.metric("alertmanager_config_hash"), Some(hash));
    assert_eq!(a.status()["config"]["lastReloadSuccessful"], true);
    println!(
        "RELIABILITY bad-config-reload: 5/5 broken reloads (broken YAML, bad matcher, bad rule file, missing secret file by SIGHUP; missing receiver by the file watch) kept the previous config delivering, each shown in log, metric, /api/v2/status and status page; a rotated secret file reloads; fixed config loaded; {:.0} s",
        started.elapsed().as_secs_f64()
    );
}
