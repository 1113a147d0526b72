//! HTTP probes against real servers on 127.0.0.1: an in-process axum server (200, 500,
//! a hang, a body for the regex, a redirect), a closed port, and `openssl s_server` with
//! certificates made at test time for TLS (`ca_file`, `server_name`, client
//! certificates, `insecure_skip_verify`, `probe_ssl_earliest_cert_expiry`).
//! Exporter and servers run on real sockets; `/metrics` and `/probe` are driven through
//! the router.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::HeaderMap;
use axum::http::{Request, StatusCode};
use axum::response::Redirect;
use axum::routing::{get, post};
use common::{Fam, parse};
use e2e::ChildGuard;
use e2e::prometheus::Prometheus;
use exporter::config::{Config, Flags};
use exporter::http::{AppState, router};
use exporter::scrape::Scraper;
use tower::ServiceExt as _;

/// The exporter's router with only the probes collector, from `yaml`.
fn exporter(yaml: &str) -> axum::Router {
    let path = Path::new("probes-test.yml");
    let raw = Config::parse_file_text(yaml, path).unwrap();
    let flags = Flags::try_parse_from([
        "exporter",
        "--collector.disable-defaults",
        "--collector.probes",
    ])
    .unwrap();
    let cfg = Config::from_layers(&flags, raw, Some(path)).unwrap();
    let collectors = cfg.build_collectors().unwrap();
    let scraper = Arc::new(Scraper::new(collectors, cfg.collector_timeout));
    router(AppState::new(Arc::new(cfg), scraper))
}

async fn get_text(app: &axum::Router, uri: &str) -> (StatusCode, String) {
    let resp = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// The value of `name` for the probe called `probe` (`None`: the series is absent).
fn value(fams: &BTreeMap<String, Fam>, name: &str, probe: &str) -> Option<f64> {
    fams.get(name)?
        .samples
        .iter()
        .find(|((n, labels), _)| {
            n == name && labels.iter().any(|(k, v)| k == "probe" && v == probe)
        })
        .map(|(_, v)| *v)
}

fn phase(fams: &BTreeMap<String, Fam>, probe: &str, phase: &str) -> Option<f64> {
    fams.get("probe_http_duration_seconds")?
        .samples
        .iter()
        .find(|((_, labels), _)| {
            labels.iter().any(|(k, v)| k == "probe" && v == probe)
                && labels.iter().any(|(k, v)| k == "phase" && v == phase)
        })
        .map(|(_, v)| *v)
}

/// The app under probe, on a free port of 127.0.0.1, served until the test ends.
async fn app_server() -> u16 {
    let app = axum::Router::new()
        .route("/ok", get(|| async { "status: ok\n" }))
        .route(
            "/fail",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "down\n") }),
        )
        .route("/hang", get(futures::future::pending::<&'static str>))
        .route("/degraded", get(|| async { "status: degraded\n" }))
        .route("/moved", get(|| async { Redirect::to("/ok") }))
        .route("/post-only", post(|| async { "posted\n" }))
        .route(
            "/needs-header",
            get(|headers: HeaderMap| async move {
                match headers.get("x-probe").and_then(|v| v.to_str().ok()) {
                    Some("exporter") => (StatusCode::OK, "ok\n"),
                    _ => (StatusCode::FORBIDDEN, "no header\n"),
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

#[tokio::test]
async fn probes_report_blackbox_metrics_for_each_outcome() {
    let port = app_server().await;
    let closed = e2e::free_port();
    let base = format!("http://127.0.0.1:{port}");
    // The collector's budget is far above the probes' timeouts: the hang and the
    // closed port must be ended by their own timeout, not by the collector's.
    let yaml = format!(
        "scrape:\n  collector_timeout: 60s\nprobes:\n\
         \x20 - {{name: ok, url: '{base}/ok', body_regex: 'status: ok'}}\n\
         \x20 - {{name: fail, url: '{base}/fail'}}\n\
         \x20 - {{name: fail-allowed, url: '{base}/fail', valid_status_codes: [500]}}\n\
         \x20 - {{name: hang, url: '{base}/hang', timeout: 1s}}\n\
         \x20 - {{name: regex, url: '{base}/degraded', body_regex: 'status: ok'}}\n\
         \x20 - {{name: closed, url: 'http://127.0.0.1:{closed}/', timeout: 2s}}\n\
         \x20 - {{name: moved, url: '{base}/moved'}}\n\
         \x20 - {{name: named-host, url: 'http://localhost:{port}/ok', method: HEAD}}\n\
         \x20 - {{name: post, url: '{base}/post-only', method: POST}}\n\
         \x20 - {{name: get-on-post, url: '{base}/post-only'}}\n\
         \x20 - {{name: header, url: '{base}/needs-header', headers: {{X-Probe: exporter}}}}\n\
         \x20 - {{name: no-header, url: '{base}/needs-header'}}\n"
    );
    let app = exporter(&yaml);
    let (status, text) = get_text(&app, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let fams = parse(&text);
    let v = |name: &str, probe: &str| {
        value(&fams, name, probe).unwrap_or_else(|| panic!("no {name} for {probe}:\n{text}"))
    };

    // The collector itself succeeded: every probe ended within its own timeout.
    assert!(
        text.contains("node_scrape_collector_success{collector=\"probes\"} 1"),
        "{text}"
    );
    for (probe, success, code) in [
        ("ok", 1.0, 200.0),
        ("fail", 0.0, 500.0),
        ("fail-allowed", 1.0, 500.0),
        ("hang", 0.0, 0.0),
        ("regex", 0.0, 200.0),
        ("closed", 0.0, 0.0),
        ("moved", 1.0, 200.0),
        ("named-host", 1.0, 200.0),
        // method and headers take effect.
        ("post", 1.0, 200.0),
        ("get-on-post", 0.0, 405.0),
        ("header", 1.0, 200.0),
        ("no-header", 0.0, 403.0),
    ] {
        assert_eq!(v("probe_success", probe), success, "{probe}\n{text}");
        assert_eq!(v("probe_http_status_code", probe), code, "{probe}\n{text}");
        let timeout = match probe {
            "hang" => 1.0,
            "closed" => 2.0,
            _ => 5.0,
        };
        let duration = v("probe_duration_seconds", probe);
        assert!(
            duration > 0.0 && duration <= timeout,
            "{probe}: duration {duration} not within its timeout {timeout}"
        );
    }
    // The hang ran into its timeout, which is its duration.
    assert_eq!(v("probe_duration_seconds", "hang"), 1.0);
    assert_eq!(v("probe_failed_due_to_regex", "regex"), 1.0);
    assert_eq!(v("probe_failed_due_to_regex", "ok"), 0.0);
    assert_eq!(v("probe_http_content_length", "ok"), 11.0);
    assert_eq!(v("probe_http_uncompressed_body_length", "ok"), 11.0);
    assert_eq!(v("probe_http_content_length", "hang"), -1.0);
    assert_eq!(v("probe_http_version", "ok"), 1.1);
    assert_eq!(v("probe_http_ssl", "ok"), 0.0);
    assert_eq!(v("probe_http_redirects", "moved"), 1.0);
    assert_eq!(v("probe_http_redirects", "ok"), 0.0);
    assert!(value(&fams, "probe_ssl_earliest_cert_expiry", "ok").is_none());
    // Plain HTTP: resolve, connect, processing and transfer are measured.
    for p in ["resolve", "connect", "processing", "transfer"] {
        assert!(phase(&fams, "ok", p).is_some(), "phase {p}\n{text}");
    }
    assert!(phase(&fams, "ok", "tls").is_none());
    assert!(phase(&fams, "ok", "connect").unwrap() > 0.0);
    // A name is resolved (and timed); an IP address is not.
    assert!(v("probe_dns_lookup_time_seconds", "named-host") > 0.0);
    assert_eq!(v("probe_dns_lookup_time_seconds", "ok"), 0.0);
    // probe/target labels, nothing that Prometheus would rename to exported_*.
    let labels = fams["probe_success"].label_names();
    assert_eq!(
        labels.into_iter().collect::<Vec<_>>(),
        ["probe", "target"],
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "probe_success{{probe=\"ok\",target=\"{base}/ok\"}} 1"
        )),
        "{text}"
    );

    if let Some(promtool) = e2e::require("promtool", "lints the exposition") {
        let problems = common::promtool_problems(&promtool, &text);
        assert!(problems.is_empty(), "{problems:?}\n{text}");
    }
}

#[tokio::test]
async fn probe_endpoint_runs_configured_probes_only() {
    let port = app_server().await;
    let base = format!("http://127.0.0.1:{port}");
    let app = exporter(&format!(
        "probes:\n  - {{name: api-health, url: '{base}/ok'}}\n  - {{name: down, url: '{base}/fail'}}\n"
    ));

    // Not configured: refused, and nothing is fetched.
    for (uri, message) in [
        (
            "/probe?target=http://169.254.169.254/latest/meta-data/".to_string(),
            "target \"http://169.254.169.254/latest/meta-data/\" is not a probe in the config file; only configured probes can be run\n".to_string(),
        ),
        (
            "/probe".to_string(),
            "missing ?target=<probe name or URL from the config file>\n".to_string(),
        ),
        (
            format!("/probe?target={base}/fail&module=api-health"),
            format!(
                "target \"{base}/fail\" is not the URL of probe \"api-health\" in the config file\n"
            ),
        ),
        (
            "/probe?target=api-health&module=http_2xx".to_string(),
            "unknown module \"http_2xx\": not a probe in the config file\n".to_string(),
        ),
    ] {
        let (status, body) = get_text(&app, &uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(body, message, "{uri}");
    }

    // By name, by URL, and by URL with its module: blackbox's output, without labels.
    for uri in [
        "/probe?target=api-health".to_string(),
        format!("/probe?target={base}/ok"),
        format!("/probe?target={base}/ok&module=api-health"),
    ] {
        let (status, body) = get_text(&app, &uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        assert!(body.contains("\nprobe_success 1.0\n"), "{uri}\n{body}");
        assert!(
            body.contains("\nprobe_http_status_code 200.0\n"),
            "{uri}\n{body}"
        );
        assert!(!body.contains("probe=\""), "{body}");
        assert!(!body.contains("scrape_collector"), "{body}");
    }
    let (_, body) = get_text(&app, "/probe?target=down").await;
    assert!(body.contains("\nprobe_success 0.0\n"), "{body}");
    assert!(body.contains("\nprobe_http_status_code 500.0\n"), "{body}");
}

/// A self-signed certificate (not a CA, so it is its own trust anchor) for `san`.
fn make_cert(dir: &Path, stem: &str, san: &str) -> (PathBuf, PathBuf) {
    e2e::self_signed_cert(dir, stem, stem, san)
}

/// The certificate's notAfter in Unix seconds, as openssl and date(1) read it.
fn not_after(cert: &Path) -> f64 {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-enddate", "-in"])
        .arg(cert)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let date = text.trim().strip_prefix("notAfter=").unwrap().to_string();
    let out = Command::new("date")
        .args(["-u", "-d", &date, "+%s"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// `openssl s_server -www` on a free port: a real TLS server answering GET with 200.
fn tls_server(
    dir: &Path,
    name: &str,
    cert: &Path,
    key: &Path,
    extra: &[&str],
) -> (u16, ChildGuard) {
    let port = e2e::free_port();
    let mut cmd = Command::new("openssl");
    cmd.args(["s_server", "-www", "-quiet", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(cert)
        .arg("-key")
        .arg(key)
        .args(extra);
    let guard = ChildGuard::spawn(name, &mut cmd, &dir.join(format!("{name}.log")));
    e2e::wait_port(port, Duration::from_secs(10));
    (port, guard)
}

#[tokio::test]
async fn tls_config_takes_effect_and_cert_expiry_is_exported() {
    if e2e::require("openssl", "makes the test certificates and serves TLS").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The server's certificate names probe.test only: 127.0.0.1 verifies only with
    // server_name.
    let (server_cert, server_key) = make_cert(d, "server", "DNS:probe.test");
    let (client_cert, client_key) = make_cert(d, "client", "DNS:client.test");
    let (port, _server) = tls_server(d, "s_server", &server_cert, &server_key, &[]);
    // -Verify: a client certificate is required, and must be signed by client.pem.
    let client_ca = client_cert.display().to_string();
    let (mtls_port, _mtls) = tls_server(
        d,
        "s_server_mtls",
        &server_cert,
        &server_key,
        &["-Verify", "1", "-CAfile", &client_ca],
    );
    let url = format!("https://127.0.0.1:{port}/");
    let mtls = format!("https://127.0.0.1:{mtls_port}/");
    let ca = server_cert.display();
    let (cc, ck) = (client_cert.display(), client_key.display());
    let yaml = format!(
        "probes:\n\
         \x20 - {{name: verified, url: '{url}', tls_config: {{ca_file: '{ca}', server_name: probe.test}}}}\n\
         \x20 - {{name: default-roots, url: '{url}', tls_config: {{server_name: probe.test}}}}\n\
         \x20 - {{name: wrong-name, url: '{url}', tls_config: {{ca_file: '{ca}'}}}}\n\
         \x20 - {{name: insecure, url: '{url}', tls_config: {{insecure_skip_verify: true}}}}\n\
         \x20 - {{name: client-cert, url: '{mtls}', tls_config: {{ca_file: '{ca}', server_name: probe.test, cert_file: '{cc}', key_file: '{ck}'}}}}\n\
         \x20 - {{name: no-client-cert, url: '{mtls}', tls_config: {{ca_file: '{ca}', server_name: probe.test}}}}\n"
    );
    let app = exporter(&yaml);
    let (_, text) = get_text(&app, "/metrics").await;
    let fams = parse(&text);
    let v = |name: &str, probe: &str| value(&fams, name, probe);
    for (probe, success) in [
        ("verified", 1.0),
        ("default-roots", 0.0),
        ("wrong-name", 0.0),
        ("insecure", 1.0),
        ("client-cert", 1.0),
        ("no-client-cert", 0.0),
    ] {
        assert_eq!(v("probe_success", probe), Some(success), "{probe}\n{text}");
    }
    assert_eq!(v("probe_http_status_code", "verified"), Some(200.0));
    assert_eq!(v("probe_http_ssl", "verified"), Some(1.0));
    let expiry = not_after(&server_cert);
    assert_eq!(
        v("probe_ssl_earliest_cert_expiry", "verified"),
        Some(expiry),
        "{text}"
    );
    assert_eq!(
        v("probe_ssl_earliest_cert_expiry", "insecure"),
        Some(expiry)
    );
    // No response, no expiry; and with TLS, connect and tls are not split (see README).
    assert_eq!(v("probe_ssl_earliest_cert_expiry", "wrong-name"), None);
    assert!(phase(&fams, "verified", "processing").is_some());
    assert!(phase(&fams, "verified", "connect").is_none());
    assert!(phase(&fams, "verified", "tls").is_none());
}

/// The built binary, from a config file: the probes collector is on by default and both
/// `/metrics` and `/probe` serve over real HTTP.
#[tokio::test]
async fn binary_serves_probes_from_its_config_file() {
    let port = app_server().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("exporter.yml");
    std::fs::write(
        &file,
        format!("probes:\n  - {{name: api-health, url: 'http://127.0.0.1:{port}/ok'}}\n"),
    )
    .unwrap();
    let exporter = common::Exporter::start(&[
        &format!("--config.file={}", file.display()),
        "--collector.disable-defaults",
        "--collector.probes",
    ]);
    let text = common::scrape(&exporter.url()).await;
    let fams = parse(&text);
    assert_eq!(
        value(&fams, "probe_success", "api-health"),
        Some(1.0),
        "{text}"
    );
    let base = format!("http://127.0.0.1:{}", exporter.port);
    let body = common::scrape(&format!("{base}/probe?target=api-health")).await;
    assert!(body.contains("\nprobe_success 1.0\n"), "{body}");
    let resp = reqwest::get(format!("{base}/probe?target=http://127.0.0.1:{port}/fail"))
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::BAD_REQUEST);
}

async fn get_json(url: &str) -> Option<serde_json::Value> {
    reqwest::get(url).await.ok()?.json().await.ok()
}

/// Debian's Prometheus with the README's `/probe` scrape config: the configured probe is
/// up with `probe_success 1` labelled by its name; a target that is not configured is a
/// target down with the 400 as its error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_probe_endpoint_with_readme_config() {
    let app = app_server().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("exporter.yml");
    std::fs::write(
        &file,
        format!("probes:\n  - {{name: api-health, url: 'http://127.0.0.1:{app}/ok'}}\n"),
    )
    .unwrap();
    let exporter = common::Exporter::start(&[
        &format!("--config.file={}", file.display()),
        "--collector.disable-defaults",
        "--collector.probes",
    ]);
    let Some(prom) = Prometheus::start(&format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n\
             \x20 - job_name: probes\n    metrics_path: /probe\n    static_configs:\n\
             \x20     - targets: [api-health, ghost]\n    relabel_configs:\n\
             \x20     - source_labels: [__address__]\n        target_label: __param_target\n\
             \x20     - source_labels: [__param_target]\n        target_label: probe\n\
             \x20     - source_labels: [__param_target]\n        target_label: instance\n\
             \x20     - target_label: __address__\n        replacement: 127.0.0.1:{}\n",
        exporter.port
    )) else {
        return;
    };
    let port = prom.port;
    let query =
        format!("http://127.0.0.1:{port}/api/v1/query?query=probe_success%7Bjob%3D%22probes%22%7D");
    let targets_url = format!("http://127.0.0.1:{port}/api/v1/targets");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let (result, targets) = loop {
        let v = get_json(&query).await.unwrap_or_default();
        let t = get_json(&targets_url).await.unwrap_or_default();
        let scraped = t["data"]["activeTargets"]
            .as_array()
            .is_some_and(|a| a.len() == 2 && a.iter().all(|t| t["health"] != "unknown"));
        if scraped
            && v["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
        {
            break (v["data"]["result"].clone(), t);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no probe_success scraped; last: {v}\n{t}\nprometheus log:\n{}",
            prom.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let result = result.as_array().unwrap();
    assert_eq!(result.len(), 1, "{result:?}");
    assert_eq!(result[0]["metric"]["probe"], "api-health", "{result:?}");
    assert_eq!(result[0]["metric"]["instance"], "api-health", "{result:?}");
    assert_eq!(result[0]["value"][1], "1", "{result:?}");
    for t in targets["data"]["activeTargets"].as_array().unwrap() {
        match t["labels"]["probe"].as_str() {
            Some("api-health") => assert_eq!(t["health"], "up", "{t}"),
            Some("ghost") => {
                assert_eq!(t["health"], "down", "{t}");
                assert!(t["lastError"].as_str().unwrap_or("").contains("400"), "{t}");
            }
            other => panic!("unexpected target {other:?}: {t}"),
        }
    }
}
