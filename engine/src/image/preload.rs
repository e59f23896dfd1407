//! Images a trainer brings: `dockhand image preload` (and `serve --preload DIR`)
//! loads Docker and OCI archives (plain or compressed tars) and OCI image layout
//! directories into the machine's store (the `default` daemon's), through the same
//! code as `docker load`, and records their names in `<data_root>/preload.json`
//! (reference -> image ID).
//!
//! Every virtual host is offered each preloaded name once
//! ([`ImageStore::apply_preloaded`], when it is created or adopted and after each
//! preload): a name it does not have yet is tagged into its index, the image's
//! config and manifest known to it and its layers shared by digest, not copied.
//! What a daemon was offered is kept beside its index
//! (`daemons/<daemon>/preload-offered.json`), so an image a trainee removed does not
//! come back until the trainer preloads that name again. The layers stay in the
//! machine's index, so they are never charged to a virtual host's disk
//! ([`ImageStore::charged_bytes`]). A pull can take a preloaded image instead of
//! the registry's ([`ImageStore::adopt_preloaded`]).

use super::index::DaemonIndex;
use super::{ImageError, ImageStore, MACHINE_DAEMON};
use crate::archive::{LoadOptions, Loaded, Source};
use crate::fsutil::{read_json, write_json_atomic};
use crate::reference::Reference;
use crate::store::parse_digest;
use nix::fcntl::{Flock, FlockArg};
use shared::sync::Locked;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The record of preloaded names: reference key
/// (`docker.io/library/ubuntu:14.04`) -> image ID.
pub type PreloadRecord = BTreeMap<String, String>;

/// Archive names a directory of a bundle is read for.
const ARCHIVE_SUFFIXES: &[&str] = &[
    ".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2",
];

/// One thing to load: an archive file, or an image layout directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreloadSource {
    pub path: PathBuf,
    /// A directory (an OCI image layout or an extracted `docker save`).
    pub layout: bool,
}

fn bad(msg: impl Into<String>) -> ImageError {
    ImageError::InvalidParameter(msg.into())
}

/// `<data_root>/preload.json`.
pub fn record_path(data_root: &Path) -> PathBuf {
    data_root.join("preload.json")
}

/// The preloaded names (empty when nothing was ever preloaded).
pub fn read_record(data_root: &Path) -> PreloadRecord {
    match read_json(&record_path(data_root)) {
        Ok(r) => r.unwrap_or_default(),
        Err(e) => {
            tracing::warn!("{e}");
            PreloadRecord::new()
        }
    }
}

/// Whether `dir` holds an image layout or an extracted `docker save`.
fn is_layout(dir: &Path) -> bool {
    ["oci-layout", "index.json", "manifest.json"]
        .iter()
        .any(|f| dir.join(f).is_file())
}

fn is_archive_name(name: &str) -> bool {
    !name.starts_with('.') && ARCHIVE_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// What `paths` hold: each an archive, an image layout directory, or a
/// directory of those (one level). A path that is none of them is an error, so
/// that a mistyped bundle is told at once.
pub fn sources(paths: &[PathBuf]) -> Result<Vec<PreloadSource>, ImageError> {
    let mut out = Vec::new();
    for p in paths {
        let meta = fs::metadata(p).map_err(|e| bad(format!("{}: {e}", p.display())))?;
        if meta.is_file() {
            out.push(PreloadSource {
                path: p.clone(),
                layout: false,
            });
            continue;
        }
        if !meta.is_dir() {
            return Err(bad(format!(
                "{}: not an image archive or directory",
                p.display()
            )));
        }
        if is_layout(p) {
            out.push(PreloadSource {
                path: p.clone(),
                layout: true,
            });
            continue;
        }
        let rd = fs::read_dir(p).map_err(|e| bad(format!("{}: {e}", p.display())))?;
        let mut found: Vec<PreloadSource> = Vec::new();
        for ent in rd.flatten() {
            let path = ent.path();
            let name = ent.file_name().to_string_lossy().into_owned();
            if path.is_file() && is_archive_name(&name) {
                found.push(PreloadSource {
                    path,
                    layout: false,
                });
            } else if path.is_dir() && !name.starts_with('.') && is_layout(&path) {
                found.push(PreloadSource { path, layout: true });
            }
        }
        if found.is_empty() {
            return Err(bad(format!(
                "{}: no image archives ({}) or OCI image layouts in it",
                p.display(),
                ARCHIVE_SUFFIXES.join(", ")
            )));
        }
        found.sort_by(|a, b| a.path.cmp(&b.path));
        out.extend(found);
    }
    Ok(out)
}

/// The repository an OCI index's bare tags belong to, from the source's name as
/// `scripts/make-bundle` writes it (`NAME_TAG.tar`, `/` in NAME as `+`):
/// `ubuntu_14.04.tar` -> `ubuntu`.
fn repo_from_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_string_lossy().into_owned();
    let mut stem = name.as_str();
    for s in ARCHIVE_SUFFIXES.iter().chain(&[".oci"]) {
        if let Some(x) = stem.strip_suffix(s) {
            stem = x;
            break;
        }
    }
    let repo = match stem.rsplit_once('_') {
        Some((r, _tag)) if !r.is_empty() => r,
        _ => stem,
    };
    let repo = repo.replace('+', "/");
    Reference::parse(&repo)
        .ok()
        .filter(|r| r.explicit_tag().is_none() && r.digest().is_none())
        .map(|_| repo)
}

/// An error of one source, with its path in the text; its kind is kept.
fn with_path(e: ImageError, path: &Path) -> ImageError {
    let text = format!("{}: {e}", path.display());
    match e.kind() {
        crate::ErrorKind::InvalidParameter => ImageError::InvalidParameter(text),
        _ => ImageError::Internal(text),
    }
}

/// Exclusive lock over `preload.json`.
fn record_lock(data_root: &Path) -> Result<Flock<File>, ImageError> {
    let p = data_root.join("preload.lock");
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(|e| crate::error::IoError::new("open", &p, e))?;
    Flock::lock(f, FlockArg::LockExclusive)
        .map_err(|(_, e)| ImageError::Io(crate::error::IoError::new("lock", &p, e.into())))
}

/// Load `sources` into the machine's store `store`, one after the other, each
/// as `docker load` does (all of it or nothing), and record the names. Stops at
/// the first source that fails (its error names it); those before it stay.
/// `loaded` hears of each image as its source is done. Returns the references
/// recorded (familiar, `ubuntu:14.04`).
pub fn preload(
    store: &ImageStore,
    sources: &[PreloadSource],
    progress: crate::archive::Progress<'_>,
    loaded: &mut dyn FnMut(&PreloadSource, &Loaded),
) -> Result<Vec<String>, ImageError> {
    if store.daemon() != MACHINE_DAEMON {
        return Err(bad(
            "images are preloaded into the machine's store only, not a virtual host's",
        ));
    }
    let mut names = Vec::new();
    for src in sources {
        let opts = LoadOptions {
            bare_tag_repo: repo_from_name(&src.path),
        };
        let images =
            load_one(store, src, &opts, &mut *progress).map_err(|e| with_path(e, &src.path))?;
        let mut refs = Vec::new();
        for img in &images {
            loaded(src, img);
            for t in &img.tags {
                let r = Reference::parse(t)?.with_default_tag();
                refs.push((r.index_key(), img.id.clone()));
                names.push(r.familiar_string());
            }
            if img.tags.is_empty() {
                tracing::warn!(
                    "{}: image {} has no name; it is loaded into the machine's store but not offered to virtual hosts",
                    src.path.display(),
                    img.id
                );
            }
        }
        let _lock = record_lock(store.data_root())?;
        let mut rec = read_record(store.data_root());
        rec.extend(refs);
        write_json_atomic(&record_path(store.data_root()), &rec)?;
    }
    Ok(names)
}

fn load_one(
    store: &ImageStore,
    src: &PreloadSource,
    opts: &LoadOptions,
    progress: crate::archive::Progress<'_>,
) -> Result<Vec<Loaded>, ImageError> {
    if src.layout {
        return crate::archive::load_from(store, Source::Dir(&src.path), opts, progress);
    }
    let f = File::open(&src.path).map_err(|e| bad(format!("open: {e}")))?;
    let mut tar = crate::archive::decompressed(f)?;
    crate::archive::load_from(store, Source::Tar(&mut tar), opts, progress)
}

/// The image preloaded as `reference` (`ubuntu`, `ubuntu:14.04`), while the
/// machine still has it: its ID.
pub fn lookup_preloaded(data_root: &Path, reference: &str) -> Option<String> {
    let r = Reference::parse(reference).ok()?;
    if r.digest().is_some() {
        return None;
    }
    let key = r.with_default_tag().index_key();
    let id = read_record(data_root).get(&key)?.clone();
    machine_has(data_root, &id).then_some(id)
}

fn machine_has(data_root: &Path, id: &str) -> bool {
    DaemonIndex::load(&DaemonIndex::path(data_root, MACHINE_DAEMON))
        .is_ok_and(|idx| idx.images.contains_key(id))
}

/// One daemon's applies at a time (a creation's and a preload's may meet).
static APPLYING: Mutex<()> = Mutex::new(());

impl ImageStore {
    fn offered_path(&self) -> PathBuf {
        self.index_path.with_file_name("preload-offered.json")
    }

    /// Tag the preloaded image `id` as `key` into this daemon. Its layers are the
    /// machine's; nothing is copied.
    fn tag_preloaded(&self, key: &str, id: &str) -> Result<String, ImageError> {
        let r = Reference::parse(key)?;
        let d = parse_digest(id).ok_or_else(|| ImageError::NotFound(id.to_string()))?;
        let config = self.blobs.read(&d)?;
        let new = self.add_image(&config, Some(&r))?;
        Ok(new)
    }

    /// Tag into this daemon every preloaded name it was not offered yet and does
    /// not have (a name it has keeps its image). Returns the names tagged,
    /// familiar (`ubuntu:14.04`). Nothing to do on the machine itself.
    pub fn apply_preloaded(&self) -> Result<Vec<String>, ImageError> {
        if self.daemon == MACHINE_DAEMON {
            return Ok(Vec::new());
        }
        let record = read_record(&self.data_root);
        if record.is_empty() {
            return Ok(Vec::new());
        }
        let _one = APPLYING.locked();
        let path = self.offered_path();
        let mut offered: PreloadRecord = read_json(&path)?.unwrap_or_default();
        let mut tagged = Vec::new();
        let mut changed = false;
        for (key, id) in &record {
            if offered.get(key) == Some(id) || !machine_has(&self.data_root, id) {
                continue;
            }
            let has = self.lock_index().refs.contains_key(key);
            if !has {
                match self.tag_preloaded(key, id) {
                    Ok(_) => {
                        let name = Reference::parse(key)
                            .map(|r| r.familiar_string())
                            .unwrap_or_else(|_| key.clone());
                        tagged.push(name);
                    }
                    Err(e) => {
                        tracing::warn!(daemon = %self.daemon, "preloaded image {key}: {e}");
                        continue;
                    }
                }
            }
            offered.insert(key.clone(), id.clone());
            changed = true;
        }
        if changed {
            write_json_atomic(&path, &offered)?;
        }
        Ok(tagged)
    }

    /// Tag the image preloaded as `reference` into this daemon (moving the name
    /// from another image, as a pull does). `None`: nothing is preloaded under
    /// that name. Returns the image's ID.
    pub fn adopt_preloaded(&self, reference: &str) -> Result<Option<String>, ImageError> {
        let Some(id) = lookup_preloaded(&self.data_root, reference) else {
            return Ok(None);
        };
        let key = Reference::parse(reference)?.with_default_tag().index_key();
        if self.lock_index().refs.get(&key) == Some(&id) {
            return Ok(Some(id));
        }
        self.tag_preloaded(&key, &id).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::NewImage;

    fn layer_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o755);
            h.set_mtime(1_600_000_000);
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    /// A two-layer image `name` made in a data root of its own, saved as
    /// `docker save` writes it (manifest.json and an OCI layout).
    fn saved_image(name: &str, top: &[u8]) -> Vec<u8> {
        let src = tempfile::tempdir().unwrap();
        let s = ImageStore::open(src.path(), MACHINE_DAEMON).unwrap();
        let base = layer_tar(&[("bin/tool", b"#!/bin/sh\necho base\n"), ("etc/os", b"test")]);
        let base_id = s.import(&mut &base[..], None, &[], "").unwrap();
        let layer = s
            .register_layer(&mut &layer_tar(&[("app/top", top)])[..])
            .unwrap();
        let new = NewImage {
            parent: Some(base_id),
            layers: vec![layer],
            created_by: "COPY top /app/".into(),
            ..Default::default()
        };
        s.create_image(&new, Some(name)).unwrap();
        let set = crate::archive::SaveSet::prepare(&s, &[name.to_string()]).unwrap();
        let mut out = Vec::new();
        set.write(&mut out).unwrap();
        out
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// `tar` unpacked into `dir` as an OCI layout only: no manifest.json, and
    /// the index names the image by the bare tag `tag`.
    fn oci_layout_dir(tar: &[u8], dir: &Path, tag: &str) {
        tar::Archive::new(tar).unpack(dir).unwrap();
        fs::remove_file(dir.join("manifest.json")).unwrap();
        let _ = fs::remove_file(dir.join("repositories"));
        let p = dir.join("index.json");
        let mut idx: serde_json::Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
        for m in idx["manifests"].as_array_mut().unwrap() {
            m["annotations"] = serde_json::json!({ "org.opencontainers.image.ref.name": tag });
        }
        fs::write(&p, serde_json::to_vec(&idx).unwrap()).unwrap();
    }

    fn files_under(dir: &Path) -> usize {
        fs::read_dir(dir)
            .map(|rd| rd.flatten().count())
            .unwrap_or(0)
    }

    fn no_progress() -> impl FnMut(&str, u64, u64) {
        |_: &str, _: u64, _: u64| {}
    }

    fn run(machine: &ImageStore, paths: &[PathBuf]) -> Result<Vec<String>, ImageError> {
        let src = sources(paths)?;
        let mut seen = Vec::new();
        let names = preload(machine, &src, &mut no_progress(), &mut |_, l| {
            seen.extend(l.tags.clone())
        })?;
        assert_eq!(seen, names);
        Ok(names)
    }

    #[test]
    fn archives_and_layouts_are_preloaded_and_offered_to_virtual_hosts_free() {
        crate::testing::require_root!();
        let root = tempfile::tempdir().unwrap();
        let bundle = tempfile::tempdir().unwrap();
        let b = bundle.path();
        fs::write(
            b.join("ubuntu_14.04.tar.gz"),
            gz(&saved_image("ubuntu:14.04", b"u")),
        )
        .unwrap();
        fs::write(b.join("README"), "not an image").unwrap();
        let layout = tempfile::tempdir().unwrap();
        let nginx = layout.path().join("nginx_1.25");
        oci_layout_dir(&saved_image("whatever:9", b"n"), &nginx, "1.25");
        let machine = ImageStore::open(root.path(), MACHINE_DAEMON).unwrap();
        // A virtual host that exists before the preload.
        let disk = root.path().join("disk");
        fs::create_dir_all(&disk).unwrap();
        let early = ImageStore::open(root.path(), "early")
            .unwrap()
            .with_disk_quota(&disk);
        assert_eq!(early.apply_preloaded().unwrap(), Vec::<String>::new());

        let names = run(&machine, &[b.to_path_buf(), nginx.clone()]).unwrap();
        assert_eq!(names, ["ubuntu:14.04", "nginx:1.25"]);
        let rec = read_record(root.path());
        let ubuntu = machine.image_id("ubuntu:14.04").unwrap();
        let nginx_id = machine.image_id("nginx:1.25").unwrap();
        assert_eq!(rec.get("docker.io/library/ubuntu:14.04"), Some(&ubuntu));
        assert_eq!(rec.get("docker.io/library/nginx:1.25"), Some(&nginx_id));
        assert_eq!(machine.resolve("nginx:1.25").unwrap().layers.len(), 2);
        assert_eq!(files_under(&root.path().join("tmp")), 0, "staging is gone");

        // The host that existed is offered both; the layers are not charged.
        let before = early.charged_bytes();
        let mut got = early.apply_preloaded().unwrap();
        got.sort();
        assert_eq!(got, ["nginx:1.25", "ubuntu:14.04"]);
        assert_eq!(early.charged_bytes(), before);
        assert_eq!(early.charged_bytes(), 0);
        let r = early.resolve("ubuntu:14.04").unwrap();
        assert_eq!(r.id, ubuntu);
        assert_eq!(fs::read(r.layers[1].join("app/top")).unwrap(), b"u");
        assert_eq!(
            early.inspect("nginx:1.25").unwrap().repo_tags,
            ["nginx:1.25"]
        );
        assert_eq!(early.history("ubuntu:14.04").unwrap().len(), 2);
        // Its layers are the machine's directories, not copies.
        assert_eq!(r.layers, machine.resolve("ubuntu:14.04").unwrap().layers);
        // Offered once: removed by the trainee, it stays removed...
        assert!(early.apply_preloaded().unwrap().is_empty());
        early
            .remove("ubuntu:14.04", false, &|_: &str| Vec::new())
            .unwrap();
        assert!(early.apply_preloaded().unwrap().is_empty());
        assert!(early.image_id("ubuntu:14.04").is_err());
        // ...and the machine keeps it: the content is shared.
        assert_eq!(machine.resolve("ubuntu:14.04").unwrap().id, ubuntu);
        // A pull can take it back.
        assert_eq!(
            early.adopt_preloaded("ubuntu:14.04").unwrap(),
            Some(ubuntu.clone())
        );
        assert_eq!(early.image_id("ubuntu:14.04").unwrap(), ubuntu);
        assert_eq!(early.adopt_preloaded("debian:sid").unwrap(), None);
        assert_eq!(early.adopt_preloaded("ubuntu").unwrap(), None, "no :latest");

        // A host created later is offered everything; a name it has keeps its image.
        let late = ImageStore::open(root.path(), "late").unwrap();
        let own = late
            .import(
                &mut &layer_tar(&[("mine", b"m")])[..],
                Some("nginx:1.25"),
                &[],
                "",
            )
            .unwrap();
        assert_eq!(late.apply_preloaded().unwrap(), ["ubuntu:14.04"]);
        assert_eq!(late.image_id("nginx:1.25").unwrap(), own);

        // Preloaded images a virtual host loads itself would be charged: the
        // preloaded ones are free only because the machine holds them.
        assert_eq!(lookup_preloaded(root.path(), "ubuntu:14.04"), Some(ubuntu));
        assert_eq!(
            lookup_preloaded(root.path(), "docker.io/library/nginx:1.25"),
            Some(nginx_id)
        );
        assert_eq!(lookup_preloaded(root.path(), "nginx"), None);
    }

    #[test]
    fn a_broken_archive_leaves_no_blob_layer_or_record() {
        crate::testing::require_root!();
        let root = tempfile::tempdir().unwrap();
        let machine = ImageStore::open(root.path(), MACHINE_DAEMON).unwrap();
        let bundle = tempfile::tempdir().unwrap();
        let good = bundle.path().join("good_1.tar");
        fs::write(&good, saved_image("good:1", b"g")).unwrap();
        run(&machine, std::slice::from_ref(&good)).unwrap();
        let blobs = files_under(&root.path().join("blobs/sha256"));
        let layers = files_under(&root.path().join("layers"));
        let record = fs::read(record_path(root.path())).unwrap();

        // Truncated in the middle of a layer; and a layout with a layer whose
        // content does not match its digest.
        let whole = saved_image("bad:1", b"another layer, not yet stored");
        let cut = bundle.path().join("bad_1.tar");
        fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
        let e = run(&machine, std::slice::from_ref(&cut)).unwrap_err();
        assert!(
            e.to_string()
                .starts_with(&format!("{}: invalid", cut.display())),
            "{e}"
        );
        assert_eq!(e.kind(), crate::ErrorKind::InvalidParameter);
        let dir = bundle.path().join("bad-layout");
        oci_layout_dir(&whole, &dir, "1");
        let blobs_dir = dir.join("blobs/sha256");
        let mut biggest = fs::read_dir(&blobs_dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect::<Vec<_>>();
        biggest.sort_by_key(|p| fs::metadata(p).unwrap().len());
        let victim = biggest.last().unwrap();
        let mut data = fs::read(victim).unwrap();
        let n = data.len();
        data[n - 1100] ^= 0xff;
        fs::write(victim, data).unwrap();
        let e = run(&machine, std::slice::from_ref(&dir)).unwrap_err();
        assert!(e.to_string().contains("digest mismatch"), "{e}");
        // A later good source is not reached either.
        let e = run(&machine, &[cut.clone(), good.clone()]).unwrap_err();
        assert!(e.to_string().contains("bad_1.tar"), "{e}");

        assert_eq!(files_under(&root.path().join("blobs/sha256")), blobs);
        assert_eq!(files_under(&root.path().join("layers")), layers);
        assert_eq!(fs::read(record_path(root.path())).unwrap(), record);
        assert_eq!(files_under(&root.path().join("tmp")), 0);
        assert!(machine.image_id("bad:1").is_err());
        // The layout directory given was read, not changed or removed.
        assert!(dir.join("index.json").is_file());
    }

    #[test]
    fn sources_are_archives_layouts_or_directories_of_them() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        fs::write(p.join("a.tar"), b"x").unwrap();
        fs::write(p.join("b.tar.gz"), b"x").unwrap();
        fs::write(p.join(".hidden.tar"), b"x").unwrap();
        fs::write(p.join("notes.txt"), b"x").unwrap();
        fs::create_dir_all(p.join("lay")).unwrap();
        fs::write(p.join("lay/oci-layout"), b"{}").unwrap();
        fs::create_dir_all(p.join("other")).unwrap();
        let got = sources(&[p.to_path_buf()]).unwrap();
        let names: Vec<_> = got
            .iter()
            .map(|s| {
                (
                    s.path.file_name().unwrap().to_string_lossy().into_owned(),
                    s.layout,
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("a.tar".into(), false),
                ("b.tar.gz".into(), false),
                ("lay".into(), true)
            ]
        );
        // A layout given itself, a file of any name.
        assert!(sources(&[p.join("lay")]).unwrap()[0].layout);
        assert!(!sources(&[p.join("notes.txt")]).unwrap()[0].layout);
        let e = sources(&[p.join("other")]).unwrap_err().to_string();
        assert!(e.contains("no image archives"), "{e}");
        let e = sources(&[p.join("missing")]).unwrap_err().to_string();
        assert!(e.contains("missing: No such file"), "{e}");
        assert_eq!(
            repo_from_name(Path::new("/b/ubuntu_14.04.tar")).as_deref(),
            Some("ubuntu")
        );
        assert_eq!(
            repo_from_name(Path::new("/b/ghcr.io+org+app_1.0.tar.gz")).as_deref(),
            Some("ghcr.io/org/app")
        );
        assert_eq!(
            repo_from_name(Path::new("/b/nginx")).as_deref(),
            Some("nginx")
        );
        assert_eq!(repo_from_name(Path::new("/b/Bad Name.tar")), None);
    }

    #[test]
    fn docker_load_leaves_bare_tags_unnamed_and_preload_refuses_a_virtual_host() {
        crate::testing::require_root!();
        let root = tempfile::tempdir().unwrap();
        let bundle = tempfile::tempdir().unwrap();
        let dir = bundle.path().join("app_2");
        oci_layout_dir(&saved_image("x:1", b"x"), &dir, "2");
        let mut tar = tar::Builder::new(Vec::new());
        tar.append_dir_all(".", &dir).unwrap();
        let tar = tar.into_inner().unwrap();
        let m = ImageStore::open(root.path(), MACHINE_DAEMON).unwrap();
        let loaded = crate::archive::load(&m, &mut &tar[..], &mut no_progress()).unwrap();
        assert_eq!(loaded.len(), 1);
        assert!(loaded[0].tags.is_empty(), "{loaded:?}");
        // The same directory, preloaded, takes its repository from its name.
        assert_eq!(run(&m, std::slice::from_ref(&dir)).unwrap(), ["app:2"]);
        let v = ImageStore::open(root.path(), "vh").unwrap();
        let e = preload(
            &v,
            &sources(&[dir]).unwrap(),
            &mut no_progress(),
            &mut |_, _| {},
        );
        assert!(e.unwrap_err().to_string().contains("machine's store only"));
    }
}
