//! Images: OCI configs and manifests in the shared blob store, extracted layers in
//! `<data_root>/layers/<diffid-hex>/`, and a per-daemon reference index (tags and
//! digest references, `index.rs`).
//!
//! One `ImageStore` serves one daemon. Content is shared by digest across daemons, so
//! creating and deleting content happens under a file lock on
//! `<data_root>/content.lock` (threads and processes alike), and deletion counts
//! references over every daemon's index. Lock order: the daemon's index mutex, then the
//! content lock.

pub mod builtin;
pub mod busybox;
pub mod changes;
pub mod config;
mod delete;
mod import;
pub mod index;
pub mod layer;
pub mod preload;
mod usage;

pub use delete::chain_ids;
pub use usage::ImageUsage;

use crate::error::{IoContext, IoError};
use crate::reference::{is_full_hex_id, Reference, ReferenceError};
use crate::store::{digest_string, parse_digest, sha256_of, BlobStore, StoreError};
use crate::ErrorKind;
use chrono::{DateTime, Utc};
use config::{
    build_manifest, encode_config, format_time, host_arch, host_os, to_oci_config, StoredConfig,
};
use index::{DaemonIndex, ImageMeta};
use nix::fcntl::{Flock, FlockArg};
use oci_spec::image::{HistoryBuilder, ImageConfigurationBuilder, RootFsBuilder, Sha256Digest};
use serde_json::Value;
use shared::api::{ContainerConfig, GraphDriver, HistoryItem, ImageInspect, ImageSummary, RootFs};
use shared::sync::Locked;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// Errors of the image store; `Display` is the text docker prints.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("No such image: {0}")]
    NotFound(String),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Layer(#[from] layer::LayerError),
    /// Making a layer the machine builds (busybox, the built-in images).
    #[error("building the {what} layer: {source}")]
    MakeLayer {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A document we made could not be encoded.
    #[error("encoding {what}: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// An image document oci-spec would not build.
    #[error(transparent)]
    Spec(#[from] oci_spec::OciSpecError),
    /// A system call failed.
    #[error("{op}: {source}")]
    Sys {
        op: &'static str,
        #[source]
        source: nix::errno::Errno,
    },
    /// A virtual host's new content would not fit its disk.
    #[error("write {0}: no space left on device")]
    NoSpace(String),
}

impl ImageError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ImageError::NotFound(_) => ErrorKind::NotFound,
            ImageError::Reference(_) | ImageError::InvalidParameter(_) => {
                ErrorKind::InvalidParameter
            }
            ImageError::Conflict(_) => ErrorKind::Conflict,
            ImageError::Layer(e) if e.is_bad_input() => ErrorKind::InvalidParameter,
            ImageError::Internal(_)
            | ImageError::MakeLayer { .. }
            | ImageError::Encode { .. }
            | ImageError::Spec(_)
            | ImageError::Sys { .. }
            | ImageError::NoSpace(_)
            | ImageError::Io(_)
            | ImageError::Store(_)
            | ImageError::Layer(_) => ErrorKind::Internal,
        }
    }
}

/// An image ready to run: its ID, run config and extracted layers.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedImage {
    /// `sha256:...`
    pub id: String,
    pub config: ContainerConfig,
    /// Extracted layer directories, bottom-most FIRST (reverse for overlay lowerdir).
    pub layers: Vec<PathBuf>,
    /// Diff IDs (`sha256:...`), same order as `layers`.
    pub diff_ids: Vec<String>,
    /// Familiar `name:tag` references of the image on this daemon (no digests).
    pub repo_tags: Vec<String>,
}

/// A layer in the store, extracted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    pub diff_id: Sha256Digest,
    /// Size of the uncompressed tar.
    pub size: u64,
    /// The extracted directory.
    pub path: PathBuf,
}

/// What a new image is made of (commit, import, build steps).
#[derive(Debug, Clone, Default)]
pub struct NewImage {
    /// Image (ID or name) whose layers and history come first.
    pub parent: Option<String>,
    /// New layers on top, bottom-most first; may be empty.
    pub layers: Vec<LayerInfo>,
    pub config: ContainerConfig,
    /// History `created_by` of the new step.
    pub created_by: String,
    /// History comment (and Docker's top-level `comment`).
    pub comment: String,
    pub author: String,
    /// Defaults to now.
    pub created: Option<DateTime<Utc>>,
}

/// The machine's own host (its images are not charged to virtual hosts).
pub const MACHINE_DAEMON: &str = "default";

/// A reader that fails with ENOSPC once `left` bytes have been read.
struct Budgeted<'a, R: Read + ?Sized> {
    inner: &'a mut R,
    left: u64,
    tripped: &'a std::cell::Cell<bool>,
}

impl<R: Read + ?Sized> Read for Budgeted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            self.tripped.set(true);
            return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// A daemon's view of the image store.
pub struct ImageStore {
    data_root: PathBuf,
    daemon: String,
    blobs: BlobStore,
    index_path: PathBuf,
    index: Mutex<DaemonIndex>,
    /// A virtual host's disk: content the host brings in (load, import,
    /// commit) counts against it, though it lives in the shared store.
    quota_disk: Option<PathBuf>,
}

impl std::fmt::Debug for ImageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageStore")
            .field("data_root", &self.data_root)
            .field("daemon", &self.daemon)
            .finish()
    }
}

impl ImageStore {
    /// Open the store of `daemon` under `data_root`, creating what is missing.
    pub fn open(data_root: &Path, daemon: &str) -> Result<ImageStore, ImageError> {
        if daemon.is_empty() || daemon.contains('/') || daemon.starts_with('.') {
            return Err(ImageError::InvalidParameter(format!(
                "invalid daemon name {daemon:?}"
            )));
        }
        let blobs = BlobStore::open(data_root)?;
        let layers = data_root.join("layers");
        fs::create_dir_all(&layers).ctx("create dir", &layers)?;
        let index_path = DaemonIndex::path(data_root, daemon);
        let index = DaemonIndex::load(&index_path)?;
        let store = ImageStore {
            data_root: data_root.to_path_buf(),
            daemon: daemon.to_string(),
            blobs,
            index_path,
            index: Mutex::new(index),
            quota_disk: None,
        };
        store.clean_trash();
        Ok(store)
    }

    /// Where work files of this daemon go (a load's staged archive): on its own
    /// disk for a virtual host, so that they count against it too.
    pub fn scratch_dir(&self) -> PathBuf {
        self.quota_disk
            .as_deref()
            .unwrap_or(&self.data_root)
            .join("tmp")
    }

    /// Count new content against the disk mounted at `disk` (a virtual host's).
    pub fn with_disk_quota(mut self, disk: &Path) -> ImageStore {
        self.quota_disk = Some(disk.to_path_buf());
        self
    }

    /// Bytes of uncompressed layer content this daemon may still add: the free
    /// space of its disk less what its images already hold. Layers the machine's
    /// own images have (busybox, the virtual host's base) and those of the
    /// images the machine makes (`builtin`) are not charged.
    /// `None`: no quota (the machine itself).
    pub fn content_budget(&self) -> Option<u64> {
        let disk = self.quota_disk.as_ref()?;
        // The field types differ between C libraries and targets.
        #[allow(clippy::unnecessary_cast)]
        let free = nix::sys::statvfs::statvfs(disk)
            .map(|st| st.blocks_available() as u64 * st.fragment_size() as u64)
            .unwrap_or(0);
        Some(free.saturating_sub(self.charged_bytes()))
    }

    /// Uncompressed size of the layers this daemon's images hold that the
    /// machine's images do not.
    pub fn charged_bytes(&self) -> u64 {
        let idx = self.lock_index().clone();
        let machine = DaemonIndex::load(&DaemonIndex::path(&self.data_root, MACHINE_DAEMON))
            .unwrap_or_default();
        let builtin = builtin::free_layers(&self.data_root);
        let free: std::collections::HashSet<&String> = machine
            .images
            .values()
            .chain(machine.retained.values())
            .flat_map(|m| m.layers.iter())
            .chain(builtin.iter())
            .collect();
        let mut seen = std::collections::HashSet::new();
        idx.images
            .values()
            .chain(idx.retained.values())
            .flat_map(|m| m.layers.iter())
            .filter(|l| !free.contains(l) && seen.insert(*l))
            .filter_map(|l| parse_digest(l))
            .map(|d| self.blobs.size(&d).unwrap_or(0))
            .sum()
    }

    /// Remove this daemon's images and the content no other daemon refers to (a
    /// virtual host being destroyed: its index goes with its disk).
    pub fn release_all(&self) -> Result<(), ImageError> {
        let mut idx = self.lock_index();
        let old = std::mem::take(&mut *idx);
        let _content = self.content_lock()?;
        self.save_index(&idx)?;
        for (id, m) in old.images.iter().chain(old.retained.iter()) {
            self.delete_unreferenced(&idx, id, Some(&m.manifest))?;
        }
        Ok(())
    }

    pub fn daemon(&self) -> &str {
        &self.daemon
    }

    pub fn data_root(&self) -> &Path {
        &self.data_root
    }

    /// The shared blob store.
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// Where the layer with this diff ID is (or would be) extracted.
    pub fn layer_dir(&self, diff_id: &Sha256Digest) -> PathBuf {
        self.data_root.join("layers").join(diff_id.digest())
    }

    fn lock_index(&self) -> MutexGuard<'_, DaemonIndex> {
        // A panic while holding the lock leaves the in-memory index as last saved
        // or newer; keep serving it.
        self.index.locked()
    }

    /// Exclusive lock over shared content (create/delete of blobs and layers).
    pub(crate) fn content_lock(&self) -> Result<Flock<File>, ImageError> {
        let p = self.data_root.join("content.lock");
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .ctx("open", &p)?;
        Flock::lock(f, FlockArg::LockExclusive)
            .map_err(|(_, e)| ImageError::Io(IoError::new("flock", p, e.into())))
    }

    fn save_index(&self, idx: &DaemonIndex) -> Result<(), ImageError> {
        Ok(idx.save(&self.index_path)?)
    }

    /// Remove what removals and killed daemons left: trashed layers, layers
    /// half-extracted and pushes' scratch files of processes that are gone.
    fn clean_trash(&self) {
        let layers = self.data_root.join("layers");
        crate::store::remove_stale_work(&layers, ".tmp-");
        crate::store::remove_stale_work(&self.scratch_dir(), ".push-");
        if let Ok(rd) = fs::read_dir(&layers) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with(".trash-") {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
    }

    /// Remove the half-made content no daemon's index refers to: configs and
    /// manifests of an image whose index was never saved (a daemon killed in
    /// `commit`, `load`, `pull`) or already saved without it (`rmi`), a layer's
    /// blob without its extracted tree or a tree without its blob (a kill
    /// half-way through a removal). A complete layer (blob and tree, both
    /// verified when stored) stays though no image names it yet: the next pull
    /// or commit of it reuses it, as after a pull killed half-way. Only at
    /// start, before anything is served. Returns how many entries went.
    pub fn sweep_unreferenced(&self) -> Result<usize, ImageError> {
        let _content = self.content_lock()?;
        let refs = index::all_content_refs(&self.data_root, None)?;
        let hex_names = |dir: &Path| -> Result<Vec<String>, ImageError> {
            Ok(fs::read_dir(dir)
                .ctx("read dir", dir)?
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| parse_digest(&format!("sha256:{n}")).is_some())
                .collect())
        };
        let blob_dir = self.data_root.join("blobs").join("sha256");
        let layer_dir = self.data_root.join("layers");
        let blobs = hex_names(&blob_dir)?;
        let trees = hex_names(&layer_dir)?;
        let referenced = |hex: &str| {
            let key = format!("sha256:{hex}");
            refs.images.contains(&key)
                || refs.manifests.contains(&key)
                || refs.layers.contains(&key)
        };
        let mut removed = 0;
        for hex in &blobs {
            if referenced(hex) || trees.contains(hex) {
                continue;
            }
            if let Some(d) = parse_digest(&format!("sha256:{hex}")) {
                self.blobs.remove(&d)?;
                removed += 1;
            }
        }
        for hex in &trees {
            if referenced(hex) || blobs.contains(hex) {
                continue;
            }
            let path = layer_dir.join(hex);
            let trash = layer_dir.join(format!(".trash-{hex}-{:016x}", rand::random::<u64>()));
            fs::rename(&path, &trash).ctx("rename", &path)?;
            let _ = fs::remove_dir_all(&trash);
            removed += 1;
        }
        if removed > 0 {
            tracing::info!(
                "removed {removed} blobs and layer trees that a killed daemon left half-made"
            );
        }
        Ok(removed)
    }

    // ----- lookups -------------------------------------------------------------

    /// Find an image as docker does: reference, full ID, unique ID prefix. Returns
    /// the ID and the reference when it matched by name.
    fn lookup(
        &self,
        idx: &DaemonIndex,
        s: &str,
    ) -> Result<(String, Option<Reference>), ImageError> {
        let full = if is_full_hex_id(s) {
            Some(s)
        } else {
            s.strip_prefix("sha256:").filter(|h| is_full_hex_id(h))
        };
        if let Some(hex) = full {
            let id = format!("sha256:{hex}");
            return if idx.meta(&id).is_some() {
                Ok((id, None))
            } else {
                Err(ImageError::NotFound(id))
            };
        }
        let r = Reference::parse(s)?;
        if let Some(id) = idx.refs.get(&r.index_key()) {
            return Ok((id.clone(), Some(r)));
        }
        let hex = s.strip_prefix("sha256:").unwrap_or(s);
        if !hex.is_empty() && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            let ids = idx.ids_with_prefix(hex);
            if ids.len() == 1 {
                return Ok((ids[0].clone(), None));
            }
        }
        Err(ImageError::NotFound(r.familiar_string()))
    }

    fn stored_config(&self, id: &str) -> Result<StoredConfig, ImageError> {
        let d = parse_digest(id).ok_or_else(|| ImageError::NotFound(id.to_string()))?;
        let bytes = self.blobs.read(&d)?;
        StoredConfig::parse(&bytes).map_err(ImageError::Internal)
    }

    /// The ID of an image and, when it was named by reference, that reference.
    pub fn lookup_name(&self, name_or_id: &str) -> Result<(String, Option<Reference>), ImageError> {
        self.lookup(&self.lock_index(), name_or_id)
    }

    /// The ID of an image, looked up as docker does.
    pub fn image_id(&self, name_or_id: &str) -> Result<String, ImageError> {
        Ok(self.lookup(&self.lock_index(), name_or_id)?.0)
    }

    /// Raw config bytes of an image (for save/push).
    pub fn config_bytes(&self, name_or_id: &str) -> Result<Vec<u8>, ImageError> {
        let id = self.image_id(name_or_id)?;
        let d = parse_digest(&id).ok_or_else(|| ImageError::NotFound(id.clone()))?;
        Ok(self.blobs.read(&d)?)
    }

    /// Raw manifest bytes of an image (for save/push).
    pub fn manifest_bytes(&self, name_or_id: &str) -> Result<Vec<u8>, ImageError> {
        let idx = self.lock_index();
        let id = self.lookup(&idx, name_or_id)?.0;
        let m = idx.meta(&id).and_then(|m| parse_digest(&m.manifest));
        let m = m.ok_or_else(|| ImageError::Internal(format!("image {id} has no manifest")))?;
        Ok(self.blobs.read(&m)?)
    }

    /// `RepoTags` and `RepoDigests` of an image, familiar (`busybox:latest`,
    /// `busybox@sha256:..`), in moby's order (lexical by the full name).
    fn repo_names(idx: &DaemonIndex, id: &str) -> (Vec<String>, Vec<String>) {
        let (mut tags, mut digests) = (Vec::new(), Vec::new());
        for key in idx.refs_to(id) {
            let Ok(r) = Reference::parse(&key) else {
                continue;
            };
            if r.digest().is_some() {
                digests.push(r.familiar_string());
            } else {
                tags.push(r.familiar_string());
            }
        }
        (tags, digests)
    }

    fn repo_tags(idx: &DaemonIndex, id: &str) -> Vec<String> {
        Self::repo_names(idx, id).0
    }

    /// Resolve a name or ID to an image ready to run.
    pub fn resolve(&self, name_or_id: &str) -> Result<ResolvedImage, ImageError> {
        let (id, repo_tags, diff_ids) = {
            let idx = self.lock_index();
            let id = self.lookup(&idx, name_or_id)?.0;
            let layers = idx.meta(&id).map(|m| m.layers.clone()).unwrap_or_default();
            (id.clone(), Self::repo_tags(&idx, &id), layers)
        };
        let cfg = self.stored_config(&id)?;
        let mut layers = Vec::new();
        for d in &diff_ids {
            let digest = parse_digest(d)
                .ok_or_else(|| ImageError::Internal(format!("invalid diff id {d}")))?;
            let dir = self.layer_dir(&digest);
            if !dir.is_dir() {
                return Err(ImageError::Internal(format!(
                    "layer {d} of image {id} is missing"
                )));
            }
            layers.push(dir);
        }
        Ok(ResolvedImage {
            id,
            config: cfg.container_config(),
            layers,
            diff_ids,
            repo_tags,
        })
    }
}

/// Parse a tag target: no digests, default tag `latest`.
pub fn parse_tag_target(target: &str) -> Result<Reference, ImageError> {
    let r = Reference::parse(target)?;
    if r.digest().is_some() {
        return Err(ImageError::InvalidParameter(
            "refusing to create a tag with a digest reference".into(),
        ));
    }
    Ok(r.with_default_tag())
}

/// Docker's short ID: 12 hex characters without the algorithm.
pub fn short_id(id: &str) -> String {
    let hex = id.split_once(':').map(|(_, h)| h).unwrap_or(id);
    hex.chars().take(12).collect()
}

/// `Value` of an empty JSON object, as Docker puts in port and volume sets.
pub fn empty_object() -> Value {
    Value::Object(Default::default())
}

mod query;
mod register;

#[cfg(test)]
mod reference_tests;
#[cfg(test)]
mod tests;
