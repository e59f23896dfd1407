//! `commit`, `diff` and `export`: what a container changed, read from its overlayfs
//! upper directory.
//!
//! In the upper dir overlayfs marks a deleted path with a 0/0 character device and
//! a directory that hides everything below it with the xattr
//! `trusted.overlay.opaque=y`. A layer tar says the same in AUFS form: an empty
//! file `.wh.NAME` and an entry `DIR/.wh..wh..opq`. Commit turns the one into the
//! other; hard links (within the layer), devices, fifos, ownership, modes, times
//! and xattrs other than overlayfs' own `trusted.overlay.*` are kept.
//! `diff` follows moby's `archive.OverlayChanges`; `export` merges the image's
//! layers, the container's init layer and its upper dir into one tree.

use crate::daemon::{ContainerFs, Daemon};
use crate::error::{Error, Result};
use crate::image::changes::apply_changes;
use crate::image::layer::{OPAQUE_WHITEOUT, WHITEOUT_PREFIX};
use crate::image::NewImage;
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fs::{self, File, Metadata};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// What `docker commit` was asked.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// `REPO[:TAG]`; none leaves the image untagged.
    pub reference: Option<String>,
    pub comment: String,
    pub author: String,
    /// Dockerfile instructions (`-c`).
    pub changes: Vec<String>,
    /// Pause a running container while its upper dir is read.
    pub pause: bool,
}

/// Whether the container's exit is recorded within a second.
fn exited_soon(daemon: &Daemon, id: &str) -> bool {
    for _ in 0..20 {
        if daemon.inspect(id).map_or(true, |r| !r.state.running) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}

/// Commit a container: its changes become a new layer over its image. Returns the
/// new image ID.
pub fn commit(daemon: &Daemon, key: &str, opts: &CommitOptions) -> Result<String> {
    let fs = daemon.container_fs(key)?;
    let mut config = fs.record.config.clone();
    apply_changes(&mut config, &opts.changes).map_err(Error::InvalidParameter)?;
    if let Some(r) = opts.reference.as_deref().filter(|r| !r.is_empty()) {
        crate::image::parse_tag_target(r)?;
    }
    let mut pause = opts.pause && fs.running && !fs.paused;
    if pause {
        if let Err(e) = daemon.pause(&fs.record.id, true) {
            // A container that exits as the commit starts (`touch /f` and
            // commit at once) has no cgroup left to freeze: commit it stopped.
            if !exited_soon(daemon, &fs.record.id) {
                return Err(e);
            }
            pause = false;
        }
    }
    let layer = register_upper(daemon, &fs.upper);
    if pause {
        if let Err(e) = daemon.pause(&fs.record.id, false) {
            tracing::warn!(container = %fs.record.id, error = %e, "cannot unpause after commit");
        }
    }
    let layer = layer?;
    // moby: an empty diff adds a history entry but no layer.
    let empty = layer.diff_id == empty_layer_digest();
    let new = NewImage {
        parent: Some(fs.image_id.clone()),
        layers: if empty { vec![] } else { vec![layer.clone()] },
        config,
        created_by: fs.record.config.cmd.clone().unwrap_or_default().join(" "),
        comment: opts.comment.clone(),
        author: opts.author.clone(),
        created: None,
    };
    let id = daemon
        .images
        .create_image(&new, opts.reference.as_deref().filter(|r| !r.is_empty()));
    if empty || id.is_err() {
        let _ = daemon.images.drop_unreferenced_layers(&[layer.diff_id]);
    }
    Ok(id?)
}

/// The digest of an empty tar (1024 zero bytes), Docker's empty layer.
pub fn empty_layer_digest() -> oci_spec::image::Sha256Digest {
    crate::store::sha256_of(&[0u8; 1024])
}

/// Stream the upper dir as a layer tar into the store, through a pipe.
pub(crate) fn register_upper(daemon: &Daemon, upper: &Path) -> Result<crate::image::LayerInfo> {
    register_produced(daemon, move |w| write_layer(upper, w))
}

/// Register the layer tar that `produce` writes, streamed through a pipe.
pub(crate) fn register_produced<F>(daemon: &Daemon, produce: F) -> Result<crate::image::LayerInfo>
where
    F: FnOnce(File) -> io::Result<()> + Send,
{
    let (r, w) = nix::unistd::pipe().map_err(Error::sys("pipe"))?;
    // A larger pipe halves the context switches between producer and store.
    let _ = nix::fcntl::fcntl(
        std::os::fd::AsRawFd::as_raw_fd(&w),
        nix::fcntl::FcntlArg::F_SETPIPE_SZ(1 << 20),
    );
    std::thread::scope(|s| {
        let producer = s.spawn(move || produce(File::from(w)));
        let mut r = File::from(r);
        let res = daemon.images.register_layer(&mut r);
        drop(r);
        let produced = producer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("layer writer panicked")));
        match (res, produced) {
            (_, Err(source)) => Err(crate::image::ImageError::MakeLayer {
                what: "container's changes",
                source,
            }
            .into()),
            (Err(e), Ok(())) => Err(e.into()),
            (Ok(l), Ok(())) => Ok(l),
        }
    })
}

fn is_whiteout(md: &Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

fn is_opaque(path: &Path) -> bool {
    matches!(xattr::get(path, "trusted.overlay.opaque"), Ok(Some(v)) if v == b"y")
}

fn sorted_children(dir: &Path) -> io::Result<Vec<OsString>> {
    let mut names: Vec<OsString> = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    names.sort();
    Ok(names)
}

/// Writes tar entries for files of a tree, remembering hard links.
struct TarWriter<W: Write> {
    tar: tar::Builder<W>,
    links: HashMap<(u64, u64), PathBuf>,
}

impl<W: Write> TarWriter<W> {
    fn new(out: W) -> Self {
        TarWriter {
            tar: tar::Builder::new(out),
            links: HashMap::new(),
        }
    }

    fn header(md: &Metadata, kind: tar::EntryType) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(md.mode() & 0o7777);
        h.set_uid(md.uid() as u64);
        h.set_gid(md.gid() as u64);
        h.set_mtime(md.mtime().max(0) as u64);
        h.set_size(0);
        h
    }

    fn xattrs(&mut self, abs: &Path) -> io::Result<()> {
        let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
        if let Ok(names) = xattr::list(abs) {
            for n in names {
                let name = n.to_string_lossy().into_owned();
                if name.starts_with("trusted.overlay.") {
                    continue;
                }
                if let Ok(Some(v)) = xattr::get(abs, &n) {
                    pax.push((format!("SCHILY.xattr.{name}"), v));
                }
            }
        }
        if !pax.is_empty() {
            self.tar
                .append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))?;
        }
        Ok(())
    }

    /// One entry; `rel` is the path in the archive (no leading slash).
    fn entry(&mut self, abs: &Path, rel: &Path, md: &Metadata) -> io::Result<()> {
        use tar::EntryType as T;
        let ft = md.file_type();
        if ft.is_socket() {
            return Ok(());
        }
        if !ft.is_dir() && md.nlink() > 1 {
            let key = (md.dev(), md.ino());
            if let Some(first) = self.links.get(&key) {
                let mut h = Self::header(md, T::Link);
                let first = first.clone();
                return self.tar.append_link(&mut h, rel, first);
            }
            self.links.insert(key, rel.to_path_buf());
        }
        self.xattrs(abs)?;
        if ft.is_dir() {
            let mut h = Self::header(md, T::Directory);
            self.tar.append_data(&mut h, rel, io::empty())
        } else if ft.is_file() {
            let mut h = Self::header(md, T::Regular);
            h.set_size(md.len());
            let f = File::open(abs)?;
            self.tar.append_data(&mut h, rel, f)
        } else if ft.is_symlink() {
            let mut h = Self::header(md, T::Symlink);
            let target = fs::read_link(abs)?;
            self.tar.append_link(&mut h, rel, target)
        } else {
            let kind = if ft.is_char_device() {
                T::Char
            } else if ft.is_block_device() {
                T::Block
            } else {
                T::Fifo
            };
            let mut h = Self::header(md, kind);
            let rdev = md.rdev();
            h.set_device_major(nix::sys::stat::major(rdev) as u32)?;
            h.set_device_minor(nix::sys::stat::minor(rdev) as u32)?;
            self.tar.append_data(&mut h, rel, io::empty())
        }
    }

    fn empty_file(&mut self, rel: &Path, md: &Metadata) -> io::Result<()> {
        let mut h = Self::header(md, tar::EntryType::Regular);
        self.tar.append_data(&mut h, rel, io::empty())
    }

    fn finish(self) -> io::Result<W> {
        self.tar.into_inner()
    }
}

/// Write the overlay upper dir `upper` as a layer tar (AUFS whiteouts).
pub fn write_layer(upper: &Path, out: impl Write) -> io::Result<()> {
    let mut w = TarWriter::new(io::BufWriter::with_capacity(1 << 20, out));
    layer_dir(&mut w, upper, Path::new(""))?;
    w.finish()?.flush()
}

fn layer_dir<W: Write>(w: &mut TarWriter<W>, dir: &Path, rel: &Path) -> io::Result<()> {
    for name in sorted_children(dir)? {
        let abs = dir.join(&name);
        let r = rel.join(&name);
        let md = fs::symlink_metadata(&abs)?;
        if is_whiteout(&md) {
            let mut wh = OsString::from(WHITEOUT_PREFIX);
            wh.push(&name);
            w.empty_file(&rel.join(wh), &md)?;
            continue;
        }
        w.entry(&abs, &r, &md)?;
        if md.is_dir() {
            if is_opaque(&abs) {
                w.empty_file(&r.join(OPAQUE_WHITEOUT), &md)?;
            }
            layer_dir(w, &abs, &r)?;
        }
    }
    Ok(())
}

/// `docker diff` kinds, as the Engine API numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Modify = 0,
    Add = 1,
    Delete = 2,
}

/// One row of `docker diff`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Absolute path in the container.
    pub path: String,
    pub kind: ChangeKind,
}

/// The container's changes, as moby's `OverlayChanges` reports them.
pub fn changes(fs: &ContainerFs) -> io::Result<Vec<Change>> {
    let mut lowers: Vec<PathBuf> = fs.lower.iter().rev().cloned().collect();
    if let Some(init) = fs.upper.parent().map(|p| p.join("init")) {
        lowers.insert(0, init);
    }
    let mut out = Vec::new();
    let mut changed_dirs = std::collections::HashSet::new();
    changes_in(&fs.upper, "", &lowers, &mut out, &mut changed_dirs)?;
    Ok(out)
}

fn same_time(a: &Metadata, b: &Metadata) -> bool {
    a.mtime() == b.mtime()
        && (a.mtime_nsec() == b.mtime_nsec() || a.mtime_nsec() == 0 || b.mtime_nsec() == 0)
}

fn changes_in(
    dir: &Path,
    rel: &str,
    lowers: &[PathBuf],
    out: &mut Vec<Change>,
    changed_dirs: &mut std::collections::HashSet<String>,
) -> io::Result<()> {
    for name in sorted_children(dir)? {
        let abs = dir.join(&name);
        let path = format!("{rel}/{}", name.to_string_lossy());
        let md = fs::symlink_metadata(&abs)?;
        let deleted = is_whiteout(&md) || (md.is_dir() && is_opaque(&abs));
        let kind = if deleted {
            Some(ChangeKind::Delete)
        } else {
            let mut kind = Some(ChangeKind::Add);
            for l in lowers {
                if let Ok(lm) = fs::metadata(l.join(path.trim_start_matches('/'))) {
                    // moby stats the upper entry too (following symlinks).
                    let um = fs::metadata(&abs).unwrap_or_else(|_| md.clone());
                    if lm.is_dir()
                        && um.is_dir()
                        && lm.size() == um.size()
                        && lm.mode() == um.mode()
                        && same_time(&lm, &um)
                    {
                        kind = None;
                    } else {
                        kind = Some(ChangeKind::Modify);
                    }
                    break;
                }
            }
            kind
        };
        if let Some(kind) = kind {
            if md.is_dir() {
                changed_dirs.insert(path.clone());
            }
            if kind != ChangeKind::Modify {
                let parent = rel.to_string();
                if !parent.is_empty() && changed_dirs.insert(parent.clone()) {
                    out.push(Change {
                        path: parent,
                        kind: ChangeKind::Modify,
                    });
                }
            }
            out.push(Change {
                path: path.clone(),
                kind,
            });
        }
        if md.is_dir() && !is_whiteout(&md) {
            changes_in(&abs, &path, lowers, out, changed_dirs)?;
        }
    }
    Ok(())
}

/// `docker export`: the container's merged file system as one tar.
pub fn export(fs: &ContainerFs, out: impl Write) -> io::Result<()> {
    let mut layers: Vec<PathBuf> = fs.lower.clone();
    if let Some(init) = fs.upper.parent().map(|p| p.join("init")) {
        if init.is_dir() {
            layers.push(init);
        }
    }
    layers.push(fs.upper.clone());
    let mut tree: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    for l in &layers {
        merge_dir(&mut tree, l, Path::new(""))?;
    }
    let mut w = TarWriter::new(io::BufWriter::with_capacity(1 << 20, out));
    for (rel, abs) in &tree {
        let md = fs::symlink_metadata(abs)?;
        w.entry(abs, rel, &md)?;
    }
    w.finish()?.flush()
}

fn remove_below(tree: &mut BTreeMap<PathBuf, PathBuf>, rel: &Path) {
    let below: Vec<PathBuf> = tree
        .range(rel.to_path_buf()..)
        .take_while(|(k, _)| k.starts_with(rel))
        .filter(|(k, _)| k.as_path() != rel)
        .map(|(k, _)| k.clone())
        .collect();
    for k in below {
        tree.remove(&k);
    }
}

fn merge_dir(tree: &mut BTreeMap<PathBuf, PathBuf>, dir: &Path, rel: &Path) -> io::Result<()> {
    for name in sorted_children(dir)? {
        let abs = dir.join(&name);
        let r = rel.join(&name);
        let md = fs::symlink_metadata(&abs)?;
        if is_whiteout(&md) {
            remove_below(tree, &r);
            tree.remove(&r);
            continue;
        }
        // AUFS whiteouts inside an extracted layer never reach here: extraction
        // turned them into the overlay form. Skip any stray one all the same.
        if name.as_bytes().starts_with(WHITEOUT_PREFIX.as_bytes()) {
            continue;
        }
        if md.is_dir() {
            let was_dir = tree.get(&r).map(|p| p.is_dir()).unwrap_or(false);
            if !was_dir || is_opaque(&abs) {
                remove_below(tree, &r);
            }
            tree.insert(r.clone(), abs.clone());
            merge_dir(tree, &abs, &r)?;
        } else {
            remove_below(tree, &r);
            tree.insert(r, abs);
        }
    }
    Ok(())
}

/// Bytes used by the files under `dir` (apparent sizes), for `system df`.
pub fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let Ok(rd) = fs::read_dir(dir) else { return 0 };
    for e in rd.flatten() {
        let Ok(md) = e.metadata() else { continue };
        if md.is_dir() {
            total += dir_size(&e.path());
        } else if md.is_file() {
            total += md.len();
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn upper_dir_becomes_a_layer_with_aufs_whiteouts() {
        let t = tempfile::tempdir().unwrap();
        let up = t.path();
        fs::create_dir_all(up.join("etc/sub")).unwrap();
        fs::write(up.join("etc/new"), "x").unwrap();
        fs::hard_link(up.join("etc/new"), up.join("etc/sub/link")).unwrap();
        std::os::unix::fs::symlink("new", up.join("etc/sym")).unwrap();
        let mut buf = Vec::new();
        write_layer(up, &mut buf).unwrap();
        let mut ar = tar::Archive::new(&buf[..]);
        let mut seen = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let p = e.path().unwrap().display().to_string();
            let kind = e.header().entry_type();
            if p == "etc/new" {
                let mut s = String::new();
                e.read_to_string(&mut s).unwrap();
                assert_eq!(s, "x");
            }
            seen.push((p, kind));
        }
        let names: Vec<&str> = seen.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            names,
            ["etc", "etc/new", "etc/sub", "etc/sub/link", "etc/sym"]
        );
        assert_eq!(seen[3].1, tar::EntryType::Link);
        assert_eq!(seen[4].1, tar::EntryType::Symlink);
    }

    #[test]
    fn an_empty_tar_is_dockers_empty_layer() {
        let t = tempfile::tempdir().unwrap();
        let mut buf = Vec::new();
        write_layer(t.path(), &mut buf).unwrap();
        assert_eq!(crate::store::sha256_of(&buf), empty_layer_digest());
        assert_eq!(
            empty_layer_digest().digest(),
            "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
        );
    }
}
