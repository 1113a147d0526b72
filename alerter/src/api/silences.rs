//! `/api/v2/silences` and `/api/v2/silence/{id}`: the API checks Alertmanager 0.25
//! makes itself (times), the rest is the silence store's validation and texts.

use std::cmp::Ordering;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;

use super::models::{GettableSilence, PostSilenceOk, PostableSilence};
use super::params::Params;
use super::{Api, ApiError, NewSilence, SilenceError, SilenceView};
use crate::labels::Matcher;

fn state_rank(s: &str) -> u8 {
    match s {
        "active" => 1,
        "pending" => 2,
        _ => 3,
    }
}

/// api.go SortSilences: active by soonest end, pending by soonest start, expired
/// by latest end.
fn silence_order(a: &SilenceView, b: &SilenceView) -> Ordering {
    state_rank(a.state)
        .cmp(&state_rank(b.state))
        .then_with(|| match a.state {
            "active" => a.ends_at.cmp(&b.ends_at),
            "pending" => a.starts_at.cmp(&b.starts_at),
            _ => b.ends_at.cmp(&a.ends_at),
        })
}

/// A silence matches the filter when each filter matcher appears in it verbatim
/// (name, operator and value), as checkMatcherSetMatchesFilterLabels does.
fn matches_filter(s: &SilenceView, filter: &[Matcher]) -> bool {
    filter.iter().all(|f| {
        s.matchers
            .iter()
            .any(|m| m.name == f.name && m.op == f.op && m.value == f.value)
    })
}

pub async fn get_silences(
    State(api): State<Arc<Api>>,
    RawQuery(q): RawQuery,
) -> Result<Json<Vec<GettableSilence>>, ApiError> {
    let p = Params::parse(q.as_deref());
    let filter = p.filter()?;
    let mut list: Vec<SilenceView> = api
        .silences
        .list(api.clock.now())
        .into_iter()
        .filter(|s| matches_filter(s, &filter))
        .collect();
    list.sort_by(silence_order);
    Ok(Json(list.iter().map(GettableSilence::from).collect()))
}

pub async fn get_silence(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
) -> Result<Json<GettableSilence>, ApiError> {
    check_id(&id)?;
    api.silences
        .get(&id, api.clock.now())
        .map(|s| Json(GettableSilence::from(&s)))
        .ok_or(ApiError::NotFound)
}

pub async fn delete_silence(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    check_id(&id)?;
    match api.silences.expire(&id, api.clock.now()) {
        Ok(()) => Ok(StatusCode::OK),
        Err(SilenceError::NotFound) => Err(ApiError::NotFound),
        Err(SilenceError::Invalid(m) | SilenceError::Internal(m)) => Err(ApiError::Internal(m)),
    }
}

/// The path parameter is a UUID in openapi.yaml; go-swagger rejects anything else.
fn check_id(id: &str) -> Result<(), ApiError> {
    uuid::Uuid::parse_str(id)
        .map(|_| ())
        .map_err(|_| ApiError::Request {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: format!("silenceID in path must be of type uuid: {id:?}"),
        })
}

pub async fn post_silences(
    State(api): State<Arc<Api>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PostSilenceOk>, ApiError> {
    let body = body.map_err(|e| ApiError::from_body(&e))?;
    let p: PostableSilence = serde_json::from_slice(&body).map_err(|e| ApiError::Request {
        status: StatusCode::BAD_REQUEST,
        message: format!("parsing silence body failed: {e}"),
    })?;
    let required = |name: &str| ApiError::Request {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        message: format!("{name} in body is required"),
    };
    let raw_matchers = p.matchers.ok_or_else(|| required("matchers"))?;
    let starts_at = p.starts_at.ok_or_else(|| required("startsAt"))?;
    let ends_at = p.ends_at.ok_or_else(|| required("endsAt"))?;
    let created_by = p.created_by.ok_or_else(|| required("createdBy"))?;
    let comment = p.comment.ok_or_else(|| required("comment"))?;
    let mut matchers = Vec::with_capacity(raw_matchers.len());
    for (i, m) in raw_matchers.iter().enumerate() {
        matchers.push(m.to_matcher().map_err(|e| {
            ApiError::BadRequest(format!("silence invalid: invalid label matcher {i}: {e}"))
        })?);
    }
    if starts_at >= ends_at {
        return Err(ApiError::BadRequest(
            "Failed to create silence: start time must be before end time".into(),
        ));
    }
    let now = api.clock.now();
    if ends_at < now {
        return Err(ApiError::BadRequest(
            "Failed to create silence: end time can't be in the past".into(),
        ));
    }
    let s = NewSilence {
        id: p.id.filter(|s| !s.is_empty()),
        matchers,
        starts_at,
        ends_at,
        created_by,
        comment,
    };
    match api.silences.set(s, now) {
        Ok(id) => Ok(Json(PostSilenceOk { silence_id: id })),
        // Alertmanager answers 404 for an update of an unknown ID.
        Err(SilenceError::NotFound) => Err(ApiError::NotFoundMessage(
            SilenceError::NotFound.to_string(),
        )),
        Err(SilenceError::Invalid(m)) => Err(ApiError::BadRequest(m)),
        Err(SilenceError::Internal(m)) => Err(ApiError::Internal(m)),
    }
}
