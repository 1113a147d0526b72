//! `http_config` side by side with Debian's Alertmanager 0.25: both daemons get
//! the same config (one webhook receiver per setting, each at its own capture
//! server) and the same alerts, and what reaches the receivers must be equal:
//! - `basic_auth` with a `password_file`; `bearer_token_file`; `authorization`
//!   with its own `type`;
//! - `oauth2` (client credentials) against a local token endpoint: the token
//!   request itself (form, client credentials in the Basic header, escaped as Go's
//!   x/oauth2 escapes them), then the token on the notification, fetched once
//!   for two notifications;
//! - `proxy_url`: the POST reaches the proxy in absolute form, for a host that
//!   does not even resolve;
//! - `tls_config.ca_file`: an HTTPS receiver whose certificate (made by openssl at
//!   test time) only that CA file vouches for.
//!
//! `no_proxy` is newer than Alertmanager 0.25 (Prometheus common v0.39): ours
//! alone shows that the host it names is reached directly.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use e2e::{ChildGuard, SinkRequest, WebhookSink, free_port, wait_for};
use serde_json::json;

const TOKEN_ANSWER: &str = r#"{"access_token":"t0k3n/+=","token_type":"bearer","expires_in":3600}"#;

/// An HTTPS front for a capture server: terminates TLS with `cert`/`key` and
/// passes the bytes through to `backend`. Stopped when dropped.
struct TlsFront {
    port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TlsFront {
    fn start(cert: &Path, key: &Path, backend: u16) -> TlsFront {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(key).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let l = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let (tcp, _) = tokio::select! {
                        _ = &mut rx => return,
                        a = l.accept() => match a { Ok(a) => a, Err(_) => continue },
                    };
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        let Ok(mut tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        if let Ok(mut plain) =
                            tokio::net::TcpStream::connect(("127.0.0.1", backend)).await
                        {
                            let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                        }
                    });
                }
            });
        });
        TlsFront {
            port,
            stop: Some(tx),
            thread: Some(thread),
        }
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One daemon's receivers: the capture server, the proxy, the token endpoint
/// and the TLS front.
struct Peers {
    sink: WebhookSink,
    proxy: WebhookSink,
    token: WebhookSink,
    tls: TlsFront,
}

impl Peers {
    fn start(cert: &Path, key: &Path) -> Peers {
        let sink = WebhookSink::start();
        let proxy = WebhookSink::start();
        let token = WebhookSink::start();
        token.set_body(TOKEN_ANSWER);
        let tls = TlsFront::start(cert, key, sink.port);
        Peers {
            sink,
            proxy,
            token,
            tls,
        }
    }

    /// The config, every endpoint at these peers; `extra` receivers appended.
    fn config(&self, ca: &Path, extra: &str) -> String {
        let sink = format!("http://127.0.0.1:{}", self.sink.port);
        format!(
            "route:
  receiver: basic
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
  - {{matchers: ['alertname=Basic'], receiver: basic}}
  - {{matchers: ['alertname=Bearer'], receiver: bearer}}
  - {{matchers: ['alertname=Scheme'], receiver: scheme}}
  - {{matchers: ['alertname=~OAuth.*'], receiver: oauth}}
  - {{matchers: ['alertname=Proxied'], receiver: proxied}}
  - {{matchers: ['alertname=Tls'], receiver: tls}}
  - {{matchers: ['alertname=Direct'], receiver: direct}}
receivers:
- name: basic
  webhook_configs:
  - url: {sink}/basic
    http_config:
      basic_auth: {{username: alice, password_file: hook_password}}
- name: bearer
  webhook_configs:
  - url: {sink}/bearer
    http_config: {{bearer_token_file: hook_token}}
- name: scheme
  webhook_configs:
  - url: {sink}/scheme
    http_config:
      authorization: {{type: Token, credentials_file: hook_token}}
- name: oauth
  webhook_configs:
  - url: {sink}/oauth
    http_config:
      oauth2:
        client_id: 'alerter client'
        client_secret_file: oauth_secret
        token_url: http://127.0.0.1:{token}/oauth/token
        scopes: [alerts.write, 'read']
        endpoint_params: {{audience: 'https://hooks.example.com'}}
- name: proxied
  webhook_configs:
  - url: http://hook.invalid/proxied
    http_config: {{proxy_url: 'http://127.0.0.1:{proxy}'}}
- name: tls
  webhook_configs:
  - url: https://127.0.0.1:{tls}/tls
    http_config:
      tls_config: {{ca_file: {ca}}}
{extra}",
            token = self.token.port,
            proxy = self.proxy.port,
            tls = self.tls.port,
            ca = ca.display(),
        )
    }
}

fn start_daemon(name: &str, cmd: &mut Command, dir: &Path) -> (ChildGuard, u16) {
    let port = free_port();
    cmd.current_dir(dir)
        .arg(format!(
            "--config.file={}",
            dir.join(format!("{name}.yml")).display()
        ))
        .arg(format!(
            "--storage.path={}",
            dir.join(format!("{name}-data")).display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let log = dir.join(format!("{name}.log"));
    let mut guard = ChildGuard::spawn(name, cmd, &log);
    wait_for(&format!("{name} ready"), Duration::from_secs(30), || {
        assert!(
            guard.alive(),
            "{name} exited: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        e2e::http("GET", port, "/-/ready", None)
            .ok()
            .filter(|(st, _)| *st == 200)
    });
    (guard, port)
}

fn post_alert(port: u16, name: &str) {
    let body = json!([{"labels": {"alertname": name}}]).to_string();
    let (st, text) = e2e::http("POST", port, "/api/v2/alerts", Some(&body)).unwrap();
    assert_eq!(st, 200, "{text}");
}

/// The first request for the group of alert `name` at `sink`.
fn request_for(sink: &WebhookSink, who: &str, name: &str) -> SinkRequest {
    wait_for(
        &format!("{who}'s notification for {name}"),
        Duration::from_secs(20),
        || {
            sink.requests()
                .into_iter()
                .find(|r| r.body["groupLabels"]["alertname"] == name)
        },
    )
}

fn assert_same(what: &str, am: &SinkRequest, ours: &SinkRequest) {
    assert_eq!(ours.method, am.method, "{what}: method");
    assert_eq!(ours.uri, am.uri, "{what}: path");
    for h in ["authorization", "content-type"] {
        assert_eq!(ours.headers.get(h), am.headers.get(h), "{what}: header {h}");
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn http_config_reaches_the_receiver_as_alertmanagers_does() {
    let Some(am_bin) = e2e::require(
        "prometheus-alertmanager",
        "http_config is compared with what Alertmanager 0.25 sends",
    ) else {
        return;
    };
    let Some(_) = e2e::require("openssl", "the test makes the receiver's certificate") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "hook_password", "s3cret\n");
    write(d, "hook_token", "hook-token\n");
    // Characters Go's url.QueryEscape changes: the Basic header carries them escaped.
    write(d, "oauth_secret", "p@ss:w/rd+1\n");
    let (cert, key) = e2e::self_signed_cert(d, "receiver", "127.0.0.1", "IP:127.0.0.1");

    let am = Peers::start(&cert, &key);
    let ours = Peers::start(&cert, &key);
    write(d, "alertmanager.yml", &am.config(&cert, "- name: direct\n"));
    let direct = format!(
        "- name: direct
  webhook_configs:
  - url: http://127.0.0.1:{sink}/direct
    http_config:
      proxy_url: 'http://127.0.0.1:{proxy}'
      no_proxy: 127.0.0.1,localhost
",
        sink = ours.sink.port,
        proxy = ours.proxy.port,
    );
    let our_config = write(d, "alerter.yml", &ours.config(&cert, &direct));
    let out = Command::new(env!("CARGO_BIN_EXE_alerter"))
        .arg("check-config")
        .arg(&our_config)
        .output()
        .unwrap();
    assert!(out.status.success(), "check-config: {out:?}");

    let (_am, am_port) = start_daemon(
        "alertmanager",
        Command::new(&am_bin).arg("--cluster.listen-address="),
        d,
    );
    let (_ours, our_port) = start_daemon(
        "alerter",
        &mut Command::new(env!("CARGO_BIN_EXE_alerter")),
        d,
    );

    let names = ["Basic", "Bearer", "Scheme", "OAuth", "Tls"];
    for n in names.iter().chain(&["Proxied"]) {
        post_alert(am_port, n);
        post_alert(our_port, n);
    }
    post_alert(our_port, "Direct");
    for n in names {
        let a = request_for(&am.sink, "alertmanager", n);
        let o = request_for(&ours.sink, "alerter", n);
        assert_same(n, &a, &o);
        assert_eq!(o.body["receiver"], a.body["receiver"], "{n}");
    }
    let basic = request_for(&ours.sink, "alerter", "Basic");
    // base64("alice:s3cret"): the file's trailing newline is not part of it.
    assert_eq!(
        basic.authorization.as_deref(),
        Some("Basic YWxpY2U6czNjcmV0")
    );
    let bearer = request_for(&ours.sink, "alerter", "Bearer");
    assert_eq!(bearer.authorization.as_deref(), Some("Bearer hook-token"));
    let scheme = request_for(&ours.sink, "alerter", "Scheme");
    assert_eq!(scheme.authorization.as_deref(), Some("Token hook-token"));
    let oauth = request_for(&ours.sink, "alerter", "OAuth");
    assert_eq!(oauth.authorization.as_deref(), Some("Bearer t0k3n/+="));
    assert_eq!(request_for(&ours.sink, "alerter", "Tls").uri, "/tls");

    // The token request, as x/oauth2 sends it.
    let (a, o) = (am.token.requests(), ours.token.requests());
    assert_eq!(a.len(), 1, "alertmanager's token requests: {a:?}");
    assert_eq!(o.len(), 1, "our token requests: {o:?}");
    assert_same("token request", &a[0], &o[0]);
    assert_eq!(o[0].raw, a[0].raw, "token request form");
    assert_eq!(
        o[0].raw,
        "audience=https%3A%2F%2Fhooks.example.com&grant_type=client_credentials&scope=alerts.write+read"
    );

    // A second notification: the token is still fresh, no new token request.
    post_alert(am_port, "OAuthAgain");
    post_alert(our_port, "OAuthAgain");
    let a = request_for(&am.sink, "alertmanager", "OAuthAgain");
    let o = request_for(&ours.sink, "alerter", "OAuthAgain");
    assert_same("second oauth2 notification", &a, &o);
    assert_eq!(am.token.requests().len(), 1);
    assert_eq!(ours.token.requests().len(), 1, "the token is reused");

    // Through the proxy, in absolute form.
    let a = request_for(&am.proxy, "alertmanager", "Proxied");
    let o = request_for(&ours.proxy, "alerter", "Proxied");
    assert_same("proxied", &a, &o);
    assert_eq!(o.uri, "http://hook.invalid/proxied");

    // no_proxy: straight to the receiver, the proxy never sees it.
    assert_eq!(request_for(&ours.sink, "alerter", "Direct").uri, "/direct");
    assert!(
        ours.proxy
            .requests()
            .iter()
            .all(|r| r.body["groupLabels"]["alertname"] != "Direct"),
        "no_proxy names the host: not proxied"
    );
}
