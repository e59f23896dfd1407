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
#[error("{op} {path}: {}", shared::go::io_text(source))]
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
    /// A path inside a container's files (`docker cp`, a user's ids).
    #[error(transparent)]
    Path(#[from] crate::archive::in_root::PathError),
    /// A cgroup operation of a container or a virtual host failed.
    #[error("{op}: {source}")]
    Cgroup {
        op: &'static str,
        #[source]
        source: crate::cgroups::CgroupError,
    },
    /// A system call failed.
    #[error("{op}: {source}")]
    Sys {
        op: String,
        #[source]
        source: nix::errno::Errno,
    },
    /// A tool the engine runs (`mkfs.ext4`, `mount`) could not be started.
    #[error("{cmd}: {source}")]
    Spawn {
        cmd: String,
        #[source]
        source: std::io::Error,
    },
    /// A tool the engine runs reported a failure: its command line and stderr.
    #[error("{cmd}: {stderr}")]
    Tool { cmd: String, stderr: String },
    /// A helper thread could not start, or ended by a panic.
    #[error("{0}")]
    Thread(String),
    /// A task the engine waited for ended by a panic or was cancelled.
    #[error("{what}: {source}")]
    Task {
        what: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
    /// Talking to a container's monitor (attach, exec, a health probe) failed.
    #[error("{op}: {source}")]
    Monitor {
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
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
            Error::Path(crate::archive::in_root::PathError::NotFound(_)) => ErrorKind::NotFound,
            Error::Path(crate::archive::in_root::PathError::Invalid(_)) => {
                ErrorKind::InvalidParameter
            }
            Error::Io(_)
            | Error::Path(_)
            | Error::Network(_)
            | Error::Cgroup { .. }
            | Error::Sys { .. }
            | Error::Spawn { .. }
            | Error::Tool { .. }
            | Error::Thread(_)
            | Error::Task { .. }
            | Error::Monitor { .. }
            | Error::Internal(_) => ErrorKind::Internal,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::InvalidParameter(_) => ErrorKind::InvalidParameter,
        }
    }
}

impl Error {
    /// `map_err` for a cgroup operation: keeps the cgroup error as the cause.
    pub fn cgroup(op: &'static str) -> impl FnOnce(crate::cgroups::CgroupError) -> Error {
        move |source| Error::Cgroup { op, source }
    }

    /// `map_err` for a task joined.
    pub fn task(what: &'static str) -> impl FnOnce(tokio::task::JoinError) -> Error {
        move |source| Error::Task { what, source }
    }

    /// `map_err` for a request to a container's monitor.
    pub fn monitor(op: &'static str) -> impl FnOnce(std::io::Error) -> Error {
        move |source| Error::Monitor { op, source }
    }

    /// `map_err` for a system call through nix.
    pub fn sys(op: impl Into<String>) -> impl FnOnce(nix::errno::Errno) -> Error {
        let op = op.into();
        move |source| Error::Sys { op, source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
