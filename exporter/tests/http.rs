//! The HTTP surface, driven through the router with `oneshot`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use exporter::collector::{CollectResult, Collector};
use exporter::config::Config;
use exporter::http::{AppState, router};
use exporter::metrics::Family;
use exporter::scrape::Scraper;
use futures::future::BoxFuture;
use tower::ServiceExt as _;

/// Fails on every other scrape, like a collector whose source vanishes mid-run.
struct Flaky(std::sync::atomic::AtomicU32);

impl Collector for Flaky {
    fn name(&self) -> &'static str {
        "flaky"
    }
    fn collect(&self) -> BoxFuture<'_, CollectResult> {
        Box::pin(async move {
            let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if n % 2 == 1 {
                anyhow::bail!("read /proc/flaky: No such file or directory");
            }
            Ok(vec![
                Family::gauge("flaky_value", "A value.").single(n as f64),
            ])
        })
    }
}

fn app() -> axum::Router {
    let cfg = Config::default();
    let mut collectors = cfg.build_collectors().unwrap();
    collectors.push(Arc::new(Flaky(0.into())));
    let scraper = Arc::new(Scraper::new(collectors, Duration::from_secs(5)));
    router(AppState::new(Arc::new(cfg), scraper))
}

async fn get(app: &axum::Router, uri: &str, accept: Option<&str>) -> (StatusCode, String, String) {
    let mut req = Request::get(uri);
    if let Some(a) = accept {
        req = req.header(header::ACCEPT, a);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let ctype = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap();
    (status, ctype, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn metrics_negotiates_format() {
    let app = app();
    let (status, ctype, body) = get(&app, "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ctype, "text/plain; version=0.0.4; charset=utf-8");
    assert!(body.contains("# TYPE node_load1 gauge\n"), "{body}");
    assert!(
        body.contains("# TYPE process_cpu_seconds_total counter\n"),
        "{body}"
    );
    assert!(!body.contains("# EOF"));

    let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let (status, ctype, body) = get(&app, "/metrics", Some(prometheus)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        ctype.starts_with("application/openmetrics-text; version=1.0.0"),
        "{ctype}"
    );
    assert!(
        body.contains("# TYPE process_cpu_seconds counter\n"),
        "{body}"
    );
    assert!(body.ends_with("# EOF\n"));
}

#[tokio::test]
async fn collector_failing_mid_scrape_reports_zero_and_200() {
    let app = app();
    let (status, _, body) = get(&app, "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("node_scrape_collector_success{collector=\"flaky\"} 1"),
        "{body}"
    );
    let (status, _, body) = get(&app, "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("node_scrape_collector_success{collector=\"flaky\"} 0"),
        "{body}"
    );
    assert!(
        body.contains("node_scrape_collector_success{collector=\"loadavg\"} 1"),
        "{body}"
    );
    assert!(!body.contains("flaky_value"));

    let (status, _, page) = get(&app, "/", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("flaky"), "{page}");
    assert!(
        page.contains("read /proc/flaky: No such file or directory"),
        "{page}"
    );
    assert!(page.contains("loadavg"), "{page}");
}

#[tokio::test]
async fn health_and_ready() {
    let app = app();
    assert_eq!(get(&app, "/-/healthy", None).await.0, StatusCode::OK);
    assert_eq!(get(&app, "/-/ready", None).await.0, StatusCode::OK);
    assert_eq!(get(&app, "/nope", None).await.0, StatusCode::NOT_FOUND);
}
