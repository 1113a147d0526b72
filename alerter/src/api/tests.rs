//! The router driven with `oneshot`, against the real Alertmanager 0.25 responses
//! in ../shared/specs/alertmanager-api-samples (same inputs, same JSON out).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

use super::*;
use crate::labels::{Fingerprint, parse_matchers};

/// Everything to one receiver, grouped by alertname (the samples' config).
struct FakeRoutes {
    alerts: Arc<Alerts>,
}

impl RouteView for FakeRoutes {
    fn receivers(&self, _: &LabelSet) -> Vec<String> {
        vec!["admin-email".into()]
    }
    fn groups(&self) -> Vec<GroupView> {
        let mut by: std::collections::BTreeMap<String, Vec<Arc<Alert>>> = Default::default();
        for a in self.alerts.list() {
            by.entry(a.labels["alertname"].clone()).or_default().push(a);
        }
        by.into_iter()
            .map(|(name, alerts)| GroupView {
                receiver: "admin-email".into(),
                labels: [("alertname".to_string(), name)].into(),
                alerts,
            })
            .collect()
    }
}

/// The samples' inhibit rule: HostDown inhibits severity="warning" on the same instance.
struct FakeInhibitor {
    alerts: Arc<Alerts>,
}

impl Muter for FakeInhibitor {
    fn muted_by(&self, labels: &LabelSet, now: DateTime<Utc>) -> Vec<String> {
        if labels.get("severity").map(String::as_str) != Some("warning") {
            return vec![];
        }
        self.alerts
            .list()
            .iter()
            .filter(|a| {
                a.labels["alertname"] == "HostDown"
                    && !a.resolved_at(now)
                    && a.labels.get("instance") == labels.get("instance")
            })
            .map(|a| a.fingerprint().to_string())
            .collect()
    }
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

const CONFIG: &str = "route:\n  receiver: admin-email\n  group_by: [alertname]\nreceivers:\n  - name: admin-email\n  - name: blackhole\n";

fn api_at(now: &str) -> Arc<Api> {
    let clock = Clock::following_tokio(at(now));
    let alerts = Arc::new(Alerts::new(clock));
    let cfg = crate::config::compile_str(CONFIG, "test.yml").unwrap_or_else(|e| panic!("{e}"));
    let rt = Runtime::new(
        cfg.config,
        cfg.resolve_timeout,
        "ab".repeat(32),
        Arc::new(FakeRoutes {
            alerts: alerts.clone(),
        }),
        Arc::new(FakeInhibitor {
            alerts: alerts.clone(),
        }),
        vec![],
    );
    Arc::new(Api {
        clock,
        alerts,
        silences: Arc::new(Silences::new(clock, std::time::Duration::from_secs(3600))),
        runtime: RwLock::new(Arc::new(rt)),
        reload_status: RwLock::new(ReloadStatus {
            at: at(now),
            success: true,
            error: None,
            last_success: Some(at(now)),
        }),
        metrics: Arc::new(Metrics::new(Default::default())),
        reload: None,
        started: at("2026-11-22T08:25:38.112Z"),
        storage_errors: Box::new(Vec::new),
        notify_stats: Default::default(),
        page: Default::default(),
        ruler: Default::default(),
    })
}

async fn call(api: &Arc<Api>, method: &str, uri: &str, body: &str) -> (StatusCode, String) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = router(api.clone(), "").oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn sample(name: &str) -> Option<serde_json::Value> {
    let p = e2e::shared_dir()?
        .join("specs/alertmanager-api-samples")
        .join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    Some(serde_json::from_str(&text).unwrap())
}

const NOW: &str = "2026-11-22T08:25:38.196Z";

/// The three alerts and the silence the samples were captured with.
async fn load_samples(api: &Arc<Api>) -> String {
    let body = r#"[
      {"labels":{"alertname":"HostDown","instance":"vps1","severity":"critical"},
       "annotations":{"summary":"vps1 down"},"generatorURL":"http://127.0.0.1:9090/graph",
       "startsAt":"2026-11-22T08:15:38.196Z","endsAt":"2026-11-22T08:30:38.196Z"},
      {"labels":{"alertname":"DiskFull","instance":"vps1","severity":"warning"},
       "startsAt":"2026-11-22T08:25:38.196Z","endsAt":"2026-11-22T08:30:38.196Z"},
      {"labels":{"alertname":"CeleryQueueLong","instance":"vps1","queue":"default","severity":"warning","empty":""},
       "startsAt":"2026-11-22T08:25:38.196Z","endsAt":"2026-11-22T08:30:38.196Z"}
    ]"#;
    assert_eq!(
        call(api, "POST", "/api/v2/alerts", body).await.0,
        StatusCode::OK
    );
    let sil = r#"{"matchers":[{"name":"alertname","value":"Celery.*","isRegex":true}],
      "startsAt":"2026-11-22T08:25:38.196Z","endsAt":"2026-11-22T10:25:38.196Z",
      "createdBy":"admin","comment":"deploying workers"}"#;
    let (st, body) = call(api, "POST", "/api/v2/silences", sil).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let got: serde_json::Value = serde_json::from_str(&body).unwrap();
    let id = got["silenceID"].as_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{body}");
    id
}

/// The samples' silence id in place of ours (a fresh UUID each run).
const SAMPLE_ID: &str = "264fc00f-d06c-4903-83ae-a350d504647c";

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

#[tokio::test(start_paused = true)]
async fn alerts_and_groups_match_alertmanager() {
    let api = api_at(NOW);
    let id = load_samples(&api).await;
    let (st, body) = call(&api, "GET", "/api/v2/alerts", "").await;
    let body = body.replace(&id, SAMPLE_ID);
    assert_eq!(st, StatusCode::OK);
    if let Some(want) = sample("alerts.json") {
        assert_eq!(json(&body), want, "{body}");
    }
    let want = sample("alerts_filtered.json");
    for q in [
        "filter=severity%3D%22critical%22",
        "silenced=false&inhibited=false",
        "filter=alertname%3D~%22Host.%2A%22&receiver=admin-.%2A",
    ] {
        let (st, body) = call(&api, "GET", &format!("/api/v2/alerts?{q}"), "").await;
        assert_eq!(st, StatusCode::OK, "{q}: {body}");
        if let Some(want) = &want {
            assert_eq!(&json(&body), want, "{q}");
        }
    }
    let (_, body) = call(&api, "GET", "/api/v2/alerts?active=false", "").await;
    assert_eq!(json(&body).as_array().unwrap().len(), 2);
    let (_, body) = call(&api, "GET", "/api/v2/alerts?receiver=blackhole", "").await;
    assert_eq!(json(&body), serde_json::json!([]));
    let (st, body) = call(&api, "GET", "/api/v2/alerts/groups", "").await;
    let body = body.replace(&id, SAMPLE_ID);
    assert_eq!(st, StatusCode::OK);
    if let Some(want) = sample("alert_groups.json") {
        assert_eq!(json(&body), want, "{body}");
    }
    let (st, body) = call(&api, "GET", "/api/v2/silences", "").await;
    assert_eq!(st, StatusCode::OK);
    let mut got = json(&body.replace(&id, SAMPLE_ID));
    // Ours starts the silence at the request time (Alertmanager's was 1 ms later).
    got[0]["startsAt"] = "2026-11-22T08:25:38.197Z".into();
    got[0]["updatedAt"] = "2026-11-22T08:25:38.197Z".into();
    if let Some(want) = sample("silences.json") {
        assert_eq!(got, want);
    }
}

#[tokio::test(start_paused = true)]
async fn at13_invalid_alert_is_reported_and_valid_one_stored() {
    let api = api_at(NOW);
    let body = r#"[
      {"labels":{"alertname":"Y"}},
      {"labels":{"alertname":"Z"},"startsAt":"2026-11-22T09:00:00Z","endsAt":"2026-11-22T08:00:00Z"}
    ]"#;
    let (st, text) = call(&api, "POST", "/api/v2/alerts", body).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(text, "\"start time must be before end time\"");
    let stored = api.alerts.list();
    assert_eq!(stored.len(), 1);
    let y = &stored[0];
    assert_eq!(y.labels["alertname"], "Y");
    // No times given: starts now, ends after resolve_timeout (5m), as a timeout.
    assert_eq!(y.starts_at, at(NOW));
    assert_eq!(y.ends_at, at(NOW) + chrono::Duration::minutes(5));
    assert!(y.timeout);
    let (_, m) = call(&api, "GET", "/metrics", "").await;
    assert!(
        m.contains("alertmanager_alerts_invalid_total{version=\"v2\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("alertmanager_alerts_received_total{status=\"firing\",version=\"v2\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("alertmanager_alerts_received_total{status=\"resolved\",version=\"v2\"} 1"),
        "{m}"
    );
    assert!(m.contains("alertmanager_alerts{state=\"active\"} 1"), "{m}");

    // Only an end: the start is the end; both errors are joined.
    let body = r#"[{"labels":{"alertname":"E"},"endsAt":"2026-11-22T08:00:00Z"},
      {"labels":{"bad-name":"x"}}, {"labels":{"only":""}}]"#;
    let (st, text) = call(&api, "POST", "/api/v2/alerts", body).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(
        text,
        "\"invalid label set: invalid name \\\"bad-name\\\"; at least one label pair required\""
    );
    let e = api
        .alerts
        .get(Fingerprint::of(
            &[("alertname".to_string(), "E".to_string())].into(),
        ))
        .unwrap();
    assert_eq!(e.starts_at, e.ends_at);
}

#[tokio::test(start_paused = true)]
async fn bad_bodies_name_the_problem() {
    let api = api_at(NOW);
    let (st, text) = call(&api, "POST", "/api/v2/alerts", "[{\"labels\": {]").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(text.contains("line 1 column"), "{text}");
    let (st, text) = call(
        &api,
        "POST",
        "/api/v2/alerts",
        r#"[{"labels":{"a":"b"}},{"labels":{"a":"b"},"startsAt":"yesterday"}]"#,
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(text.contains("[1].startsAt"), "{text}");
    let (st, text) = call(&api, "POST", "/api/v2/alerts", r#"[{"labels":{"a":5}}]"#).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(text.contains("[0].labels"), "{text}");
    let (st, text) = call(&api, "POST", "/api/v2/alerts", r#"[{"annotations":{}}]"#).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text.contains("labels in body is required"), "{text}");
    // Nothing was stored by the failed posts except the valid first batch member? No:
    // a parse error rejects the whole body, as go-swagger does.
    assert!(api.alerts.is_empty());
    let big = format!("[{}]", "{\"labels\":{\"a\":\"b\"}},".repeat(MAX_BODY / 20));
    let (st, _) = call(&api, "POST", "/api/v2/alerts", &big).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    let (st, text) = call(&api, "GET", "/api/v2/alerts?filter=%7Bbad", "").await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{text}");
    let (st, text) = call(&api, "GET", "/api/v2/alerts?active=maybe", "").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(
        text.contains("active in query must be of type bool"),
        "{text}"
    );
    let (st, text) = call(&api, "GET", "/api/v2/alerts?receiver=%28", "").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(text.contains("failed to parse receiver param"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn silences_lifecycle() {
    let api = api_at(NOW);
    let id = load_samples(&api).await;
    let (st, body) = call(&api, "GET", &format!("/api/v2/silence/{id}"), "").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(json(&body)["status"]["state"], "active");
    assert_eq!(json(&body)["matchers"][0]["isEqual"], true);
    tokio::time::advance(std::time::Duration::from_millis(1508)).await;
    let (st, body) = call(&api, "DELETE", &format!("/api/v2/silence/{id}"), "").await;
    assert_eq!((st, body.as_str()), (StatusCode::OK, ""));
    let (_, body) = call(&api, "GET", &format!("/api/v2/silence/{id}"), "").await;
    let got = json(&body);
    assert_eq!(got["status"]["state"], "expired");
    assert_eq!(got["endsAt"], "2026-11-22T08:25:39.704Z");
    let missing = "00000000-0000-0000-0000-000000000000";
    let (st, body) = call(&api, "DELETE", &format!("/api/v2/silence/{missing}"), "").await;
    assert_eq!((st, body.as_str()), (StatusCode::NOT_FOUND, ""));
    let (st, _) = call(&api, "GET", "/api/v2/silence/not-a-uuid", "").await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);

    let post = |m: &str, start: &str, end: &str| {
        format!(
            r#"{{"matchers":[{m}],"startsAt":"{start}","endsAt":"{end}","createdBy":"a","comment":"c"}}"#
        )
    };
    let any = r#"{"name":"alertname","value":".*","isRegex":true}"#;
    let (st, body) = call(
        &api,
        "POST",
        "/api/v2/silences",
        &post(any, NOW, "2026-11-22T10:00:00Z"),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    if let Some(want) = sample("post_silence_invalid.json") {
        assert_eq!(json(&body), want);
    }
    let m = r#"{"name":"a","value":"b","isRegex":false}"#;
    let (st, body) = call(
        &api,
        "POST",
        "/api/v2/silences",
        &post(m, NOW, "2026-11-22T08:00:00Z"),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        "\"Failed to create silence: start time must be before end time\""
    );
    let (st, body) = call(
        &api,
        "POST",
        "/api/v2/silences",
        &post(m, "2026-11-22T07:00:00Z", "2026-11-22T08:00:00Z"),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        "\"Failed to create silence: end time can't be in the past\""
    );
    let bad_re = r#"{"name":"a","value":"(","isRegex":true}"#;
    let (st, body) = call(
        &api,
        "POST",
        "/api/v2/silences",
        &post(bad_re, NOW, "2026-11-22T10:00:00Z"),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(body.contains("invalid label matcher 0"), "{body}");
    // Silence filters match matchers verbatim.
    let (_, body) = call(
        &api,
        "GET",
        "/api/v2/silences?filter=alertname%3D~%22Celery.%2A%22",
        "",
    )
    .await;
    assert_eq!(json(&body).as_array().unwrap().len(), 1);
    let (_, body) = call(
        &api,
        "GET",
        "/api/v2/silences?filter=alertname%3D%22Celery.%2A%22",
        "",
    )
    .await;
    assert_eq!(json(&body).as_array().unwrap().len(), 0);
}

#[tokio::test(start_paused = true)]
async fn status_receivers_health() {
    let api = api_at(NOW);
    let (st, body) = call(&api, "GET", "/api/v2/status", "").await;
    assert_eq!(st, StatusCode::OK);
    let got = json(&body);
    if let Some(want) = sample("status.json") {
        for key in ["cluster", "uptime"] {
            assert_eq!(got[key], want[key], "{key}");
        }
        for key in want["versionInfo"].as_object().unwrap().keys() {
            assert!(got["versionInfo"][key].is_string(), "versionInfo.{key}");
        }
    }
    let original = got["config"]["original"].as_str().unwrap();
    assert!(original.contains("receiver: admin-email"), "{original}");
    assert!(!original.contains("null"), "{original}");
    assert_eq!(got["config"]["lastReloadSuccessful"], true);
    assert_eq!(got["config"]["hash"], "ab".repeat(32));
    let (_, body) = call(&api, "GET", "/api/v2/receivers", "").await;
    if let Some(want) = sample("receivers.json") {
        assert_eq!(json(&body), want);
    }
    for path in ["/-/healthy", "/-/ready"] {
        assert_eq!(
            call(&api, "GET", path, "").await,
            (StatusCode::OK, "OK".into())
        );
    }
    assert_eq!(
        call(&api, "GET", "/-/reload", "").await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    let (st, body) = call(&api, "POST", "/-/reload", "").await;
    assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.starts_with("failed to reload config: "), "{body}");
}

#[test]
fn shown_config_redacts_secrets() {
    let cfg = crate::config::parse(
        "global:\n  smtp_auth_password: hunter2\nroute:\n  receiver: r\nreceivers:\n  - name: r\n    email_configs:\n      - to: a@b.c\n        auth_password: swordfish\n    webhook_configs:\n      - url: http://user:pw@hook/\n",
        "t.yml",
    )
    .unwrap();
    let shown = shown_config(&cfg);
    for secret in ["hunter2", "swordfish", "user:pw"] {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert!(shown.contains("<secret>"), "{shown}");
    let _ = parse_matchers("{a=\"b\"}").unwrap();
}

/// A form POST as a browser sends it, with `origin` as its Origin header.
async fn post_form(
    api: &Arc<Api>,
    uri: &str,
    origin: Option<&str>,
    form: &[(&str, &str)],
) -> (StatusCode, Option<String>) {
    let mut body = url::form_urlencoded::Serializer::new(String::new());
    body.extend_pairs(form);
    let mut req = Request::builder()
        .method("POST")
        .uri(uri)
        .header("host", "alerter.example:9093")
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    let resp = router(api.clone(), "")
        .oneshot(req.body(Body::from(body.finish())).unwrap())
        .await
        .unwrap();
    let loc = resp
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string());
    (resp.status(), loc)
}

#[tokio::test(start_paused = true)]
async fn status_page_escapes_and_shows_state() {
    let api = api_at(NOW);
    load_samples(&api).await;
    let body = r#"[{"labels":{"alertname":"Xss","instance":"<script>alert(1)</script>"},
      "annotations":{"summary":"<img src=x onerror=alert(2)>"},
      "startsAt":"2026-11-22T08:25:38.196Z","endsAt":"2026-11-22T08:30:38.196Z"}]"#;
    assert_eq!(
        call(&api, "POST", "/api/v2/alerts", body).await.0,
        StatusCode::OK
    );
    let (st, html) = call(&api, "GET", "/", "").await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        !html.contains("<script>") && !html.contains("<img"),
        "{html}"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    // DiskFull is inhibited by HostDown, CeleryQueueLong silenced: both in words.
    assert!(
        html.contains("SUPPRESSED</span> inhibited by alert"),
        "{html}"
    );
    assert!(html.contains("SUPPRESSED</span> by silence"), "{html}");
    assert!(html.contains("FIRING"));
    // Filters are GET parameters.
    let (_, only) = call(&api, "GET", "/?state=suppressed", "").await;
    assert!(!only.contains("FIRING</span>"), "{only}");
    let (_, byname) = call(&api, "GET", "/?filter=alertname%3D%22Xss%22", "").await;
    assert!(byname.contains("Alerts (1)"), "{byname}");
    let (_, bad) = call(&api, "GET", "/?filter=%7Bbroken", "").await;
    assert!(bad.contains("Bad matchers"), "{bad}");
}

#[tokio::test(start_paused = true)]
async fn status_page_forms_are_same_origin_and_redirect_back() {
    let api = api_at(NOW);
    load_samples(&api).await;
    let form = [
        ("s_matchers", "alertname=\"HostDown\""),
        ("s_duration", "1h"),
        ("s_created_by", "ops"),
        ("s_comment", "maintenance"),
    ];
    let before = api.silences.list().len();
    for origin in [
        None,
        Some("https://evil.example"),
        Some("http://alerter.example:9094"),
    ] {
        let (st, _) = post_form(&api, "/silences/new", origin, &form).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{origin:?}");
    }
    assert_eq!(
        api.silences.list().len(),
        before,
        "nothing created cross-origin"
    );

    let me = Some("http://alerter.example:9093");
    let (st, loc) = post_form(&api, "/silences/new", me, &form).await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    assert!(
        loc.as_deref().unwrap().starts_with("../?notice=Silence+"),
        "{loc:?}"
    );
    let created = api
        .silences
        .list()
        .into_iter()
        .find(|s| s.comment == "maintenance")
        .expect("created");
    let (_, html) = call(&api, "GET", "/", "").await;
    assert!(html.contains(&created.id));

    // A bad duration goes back with the error and the draft kept.
    let bad = [("s_matchers", "alertname=\"X\""), ("s_duration", "soon")];
    let (st, loc) = post_form(&api, "/silences/new", me, &bad).await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    let loc = loc.unwrap();
    assert!(
        loc.contains("error=duration") && loc.contains("s_matchers="),
        "{loc}"
    );

    // The preview lists what the draft would mute, before saving.
    let (_, pv) = call(
        &api,
        "GET",
        "/?preview=1&s_matchers=instance%3D%22vps1%22",
        "",
    )
    .await;
    assert!(pv.contains("would mute 3 active alert(s)"), "{pv}");

    let (st, _) = post_form(&api, "/silences/expire", me, &[("id", &created.id)]).await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    assert_eq!(
        api.silences
            .get(&created.id)
            .unwrap()
            .state(api.clock.now()),
        crate::silence::SilenceState::Expired
    );
}

#[tokio::test(start_paused = true)]
async fn everything_is_served_under_the_route_prefix() {
    let api = api_at(NOW);
    let get = |uri: &'static str| {
        let r = router(api.clone(), "/am");
        async move {
            let resp = r
                .oneshot(Request::builder().uri(uri).body(Body::empty()).unwrap())
                .await
                .unwrap();
            (
                resp.status(),
                resp.headers()
                    .get("location")
                    .map(|v| v.to_str().unwrap().to_string()),
            )
        }
    };
    assert_eq!(
        get("/am").await,
        (StatusCode::PERMANENT_REDIRECT, Some("/am/".into()))
    );
    for ok in [
        "/am/",
        "/am/status.css",
        "/am/api/v2/status",
        "/am/-/healthy",
        "/am/metrics",
    ] {
        assert_eq!(get(ok).await.0, StatusCode::OK, "{ok}");
    }
    assert_eq!(get("/").await.0, StatusCode::NOT_FOUND);
    assert_eq!(get("/api/v2/status").await.0, StatusCode::NOT_FOUND);
}
