//! Paths of a tree held open by a directory descriptor: a container's root (its
//! overlay with the volumes mounted in), or the machine's `/` for the CLI's side
//! of `docker cp`. Three jobs, as moby's daemon and docker/cli do them:
//!
//! - `stat`: the `X-Docker-Container-Path-Stat` of a path (`PathStat`: the mode
//!   as Go's `os.FileMode`, a symlink's target fully resolved in the root);
//! - `write_tree`: the tar of a path as moby's `TarWithOptions` writes a copy
//!   resource: the entries named after the requested base name (a directory as
//!   `NAME/` then its tree in name order), hard links kept, sockets skipped, the
//!   contents of `/proc`-like filesystems left out;
//! - `extract`: moby's `Untar` for a copy: names cleaned, entries that climb
//!   above the destination refused, and symlinks and hard links whose target
//!   does (`invalid symlink`), an existing entry replaced (never a directory by
//!   a file or back with `no_overwrite_dir_non_dir`), owners from the archive
//!   (mapped into a virtual host's range) or one owner for all.
//!
//! Every lookup starts at the root descriptor and goes one component at a time
//! with `openat(O_PATH|O_NOFOLLOW)`; a symlink is read and its target followed
//! as a chroot would follow it (an absolute target restarts at the root, `..`
//! never climbs above it), so nothing outside the root is ever reached, whatever
//! the tree's symlinks say or become meanwhile. Objects are then made, read and
//! changed through their resolved parent or their own descriptor, never by a
//! path of the machine. Mount points inside the root (volumes) are crossed like
//! any directory.

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

/// Most symlinks followed in one lookup (moby's `FollowSymlinkInScope`).
pub const MAX_LINKS: usize = 255;
/// The id a file shows when it has none in a virtual host's range.
const OVERFLOW_ID: u32 = 65534;

// ---------------------------------------------------------------------------
// Errors

/// What went wrong, in Go's words (`lstat /x: not a directory`).
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    /// The path, or a directory on the way, does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request cannot be done as asked (a 400).
    #[error("{0}")]
    Invalid(String),
    /// Anything else.
    #[error("{0}")]
    Failed(String),
}

/// Go's text for an errno (`no such file or directory`).
pub fn errno_text(e: Errno) -> String {
    let d = e.desc();
    let mut c = d.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => d.to_string(),
    }
}

/// Go's text for an I/O error, without Rust's `(os error N)`.
pub fn io_text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => errno_text(Errno::from_raw(n)),
        None => e.to_string(),
    }
}

fn op_err(op: &str, path: &str, e: Errno) -> PathError {
    let text = format!("{op} {path}: {}", errno_text(e));
    if e == Errno::ENOENT {
        PathError::NotFound(text)
    } else {
        PathError::Failed(text)
    }
}

fn to_io(e: PathError) -> io::Error {
    match e {
        PathError::NotFound(m) => io::Error::new(io::ErrorKind::NotFound, m),
        PathError::Invalid(m) | PathError::Failed(m) => io::Error::other(m),
    }
}

// ---------------------------------------------------------------------------
// Go's path/filepath, on `/` paths

/// Go's `filepath.Clean` on bytes.
pub fn clean_bytes(p: &[u8]) -> Vec<u8> {
    if p.is_empty() {
        return b".".to_vec();
    }
    let rooted = p[0] == b'/';
    let mut out: Vec<&[u8]> = Vec::new();
    for c in p.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if out.last().is_some_and(|l| *l != b"..") {
                    out.pop();
                } else if !rooted {
                    out.push(c);
                }
            }
            _ => out.push(c),
        }
    }
    let mut s = Vec::with_capacity(p.len());
    if rooted {
        s.push(b'/');
    }
    s.extend_from_slice(&out.join(&b'/'));
    if s.is_empty() {
        s.push(b'.');
    }
    s
}

/// Go's `filepath.Clean`.
pub fn clean(p: &str) -> String {
    String::from_utf8_lossy(&clean_bytes(p.as_bytes())).into_owned()
}

/// Go's `filepath.Base`.
pub fn base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

/// Go's `filepath.Dir`.
pub fn dir(p: &str) -> String {
    let i = p.rfind('/').map(|i| i + 1).unwrap_or(0);
    clean(&p[..i])
}

/// Go's `filepath.Join` of two elements.
pub fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => String::new(),
        (true, false) => clean(b),
        (false, true) => clean(a),
        (false, false) => clean(&format!("{a}/{b}")),
    }
}

pub fn has_trailing_separator(p: &str) -> bool {
    p.ends_with('/')
}

/// The last element is `.`.
pub fn specifies_current_dir(p: &str) -> bool {
    base(p) == "."
}

/// The path says it is a directory (`dir/` or `dir/.`).
pub fn asserts_directory(p: &str) -> bool {
    has_trailing_separator(p) || specifies_current_dir(p)
}

/// go-archive's `PreserveTrailingDotOrSeparator`: give a cleaned path back the
/// trailing `/.` or `/` the original had.
pub fn preserve_trailing_dot_or_separator(cleaned: &str, original: &str) -> String {
    let mut c = cleaned.to_string();
    if !specifies_current_dir(&c) && specifies_current_dir(original) {
        if !has_trailing_separator(&c) {
            c.push('/');
        }
        c.push('.');
    }
    if !has_trailing_separator(&c) && has_trailing_separator(original) {
        c.push('/');
    }
    c
}

/// go-archive's `SplitPathDirEntry`: directory and base name, a trailing `.`
/// kept as the base.
pub fn split_path_dir_entry(p: &str) -> (String, String) {
    let mut c = clean(p);
    if specifies_current_dir(p) {
        c.push_str("/.");
    }
    (dir(&c), base(&c))
}

fn components(p: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    p.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
}

fn replace_first(s: &[u8], old: &[u8], new: &[u8]) -> Vec<u8> {
    if old.is_empty() {
        let mut v = new.to_vec();
        v.extend_from_slice(s);
        return v;
    }
    match s.windows(old.len()).position(|w| w == old) {
        Some(i) => {
            let mut v = s[..i].to_vec();
            v.extend_from_slice(new);
            v.extend_from_slice(&s[i + old.len()..]);
            v
        }
        None => s.to_vec(),
    }
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn quote(b: &[u8]) -> String {
    shared::go::quote(&show(b))
}

// ---------------------------------------------------------------------------
// Stat

/// `X-Docker-Container-Path-Stat`, moby's `container.PathStat`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    /// Go's `os.FileMode`.
    pub mode: u32,
    /// RFC 3339 with Go's trimmed nanoseconds.
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// Go's `os.FileMode` bits.
pub mod go_mode {
    pub const DIR: u32 = 1 << 31;
    pub const SYMLINK: u32 = 1 << 27;
    pub const DEVICE: u32 = 1 << 26;
    pub const NAMED_PIPE: u32 = 1 << 25;
    pub const SOCKET: u32 = 1 << 24;
    pub const SETUID: u32 = 1 << 23;
    pub const SETGID: u32 = 1 << 22;
    pub const CHAR_DEVICE: u32 = 1 << 21;
    pub const STICKY: u32 = 1 << 20;
    pub const IRREGULAR: u32 = 1 << 19;
}

impl PathStat {
    pub fn is_dir(&self) -> bool {
        self.mode & go_mode::DIR != 0
    }
    pub fn is_symlink(&self) -> bool {
        self.mode & go_mode::SYMLINK != 0
    }
}

/// A `st_mode` as Go's `os.FileMode`.
pub fn go_file_mode(st_mode: u32) -> u32 {
    let mut m = st_mode & 0o777;
    if st_mode & libc::S_ISUID != 0 {
        m |= go_mode::SETUID;
    }
    if st_mode & libc::S_ISGID != 0 {
        m |= go_mode::SETGID;
    }
    if st_mode & libc::S_ISVTX != 0 {
        m |= go_mode::STICKY;
    }
    m | match st_mode & libc::S_IFMT {
        libc::S_IFDIR => go_mode::DIR,
        libc::S_IFLNK => go_mode::SYMLINK,
        libc::S_IFBLK => go_mode::DEVICE,
        libc::S_IFCHR => go_mode::DEVICE | go_mode::CHAR_DEVICE,
        libc::S_IFIFO => go_mode::NAMED_PIPE,
        libc::S_IFSOCK => go_mode::SOCKET,
        _ => 0,
    }
}

/// Go's `time.Time` JSON in UTC: RFC 3339, nanoseconds with trailing zeros cut.
pub fn go_time(secs: i64, nanos: i64) -> String {
    let t = chrono::DateTime::from_timestamp(secs, nanos.clamp(0, 999_999_999) as u32)
        .unwrap_or_default();
    let mut s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

// ---------------------------------------------------------------------------
// The root and lookups

/// A virtual host's ids: `0..size` inside are `base..base+size` on the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMap {
    pub base: u32,
    pub size: u32,
}

impl IdMap {
    /// The id a machine id shows inside.
    pub fn to_container(&self, id: u32) -> u32 {
        match id.checked_sub(self.base) {
            Some(n) if n < self.size => n,
            _ => OVERFLOW_ID,
        }
    }

    /// The machine id of an id inside.
    pub fn to_host(&self, id: u32) -> Result<u32, PathError> {
        if id < self.size {
            Ok(self.base + id)
        } else {
            Err(PathError::Failed(format!(
                "Container ID {id} cannot be mapped to a host ID"
            )))
        }
    }
}

/// A directory every path is resolved in.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    ids: Option<IdMap>,
}

struct Step {
    name: OsString,
    fd: OwnedFd,
}

/// Where a lookup ended.
struct Walk {
    /// The resolved components, each open (`O_PATH`).
    steps: Vec<Step>,
    /// What was not found, the missing component first (empty: all found).
    rest: Vec<OsString>,
}

impl Walk {
    fn found(&self) -> bool {
        self.rest.is_empty()
    }
}

/// Whether a lookup makes missing directories, and whose they are.
#[derive(Clone, Copy)]
enum Make {
    Nothing,
    Dirs(Option<(u32, u32)>),
}

fn open_path(dir: RawFd, name: &OsStr) -> Result<OwnedFd, Errno> {
    let fd = nix::fcntl::openat(
        Some(dir),
        name,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: openat just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn fstat(fd: RawFd) -> Result<FileStat, Errno> {
    nix::sys::stat::fstat(fd)
}

fn kind(st: &FileStat) -> u32 {
    st.st_mode & libc::S_IFMT
}

fn proc_path(fd: RawFd) -> String {
    format!("/proc/self/fd/{fd}")
}

impl Root {
    /// The directory at `path` of the caller's file system as the root.
    pub fn open(path: &std::path::Path, ids: Option<IdMap>) -> io::Result<Root> {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(io::Error::from)?;
        // SAFETY: open just returned this descriptor and nothing else owns it.
        Ok(Root::from_fd(unsafe { OwnedFd::from_raw_fd(fd) }, ids))
    }

    /// A root from an open directory (`O_PATH` is enough).
    pub fn from_fd(fd: OwnedFd, ids: Option<IdMap>) -> Root {
        Root { fd, ids }
    }

    pub fn ids(&self) -> Option<IdMap> {
        self.ids
    }

    fn at(&self, steps: &[Step]) -> RawFd {
        steps
            .last()
            .map(|s| s.fd.as_raw_fd())
            .unwrap_or(self.fd.as_raw_fd())
    }

    /// Resolve `path` (absolute in the root) one component at a time.
    fn walk(&self, path: &[u8], follow_last: bool, make: Make) -> Result<Walk, Errno> {
        let mut todo: Vec<OsString> = components(path)
            .rev()
            .map(|c| OsStr::from_bytes(c).to_os_string())
            .collect();
        let mut steps: Vec<Step> = Vec::new();
        let mut links = 0;
        while let Some(c) = todo.pop() {
            if c == ".." {
                steps.pop();
                continue;
            }
            let dir = self.at(&steps);
            let fd = match open_path(dir, &c) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) => match make {
                    Make::Dirs(owner) => {
                        match nix::sys::stat::mkdirat(
                            Some(dir),
                            c.as_os_str(),
                            Mode::from_bits_truncate(0o755),
                        ) {
                            Ok(()) => {
                                if let Some((uid, gid)) = owner {
                                    nix::unistd::fchownat(
                                        Some(dir),
                                        c.as_os_str(),
                                        Some(nix::unistd::Uid::from_raw(uid)),
                                        Some(nix::unistd::Gid::from_raw(gid)),
                                        AtFlags::AT_SYMLINK_NOFOLLOW,
                                    )?;
                                }
                            }
                            Err(Errno::EEXIST) => {}
                            Err(e) => return Err(e),
                        }
                        open_path(dir, &c)?
                    }
                    Make::Nothing => {
                        let mut rest = vec![c];
                        rest.extend(todo.into_iter().rev());
                        return Ok(Walk { steps, rest });
                    }
                },
                Err(e) => return Err(e),
            };
            let st = fstat(fd.as_raw_fd())?;
            if kind(&st) == libc::S_IFLNK && (!todo.is_empty() || follow_last) {
                links += 1;
                if links > MAX_LINKS {
                    return Err(Errno::ELOOP);
                }
                let target = nix::fcntl::readlinkat(Some(fd.as_raw_fd()), "")?;
                let t = target.as_bytes();
                if t.starts_with(b"/") {
                    steps.clear();
                }
                todo.extend(
                    components(t)
                        .rev()
                        .map(|c| OsStr::from_bytes(c).to_os_string()),
                );
                continue;
            }
            steps.push(Step { name: c, fd });
        }
        Ok(Walk {
            steps,
            rest: vec![],
        })
    }

    fn resolved_path(w: &Walk) -> String {
        let mut comps: Vec<&OsStr> = w.steps.iter().map(|s| s.name.as_os_str()).collect();
        for r in &w.rest {
            if r == ".." {
                comps.pop();
            } else {
                comps.push(r);
            }
        }
        let v: Vec<String> = comps
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        format!("/{}", v.join("/"))
    }

    /// moby's `FollowSymlinkInScope(path, "/")`: every symlink on the way
    /// resolved; a missing tail is kept as written.
    pub fn follow_in_scope(&self, path: &str) -> Result<String, PathError> {
        let w = self
            .walk(path.as_bytes(), true, Make::Nothing)
            .map_err(|e| op_err("lstat", path, e))?;
        Ok(Self::resolved_path(&w))
    }

    /// `filepath.EvalSymlinks` in the root: the resolved path of an existing
    /// object (the last symlink followed too) and its metadata.
    pub fn eval_symlinks(&self, path: &str) -> Result<(String, FileStat), PathError> {
        let w = self
            .walk(path.as_bytes(), true, Make::Nothing)
            .map_err(|e| op_err("lstat", path, e))?;
        if !w.found() {
            return Err(op_err("lstat", &Self::resolved_path(&w), Errno::ENOENT));
        }
        let st = fstat(self.at(&w.steps)).map_err(|e| op_err("lstat", path, e))?;
        Ok((Self::resolved_path(&w), st))
    }

    /// moby's `containerFSView.Stat`: `lstat` of `path` (a trailing `/` or `/.`
    /// follows a last symlink, as it does in Go) with the link target resolved.
    pub fn stat(&self, path: &str) -> Result<PathStat, PathError> {
        let follow = asserts_directory(path);
        let w = self
            .walk(path.as_bytes(), follow, Make::Nothing)
            .map_err(|e| op_err("lstat", path, e))?;
        if !w.found() {
            return Err(op_err("lstat", path, Errno::ENOENT));
        }
        let st = fstat(self.at(&w.steps)).map_err(|e| op_err("lstat", path, e))?;
        let link_target = if kind(&st) == libc::S_IFLNK {
            self.follow_in_scope(path)?
        } else {
            String::new()
        };
        Ok(PathStat {
            name: base(path),
            size: st.st_size,
            mode: go_file_mode(st.st_mode),
            mtime: go_time(st.st_mtime, st.st_mtime_nsec),
            link_target,
        })
    }

    /// Where a mount goes: `dest` made inside the root when missing (its
    /// directories, and an empty file when the source is not a directory),
    /// every symlink on the way resolved in the root; returned open (`O_PATH`)
    /// so that a mount onto `/proc/self/fd/N` lands exactly there.
    pub fn mount_point(&self, dest: &str, is_dir: bool) -> Result<OwnedFd, PathError> {
        if !is_dir {
            let pw = self
                .walk(dir(dest).as_bytes(), true, Make::Dirs(None))
                .map_err(|e| op_err("mkdir", &dir(dest), e))?;
            match nix::fcntl::openat(
                Some(self.at(&pw.steps)),
                base(dest).as_str(),
                OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_WRONLY
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o755),
            ) {
                // SAFETY: openat just returned this descriptor; closing it at once.
                Ok(fd) => drop(unsafe { OwnedFd::from_raw_fd(fd) }),
                Err(Errno::EEXIST) => {}
                Err(e) => return Err(op_err("open", dest, e)),
            }
        }
        let make = if is_dir {
            Make::Dirs(None)
        } else {
            Make::Nothing
        };
        let w = self
            .walk(dest.as_bytes(), true, make)
            .map_err(|e| op_err("mkdir", dest, e))?;
        match w.steps.into_iter().last() {
            Some(s) if w.rest.is_empty() => Ok(s.fd),
            _ => Err(PathError::Invalid(format!("invalid mount point {dest}"))),
        }
    }

    /// Read a whole small file (passwd, group) of the tree; empty when missing.
    pub fn read_small_file(&self, path: &str) -> String {
        let Ok(w) = self.walk(path.as_bytes(), true, Make::Nothing) else {
            return String::new();
        };
        if !w.found() {
            return String::new();
        }
        let Ok(st) = fstat(self.at(&w.steps)) else {
            return String::new();
        };
        if kind(&st) != libc::S_IFREG || st.st_size > (4 << 20) {
            return String::new();
        }
        let mut s = String::new();
        let _ = File::open(proc_path(self.at(&w.steps))).and_then(|mut f| f.read_to_string(&mut s));
        s
    }
}

// ---------------------------------------------------------------------------
// Archiving a path

/// Filesystems whose contents are the kernel's, not the container's.
const KERNEL_FS: &[u64] = &[
    0x9fa0,      // proc
    0x6265_6572, // sysfs
    0x1cd1,      // devpts
    0x1980_0202, // mqueue
    0x0027_e0eb, // cgroup
    0x6367_7270, // cgroup2
    0x7363_6673, // securityfs
    0x6462_6720, // debugfs
    0x7472_6163, // tracefs
    0xcafe_4a11, // bpf
];

fn is_kernel_fs(fd: RawFd) -> bool {
    let mut s = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: fstatfs fills the struct for an open descriptor.
    if unsafe { libc::fstatfs(fd, s.as_mut_ptr()) } != 0 {
        return false;
    }
    // `f_type` is signed on glibc, unsigned on musl.
    // SAFETY: fstatfs succeeded and initialised it.
    let t = unsafe { s.assume_init() }.f_type as u64;
    KERNEL_FS.contains(&t)
}

/// Reads exactly `len` bytes: a file that shrank is padded with zeros, one that
/// grew is cut, so the tar header's size stays true.
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(self.left as usize);
        let n = match self.inner.read(&mut buf[..want])? {
            0 => {
                buf[..want].fill(0);
                want
            }
            n => n,
        };
        self.left -= n as u64;
        Ok(n)
    }
}

struct TarOut<W: Write> {
    b: tar::Builder<W>,
    links: HashMap<(u64, u64), Vec<u8>>,
    ids: Option<IdMap>,
}

impl<W: Write> TarOut<W> {
    fn header(&self, st: &FileStat, kind: tar::EntryType) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(st.st_mode & 0o7777);
        let (uid, gid) = match self.ids {
            Some(m) => (m.to_container(st.st_uid), m.to_container(st.st_gid)),
            None => (st.st_uid, st.st_gid),
        };
        h.set_uid(uid as u64);
        h.set_gid(gid as u64);
        h.set_mtime(st.st_mtime.max(0) as u64);
        h.set_size(0);
        h
    }

    /// A GNU long name or long link record for a name that does not fit.
    fn long(&mut self, kind: tar::EntryType, bytes: &[u8]) -> io::Result<()> {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        let mut data = bytes.to_vec();
        data.push(0);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.b.append(&h, &data[..])
    }

    /// Append with the names exactly as given (no normalising).
    fn append(
        &mut self,
        mut h: tar::Header,
        name: &[u8],
        link: Option<&[u8]>,
        data: impl Read,
    ) -> io::Result<()> {
        if name.len() > 100 {
            self.long(tar::EntryType::GNULongName, name)?;
        }
        let n = name.len().min(100);
        h.as_old_mut().name[..n].copy_from_slice(&name[..n]);
        if let Some(l) = link {
            if l.len() > 100 {
                self.long(tar::EntryType::GNULongLink, l)?;
            }
            let n = l.len().min(100);
            h.as_old_mut().linkname[..n].copy_from_slice(&l[..n]);
        }
        h.set_cksum();
        self.b.append(&h, data)
    }

    /// moby keeps `security.capability` (a PAX record before the entry).
    fn capability(&mut self, f: &File) -> io::Result<()> {
        if let Ok(Some(v)) = xattr::FileExt::get_xattr(f, "security.capability") {
            self.b
                .append_pax_extensions([("SCHILY.xattr.security.capability", v.as_slice())])?;
        }
        Ok(())
    }

    /// The object `name` of directory `dir`, as `tar_name`; a directory with
    /// its tree.
    fn entry(
        &mut self,
        dir: RawFd,
        name: &OsStr,
        st: &FileStat,
        tar_name: &[u8],
    ) -> io::Result<()> {
        use tar::EntryType as T;
        match kind(st) {
            libc::S_IFDIR => {
                let fd = nix::fcntl::openat(
                    Some(dir),
                    name,
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                );
                let fd = match fd {
                    Ok(fd) => fd,
                    Err(Errno::ENOENT) => return Ok(()),
                    Err(e) => return Err(e.into()),
                };
                // SAFETY: openat just returned this descriptor and nothing else owns it.
                let d = unsafe { File::from_raw_fd(fd) };
                self.directory(&d, tar_name)
            }
            libc::S_IFREG => {
                let fd = nix::fcntl::openat(
                    Some(dir),
                    name,
                    OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
                    Mode::empty(),
                );
                let fd = match fd {
                    Ok(fd) => fd,
                    // Gone since it was listed.
                    Err(Errno::ENOENT) => return Ok(()),
                    Err(e) => return Err(e.into()),
                };
                // SAFETY: openat just returned this descriptor and nothing else owns it.
                let f = unsafe { File::from_raw_fd(fd) };
                let st = fstat(f.as_raw_fd())?;
                if kind(&st) != libc::S_IFREG {
                    return Ok(());
                }
                if st.st_nlink > 1 {
                    let key = (st.st_dev, st.st_ino);
                    if let Some(first) = self.links.get(&key).cloned() {
                        let h = self.header(&st, T::Link);
                        return self.append(h, tar_name, Some(&first), io::empty());
                    }
                    self.links.insert(key, tar_name.to_vec());
                }
                self.capability(&f)?;
                let mut h = self.header(&st, T::Regular);
                h.set_size(st.st_size as u64);
                let len = st.st_size as u64;
                self.append(
                    h,
                    tar_name,
                    None,
                    Exact {
                        inner: f,
                        left: len,
                    },
                )
            }
            libc::S_IFLNK => {
                let target = match nix::fcntl::readlinkat(Some(dir), name) {
                    Ok(t) => t,
                    Err(Errno::ENOENT) => return Ok(()),
                    Err(e) => return Err(e.into()),
                };
                let h = self.header(st, T::Symlink);
                self.append(h, tar_name, Some(target.as_bytes()), io::empty())
            }
            libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO => {
                let k = match kind(st) {
                    libc::S_IFCHR => T::Char,
                    libc::S_IFBLK => T::Block,
                    _ => T::Fifo,
                };
                if st.st_nlink > 1 {
                    let key = (st.st_dev, st.st_ino);
                    if let Some(first) = self.links.get(&key).cloned() {
                        let h = self.header(st, T::Link);
                        return self.append(h, tar_name, Some(&first), io::empty());
                    }
                    self.links.insert(key, tar_name.to_vec());
                }
                let mut h = self.header(st, k);
                if k != T::Fifo {
                    let rdev = st.st_rdev;
                    h.set_device_major(nix::sys::stat::major(rdev) as u32)?;
                    h.set_device_minor(nix::sys::stat::minor(rdev) as u32)?;
                }
                self.append(h, tar_name, None, io::empty())
            }
            // Sockets cannot be archived; moby skips them.
            _ => Ok(()),
        }
    }

    fn directory(&mut self, d: &File, tar_name: &[u8]) -> io::Result<()> {
        let st = fstat(d.as_raw_fd())?;
        let mut own = tar_name.to_vec();
        if !own.ends_with(b"/") {
            own.push(b'/');
        }
        self.capability(d)?;
        let h = self.header(&st, tar::EntryType::Directory);
        self.append(h, &own, None, io::empty())?;
        if is_kernel_fs(d.as_raw_fd()) {
            return Ok(());
        }
        let mut names: Vec<OsString> = Vec::new();
        let dup = nix::unistd::dup(d.as_raw_fd())?;
        let mut it = nix::dir::Dir::from_fd(dup)?;
        for e in it.iter() {
            let e = e?;
            let n = e.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push(OsStr::from_bytes(n).to_os_string());
            }
        }
        drop(it);
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for n in names {
            let st = match nix::sys::stat::fstatat(
                Some(d.as_raw_fd()),
                n.as_os_str(),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            ) {
                Ok(st) => st,
                Err(Errno::ENOENT) => continue,
                Err(e) => return Err(e.into()),
            };
            let child = if tar_name == b"/" {
                [b"/", n.as_bytes()].concat()
            } else {
                [tar_name, b"/", n.as_bytes()].concat()
            };
            self.entry(d.as_raw_fd(), &n, &st, &child)?;
        }
        Ok(())
    }
}

impl Root {
    /// Write the tar of `path` (a directory with its tree), its top entry named
    /// `top` (`NAME`, `.`, or `/` whose entries are then `/x`). A last symlink
    /// is followed when `follow_last`.
    pub fn write_tree(
        &self,
        path: &str,
        follow_last: bool,
        top: &[u8],
        out: impl Write,
    ) -> io::Result<()> {
        let w = self
            .walk(path.as_bytes(), follow_last, Make::Nothing)
            .map_err(|e| to_io(op_err("lstat", path, e)))?;
        if !w.found() {
            return Err(to_io(op_err("lstat", path, Errno::ENOENT)));
        }
        let mut t = TarOut {
            b: tar::Builder::new(io::BufWriter::with_capacity(1 << 20, out)),
            links: HashMap::new(),
            ids: self.ids,
        };
        match w.steps.split_last() {
            Some((last, before)) => {
                let parent = self.at(before);
                let st = nix::sys::stat::fstatat(
                    Some(parent),
                    last.name.as_os_str(),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )?;
                t.entry(parent, &last.name, &st, top)?;
            }
            None => {
                let fd = nix::fcntl::openat(
                    Some(self.fd.as_raw_fd()),
                    ".",
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )?;
                // SAFETY: openat just returned this descriptor and nothing else owns it.
                let d = unsafe { File::from_raw_fd(fd) };
                t.directory(&d, top)?;
            }
        }
        t.b.into_inner()?.flush()
    }

    /// moby's `containerArchivePath` after the stat: the tar of `abs` (a path
    /// as `PreserveTrailingDotOrSeparator` left it), entries named after its
    /// base name.
    pub fn write_resource(&self, abs: &str, out: impl Write) -> io::Result<()> {
        self.write_tree(abs, asserts_directory(abs), base(abs).as_bytes(), out)
    }
}

// ---------------------------------------------------------------------------
// Extracting

/// How `extract` treats an archive (moby's `TarOptions` for a copy).
#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// Give entries owners (false: moby's `NoLchown`, the CLI's local side).
    pub chown: bool,
    /// One owner (machine ids) for every entry instead of the archive's
    /// (`copyUIDGID`).
    pub chown_to: Option<(u32, u32)>,
    /// Never replace a directory by a non-directory or back.
    pub no_overwrite_dir_non_dir: bool,
    /// Make device nodes (a virtual host's copies skip them, as moby does in a
    /// user namespace).
    pub devices: bool,
    /// Rename the first occurrence of `.0` by `.1` in every name and hard-link
    /// target, in order (docker/cli's `RebaseArchiveEntries`).
    pub rebase: Vec<(Vec<u8>, Vec<u8>)>,
}

fn set_times_path(p: &str, mtime: i64, nofollow: bool) -> Result<(), Errno> {
    let t = nix::sys::time::TimeSpec::new(mtime, 0);
    let flag = if nofollow {
        nix::sys::stat::UtimensatFlags::NoFollowSymlink
    } else {
        nix::sys::stat::UtimensatFlags::FollowSymlink
    };
    nix::sys::stat::utimensat(None, p, &t, &t, flag)
}

/// Remove `name` of `dir` and, for a directory, its tree (moby's `RemoveAll`).
fn remove_all_at(dir: RawFd, name: &OsStr) -> Result<(), Errno> {
    use nix::unistd::{unlinkat, UnlinkatFlags};
    match unlinkat(Some(dir), name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => return Ok(()),
        Err(Errno::EISDIR) => {}
        Err(e) => return Err(e),
    }
    let fd = nix::fcntl::openat(
        Some(dir),
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: openat just returned this descriptor and nothing else owns it.
    let d = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut names = Vec::new();
    {
        let mut it = nix::dir::Dir::from_fd(nix::unistd::dup(d.as_raw_fd())?)?;
        for e in it.iter() {
            let e = e?;
            let n = e.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push(OsStr::from_bytes(n).to_os_string());
            }
        }
    }
    for n in names {
        remove_all_at(d.as_raw_fd(), &n)?;
    }
    match unlinkat(Some(dir), name, UnlinkatFlags::RemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(e),
    }
}

fn pax_xattrs<R: Read>(entry: &mut tar::Entry<'_, R>) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    if let Ok(Some(exts)) = entry.pax_extensions() {
        for ext in exts.flatten() {
            if let Ok(key) = ext.key() {
                if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                    out.push((name.to_string(), ext.value_bytes().to_vec()));
                }
            }
        }
    }
    out
}

impl Root {
    /// moby's `Untar` of a copy into `dest`, a directory's resolved path.
    pub fn extract(
        &self,
        dest: &str,
        opts: &ExtractOptions,
        input: impl Read,
    ) -> Result<(), PathError> {
        use tar::EntryType as T;
        let failed = |e: io::Error| PathError::Failed(e.to_string());
        let implied_owner = if opts.chown {
            Some(match self.ids {
                Some(m) => (m.base, m.base),
                None => (0, 0),
            })
        } else {
            None
        };
        let mut ar = tar::Archive::new(input);
        let mut dirs: Vec<(String, i64)> = Vec::new();
        for entry in ar.entries().map_err(failed)? {
            let mut entry = entry.map_err(failed)?;
            let hdr = entry.header().clone();
            let k = hdr.entry_type();
            if matches!(
                k,
                T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink
            ) {
                continue;
            }
            let mut raw = entry.path_bytes().into_owned();
            for (old, new) in &opts.rebase {
                raw = replace_first(&raw, old, new);
            }
            let name = clean_bytes(&raw);
            if name == b".." || name.starts_with(b"../") {
                return Err(PathError::Failed(format!(
                    "{} is outside of {}",
                    quote(&name),
                    quote(dest.as_bytes())
                )));
            }
            let path = join(dest, &show(&name));
            let rel: Vec<&[u8]> = components(&name).collect();
            let Some((leaf, parent_rel)) = rel.split_last() else {
                // The destination itself (`.`): a directory merges, moby skips it.
                if k != T::Directory && opts.no_overwrite_dir_non_dir {
                    return Err(PathError::Failed(format!(
                        "cannot overwrite directory {} with non-directory {}",
                        quote(path.as_bytes()),
                        quote(dest.as_bytes())
                    )));
                }
                continue;
            };
            let leaf = OsStr::from_bytes(leaf);
            let mut parent_path = dest.as_bytes().to_vec();
            for c in parent_rel {
                parent_path.push(b'/');
                parent_path.extend_from_slice(c);
            }
            let pw = self
                .walk(&parent_path, true, Make::Dirs(implied_owner))
                .map_err(|e| op_err("open", &path, e))?;
            let parent = self.at(&pw.steps);

            let existing =
                match nix::sys::stat::fstatat(Some(parent), leaf, AtFlags::AT_SYMLINK_NOFOLLOW) {
                    Ok(st) => Some(st),
                    Err(Errno::ENOENT) => None,
                    Err(e) => return Err(op_err("lstat", &path, e)),
                };
            let mut dir_exists = false;
            if let Some(st) = existing {
                let is_dir = kind(&st) == libc::S_IFDIR;
                if opts.no_overwrite_dir_non_dir && is_dir && k != T::Directory {
                    return Err(PathError::Failed(format!(
                        "cannot overwrite directory {} with non-directory {}",
                        quote(path.as_bytes()),
                        quote(dest.as_bytes())
                    )));
                }
                if opts.no_overwrite_dir_non_dir && !is_dir && k == T::Directory {
                    return Err(PathError::Failed(format!(
                        "cannot overwrite non-directory {} with directory {}",
                        quote(path.as_bytes()),
                        quote(dest.as_bytes())
                    )));
                }
                if is_dir && k == T::Directory {
                    dir_exists = true;
                } else {
                    remove_all_at(parent, leaf).map_err(|e| op_err("unlinkat", &path, e))?;
                }
            }

            let hdr_uid = hdr.uid().unwrap_or(0) as u32;
            let hdr_gid = hdr.gid().unwrap_or(0) as u32;
            let owner = match (opts.chown, opts.chown_to, self.ids) {
                (false, _, _) => None,
                (true, Some(o), _) => Some(o),
                (true, None, Some(m)) => Some((m.to_host(hdr_uid)?, m.to_host(hdr_gid)?)),
                (true, None, None) => Some((hdr_uid, hdr_gid)),
            };
            let mode = hdr.mode().unwrap_or(0o644) & 0o7777;
            let mtime = hdr.mtime().unwrap_or(0) as i64;
            let xattrs = pax_xattrs(&mut entry);
            let mut is_link = false;
            let mut is_symlink = false;
            match k {
                T::Directory => {
                    if !dir_exists {
                        nix::sys::stat::mkdirat(
                            Some(parent),
                            leaf,
                            Mode::from_bits_truncate(mode & 0o777),
                        )
                        .map_err(|e| op_err("mkdir", &path, e))?;
                    }
                }
                T::Regular | T::Continuous | T::GNUSparse => {
                    let fd = nix::fcntl::openat(
                        Some(parent),
                        leaf,
                        OFlag::O_CREAT
                            | OFlag::O_EXCL
                            | OFlag::O_WRONLY
                            | OFlag::O_NOFOLLOW
                            | OFlag::O_CLOEXEC,
                        Mode::from_bits_truncate(0o600),
                    )
                    .map_err(|e| op_err("open", &path, e))?;
                    // SAFETY: openat just returned this descriptor and nothing else owns it.
                    let mut f = unsafe { File::from_raw_fd(fd) };
                    io::copy(&mut entry, &mut f)
                        .map_err(|e| PathError::Failed(format!("write {path}: {}", io_text(&e))))?;
                }
                T::Char | T::Block if !opts.devices => continue,
                T::Char | T::Block | T::Fifo => {
                    let ty = match k {
                        T::Char => SFlag::S_IFCHR,
                        T::Block => SFlag::S_IFBLK,
                        _ => SFlag::S_IFIFO,
                    };
                    let major = hdr.device_major().ok().flatten().unwrap_or(0);
                    let minor = hdr.device_minor().ok().flatten().unwrap_or(0);
                    nix::sys::stat::mknodat(
                        Some(parent),
                        leaf,
                        ty,
                        Mode::from_bits_truncate(0o600),
                        nix::sys::stat::makedev(major.into(), minor.into()),
                    )
                    .map_err(|e| op_err("mknod", &path, e))?;
                }
                T::Link => {
                    is_link = true;
                    let mut target = entry
                        .link_name_bytes()
                        .map(|l| l.into_owned())
                        .unwrap_or_default();
                    for (old, new) in &opts.rebase {
                        target = replace_first(&target, old, new);
                    }
                    let target_path = join(dest, &show(&target));
                    if !target_path.starts_with(dest) {
                        return Err(PathError::Failed(format!(
                            "invalid hardlink {} -> {}",
                            quote(target_path.as_bytes()),
                            quote(&target)
                        )));
                    }
                    let tw = self
                        .walk(dir(&target_path).as_bytes(), true, Make::Nothing)
                        .map_err(|e| op_err("link", &target_path, e))?;
                    if !tw.found() {
                        return Err(op_err("link", &target_path, Errno::ENOENT));
                    }
                    nix::unistd::linkat(
                        Some(self.at(&tw.steps)),
                        OsStr::new(&base(&target_path)),
                        Some(parent),
                        leaf,
                        AtFlags::empty(),
                    )
                    .map_err(|e| {
                        PathError::Failed(format!("link {target_path} {path}: {}", errno_text(e)))
                    })?;
                }
                T::Symlink => {
                    is_symlink = true;
                    let target = entry
                        .link_name_bytes()
                        .map(|l| l.into_owned())
                        .unwrap_or_default();
                    let target_path = join(&dir(&path), &show(&target));
                    if !target_path.starts_with(dest) {
                        return Err(PathError::Failed(format!(
                            "invalid symlink {} -> {}",
                            quote(path.as_bytes()),
                            quote(&target)
                        )));
                    }
                    nix::unistd::symlinkat(OsStr::from_bytes(&target), Some(parent), leaf)
                        .map_err(|e| op_err("symlink", &path, e))?;
                }
                other => {
                    return Err(PathError::Failed(format!(
                        "unhandled tar header type {}",
                        other.as_byte()
                    )))
                }
            }

            // The object just made, held so nothing can swap it under us.
            let obj = open_path(parent, leaf).map_err(|e| op_err("lstat", &path, e))?;
            if let Some((uid, gid)) = owner {
                nix::unistd::fchownat(
                    Some(obj.as_raw_fd()),
                    "",
                    Some(nix::unistd::Uid::from_raw(uid)),
                    Some(nix::unistd::Gid::from_raw(gid)),
                    AtFlags::AT_EMPTY_PATH,
                )
                .map_err(|e| {
                    PathError::Failed(format!(
                        "failed to Lchown {} for UID {hdr_uid}, GID {hdr_gid}: lchown {path}: {}",
                        quote(path.as_bytes()),
                        errno_text(e)
                    ))
                })?;
            }
            let named = format!("{}/{}", proc_path(parent), leaf.to_string_lossy());
            for (key, value) in &xattrs {
                if let Err(e) = xattr::set(OsStr::new(&named), key, value) {
                    // Filesystems without xattrs, or without the right to set them.
                    tracing::debug!(path = %path, xattr = %key, error = %e, "xattr not set");
                }
            }
            if is_link {
                continue;
            }
            let own = proc_path(obj.as_raw_fd());
            if !is_symlink {
                // After chown, which clears setuid and setgid.
                nix::sys::stat::fchmodat(
                    None,
                    own.as_str(),
                    Mode::from_bits_truncate(mode),
                    nix::sys::stat::FchmodatFlags::FollowSymlink,
                )
                .map_err(|e| op_err("chmod", &path, e))?;
            }
            if k == T::Directory {
                dirs.push((path.clone(), mtime));
            } else if is_symlink {
                let t = nix::sys::time::TimeSpec::new(mtime, 0);
                let _ = nix::sys::stat::utimensat(
                    Some(parent),
                    leaf,
                    &t,
                    &t,
                    nix::sys::stat::UtimensatFlags::NoFollowSymlink,
                );
            } else {
                set_times_path(&own, mtime, false).map_err(|e| op_err("chtimes", &path, e))?;
            }
        }
        // Creating entries changed the directories' times: set them last.
        for (p, mtime) in dirs {
            if let Ok(w) = self.walk(p.as_bytes(), false, Make::Nothing) {
                if w.found() && !w.steps.is_empty() {
                    let own = proc_path(self.at(&w.steps));
                    let _ = set_times_path(&own, mtime, false);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "in_root_tests.rs"]
mod tests;
