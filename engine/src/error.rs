//! The engine's errors, rolled up from each module's own enum. `ErrorKind` tells
//! the server which Docker status code an error maps to; `Display` is the text a
//! docker user reads ("No such container: x").

use std::path::PathBuf;

/// How an error is reported over the Engine API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 404
    NotFound,
    /// 409
    Conflict,
    /// 400
    InvalidParameter,
    /// 500
    Internal,
}

/// An I/O error with the path it touched.
#[derive(Debug, thiserror::Error)]
#[error("{op} {path}: {source}")]
pub struct IoError {
    pub op: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl IoError {
    pub fn new(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        IoError {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Attach a path and an operation to an `io::Result`.
pub trait IoContext<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T, IoError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T, IoError> {
        self.map_err(|e| IoError::new(op, path, e))
    }
}

/// Any engine error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    #[error(transparent)]
    Network(#[from] crate::network::NetworkError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    Internal(String),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Image(e) => e.kind(),
            Error::Registry(e) => e.kind(),
            Error::Io(_) | Error::Network(_) | Error::Internal(_) => ErrorKind::Internal,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::InvalidParameter(_) => ErrorKind::InvalidParameter,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
