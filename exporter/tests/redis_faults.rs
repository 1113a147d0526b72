//! The Redis collector's failure classes against peers that misbehave for real: a server
//! that accepts connections and never answers (a Redis stuck in a long command, or a
//! black-holing proxy), and a real redis-server that demands a password we were not given
//! (NOAUTH). Every scrape must still answer, with `redis_up 0` and the cause counted and
//! named.

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Exporter, Fam, parse, scrape};
use e2e::RedisServer;

/// Accepts every TCP connection on 127.0.0.1 and never writes a byte; the connections
/// stay open (never reset) until the server is dropped.
struct HungServer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<usize>>,
}

impl HungServer {
    fn start() -> HungServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the hung server");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("local addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((s, _)) => held.push(s),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            held.len()
        });
        HungServer {
            port,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops accepting and returns how many connections it took.
    fn stop(&mut self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .take()
            .map_or(0, |t| t.join().expect("hung server thread"))
    }
}

impl Drop for HungServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The value of `name`'s sample whose labels include `label` (any sample when `None`).
fn value(f: &BTreeMap<String, Fam>, name: &str, label: Option<(&str, &str)>) -> Option<f64> {
    f.get(name)?
        .samples
        .iter()
        .find(|((_, l), _)| label.is_none_or(|(k, v)| l.iter().any(|(a, b)| a == k && b == v)))
        .map(|(_, v)| *v)
}

/// The `err` label of `redis_exporter_last_scrape_error` (redis_exporter's form).
fn last_error(f: &BTreeMap<String, Fam>) -> String {
    f.get("redis_exporter_last_scrape_error")
        .and_then(|fam| fam.samples.keys().next())
        .and_then(|(_, l)| l.iter().find(|(k, _)| k == "err"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// Scrapes `url` and returns its families. How long it took is not asserted (a busy
/// machine is slow); which deadline ended a slow dependency is, through the reason metrics.
async fn scrape_families(url: &str) -> BTreeMap<String, Fam> {
    parse(&scrape(url).await)
}

/// Regression (issue 21): no test pointed the exporter at a Redis that never answers. Our
/// own connect and command deadlines (300 ms here) must end the attempt: the scrape answers
/// with `redis_up 0`, reason `timeout`, and the redis collector itself succeeds. Were the
/// deadlines not applied, the scrape's 10 s collector budget would cut the collector off
/// instead and `redis_up` would be missing.
#[tokio::test]
async fn hung_redis_times_out_and_the_scrape_still_answers() {
    let mut hung = HungServer::start();
    let ours = Exporter::start(&[
        "--collector.disable-defaults",
        "--collector.redis",
        "--collector.loadavg",
        &format!("--redis.addr=redis://127.0.0.1:{}", hung.port),
        "--redis.connect-timeout=300ms",
        "--redis.command-timeout=300ms",
        "--scrape.collector-timeout=10s",
    ]);
    let f = scrape_families(&ours.url()).await;
    assert_eq!(value(&f, "redis_up", None), Some(0.0), "{:?}", f.keys());
    assert_eq!(
        value(
            &f,
            "node_scrape_collector_success",
            Some(("collector", "redis"))
        ),
        Some(1.0),
        "the redis collector ended by its own deadline, not the scrape's budget"
    );
    assert_eq!(
        value(
            &f,
            "redis_exporter_scrape_errors_total",
            Some(("reason", "timeout"))
        ),
        Some(1.0)
    );
    let err = last_error(&f);
    assert!(
        err.contains("timeout"),
        "err label names the cause: {err:?}"
    );
    assert_eq!(
        value(&f, "redis_exporter_last_scrape_error", None),
        Some(1.0)
    );
    assert!(
        f.contains_key("node_load1"),
        "other collectors still answer"
    );

    // Still hung: the next scrape times out again and the counter moves.
    let f = scrape_families(&ours.url()).await;
    assert_eq!(value(&f, "redis_up", None), Some(0.0));
    assert_eq!(
        value(
            &f,
            "redis_exporter_scrape_errors_total",
            Some(("reason", "timeout"))
        ),
        Some(2.0)
    );
    let log = std::fs::read_to_string(ours.log.path()).unwrap();
    // Which of our two deadlines fires depends on whether the client library speaks first
    // on connect (redis-rs sends CLIENT SETINFO); either way it is ours, at 300 ms.
    let target = format!("redis://127.0.0.1:{}: timeout: no ", hung.port);
    assert!(
        log.contains(&format!("{target}connection within 300ms"))
            || log.contains(&format!("{target}reply within 300ms")),
        "the log names the cause: {log}"
    );
    // The exporter really connected (a refused connection would be a different test).
    assert!(
        hung.stop() >= 1,
        "the exporter never reached the hung server"
    );
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
    let err = last_error(&f);
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
    assert_eq!(value(&f, "redis_up", None), Some(1.0), "{}", last_error(&f));
    assert_eq!(last_error(&f), "");
    assert!(
        value(&f, "redis_exporter_scrape_errors_total", None).is_none(),
        "no error counted: {:?}",
        f.get("redis_exporter_scrape_errors_total")
    );
    let log = std::fs::read_to_string(with.log.path()).unwrap();
    assert!(!log.contains(PASSWORD), "the password is in the log: {log}");
}

/// Regression (issue 21): a Redis that stops answering on a connection we already hold.
/// `CLIENT PAUSE` makes a real redis-server hold every command for 3 s; the PING on the
/// reused connection must end at our 300 ms command deadline (reason `timeout`, "no reply
/// within"), not wait for Redis, and once the pause is over the exporter reconnects on its
/// own. Were the command deadline not applied, the scrape would wait out the pause and
/// report `redis_up 1`.
#[tokio::test]
async fn redis_that_stops_answering_hits_the_command_deadline() {
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let ours = Exporter::start(&[
        "--collector.disable-defaults",
        "--collector.redis",
        &format!("--redis.addr={}", redis.url()),
        "--redis.connect-timeout=300ms",
        "--redis.command-timeout=300ms",
        "--scrape.collector-timeout=10s",
    ]);
    let f = scrape_families(&ours.url()).await;
    assert_eq!(value(&f, "redis_up", None), Some(1.0), "{}", last_error(&f));

    let paused = std::process::Command::new("redis-cli")
        .args([
            "-p",
            &redis.port.to_string(),
            "CLIENT",
            "PAUSE",
            "3000",
            "ALL",
        ])
        .output()
        .expect("run redis-cli");
    assert!(
        String::from_utf8_lossy(&paused.stdout).contains("OK"),
        "{paused:?}"
    );
    let f = scrape_families(&ours.url()).await;
    assert_eq!(value(&f, "redis_up", None), Some(0.0), "{:?}", f.keys());
    assert_eq!(
        value(
            &f,
            "redis_exporter_scrape_errors_total",
            Some(("reason", "timeout"))
        ),
        Some(1.0)
    );
    let err = last_error(&f);
    assert!(
        err.contains("timeout: no reply within 300ms"),
        "the command deadline ended it: {err:?}"
    );

    // The pause ends by itself; the exporter comes back without a restart.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let f = parse(&scrape(&ours.url()).await);
        if value(&f, "redis_up", None) == Some(1.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still down after the pause: {}",
            last_error(&f)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    assert_eq!(value(&f, "redis_up", None), Some(1.0), "{}", last_error(&f));

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
        last_error(&f)
    );
}
