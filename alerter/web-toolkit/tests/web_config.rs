//! `--web.config.file` end to end over real sockets: TLS with openssl-made
//! certificates, bcrypt basic auth, headers, reload on edit, client certificates,
//! the slowloris deadline, and a wrong-password flood that must not delay a scrape.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::time::{Duration, Instant};

use web_toolkit::{Limits, WebConfig};

struct Running {
    port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

async fn start(web: Option<&Path>, limits: Limits) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().route("/metrics", axum::routing::get(|| async { "up 1\n" }));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let web = web.map(Path::to_path_buf);
    // Fails before serving on a bad file: make that visible here.
    if let Some(w) = &web {
        WebConfig::load(w).unwrap();
    }
    tokio::spawn(async move {
        web_toolkit::serve(listener, app, web.as_deref(), limits, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Running {
        port,
        stop: Some(tx),
    }
}

fn certs(dir: &Path) -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    e2e::require("openssl", "makes the test certificates")?;
    Some(e2e::self_signed_cert(
        dir,
        "server",
        "localhost",
        "IP:127.0.0.1,DNS:localhost",
    ))
}

fn client(ca: &Path) -> reqwest::Client {
    let pem = std::fs::read(ca).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn get(
    c: &reqwest::Client,
    url: &str,
    auth: Option<(&str, &str)>,
) -> (u16, String, reqwest::header::HeaderMap) {
    let mut r = c.get(url);
    if let Some((u, p)) = auth {
        r = r.basic_auth(u, Some(p));
    }
    let resp = r
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e:?}"));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, resp.text().await.unwrap(), headers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_basic_auth_headers_and_reload_on_edit() {
    let dir = tempfile::tempdir().unwrap();
    let Some((cert, key)) = certs(dir.path()) else {
        return;
    };
    let web = dir.path().join("web.yml");
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    // Relative paths are relative to the web config file.
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\nbasic_auth_users:\n  prom: '{hash}'\n"
        ),
    )
    .unwrap();
    let _ = key;
    let srv = start(Some(&web), Limits::default()).await;
    let c = client(&cert);
    let url = format!("https://127.0.0.1:{}/metrics", srv.port);

    let (s, body, h) = get(&c, &url, Some(("prom", "s3cret"))).await;
    assert_eq!((s, body.as_str()), (200, "up 1\n"));
    assert_eq!(h["x-frame-options"], "deny");

    // Wrong password, unknown user, no credentials: the same 401, naming nothing.
    let wrong = get(&c, &url, Some(("prom", "nope"))).await;
    let unknown = get(&c, &url, Some(("nobody", "s3cret"))).await;
    let (s_none, body_none, h_none) = get(&c, &url, None).await;
    assert_eq!((wrong.0, wrong.1.as_str()), (401, "Unauthorized\n"));
    assert_eq!((unknown.0, unknown.1.as_str()), (401, "Unauthorized\n"));
    assert_eq!((s_none, body_none.as_str()), (401, "Unauthorized\n"));
    assert_eq!(h_none["www-authenticate"], "Basic");
    assert_eq!(
        h_none["x-frame-options"], "deny",
        "headers on every response"
    );

    // Plain HTTP to the TLS port gets no answer.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/metrics", srv.port))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);

    // Edit the file: the new password works at once, the old one no longer.
    let hash2 = bcrypt::hash("n3w", 4).unwrap();
    std::fs::write(
        &web,
        format!("tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\nbasic_auth_users:\n  prom: '{hash2}'\n"),
    )
    .unwrap();
    assert_eq!(get(&c, &url, Some(("prom", "s3cret"))).await.0, 401);
    let (s, _, h) = get(&c, &url, Some(("prom", "n3w"))).await;
    assert_eq!(s, 200);
    assert!(
        h.get("x-frame-options").is_none(),
        "header removed with the edit"
    );

    // A file that stops loading fails closed, and recovers when fixed.
    std::fs::write(&web, "basic_auth_users: [\n").unwrap();
    let fresh = client(&cert);
    assert!(
        fresh
            .get(&url)
            .basic_auth("prom", Some("n3w"))
            .send()
            .await
            .is_err(),
        "handshake refused"
    );
    std::fs::write(
        &web,
        format!("tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\nbasic_auth_users:\n  prom: '{hash2}'\n"),
    )
    .unwrap();
    assert_eq!(
        get(&client(&cert), &url, Some(("prom", "n3w"))).await.0,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificate_required_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let Some((cert, _)) = certs(dir.path()) else {
        return;
    };
    let (ccert, ckey) = e2e::self_signed_cert(dir.path(), "client", "scraper", "DNS:scraper");
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: client.pem\n  min_version: TLS13\n",
    )
    .unwrap();
    let srv = start(Some(&web), Limits::default()).await;
    let url = format!("https://127.0.0.1:{}/metrics", srv.port);
    assert!(
        client(&cert).get(&url).send().await.is_err(),
        "no client certificate: refused"
    );
    let mut pem = std::fs::read(&ccert).unwrap();
    pem.extend(std::fs::read(&ckey).unwrap());
    let with_id = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap(),
        )
        .identity(reqwest::Identity::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    assert_eq!(get(&with_id, &url, None).await.0, 200);
}

#[test]
fn bad_web_configs_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let has_openssl = certs(dir.path()).is_some();
    let cases: &[(&str, &str)] = &[
        (
            "basic_auth_user:\n  a: b\n",
            "unknown field `basic_auth_user`",
        ),
        (
            "basic_auth_users:\n  prom: plain\n",
            "basic_auth_users.prom: expected a bcrypt hash",
        ),
        (
            "http_server_config:\n  headers:\n    X-Foo: bar\n",
            "\"X-Foo\" cannot be configured",
        ),
        (
            "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
            "X-Frame-Options: \"allow\" is not one of",
        ),
        (
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  min_version: TLS10\n",
            "tls_server_config.min_version: TLS10 is not supported",
        ),
        (
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: RequestClientCert\n",
            "RequestClientCert (a client certificate that is not verified) is not supported",
        ),
        (
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_ca_file: server.pem\n",
            "client_auth_type is NoClientCert",
        ),
        (
            "tls_server_config:\n  cert_file: server.pem\n",
            "tls_server_config.key_file: missing",
        ),
        (
            "tls_server_config:\n  cert_file: nope.pem\n  key_file: server.key\n",
            "cert_file: cannot read",
        ),
        (
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n",
            "cipher_suites: \"TLS_RSA_WITH_RC4_128_SHA\" is not one of",
        ),
        (
            "tls_server_config:\n  cert_file: server.pem\n  key: inline\n",
            "put it in key_file",
        ),
        ("rate_limit:\n  burst: 1\n", "rate_limit: not supported"),
    ];
    for (yaml, want) in cases {
        if yaml.contains("server.pem") && !has_openssl {
            continue;
        }
        let p = dir.path().join("web.yml");
        std::fs::write(&p, yaml).unwrap();
        let e = WebConfig::load(&p)
            .err()
            .unwrap_or_else(|| panic!("{yaml:?} loaded"));
        let text = e.to_string();
        assert!(text.contains(want), "{yaml:?}: got {text:?}, want {want:?}");
        assert!(text.starts_with("--web.config.file "), "{text}");
    }
    // Accepted: an empty file, and the keys we honour.
    std::fs::write(dir.path().join("web.yml"), "").unwrap();
    WebConfig::load(&dir.path().join("web.yml")).unwrap();
    if has_openssl {
        std::fs::write(
            dir.path().join("web.yml"),
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n  curve_preferences: [X25519, CurveP256]\n  prefer_server_cipher_suites: false\n  max_version: TLS12\nhttp_server_config:\n  http2: false\n",
        )
        .unwrap();
        let c = WebConfig::load(&dir.path().join("web.yml")).unwrap();
        assert!(c.tls.is_some() && !c.http2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connection_that_sends_no_request_is_closed() {
    let limits = Limits {
        header_read_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let srv = start(None, limits).await;
    let port = srv.port;
    tokio::task::spawn_blocking(move || {
        for partial in [&b""[..], b"GET /metrics HTTP/1.1\r\nHost: x\r\n"] {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.write_all(partial).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let t = Instant::now();
            let mut buf = Vec::new();
            // The server closes (EOF, perhaps after a 408): not the 5 s read timeout.
            let r = s.read_to_end(&mut buf);
            assert!(r.is_ok() || t.elapsed() < Duration::from_secs(4), "{r:?}");
            assert!(
                t.elapsed() < Duration::from_secs(4),
                "connection held for {:?}",
                t.elapsed()
            );
        }
    })
    .await
    .unwrap();
    // A whole request still works.
    let (s, _, _) = get(
        &reqwest::Client::new(),
        &format!("http://127.0.0.1:{port}/metrics"),
        None,
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_flood_does_not_delay_a_scrape() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web.yml");
    // Cost 10, as `htpasswd -nB` makes: tens of milliseconds per comparison.
    let hash = bcrypt::hash("s3cret", 10).unwrap();
    std::fs::write(&web, format!("basic_auth_users:\n  prom: '{hash}'\n")).unwrap();
    let srv = start(Some(&web), Limits::default()).await;
    let url = format!("http://127.0.0.1:{}/metrics", srv.port);
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    assert_eq!(get(&c, &url, Some(("prom", "s3cret"))).await.0, 200);

    let started = Instant::now();
    let flood: Vec<_> = (0..20)
        .map(|i| {
            let (c, url) = (c.clone(), url.clone());
            tokio::spawn(async move {
                c.get(&url)
                    .basic_auth("prom", Some(format!("guess{i}")))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let t = Instant::now();
    assert_eq!(get(&c, &url, Some(("prom", "s3cret"))).await.0, 200);
    let scrape = t.elapsed();
    for f in flood {
        assert_eq!(f.await.unwrap().unwrap(), 401);
    }
    let flood_took = started.elapsed();
    println!("scrape during a 20-guess flood: {scrape:?}; flood took {flood_took:?}");
    assert!(
        scrape < Duration::from_millis(500),
        "scrape waited {scrape:?} behind the flood ({flood_took:?})"
    );
    assert!(
        flood_took > scrape * 4,
        "the flood should have been much slower: {flood_took:?}"
    );
}
