//! The registry client: `docker pull`, `push` and `login` against any registry
//! that speaks the Distribution API v2 / OCI distribution-spec (Docker Hub,
//! distribution's `registry:2`, our own).
//!
//! - [`endpoint`]: where a reference lives (Docker Hub's `registry-1.docker.io`,
//!   mirrors, `host[:port]`), and whether it may be reached over plain HTTP
//!   (loopback and `--insecure-registry`, as Docker decides).
//! - [`auth`]: `WWW-Authenticate` challenges, Bearer tokens (cached until they
//!   expire) and Basic auth; the credentials a client sends (`X-Registry-Auth`).
//! - [`client`]: HTTP requests with the challenge/retry dance, errors in
//!   Docker's words.
//! - [`manifest`]: OCI and Docker manifests and indexes, platform selection.
//! - [`cache`]: the daemon-wide pull cache (each blob fetched once, manifests
//!   fresh for a while), shared by every daemon of the process.
//! - [`pull`] and [`push`]: moving images between a registry and the
//!   [`ImageStore`](crate::image::ImageStore), reporting progress as the Engine
//!   API's JSON message stream ([`progress`]).
//! - [`search`]: `docker search`, Docker's v1 search API on Docker Hub's index
//!   or the registry the term names, filtered as moby filters.
//!
//! Every blob is verified against its digest and size while it streams; a pull
//! that fails leaves no image, and only fully verified layers stay in the store.

pub mod auth;
pub mod cache;
pub mod client;
pub mod endpoint;
pub mod manifest;
pub mod progress;
pub mod pull;
pub mod push;
pub mod search;

pub use auth::AuthConfig;
pub use client::{Client, RegistryOptions};

use crate::ErrorKind;

/// What went wrong talking to a registry. `Display` is the text docker prints.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry refused or does not know the repository (pull).
    #[error("pull access denied for {name}, repository does not exist or may require 'docker login': {detail}")]
    PullDenied { name: String, detail: String },
    /// No such tag or digest.
    #[error("manifest for {reference} not found: {detail}")]
    ManifestUnknown { reference: String, detail: String },
    /// An index without our platform.
    #[error("no matching manifest for {0} in the manifest list entries")]
    NoPlatform(String),
    /// Old formats we do not take.
    #[error("{0}")]
    Unsupported(String),
    /// A blob or manifest that does not hash to its digest, or is not its size.
    #[error("{0}")]
    Verification(String),
    /// Credentials refused (login).
    #[error("{0}")]
    Unauthorized(String),
    /// The registry answered with an error of the distribution spec.
    #[error("{0}")]
    Registry(String),
    /// The registry could not be reached, or the connection broke.
    #[error("{0}")]
    Transport(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    #[error(transparent)]
    Reference(#[from] crate::reference::ReferenceError),
    /// Reading or writing a local file (a layer being compressed, a blob sent).
    #[error(transparent)]
    Io(#[from] crate::error::IoError),
    /// A document we made could not be encoded.
    #[error("encoding {what}: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// A URL a registry gave that is not one.
    #[error("invalid URL {url}: {source}")]
    Url {
        url: String,
        #[source]
        source: url::ParseError,
    },
    /// A system call failed (entering a virtual host's network).
    #[error("{op}: {source}")]
    Sys {
        op: &'static str,
        #[source]
        source: nix::errno::Errno,
    },
    /// The HTTP client could not be made (its TLS setup).
    #[error("HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// A blocking task (compressing, extracting, registering) ended by a panic.
    #[error("{what}: {source}")]
    Task {
        what: String,
        #[source]
        source: tokio::task::JoinError,
    },
    #[error("{0}")]
    Internal(String),
}

impl RegistryError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            RegistryError::PullDenied { .. } | RegistryError::ManifestUnknown { .. } => {
                ErrorKind::NotFound
            }
            RegistryError::Image(e) => e.kind(),
            RegistryError::Reference(_) | RegistryError::InvalidParameter(_) => {
                ErrorKind::InvalidParameter
            }
            // Not a 401: to the docker CLI a 401 on pull means "log in first" and
            // it would prompt for a login; dockerd answers 500 here too.
            RegistryError::Unauthorized(_)
            | RegistryError::NoPlatform(_)
            | RegistryError::Unsupported(_)
            | RegistryError::Verification(_)
            | RegistryError::Registry(_)
            | RegistryError::Transport(_)
            | RegistryError::Io(_)
            | RegistryError::Sys { .. }
            | RegistryError::Encode { .. }
            | RegistryError::Url { .. }
            | RegistryError::Task { .. }
            | RegistryError::Client(_)
            | RegistryError::Internal(_) => ErrorKind::Internal,
        }
    }
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;
