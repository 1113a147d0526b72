//! The one error type every handler returns, rendered as Alertmanager renders it:
//! handler errors as a JSON string body (`"start time must be before end time"`),
//! request-parsing errors as go-swagger's `{"code":..,"message":..}`, and reload
//! failures as plain text (ui/web.go uses http.Error there).

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 with the message as a JSON string.
    #[error("{0}")]
    BadRequest(String),
    /// 404; Alertmanager sends no body for a missing silence.
    #[error("not found")]
    NotFound,
    /// 404 with a message as a JSON string (updating an unknown silence).
    #[error("{0}")]
    NotFoundMessage(String),
    /// The request could not be parsed (body or query): go-swagger's shape.
    #[error("{message}")]
    Request { status: StatusCode, message: String },
    #[error("request body larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// 500 with the message as a JSON string.
    #[error("{0}")]
    Internal(String),
    /// `/-/reload` with a config that does not load.
    #[error("failed to reload config: {0}")]
    Reload(String),
}

impl ApiError {
    /// Maps a body read failure: too large is 413, anything else 400.
    pub fn from_body(e: &BytesRejection) -> ApiError {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge {
                limit: super::MAX_BODY,
            }
        } else {
            ApiError::Request {
                status: StatusCode::BAD_REQUEST,
                message: format!("reading request body failed: {e}"),
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, Json(m)).into_response(),
            ApiError::NotFound => StatusCode::NOT_FOUND.into_response(),
            ApiError::NotFoundMessage(m) => (StatusCode::NOT_FOUND, Json(m)).into_response(),
            ApiError::Request { status, message } => (
                status,
                Json(serde_json::json!({"code": status.as_u16(), "message": message})),
            )
                .into_response(),
            e @ ApiError::TooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                Json(serde_json::json!({"code": 413, "message": e.to_string()})),
            )
                .into_response(),
            ApiError::Internal(m) => {
                tracing::error!("API request failed: {m}");
                (StatusCode::INTERNAL_SERVER_ERROR, Json(m)).into_response()
            }
            e @ ApiError::Reload(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("{e}\n"),
            )
                .into_response(),
        }
    }
}
