//! `--web.config.file` on the alerter (issue 20, done-when 3): Debian's amtool talks
//! to it over TLS with basic auth (its `--http.config.file` with `tls_config.ca_file`
//! and `basic_auth`); with a wrong password amtool fails with 401, and a plain
//! client gets the same bare 401 whichever part was wrong.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use e2e::ChildGuard;

fn amtool(bin: &Path, port: u16, http_cfg: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(bin)
        .arg(format!("--alertmanager.url=https://127.0.0.1:{port}"))
        .arg(format!("--http.config.file={}", http_cfg.display()))
        .args(args)
        .output()
        .expect("run amtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn amtool_over_tls_with_basic_auth_and_wrong_password_gets_401() {
    let Some(bin) = e2e::require("amtool", "amtool is the reference client of the v2 API") else {
        return;
    };
    let Some(_) = e2e::require("openssl", "makes the test certificate") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = e2e::self_signed_cert(dir.path(), "server", "localhost", "IP:127.0.0.1");
    let cfg = dir.path().join("alertmanager.yml");
    std::fs::write(&cfg, "route:\n  receiver: r\nreceivers:\n  - name: r\n").unwrap();
    let web = dir.path().join("web.yml");
    let hash = bcrypt::hash("am-s3cret", 6).unwrap();
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\nhttp_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\nbasic_auth_users:\n  admin: '{hash}'\n"
        ),
    )
    .unwrap();
    let port = e2e::free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alerter"));
    cmd.arg("--config.file")
        .arg(&cfg)
        .arg("--storage.path")
        .arg(dir.path().join("data"))
        .arg(format!("--web.config.file={}", web.display()))
        .args(["--web.listen-address", &format!("127.0.0.1:{port}")]);
    let _g = ChildGuard::spawn("alerter", &mut cmd, &dir.path().join("log"));
    e2e::wait_port(port, Duration::from_secs(10));

    let http = |name: &str, pw: &str| {
        let p = dir.path().join(name);
        std::fs::write(
            &p,
            format!(
                "basic_auth:\n  username: admin\n  password: {pw}\ntls_config:\n  ca_file: {}\n",
                cert.display()
            ),
        )
        .unwrap();
        p
    };
    let good = http("good.yml", "am-s3cret");
    let bad = http("bad.yml", "guess");

    let (ok, out) = amtool(
        &bin,
        port,
        &good,
        &["alert", "add", "alertname=TlsWorks", "severity=warning"],
    );
    assert!(ok, "{out}");
    let (ok, out) = amtool(&bin, port, &good, &["alert", "query"]);
    assert!(ok && out.contains("TlsWorks"), "{out}");
    let (ok, out) = amtool(
        &bin,
        port,
        &good,
        &[
            "silence",
            "add",
            "alertname=TlsWorks",
            "--comment=x",
            "--author=t",
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = amtool(&bin, port, &bad, &["alert", "query"]);
    assert!(!ok && out.contains("401"), "wrong password: {out}");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap(),
            )
            .build()
            .unwrap();
        let url = format!("https://127.0.0.1:{port}/api/v2/status");
        for r in [
            c.get(&url).basic_auth("admin", Some("guess")),
            c.get(&url).basic_auth("root", Some("am-s3cret")),
            c.get(&url),
        ] {
            let resp = r.send().await.unwrap();
            assert_eq!(resp.status(), 401);
            assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
            assert_eq!(resp.text().await.unwrap(), "Unauthorized\n");
        }
        let resp = c
            .get(&url)
            .basic_auth("admin", Some("am-s3cret"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    });
}

#[test]
fn a_bad_web_config_file_stops_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("alertmanager.yml");
    std::fs::write(&cfg, "route:\n  receiver: r\nreceivers:\n  - name: r\n").unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: missing.pem\n  key_file: missing.key\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_alerter"))
        .arg("--config.file")
        .arg(&cfg)
        .arg("--storage.path")
        .arg(dir.path().join("data"))
        .arg(format!("--web.config.file={}", web.display()))
        .args([
            "--web.listen-address",
            &format!("127.0.0.1:{}", e2e::free_port()),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("tls_server_config.cert_file: cannot read"),
        "{err}"
    );
}
