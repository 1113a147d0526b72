//! The HTTP surface: the telemetry path (default `/metrics`), `/-/healthy`,
//! `/-/ready` and a landing page listing every collector, whether it is enabled, and
//! its last result. Content negotiation lives in [`crate::exposition`].
//!
//! At most `--web.max-requests` scrapes of the telemetry path run at once; more are
//! answered 503 at once, as node_exporter's promhttp handler does, so a scrape storm
//! costs a bounded amount of memory (each scrape in flight holds its whole output).

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::UNIX_EPOCH;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::collector;
use crate::config::Config;
use crate::exposition::Format;
use crate::scrape::Scraper;

/// What every handler can see.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub scraper: Arc<Scraper>,
    /// The configured Redis targets, for redis_exporter's `/scrape?target=`.
    pub redis: Arc<collector::redis::Redis>,
    pub limit: Arc<RequestLimit>,
}

impl AppState {
    pub fn new(config: Arc<Config>, scraper: Arc<Scraper>) -> Self {
        let redis = Arc::new(collector::redis::Redis::new(&config.redis));
        let limit = Arc::new(RequestLimit::new(config.max_requests));
        Self {
            config,
            scraper,
            redis,
            limit,
        }
    }
}

/// `--web.max-requests`: scrapes in flight, and how scrapes were answered, under
/// promhttp's names (`promhttp_metric_handler_requests_in_flight`,
/// `promhttp_metric_handler_requests_total{code}`), which node_exporter exports.
pub struct RequestLimit {
    /// `None`: no limit (0).
    slots: Option<Arc<tokio::sync::Semaphore>>,
    max: usize,
    in_flight: AtomicU64,
    ok: AtomicU64,
    limited: AtomicU64,
}

/// One scrape in flight; counted out when dropped (also when the client goes away).
pub struct InFlight<'a> {
    limit: &'a RequestLimit,
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.limit.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl RequestLimit {
    pub fn new(max: usize) -> Self {
        Self {
            slots: (max > 0).then(|| Arc::new(tokio::sync::Semaphore::new(max))),
            max,
            in_flight: AtomicU64::new(0),
            ok: AtomicU64::new(0),
            limited: AtomicU64::new(0),
        }
    }

    /// A slot for one scrape, or `None` (counted) when all are taken.
    pub fn begin(&self) -> Option<InFlight<'_>> {
        let permit = match &self.slots {
            None => None,
            Some(s) => {
                let Ok(p) = s.clone().try_acquire_owned() else {
                    self.limited.fetch_add(1, Ordering::Relaxed);
                    return None;
                };
                Some(p)
            }
        };
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Some(InFlight {
            limit: self,
            _permit: permit,
        })
    }

    /// The two promhttp families, as they stand before this scrape is answered.
    #[allow(clippy::cast_precision_loss)]
    pub fn families(&self) -> Vec<crate::metrics::Family> {
        let mut in_flight = crate::metrics::Family::gauge(
            "promhttp_metric_handler_requests_in_flight",
            "Current number of scrapes being served.",
        );
        in_flight.push(
            std::iter::empty::<(&str, &str)>(),
            self.in_flight.load(Ordering::Relaxed) as f64,
        );
        let mut total = crate::metrics::Family::counter(
            "promhttp_metric_handler_requests_total",
            "Total number of scrapes by HTTP status code (503: over --web.max-requests).",
        );
        total.push([("code", "200")], self.ok.load(Ordering::Relaxed) as f64);
        total.push([("code", "500")], 0.0);
        total.push(
            [("code", "503")],
            self.limited.load(Ordering::Relaxed) as f64,
        );
        vec![in_flight, total]
    }
}

/// The whole router; tests drive it with `tower::ServiceExt::oneshot`.
pub fn router(state: AppState) -> Router {
    let telemetry = state.config.telemetry_path.clone();
    Router::new()
        .route(&telemetry, get(metrics))
        .route("/scrape", get(scrape_target))
        .route("/probe", get(probe_target))
        .route("/-/healthy", get(|| async { "OK\n" }))
        .route("/-/ready", get(|| async { "OK\n" }))
        .route("/", get(landing))
        .with_state(state)
}

async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(_slot) = state.limit.begin() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "too many scrapes at once: {} already in flight (--web.max-requests); try again later\n",
                state.limit.max
            ),
        )
            .into_response();
    };
    let format = Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let body = state
        .scraper
        .scrape_with(format, state.limit.families())
        .await;
    state.limit.ok.fetch_add(1, Ordering::Relaxed);
    metrics_response(body, format)
}

#[derive(serde::Deserialize)]
struct TargetQuery {
    target: Option<String>,
}

/// redis_exporter's multi-target form: `/scrape?target=redis://host:port` scrapes that
/// one Redis. Only configured targets unless `--redis.scrape-any-target`; then any
/// other address is scraped without credentials, so a caller cannot have our password
/// sent to a host of its choosing (redis_exporter #1104), and its errors say only
/// "could not scrape target".
async fn scrape_target(
    State(state): State<AppState>,
    Query(q): Query<TargetQuery>,
    headers: HeaderMap,
) -> Response {
    let Some(target) = q.target.filter(|t| !t.is_empty()) else {
        return (
            StatusCode::BAD_REQUEST,
            "missing ?target=redis://host:port\n",
        )
            .into_response();
    };
    if !state.config.redis.scrape_any_target && state.redis.client_for(&target).is_none() {
        return (
            StatusCode::FORBIDDEN,
            "could not scrape target: only configured Redis targets can be scraped (--redis.scrape-any-target allows any)\n",
        )
            .into_response();
    }
    let collector = match state.redis.for_target(&target, &state.config.redis) {
        Ok(c) => c,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    let format = Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let collectors: Vec<Arc<dyn collector::Collector>> = vec![Arc::new(collector)];
    let body = crate::scrape::render(&collectors, state.config.collector_timeout, format).await;
    metrics_response(body, format)
}

#[derive(serde::Deserialize)]
struct ProbeQuery {
    target: Option<String>,
    module: Option<String>,
}

/// blackbox_exporter's `/probe?target=&module=`, for probes of the config file only:
/// anything else is a 400, so the exporter cannot be made to reach other hosts.
async fn probe_target(
    State(state): State<AppState>,
    Query(q): Query<ProbeQuery>,
    headers: HeaderMap,
) -> Response {
    let target = q.target.unwrap_or_default();
    let probe = match state
        .config
        .probes
        .for_request(&target, q.module.as_deref())
    {
        Ok(p) => p,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    // Prometheus says how long it waits; blackbox_exporter ends the probe before that.
    let budget = headers
        .get("x-prometheus-scrape-timeout-seconds")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<f64>().ok())
        .and_then(|s| std::time::Duration::try_from_secs_f64(s).ok());
    let families = collector::probes::run_one(probe, budget).await;
    let format = Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    metrics_response(crate::exposition::encode(families, format), format)
}

/// A 200 response carrying an encoded exposition with its content type.
pub fn metrics_response(body: String, format: Format) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        )],
        body,
    )
        .into_response()
}

async fn landing(State(state): State<AppState>) -> Html<String> {
    let status = state.scraper.status();
    let path = html_escape(&state.config.telemetry_path);
    let mut page = String::with_capacity(4096);
    let _ = write!(
        page,
        "<!DOCTYPE html><html><head><title>exporter</title></head><body>\
         <h1>exporter {}</h1><p><a href=\"{path}\">Metrics</a></p>\
         <table border=\"1\" cellpadding=\"4\"><tr><th>collector</th><th>enabled</th>\
         <th>last result</th><th>duration</th><th>error</th></tr>",
        env!("CARGO_PKG_VERSION")
    );
    // Every listed collector, then any running collector that is not in the list.
    let listed = collector::LIST
        .iter()
        .map(|e| (e.name, e.help, state.config.enabled(e.name)));
    let extra = status
        .keys()
        .filter(|n| collector::find(n).is_none())
        .map(|n| (*n, "", true));
    for (name, help, enabled) in listed.chain(extra) {
        let (result, duration, error) = match status.get(name) {
            Some(s) if s.last.is_some() => (
                if s.error.is_none() { "ok" } else { "failed" },
                format!("{:.3}s", s.duration.as_secs_f64()),
                s.error.clone().unwrap_or_default(),
            ),
            _ if enabled => ("not scraped yet", String::new(), String::new()),
            _ => ("-", String::new(), String::new()),
        };
        let when = status
            .get(name)
            .and_then(|s| s.last)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| format!(" (at {})", d.as_secs()))
            .unwrap_or_default();
        let _ = write!(
            page,
            "<tr><td title=\"{}\">{}</td><td>{}</td><td>{result}{when}</td><td>{duration}</td><td>{}</td></tr>",
            html_escape(help),
            name,
            if enabled { "yes" } else { "no" },
            html_escape(&error),
        );
    }
    page.push_str("</table></body></html>\n");
    Html(page)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_limit_turns_away_beyond_max_and_counts() {
        let limit = RequestLimit::new(2);
        let a = limit.begin().expect("first slot");
        let b = limit.begin().expect("second slot");
        assert!(
            limit.begin().is_none(),
            "a third scrape at once is turned away"
        );
        assert_eq!(limit.limited.load(Ordering::Relaxed), 1);
        assert_eq!(limit.in_flight.load(Ordering::Relaxed), 2);
        drop(a);
        assert!(limit.begin().is_some(), "a freed slot is taken again");
        drop(b);
        assert_eq!(limit.in_flight.load(Ordering::Relaxed), 0);
        // 0: no limit.
        let open = RequestLimit::new(0);
        let held: Vec<_> = (0..100).map(|_| open.begin()).collect();
        assert!(held.iter().all(Option::is_some));
        assert_eq!(open.limited.load(Ordering::Relaxed), 0);
    }
}
