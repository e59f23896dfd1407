//! Registry errors: the distribution-spec's error codes, their HTTP statuses
//! (as distribution sends them) and the JSON error body
//! `{"errors":[{"code":...,"message":...,"detail":...}]}`.

use axum::body::Body;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// The error codes of the distribution-spec (and distribution's extras).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    TagInvalid,
    RangeInvalid,
    TooLarge,
    Unknown,
}

impl Code {
    /// The code as it appears in the JSON body.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::BlobUnknown => "BLOB_UNKNOWN",
            Code::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            Code::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Code::DigestInvalid => "DIGEST_INVALID",
            Code::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            Code::ManifestInvalid => "MANIFEST_INVALID",
            Code::ManifestUnknown => "MANIFEST_UNKNOWN",
            Code::NameInvalid => "NAME_INVALID",
            Code::NameUnknown => "NAME_UNKNOWN",
            Code::SizeInvalid | Code::TooLarge => "SIZE_INVALID",
            Code::Unauthorized => "UNAUTHORIZED",
            Code::Denied => "DENIED",
            Code::Unsupported => "UNSUPPORTED",
            Code::TagInvalid => "TAG_INVALID",
            Code::RangeInvalid => "RANGE_INVALID",
            Code::Unknown => "UNKNOWN",
        }
    }

    /// The HTTP status distribution answers with for this code.
    pub fn status(self) -> StatusCode {
        match self {
            Code::BlobUnknown
            | Code::BlobUploadUnknown
            | Code::ManifestUnknown
            | Code::NameUnknown => StatusCode::NOT_FOUND,
            Code::BlobUploadInvalid
            | Code::DigestInvalid
            | Code::ManifestBlobUnknown
            | Code::ManifestInvalid
            | Code::NameInvalid
            | Code::SizeInvalid
            | Code::TagInvalid => StatusCode::BAD_REQUEST,
            Code::Unauthorized => StatusCode::UNAUTHORIZED,
            Code::Denied => StatusCode::FORBIDDEN,
            Code::Unsupported => StatusCode::METHOD_NOT_ALLOWED,
            Code::RangeInvalid => StatusCode::RANGE_NOT_SATISFIABLE,
            Code::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Code::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Distribution's message for the code.
    pub fn message(self) -> &'static str {
        match self {
            Code::BlobUnknown | Code::ManifestBlobUnknown => "blob unknown to registry",
            Code::BlobUploadInvalid => "blob upload invalid",
            Code::BlobUploadUnknown => "blob upload unknown to registry",
            Code::DigestInvalid => "provided digest did not match uploaded content",
            Code::ManifestInvalid => "manifest invalid",
            Code::ManifestUnknown => "manifest unknown",
            Code::NameInvalid => "invalid repository name",
            Code::NameUnknown => "repository name not known to registry",
            Code::SizeInvalid => "provided length did not match content length",
            Code::TooLarge => "payload too large",
            Code::Unauthorized => "authentication required",
            Code::Denied => "requested access to the resource is denied",
            Code::Unsupported => "The operation is unsupported.",
            Code::TagInvalid => "manifest tag did not match URI",
            Code::RangeInvalid => "invalid content range",
            Code::Unknown => "unknown error",
        }
    }
}

/// One entry of the `errors` array.
#[derive(Debug, Clone)]
pub struct ErrorEntry {
    pub code: Code,
    pub message: String,
    pub detail: Value,
}

/// An error answer: one or more entries, a status and extra headers.
#[derive(Debug, Clone)]
pub struct RegistryError {
    pub entries: Vec<ErrorEntry>,
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// The result type of the handlers and storage.
pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

impl RegistryError {
    /// An error with the code's message and no detail.
    pub fn new(code: Code) -> Self {
        Self {
            entries: vec![ErrorEntry {
                code,
                message: code.message().to_string(),
                detail: Value::Null,
            }],
            status: code.status(),
            headers: Vec::new(),
        }
    }

    /// Sets the detail of the (first) entry.
    pub fn detail(mut self, detail: impl Into<Value>) -> Self {
        if let Some(e) = self.entries.first_mut() {
            e.detail = detail.into();
        }
        self
    }

    /// Replaces the message of the (first) entry.
    pub fn message(mut self, message: impl Into<String>) -> Self {
        if let Some(e) = self.entries.first_mut() {
            e.message = message.into();
        }
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((name, v));
        }
        self
    }

    /// Several errors of one answer (the status is the first's).
    pub fn many(errors: Vec<RegistryError>) -> Self {
        let mut it = errors.into_iter();
        let Some(mut first) = it.next() else {
            return Self::new(Code::Unknown);
        };
        for e in it {
            first.entries.extend(e.entries);
        }
        first
    }

    /// An internal error (I/O and such), logged by the access log's status.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        crate::log::error(&format!("internal error: {e}"));
        Self::new(Code::Unknown).detail(e.to_string())
    }

    /// The first entry's code.
    pub fn code(&self) -> Code {
        self.entries.first().map_or(Code::Unknown, |e| e.code)
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let errors: Vec<Value> = self
            .entries
            .iter()
            .map(|e| json!({"code": e.code.as_str(), "message": e.message, "detail": e.detail}))
            .collect();
        json!({ "errors": errors })
    }
}

impl From<Code> for RegistryError {
    fn from(c: Code) -> Self {
        Self::new(c)
    }
}

impl From<std::io::Error> for RegistryError {
    fn from(e: std::io::Error) -> Self {
        Self::internal(e)
    }
}

impl IntoResponse for RegistryError {
    fn into_response(self) -> Response {
        let body = self.body().to_string();
        let mut resp = Response::new(Body::from(body));
        *resp.status_mut() = self.status;
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        for (k, v) in self.headers {
            h.insert(k, v);
        }
        resp
    }
}
