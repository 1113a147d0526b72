//! `--web.config.file` (issue 20, done-when 3): Debian's Prometheus scrapes the
//! exporter over TLS with basic auth (`tls_config.ca_file` of a certificate openssl
//! makes now, `basic_auth` with a password file) and the target is up; a job with a
//! wrong password sees 401, as does a plain client.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use e2e::ChildGuard;

async fn targets(prom_port: u16) -> Option<serde_json::Value> {
    reqwest::get(format!("http://127.0.0.1:{prom_port}/api/v1/targets"))
        .await
        .ok()?
        .json()
        .await
        .ok()
}

#[tokio::test]
async fn prometheus_scrapes_over_tls_with_basic_auth_and_wrong_password_gets_401() {
    let Some(prom) = e2e::require("prometheus", "Prometheus scrapes the exporter over TLS") else {
        return;
    };
    let Some(_) = e2e::require("openssl", "makes the test certificate") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (cert, _key) = e2e::self_signed_cert(dir.path(), "server", "localhost", "IP:127.0.0.1");
    let hash = bcrypt::hash("scrape-s3cret", 6).unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\nbasic_auth_users:\n  prometheus: '{hash}'\n"
        ),
    )
    .unwrap();
    // Only the test's own collectors: fast and independent of the host.
    let ours = common::Exporter::start(&[
        &format!("--web.config.file={}", web.display()),
        "--collector.disable-defaults",
        "--collector.loadavg",
    ]);
    // The image's HEALTHCHECK speaks the same web config: HTTPS, and basic auth's 401
    // proves the server answers; plain HTTP to a TLS server is unhealthy.
    let healthcheck = |web_flag: Option<&std::path::Path>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_exporter"));
        c.arg(format!("--web.listen-address=127.0.0.1:{}", ours.port));
        if let Some(w) = web_flag {
            c.arg(format!("--web.config.file={}", w.display()));
        }
        c.arg("healthcheck").output().unwrap()
    };
    let ok = healthcheck(Some(&web));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let plain = healthcheck(None);
    assert!(!plain.status.success(), "plain HTTP to a TLS server passed");
    std::fs::write(dir.path().join("good.pw"), "scrape-s3cret").unwrap();
    std::fs::write(dir.path().join("bad.pw"), "guess").unwrap();
    let job = |name: &str, pw: &str| {
        format!(
            "  - job_name: {name}\n    scheme: https\n    basic_auth:\n      username: prometheus\n      password_file: {}\n    tls_config:\n      ca_file: {}\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
            dir.path().join(pw).display(),
            cert.display(),
            ours.port
        )
    };
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{}{}",
            job("good", "good.pw"),
            job("bad", "bad.pw")
        ),
    )
    .unwrap();
    let port = e2e::free_port();
    let mut cmd = Command::new(prom);
    cmd.arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let _prom = ChildGuard::spawn("prometheus", &mut cmd, &dir.path().join("prometheus.log"));
    e2e::wait_port(port, Duration::from_secs(30));

    let deadline = Instant::now() + Duration::from_secs(30);
    let (good, bad) = loop {
        let v = targets(port).await.unwrap_or_default();
        let active = v["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let find = |job: &str| {
            active
                .iter()
                .find(|t| {
                    t["labels"]["job"] == job
                        && !t["lastScrape"]
                            .as_str()
                            .unwrap_or("0001")
                            .starts_with("0001")
                })
                .cloned()
        };
        if let (Some(g), Some(b)) = (find("good"), find("bad"))
            && g["health"] == "up"
            && b["health"] == "down"
        {
            break (g, b);
        }
        assert!(
            Instant::now() < deadline,
            "targets not as expected; last /api/v1/targets: {v}\nexporter log:\n{}",
            std::fs::read_to_string(ours.log.path()).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(good["lastError"], "", "{good}");
    let err = bad["lastError"].as_str().unwrap_or("");
    assert!(err.contains("401"), "wrong password: {err}");

    // A plain client: wrong password and no password get the same bare 401.
    let c = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap(),
        )
        .build()
        .unwrap();
    let url = format!("https://127.0.0.1:{}/metrics", ours.port);
    for r in [
        c.get(&url).basic_auth("prometheus", Some("guess")),
        c.get(&url).basic_auth("nobody", Some("scrape-s3cret")),
        c.get(&url),
    ] {
        let resp = r.send().await.unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(resp.text().await.unwrap(), "Unauthorized\n");
    }
    let ok = c
        .get(&url)
        .basic_auth("prometheus", Some("scrape-s3cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.text().await.unwrap().contains("node_load1"));
}

#[test]
fn a_bad_web_config_file_stops_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(&web, "basic_auth_users:\n  prometheus: not-a-hash\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_exporter"))
        .arg(format!("--web.config.file={}", web.display()))
        .arg("--config.check")
        .env_remove("EXPORTER_CONFIG_FILE")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("--web.config.file")
            && err.contains("basic_auth_users.prometheus: expected a bcrypt hash"),
        "{err}"
    );
}
