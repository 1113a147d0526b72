//! `/api/v2/status`, `/api/v2/receivers`, health, reload and `/metrics`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::models::{ReceiverRef, write_time};
use super::{Api, ApiError};
use crate::metrics::{ALERT_STATES, Format, SILENCE_STATES, Snapshot};

fn time(t: chrono::DateTime<chrono::Utc>) -> Value {
    write_time(&t, serde_json::value::Serializer).unwrap_or(Value::Null)
}

/// Alertmanager's status with the cluster disabled, plus, under `config`, what
/// Alertmanager never shows: which config is running and whether the last reload
/// failed (and why), so a broken reload cannot go unnoticed.
pub async fn status(State(api): State<Arc<Api>>) -> Json<Value> {
    let rt = api.runtime();
    let rs = api.reload_status();
    Json(json!({
        "cluster": {"peers": [], "status": "disabled"},
        "config": {
            "original": rt.original,
            "hash": rt.hash,
            "lastReloadTime": time(rs.at),
            "lastReloadSuccessful": rs.success,
            "lastReloadError": rs.error,
            "lastReloadSuccessTime": rs.last_success.map(time),
            "warnings": rt.warnings,
        },
        // Ours: a failing receiver and a data file that cannot be written are
        // visible here too, not only in logs and metrics.
        "notifications": {
            "failing": api.notify_stats.snapshot().failing.iter().map(|((r, i), f)| json!({
                "receiver": r,
                "integration": i,
                "reason": f.reason,
                "message": f.message,
                "since": time(f.since),
            })).collect::<Vec<_>>(),
        },
        "storage": {
            "writeErrors": (api.storage_errors)()
                .into_iter()
                .map(|(file, n)| (file, json!(n)))
                .collect::<serde_json::Map<String, Value>>(),
        },
        // Ours: how full the alert store is, against its limits (0: none).
        "alerts": {
            "stored": api.alerts.len(),
            "storedBytes": api.alerts.bytes(),
            "maxCount": api.alerts.limits().max_alerts,
            "maxSizeBytes": api.alerts.limits().max_bytes,
            "refused": {
                "count": api.alerts.refused_total()[0],
                "size": api.alerts.refused_total()[1],
            },
        },
        "uptime": time(api.started),
        "versionInfo": {
            "branch": option_env!("ALERTER_BRANCH").unwrap_or(""),
            "buildDate": option_env!("ALERTER_BUILD_DATE").unwrap_or(""),
            "buildUser": option_env!("ALERTER_BUILD_USER").unwrap_or(""),
            "goVersion": "none (Rust)",
            "revision": option_env!("ALERTER_REVISION").unwrap_or(""),
            "version": env!("CARGO_PKG_VERSION"),
        },
    }))
}

pub async fn receivers(State(api): State<Arc<Api>>) -> Json<Vec<ReceiverRef>> {
    let rt = api.runtime();
    Json(
        rt.config
            .receivers
            .iter()
            .map(|r| ReceiverRef {
                name: r.name.clone(),
            })
            .collect(),
    )
}

pub async fn ok() -> &'static str {
    "OK"
}

/// Alertmanager's `/-/reload`: 200 with no body, or 500 with the reason.
pub async fn reload(State(api): State<Arc<Api>>) -> Result<(), ApiError> {
    let Some(tx) = &api.reload else {
        return Err(ApiError::Reload("reloading is not available".into()));
    };
    let (done, answer) = oneshot::channel();
    tx.send(done)
        .await
        .map_err(|_| ApiError::Reload("the server is shutting down".into()))?;
    match answer.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(reason)) => Err(ApiError::Reload(reason)),
        Err(_) => Err(ApiError::Reload("the reload was abandoned".into())),
    }
}

/// Collects the state gauges into owned values, then encodes.
pub fn snapshot(api: &Api) -> Snapshot {
    let rt = api.runtime();
    let now = api.clock.now();
    let mut snap = Snapshot::default();
    for a in api.alerts.list() {
        if a.ends_at < now {
            continue;
        }
        let st = super::alerts::alert_status(api, &rt, &a.labels, now);
        if let Some(i) = ALERT_STATES.iter().position(|s| *s == st.state) {
            snap.alerts[i] += 1;
        }
    }
    let counts = api.silences.counts();
    for (i, s) in SILENCE_STATES.iter().enumerate() {
        let n = match *s {
            "active" => counts.active,
            "pending" => counts.pending,
            _ => counts.expired,
        };
        snap.silences[i] = i64::try_from(n).unwrap_or(i64::MAX);
    }
    snap.storage_errors = (api.storage_errors)();
    let refused = api.alerts.refused_total();
    snap.alerts_limited = crate::provider::Refusal::ALL
        .iter()
        .zip(refused)
        .map(|(r, n)| (r.label(), n))
        .collect();
    snap.stored_bytes = i64::try_from(api.alerts.bytes()).unwrap_or(i64::MAX);
    snap.aggregation_groups = i64::try_from(rt.routes.groups().len()).unwrap_or(i64::MAX);
    if let Some(c) = &rt.compiled {
        // Alertmanager counts only the receivers a route uses (main.go).
        let mut used = std::collections::BTreeSet::new();
        c.route.walk(&mut |r| {
            used.insert(r.receiver.as_str());
        });
        let integrations: usize = used
            .iter()
            .filter_map(|r| c.receivers.get(*r))
            .map(Vec::len)
            .sum();
        snap.receivers = i64::try_from(used.len()).unwrap_or(i64::MAX);
        snap.integrations = i64::try_from(integrations).unwrap_or(i64::MAX);
    }
    snap
}

/// Text format 0.0.4 unless the scraper asks for OpenMetrics, as promhttp answers.
pub async fn metrics(State(api): State<Arc<Api>>, headers: HeaderMap) -> impl IntoResponse {
    let snap = snapshot(&api);
    let format = Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    (
        [(header::CONTENT_TYPE, format.content_type())],
        api.metrics.encode_as(
            &snap,
            format,
            &api.ruler
                .get()
                .map(|r| r.status.encode_metrics())
                .unwrap_or_default(),
        ),
    )
}

/// Prometheus's `GET /api/v1/rules`: every group's last evaluation.
pub async fn rules(State(api): State<Arc<Api>>) -> axum::Json<serde_json::Value> {
    axum::Json(match api.ruler.get() {
        Some(r) => r.status.rules_json(),
        None => serde_json::json!({"status": "success", "data": {"groups": []}}),
    })
}

/// Prometheus's `GET /api/v1/alerts`: the evaluator's pending and firing alerts.
pub async fn rule_alerts(State(api): State<Arc<Api>>) -> axum::Json<serde_json::Value> {
    axum::Json(match api.ruler.get() {
        Some(r) => r.status.alerts_json(),
        None => serde_json::json!({"status": "success", "data": {"alerts": []}}),
    })
}
