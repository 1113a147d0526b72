//! The redis collector against a real redis-server: side by side with Debian's
//! prometheus-redis-exporter on the same server, and the faults users hit (wrong
//! password, password from a file, a caller-chosen `/scrape?target=` that must not
//! receive our password). Redis stopped and restarted is a row of the reliability
//! matrix: tests/reliability/peers.rs.

mod common;

use std::collections::BTreeMap;
use std::io::Read as _;
use std::process::Command;
use std::time::Duration;

use common::{Exporter, Fam, Slack, parse, scrape};
use e2e::{ChildGuard, RedisServer};

fn redis_cli(port: u16, args: &[&str]) {
    let st = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("run redis-cli");
    assert!(st.status.success(), "redis-cli {args:?}: {st:?}");
}

fn one(f: &BTreeMap<String, Fam>, name: &str) -> f64 {
    let fam = f.get(name).unwrap_or_else(|| panic!("{name} missing"));
    *fam.samples
        .values()
        .next()
        .unwrap_or_else(|| panic!("{name} has no sample"))
}

fn by_label(f: &BTreeMap<String, Fam>, name: &str, label: &str) -> BTreeMap<String, f64> {
    f.get(name)
        .map(|fam| {
            fam.samples
                .iter()
                .filter_map(|((_, l), v)| {
                    l.iter()
                        .find(|(k, _)| k == label)
                        .map(|(_, x)| (x.clone(), *v))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Families redis_exporter 1.45 has on this machine (Redis 7.0) that we do not, and why.
const THEIRS_ONLY: &[(&str, &str)] = &[
    (
        "redis_latency_percentiles_usec",
        "a summary from INFO latencystats: prometheus-client's encoder has no summary type",
    ),
    (
        "redis_exporter_scrape_duration_seconds",
        "redis_exporter's own summary of its scrape times (no summary type, as above); \
         redis_exporter_last_scrape_duration_seconds is the same measure",
    ),
    (
        "redis_exporter_build_info",
        "describes redis_exporter's own build (version, Go version)",
    ),
    (
        "redis_last_key_groups_scrape_duration_milliseconds",
        "key groups (--check-key-groups) are not implemented",
    ),
    (
        "redis_target_scrape_request_errors_total",
        "a refused /scrape?target= request is answered 400 but not counted",
    ),
];

/// Families we have that redis_exporter 1.45 does not, and why.
const OURS_ONLY: &[(&str, &str)] = &[
    (
        "redis_exporter_scrape_errors_total",
        "failed scrapes by cause (reason label); redis_exporter only has the last error",
    ),
    (
        "redis_exporter_last_scrape_ping_time_seconds",
        "the PING round trip of each scrape; redis_exporter 1.45 does not time it",
    ),
];

/// Values not compared, and why.
const NOT_COMPARED: &[(&str, &str)] = &[
    (
        "redis_exporter_last_scrape_duration_seconds",
        "the wall time of each exporter's own scrape, not a Redis value",
    ),
    (
        "redis_exporter_last_scrape_connect_time_seconds",
        "redis_exporter connects on every scrape, we only on a scrape that (re)connects, \
         so our second read has no sample",
    ),
];

/// Where our value differs from redis_exporter's by design.
const SLACK: &[Slack] = &[
    Slack {
        family: "redis_connected_clients",
        below: 1.0,
        above: 0.0,
        why: "redis_exporter opens a connection per scrape and reads INFO through it; we \
              reuse one, and during our read redis_exporter's is closed",
    },
    Slack {
        family: "redis_memory_used_bytes",
        below: 65536.0,
        above: 0.0,
        why: "that extra client's buffers are counted in redis_exporter's reads (38 160 \
              bytes on Redis 7.0.15), not in ours",
    },
    Slack {
        family: "redis_memory_used_dataset_bytes",
        below: 65536.0,
        above: 0.0,
        why: "as redis_memory_used_bytes",
    },
    Slack {
        family: "redis_start_time_seconds",
        below: 1.0,
        above: 1.0,
        why: "now - uptime in whole seconds: the exporter's clock and Redis's uptime tick \
              are not aligned, so one read can round a second off",
    },
];

#[tokio::test]
async fn matches_redis_exporter_value_for_value() {
    let Some(bin) = e2e::require(
        "prometheus-redis-exporter",
        "the Redis collector is compared with the real redis_exporter",
    ) else {
        return;
    };
    let Some(redis) = RedisServer::start(&["--maxmemory", "64mb"]) else {
        return;
    };
    redis_cli(redis.port, &["set", "greeting", "hello"]);
    redis_cli(redis.port, &["expire", "greeting", "3600"]);
    redis_cli(redis.port, &["-n", "3", "rpush", "queue", "a", "b", "c"]);
    // Hits, misses and an error reply differ, so a field read in place of another shows.
    redis_cli(redis.port, &["get", "greeting"]);
    redis_cli(redis.port, &["get", "greeting"]);
    redis_cli(redis.port, &["get", "absent"]);
    // A WRONGTYPE error reply (redis-cli's exit status for it varies by version).
    let _ = Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "lpush", "greeting", "x"])
        .output()
        .expect("run redis-cli");

    let port = e2e::free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--redis.addr={}", redis.url()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let _theirs = ChildGuard::spawn("redis_exporter", &mut cmd, &dir.path().join("re.log"));
    e2e::wait_port(port, Duration::from_secs(10));
    let ours = Exporter::start(&[&format!("--redis.addr={}", redis.url())]);
    let theirs_url = format!("http://127.0.0.1:{port}/metrics");

    // One scrape each first, so both have connected and every command either exporter
    // sends is in Redis's commandstats; then theirs, ours, theirs.
    let _ = parse(&scrape(&theirs_url).await);
    let ours_first = parse(&scrape(&ours.url()).await);
    let t1 = parse(&scrape(&theirs_url).await);
    let ours_text = scrape(&ours.url()).await;
    let t2 = parse(&scrape(&theirs_url).await);
    let o = parse(&ours_text);
    let (theirs, ours_reads) = ([t1, t2], [o]);
    let (t1, o) = (&theirs[0], &ours_reads[0]);

    let redis_only = |n: &str| !n.starts_with("redis_");
    let mut problems = common::family_lists(
        "redis_exporter",
        &common::names(&theirs),
        &common::names([&ours_first, o]),
        THEIRS_ONLY,
        OURS_ONLY,
        redis_only,
    );
    let (values, compared) = common::differential(
        "redis_exporter",
        &theirs,
        &ours_reads,
        SLACK,
        NOT_COMPARED,
        |n| redis_only(n) || THEIRS_ONLY.iter().any(|(t, _)| *t == n),
    );
    problems.extend(values);
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(compared >= 150, "only {compared} series compared");

    // What the test set up is what both report.
    assert_eq!(by_label(o, "redis_db_keys", "db")["db3"], 1.0);
    assert_eq!(one(o, "redis_memory_max_bytes"), 64.0 * 1024.0 * 1024.0);
    assert!(one(o, "redis_keyspace_hits_total") >= 2.0);
    assert!(one(o, "redis_total_error_replies") >= 1.0);
    // redis_exporter's names without `_total`, byte for byte in the text we serve.
    assert!(
        ours_text.contains("\n# TYPE redis_total_error_replies counter\n"),
        "{ours_text}"
    );

    // Every family of dashboard 763 that redis_exporter exposes, we expose.
    let Some(shared) = e2e::shared_dir() else {
        return;
    };
    let list =
        std::fs::read_to_string(shared.join("anchors/metrics/redis-dashboard-763.metrics.txt"))
            .expect("read the 763 list");
    let on_dashboard: Vec<&str> = list
        .lines()
        .map(str::trim)
        .filter(|n| t1.contains_key(*n))
        .collect();
    assert!(
        on_dashboard.len() >= 14,
        "redis_exporter exposes most of the 763 list ({on_dashboard:?})"
    );
    for name in on_dashboard {
        assert!(o.contains_key(name), "{name}: on dashboard 763, missing");
    }
}

/// Scrapes `url` and returns its families. How long it took is not asserted (a busy
/// machine is slow); which deadline ended a slow dependency is, through the reason metrics.
async fn scrape_families(url: &str) -> BTreeMap<String, Fam> {
    parse(&scrape(url).await)
}

#[tokio::test]
async fn wrong_password_is_named_and_a_password_file_works() {
    let Some(redis) = RedisServer::start(&["--requirepass", "s3cret-pw"]) else {
        return;
    };

    let wrong = Exporter::start_env(
        &[&format!("--redis.addr={}", redis.url())],
        &[("REDIS_PASSWORD", "not-the-password")],
    );
    let f = scrape_families(&wrong.url()).await;
    assert_eq!(one(&f, "redis_up"), 0.0);
    let log = std::fs::read_to_string(wrong.log.path()).unwrap();
    assert!(
        log.contains("auth"),
        "the log names the auth failure: {log}"
    );
    assert!(!log.contains("not-the-password"), "no password in the log");
    let errors = by_label(&f, "redis_exporter_scrape_errors_total", "reason");
    assert!(errors.contains_key("auth"), "{errors:?}");

    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("redis-password");
    std::fs::write(&pw, "s3cret-pw\n").unwrap();
    let right = Exporter::start(&[
        &format!("--redis.addr={}", redis.url()),
        &format!("--redis.password-file={}", pw.display()),
        // Opens /scrape?target= to other addresses, so the trap below is reached.
        "--redis.scrape-any-target",
    ]);
    let f = scrape_families(&right.url()).await;
    assert_eq!(one(&f, "redis_up"), 1.0, "password from a file");

    // redis_exporter's multi-target form: the configured target keeps its password...
    let base = format!("http://127.0.0.1:{}", right.port);
    let f = parse(&scrape(&format!("{base}/scrape?target={}", redis.url())).await);
    assert_eq!(one(&f, "redis_up"), 1.0);

    // ...and a caller-chosen target never receives it (redis_exporter #1104).
    let trap = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let trap_port = trap.local_addr().unwrap().port();
    let seen = std::thread::spawn(move || {
        let mut got = Vec::new();
        if let Ok((mut s, _)) = trap.accept() {
            s.set_read_timeout(Some(Duration::from_millis(500))).ok();
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
        }
        got
    });
    let f = parse(
        &scrape(&format!(
            "{base}/scrape?target=redis://127.0.0.1:{trap_port}"
        ))
        .await,
    );
    assert_eq!(one(&f, "redis_up"), 0.0);
    let sent = String::from_utf8_lossy(&seen.join().unwrap()).into_owned();
    assert!(
        !sent.contains("s3cret-pw"),
        "the password went to a foreign target: {sent:?}"
    );
    // The target was really contacted, so the check above means something.
    assert!(
        !sent.is_empty(),
        "the exporter never talked to the caller-chosen target"
    );
}

#[test]
fn inline_passwords_are_refused_at_start() {
    let out = Command::new(env!("CARGO_BIN_EXE_exporter"))
        .args([
            "--config.check",
            "--redis.addr=redis://:hunter2@127.0.0.1:6379",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("--redis.addr") && text.contains("password-file"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
}
