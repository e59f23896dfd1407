//! Images: OCI configs and manifests, the per-host tag index, layer extraction.
//! (Stub: being written.)

use crate::error::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("No such image: {0}")]
    NotFound(String),
}

impl ImageError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ImageError::NotFound(_) => ErrorKind::NotFound,
        }
    }
}
