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
const MAX_LINKS: usize = 255;
const BUF: usize = 1 << 20;

/// A read-only merged view over layer directories, bottom-most first.
#[derive(Debug, Clone)]
pub struct LayerView {
    layers: Vec<PathBuf>,
}

/// A path found in a view.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its components inside the view, symlinks resolved (none is a symlink
    /// except possibly the last, when not followed).
    pub comps: Vec<OsString>,
    /// The layers holding it, top-most first: several for a merged directory,
    /// one otherwise.
    layers: Vec<usize>,
    /// The metadata of its top-most copy.
    pub meta: Metadata,
}

impl Node {
    pub fn is_dir(&self) -> bool {
        self.meta.is_dir()
    }

    /// The path inside the view, `/a/b`.
    pub fn view_path(&self) -> String {
        show(&self.comps)
    }
}

/// The outcome of resolving a path that may not exist.
struct Resolved {
    /// The existing, resolved part.
    comps: Vec<OsString>,
    /// The node at `comps` when the whole path exists.
    node: Option<Node>,
    /// The missing tail (clean, no `..`).
    rest: Vec<OsString>,
}

fn show(comps: &[OsString]) -> String {
    let mut s = String::new();
    for c in comps {
        s.push('/');
        s.push_str(&c.to_string_lossy());
    }
    if s.is_empty() {
        s.push('/');
    }
    s
}

fn split(path: &[u8]) -> Vec<OsString> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(|c| OsStr::from_bytes(c).to_os_string())
        .collect()
}

/// Lexical clean below a root: `..` pops, never above the root.
fn clean(path: &[u8]) -> Vec<OsString> {
    let mut out: Vec<OsString> = Vec::new();
    for c in split(path) {
        if c == ".." {
            out.pop();
        } else {
            out.push(c);
        }
    }
    out
}

fn is_whiteout(m: &Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

fn is_opaque(p: &Path) -> bool {
    matches!(xattr::get(p, "trusted.overlay.opaque"), Ok(Some(v)) if v == b"y")
}

fn eloop(path: &str) -> io::Error {
    io::Error::other(format!("{path}: too many levels of symbolic links"))
}

impl LayerView {
    /// A view over `layers`, bottom-most first (an image's order).
    pub fn new(layers: Vec<PathBuf>) -> LayerView {
        LayerView { layers }
    }

    pub fn layers(&self) -> &[PathBuf] {
        &self.layers
    }

    fn host(&self, layer: usize, comps: &[OsString]) -> PathBuf {
        let mut p = self.layers[layer].clone();
        for c in comps {
            p.push(c);
        }
        p
    }

    fn root(&self) -> Option<Node> {
        let top = self.layers.len().checked_sub(1)?;
        let mut layers = Vec::new();
        let mut meta = None;
        for i in (0..=top).rev() {
            let p = &self.layers[i];
            match std::fs::symlink_metadata(p) {
                Ok(m) if m.is_dir() => {
                    if meta.is_none() {
                        meta = Some(m);
                    }
                    layers.push(i);
                    if is_opaque(p) {
                        break;
                    }
                }
                _ => {}
            }
        }
        Some(Node {
            comps: Vec::new(),
            layers,
            meta: meta?,
        })
    }

    /// The entry `name` of the directory `dir`, merged over the layers.
    fn child(&self, dir: &Node, name: &OsStr) -> io::Result<Option<Node>> {
        let mut comps = dir.comps.clone();
        comps.push(name.to_os_string());
        let mut found: Option<Node> = None;
        for &i in &dir.layers {
            let p = self.host(i, &comps);
            let m = match std::fs::symlink_metadata(&p) {
                Ok(m) => m,
                Err(e)
                    if e.kind() == io::ErrorKind::NotFound
                        || e.raw_os_error() == Some(libc::ENOTDIR) =>
                {
                    continue
                }
                Err(e) => return Err(e),
            };
            if is_whiteout(&m) {
                break;
            }
            let is_dir = m.is_dir();
            match &mut found {
                None => {
                    let dir = m.is_dir();
                    found = Some(Node {
                        comps: comps.clone(),
                        layers: vec![i],
                        meta: m,
                    });
                    if !dir {
                        break;
                    }
                }
                Some(f) => {
                    if !is_dir {
                        break;
                    }
                    f.layers.push(i);
                }
            }
            if is_dir && is_opaque(&p) {
                break;
            }
        }
        Ok(found)
    }

    /// Resolve `path` inside the view; the missing tail is returned as `rest`.
    fn resolve(&self, path: &str, follow_last: bool) -> io::Result<Resolved> {
        let mut todo: std::collections::VecDeque<OsString> = clean(path.as_bytes()).into();
        let Some(root) = self.root() else {
            return Ok(Resolved {
                comps: Vec::new(),
                node: None,
                rest: todo.into_iter().collect(),
            });
        };
        let mut stack: Vec<Node> = vec![root];
        let mut links = 0;
        while let Some(c) = todo.pop_front() {
            if c == ".." {
                if stack.len() > 1 {
                    stack.pop();
                }
                continue;
            }
            let cur = stack.last().expect("the root stays");
            if !cur.is_dir() {
                return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
            }
            let last = todo.is_empty();
            match self.child(cur, &c)? {
                None => {
                    let mut rest = vec![c];
                    rest.extend(todo);
                    let rest = clean(
                        rest.iter()
                            .map(|c| c.as_bytes())
                            .collect::<Vec<_>>()
                            .join(&b'/')
                            .as_slice(),
                    );
                    let comps = cur.comps.clone();
                    return Ok(Resolved {
                        comps,
                        node: None,
                        rest,
                    });
                }
                Some(n) if n.meta.file_type().is_symlink() && (!last || follow_last) => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(eloop(path));
                    }
                    let target = std::fs::read_link(self.host(n.layers[0], &n.comps))?;
                    let t = target.as_os_str().as_bytes();
                    if t.starts_with(b"/") {
                        stack.truncate(1);
                    }
                    for c in t
                        .split(|&b| b == b'/')
                        .filter(|c| !c.is_empty() && *c != b".")
                        .rev()
                    {
                        todo.push_front(OsStr::from_bytes(c).to_os_string());
                    }
                }
                Some(n) => stack.push(n),
            }
        }
        let node = stack.pop().expect("the root stays");
        Ok(Resolved {
            comps: node.comps.clone(),
            node: Some(node),
            rest: Vec::new(),
        })
    }

    /// The node at `path`, following a last symlink when `follow`.
    pub fn lookup(&self, path: &str, follow: bool) -> io::Result<Option<Node>> {
        match self.resolve(path, follow) {
            Ok(r) => Ok(r.node),
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `lstat`: the metadata at `path`, a last symlink not followed.
    pub fn lstat(&self, path: &str) -> io::Result<Option<Metadata>> {
        Ok(self.lookup(path, false)?.map(|n| n.meta))
    }

    /// `stat`: the metadata at `path`, symlinks followed inside the view.
    pub fn stat(&self, path: &str) -> io::Result<Option<Metadata>> {
        Ok(self.lookup(path, true)?.map(|n| n.meta))
    }

    /// Whether `path` is a directory (symlinks followed).
    pub fn is_dir(&self, path: &str) -> bool {
        matches!(self.stat(path), Ok(Some(m)) if m.is_dir())
    }

    /// The machine path of the top-most copy of `path` (symlinks followed
    /// inside the view; no component of it is a symlink).
    pub fn host_path(&self, path: &str) -> io::Result<Option<PathBuf>> {
        Ok(self
            .lookup(path, true)?
            .map(|n| self.host(n.layers[0], &n.comps)))
    }

    /// The machine path of a node's top-most copy.
    pub fn node_host_path(&self, n: &Node) -> PathBuf {
        self.host(n.layers[0], &n.comps)
    }

    /// Open `path` for reading (symlinks followed inside the view).
    pub fn open(&self, path: &str) -> io::Result<File> {
        let n = self
            .lookup(path, true)?
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        self.open_node(&n)
    }

    fn open_node(&self, n: &Node) -> io::Result<File> {
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(self.node_host_path(n))
    }

    /// The names in directory `path`, merged and sorted (whiteouts and opaque
    /// directories honoured).
    pub fn read_dir(&self, path: &str) -> io::Result<Vec<OsString>> {
        let n = self
            .lookup(path, true)?
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        self.list(&n)
    }

    fn list(&self, dir: &Node) -> io::Result<Vec<OsString>> {
        if !dir.is_dir() {
            return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
        }
        let mut seen: HashSet<OsString> = HashSet::new();
        let mut out: BTreeSet<OsString> = BTreeSet::new();
        for &i in &dir.layers {
            for e in std::fs::read_dir(self.host(i, &dir.comps))? {
                let e = e?;
                let name = e.file_name();
                if !seen.insert(name.clone()) {
                    continue;
                }
                let ft = e.file_type()?;
                if ft.is_char_device() && is_whiteout(&e.metadata()?) {
                    continue;
                }
                out.insert(name);
            }
        }
        Ok(out.into_iter().collect())
    }

    /// The child nodes of a directory node, sorted by name.
    pub fn children(&self, dir: &Node) -> io::Result<Vec<Node>> {
        let mut v = Vec::new();
        for name in self.list(dir)? {
            if let Some(n) = self.child(dir, &name)? {
                v.push(n);
            }
        }
        Ok(v)
    }
}

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

struct Writer<'a, W: Write> {
    tar: tar::Builder<BufWriter<W>>,
    dest_view: &'a LayerView,
    src: &'a LayerView,
    /// Directories already written.
    done: HashSet<Vec<OsString>>,
    owner: (u32, u32),
    chmod: Option<u32>,
    now: u64,
    stats: CopyStats,
    /// (dev, ino) of copied files with several links → where the first went.
    links: HashMap<(u64, u64), Vec<OsString>>,
}

impl<W: Write> Writer<'_, W> {
    fn header(&self, kind: tar::EntryType, mode: u32, mtime: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode & 0o7777);
        h.set_uid(self.owner.0.into());
        h.set_gid(self.owner.1.into());
        h.set_mtime(mtime);
        h.set_size(0);
        h
    }

    fn append(
        &mut self,
        h: &mut tar::Header,
        comps: &[OsString],
        data: impl Read,
    ) -> Result<(), CopyError> {
        self.stats.entries += 1;
        self.tar
            .append_data(h, rel_path(comps), data)
            .map_err(|e| internal("writing the layer", e))
    }

    fn append_link(
        &mut self,
        h: &mut tar::Header,
        comps: &[OsString],
        target: &Path,
    ) -> Result<(), CopyError> {
        self.stats.entries += 1;
        self.tar
            .append_link(h, rel_path(comps), target)
            .map_err(|e| internal("writing the layer", e))
    }

    /// Write each parent of `comps` (not the root): an existing directory of
    /// the destination with its own metadata, a missing one 0755 owned by the
    /// chown user.
    fn parents(&mut self, comps: &[OsString]) -> Result<(), CopyError> {
        for i in 1..comps.len() {
            self.existing_or_new_dir(&comps[..i], None)?;
        }
        Ok(())
    }

    /// Write the directory `comps`: its existing metadata in the destination,
    /// or `new` (mode, mtime) / 0755 now with the chown owner.
    fn existing_or_new_dir(
        &mut self,
        comps: &[OsString],
        new: Option<(u32, u64)>,
    ) -> Result<(), CopyError> {
        if comps.is_empty() || self.done.contains(comps) {
            return Ok(());
        }
        let path = show(comps);
        let existing = self
            .dest_view
            .lookup(&path, false)
            .map_err(|e| internal(format!("stat {path}"), e))?
            .filter(|n| n.is_dir());
        let mut h = match existing {
            Some(n) => {
                let m = &n.meta;
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(m.mode() & 0o7777);
                h.set_uid(m.uid().into());
                h.set_gid(m.gid().into());
                h.set_mtime(m.mtime().max(0) as u64);
                h.set_size(0);
                h
            }
            None => {
                let (mode, mtime) = new.unwrap_or((0o755, self.now));
                self.header(tar::EntryType::Directory, mode, mtime)
            }
        };
        self.done.insert(comps.to_vec());
        self.append(&mut h, comps, io::empty())
    }

    /// A directory source: its contents into `dest`. The destination directory
    /// takes the source directory's mode and mtime (the tar's `.` entry in
    /// moby's CopyWithTar), its owner kept when it exists.
    fn copy_dir_into(
        &mut self,
        dir: &Node,
        dest: &[OsString],
        dest_exists: bool,
    ) -> Result<(), CopyError> {
        self.parents(dest)?;
        let mode = self.chmod.unwrap_or(dir.meta.mode() & 0o7777);
        let mtime = dir.meta.mtime().max(0) as u64;
        if !self.done.contains(dest) {
            let owner = if dest_exists {
                let path = show(dest);
                match self.dest_view.lookup(&path, false) {
                    Ok(Some(n)) => (n.meta.uid(), n.meta.gid()),
                    _ => self.owner,
                }
            } else {
                self.owner
            };
            let mut h = self.header(tar::EntryType::Directory, mode, mtime);
            h.set_uid(owner.0.into());
            h.set_gid(owner.1.into());
            self.done.insert(dest.to_vec());
            self.append(&mut h, dest, io::empty())?;
        }
        self.copy_children(dir, dest)
    }

    fn copy_children(&mut self, dir: &Node, dest: &[OsString]) -> Result<(), CopyError> {
        let kids = self
            .src
            .children(dir)
            .map_err(|e| internal(format!("reading {}", dir.view_path()), e))?;
        for k in kids {
            let mut t = dest.to_vec();
            t.push(k.comps.last().cloned().unwrap_or_default());
            self.copy_node(&k, &t)?;
        }
        Ok(())
    }

    /// Copy one node (a directory with its tree) to `target`.
    fn copy_node(&mut self, n: &Node, target: &[OsString]) -> Result<(), CopyError> {
        self.parents(target)?;
        let m = &n.meta;
        let ft = m.file_type();
        let mtime = m.mtime().max(0) as u64;
        let mode = self.chmod.unwrap_or(m.mode() & 0o7777);
        let host = self.src.node_host_path(n);
        if ft.is_dir() {
            let mut h = self.header(tar::EntryType::Directory, mode, mtime);
            self.done.insert(target.to_vec());
            self.append(&mut h, target, io::empty())?;
            return self.copy_children(n, target);
        }
        if ft.is_symlink() {
            let link = std::fs::read_link(&host).map_err(|e| internal(n.view_path(), e))?;
            let mut h = self.header(tar::EntryType::Symlink, 0o777, mtime);
            return self.append_link(&mut h, target, &link);
        }
        if ft.is_file() {
            if m.nlink() > 1 {
                let key = (m.dev(), m.ino());
                if let Some(first) = self.links.get(&key).cloned() {
                    let mut h = self.header(tar::EntryType::Link, mode, mtime);
                    return self.append_link(&mut h, target, &rel_path(&first));
                }
                self.links.insert(key, target.to_vec());
            }
            let f = self
                .src
                .open_node(n)
                .map_err(|e| internal(n.view_path(), e))?;
            let len = m.len();
            let mut h = self.header(tar::EntryType::Regular, mode, mtime);
            h.set_size(len);
            self.append(&mut h, target, Exact::new(f, len))?;
            self.stats.bytes += len;
            return Ok(());
        }
        let kind = if ft.is_char_device() {
            tar::EntryType::Char
        } else if ft.is_block_device() {
            tar::EntryType::Block
        } else if ft.is_fifo() {
            tar::EntryType::Fifo
        } else {
            // Sockets are not archived (moby skips them).
            return Ok(());
        };
        let mut h = self.header(kind, mode, mtime);
        let rdev = m.rdev();
        let _ = h.set_device_major(libc::major(rdev));
        let _ = h.set_device_minor(libc::minor(rdev));
        self.append(&mut h, target, io::empty())
    }

    /// ADD of a local archive: its entries under `dest`, with their owners,
    /// modes and times.
    fn extract_archive(&mut self, host: &Path, dest: &[OsString]) -> Result<(), CopyError> {
        let bad = |e: &dyn std::fmt::Display| {
            CopyError::Input(format!("ADD failed: extracting {}: {e}", host.display()))
        };
        let f = File::open(host).map_err(|e| internal(host.display(), e))?;
        let r = crate::archive::decompressed(f).map_err(|e| bad(&e))?;
        let mut ar = tar::Archive::new(io::BufReader::with_capacity(BUF, r));
        self.parents(dest)?;
        self.existing_or_new_dir(dest, None)?;
        for entry in ar.entries().map_err(|e| bad(&e))? {
            let mut entry = entry.map_err(|e| bad(&e))?;
            let raw = entry.path_bytes().into_owned();
            let comps = crate::image::layer::clean_components(&raw).map_err(|e| bad(&e))?;
            let mut target = dest.to_vec();
            target.extend(comps);
            let src = entry.header().clone();
            let kind = src.entry_type();
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_mode(src.mode().unwrap_or(0o644) & 0o7777);
            h.set_uid(src.uid().unwrap_or(0));
            h.set_gid(src.gid().unwrap_or(0));
            h.set_mtime(src.mtime().unwrap_or(0));
            h.set_size(0);
            use tar::EntryType as T;
            match kind {
                T::Directory => {
                    if target.len() <= dest.len() {
                        continue;
                    }
                    self.parents(&target)?;
                    self.done.insert(target.clone());
                    self.append(&mut h, &target, io::empty())?;
                }
                T::Regular | T::Continuous => {
                    if target.len() <= dest.len() {
                        continue;
                    }
                    self.parents(&target)?;
                    h.set_entry_type(T::Regular);
                    let len = entry.size();
                    h.set_size(len);
                    self.stats.entries += 1;
                    self.tar
                        .append_data(&mut h, rel_path(&target), Exact::new(&mut entry, len))
                        .map_err(|e| internal("writing the layer", e))?;
                    self.stats.bytes += len;
                }
                T::Symlink => {
                    self.parents(&target)?;
                    let link = entry.link_name_bytes().map(|b| b.into_owned());
                    let link = link.ok_or_else(|| bad(&"a symlink without target"))?;
                    self.append_link(&mut h, &target, Path::new(OsStr::from_bytes(&link)))?;
                }
                T::Link => {
                    self.parents(&target)?;
                    let link = entry.link_name_bytes().map(|b| b.into_owned());
                    let link = link.ok_or_else(|| bad(&"a hard link without target"))?;
                    let mut t = dest.to_vec();
                    t.extend(crate::image::layer::clean_components(&link).map_err(|e| bad(&e))?);
                    self.append_link(&mut h, &target, &rel_path(&t))?;
                }
                T::Char | T::Block | T::Fifo => {
                    self.parents(&target)?;
                    if let (Ok(Some(a)), Ok(Some(b))) = (src.device_major(), src.device_minor()) {
                        let _ = h.set_device_major(a);
                        let _ = h.set_device_minor(b);
                    }
                    self.append(&mut h, &target, io::empty())?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Exactly `len` bytes of `inner`: a file that shrank is padded with zeros, one
/// that grew is cut, so the tar stays well formed.
struct Exact<R> {
    inner: R,
    left: u64,
    eof: bool,
}

impl<R: Read> Exact<R> {
    fn new(inner: R, len: u64) -> Self {
        Exact {
            inner,
            left: len,
            eof: false,
        }
    }
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = if self.eof {
            0
        } else {
            self.inner.read(&mut buf[..want])?
        };
        let n = if n == 0 {
            self.eof = true;
            buf[..want].fill(0);
            want
        } else {
            n
        };
        self.left -= n as u64;
        Ok(n)
    }
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

#[cfg(test)]
#[path = "copy_tests.rs"]
mod tests;
