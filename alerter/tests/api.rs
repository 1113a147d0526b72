//! The real binary on a free loopback port: the v2 API's shapes against the
//! Alertmanager 0.25 samples, AT-13, and reloads (broken file over `/-/reload`,
//! SIGHUP, the file changing on disk), the body size limit and a clean SIGTERM.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use e2e::ChildGuard;
use serde_json::Value;

const CONFIG: &str = "route:
  receiver: admin-email
  group_by: [alertname]
  routes:
    - matchers: ['severity=\"info\"']
      receiver: blackhole
receivers:
  - name: admin-email
  - name: blackhole
";

struct Alerter {
    guard: ChildGuard,
    port: u16,
    dir: tempfile::TempDir,
}

impl Alerter {
    fn start(config: &str) -> Alerter {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("alertmanager.yml"), config).expect("write config");
        let port = e2e::free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_alerter"));
        cmd.arg("--config.file")
            .arg(dir.path().join("alertmanager.yml"))
            .arg("--storage.path")
            .arg(dir.path().join("data"))
            .arg("--web.listen-address")
            .arg(format!("127.0.0.1:{port}"));
        let guard = ChildGuard::spawn("alerter", &mut cmd, &dir.path().join("alerter.log"));
        e2e::wait_port(port, Duration::from_secs(10));
        Alerter { guard, port, dir }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn config_path(&self) -> std::path::PathBuf {
        self.dir.path().join("alertmanager.yml")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("alerter.log")).unwrap_or_default()
    }
}

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.expect("GET");
    (r.status().as_u16(), r.text().await.expect("body"))
}

async fn post(url: &str, body: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("POST");
    (r.status().as_u16(), r.text().await.expect("body"))
}

fn sample(name: &str) -> Option<Value> {
    let p = e2e::shared_dir()?
        .join("specs/alertmanager-api-samples")
        .join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    Some(serde_json::from_str(&text).expect("sample JSON"))
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

async fn receivers(a: &Alerter) -> Vec<String> {
    let (_, body) = get(&a.url("/api/v2/receivers")).await;
    json(&body)
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn shapes_and_at13() {
    let a = Alerter::start(CONFIG);
    assert_eq!(get(&a.url("/-/healthy")).await, (200, "OK".into()));
    assert_eq!(get(&a.url("/-/ready")).await, (200, "OK".into()));
    if let Some(want) = sample("receivers.json") {
        assert_eq!(json(&get(&a.url("/api/v2/receivers")).await.1), want);
    }
    // AT-13: [valid Y, Z with endsAt < startsAt] → 400 with Alertmanager's text, Y stored.
    let body = r#"[{"labels":{"alertname":"Y","instance":"vps1"}},
      {"labels":{"alertname":"Z"},"startsAt":"2030-01-01T01:00:00Z","endsAt":"2030-01-01T00:00:00Z"}]"#;
    let (st, text) = post(&a.url("/api/v2/alerts"), body).await;
    assert_eq!(
        (st, text.as_str()),
        (400, "\"start time must be before end time\"")
    );
    let (st, body) = get(&a.url("/api/v2/alerts")).await;
    assert_eq!(st, 200);
    let got = json(&body);
    let list = got.as_array().expect("array");
    assert_eq!(list.len(), 1, "{body}");
    let y = &list[0];
    assert_eq!(y["labels"]["alertname"], "Y");
    if let Some(want) = sample("alerts.json") {
        let keys = |v: &Value| {
            let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
            k.retain(|k| k != "generatorURL");
            k
        };
        assert_eq!(keys(y), keys(&want[0]));
        assert_eq!(keys(&y["status"]), keys(&want[0]["status"]));
    }
    assert_eq!(y["receivers"], serde_json::json!([{"name": "admin-email"}]));
    assert_eq!(y["status"]["state"], "active");
    // 3 decimals and Z, as Alertmanager writes times.
    let starts = y["startsAt"].as_str().expect("startsAt");
    assert!(starts.ends_with('Z') && starts.len() == 24, "{starts}");

    let (st, body) = get(&a.url("/api/v2/status")).await;
    assert_eq!(st, 200);
    let status = json(&body);
    if let Some(want) = sample("status.json") {
        assert_eq!(status["cluster"], want["cluster"]);
        for k in want["versionInfo"].as_object().expect("object").keys() {
            assert!(status["versionInfo"][k].is_string(), "versionInfo.{k}");
        }
    }
    assert!(
        status["config"]["original"]
            .as_str()
            .expect("original")
            .contains("receiver: blackhole")
    );
    assert_eq!(status["config"]["lastReloadSuccessful"], true);

    // Size limit: a body over 4 MiB is refused before parsing.
    let big = format!("[{}]", "{\"labels\":{\"a\":\"b\"}},".repeat(250_000));
    assert!(big.len() > 4 << 20);
    assert_eq!(post(&a.url("/api/v2/alerts"), &big).await.0, 413);
    let (_, m) = get(&a.url("/metrics")).await;
    assert!(
        m.contains("alertmanager_alerts_invalid_total{version=\"v2\"} 1"),
        "{m}"
    );
    assert!(m.contains("alertmanager_alerts{state=\"active\"} 1"), "{m}");
    assert!(
        m.contains("alertmanager_config_last_reload_successful 1"),
        "{m}"
    );
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn reloads_broken_sighup_and_file_change() {
    let mut a = Alerter::start(CONFIG);
    let (_, m) = get(&a.url("/metrics")).await;
    let hash = metric(&m, "alertmanager_config_hash").expect("hash");
    assert!(hash > 0.0, "{m}");

    // A broken file: 500 with the reason, old config kept, loud everywhere.
    std::fs::write(a.config_path(), format!("{CONFIG}bogus_key: 1\n")).expect("write");
    let (st, body) = post(&a.url("/-/reload"), "").await;
    assert_eq!(st, 500, "{body}");
    assert!(body.starts_with("failed to reload config: "), "{body}");
    assert!(
        body.contains("bogus_key") && body.contains("line"),
        "{body}"
    );
    assert_eq!(receivers(&a).await, ["admin-email", "blackhole"]);
    let (_, m) = get(&a.url("/metrics")).await;
    assert_eq!(
        metric(&m, "alertmanager_config_last_reload_successful"),
        Some(0.0)
    );
    assert_eq!(metric(&m, "alertmanager_config_hash"), Some(hash));
    let status = json(&get(&a.url("/api/v2/status")).await.1);
    assert_eq!(status["config"]["lastReloadSuccessful"], false);
    assert!(
        status["config"]["lastReloadError"]
            .as_str()
            .expect("error")
            .contains("bogus_key")
    );
    assert!(a.log().contains("ERROR"), "{}", a.log());
    assert!(a.log().contains("bogus_key"), "{}", a.log());

    // SIGHUP with a good file: the new receivers, metric back to 1.
    std::fs::write(a.config_path(), format!("{CONFIG}  - name: third\n")).expect("write");
    a.guard.signal("HUP");
    let mut ok = false;
    for _ in 0..100 {
        if receivers(&a).await.len() == 3 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "SIGHUP did not reload: {}", a.log());
    let (_, m) = get(&a.url("/metrics")).await;
    assert_eq!(
        metric(&m, "alertmanager_config_last_reload_successful"),
        Some(1.0)
    );
    assert_ne!(metric(&m, "alertmanager_config_hash"), Some(hash));

    // The file changes on disk, no signal: picked up by the watcher.
    std::fs::write(
        a.config_path(),
        format!("{CONFIG}  - name: third\n  - name: fourth\n"),
    )
    .expect("write");
    let mut ok = false;
    for _ in 0..100 {
        if receivers(&a).await.len() == 4 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "file change not picked up: {}", a.log());

    // GET /-/reload is not a reload (Alertmanager: POST only).
    assert_eq!(get(&a.url("/-/reload")).await.0, 405);

    // SIGTERM: a clean exit.
    a.guard.signal("TERM");
    let st = a.guard.wait_exit(Duration::from_secs(10)).expect("exit");
    assert!(st.success(), "{st:?}");
}

#[test]
fn default_config_starts_without_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = e2e::free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alerter"));
    cmd.current_dir(dir.path())
        .env_remove("ALERTER_SMTP_PASSWORD")
        .args(["--web.listen-address", &format!("127.0.0.1:{port}")]);
    let log = dir.path().join("log");
    let _g = ChildGuard::spawn("alerter", &mut cmd, &log);
    e2e::wait_port(port, Duration::from_secs(10));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let status = rt.block_on(get(&format!("http://127.0.0.1:{port}/api/v2/status")));
    let status = json(&status.1);
    let warnings = status["config"]["warnings"].to_string();
    assert!(warnings.contains("built-in default config"), "{warnings}");
    assert!(warnings.contains("ALERTER_SMTP_PASSWORD"), "{warnings}");
    let original = status["config"]["original"].as_str().expect("original");
    for want in [
        "- alertname",
        "- severity",
        "repeat_interval: 1h",
        "smtp.example.com:465",
    ] {
        assert!(original.contains(want), "{want}: {original}");
    }
    let text = std::fs::read_to_string(Path::new(&log)).expect("log");
    assert!(
        text.contains("ERROR") && text.contains("ALERTER_SMTP_PASSWORD"),
        "{text}"
    );
}
