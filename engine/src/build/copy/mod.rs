//! COPY and ADD: sources resolved over a read-only merged view of layer
//! directories, written as one layer tar, as moby's classic builder
//! (`builder/dockerfile/copy.go`) makes them.
//!
//! A `LayerView` is a stack of extracted layers (bottom-most first) in
//! overlayfs form (`image::layer`): a character device 0/0 hides a path of the
//! layers below, `trusted.overlay.opaque=y` hides a directory's lower content.
//! The build context is a view of one directory. Paths are resolved inside the
//! view as a chroot would: symlinks (absolute or relative) lead inside it, `..`
//! stops at its root. A path found in a layer is made of real directories of
//! that layer, so opening it on the machine never follows a symlink out.
//!
//! The rules (Dockerfile reference, moby's classic builder):
//! - sources are relative to the source root (`/` and `..` clamp to it), may
//!   hold `filepath.Match` wildcards (matched against every path of the root,
//!   a matched directory not descended); the source path itself is followed
//!   when it is a symlink, symlinks inside a copied directory are copied as such;
//! - a directory source copies its contents; a file goes to `dest/NAME` when
//!   dest ends in `/` or is an existing directory, else it becomes `dest`;
//!   several sources need a dest ending in `/`;
//! - dest is relative to WORKDIR, its symlinks resolved in the destination view
//!   (the last one too); missing parents are made 0755 and owned by the
//!   `--chown` user; existing parents are written with their own metadata so the
//!   layer does not change them;
//! - copied entries are owned by 0:0 or the `--chown` user, keep their mode
//!   (or `--chmod`) and mtime; hard links inside the copy are kept;
//! - ADD extracts a local tar (plain, gzip, bzip2, xz; told by content) into
//!   dest, keeping the archive's owners; a downloaded URL (`Source::File`) is
//!   never extracted and is written 0600.

use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs::{File, Metadata};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Most symlinks followed in one lookup (Linux's ELOOP limit is 40; moby's
/// `FollowSymlinkInScope` allows 255).
/// One source of a COPY or ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A path (maybe with wildcards) in the source view.
    Path(String),
    /// A heredoc: `name` with this content, mode 0644.
    Bytes { name: String, data: Vec<u8> },
    /// A file of the machine (ADD's downloaded URL): written as `name`,
    /// mode 0600, with `mtime` (the Last-Modified time, or 0); never extracted.
    File {
        path: PathBuf,
        name: String,
        mtime: i64,
    },
}

/// A COPY or ADD to perform.
pub struct CopyRequest<'a> {
    /// Where `Source::Path` sources are: the context, an image, a stage.
    pub src: &'a LayerView,
    pub sources: Vec<Source>,
    /// The destination as written (variables expanded).
    pub dest: String,
    /// The image the layer goes on.
    pub dest_view: &'a LayerView,
    /// The stage's WORKDIR (empty: `/`).
    pub workdir: String,
    /// `--chown`, resolved by `resolve_chown`.
    pub chown: Option<(u32, u32)>,
    /// `--chmod`, octal already parsed.
    pub chmod: Option<u32>,
    /// ADD (extracts local archives).
    pub add: bool,
    /// "COPY" or "ADD", for error texts.
    pub instruction: &'a str,
}

/// What a COPY wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CopyStats {
    /// Tar entries written.
    pub entries: u64,
    /// Bytes of file content.
    pub bytes: u64,
}

/// A failed COPY/ADD.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The Dockerfile or the sources are at fault (a build error, 400-like).
    #[error("{0}")]
    Input(String),
    /// The machine failed (I/O on layers, the output).
    #[error("{0}")]
    Internal(String),
}

impl CopyError {
    /// True when the user's input is at fault rather than the daemon.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, CopyError::Input(_))
    }
}

fn internal(what: impl std::fmt::Display, e: impl std::fmt::Display) -> CopyError {
    CopyError::Internal(format!("{what}: {e}"))
}

/// A resolved source.
enum Item<'r> {
    View {
        node: Box<Node>,
        name: OsString,
    },
    Bytes {
        name: &'r str,
        data: &'r [u8],
    },
    File {
        path: &'r Path,
        name: &'r str,
        mtime: i64,
    },
}

fn contains_wildcards(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'*' | b'?' | b'[' => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

fn resolve_sources<'r>(req: &'r CopyRequest<'_>) -> Result<Vec<Item<'r>>, CopyError> {
    let mut items = Vec::new();
    for s in &req.sources {
        match s {
            Source::Bytes { name, data } => items.push(Item::Bytes { name, data }),
            Source::File { path, name, mtime } => items.push(Item::File {
                path,
                name,
                mtime: *mtime,
            }),
            Source::Path(p) => {
                let orig = p.trim_start_matches('/');
                let orig = orig.strip_prefix("./").unwrap_or(orig);
                if contains_wildcards(orig) {
                    let Some(root) = req.src.root() else { continue };
                    let mut found = Vec::new();
                    walk_match(req, &root, "", orig, &mut found)?;
                    for n in found {
                        // moby copies what a matched symlink points at.
                        let node = match req.src.lookup(&n.view_path(), true) {
                            Ok(Some(t)) => t,
                            _ => n.clone(),
                        };
                        let name = n.comps.last().cloned().unwrap_or_default();
                        items.push(Item::View {
                            node: Box::new(node),
                            name,
                        });
                    }
                } else {
                    let not_found = || {
                        CopyError::Input(format!(
                            "{} failed: file not found in build context or excluded by .dockerignore: stat {orig}: file does not exist",
                            req.instruction
                        ))
                    };
                    let node = req
                        .src
                        .lookup(&format!("/{orig}"), true)
                        .map_err(|e| {
                            if e.kind() == io::ErrorKind::NotFound {
                                not_found()
                            } else {
                                internal(format!("stat {orig}"), e)
                            }
                        })?
                        .ok_or_else(not_found)?;
                    let name = clean(orig.as_bytes()).pop().unwrap_or_default();
                    items.push(Item::View {
                        node: Box::new(node),
                        name,
                    });
                }
            }
        }
    }
    if items.is_empty() {
        return Err(CopyError::Input(format!(
            "{} failed: no source files were specified",
            req.instruction
        )));
    }
    Ok(items)
}

fn walk_match(
    req: &CopyRequest<'_>,
    dir: &Node,
    prefix: &str,
    pattern: &str,
    out: &mut Vec<Node>,
) -> Result<(), CopyError> {
    let kids = req
        .src
        .children(dir)
        .map_err(|e| internal(format!("reading {}", dir.view_path()), e))?;
    for n in kids {
        let name = n.comps.last().map(|c| c.to_string_lossy().into_owned());
        let rel = format!("{prefix}{}", name.unwrap_or_default());
        let m = shared::go::path_match(pattern, &rel).map_err(|_| {
            CopyError::Input(format!(
                "{} failed: syntax error in pattern",
                req.instruction
            ))
        })?;
        if m {
            out.push(n);
        } else if n.is_dir() {
            walk_match(req, &n, &format!("{rel}/"), pattern, out)?;
        }
    }
    Ok(())
}

/// Whether the file is a tar archive, maybe compressed (moby's
/// `isArchivePath`: the first header reads).
fn is_archive(path: &Path) -> bool {
    let Ok(f) = File::open(path) else {
        return false;
    };
    let Ok(mut r) = crate::archive::decompressed(f) else {
        return false;
    };
    let mut head = Vec::with_capacity(512);
    if (&mut r).take(512).read_to_end(&mut head).is_err() || head.len() < 512 {
        return false;
    }
    if head.iter().all(|&b| b == 0) {
        return false;
    }
    super::context::valid_header(&head)
}

/// `--chown=user[:group]` as moby's classic builder resolves it: numbers as is,
/// names in the destination's `/etc/passwd` and `/etc/group`; without a group
/// the user part is looked up as the group.
pub fn resolve_chown(dest: &LayerView, spec: &str) -> Result<(u32, u32), CopyError> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (user, group) = match parts.as_slice() {
        [u] => (*u, *u),
        [u, g] => (*u, *g),
        _ => {
            return Err(CopyError::Input(format!(
                "invalid chown string format: {spec}"
            )))
        }
    };
    let uid = lookup_id(dest, user, "/etc/passwd", "user")
        .map_err(|e| CopyError::Input(format!("can't find uid for user {user}: {e}")))?;
    let gid = lookup_id(dest, group, "/etc/group", "group")
        .map_err(|e| CopyError::Input(format!("can't find gid for group {group}: {e}")))?;
    Ok((uid, gid))
}

fn lookup_id(view: &LayerView, name: &str, file: &str, what: &str) -> Result<u32, String> {
    if let Ok(n) = name.parse::<u32>() {
        return Ok(n);
    }
    let mut text = String::new();
    view.open(file)
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(|e| format!("open {file}: {}", io_text(&e)))?;
    for line in text.lines() {
        let f: Vec<&str> = line.split(':').collect();
        // passwd: name:pw:uid:gid:...; group: name:pw:gid:members
        if f.len() >= 3 && f[0] == name {
            if let Ok(id) = f[2].trim().parse::<u32>() {
                return Ok(id);
            }
        }
    }
    Err(format!("no such {what}: {name}"))
}

fn io_text(e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::NotFound {
        "no such file or directory".into()
    } else {
        e.to_string()
    }
}

/// The destination path as moby's `normalizeDest` makes it, and whether it
/// ends in `/`.
fn normalize_dest(workdir: &str, dest: &str) -> (String, bool) {
    let slash = dest.ends_with('/');
    let full = if dest.starts_with('/') {
        dest.to_string()
    } else {
        format!("/{workdir}/{dest}")
    };
    (full, slash)
}

/// The layer tar that makes the COPY/ADD on `req.dest_view`, written to `out`.
pub fn write_copy_layer(req: &CopyRequest<'_>, out: impl Write) -> Result<CopyStats, CopyError> {
    let items = resolve_sources(req)?;
    if items.len() > 1 && !req.dest.ends_with('/') {
        return Err(CopyError::Input(format!(
            "When using {} with more than one source file, the destination must be a directory and end with a /",
            req.instruction
        )));
    }
    let (dest, slash) = normalize_dest(&req.workdir, &req.dest);
    let r = req
        .dest_view
        .resolve(&dest, true)
        .map_err(|e| CopyError::Input(format!("{} failed: {dest}: {e}", req.instruction)))?;
    let dest_is_dir = r.node.as_ref().is_some_and(|n| n.is_dir());
    let mut dest_comps = r.comps.clone();
    dest_comps.extend(r.rest.iter().cloned());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut w = Writer {
        tar: tar::Builder::new(BufWriter::with_capacity(BUF, out)),
        dest_view: req.dest_view,
        src: req.src,
        done: HashSet::new(),
        owner: req.chown.unwrap_or((0, 0)),
        chmod: req.chmod,
        now,
        stats: CopyStats::default(),
        links: HashMap::new(),
    };
    w.tar.mode(tar::HeaderMode::Complete);
    for item in &items {
        match item {
            Item::View { node, name } => {
                if node.is_dir() {
                    w.copy_dir_into(node, &dest_comps, dest_is_dir)?;
                    continue;
                }
                let host = req.src.node_host_path(node);
                if req.add && node.meta.is_file() && is_archive(&host) {
                    w.extract_archive(&host, &dest_comps)?;
                    continue;
                }
                let target = file_target(&dest_comps, slash || dest_is_dir, name);
                w.copy_node(node, &target)?;
            }
            Item::Bytes { name, data } => {
                let target = file_target(&dest_comps, slash || dest_is_dir, OsStr::new(name));
                w.parents(&target)?;
                let mut h = w.header(tar::EntryType::Regular, w.chmod.unwrap_or(0o644), now);
                h.set_size(data.len() as u64);
                w.append(&mut h, &target, *data)?;
                w.stats.bytes += data.len() as u64;
            }
            Item::File { path, name, mtime } => {
                let target = file_target(&dest_comps, slash || dest_is_dir, OsStr::new(name));
                w.parents(&target)?;
                let f = File::open(path).map_err(|e| internal(path.display(), e))?;
                let len = f.metadata().map_err(|e| internal(path.display(), e))?.len();
                let mut h = w.header(
                    tar::EntryType::Regular,
                    w.chmod.unwrap_or(0o600),
                    (*mtime).max(0) as u64,
                );
                h.set_size(len);
                w.append(&mut h, &target, Exact::new(f, len))?;
                w.stats.bytes += len;
            }
        }
    }
    let mut inner = w
        .tar
        .into_inner()
        .map_err(|e| internal("writing the layer", e))?;
    inner
        .flush()
        .map_err(|e| internal("writing the layer", e))?;
    Ok(w.stats)
}

fn file_target(dest: &[OsString], into_dir: bool, name: &OsStr) -> Vec<OsString> {
    let mut t = dest.to_vec();
    if into_dir && !name.is_empty() {
        t.push(name.to_os_string());
    }
    t
}

fn rel_path(comps: &[OsString]) -> PathBuf {
    if comps.is_empty() {
        return PathBuf::from(".");
    }
    let mut p = PathBuf::new();
    for c in comps {
        p.push(c);
    }
    p
}
/// The cache key of a COPY/ADD's sources: sha256 over the resolved sources
/// (their names as they land, types, modes, symlink targets and contents; not
/// times nor owners), as moby shows it in history: `file:HEX` for one file,
/// `dir:HEX` for one directory, `multi:HEX` for several.
pub fn source_checksum(req: &CopyRequest<'_>) -> Result<String, CopyError> {
    let items = resolve_sources(req)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; BUF];
    let kind = match items.as_slice() {
        [Item::View { node, .. }] if node.is_dir() => "dir",
        [_] => "file",
        _ => "multi",
    };
    for item in &items {
        match item {
            Item::View { node, name } => {
                h.update(b"source\0");
                h.update(name.as_bytes());
                h.update(b"\0");
                hash_node(req.src, node, b"", &mut h, &mut buf)?;
            }
            Item::Bytes { name, data } => {
                h.update(format!("bytes\0{name}\0{}\0", data.len()));
                h.update(data);
            }
            Item::File { path, name, .. } => {
                h.update(format!("url\0{name}\0"));
                let f = File::open(path).map_err(|e| internal(path.display(), e))?;
                hash_content(f, &mut h, &mut buf).map_err(|e| internal(path.display(), e))?;
            }
        }
    }
    Ok(format!("{kind}:{}", hex::encode(h.finalize())))
}

fn hash_content(mut f: impl Read, h: &mut Sha256, buf: &mut [u8]) -> io::Result<()> {
    let mut total: u64 = 0;
    loop {
        let n = match f.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
        total += n as u64;
    }
    h.update(format!("\0{total}\0"));
    Ok(())
}

fn hash_node(
    view: &LayerView,
    n: &Node,
    rel: &[u8],
    h: &mut Sha256,
    buf: &mut [u8],
) -> Result<(), CopyError> {
    let m = &n.meta;
    let ft = m.file_type();
    let mode = m.mode() & 0o7777;
    h.update(rel);
    h.update(b"\0");
    if ft.is_dir() {
        h.update(format!("d {mode:o}\0"));
        for k in view.children(n).map_err(|e| internal(n.view_path(), e))? {
            let mut r = rel.to_vec();
            r.push(b'/');
            r.extend_from_slice(k.comps.last().map(|c| c.as_bytes()).unwrap_or_default());
            hash_node(view, &k, &r, h, buf)?;
        }
    } else if ft.is_symlink() {
        let t =
            std::fs::read_link(view.node_host_path(n)).map_err(|e| internal(n.view_path(), e))?;
        h.update(b"l ");
        h.update(t.as_os_str().as_bytes());
        h.update(b"\0");
    } else if ft.is_file() {
        h.update(format!("f {mode:o}\0"));
        let f = view.open_node(n).map_err(|e| internal(n.view_path(), e))?;
        hash_content(f, h, buf).map_err(|e| internal(n.view_path(), e))?;
    } else {
        h.update(format!("s {mode:o} {:x} {}\0", ft_bits(m), m.rdev()));
    }
    Ok(())
}

fn ft_bits(m: &Metadata) -> u32 {
    m.mode() & libc::S_IFMT
}

mod view;
mod writer;

use view::*;
pub use view::{LayerView, Node};
use writer::*;

#[cfg(test)]
mod tests;
