//! Row "Redis stop/start, Docker socket gone, a target that hangs": each peer taken
//! away for real while the exporter runs. The collector that needs it reports the
//! failure (its error metric, `node_scrape_collector_success 0`, a log line naming
//! the cause), the other collectors' part of the same scrape is whole, the scrape
//! answers within the collector's own deadline, and when the peer is back the
//! collector recovers by itself, without a restart. Each test prints the scrape
//! latency while the peer is down and the time to recover.

// Each test holds `e2e::load::serial()` across its awaits on purpose: every test has its
// own runtime and thread, and the lock only keeps the load row from running meanwhile.
#![allow(clippy::await_holding_lock)]

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::common::{
    Exporter, Fam, HungServer, collector_success, parse, redis_last_error, scrape, timed_scrape,
    value, value_with,
};
use e2e::RedisServer;

/// Recovery is waited for this long at most; a peer that is back is picked up within
/// the collector's backoff (Docker: 30 s at most), Redis on the next scrape.
const RECOVERY_DEADLINE: Duration = Duration::from_secs(60);

/// Scrapes `n` times; the slowest scrape's latency and the last scrape.
async fn scrapes(url: &str, n: usize) -> (Duration, BTreeMap<String, Fam>) {
    let mut worst = Duration::ZERO;
    let mut last = BTreeMap::new();
    for _ in 0..n {
        let (took, f) = timed_scrape(url).await;
        worst = worst.max(took);
        last = f;
    }
    (worst, last)
}

/// Scrapes until `ok` holds; how long that took from now.
async fn recovery(url: &str, what: &str, ok: impl Fn(&BTreeMap<String, Fam>) -> bool) -> Duration {
    let t = Instant::now();
    loop {
        let f = parse(&scrape(url).await);
        if ok(&f) {
            return t.elapsed();
        }
        assert!(
            t.elapsed() < RECOVERY_DEADLINE,
            "{what}: not recovered after {RECOVERY_DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

/// The host collectors every test keeps beside the one under fault: their part of
/// the scrape must stay whole.
const HOST: [&str; 3] = [
    "--collector.loadavg",
    "--collector.meminfo",
    "--collector.cpu",
];

fn host_part_whole(f: &BTreeMap<String, Fam>) {
    for c in ["loadavg", "meminfo", "cpu"] {
        assert_eq!(collector_success(f, c), Some(1.0), "collector {c}");
    }
    for fam in [
        "node_load1",
        "node_memory_MemTotal_bytes",
        "node_cpu_seconds_total",
    ] {
        assert!(f.contains_key(fam), "{fam} is missing while a peer is down");
    }
}

/// Redis killed and started again on the same port (moved here from redis.rs, where it
/// was `redis_down_then_back_without_restarting_the_exporter`).
#[tokio::test]
async fn redis_stopped_then_started() {
    let _one = e2e::load::serial();
    let Some(mut redis) = RedisServer::start(&[]) else {
        return;
    };
    let ours = Exporter::start(
        &[
            &[
                "--collector.disable-defaults",
                "--collector.redis",
                &format!("--redis.addr={}", redis.url()),
                "--redis.connect-timeout=500ms",
                "--redis.command-timeout=1s",
                "--scrape.collector-timeout=10s",
            ][..],
            &HOST[..],
        ]
        .concat(),
    );
    let (up_latency, f) = scrapes(&ours.url(), 3).await;
    assert_eq!(
        value(&f, "redis_up", None),
        Some(1.0),
        "{}",
        redis_last_error(&f)
    );

    redis.guard.kill();
    let (down_latency, f) = scrapes(&ours.url(), 5).await;
    assert_eq!(value(&f, "redis_up", None), Some(0.0), "Redis stopped");
    assert!(
        value_with(
            &f,
            "redis_exporter_scrape_errors_total",
            &[("reason", "refused")]
        )
        .is_some_and(|v| v >= 1.0),
        "{:?}",
        f.get("redis_exporter_scrape_errors_total")
    );
    assert_eq!(
        collector_success(&f, "redis"),
        Some(1.0),
        "redis_up 0 is the report, not a failed collector"
    );
    host_part_whole(&f);
    let log = std::fs::read_to_string(ours.log.path()).unwrap();
    assert!(log.contains("refused"), "the log names the cause: {log}");
    // Far inside the collector's 10 s budget: a refused connection is known at once.
    assert!(down_latency < Duration::from_secs(5), "{down_latency:?}");

    let redis = redis.restart(&[]);
    let back = recovery(&ours.url(), "redis_up after the restart", |f| {
        value(f, "redis_up", None) == Some(1.0)
    })
    .await;
    println!(
        "RELIABILITY peers / Redis stop+start: scrape latency (max of 5) {} while down, {} while up; recovered {} after the restart, exporter not restarted",
        ms(down_latency),
        ms(up_latency),
        ms(back)
    );
    drop(redis);
}

/// A Redis that accepts and never answers, then a real Redis on the same port (moved
/// here from redis_faults.rs, where it was `hung_redis_times_out_and_the_scrape_still_answers`).
/// Our connect and command deadlines (300 ms here) end the attempt: `redis_up 0`, reason
/// `timeout`, and the redis collector itself succeeds. Were the deadlines not applied,
/// the scrape's 10 s collector budget would cut the collector off and `redis_up` would be
/// missing.
#[tokio::test]
async fn redis_that_hangs_then_answers() {
    let _one = e2e::load::serial();
    let mut hung = HungServer::start();
    let port = hung.port;
    let ours = Exporter::start(
        &[
            &[
                "--collector.disable-defaults",
                "--collector.redis",
                &format!("--redis.addr=redis://127.0.0.1:{port}"),
                "--redis.connect-timeout=300ms",
                "--redis.command-timeout=300ms",
                "--scrape.collector-timeout=10s",
            ][..],
            &HOST[..],
        ]
        .concat(),
    );
    let (first, f) = timed_scrape(&ours.url()).await;
    assert_eq!(value(&f, "redis_up", None), Some(0.0), "{:?}", f.keys());
    assert_eq!(
        collector_success(&f, "redis"),
        Some(1.0),
        "the redis collector ended by its own deadline, not the scrape's budget"
    );
    assert_eq!(
        value_with(
            &f,
            "redis_exporter_scrape_errors_total",
            &[("reason", "timeout")]
        ),
        Some(1.0)
    );
    let err = redis_last_error(&f);
    assert!(
        err.contains("timeout"),
        "err label names the cause: {err:?}"
    );
    assert_eq!(
        value(&f, "redis_exporter_last_scrape_error", None),
        Some(1.0)
    );
    host_part_whole(&f);

    // Still hung: the next scrapes time out again and the counter moves.
    let (worst, f) = scrapes(&ours.url(), 4).await;
    let worst = worst.max(first);
    assert_eq!(value(&f, "redis_up", None), Some(0.0));
    assert_eq!(
        value_with(
            &f,
            "redis_exporter_scrape_errors_total",
            &[("reason", "timeout")]
        ),
        Some(5.0)
    );
    // Our deadline, not the collector's 10 s budget, bounds the scrape.
    assert!(worst < Duration::from_secs(5), "{worst:?}");
    let log = std::fs::read_to_string(ours.log.path()).unwrap();
    // Which of our two deadlines fires depends on whether the client library speaks first
    // on connect (redis-rs sends CLIENT SETINFO); either way it is ours, at 300 ms.
    let target = format!("redis://127.0.0.1:{port}: timeout: no ");
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

    let Some(redis) = RedisServer::start_on_port(port, &[]) else {
        return;
    };
    let back = recovery(&ours.url(), "redis_up once a real Redis answers", |f| {
        value(f, "redis_up", None) == Some(1.0)
    })
    .await;
    println!(
        "RELIABILITY peers / Redis that never answers: scrape latency (max of 5) {} with 300 ms deadlines; recovered {} after a real Redis took the port",
        ms(worst),
        ms(back)
    );
    drop(redis);
}

/// A Redis that stops answering on a connection we already hold (moved here from
/// redis_faults.rs). `CLIENT PAUSE` makes a real redis-server hold every command for
/// 3 s; the PING on the reused connection must end at our 300 ms command deadline
/// (reason `timeout`, "no reply within"), and once the pause is over the exporter
/// reconnects on its own. Were the command deadline not applied, the scrape would wait
/// out the pause and report `redis_up 1`.
#[tokio::test]
async fn redis_that_stops_answering_hits_the_command_deadline() {
    let _one = e2e::load::serial();
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let ours = Exporter::start(
        &[
            &[
                "--collector.disable-defaults",
                "--collector.redis",
                &format!("--redis.addr={}", redis.url()),
                "--redis.connect-timeout=300ms",
                "--redis.command-timeout=300ms",
                "--scrape.collector-timeout=10s",
            ][..],
            &HOST[..],
        ]
        .concat(),
    );
    let f = parse(&scrape(&ours.url()).await);
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
            "3000",
            "ALL",
        ])
        .output()
        .expect("run redis-cli");
    let pause_start = Instant::now();
    assert!(
        String::from_utf8_lossy(&paused.stdout).contains("OK"),
        "{paused:?}"
    );
    let (took, f) = timed_scrape(&ours.url()).await;
    assert_eq!(value(&f, "redis_up", None), Some(0.0), "{:?}", f.keys());
    assert_eq!(
        value_with(
            &f,
            "redis_exporter_scrape_errors_total",
            &[("reason", "timeout")]
        ),
        Some(1.0)
    );
    let err = redis_last_error(&f);
    assert!(
        err.contains("timeout: no reply within 300ms"),
        "the command deadline ended it: {err:?}"
    );
    host_part_whole(&f);

    // The pause ends by itself; the exporter comes back without a restart.
    let back = recovery(&ours.url(), "redis_up after the pause", |f| {
        value(f, "redis_up", None) == Some(1.0)
    })
    .await;
    let after_pause = pause_start.elapsed().saturating_sub(Duration::from_secs(3));
    println!(
        "RELIABILITY peers / Redis paused 3 s (CLIENT PAUSE): scrape latency {} while paused; recovered {} after the pause ended",
        ms(took),
        ms(after_pause.min(back))
    );
}

/// Docker's socket path pointing at nothing, then at the real daemon (the first part
/// moved here from containers.rs, where it was
/// `docker_down_fails_only_this_collector_and_names_the_cause`).
#[tokio::test]
async fn docker_socket_gone_then_back() {
    let _one = e2e::load::serial();
    let Some(real) = real_docker_socket() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("docker.sock");
    let ours = docker_exporter(&sock);
    let (down_latency, f) = scrapes(&ours.url(), 5).await;
    assert_eq!(collector_success(&f, "containers"), Some(0.0));
    host_part_whole(&f);
    // It failed at once with the cause, not by running into the collector timeout.
    let reason = |r: &str| {
        value_with(
            &f,
            "exporter_collector_failures_total",
            &[("collector", "containers"), ("reason", r)],
        )
    };
    assert_eq!(reason("error"), Some(5.0));
    assert_eq!(reason("timeout"), Some(0.0));
    let path = sock.display().to_string();
    let log = e2e::wait_for(
        "the log line naming the cause",
        Duration::from_secs(10),
        || {
            let log = std::fs::read_to_string(ours.log.path()).ok()?;
            log.contains(&path).then_some(log)
        },
    );
    assert!(log.contains("collector failed"), "{log}");

    // The daemon appears at the configured path.
    std::os::unix::fs::symlink(&real, &sock).unwrap();
    let back = recovery(
        &ours.url(),
        "the containers collector once Docker is there",
        |f| collector_success(f, "containers") == Some(1.0),
    )
    .await;
    println!(
        "RELIABILITY peers / Docker socket gone: scrape latency (max of 5) {} while gone; recovered {} after the socket appeared (reconnect backoff 0.5 s doubling)",
        ms(down_latency),
        ms(back)
    );
}

/// A Docker socket that accepts and never answers, then the real daemon at its path.
#[tokio::test]
async fn docker_socket_that_hangs_then_answers() {
    let _one = e2e::load::serial();
    let Some(real) = real_docker_socket() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("docker.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    listener.set_nonblocking(true).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let hung = std::thread::spawn(move || {
        let mut held = Vec::new();
        while !flag.load(std::sync::atomic::Ordering::SeqCst) {
            match listener.accept() {
                Ok((s, _)) => held.push(s),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        held.len()
    });
    let ours = docker_exporter(&sock);
    let (down_latency, f) = scrapes(&ours.url(), 5).await;
    assert_eq!(collector_success(&f, "containers"), Some(0.0));
    host_part_whole(&f);
    // The collector budget is 4 s: the first scrape waits at most half of it for the
    // first attempt, later ones not at all.
    assert!(down_latency < Duration::from_secs(4), "{down_latency:?}");

    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(
        hung.join().unwrap() >= 1,
        "the exporter never reached the hung socket"
    );
    std::fs::remove_file(&sock).unwrap();
    std::os::unix::fs::symlink(&real, &sock).unwrap();
    let back = recovery(
        &ours.url(),
        "the containers collector once Docker answers",
        |f| collector_success(f, "containers") == Some(1.0),
    )
    .await;
    println!(
        "RELIABILITY peers / Docker socket that never answers: scrape latency (max of 5) {} with a 4 s collector budget; recovered {} after the real daemon took the path",
        ms(down_latency),
        ms(back)
    );
}

/// An HTTP probe target that accepts and never answers, then one that answers 200 on
/// the same port.
#[tokio::test]
async fn probe_target_that_hangs_then_answers() {
    let _one = e2e::load::serial();
    let mut hung = HungServer::start();
    let port = hung.port;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("exporter.yml");
    std::fs::write(
        &file,
        format!(
            "probes:\n  - {{name: hung, url: 'http://127.0.0.1:{port}/health', timeout: 1s}}\n"
        ),
    )
    .unwrap();
    let ours = Exporter::start(
        &[
            &[
                &format!("--config.file={}", file.display()),
                "--collector.disable-defaults",
                "--collector.probes",
                "--scrape.collector-timeout=10s",
            ][..],
            &HOST[..],
        ]
        .concat(),
    );
    let (down_latency, f) = scrapes(&ours.url(), 3).await;
    assert_eq!(
        value_with(&f, "probe_success", &[("probe", "hung")]),
        Some(0.0),
        "{:?}",
        f.keys()
    );
    assert_eq!(
        collector_success(&f, "probes"),
        Some(1.0),
        "a failed probe is a report"
    );
    host_part_whole(&f);
    // The probe's own 1 s timeout ends it, far inside the collector's 10 s.
    assert!(down_latency < Duration::from_secs(5), "{down_latency:?}");
    assert!(
        hung.stop() >= 1,
        "the exporter never reached the hung target"
    );

    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let server = std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { break };
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            if c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
                .is_err()
            {
                continue;
            }
            if buf.starts_with(b"QUIT") {
                break;
            }
        }
    });
    let back = recovery(&ours.url(), "the probe once its target answers", |f| {
        value_with(f, "probe_success", &[("probe", "hung")]) == Some(1.0)
    })
    .await;
    println!(
        "RELIABILITY peers / probe target that never answers: scrape latency (max of 3) {} with the probe's 1 s timeout; recovered {} after the target answered",
        ms(down_latency),
        ms(back)
    );
    // Ends the answering thread.
    let mut quit = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let _ = quit.write_all(b"QUIT\r\n\r\n");
    drop(quit);
    let _ = server.join();
}

/// The real daemon's socket, or `None` outside CI when Docker is missing (under CI
/// its absence fails the test).
fn real_docker_socket() -> Option<std::path::PathBuf> {
    if !crate::common::docker::ready() {
        return None;
    }
    let real = std::path::PathBuf::from("/var/run/docker.sock");
    assert!(
        real.exists(),
        "docker answers but {} is missing",
        real.display()
    );
    Some(real)
}

fn docker_exporter(sock: &std::path::Path) -> Exporter {
    Exporter::start(
        &[
            &[
                "--collector.disable-defaults",
                "--collector.containers",
                &format!("--docker.host=unix://{}", sock.display()),
                "--scrape.collector-timeout=4s",
            ][..],
            &HOST[..],
        ]
        .concat(),
    )
}
