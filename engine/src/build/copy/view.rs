//! A layered view of an image's file system (layers read top-down, whiteouts
//! and opaque directories honoured) and lookups in it as a chroot would.

use super::*;

pub(super) const MAX_LINKS: usize = 255;
pub(super) const BUF: usize = 1 << 20;

/// A read-only merged view over layer directories, bottom-most first.
#[derive(Debug, Clone)]
pub struct LayerView {
    pub(super) layers: Vec<PathBuf>,
}

/// A path found in a view.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its components inside the view, symlinks resolved (none is a symlink
    /// except possibly the last, when not followed).
    pub comps: Vec<OsString>,
    /// The layers holding it, top-most first: several for a merged directory,
    /// one otherwise.
    pub(super) layers: Vec<usize>,
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
pub(super) struct Resolved {
    /// The existing, resolved part.
    pub(super) comps: Vec<OsString>,
    /// The node at `comps` when the whole path exists.
    pub(super) node: Option<Node>,
    /// The missing tail (clean, no `..`).
    pub(super) rest: Vec<OsString>,
}

pub(super) fn show(comps: &[OsString]) -> String {
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

pub(super) fn split(path: &[u8]) -> Vec<OsString> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(|c| OsStr::from_bytes(c).to_os_string())
        .collect()
}

/// Lexical clean below a root: `..` pops, never above the root.
pub(super) fn clean(path: &[u8]) -> Vec<OsString> {
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

pub(super) fn is_whiteout(m: &Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

pub(super) fn is_opaque(p: &Path) -> bool {
    matches!(xattr::get(p, "trusted.overlay.opaque"), Ok(Some(v)) if v == b"y")
}

pub(super) fn eloop(path: &str) -> io::Error {
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

    pub(super) fn host(&self, layer: usize, comps: &[OsString]) -> PathBuf {
        let mut p = self.layers[layer].clone();
        for c in comps {
            p.push(c);
        }
        p
    }

    pub(super) fn root(&self) -> Option<Node> {
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
    pub(super) fn child(&self, dir: &Node, name: &OsStr) -> io::Result<Option<Node>> {
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
    pub(super) fn resolve(&self, path: &str, follow_last: bool) -> io::Result<Resolved> {
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

    pub(super) fn open_node(&self, n: &Node) -> io::Result<File> {
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

    pub(super) fn list(&self, dir: &Node) -> io::Result<Vec<OsString>> {
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
