//! `docker save` / `docker load`: image archives in the formats real Docker reads and
//! writes.
//!
//! We write what Docker 25+ writes: an OCI image layout (`oci-layout`, `index.json`,
//! `blobs/sha256/<hex>` holding manifests, configs and uncompressed layer tars)
//! plus Docker's own `manifest.json` and `repositories`, so Docker 20.10 (which
//! reads only `manifest.json`), Docker 25+, skopeo and podman all accept it.
//!
//! We read that layout, Docker 20.10's older one (`<id>/layer.tar`, `<id>/json`,
//! `<config-hex>.json`, with duplicate layers stored as symlinks), and plain OCI
//! layouts without `manifest.json`; plain, gzip, bzip2 or xz compressed. Archives
//! are hostile: their entries are staged under the data root with every path
//! cleaned (no `..` above the root, absolute paths made relative, symlinks never
//! created but resolved by name inside the archive), blob digests and diff IDs are
//! verified, and a failure leaves no image and no layer behind.

mod compress;
pub mod in_root;
mod load;
mod save;

pub use compress::decompressed;
pub use load::{load, load_from, LoadOptions, Loaded, Progress, Source};
pub use save::SaveSet;

/// `application/vnd.oci.image.index.v1+json`
pub const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// `application/vnd.oci.image.manifest.v1+json`
pub const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker's manifest list media type.
pub const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker's schema 2 manifest media type.
pub const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
