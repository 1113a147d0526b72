//! The status page at `/`: "are my alerts getting through?" first (each
//! receiver's last delivery and last failure in plain words), then the alerts as
//! routed, the silences, and the running config. Server-rendered from the same
//! in-process state the API serves; it owns only the transcripts of the last
//! "send test" per receiver. Forms POST and redirect back (303); a POST whose
//! Origin (or Referer) is not this host is refused, so another site cannot make a
//! visitor's browser create or expire silences.
//!
//! [`gather`] collects a [`View`] (plain owned values), [`view`] renders it, so
//! the markup never touches locks and the render can be measured alone.

mod view;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};

use super::Api;
use super::alerts::alert_status;
use super::params::{Params, filter_matches};
use crate::labels::{Fingerprint, LabelSet, Matcher, parse_matchers};
use crate::notify::Reason;
use crate::notify::email::ResolvedEmail;
use crate::silence::{PostableMatcher, PostableSilence, SilenceState};
use crate::sync;

/// What the page needs beyond the API's state: where things live, and the last
/// "send test" transcript per receiver.
#[derive(Default)]
pub struct PageState {
    /// The config file the daemon watches (none: the built-in config).
    pub config_file: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    /// `--web.external-url`: a form posted from there is same-origin too (a
    /// reverse proxy may rewrite the Host header).
    pub external_url: Option<url::Url>,
    tests: Mutex<BTreeMap<String, TestRun>>,
}

impl PageState {
    pub fn new(
        config_file: Option<PathBuf>,
        data_dir: Option<PathBuf>,
        external_url: Option<&str>,
    ) -> PageState {
        PageState {
            config_file,
            data_dir,
            external_url: external_url.and_then(|u| url::Url::parse(u).ok()),
            tests: Mutex::default(),
        }
    }
}

/// One "send test" of a receiver, as `alerter test` prints it.
#[derive(Clone, Debug)]
pub struct TestRun {
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub transcript: String,
}

/// Everything the page shows, collected under the locks once.
pub struct View {
    pub now: DateTime<Utc>,
    pub banners: Vec<String>,
    pub delivery: Vec<DeliveryRow>,
    pub receivers: Vec<String>,
    pub filter: AlertQuery,
    pub filter_error: Option<String>,
    pub groups: Vec<GroupRow>,
    pub alert_count: usize,
    pub silences: Vec<SilenceRow>,
    pub draft: SilenceDraft,
    pub preview: Option<Result<Vec<LabelSet>, String>>,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub tests: BTreeMap<String, TestRun>,
    pub me: SelfInfo,
}

pub struct DeliveryRow {
    pub receiver: String,
    /// `None`: the receiver has no integrations (its notifications go nowhere).
    pub integration: Option<String>,
    pub last_success: Option<(DateTime<Utc>, usize)>,
    pub failure: Option<FailureRow>,
    pub pending: u64,
    pub retrying: u64,
    /// Whether "send test" can run for it (email integrations).
    pub testable: bool,
}

pub struct FailureRow {
    pub since: DateTime<Utc>,
    pub reason: Reason,
    /// The likely cause in plain words.
    pub cause: String,
    pub message: String,
}

/// The alert filters, as GET parameters (so a view can be bookmarked).
#[derive(Clone, Debug, Default)]
pub struct AlertQuery {
    pub matchers: String,
    pub receiver: String,
    /// "", "firing" or "suppressed".
    pub state: String,
}

pub struct GroupRow {
    pub receiver: String,
    pub labels: LabelSet,
    pub alerts: Vec<AlertRow>,
}

pub struct AlertRow {
    pub labels: LabelSet,
    pub annotations: LabelSet,
    pub starts_at: DateTime<Utc>,
    pub silenced_by: Vec<String>,
    /// The inhibiting alerts' fingerprints, with their `alertname` when known.
    pub inhibited_by: Vec<(String, Option<String>)>,
}

pub struct SilenceRow {
    pub id: String,
    pub state: SilenceState,
    pub matchers: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: String,
    pub comment: String,
}

/// The silence form's fields, kept across a preview or a refused create.
#[derive(Clone, Debug)]
pub struct SilenceDraft {
    pub matchers: String,
    pub duration: String,
    pub created_by: String,
    pub comment: String,
}

pub struct SelfInfo {
    pub version: &'static str,
    pub hash: String,
    pub config_file: String,
    pub reload_at: DateTime<Utc>,
    pub reload_ok: bool,
    pub reload_error: Option<String>,
    pub last_success: Option<DateTime<Utc>>,
    pub warnings: Vec<String>,
    pub data_dir: String,
    /// The newest modification time of a file in the data directory.
    pub last_write: Option<DateTime<Utc>>,
    pub storage_errors: Vec<(String, u64)>,
    pub started: DateTime<Utc>,
}

fn param(p: &Params, key: &str) -> String {
    p.one(key).unwrap_or("").to_string()
}

/// The likely cause of a failure in plain words: the email diagnosis when the
/// integration is email, else what the reason means.
fn cause(reason: Reason, message: &str, email: Option<&ResolvedEmail>) -> String {
    if let Some(cfg) = email {
        let e = crate::notify::NotifyError {
            retryable: true,
            reason,
            message: message.to_string(),
        };
        let d = crate::notify::email::diagnose(&e, cfg);
        if d != "see the message above" {
            return d;
        }
    }
    match reason {
        Reason::Timeout => "the receiver did not answer in time".into(),
        Reason::ConnectionRefused => "nothing listens on that host and port".into(),
        Reason::Config => "the receiver's settings cannot be used (see the config warnings)".into(),
        Reason::Backlog => {
            "every send slot was busy: the receiver is slower than the alerts".into()
        }
        Reason::Http5xx => "the receiver answered with a server error (5xx)".into(),
        Reason::Http4xx => {
            "the receiver refused the request (4xx): check the URL and credentials".into()
        }
        Reason::UrlFile | Reason::CredentialsFile => {
            "a file named in the config cannot be read".into()
        }
        Reason::Template => "a notification template failed to render".into(),
        Reason::OAuth2Token => {
            "the OAuth2 token endpoint gave no token: check client_id, the secret and token_url"
                .into()
        }
        _ => format!("delivery failed ({reason})"),
    }
}

/// Collects what the page shows from the API's state.
pub fn gather(api: &Api, query: Option<&str>) -> View {
    let p = Params::parse(query);
    let rt = api.runtime();
    let now = api.clock.now();
    let stats = api.notify_stats.snapshot();
    let compiled = rt.compiled.clone();

    // Delivery: every receiver of the config, one row per integration kind.
    let mut delivery = Vec::new();
    for r in &rt.config.receivers {
        let mut kinds: Vec<&'static str> = compiled
            .as_ref()
            .and_then(|c| c.receivers.get(&r.name))
            .map(|is| is.iter().map(|i| i.notifier.integration()).collect())
            .unwrap_or_default();
        kinds.sort_unstable();
        kinds.dedup();
        if kinds.is_empty() {
            delivery.push(DeliveryRow {
                receiver: r.name.clone(),
                integration: None,
                last_success: None,
                failure: None,
                pending: 0,
                retrying: 0,
                testable: false,
            });
        }
        let email = compiled
            .as_ref()
            .and_then(|c| c.emails.get(&r.name))
            .and_then(|es| es.iter().find_map(|e| e.as_ref().ok()));
        for k in kinds {
            let key = (r.name.clone(), k.to_string());
            let flight = stats.in_flight.get(&key).copied().unwrap_or_default();
            delivery.push(DeliveryRow {
                receiver: r.name.clone(),
                integration: Some(k.to_string()),
                last_success: stats.last_success.get(&key).map(|s| (s.at, s.alerts)),
                failure: stats.failing.get(&key).map(|f| FailureRow {
                    since: f.since,
                    reason: f.reason,
                    cause: cause(f.reason, &f.message, email.filter(|_| k == "email")),
                    message: f.message.clone(),
                }),
                pending: flight.pending,
                retrying: flight.retrying,
                testable: k == "email",
            });
        }
    }

    // Banners: what needs a human now.
    let mut banners = Vec::new();
    for d in &delivery {
        if let (Some(f), Some(i)) = (&d.failure, &d.integration) {
            banners.push(format!(
                "Receiver {} ({i}) is failing: {}",
                d.receiver, f.cause
            ));
        }
    }
    let rs = api.reload_status();
    if !rs.success {
        banners.push(format!(
            "The last config reload failed; the previous config is still running: {}",
            rs.error.as_deref().unwrap_or("no reason recorded")
        ));
    }
    if let Some(path) = &api.page.config_file {
        match std::fs::read(path) {
            Ok(bytes) if crate::config::hash(&bytes) != rt.hash => banners.push(format!(
                "The config file {} differs from the running config (not reloaded yet, or it does not load)",
                path.display()
            )),
            Ok(_) => {}
            Err(e) => banners.push(format!(
                "The config file {} cannot be read: {e}",
                path.display()
            )),
        }
    }

    // Alerts as routed, filtered.
    let filter = AlertQuery {
        matchers: param(&p, "filter"),
        receiver: param(&p, "receiver"),
        state: param(&p, "state"),
    };
    let (matchers, filter_error) = match parse_matchers(&filter.matchers) {
        Ok(m) => (m.0, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let mut groups = Vec::new();
    let mut alert_count = 0;
    for g in rt.routes.groups() {
        if !filter.receiver.is_empty() && g.receiver != filter.receiver {
            continue;
        }
        let mut alerts: Vec<AlertRow> = g
            .alerts
            .iter()
            .filter(|a| a.ends_at >= now && filter_matches(&matchers, &a.labels))
            .filter_map(|a| {
                let st = alert_status(api, &rt, &a.labels, now);
                let keep = match filter.state.as_str() {
                    "firing" => st.state == "active",
                    "suppressed" => st.state == "suppressed",
                    _ => true,
                };
                keep.then(|| AlertRow {
                    labels: a.labels.clone(),
                    annotations: a.annotations.clone(),
                    starts_at: a.starts_at,
                    silenced_by: st.silenced_by,
                    inhibited_by: st
                        .inhibited_by
                        .into_iter()
                        .map(|fp| {
                            let name = u64::from_str_radix(&fp, 16)
                                .ok()
                                .and_then(|n| api.alerts.get(Fingerprint(n)))
                                .and_then(|a| a.labels.get("alertname").cloned());
                            (fp, name)
                        })
                        .collect(),
                })
            })
            .collect();
        if alerts.is_empty() {
            continue;
        }
        alerts.sort_by(|a, b| a.labels.cmp(&b.labels));
        alert_count += alerts.len();
        groups.push(GroupRow {
            receiver: g.receiver,
            labels: g.labels,
            alerts,
        });
    }
    groups.sort_by(|a, b| {
        a.receiver
            .cmp(&b.receiver)
            .then_with(|| a.labels.cmp(&b.labels))
    });

    // Silences: the store's order (active, pending, expired).
    let silences = api
        .silences
        .list()
        .into_iter()
        .map(|s| SilenceRow {
            state: s.state(now),
            matchers: s
                .matchers
                .iter()
                .map(|m| format!("{}{}{:?}", m.name, m.match_type().as_str(), m.value))
                .collect::<Vec<_>>()
                .join(", "),
            id: s.id,
            starts_at: s.starts_at,
            ends_at: s.ends_at,
            created_by: s.created_by,
            comment: s.comment,
        })
        .collect();

    let draft = SilenceDraft {
        matchers: param(&p, "s_matchers"),
        duration: p.one("s_duration").unwrap_or("2h").to_string(),
        created_by: param(&p, "s_created_by"),
        comment: param(&p, "s_comment"),
    };
    let preview = p.one("preview").map(|_| {
        let ms = silence_matchers(&draft.matchers)?;
        Ok(api
            .alerts
            .list()
            .iter()
            .filter(|a| a.ends_at >= now && ms.iter().all(|m| m.matches(&a.labels)))
            .map(|a| a.labels.clone())
            .collect())
    });

    let me = SelfInfo {
        version: env!("CARGO_PKG_VERSION"),
        hash: rt.hash.clone(),
        config_file: api.page.config_file.as_ref().map_or_else(
            || "built-in default config".to_string(),
            |p| p.display().to_string(),
        ),
        reload_at: rs.at,
        reload_ok: rs.success,
        reload_error: rs.error,
        last_success: rs.last_success,
        warnings: rt.warnings.clone(),
        data_dir: api
            .page
            .data_dir
            .as_ref()
            .map_or_else(String::new, |d| d.display().to_string()),
        last_write: api.page.data_dir.as_ref().and_then(|d| last_write(d)),
        storage_errors: (api.storage_errors)(),
        started: api.started,
    };

    View {
        now,
        banners,
        delivery,
        receivers: rt.config.receivers.iter().map(|r| r.name.clone()).collect(),
        filter,
        filter_error,
        groups,
        alert_count,
        silences,
        draft,
        preview,
        notice: p.one("notice").map(str::to_string),
        error: p.one("error").map(str::to_string),
        tests: sync::lock(&api.page.tests).clone(),
        me,
    }
}

fn last_write(dir: &std::path::Path) -> Option<DateTime<Utc>> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok()?.metadata().ok()?.modified().ok())
        .max()
        .map(DateTime::<Utc>::from)
}

/// A silence needs at least one matcher, and one that does not match the empty
/// string (Alertmanager refuses the others too).
fn silence_matchers(s: &str) -> Result<Vec<Matcher>, String> {
    let ms = parse_matchers(s)?.0;
    if ms.is_empty() {
        return Err("give at least one matcher, e.g. alertname=\"HostDown\"".into());
    }
    Ok(ms)
}

/// `GET /`.
pub async fn page(State(api): State<Arc<Api>>, RawQuery(q): RawQuery) -> Response {
    let started = std::time::Instant::now();
    let v = gather(&api, q.as_deref());
    let html = view::render(&v);
    let took = started.elapsed().as_secs_f64() * 1000.0;
    let mut resp = Html(html).into_response();
    // Server-side time, read by the benchmark (bench/status_page.sh).
    if let Ok(h) = HeaderValue::from_str(&format!("render;dur={took:.3}")) {
        resp.headers_mut().insert("server-timing", h);
    }
    resp
}

/// `GET /status.css`.
pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        view::STYLE,
    )
}

/// The form fields of a POST.
fn form(body: &[u8]) -> Params {
    Params::parse(std::str::from_utf8(body).ok())
}

/// Same-origin check for a POST: the Origin header (or, without one, the
/// Referer) must name the host the request was sent to, or the external URL's.
fn same_origin(headers: &HeaderMap, external: Option<&url::Url>) -> bool {
    let Some(from) = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|h| h.to_str().ok())
        .and_then(|s| url::Url::parse(s).ok())
    else {
        return false;
    };
    if external.is_some_and(|e| e.origin() == from.origin()) {
        return true;
    }
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let port = from.port().map(|p| format!(":{p}")).unwrap_or_default();
    from.host_str()
        .is_some_and(|h| format!("{h}{port}").eq_ignore_ascii_case(host))
}

/// 303 back to the page, with `extra` query pairs (a notice, an error, the draft).
fn back(extra: &[(&str, &str)]) -> Response {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in extra {
        q.append_pair(k, v);
    }
    let q = q.finish();
    // Relative (every form posts to `<page>/x/y`): right under any route prefix
    // or reverse proxy path.
    let loc = if q.is_empty() {
        "../".to_string()
    } else {
        format!("../?{q}")
    };
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(&loc) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        "cross-origin form post refused: the Origin or Referer header must name this host",
    )
        .into_response()
}

/// `POST /silences/new`: creates a silence from the form, or goes back with the
/// error and the draft kept.
pub async fn create_silence(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !same_origin(&headers, api.page.external_url.as_ref()) {
        return forbidden();
    }
    let f = form(&body);
    let matchers = param(&f, "s_matchers");
    let duration = param(&f, "s_duration");
    let created_by = param(&f, "s_created_by");
    let comment = param(&f, "s_comment");
    let draft = [
        ("s_matchers", matchers.as_str()),
        ("s_duration", duration.as_str()),
        ("s_created_by", created_by.as_str()),
        ("s_comment", comment.as_str()),
    ];
    let refuse = |e: String| {
        let mut q = draft.to_vec();
        q.push(("error", &e));
        back(&q)
    };
    let ms = match silence_matchers(&matchers) {
        Ok(m) => m,
        Err(e) => return refuse(format!("matchers: {e}")),
    };
    let d = match duration.parse::<config_values::Duration>() {
        Ok(d) if !d.as_std().is_zero() => d.as_std(),
        Ok(_) => return refuse("duration: must be more than 0".into()),
        Err(e) => return refuse(format!("duration: {e} (e.g. 2h, 30m, 1d)")),
    };
    let now = api.clock.now();
    let ends = now + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
    let p = PostableSilence {
        id: None,
        matchers: Some(
            ms.iter()
                .map(|m| PostableMatcher {
                    name: Some(m.name.clone()),
                    value: Some(m.value.clone()),
                    is_regex: Some(m.is_regex()),
                    is_equal: Some(m.is_equal()),
                })
                .collect(),
        ),
        starts_at: Some(now),
        ends_at: Some(ends),
        created_by: Some(created_by.clone()),
        comment: Some(comment.clone()),
    };
    match api.silences.set(p) {
        Ok(id) => back(&[("notice", &format!("Silence {id} created"))]),
        Err(e) => refuse(e.to_string()),
    }
}

/// `POST /silences/expire`: expires the silence named by the `id` field.
pub async fn expire_silence(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !same_origin(&headers, api.page.external_url.as_ref()) {
        return forbidden();
    }
    let id = param(&form(&body), "id");
    match api.silences.expire(&id) {
        Ok(()) => back(&[("notice", &format!("Silence {id} expired"))]),
        Err(e) => back(&[("error", &format!("silence {id}: {e}"))]),
    }
}

/// `POST /receivers/test`: the `alerter test` path for the receiver named by the
/// `receiver` field; the transcript is kept and shown on the page.
pub async fn test_receiver(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !same_origin(&headers, api.page.external_url.as_ref()) {
        return forbidden();
    }
    let name = param(&form(&body), "receiver");
    let Some(compiled) = api.runtime().compiled.clone() else {
        return back(&[("error", "no config is running yet")]);
    };
    let mut out = Vec::new();
    let r = crate::selftest::run_receiver(&compiled, Some(&name), &mut out).await;
    let mut transcript = String::from_utf8_lossy(&out).into_owned();
    if let Err(e) = &r {
        transcript.push_str(&format!("alerter test: {e}\n"));
    }
    sync::lock(&api.page.tests).insert(
        name.clone(),
        TestRun {
            at: api.clock.now(),
            ok: r.is_ok(),
            transcript,
        },
    );
    let what = if r.is_ok() { "delivered" } else { "failed" };
    back(&[("notice", &format!("Test of receiver {name}: {what}"))])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn same_origin_by_host_or_external_url() {
        let ext = url::Url::parse("https://example.org/alerter/").ok();
        let cases: &[(&[(&str, &str)], bool)] = &[
            (
                &[
                    ("host", "127.0.0.1:9093"),
                    ("origin", "http://127.0.0.1:9093"),
                ],
                true,
            ),
            (
                &[
                    ("host", "127.0.0.1:9093"),
                    ("referer", "http://127.0.0.1:9093/x/?a=1"),
                ],
                true,
            ),
            // Behind a proxy that rewrites Host: the external URL's origin.
            (
                &[
                    ("host", "127.0.0.1:9093"),
                    ("origin", "https://example.org"),
                ],
                true,
            ),
            (
                &[
                    ("host", "127.0.0.1:9093"),
                    ("origin", "https://evil.example"),
                ],
                false,
            ),
            (
                &[
                    ("host", "127.0.0.1:9093"),
                    ("origin", "http://127.0.0.1:9094"),
                ],
                false,
            ),
            (&[("host", "127.0.0.1:9093")], false),
            (&[("host", "127.0.0.1:9093"), ("origin", "null")], false),
        ];
        for (h, want) in cases {
            assert_eq!(same_origin(&headers(h), ext.as_ref()), *want, "{h:?}");
        }
    }
}
