//! The Redis collector's failure classes against peers that misbehave for real: a real
//! redis-server that demands a password we were not given (NOAUTH), and one slow to
//! answer within the configured deadline. Every scrape must still answer, with the cause
//! counted and named. A Redis that hangs or stops answering is a row of the reliability
//! matrix: tests/reliability/peers.rs.

mod common;

use std::collections::BTreeMap;

use common::{Exporter, Fam, parse, redis_last_error, scrape, value};
use e2e::RedisServer;

/// Scrapes `url` and returns its families. How long it took is not asserted (a busy
/// machine is slow); which deadline ended a slow dependency is, through the reason metrics.
async fn scrape_families(url: &str) -> BTreeMap<String, Fam> {
    parse(&scrape(url).await)
}

/// Regression (issue 21): a Redis with `requirepass` and an exporter given no password.
/// Redis answers NOAUTH; the exporter must say so (reason `auth`, the server's words in the
/// `err` label and the log), and the same Redis with the password from
/// `--redis.password-file` is `redis_up 1`.
#[tokio::test]
async fn noauth_is_named_and_a_password_file_fixes_it() {
    const PASSWORD: &str = "noauth-Pa55-3e1d";
    let Some(redis) = RedisServer::start(&["--requirepass", PASSWORD]) else {
        return;
    };
    let addr = format!("--redis.addr={}", redis.url());
    let flags = ["--collector.disable-defaults", "--collector.redis"];

    let without = Exporter::start(&[&flags[..], &[addr.as_str()]].concat());
    let f = scrape_families(&without.url()).await;
    assert_eq!(value(&f, "redis_up", None), Some(0.0), "{:?}", f.keys());
    assert_eq!(
        value(
            &f,
            "redis_exporter_scrape_errors_total",
            Some(("reason", "auth"))
        ),
        Some(1.0),
        "{:?}",
        f.get("redis_exporter_scrape_errors_total")
    );
    let err = redis_last_error(&f);
    assert!(
        err.contains("auth") && err.contains("NOAUTH"),
        "the err label names the authentication failure in Redis's words: {err:?}"
    );
    let log = std::fs::read_to_string(without.log.path()).unwrap();
    assert!(log.contains("NOAUTH"), "the log names it: {log}");
    drop(without);

    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("redis-password");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let with = Exporter::start(
        &[
            &flags[..],
            &[
                addr.as_str(),
                &format!("--redis.password-file={}", pw.display()),
            ],
        ]
        .concat(),
    );
    let f = scrape_families(&with.url()).await;
    assert_eq!(
        value(&f, "redis_up", None),
        Some(1.0),
        "{}",
        redis_last_error(&f)
    );
    assert_eq!(redis_last_error(&f), "");
    assert!(
        value(&f, "redis_exporter_scrape_errors_total", None).is_none(),
        "no error counted: {:?}",
        f.get("redis_exporter_scrape_errors_total")
    );
    let log = std::fs::read_to_string(with.log.path()).unwrap();
    assert!(!log.contains(PASSWORD), "the password is in the log: {log}");
}

/// Regression: redis-rs 1.x gives every async connection its own 500 ms response timeout
/// and 1 s connect timeout, which silently capped `--redis.command-timeout` (default 2 s):
/// a Redis slow to answer (a big INFO during a fork) was reported down at 500 ms. With a
/// 5 s deadline, a Redis that holds its replies for 1.2 s must be `redis_up 1`.
#[tokio::test]
async fn a_slow_reply_within_the_configured_deadline_is_up() {
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let ours = Exporter::start(&[
        "--collector.disable-defaults",
        "--collector.redis",
        &format!("--redis.addr={}", redis.url()),
        "--redis.command-timeout=5s",
        "--scrape.collector-timeout=10s",
    ]);
    let f = scrape_families(&ours.url()).await;
    assert_eq!(
        value(&f, "redis_up", None),
        Some(1.0),
        "{}",
        redis_last_error(&f)
    );

    let paused = std::process::Command::new("redis-cli")
        .args([
            "-p",
            &redis.port.to_string(),
            "CLIENT",
            "PAUSE",
            "1200",
            "ALL",
        ])
        .output()
        .expect("run redis-cli");
    assert!(
        String::from_utf8_lossy(&paused.stdout).contains("OK"),
        "{paused:?}"
    );
    let f = scrape_families(&ours.url()).await;
    assert_eq!(
        value(&f, "redis_up", None),
        Some(1.0),
        "a reply within the 5 s deadline: {}",
        redis_last_error(&f)
    );
}
