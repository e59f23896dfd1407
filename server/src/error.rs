//! One error type for every handler: Docker's JSON body and status codes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use engine::ErrorKind;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

/// A request body read as JSON; a 400 saying why when it is not.
pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

/// The one mapping of the engine's kinds of error to status codes.
fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::InvalidParameter => StatusCode::BAD_REQUEST,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<engine::Error> for ApiError {
    fn from(e: engine::Error) -> Self {
        ApiError {
            status: status_of(e.kind()),
            message: e.to_string(),
        }
    }
}

impl From<engine::build::remote::FetchError> for ApiError {
    fn from(e: engine::build::remote::FetchError) -> Self {
        ApiError {
            status: status_of(e.kind()),
            message: e.to_string(),
        }
    }
}

impl From<engine::image::ImageError> for ApiError {
    fn from(e: engine::image::ImageError) -> Self {
        engine::Error::from(e).into()
    }
}

impl From<engine::registry::RegistryError> for ApiError {
    fn from(e: engine::registry::RegistryError) -> Self {
        engine::Error::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!("{}", self.message);
        } else {
            tracing::debug!("{}: {}", self.status, self.message);
        }
        let body = shared::api::ErrorResponse {
            message: self.message,
        };
        (self.status, axum::Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Errors that axum's extractors answer in plain text (a body over its
/// limit, a query that does not parse) in Docker's `{"message": ...}`, as
/// every other error: clients read the message from there.
pub async fn json_errors(res: Response) -> Response {
    let plain = res
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !(res.status().is_client_error() || res.status().is_server_error()) || !plain {
        return res;
    }
    let status = res.status();
    let text = axum::body::to_bytes(res.into_body(), 64 << 10)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let text = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    ApiError::new(status, text).into_response()
}
