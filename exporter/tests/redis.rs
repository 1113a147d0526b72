//! The redis collector against a real redis-server: side by side with Debian's
//! prometheus-redis-exporter on the same server, and the faults users hit (Redis
//! stopped and restarted, wrong password, password from a file, a caller-chosen
//! `/scrape?target=` that must not receive our password).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Exporter, Fam, parse, scrape};
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

#[tokio::test]
async fn matches_redis_exporter_side_by_side() {
    let Some(bin) = e2e::require(
        "prometheus-redis-exporter",
        "the Redis collector is compared with the real redis_exporter",
    ) else {
        return;
    };
    let Some(shared) = e2e::shared_dir() else {
        return;
    };
    let Some(redis) = RedisServer::start(&["--maxmemory", "64mb"]) else {
        return;
    };
    redis_cli(redis.port, &["set", "greeting", "hello"]);
    redis_cli(redis.port, &["expire", "greeting", "3600"]);
    redis_cli(redis.port, &["-n", "3", "rpush", "queue", "a", "b", "c"]);

    let port = e2e::free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--redis.addr={}", redis.url()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let _theirs = ChildGuard::spawn("redis_exporter", &mut cmd, &dir.path().join("re.log"));
    e2e::wait_port(port, Duration::from_secs(10));
    let ours = Exporter::start(&[&format!("--redis.addr={}", redis.url())]);

    let theirs_text = scrape(&format!("http://127.0.0.1:{port}/metrics")).await;
    let ours_text = scrape(&ours.url()).await;
    let (theirs, ours_f) = (parse(&theirs_text), parse(&ours_text));

    let list =
        std::fs::read_to_string(shared.join("anchors/metrics/redis-dashboard-763.metrics.txt"))
            .expect("read the 763 list");
    let mut checked = 0;
    let mut problems = Vec::new();
    for name in list.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some(t) = theirs.get(name) else { continue };
        checked += 1;
        match ours_f.get(name) {
            None => problems.push(format!("{name}: missing")),
            Some(o) => {
                if o.kind != t.kind {
                    problems.push(format!(
                        "{name}: type {} vs redis_exporter's {}",
                        o.kind, t.kind
                    ));
                }
                if o.label_names() != t.label_names() {
                    problems.push(format!(
                        "{name}: labels {:?} vs redis_exporter's {:?}",
                        o.label_names(),
                        t.label_names()
                    ));
                }
            }
        }
    }
    assert!(
        checked >= 14,
        "redis_exporter exposes most of the 763 list ({checked})"
    );
    assert!(problems.is_empty(), "{problems:#?}");

    // Every other family redis_exporter has: print what we lack (informational).
    let lacking: Vec<&String> = theirs
        .keys()
        .filter(|n| n.starts_with("redis_") && !ours_f.contains_key(*n))
        .collect();
    println!(
        "redis_exporter families we lack ({}): {lacking:?}",
        lacking.len()
    );

    // Stable values agree.
    for name in [
        "redis_up",
        "redis_memory_max_bytes",
        "redis_config_maxclients",
    ] {
        assert_eq!(one(&ours_f, name), one(&theirs, name), "{name}");
    }
    for name in ["redis_db_keys", "redis_db_keys_expiring"] {
        assert_eq!(
            by_label(&ours_f, name, "db"),
            by_label(&theirs, name, "db"),
            "{name}"
        );
    }
    assert_eq!(by_label(&ours_f, "redis_db_keys", "db")["db3"], 1.0);
    let info = |f: &BTreeMap<String, Fam>| -> BTreeSet<(String, String)> {
        f["redis_instance_info"]
            .samples
            .keys()
            .flat_map(|(_, l)| l.clone())
            .filter(|(k, _)| {
                ["redis_version", "role", "tcp_port", "redis_mode"].contains(&k.as_str())
            })
            .collect()
    };
    assert_eq!(info(&ours_f), info(&theirs));
    assert_eq!(
        one(&ours_f, "redis_memory_max_bytes"),
        64.0 * 1024.0 * 1024.0
    );
}

/// Scrapes `url` and returns the families, asserting a 200 within `limit`.
async fn scrape_within(url: &str, limit: Duration) -> BTreeMap<String, Fam> {
    let start = Instant::now();
    let text = scrape(url).await;
    assert!(start.elapsed() < limit, "scrape took {:?}", start.elapsed());
    parse(&text)
}

#[tokio::test]
async fn redis_down_then_back_without_restarting_the_exporter() {
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let ours = Exporter::start(&[
        &format!("--redis.addr={}", redis.url()),
        "--redis.command-timeout=1s",
    ]);
    let f = scrape_within(&ours.url(), Duration::from_secs(5)).await;
    assert_eq!(one(&f, "redis_up"), 1.0);

    let mut redis = redis;
    redis.guard.kill();
    let f = scrape_within(&ours.url(), Duration::from_secs(5)).await;
    assert_eq!(one(&f, "redis_up"), 0.0, "Redis stopped");
    assert!(
        f.contains_key("node_load1"),
        "other collectors still answer"
    );
    let errors = by_label(&f, "redis_exporter_scrape_errors_total", "reason");
    assert!(
        errors.get("refused").copied().unwrap_or(0.0) >= 1.0,
        "{errors:?}"
    );
    let log = std::fs::read_to_string(ours.log.path()).unwrap();
    assert!(log.contains("refused"), "the log names the cause: {log}");

    let redis = redis.restart(&[]);
    let f = scrape_within(&ours.url(), Duration::from_secs(5)).await;
    assert_eq!(
        one(&f, "redis_up"),
        1.0,
        "back without restarting the exporter"
    );
    drop(redis);
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
    let f = scrape_within(&wrong.url(), Duration::from_secs(5)).await;
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
    ]);
    let f = scrape_within(&right.url(), Duration::from_secs(5)).await;
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
