//! `/api/v2/silences` and `/api/v2/silence/{id}`. Validation, texts, update vs
//! replace and the listing order are the silence store's (silence.rs); this maps
//! its answers to Alertmanager's status codes.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;

use super::models::PostSilenceOk;
use super::params::Params;
use super::{Api, ApiError};
use crate::silence::{PostableSilence, Silence, SilenceError};

pub async fn get_silences(
    State(api): State<Arc<Api>>,
    RawQuery(q): RawQuery,
) -> Result<Json<Vec<Silence>>, ApiError> {
    let p = Params::parse(q.as_deref());
    let filter = p.filter()?;
    Ok(Json(api.silences.query(&filter)))
}

pub async fn get_silence(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
) -> Result<Json<Silence>, ApiError> {
    check_id(&id)?;
    api.silences.get(&id).map(Json).ok_or(ApiError::NotFound)
}

/// An unknown id is 404 as in Alertmanager since 0.26 (0.25 said 500).
pub async fn delete_silence(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    check_id(&id)?;
    api.silences.expire(&id).map_err(map_err)?;
    Ok(StatusCode::OK)
}

fn map_err(e: SilenceError) -> ApiError {
    match e {
        SilenceError::NotFound => ApiError::NotFound,
        m @ SilenceError::Missing(_) => ApiError::Request {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: m.to_string(),
        },
        SilenceError::Invalid(m) => ApiError::BadRequest(m),
        e @ SilenceError::NotSaved { .. } => ApiError::Internal(e.to_string()),
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
    match api.silences.set(p) {
        Ok(id) => Ok(Json(PostSilenceOk { silence_id: id })),
        // Alertmanager answers 404 with the text for an update of an unknown id.
        Err(SilenceError::NotFound) => Err(ApiError::NotFoundMessage(
            SilenceError::NotFound.to_string(),
        )),
        Err(e) => Err(map_err(e)),
    }
}
