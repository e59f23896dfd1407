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

pub use shared::go::io_text;

/// Go's text for an errno (`no such file or directory`).
pub fn errno_text(e: Errno) -> String {
    shared::go::errno_text(e as i32)
}

fn op_err(op: &str, path: &str, e: Errno) -> PathError {
    let text = format!("{op} {path}: {}", errno_text(e));
    match e {
        Errno::ENOENT => PathError::NotFound(text),
        // A name the kernel cannot take (a NUL byte, over NAME_MAX): bad
        // input, not a failure.
        Errno::EINVAL | Errno::ENAMETOOLONG => PathError::Invalid(text),
        _ => PathError::Failed(text),
    }
}

fn to_io(e: PathError) -> io::Error {
    match e {
        PathError::NotFound(m) => io::Error::new(io::ErrorKind::NotFound, m),
        PathError::Invalid(m) | PathError::Failed(m) => io::Error::other(m),
    }
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

mod extract;
mod paths;
mod tar_out;

pub use extract::ExtractOptions;
pub use paths::*;

#[cfg(test)]
mod tests;
