//! `docker load`: stage the archive's files under the data root, find its images
//! (through `manifest.json` when there is one, else `index.json`), verify and
//! register their layers, and only when every image checks out add them to the
//! daemon. On any failure the layers this load registered, and nothing else, go.
//! The same code reads a directory holding what such a tar holds (an OCI image
//! layout, for `image preload`): its files are read in place, not staged.

use super::{MEDIA_DOCKER_LIST, MEDIA_OCI_INDEX};
use crate::error::IoContext;
use crate::image::config::{host_arch, StoredConfig};
use crate::image::layer::clean_components;
use crate::image::{parse_tag_target, ImageError, ImageStore};
use crate::reference::Reference;
use crate::store::{digest_string, parse_digest};
use oci_spec::image::Sha256Digest;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// An image the archive held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub id: String,
    /// Familiar `name:tag` references given to it.
    pub tags: Vec<String>,
}

/// Progress of one layer: `(short chain ID, bytes read, total bytes)`.
pub type Progress<'a> = &'a mut dyn FnMut(&str, u64, u64);

fn bad(msg: impl Into<String>) -> ImageError {
    ImageError::InvalidParameter(msg.into())
}

/// A regular file of the archive, staged on disk (or, for a directory, where it
/// is), with its sha256: known once staged, computed on first use in place.
struct Staged {
    path: PathBuf,
    digest: std::cell::OnceCell<Sha256Digest>,
    size: u64,
}

impl Staged {
    fn digest(&self) -> Result<&Sha256Digest, ImageError> {
        if let Some(d) = self.digest.get() {
            return Ok(d);
        }
        let f = File::open(&self.path)
            .map_err(|e| bad(format!("open {}: {e}", self.path.display())))?;
        let (d, _) = hash_copy(&mut BufReader::new(f), &mut io::sink(), &self.path)?;
        Ok(self.digest.get_or_init(|| d))
    }
}

/// The archive's files by cleaned name, and its symlinks (never created on disk).
struct Staging {
    /// The scratch directory the files were staged in (removed on drop); `None`
    /// when they are read in place (a directory).
    dir: Option<PathBuf>,
    files: HashMap<String, Staged>,
    links: HashMap<String, String>,
}

impl Drop for Staging {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

fn clean(path: &[u8]) -> Result<String, ImageError> {
    let comps = clean_components(path).map_err(|_| {
        bad(format!(
            "invalid archive: entry {:?} points outside of the archive",
            String::from_utf8_lossy(path)
        ))
    })?;
    let parts: Vec<String> = comps
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    Ok(parts.join("/"))
}

impl Staging {
    fn read(store: &ImageStore, src: &mut dyn Read) -> Result<Staging, ImageError> {
        let dir = store.scratch_dir().join(format!(
            "load-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        fs::create_dir_all(&dir).ctx("create dir", &dir)?;
        let mut st = Staging {
            dir: Some(dir.clone()),
            files: HashMap::new(),
            links: HashMap::new(),
        };
        let mut ar = tar::Archive::new(src);
        let entries = ar
            .entries()
            .map_err(|e| bad(format!("invalid tar archive: {e}")))?;
        let mut n = 0u64;
        for entry in entries {
            let mut entry = entry.map_err(tar_error)?;
            let name = clean(&entry.path_bytes())?;
            if name.is_empty() {
                continue;
            }
            use tar::EntryType as T;
            match entry.header().entry_type() {
                T::Regular | T::Continuous => {
                    // Files go to numbered names: the archive's names never touch
                    // the file system.
                    n += 1;
                    let path = dir.join(n.to_string());
                    let (digest, size) = copy_hashing(&mut entry, &path)?;
                    let staged = Staged {
                        path,
                        digest: digest.into(),
                        size,
                    };
                    st.files.insert(name, staged);
                }
                T::Symlink => {
                    let target = entry
                        .link_name_bytes()
                        .map(|l| l.into_owned())
                        .unwrap_or_default();
                    st.links
                        .insert(name.clone(), symlink_target(&name, &target)?);
                }
                T::Link => {
                    let target = entry
                        .link_name_bytes()
                        .map(|l| l.into_owned())
                        .unwrap_or_default();
                    st.links.insert(name, clean(&target)?);
                }
                _ => {}
            }
        }
        Ok(st)
    }

    /// An image layout (or an extracted `docker save`) as a directory: its files
    /// are read where they are, never copied; symlinks are resolved by name inside
    /// it, as an archive's are, and nothing outside it is read.
    fn scan(root: &Path) -> Result<Staging, ImageError> {
        let mut st = Staging {
            dir: None,
            files: HashMap::new(),
            links: HashMap::new(),
        };
        let mut todo = vec![(root.to_path_buf(), String::new(), 0u32)];
        while let Some((dir, prefix, depth)) = todo.pop() {
            let rd = fs::read_dir(&dir).map_err(|e| bad(format!("{}: {e}", dir.display())))?;
            for ent in rd {
                let ent = ent.map_err(|e| bad(format!("{}: {e}", dir.display())))?;
                let name = format!("{prefix}{}", ent.file_name().to_string_lossy());
                let path = ent.path();
                let meta = fs::symlink_metadata(&path)
                    .map_err(|e| bad(format!("{}: {e}", path.display())))?;
                let ft = meta.file_type();
                if ft.is_file() {
                    let staged = Staged {
                        path,
                        digest: Default::default(),
                        size: meta.len(),
                    };
                    st.files.insert(name, staged);
                } else if ft.is_symlink() {
                    let target = fs::read_link(&path)
                        .map_err(|e| bad(format!("{}: {e}", path.display())))?;
                    let target = target.as_os_str().as_encoded_bytes();
                    st.links
                        .insert(name.clone(), symlink_target(&name, target)?);
                } else if ft.is_dir() && depth < 8 {
                    todo.push((path, format!("{name}/"), depth + 1));
                }
            }
        }
        Ok(st)
    }

    /// The staged file a name leads to, following the archive's own symlinks.
    fn get(&self, name: &str) -> Result<&Staged, ImageError> {
        let mut cur = clean(name.as_bytes())?;
        for _ in 0..16 {
            if let Some(f) = self.files.get(&cur) {
                return Ok(f);
            }
            match self.links.get(&cur) {
                Some(next) => cur = next.clone(),
                None => break,
            }
        }
        Err(bad(format!(
            "invalid archive: {name} is missing (truncated archive?)"
        )))
    }

    /// A blob by digest, its content checked against the name.
    fn blob(&self, digest: &str) -> Result<&Staged, ImageError> {
        let d = parse_digest(digest)
            .ok_or_else(|| bad(format!("invalid archive: bad digest {digest:?}")))?;
        let f = self.get(&format!("blobs/sha256/{}", d.digest()))?;
        check_digest(f, &d, digest)?;
        Ok(f)
    }

    fn read_file(&self, f: &Staged) -> Result<Vec<u8>, ImageError> {
        if f.size > 64 << 20 {
            return Err(bad("invalid archive: metadata file too large"));
        }
        Ok(fs::read(&f.path).ctx("read", &f.path)?)
    }
}

fn tar_error(e: io::Error) -> ImageError {
    if e.kind() == io::ErrorKind::UnexpectedEof || e.to_string().contains("EOF") {
        bad(format!(
            "invalid tar archive: {e} (the archive is truncated)"
        ))
    } else {
        bad(format!("invalid tar archive: {e}"))
    }
}

fn check_digest(f: &Staged, want: &Sha256Digest, what: &str) -> Result<(), ImageError> {
    let have = f.digest()?;
    if have != want {
        return Err(bad(format!(
            "invalid archive: {what}: digest mismatch: content is {}",
            digest_string(have)
        )));
    }
    Ok(())
}

/// Where a symlink named `name` (a cleaned name inside the archive) leads, as a
/// cleaned name inside it: absolute targets are taken from the archive's root.
fn symlink_target(name: &str, target: &[u8]) -> Result<String, ImageError> {
    let base = name.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
    let joined = if target.starts_with(b"/") {
        target.to_vec()
    } else {
        [base.as_bytes(), b"/", target].concat()
    };
    clean(&joined)
}

/// If `name` is `blobs/sha256/<hex>` or `<hex>.json`, the digest it claims.
fn claimed_digest(name: &str) -> Option<Sha256Digest> {
    let base = name.rsplit('/').next()?;
    let base = base.strip_suffix(".json").unwrap_or(base);
    if name.starts_with("blobs/") || name.ends_with(".json") {
        parse_digest(base)
    } else {
        None
    }
}

fn copy_hashing(src: &mut dyn Read, path: &Path) -> Result<(Sha256Digest, u64), ImageError> {
    let mut f = File::create(path).ctx("create", path)?;
    hash_copy(src, &mut f, path)
}

/// Copy `src` to `dst` (written to `path`), hashing it.
fn hash_copy(
    src: &mut dyn Read,
    f: &mut dyn Write,
    path: &Path,
) -> Result<(Sha256Digest, u64), ImageError> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(tar_error(e)),
        };
        h.update(&buf[..n]);
        f.write_all(&buf[..n]).ctx("write", path)?;
        size += n as u64;
    }
    let hex = hex::encode(h.finalize());
    let digest = parse_digest(&hex).ok_or_else(|| ImageError::Internal("bad sha256".into()))?;
    Ok((digest, size))
}

#[derive(Deserialize)]
struct ManifestRow {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

/// An image found in the archive: config bytes, layer files, names.
struct Found<'s> {
    config: Vec<u8>,
    layers: Vec<&'s Staged>,
    refs: Vec<Reference>,
}

fn from_manifest_json(st: &Staging) -> Result<Vec<Found<'_>>, ImageError> {
    let bytes = st.read_file(st.get("manifest.json")?)?;
    let rows: Vec<ManifestRow> = serde_json::from_slice(&bytes)
        .map_err(|e| bad(format!("invalid archive: manifest.json: {e}")))?;
    let mut out = Vec::new();
    for row in rows {
        let cfg_file = st.get(&row.config)?;
        if let Some(d) = claimed_digest(&clean(row.config.as_bytes())?) {
            check_digest(cfg_file, &d, &row.config)?;
        }
        let layers = row
            .layers
            .iter()
            .map(|l| {
                let f = st.get(l)?;
                if let Some(d) = claimed_digest(&clean(l.as_bytes())?) {
                    check_digest(f, &d, l)?;
                }
                Ok(f)
            })
            .collect::<Result<Vec<_>, ImageError>>()?;
        let refs = row
            .repo_tags
            .unwrap_or_default()
            .iter()
            .map(|t| parse_tag_target(t))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(Found {
            config: st.read_file(cfg_file)?,
            layers,
            refs,
        });
    }
    Ok(out)
}

fn from_oci_index<'s>(st: &'s Staging, opts: &LoadOptions) -> Result<Vec<Found<'s>>, ImageError> {
    let bytes = st.read_file(st.get("index.json")?)?;
    let index: Value = serde_json::from_slice(&bytes)
        .map_err(|e| bad(format!("invalid archive: index.json: {e}")))?;
    let mut out: Vec<Found<'_>> = Vec::new();
    for desc in index["manifests"].as_array().into_iter().flatten() {
        let ann = &desc["annotations"];
        let name = ann["io.containerd.image.name"]
            .as_str()
            .or_else(|| ann["org.opencontainers.image.ref.name"].as_str());
        let name = match name {
            Some(n) if n.contains(':') || n.contains('/') => Some(n.to_string()),
            // A bare tag (`skopeo copy ... oci:DIR:14.04`) names an image only
            // when the caller knows its repository.
            Some(tag) => opts.bare_tag_repo.as_ref().map(|r| format!("{r}:{tag}")),
            None => None,
        };
        let r = name.as_deref().map(parse_tag_target).transpose()?;
        let Some((config, layers)) = image_of(st, desc, 0)? else {
            continue;
        };
        // Several names of one image are several descriptors of one manifest.
        if let Some(f) = out.iter_mut().find(|f| f.config == config) {
            f.refs.extend(r);
            continue;
        }
        out.push(Found {
            config,
            layers,
            refs: r.into_iter().collect(),
        });
    }
    Ok(out)
}

/// Follow a descriptor (an index picks this machine's platform) to a config and
/// its layer blobs.
type Image<'s> = (Vec<u8>, Vec<&'s Staged>);

fn image_of<'s>(
    st: &'s Staging,
    desc: &Value,
    depth: u32,
) -> Result<Option<Image<'s>>, ImageError> {
    let digest = desc["digest"].as_str().unwrap_or("");
    let media = desc["mediaType"].as_str().unwrap_or("");
    let bytes = st.read_file(st.blob(digest)?)?;
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| bad(format!("invalid archive: manifest {digest}: {e}")))?;
    let is_index = media == MEDIA_OCI_INDEX
        || media == MEDIA_DOCKER_LIST
        || (v.get("manifests").is_some() && v.get("layers").is_none());
    if is_index {
        if depth > 4 {
            return Err(bad("invalid archive: nested indexes too deep"));
        }
        let arch = host_arch().to_string();
        let pick = v["manifests"].as_array().into_iter().flatten().find(|m| {
            let p = &m["platform"];
            p.is_null() || (p["architecture"] == arch.as_str() && p["os"] == "linux")
        });
        return match pick {
            Some(m) => image_of(st, m, depth + 1),
            None => Ok(None),
        };
    }
    let cfg_digest = v["config"]["digest"].as_str().unwrap_or("");
    let config = st.read_file(st.blob(cfg_digest)?)?;
    let layers = v["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| st.blob(l["digest"].as_str().unwrap_or("")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some((config, layers)))
}

struct Counting<'a, R> {
    inner: R,
    done: u64,
    total: u64,
    last: u64,
    id: &'a str,
    progress: &'a mut dyn FnMut(&str, u64, u64),
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if self.done - self.last >= 512 * 1024 || (n == 0 && self.done != self.last) {
            self.last = self.done;
            (self.progress)(self.id, self.done, self.total);
        }
        Ok(n)
    }
}

/// Where images are loaded from.
pub enum Source<'a> {
    /// A plain tar (`docker save`, an OCI archive), read once.
    Tar(&'a mut dyn Read),
    /// A directory holding what such a tar holds: an OCI image layout
    /// (`oci-layout`, `index.json`, `blobs/`) or an extracted `docker save`.
    Dir(&'a Path),
}

/// How a load names what it finds beyond `docker load`'s rules.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The repository of images an OCI index names by a bare tag
    /// (`org.opencontainers.image.ref.name` = `14.04`); `docker load` leaves
    /// them unnamed.
    pub bare_tag_repo: Option<String>,
}

/// Load the plain tar `src` into `store`. Returns the images with their new names.
pub fn load(
    store: &ImageStore,
    src: &mut dyn Read,
    progress: Progress<'_>,
) -> Result<Vec<Loaded>, ImageError> {
    load_from(store, Source::Tar(src), &LoadOptions::default(), progress)
}

/// Load the images of `src` into `store`, as [`load`] does: every image checks
/// out or none is added and the layers this load registered go.
pub fn load_from(
    store: &ImageStore,
    src: Source<'_>,
    opts: &LoadOptions,
    progress: Progress<'_>,
) -> Result<Vec<Loaded>, ImageError> {
    let st = match src {
        Source::Tar(r) => Staging::read(store, r)?,
        Source::Dir(d) => Staging::scan(d)?,
    };
    let found = if st.get("manifest.json").is_ok() {
        from_manifest_json(&st)?
    } else if st.get("index.json").is_ok() {
        from_oci_index(&st, opts)?
    } else {
        return Err(bad(
            "invalid archive: no manifest.json or index.json found (truncated, or not an image archive)",
        ));
    };
    if found.is_empty() {
        return Err(bad("invalid archive: it holds no image"));
    }
    let mut registered: Vec<Sha256Digest> = Vec::new();
    let res = register_all(store, &found, &mut registered, progress);
    let res = res.and_then(|()| {
        let mut loaded = Vec::new();
        for f in &found {
            let id = store.add_image(&f.config, f.refs.first())?;
            for r in f.refs.iter().skip(1) {
                store.tag_id(&id, r)?;
            }
            loaded.push(Loaded {
                id,
                tags: f.refs.iter().map(|r| r.familiar_string()).collect(),
            });
        }
        Ok(loaded)
    });
    if res.is_err() {
        if let Err(e) = store.drop_unreferenced_layers(&registered) {
            tracing::warn!(error = %e, "cannot drop the layers of a failed load");
        }
    }
    res
}

fn register_all(
    store: &ImageStore,
    found: &[Found<'_>],
    registered: &mut Vec<Sha256Digest>,
    progress: Progress<'_>,
) -> Result<(), ImageError> {
    for f in found {
        let cfg = StoredConfig::parse(&f.config)
            .map_err(|e| bad(format!("invalid archive: image config: {e}")))?;
        let diff_ids = cfg.diff_ids();
        if diff_ids.len() != f.layers.len() {
            return Err(bad(format!(
                "invalid archive: the config names {} layers, the manifest {}",
                diff_ids.len(),
                f.layers.len()
            )));
        }
        let chain = crate::image::chain_ids(&diff_ids);
        for ((layer, want), chain_id) in f.layers.iter().zip(&diff_ids).zip(&chain) {
            let short = crate::image::short_id(chain_id);
            if let Some(d) = parse_digest(want) {
                if store.layer_dir(&d).is_dir() && store.blobs().exists(&d) {
                    (progress)(&short, layer.size, layer.size);
                    continue;
                }
            }
            let file = File::open(&layer.path).ctx("open", &layer.path)?;
            let mut reader = Counting {
                inner: BufReader::with_capacity(256 * 1024, file),
                done: 0,
                total: layer.size,
                last: 0,
                id: &short,
                progress: &mut *progress,
            };
            let info = store.register_layer(&mut reader)?;
            registered.push(info.diff_id.clone());
            if &digest_string(&info.diff_id) != want {
                return Err(bad(format!(
                    "invalid diffID for layer: expected {want:?}, got {:?}",
                    digest_string(&info.diff_id)
                )));
            }
        }
    }
    Ok(())
}
