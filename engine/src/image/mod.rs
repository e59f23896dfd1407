//! Images: OCI configs and manifests in the shared blob store, extracted layers in
//! `<data_root>/layers/<diffid-hex>/`, and a per-host reference index (tags and
//! digest references, `index.rs`).
//!
//! One `ImageStore` serves one host. Content is shared by digest across hosts, so
//! creating and deleting content happens under a file lock on
//! `<data_root>/content.lock` (threads and processes alike), and deletion counts
//! references over every host's index. Lock order: the host's index mutex, then the
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
use index::{HostIndex, ImageMeta};
use nix::fcntl::{Flock, FlockArg};
use oci_spec::image::{HistoryBuilder, ImageConfigurationBuilder, RootFsBuilder, Sha256Digest};
use serde_json::Value;
use shared::api::{ContainerConfig, GraphDriver, HistoryItem, ImageInspect, ImageSummary, RootFs};
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
    /// Familiar `name:tag` references of the image on this host (no digests).
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
pub const MACHINE_HOST: &str = "default";

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

/// A host's view of the image store.
pub struct ImageStore {
    data_root: PathBuf,
    host: String,
    blobs: BlobStore,
    index_path: PathBuf,
    index: Mutex<HostIndex>,
    /// A virtual host's disk: content the host brings in (load, import,
    /// commit) counts against it, though it lives in the shared store.
    quota_disk: Option<PathBuf>,
}

impl std::fmt::Debug for ImageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageStore")
            .field("data_root", &self.data_root)
            .field("host", &self.host)
            .finish()
    }
}

impl ImageStore {
    /// Open the store of `host` under `data_root`, creating what is missing.
    pub fn open(data_root: &Path, host: &str) -> Result<ImageStore, ImageError> {
        if host.is_empty() || host.contains('/') || host.starts_with('.') {
            return Err(ImageError::InvalidParameter(format!(
                "invalid host name {host:?}"
            )));
        }
        let blobs = BlobStore::open(data_root)?;
        let layers = data_root.join("layers");
        fs::create_dir_all(&layers).ctx("create dir", &layers)?;
        let index_path = HostIndex::path(data_root, host);
        let index = HostIndex::load(&index_path)?;
        let store = ImageStore {
            data_root: data_root.to_path_buf(),
            host: host.to_string(),
            blobs,
            index_path,
            index: Mutex::new(index),
            quota_disk: None,
        };
        store.clean_trash();
        Ok(store)
    }

    /// Where work files of this host go (a load's staged archive): on its own
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

    /// Bytes of uncompressed layer content this host may still add: the free
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

    /// Uncompressed size of the layers this host's images hold that the
    /// machine's images do not.
    pub fn charged_bytes(&self) -> u64 {
        let idx = self.lock_index().clone();
        let machine =
            HostIndex::load(&HostIndex::path(&self.data_root, MACHINE_HOST)).unwrap_or_default();
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

    /// Remove this host's images and the content no other host refers to (a
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

    pub fn host(&self) -> &str {
        &self.host
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

    fn lock_index(&self) -> MutexGuard<'_, HostIndex> {
        // A panic while holding the lock leaves the in-memory index as last saved
        // or newer; keep serving it.
        self.index.lock().unwrap_or_else(|p| p.into_inner())
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

    fn save_index(&self, idx: &HostIndex) -> Result<(), ImageError> {
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

    // ----- layers -------------------------------------------------------------

    /// Store a layer tar (plain or gzip) and extract it (once per content).
    pub fn register_layer(&self, src: &mut dyn Read) -> Result<LayerInfo, ImageError> {
        self.register_layer_as(src, None)
    }

    /// As [`register_layer`](Self::register_layer), for a tar that must hash
    /// to `diff_id` (an image config names it): otherwise nothing is stored
    /// and the error says "layer verification failed". The tar is hashed once,
    /// while it is stored.
    pub fn register_layer_as(
        &self,
        src: &mut dyn Read,
        diff_id: Option<&Sha256Digest>,
    ) -> Result<LayerInfo, ImageError> {
        let mut br = BufReader::with_capacity(64 * 1024, src);
        let head = br
            .fill_buf()
            .map_err(|e| ImageError::InvalidParameter(format!("reading layer: {e}")))?;
        let gzip = head.starts_with(&[0x1f, 0x8b]);
        let mut src: Box<dyn Read + '_> = if gzip {
            Box::new(flate2::read::GzDecoder::new(br))
        } else {
            Box::new(br)
        };
        let budget = self.content_budget();
        let tripped = std::cell::Cell::new(false);
        let mut limited = Budgeted {
            inner: &mut src,
            left: budget.unwrap_or(u64::MAX),
            tripped: &tripped,
        };
        let stored = match diff_id {
            None => self.blobs.put(&mut limited).map_err(StoreError::from),
            Some(want) => self
                .blobs
                .put_verified(&mut limited, want)
                .map(|n| (want.clone(), n)),
        };
        let (diff_id, size) = match stored {
            Ok(r) => r,
            Err(_) if tripped.get() => {
                return Err(ImageError::NoSpace(format!(
                    "{}: the virtual host's images count against its disk",
                    self.host
                )))
            }
            Err(StoreError::DigestMismatch { expected, actual }) => {
                return Err(ImageError::InvalidParameter(format!(
                    "layer verification failed: the content is sha256:{actual}, the image config says sha256:{expected}"
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let path = match self.ensure_extracted(&diff_id) {
            Ok(p) => p,
            Err(e) => {
                let _guard = self.content_lock()?;
                let refs = index::all_content_refs(&self.data_root, None)?;
                if !refs.layers.contains(&digest_string(&diff_id)) {
                    let _ = self.blobs.remove(&diff_id);
                }
                return Err(e);
            }
        };
        Ok(LayerInfo {
            diff_id,
            size,
            path,
        })
    }

    /// Extract a stored layer blob unless its directory exists.
    fn ensure_extracted(&self, diff_id: &Sha256Digest) -> Result<PathBuf, ImageError> {
        let dir = self.layer_dir(diff_id);
        if dir.is_dir() {
            return Ok(dir);
        }
        let tmp = self.data_root.join("layers").join(format!(
            ".tmp-{}-{}-{:016x}",
            std::process::id(),
            diff_id.digest(),
            rand::random::<u64>()
        ));
        fs::create_dir(&tmp).ctx("create dir", &tmp)?;
        let blob = self.blobs.path(diff_id);
        let res = File::open(&blob)
            .ctx("open", &blob)
            .map_err(ImageError::from)
            .and_then(|f| Ok(layer::extract(BufReader::new(f), &tmp)?));
        if let Err(e) = res {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        if let Err(e) = fs::rename(&tmp, &dir) {
            let _ = fs::remove_dir_all(&tmp);
            if !dir.is_dir() {
                return Err(IoError::new("rename", &dir, e).into());
            }
            // Another thread extracted the same content first: use theirs.
        }
        Ok(dir)
    }

    // ----- creating images -----------------------------------------------------

    /// Build a config from `new`, store it and add the image to this host, tagged
    /// `reference` if given. Returns the ID.
    pub fn create_image(
        &self,
        new: &NewImage,
        reference: Option<&str>,
    ) -> Result<String, ImageError> {
        let reference = reference.map(parse_tag_target).transpose()?;
        let (mut diff_ids, mut history) = match &new.parent {
            Some(p) => {
                let id = self.lookup(&self.lock_index(), p)?.0;
                let cfg = self.stored_config(&id)?;
                (
                    cfg.diff_ids(),
                    cfg.oci.history().clone().unwrap_or_default(),
                )
            }
            None => (Vec::new(), Vec::new()),
        };
        diff_ids.extend(new.layers.iter().map(|l| digest_string(&l.diff_id)));
        let created = format_time(&new.created.unwrap_or_else(Utc::now));
        let mut h = HistoryBuilder::default()
            .created(created.clone())
            .created_by(new.created_by.clone());
        if !new.comment.is_empty() {
            h = h.comment(new.comment.clone());
        }
        if !new.author.is_empty() {
            h = h.author(new.author.clone());
        }
        if new.layers.is_empty() {
            h = h.empty_layer(true);
        }
        history.push(h.build().map_err(internal)?);
        let rootfs = RootFsBuilder::default()
            .typ("layers")
            .diff_ids(diff_ids)
            .build()
            .map_err(internal)?;
        let mut b = ImageConfigurationBuilder::default()
            .created(created)
            .architecture(host_arch())
            .os(host_os())
            .config(to_oci_config(&new.config))
            .rootfs(rootfs)
            .history(history);
        if !new.author.is_empty() {
            b = b.author(new.author.clone());
        }
        let oci = b.build().map_err(internal)?;
        let comment = (!new.comment.is_empty()).then_some(new.comment.as_str());
        let bytes = encode_config(&oci, &new.config, comment).map_err(ImageError::Internal)?;
        let id = self.add_image(&bytes, reference.as_ref())?;
        if let Some(p) = &new.parent {
            let parent = self.lookup(&self.lock_index(), p)?.0;
            self.set_parent(&id, Some(&parent))?;
        }
        Ok(id)
    }

    /// An image's history as its config records it: (created, created_by,
    /// empty_layer) per entry, oldest first.
    pub fn history_entries(&self, id: &str) -> Result<Vec<(String, String, bool)>, ImageError> {
        let cfg = self.stored_config(&self.image_id(id)?)?;
        Ok(cfg
            .oci
            .history()
            .clone()
            .unwrap_or_default()
            .iter()
            .map(|h| {
                (
                    h.created().clone().unwrap_or_default(),
                    h.created_by().clone().unwrap_or_default(),
                    h.empty_layer().unwrap_or(false),
                )
            })
            .collect())
    }

    /// moby's dangling image: no name and no child (`id` a full ID).
    pub fn is_dangling(&self, id: &str) -> bool {
        self.lock_index().is_dangling(id)
    }

    /// Record `parent` as the parent of image `id` (both full IDs of this host),
    /// or forget its parent.
    pub fn set_parent(&self, id: &str, parent: Option<&str>) -> Result<(), ImageError> {
        let mut idx = self.lock_index();
        let Some(meta) = idx.images.get(id) else {
            return Err(ImageError::NotFound(id.to_string()));
        };
        if Some(id) == parent || meta.parent.as_deref() == parent {
            return Ok(());
        }
        let mut next = idx.clone();
        if let Some(m) = next.images.get_mut(id) {
            m.parent = parent.map(str::to_string);
        }
        self.save_index(&next)?;
        *idx = next;
        Ok(())
    }

    /// Add an image from its config bytes (pull, load): every layer named in
    /// `rootfs.diff_ids` must already be registered. Returns the ID.
    ///
    /// `reference` names it: a tag (`busybox:1`, default tag added) is set, or
    /// moved from another image; a digest reference (`busybox@sha256:..`, a pull
    /// by digest; a tag next to the digest is dropped, as moby does) is recorded
    /// as that digest reference, and an error if it already names another image
    /// (moby's "cannot overwrite digest"), checked before anything is stored.
    pub fn add_image(
        &self,
        config_bytes: &[u8],
        reference: Option<&Reference>,
    ) -> Result<String, ImageError> {
        let cfg = StoredConfig::parse(config_bytes).map_err(ImageError::InvalidParameter)?;
        let mut layers = Vec::new();
        for d in cfg.diff_ids() {
            let digest = parse_digest(&d)
                .ok_or_else(|| ImageError::InvalidParameter(format!("invalid diff id {d}")))?;
            layers.push(digest);
        }
        let mut idx = self.lock_index();
        if let Some((r, d)) = reference.and_then(|r| Some((r, r.digest()?))) {
            let new_id = digest_string(&sha256_of(config_bytes));
            let taken = idx.refs.get(&r.index_key());
            if taken.is_some_and(|old| *old != new_id && idx.images.contains_key(old)) {
                return Err(ImageError::Conflict(format!("cannot overwrite digest {d}")));
            }
        }
        let _content = self.content_lock()?;
        let mut sized = Vec::new();
        for d in &layers {
            if !self.blobs.exists(d) {
                return Err(ImageError::Internal(format!(
                    "layer {} is not in the store",
                    digest_string(d)
                )));
            }
            self.ensure_extracted(d)?;
            sized.push((d.clone(), self.blobs.size(d)?));
        }
        let config_digest = self.blobs.put_bytes(config_bytes)?;
        let manifest = build_manifest(config_bytes, &sized).map_err(ImageError::Internal)?;
        let manifest_digest = self.blobs.put_bytes(&manifest)?;
        let id = digest_string(&config_digest);
        let mut next = idx.clone();
        if let Some(m) = next.retained.remove(&id) {
            next.images.entry(id.clone()).or_insert(m);
        }
        let meta = next.images.entry(id.clone()).or_default();
        meta.manifest = digest_string(&manifest_digest);
        meta.layers = layers.iter().map(digest_string).collect();
        match reference {
            Some(r) if r.digest().is_some() => {
                next.refs.insert(r.index_key(), id.clone());
            }
            Some(r) => {
                meta.last_tag_time = Some(format_time(&Utc::now()));
                next.refs.insert(r.canonical_string(), id.clone());
            }
            None => {}
        }
        self.save_index(&next)?;
        *idx = next;
        Ok(id)
    }

    /// Record the digest reference `NAME@digest` for image `id` (a full
    /// `sha256:` ID of this host): what a pull of `NAME:TAG` (the manifest or
    /// index digest it printed) or a push of it (the pushed manifest's digest)
    /// does, as moby's `addDigestReference`. `name` may carry a tag or digest;
    /// only its repository is used. A `NAME@digest` that already names another
    /// image keeps it (moby logs "cannot update"); the same one is a no-op.
    /// Persisted with the tags, per host.
    pub fn add_digest(&self, id: &str, name: &Reference, digest: &str) -> Result<(), ImageError> {
        let key = name.with_digest(digest)?.index_key();
        let mut idx = self.lock_index();
        if !idx.images.contains_key(id) {
            return Err(ImageError::NotFound(id.to_string()));
        }
        match idx.refs.get(&key) {
            Some(old) if old == id => return Ok(()),
            Some(old) if idx.images.contains_key(old) => {
                tracing::error!(
                    "Image ID for digest {digest} changed from {old} to {id}, cannot update"
                );
                return Ok(());
            }
            _ => {}
        }
        let mut next = idx.clone();
        next.refs.insert(key, id.to_string());
        self.save_index(&next)?;
        *idx = next;
        Ok(())
    }

    // ----- lookups -------------------------------------------------------------

    /// Find an image as docker does: reference, full ID, unique ID prefix. Returns
    /// the ID and the reference when it matched by name.
    fn lookup(&self, idx: &HostIndex, s: &str) -> Result<(String, Option<Reference>), ImageError> {
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

    /// The tags this host has for the repository `full_name`
    /// (`docker.io/library/busybox`), sorted.
    pub fn tags_of(&self, full_name: &str) -> Vec<String> {
        let idx = self.lock_index();
        let prefix = format!("{full_name}:");
        idx.refs
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .filter(|t| !t.contains('@') && !t.contains('/'))
            .map(str::to_string)
            .collect()
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
    fn repo_names(idx: &HostIndex, id: &str) -> (Vec<String>, Vec<String>) {
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

    fn repo_tags(idx: &HostIndex, id: &str) -> Vec<String> {
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

    fn image_size(&self, meta: &ImageMeta) -> i64 {
        meta.layers
            .iter()
            .filter_map(|d| parse_digest(d))
            .filter_map(|d| self.blobs.size(&d).ok())
            .sum::<u64>() as i64
    }

    /// `GET /images/json`: newest first.
    pub fn list(&self, all: bool) -> Vec<ImageSummary> {
        let idx = self.lock_index().clone();
        let parents = idx.parents();
        let mut out = Vec::new();
        for (id, meta) in &idx.images {
            // moby: without `all`, intermediate images (no name, children) are hidden.
            if !all && idx.is_intermediate(id, &parents) {
                continue;
            }
            let Ok(cfg) = self.stored_config(id) else {
                tracing::warn!(image = %id, "image config missing from the blob store");
                continue;
            };
            let cc = cfg.container_config();
            let (repo_tags, repo_digests) = Self::repo_names(&idx, id);
            out.push(ImageSummary {
                id: id.clone(),
                parent_id: meta.parent.clone().unwrap_or_default(),
                repo_tags,
                repo_digests,
                created: cfg.created().map(|t| t.timestamp()).unwrap_or(0),
                size: self.image_size(meta),
                shared_size: -1,
                labels: cc.labels,
                containers: -1,
            });
        }
        out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        out
    }

    /// `GET /images/{name}/json`.
    pub fn inspect(&self, name_or_id: &str) -> Result<ImageInspect, ImageError> {
        let (id, meta, (repo_tags, repo_digests)) = {
            let idx = self.lock_index();
            let id = self.lookup(&idx, name_or_id)?.0;
            let meta = idx.meta(&id).cloned().unwrap_or_default();
            (id.clone(), meta, Self::repo_names(&idx, &id))
        };
        let cfg = self.stored_config(&id)?;
        let mut dirs: Vec<String> = meta
            .layers
            .iter()
            .filter_map(|d| parse_digest(d))
            .map(|d| self.layer_dir(&d).display().to_string())
            .collect();
        let mut data = BTreeMap::new();
        if let Some(top) = dirs.pop() {
            data.insert("UpperDir".to_string(), top);
        }
        if !dirs.is_empty() {
            dirs.reverse();
            data.insert("LowerDir".to_string(), dirs.join(":"));
        }
        let created = cfg
            .created()
            .map(|t| format_time(&t))
            .unwrap_or_else(|| "0001-01-01T00:00:00Z".into());
        Ok(ImageInspect {
            id: id.clone(),
            repo_tags,
            repo_digests,
            parent: meta.parent.clone().unwrap_or_default(),
            comment: cfg.comment(),
            created,
            docker_version: cfg.docker_version(),
            author: cfg.oci.author().clone().unwrap_or_default(),
            config: cfg.container_config(),
            architecture: cfg.oci.architecture().to_string(),
            os: cfg.oci.os().to_string(),
            size: self.image_size(&meta),
            graph_driver: GraphDriver {
                name: "overlay2".into(),
                data,
            },
            root_fs: RootFs {
                kind: "layers".into(),
                layers: cfg.diff_ids(),
            },
            metadata: serde_json::json!({
                "LastTagTime": meta.last_tag_time.unwrap_or_else(|| "0001-01-01T00:00:00Z".into())
            }),
        })
    }

    /// `GET /images/{name}/history`: newest first; only the top entry has an ID.
    pub fn history(&self, name_or_id: &str) -> Result<Vec<HistoryItem>, ImageError> {
        let (id, tags) = {
            let idx = self.lock_index();
            let id = self.lookup(&idx, name_or_id)?.0;
            (id.clone(), Self::repo_tags(&idx, &id))
        };
        let cfg = self.stored_config(&id)?;
        let diff_ids = cfg.diff_ids();
        let size_of = |i: usize| {
            diff_ids
                .get(i)
                .and_then(|d| parse_digest(d))
                .and_then(|d| self.blobs.size(&d).ok())
                .unwrap_or(0) as i64
        };
        let mut items = Vec::new();
        let mut layer_i = 0;
        match cfg.oci.history() {
            Some(hist) if !hist.is_empty() => {
                for h in hist {
                    let size = if h.empty_layer().unwrap_or(false) {
                        0
                    } else {
                        layer_i += 1;
                        size_of(layer_i - 1)
                    };
                    items.push(HistoryItem {
                        id: "<missing>".into(),
                        created: h
                            .created()
                            .as_deref()
                            .and_then(config::parse_time)
                            .map(|t| t.timestamp())
                            .unwrap_or(0),
                        created_by: h.created_by().clone().unwrap_or_default(),
                        tags: Vec::new(),
                        size,
                        comment: h.comment().clone().unwrap_or_default(),
                    });
                }
            }
            _ => {
                let created = cfg.created().map(|t| t.timestamp()).unwrap_or(0);
                for i in 0..diff_ids.len() {
                    items.push(HistoryItem {
                        id: "<missing>".into(),
                        created,
                        size: size_of(i),
                        ..Default::default()
                    });
                }
            }
        }
        items.reverse();
        if let Some(top) = items.first_mut() {
            top.id = id;
            top.tags = tags;
        }
        Ok(items)
    }

    /// `docker tag SOURCE TARGET` (default tag `latest`).
    pub fn tag(&self, source: &str, target: &str) -> Result<(), ImageError> {
        let target = parse_tag_target(target)?;
        let mut idx = self.lock_index();
        let id = self.lookup(&idx, source)?.0;
        let mut next = idx.clone();
        next.refs.insert(target.canonical_string(), id.clone());
        if let Some(m) = next.images.get_mut(&id) {
            m.last_tag_time = Some(format_time(&Utc::now()));
        }
        self.save_index(&next)?;
        *idx = next;
        Ok(())
    }

    /// Tag an image ID with `reference` (already parsed).
    pub fn tag_id(&self, id: &str, reference: &Reference) -> Result<(), ImageError> {
        self.tag(id, &reference.to_string())
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

fn internal(e: impl std::fmt::Display) -> ImageError {
    ImageError::Internal(e.to_string())
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

#[cfg(test)]
mod tests;
