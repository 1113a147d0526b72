//! `/api/v2/alerts` (GET, POST) and `/api/v2/alerts/groups`, with Alertmanager's
//! defaults for posted alerts (api/v2/api.go postAlertsHandler) and its filters.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::models::{AlertGroup, AlertStatus, GettableAlert, PostableAlert, ReceiverRef};
use super::params::{Params, filter_matches};
use super::{Api, ApiError, Runtime};
use crate::alert::Alert;
use crate::labels::{LabelSet, Matcher};
use crate::mute::Muter;

/// `status` of one alert, asked of the silences and the inhibitor now.
pub fn alert_status(api: &Api, rt: &Runtime, labels: &LabelSet, now: DateTime<Utc>) -> AlertStatus {
    let silenced_by = api.silences.muted_by(labels, now);
    let inhibited_by = rt.inhibitor.muted_by(labels, now);
    let state = if silenced_by.is_empty() && inhibited_by.is_empty() {
        "active"
    } else {
        "suppressed"
    };
    AlertStatus {
        inhibited_by,
        silenced_by,
        state,
    }
}

fn to_api(a: &Alert, status: AlertStatus, receivers: &[String]) -> GettableAlert {
    GettableAlert {
        annotations: a.annotations.clone(),
        ends_at: a.ends_at,
        fingerprint: a.fingerprint().to_string(),
        generator_url: a.generator_url.clone(),
        labels: a.labels.clone(),
        receivers: receivers
            .iter()
            .map(|n| ReceiverRef { name: n.clone() })
            .collect(),
        starts_at: a.starts_at,
        status,
        updated_at: a.updated_at,
    }
}

/// Alertmanager's alertFilter: resolved alerts are never listed; the state flags
/// drop alerts in that state; then the label matchers.
struct AlertFilter {
    matchers: Vec<Matcher>,
    active: bool,
    silenced: bool,
    inhibited: bool,
    unprocessed: bool,
}

impl AlertFilter {
    fn from_params(p: &Params, with_unprocessed: bool) -> Result<AlertFilter, ApiError> {
        Ok(AlertFilter {
            matchers: p.filter()?,
            active: p.flag("active", true)?,
            silenced: p.flag("silenced", true)?,
            inhibited: p.flag("inhibited", true)?,
            unprocessed: !with_unprocessed || p.flag("unprocessed", true)?,
        })
    }

    fn keep(&self, a: &Alert, status: &AlertStatus, now: DateTime<Utc>) -> bool {
        if a.ends_at < now {
            return false;
        }
        if (!self.active && status.state == "active")
            || (!self.unprocessed && status.state == "unprocessed")
            || (!self.silenced && !status.silenced_by.is_empty())
            || (!self.inhibited && !status.inhibited_by.is_empty())
        {
            return false;
        }
        filter_matches(&self.matchers, &a.labels)
    }
}

/// Runs on the blocking pool, routing, muting and encoding included: with 100k
/// alerts this takes seconds, which on the server's one runtime thread would stall
/// `/-/healthy` and ingest. Encodes alert by alert into one buffer, never holding
/// every converted alert at once.
pub async fn get_alerts(
    State(api): State<Arc<Api>>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref());
    let filter = AlertFilter::from_params(&p, true)?;
    let receiver = p.receiver()?;
    tokio::task::spawn_blocking(move || {
        let rt = api.runtime();
        let now = api.clock.now();
        let mut kept = Vec::new();
        for a in api.alerts.list() {
            let receivers = rt.routes.receivers(&a.labels);
            if receiver
                .as_ref()
                .is_some_and(|re| !receivers.iter().any(|r| re.is_match(r)))
            {
                continue;
            }
            let status = alert_status(&api, &rt, &a.labels, now);
            if !filter.keep(&a, &status, now) {
                continue;
            }
            kept.push((a.fingerprint().to_string(), a, status, receivers));
        }
        kept.sort_by(|a, b| a.0.cmp(&b.0));
        let mut body = Vec::with_capacity(kept.len() * 256 + 2);
        body.push(b'[');
        for (i, (_, a, status, receivers)) in kept.into_iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            serde_json::to_writer(&mut body, &to_api(&a, status, &receivers))
                .map_err(|e| ApiError::Internal(e.to_string()))?;
        }
        body.push(b']');
        Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
}

/// types.AlertSlice's order: by `job`, then `instance` (an alert with the label
/// before one without), then the whole label set.
fn alert_order(a: &Alert, b: &Alert) -> Ordering {
    for key in ["job", "instance"] {
        match (a.labels.get(key), b.labels.get(key)) {
            (None, None) => {}
            (None, Some(_)) => return Ordering::Greater,
            (Some(_), None) => return Ordering::Less,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    a.labels.cmp(&b.labels)
}

/// On the blocking pool, as [`get_alerts`]: grouping a large set takes seconds.
pub async fn get_groups(
    State(api): State<Arc<Api>>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref());
    let filter = AlertFilter::from_params(&p, false)?;
    let receiver = p.receiver()?;
    tokio::task::spawn_blocking(move || {
        let body = serde_json::to_vec(&groups(&api, &filter, receiver.as_ref()))
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
}

fn groups(api: &Api, filter: &AlertFilter, receiver: Option<&regex::Regex>) -> Vec<AlertGroup> {
    let rt = api.runtime();
    let now = api.clock.now();
    let mut groups = Vec::new();
    // An alert's receivers are those of the (listed) groups it is in (dispatch.Groups).
    let mut receivers: HashMap<String, Vec<String>> = HashMap::new();
    for g in rt.routes.groups() {
        if receiver
            .as_ref()
            .is_some_and(|re| !re.is_match(&g.receiver))
        {
            continue;
        }
        let mut alerts: Vec<(std::sync::Arc<Alert>, AlertStatus)> = g
            .alerts
            .into_iter()
            .filter_map(|a| {
                let st = alert_status(api, &rt, &a.labels, now);
                filter.keep(&a, &st, now).then_some((a, st))
            })
            .collect();
        if alerts.is_empty() {
            continue;
        }
        alerts.sort_by(|x, y| alert_order(&x.0, &y.0));
        for (a, _) in &alerts {
            receivers
                .entry(a.fingerprint().to_string())
                .or_default()
                .push(g.receiver.clone());
        }
        groups.push((g.labels, g.receiver, alerts));
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    for r in receivers.values_mut() {
        r.sort();
    }
    groups
        .into_iter()
        .map(|(labels, receiver, alerts)| AlertGroup {
            alerts: alerts
                .into_iter()
                .map(|(a, st)| {
                    let rs = receivers
                        .get(&a.fingerprint().to_string())
                        .map_or(&[][..], Vec::as_slice);
                    to_api(&a, st, rs)
                })
                .collect(),
            labels,
            receiver: ReceiverRef { name: receiver },
        })
        .collect()
}

/// Reads one field of a posted object, naming it in the error.
fn field<T: DeserializeOwned>(obj: &Value, i: usize, name: &str) -> Result<Option<T>, ApiError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => T::deserialize(v).map(Some).map_err(|e| ApiError::Request {
            status: StatusCode::BAD_REQUEST,
            message: format!("parsing alerts body failed: [{i}].{name}: {e}"),
        }),
    }
}

/// A posted alert as stored, received at `now` (still to be validated).
/// Alertmanager: a missing start is the end (if given) or now; a missing end
/// is now + resolve_timeout, marked as a timeout so a later explicit end wins.
pub(crate) fn to_alert(
    p: PostableAlert,
    now: DateTime<Utc>,
    resolve_timeout: chrono::Duration,
) -> Alert {
    let starts_at = p.starts_at.unwrap_or_else(|| p.ends_at.unwrap_or(now));
    let (ends_at, timeout) = match p.ends_at {
        Some(e) => (e, false),
        None => (now + resolve_timeout, true),
    };
    let mut labels = p.labels.unwrap_or_default();
    labels.retain(|_, v| !v.is_empty());
    Alert {
        labels,
        annotations: p.annotations.unwrap_or_default(),
        starts_at,
        ends_at,
        generator_url: p.generator_url.unwrap_or_default(),
        updated_at: now,
        timeout,
    }
}

/// Parses the body: syntax errors name line and column, type errors the field.
pub(crate) fn parse_alerts(body: &[u8]) -> Result<Vec<PostableAlert>, ApiError> {
    let bad = |message: String| ApiError::Request {
        status: StatusCode::BAD_REQUEST,
        message,
    };
    // Fast path: the typed parse. Only a body it rejects (or one missing labels)
    // takes the slower generic walk below, which names the field at fault.
    if let Ok(typed) = serde_json::from_slice::<Vec<PostableAlert>>(body)
        && typed.iter().all(|a| a.labels.is_some())
    {
        return Ok(typed);
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| bad(format!("parsing alerts body failed: {e}")))?;
    let Value::Array(items) = v else {
        return Err(bad(
            "parsing alerts body failed: expected a JSON array of alerts".into(),
        ));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, obj) in items.iter().enumerate() {
        if !obj.is_object() {
            return Err(bad(format!(
                "parsing alerts body failed: [{i}]: expected an alert object"
            )));
        }
        let labels: Option<LabelSet> = field(obj, i, "labels")?;
        if labels.is_none() {
            // go-swagger's required-field check, before any handler logic.
            return Err(ApiError::Request {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                message: format!("{i}.labels in body is required"),
            });
        }
        let time = |name: &str| -> Result<Option<DateTime<Utc>>, ApiError> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => super::models::read_time(v)
                    .map_err(|e| bad(format!("parsing alerts body failed: [{i}].{name}: {e}"))),
            }
        };
        out.push(PostableAlert {
            labels,
            annotations: field(obj, i, "annotations")?,
            starts_at: time("startsAt")?,
            ends_at: time("endsAt")?,
            generator_url: field(obj, i, "generatorURL")?,
        });
    }
    Ok(out)
}

pub async fn post_alerts(
    State(api): State<Arc<Api>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let body = body.map_err(|e| ApiError::from_body(&e))?;
    let posted = parse_alerts(&body)?;
    let rt = api.runtime();
    let now = api.clock.now();
    let mut valid = Vec::with_capacity(posted.len());
    let mut errors = Vec::new();
    for p in posted {
        let a = to_alert(p, now, rt.resolve_timeout);
        api.metrics.alert_received(a.ends_at > now);
        match a.validate() {
            Ok(()) => valid.push(a),
            Err(e) => {
                api.metrics.alert_invalid();
                errors.push(e);
            }
        }
    }
    if !errors.is_empty() {
        // types.MultiError's join (Alertmanager 0.25).
        tracing::warn!("rejected posted alerts: {}", errors.join("; "));
    }
    let refused = api.alerts.put_grouped(valid).await;
    // Refusals by the limits are logged by the store, at most once a minute: a sender
    // stuck over the limit re-posts every few seconds.
    let limits = api.alerts.limits();
    if refused.count > 0 {
        errors.push(format!(
            "{} alerts refused: the alerter holds its limit of {} alerts (--alerts.max-count)",
            refused.count, limits.max_alerts
        ));
    }
    if refused.size > 0 {
        errors.push(format!(
            "{} alerts refused: they would take the stored alerts past {} bytes (--alerts.max-size-bytes)",
            refused.size, limits.max_bytes
        ));
    }
    if errors.is_empty() {
        Ok(StatusCode::OK)
    } else {
        Err(ApiError::BadRequest(errors.join("; ")))
    }
}
