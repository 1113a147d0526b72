//! The celery collector against a real redis-server and a real Celery app and worker
//! (the tiny app in `celery_app/`): queue lengths summed over kombu's priority lists,
//! the queue draining when a worker runs, a broker that goes away, and a worker stopped
//! gracefully (down on its `worker-offline` event).

mod common;

use std::process::Command;
use std::time::Duration;

use common::celery::{app_dir, python_with_celery, send, worker};
use common::{Exporter, parse, scrape};
use e2e::{ChildGuard, RedisServer};

fn total(text: &str, name: &str, want: &[(&str, &str)]) -> f64 {
    parse(text)
        .get(name)
        .map(|fam| {
            fam.samples
                .iter()
                .filter(|((_, l), _)| {
                    want.iter()
                        .all(|(k, v)| l.iter().any(|(a, b)| a == k && b == v))
                })
                .map(|(_, v)| *v)
                .sum()
        })
        .unwrap_or(0.0)
}

async fn wait_metric(url: &str, what: &str, f: impl Fn(&str) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let text = scrape(url).await;
        if f(&text) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn queue_lengths(url: &str) -> (Option<f64>, Option<f64>) {
    let f = parse(&scrape(url).await);
    let len = f.get("celery_queue_length").and_then(|fam| {
        fam.samples
            .iter()
            .find(|((_, l), _)| l.iter().any(|(k, v)| k == "queue_name" && v == "celery"))
            .map(|(_, v)| *v)
    });
    let up = f
        .get("celery_broker_up")
        .and_then(|fam| fam.samples.values().next().copied());
    (len, up)
}

#[tokio::test]
async fn queue_length_with_priorities_drains_and_broker_down() {
    let Some(py) = python_with_celery() else {
        return;
    };
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let broker = format!("{}/0", redis.url());
    let st = Command::new(&py)
        .arg("produce.py")
        .arg("500")
        .current_dir(app_dir())
        .env("BROKER_URL", &broker)
        .output()
        .expect("run producer");
    assert!(st.status.success(), "producer: {st:?}");

    let ours = Exporter::start(&[
        "--collector.disable-defaults",
        "--collector.celery",
        &format!("--celery.broker-url={broker}"),
    ]);
    // Priorities 0-9 land on four lists; kombu's own count is their sum.
    let (len, up) = queue_lengths(&ours.url()).await;
    assert_eq!(up, Some(1.0));
    assert_eq!(
        len,
        Some(500.0),
        "celery_queue_length{{queue_name=\"celery\"}}"
    );

    let dir = tempfile::tempdir().unwrap();
    let mut w = worker(&py, &broker, &dir.path().join("worker.log"));
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let (len, _) = queue_lengths(&ours.url()).await;
        if len == Some(0.0) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "queue did not drain: {len:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Every task's outcome arrives through the event stream (task.multi batches).
    wait_metric(&ours.url(), "succeeded 500", |t| {
        total(t, "celery_task_succeeded_total", &[("name", "tasks.add")]) >= 500.0
    })
    .await;
    send(&py, &broker, "boom");
    send(&py, &broker, "unknown");
    wait_metric(&ours.url(), "failed ValueError and NotRegistered", |t| {
        total(
            t,
            "celery_task_failed_total",
            &[("exception", "ValueError")],
        ) >= 1.0
            && total(
                t,
                "celery_task_failed_total",
                &[("exception", "NotRegistered")],
            ) >= 1.0
    })
    .await;
    let text = scrape(&ours.url()).await;
    assert!(total(&text, "celery_worker_up", &[]) >= 1.0, "{text}");

    // Killed (no worker-offline): reported down once its heartbeats stop (the 2 x interval
    // rule itself is pinned on an injected clock in events.rs).
    w.kill();
    wait_metric(&ours.url(), "worker down", |t| {
        parse(t).contains_key("celery_worker_up") && total(t, "celery_worker_up", &[]) == 0.0
    })
    .await;

    // Redis restarted: the exporter resubscribes and keeps counting.
    let redis = redis.restart(&[]);
    wait_metric(&ours.url(), "resubscribed", |t| {
        total(t, "celery_events_resubscriptions_total", &[]) >= 1.0
            && total(t, "celery_events_subscribed", &[]) == 1.0
    })
    .await;
    let mut w = worker(&py, &broker, &dir.path().join("worker2.log"));
    send(&py, &broker, "add");
    wait_metric(&ours.url(), "succeeded 501 after restart", |t| {
        total(t, "celery_task_succeeded_total", &[("name", "tasks.add")]) >= 501.0
    })
    .await;
    w.kill();

    // Broker gone: an error metric, no stale queue gauge.
    drop(redis);
    let (len, up) = queue_lengths(&ours.url()).await;
    assert_eq!(up, Some(0.0));
    assert_eq!(
        len, None,
        "no stale celery_queue_length while the broker is down"
    );
}

async fn wait_log(log: &std::path::Path, what: &str, f: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if f(&text) {
            return text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what} in the log:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Regression: the event subscriber built its own connection URL with the broker's password
/// in it. Now both the queue reads and the subscriber connect through the shared Redis client,
/// and no password reaches the log — wrong or right, from the environment or from a file —
/// even at debug level and while the connection fails.
#[tokio::test]
async fn broker_password_never_logged() {
    const RIGHT: &str = "right-Pa55-7f3a";
    const WRONG: &str = "wrong-Pa55-91c2";
    let Some(redis) = RedisServer::start(&["--requirepass", RIGHT]) else {
        return;
    };
    let broker = format!("{}/0", redis.url());
    let flags = [
        "--collector.disable-defaults",
        "--collector.celery",
        "--log.level=debug",
    ];
    let url_flag = format!("--celery.broker-url={broker}");

    let wrong = Exporter::start_env(
        &[&flags[..], &[url_flag.as_str()]].concat(),
        &[("CELERY_BROKER_PASSWORD", WRONG)],
    );
    let text = scrape(&wrong.url()).await;
    assert_eq!(total(&text, "celery_broker_up", &[]), 0.0, "{text}");
    assert_eq!(total(&text, "celery_events_subscribed", &[]), 0.0, "{text}");
    // Both paths failed and said so: the scrape's warning and the subscriber's.
    let log = wait_log(wrong.log.path(), "both auth failures", |l| {
        l.contains("celery broker unreachable") && l.contains("celery events: not subscribed")
    })
    .await;
    assert!(log.contains("WRONGPASS") || log.contains("auth"), "{log}");
    assert!(
        !log.contains(WRONG),
        "the wrong password is in the log:\n{log}"
    );
    drop(wrong);

    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("broker-password");
    std::fs::write(&pw, format!("{RIGHT}\n")).unwrap();
    let right = Exporter::start(
        &[
            &flags[..],
            &[
                url_flag.as_str(),
                &format!("--celery.broker-password-file={}", pw.display()),
            ],
        ]
        .concat(),
    );
    wait_metric(&right.url(), "subscribed with the password file", |t| {
        total(t, "celery_broker_up", &[]) == 1.0 && total(t, "celery_events_subscribed", &[]) == 1.0
    })
    .await;
    // The subscription is real: an event published with the password is counted.
    let client = redis::Client::open(format!("redis://:{RIGHT}@127.0.0.1:{}/0", redis.port))
        .expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect with the password");
    let body = r#"{"body":{"type":"task-sent","uuid":"u1","name":"tasks.pw","queue":"celery","hostname":"p@h"}}"#;
    let _: i64 = redis::cmd("PUBLISH")
        .arg("/0.celeryev/task.sent")
        .arg(body)
        .query_async(&mut conn)
        .await
        .expect("publish");
    wait_metric(&right.url(), "the published event", |t| {
        total(t, "celery_task_sent_total", &[("name", "tasks.pw")]) == 1.0
    })
    .await;
    let log = std::fs::read_to_string(right.log.path()).unwrap();
    assert!(log.contains("celery events: subscribed"), "{log}");
    assert!(!log.contains(RIGHT), "the password is in the log:\n{log}");
}

/// A worker stopped gracefully (SIGTERM: Celery's warm shutdown) says goodbye with a
/// `worker-offline` event, and its `celery_worker_up` goes to 0 on that event, as
/// celery-exporter does. The worker beats every 60 s here, so heartbeat expiry (2 x 60 s)
/// cannot be what takes it down within the 30 s bound: only the event can.
#[tokio::test]
async fn worker_stopped_gracefully_is_down_on_worker_offline() {
    let Some(py) = python_with_celery() else {
        return;
    };
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let broker = format!("{}/0", redis.url());
    let ours = Exporter::start(&[
        "--collector.disable-defaults",
        "--collector.celery",
        &format!("--celery.broker-url={broker}"),
    ]);
    // Events are pub/sub with no backlog: subscribe before the worker says hello.
    wait_metric(&ours.url(), "subscribed", |t| {
        total(t, "celery_events_subscribed", &[]) == 1.0
    })
    .await;

    let dir = tempfile::tempdir().unwrap();
    let mut w = ChildGuard::spawn(
        "celery-worker",
        Command::new(&py)
            .args(["-m", "celery", "-A", "tasks", "worker", "-E", "-c", "1"])
            .args(["--without-gossip", "--without-mingle", "-l", "INFO"])
            .args(["--heartbeat-interval", "60", "-n", "graceful@%h"])
            .current_dir(app_dir())
            .env("BROKER_URL", &broker),
        &dir.path().join("worker.log"),
    );
    let up = |t: &str| {
        parse(t).get("celery_worker_up").and_then(|fam| {
            fam.samples
                .iter()
                .find(|((_, l), _)| {
                    l.iter()
                        .any(|(k, v)| k == "hostname" && v.starts_with("graceful@"))
                })
                .map(|(_, v)| *v)
        })
    };
    wait_metric(&ours.url(), "worker-online", |t| up(t) == Some(1.0)).await;

    w.signal("TERM");
    let status = w
        .wait_exit(Duration::from_secs(30))
        .expect("the worker exits on SIGTERM (warm shutdown)");
    assert!(status.success(), "{status:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let text = scrape(&ours.url()).await;
        if up(&text) == Some(0.0) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "celery_worker_up still {:?} 30 s after worker-offline",
            up(&text)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = std::fs::read_to_string(dir.path().join("worker.log")).unwrap();
    assert!(log.contains("graceful@"), "the worker really ran: {log}");
}
