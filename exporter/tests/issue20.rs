//! Regression tests for the defects of issue 20, each named after its number there.

mod common;

use std::process::Command;
use std::time::Duration;

/// Defect 1: durations that overflow (or wrap around) are refused naming the flag
/// or key; the process does not panic.
#[test]
fn defect_01_overflowing_durations_are_errors_naming_the_flag() {
    for v in ["18446744073709551615s1s", "5124095576030432h"] {
        let out = Command::new(env!("CARGO_BIN_EXE_exporter"))
            .arg(format!("--scrape.collector-timeout={v}"))
            .arg("--config.check")
            .env_remove("EXPORTER_CONFIG_FILE")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{v}: {err}");
        assert!(
            err.contains("--scrape.collector-timeout") && err.contains("out of range"),
            "{v}: {err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("exporter.yml");
        std::fs::write(&f, format!("redis:\n  connect_timeout: {v}\n")).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_exporter"))
            .arg(format!("--config.file={}", f.display()))
            .arg("--config.check")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{v}: {err}");
        assert!(
            err.contains("connect_timeout") && err.contains("out of range"),
            "{v}: {err}"
        );
    }
}

/// Defect 12: logs written to a file or pipe carry no ANSI colour codes, and
/// `--log.format=json` writes one JSON object per line.
#[test]
fn defect_12_no_colour_codes_in_a_log_file_and_json_on_request() {
    let text = common::Exporter::start(&["--collector.disable-defaults", "--collector.loadavg"]);
    let json = common::Exporter::start(&[
        "--collector.disable-defaults",
        "--collector.loadavg",
        "--log.format=json",
    ]);
    let read = |e: &common::Exporter| {
        e2e::wait_for("a log line", Duration::from_secs(10), || {
            let l = std::fs::read_to_string(e.log.path()).unwrap_or_default();
            (!l.is_empty()).then_some(l)
        })
    };
    let t = read(&text);
    assert!(!t.contains('\u{1b}'), "colour codes in a log file: {t:?}");
    let j = read(&json);
    for line in j.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        assert!(v["level"].is_string(), "{line}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_exporter"))
        .args(["--log.format=xml", "--config.check"])
        .env_remove("EXPORTER_CONFIG_FILE")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--log.format: unknown log format \"xml\"")
    );
}

/// Defect 11: `/scrape?target=` reaches only configured targets by default; opened
/// with `--redis.scrape-any-target`, its errors say only "could not scrape target":
/// not the foreign reply's bytes, not whether a socket path exists.
#[tokio::test]
async fn defect_11_scrape_target_restricted_and_errors_reveal_nothing() {
    use std::io::{Read as _, Write as _};
    let trap = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let trap_port = trap.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in trap.incoming().flatten() {
            let mut s = s;
            let _ = s.set_read_timeout(Some(Duration::from_millis(300)));
            let _ = s.read(&mut [0u8; 1024]);
            let _ = s.write_all(b"SSH-2.0-FOREIGN-BANNER\r\n");
        }
    });
    let closed = common::Exporter::start(&["--collector.disable-defaults"]);
    let url = format!(
        "http://127.0.0.1:{}/scrape?target=redis://127.0.0.1:{trap_port}",
        closed.port
    );
    let r = reqwest::get(&url).await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(
        r.text()
            .await
            .unwrap()
            .starts_with("could not scrape target")
    );

    let open =
        common::Exporter::start(&["--collector.disable-defaults", "--redis.scrape-any-target"]);
    let get = |target: String| {
        let url = format!("http://127.0.0.1:{}/scrape?target={target}", open.port);
        async move { reqwest::get(&url).await.unwrap().text().await.unwrap() }
    };
    let body = get(format!("redis://127.0.0.1:{trap_port}")).await;
    assert!(!body.contains("FOREIGN"), "{body}");
    assert!(body.contains("err=\"could not scrape target\""), "{body}");
    let dir = tempfile::tempdir().unwrap();
    let exists = dir.path().join("exists.sock");
    std::fs::write(&exists, "").unwrap();
    let a = get(format!("unix://{}", exists.display())).await;
    let b = get(format!(
        "unix://{}",
        dir.path().join("missing.sock").display()
    ))
    .await;
    let err_line = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("redis_exporter_last_scrape_error"))
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(err_line(&a), err_line(&b), "{a}\n---\n{b}");
}

/// Issue 20, done-when 4 (the exporter's half): the Redis password (right, and a
/// wrong one that Redis refuses) and the web basic-auth password (right, and a
/// wrong guess) never appear in the log, `/metrics`, the landing page or
/// `--config.check` output.
#[test]
fn secrets_never_appear_in_logs_metrics_page_or_config_check() {
    let (Some(redis), Some(curl)) = (
        e2e::RedisServer::start(&["--requirepass", "REDIS-SECRET-1"]),
        e2e::require("curl", "sends requests with basic auth"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web.yml");
    let hash = bcrypt::hash("WEB-SECRET-2", 4).unwrap();
    std::fs::write(&web, format!("basic_auth_users:\n  admin: '{hash}'\n")).unwrap();
    let mut shown = Vec::new();
    for (i, pw) in ["REDIS-SECRET-1", "WRONG-SECRET-3"].iter().enumerate() {
        let pw_file = dir.path().join(format!("redis-password-{i}"));
        std::fs::write(&pw_file, pw).unwrap();
        let flags = [
            "--collector.disable-defaults".to_string(),
            "--collector.redis".to_string(),
            format!("--redis.addr={}", redis.url()),
            format!("--redis.password-file={}", pw_file.display()),
            format!("--web.config.file={}", web.display()),
        ];
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let e = common::Exporter::start(&flags);
        let get = |user: &str, path: &str| {
            let out = Command::new(&curl)
                .args(["-sS", "-u", user])
                .arg(format!("http://127.0.0.1:{}{path}", e.port))
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        get("admin:WRONG-SECRET-4", "/metrics");
        let metrics = get("admin:WEB-SECRET-2", "/metrics");
        assert!(metrics.contains("redis_up"), "{metrics}");
        shown.push(("metrics", metrics));
        shown.push(("landing page", get("admin:WEB-SECRET-2", "/")));
        let out = Command::new(env!("CARGO_BIN_EXE_exporter"))
            .args(&flags)
            .arg("--config.check")
            .env_remove("EXPORTER_CONFIG_FILE")
            .output()
            .unwrap();
        shown.push((
            "--config.check",
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ));
        shown.push(("log", std::fs::read_to_string(e.log.path()).unwrap()));
    }
    for (what, text) in &shown {
        assert!(!text.contains("-SECRET-"), "{what} shows a secret:\n{text}");
    }
}
