//! A webhook's `http_config` through the real binary and real HTTP receivers: each
//! setting takes effect on the wire (regression: it was accepted and ignored, so a
//! receiver behind basic auth or a proxy rejected every notification while
//! `check-config` said SUCCESS).
//! - `basic_auth` with a `password_file` relative to the config file;
//! - `global.http_config` as the default of a webhook without its own, here an
//!   `authorization` whose `credentials_file` is read again at each send;
//! - `proxy_url`: the POST goes to the proxy, in absolute form, for a host that does
//!   not even resolve.

use std::process::Command;
use std::time::Duration;

use e2e::{ChildGuard, SinkRequest, WebhookSink, free_port, wait_for};
use serde_json::json;

fn post_alert(port: u16, name: &str) {
    let body = json!([{"labels": {"alertname": name}}]).to_string();
    let (st, text) = e2e::http("POST", port, "/api/v2/alerts", Some(&body)).unwrap();
    assert_eq!(st, 200, "{text}");
}

fn request_for(sink: &WebhookSink, name: &str) -> SinkRequest {
    wait_for(
        &format!("{name} at its receiver"),
        Duration::from_secs(15),
        || {
            sink.requests()
                .into_iter()
                .rev()
                .find(|r| r.body["groupLabels"]["alertname"] == name)
        },
    )
}

#[test]
fn basic_auth_bearer_default_and_proxy_take_effect() {
    let dir = tempfile::tempdir().unwrap();
    let sink = WebhookSink::start();
    let proxy = WebhookSink::start();
    std::fs::write(dir.path().join("hook_password"), "s3cret\n").unwrap();
    std::fs::write(dir.path().join("hook_token"), "first-token\n").unwrap();
    let config = format!(
        "global:
  http_config:
    authorization:
      credentials_file: hook_token
route:
  receiver: default-auth
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
  routes:
  - matchers: ['alertname=~\"Basic.*\"']
    receiver: basic
  - matchers: ['alertname=\"Proxied\"']
    receiver: proxied
receivers:
- name: default-auth
  webhook_configs:
  - url: {url}
- name: basic
  webhook_configs:
  - url: {url}
    http_config:
      basic_auth:
        username: alice
        password_file: hook_password
- name: proxied
  webhook_configs:
  - url: http://hook.invalid/notify
    http_config:
      proxy_url: http://127.0.0.1:{proxy}
",
        url = sink.url(),
        proxy = proxy.port,
    );
    let config_path = dir.path().join("alertmanager.yml");
    std::fs::write(&config_path, config).unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_alerter"))
        .arg("check-config")
        .arg(&config_path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alerter"));
    // Run from elsewhere: the credential files must be found next to the config.
    cmd.current_dir(std::env::temp_dir())
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let _guard = ChildGuard::spawn("alerter", &mut cmd, &dir.path().join("alerter.log"));
    wait_for("alerter ready", Duration::from_secs(20), || {
        e2e::get_json(port, "/-/ready").ok()
    });

    post_alert(port, "BasicOne");
    let r = request_for(&sink, "BasicOne");
    // base64("alice:s3cret"): the file's trailing newline is not part of the password.
    assert_eq!(r.authorization.as_deref(), Some("Basic YWxpY2U6czNjcmV0"));

    post_alert(port, "Default");
    let r = request_for(&sink, "Default");
    assert_eq!(r.authorization.as_deref(), Some("Bearer first-token"));

    // Rotated on disk: the next send carries the new token, no reload needed.
    std::fs::write(dir.path().join("hook_token"), "second-token").unwrap();
    post_alert(port, "DefaultAgain");
    let r = request_for(&sink, "DefaultAgain");
    assert_eq!(r.authorization.as_deref(), Some("Bearer second-token"));

    post_alert(port, "Proxied");
    let r = request_for(&proxy, "Proxied");
    assert_eq!(r.uri, "http://hook.invalid/notify");
    assert_eq!(
        r.authorization, None,
        "its own http_config replaces the global one"
    );
}
