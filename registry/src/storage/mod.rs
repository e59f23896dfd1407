//! The storage on a directory, in distribution's filesystem-driver layout so
//! an existing `/var/lib/registry` keeps working:
//!
//! ```text
//! <root>/docker/registry/v2/
//!   blobs/sha256/<2 hex>/<hex>/data                 content (layers, configs, manifests)
//!   repositories/<name>/
//!     _layers/sha256/<hex>/link                     the repository has this blob
//!     _manifests/revisions/sha256/<hex>/link        the repository has this manifest
//!     _manifests/revisions/sha256/<hex>/mediatype   its Content-Type at push (dockhand's)
//!     _manifests/tags/<tag>/current/link            tag -> manifest digest
//!     _manifests/tags/<tag>/index/sha256/<hex>/link digests the tag has had
//!     _referrers/sha256/<subject hex>/sha256/<hex>/link  referrers index (dockhand's)
//!     _uploads/<uuid>/data, startedat               uploads in progress
//! ```
//!
//! Every file is written to a temporary name in its directory and renamed,
//! so readers never see partial content; blob content is fsynced before its
//! rename. The methods here are blocking: call them through [`Storage::run`].

mod manifests;
mod uploads;

use shared::sync::Locked;
use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use uploads::HashState;

use crate::reference::Digest;

/// The per-upload lock and its in-memory hash state (`None`: not known in this
/// process; re-hash the file).
pub type UploadSlot = Arc<tokio::sync::Mutex<Option<HashState>>>;

/// The registry's storage. Cheap to clone.
#[derive(Clone)]
pub struct Storage {
    inner: Arc<Inner>,
}

struct Inner {
    base: PathBuf,
    uploads: Mutex<HashMap<String, UploadSlot>>,
}

impl Storage {
    /// Storage under `rootdirectory` (created when missing).
    pub fn open(rootdirectory: &Path) -> io::Result<Storage> {
        let base = rootdirectory.join("docker/registry/v2");
        fs::create_dir_all(base.join("blobs"))?;
        fs::create_dir_all(base.join("repositories"))?;
        Ok(Storage {
            inner: Arc::new(Inner {
                base,
                uploads: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Runs blocking storage work on tokio's blocking pool.
    pub async fn run<T, F>(&self, f: F) -> io::Result<T>
    where
        F: FnOnce(&Storage) -> io::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let s = self.clone();
        match tokio::task::spawn_blocking(move || f(&s)).await {
            Ok(r) => r,
            Err(e) => Err(io::Error::other(e.to_string())),
        }
    }

    /// `<root>/docker/registry/v2`.
    pub fn base(&self) -> &Path {
        &self.inner.base
    }

    pub(crate) fn blobs_dir(&self) -> PathBuf {
        self.base().join("blobs")
    }

    pub(crate) fn repos_dir(&self) -> PathBuf {
        self.base().join("repositories")
    }

    /// The content file of a blob.
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.blobs_dir()
            .join(&d.algorithm)
            .join(&d.hex[..2])
            .join(&d.hex)
            .join("data")
    }

    pub(crate) fn repo_dir(&self, name: &str) -> PathBuf {
        self.repos_dir().join(name)
    }

    pub(crate) fn layer_link(&self, name: &str, d: &Digest) -> PathBuf {
        self.repo_dir(name)
            .join("_layers")
            .join(&d.algorithm)
            .join(&d.hex)
            .join("link")
    }

    pub(crate) fn revision_dir(&self, name: &str, d: &Digest) -> PathBuf {
        self.repo_dir(name)
            .join("_manifests/revisions")
            .join(&d.algorithm)
            .join(&d.hex)
    }

    pub(crate) fn tags_dir(&self, name: &str) -> PathBuf {
        self.repo_dir(name).join("_manifests/tags")
    }

    pub(crate) fn referrers_dir(&self, name: &str, subject: &Digest) -> PathBuf {
        self.repo_dir(name)
            .join("_referrers")
            .join(&subject.algorithm)
            .join(&subject.hex)
    }

    /// The size of a blob's content, if stored (in any repository).
    pub fn blob_size(&self, d: &Digest) -> io::Result<Option<u64>> {
        match fs::metadata(self.blob_path(d)) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The size of a blob the repository has (a layer link or a manifest
    /// revision, and the content present).
    pub fn repo_blob_size(&self, name: &str, d: &Digest) -> io::Result<Option<u64>> {
        if !self.repo_has(name, d) {
            return Ok(None);
        }
        self.blob_size(d)
    }

    /// Whether the repository links the blob (a layer or a manifest revision).
    fn repo_has(&self, name: &str, d: &Digest) -> bool {
        self.layer_link(name, d).is_file() || self.revision_dir(name, d).join("link").is_file()
    }

    /// Opens a blob the repository has (a layer link or a manifest revision,
    /// and the content present); `None` when it has not.
    pub fn open_repo_blob(&self, name: &str, d: &Digest) -> io::Result<Option<fs::File>> {
        if !self.repo_has(name, d) {
            return Ok(None);
        }
        match fs::File::open(self.blob_path(d)) {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Records that the repository has the blob.
    pub fn link_blob(&self, name: &str, d: &Digest) -> io::Result<()> {
        let link = self.layer_link(name, d);
        if link.is_file() {
            return Ok(());
        }
        write_atomic(&link, d.to_string().as_bytes(), false)
    }

    /// Removes the repository's link to a blob; false when it had none.
    pub fn unlink_blob(&self, name: &str, d: &Digest) -> io::Result<bool> {
        let link = self.layer_link(name, d);
        match link.parent().map(fs::remove_dir_all) {
            Some(Ok(())) => Ok(true),
            Some(Err(e)) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Some(Err(e)) => Err(e),
            None => Ok(false),
        }
    }

    /// Stores content under its digest (no-op when present).
    pub fn put_blob(&self, d: &Digest, bytes: &[u8]) -> io::Result<()> {
        let path = self.blob_path(d);
        if path.is_file() {
            return Ok(());
        }
        write_atomic(&path, bytes, true)
    }

    /// Reads a whole (small) blob.
    pub fn read_blob(&self, d: &Digest) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.blob_path(d)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The slot (lock and hash state) of an upload.
    pub fn upload_slot(&self, uuid: &str) -> UploadSlot {
        let mut m = self.inner.uploads.locked();
        m.entry(uuid.to_string()).or_default().clone()
    }

    pub(crate) fn forget_upload(&self, uuid: &str) {
        let mut m = self.inner.uploads.locked();
        m.remove(uuid);
    }
}

/// A random lowercase hex string of `n` bytes.
pub(crate) fn random_hex(n: usize) -> String {
    let bytes: Vec<u8> = (0..n).map(|_| rand::random::<u8>()).collect();
    hex::encode(bytes)
}

/// Writes a file through a temporary name in the same directory and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], sync: bool) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("path without a parent"))?;
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".tmp-{}", random_hex(8)));
    let res = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        if sync {
            f.sync_data()?;
        }
        fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

/// Reads a link file (a digest); `None` when absent or not a digest.
pub(crate) fn read_link(path: &Path) -> io::Result<Option<Digest>> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Digest::parse(s.trim())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The names of a directory's entries (empty when it does not exist).
pub(crate) fn list_dir(path: &Path) -> io::Result<Vec<String>> {
    let rd = match fs::read_dir(path) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e?;
        if let Some(n) = e.file_name().to_str() {
            if !n.starts_with(".tmp-") {
                out.push(n.to_string());
            }
        }
    }
    Ok(out)
}

/// The digests of an `<alg>/<hex>/` tree (as `_layers` and `revisions` are).
pub(crate) fn list_digests(dir: &Path) -> io::Result<Vec<Digest>> {
    let mut out = Vec::new();
    for hex in list_dir(&dir.join("sha256"))? {
        if let Some(d) = Digest::parse(&format!("sha256:{hex}")) {
            out.push(d);
        }
    }
    out.sort();
    Ok(out)
}

/// Removes a directory tree; false when it did not exist.
pub(crate) fn remove_tree(path: &Path) -> io::Result<bool> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}
