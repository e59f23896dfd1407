//! Extract a layer tar into a directory ready to be an overlayfs lower dir.
//!
//! Docker layers mark deletions with AUFS-style whiteouts; overlayfs wants its own
//! form: `.wh.NAME` becomes a character device 0/0 named `NAME`, and
//! `.wh..wh..opq` becomes the xattr `trusted.overlay.opaque=y` on its directory.
//!
//! Archives are hostile: every path is resolved inside the layer root with
//! `openat2(RESOLVE_IN_ROOT)`, so a symlink in the archive (`evil -> /`) is followed
//! the way a chroot would follow it and never leads outside; names with `..` that
//! climb above the root are refused as docker refuses them. Objects are then created
//! with `*at` calls relative to the resolved parent directory, never by path joining.

use nix::errno::Errno;
use nix::fcntl::{openat2, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{
    fchmod, fchmodat, mkdirat, mknodat, utimensat, FchmodatFlags, Mode, SFlag, UtimensatFlags,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchownat, linkat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Prefix of a whiteout entry.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// Name of the opaque-directory marker.
pub const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
/// Prefix of AUFS metadata entries (hard-link dirs etc.), ignored.
pub const WHITEOUT_META_PREFIX: &str = ".wh..wh.";

/// Errors while extracting a layer.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("invalid tar header: {0}")]
    Archive(String),
    #[error("invalid path in layer archive: {0:?} points outside of the layer")]
    Breakout(String),
    /// More regular-file content than `ExtractOptions::limit` allows.
    #[error("the archive is larger than the limit of {0} bytes")]
    TooLarge(u64),
    #[error("extracting layer: {op} {path}: {source}")]
    Sys {
        op: &'static str,
        path: String,
        source: io::Error,
    },
}

impl LayerError {
    /// True when the archive itself is at fault (a 400, not a 500).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            LayerError::Archive(_) | LayerError::Breakout(_) | LayerError::TooLarge(_)
        )
    }
}

fn sys(op: &'static str, path: &[OsString], e: impl Into<io::Error>) -> LayerError {
    LayerError::Sys {
        op,
        path: show_path(path),
        source: e.into(),
    }
}

fn show_path(comps: &[OsString]) -> String {
    let v: Vec<_> = comps
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    format!("/{}", v.join("/"))
}

/// What an archive path means for an overlay lower dir.
#[derive(Debug, PartialEq, Eq)]
pub enum WhiteoutKind<'a> {
    /// A normal entry.
    None,
    /// Mark the parent directory opaque.
    Opaque,
    /// Hide `name` of the lower layers.
    Whiteout(&'a OsStr),
    /// AUFS metadata to skip.
    Meta,
}

/// Classify the last component of an archive path.
pub fn whiteout_kind(name: &OsStr) -> WhiteoutKind<'_> {
    let b = name.as_bytes();
    if b == OPAQUE_WHITEOUT.as_bytes() {
        WhiteoutKind::Opaque
    } else if b.starts_with(WHITEOUT_META_PREFIX.as_bytes()) {
        WhiteoutKind::Meta
    } else if let Some(rest) = b.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
        if rest.is_empty() {
            WhiteoutKind::Meta
        } else {
            WhiteoutKind::Whiteout(OsStr::from_bytes(rest))
        }
    } else {
        WhiteoutKind::None
    }
}

/// Split an archive path into components under the root: leading `/` and `.` are
/// dropped, `..` pops; climbing above the root is an error.
pub fn clean_components(path: &[u8]) -> Result<Vec<OsString>, LayerError> {
    let mut out: Vec<OsString> = Vec::new();
    for c in path.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err(LayerError::Breakout(
                        String::from_utf8_lossy(path).into_owned(),
                    ));
                }
            }
            _ => out.push(OsStr::from_bytes(c).to_os_string()),
        }
    }
    Ok(out)
}

/// Statistics of one extraction.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExtractStats {
    /// Bytes of regular file content written.
    pub content_bytes: u64,
    pub entries: u64,
}

/// How `extract_with` treats an archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractOptions {
    /// Turn `.wh.` names into overlayfs whiteouts (a layer); when false they are
    /// plain files (a build context).
    pub whiteouts: bool,
    /// Give entries the archive's owners (needs root).
    pub chown: bool,
    /// Create device nodes and fifos; when false they are skipped.
    pub devices: bool,
    /// Most bytes of regular-file content accepted.
    pub limit: Option<u64>,
}

impl Default for ExtractOptions {
    /// A layer: whiteouts, owners and devices as the archive says, no limit.
    fn default() -> Self {
        ExtractOptions {
            whiteouts: true,
            chown: true,
            devices: true,
            limit: None,
        }
    }
}

/// Extract the (uncompressed) tar `src` into the existing, empty directory `root`.
pub fn extract(src: impl Read, root: &Path) -> Result<ExtractStats, LayerError> {
    extract_with(src, root, &ExtractOptions::default())
}

/// `extract` with options (a build context: no whiteouts, owners or devices).
pub fn extract_with(
    src: impl Read,
    root: &Path,
    opts: &ExtractOptions,
) -> Result<ExtractStats, LayerError> {
    let root_fd = open_dir(root)?;
    let mut ar = tar::Archive::new(src);
    let mut stats = ExtractStats::default();
    let mut dir_times: Vec<(Vec<OsString>, i64)> = Vec::new();
    let entries = ar
        .entries()
        .map_err(|e| LayerError::Archive(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| LayerError::Archive(e.to_string()))?;
        stats.entries += 1;
        let raw_path = entry.path_bytes().into_owned();
        let comps = clean_components(&raw_path)?;
        let hdr = entry.header().clone();
        let kind = hdr.entry_type();
        // Empty numeric fields read as 0, as Go's archive/tar reads them.
        let meta = Meta {
            mode: hdr.mode().unwrap_or(0o644) & 0o7777,
            uid: hdr.uid().unwrap_or(0) as u32,
            gid: hdr.gid().unwrap_or(0) as u32,
            mtime: hdr.mtime().unwrap_or(0) as i64,
            xattrs: if opts.chown {
                pax_xattrs(&mut entry)?
            } else {
                Vec::new()
            },
            chown: opts.chown,
        };
        let Some((name, parent_comps)) = comps.split_last() else {
            // The root itself ("./"): take its metadata.
            if kind.is_dir() {
                let fd = reopen_dir(&root_fd, &comps)?;
                meta.apply_fd(&fd, &comps)?;
                dir_times.push((comps, meta.mtime));
            }
            continue;
        };
        let wk = if opts.whiteouts {
            whiteout_kind(name)
        } else {
            WhiteoutKind::None
        };
        match wk {
            WhiteoutKind::Meta => continue,
            WhiteoutKind::Opaque => {
                let dir = resolve_dir(&root_fd, parent_comps, true)?;
                let f = openat_dir(&dir, ".", parent_comps)?;
                xattr::FileExt::set_xattr(&f, "trusted.overlay.opaque", b"y")
                    .map_err(|e| sys("set opaque xattr", parent_comps, e))?;
                continue;
            }
            WhiteoutKind::Whiteout(hidden) => {
                let parent = resolve_dir(&root_fd, parent_comps, true)?;
                remove_existing(&parent, hidden, &comps)?;
                mknodat(
                    Some(parent.as_raw_fd()),
                    hidden,
                    SFlag::S_IFCHR,
                    Mode::empty(),
                    0,
                )
                .map_err(|e| sys("mknod whiteout", &comps, e))?;
                continue;
            }
            WhiteoutKind::None => {}
        }
        let parent = resolve_dir(&root_fd, parent_comps, true)?;
        use tar::EntryType as T;
        match kind {
            T::Directory => {
                if !is_dir_at(&parent, name.as_os_str()) {
                    remove_existing(&parent, name.as_os_str(), &comps)?;
                    mkdirat(
                        Some(parent.as_raw_fd()),
                        name.as_os_str(),
                        Mode::from_bits_truncate(0o700),
                    )
                    .map_err(|e| sys("mkdir", &comps, e))?;
                }
                let f = openat_dir(&parent, name.as_os_str(), &comps)?;
                meta.apply_fd(&f, &comps)?;
                dir_times.push((comps.clone(), meta.mtime));
            }
            T::Regular | T::Continuous | T::GNUSparse => {
                remove_existing(&parent, name.as_os_str(), &comps)?;
                let fd = nix::fcntl::openat(
                    Some(parent.as_raw_fd()),
                    name.as_os_str(),
                    OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_WRONLY
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o600),
                )
                .map_err(|e| sys("create", &comps, e))?;
                // SAFETY: openat just returned this descriptor and nothing else owns it.
                let mut f = unsafe { File::from_raw_fd(fd) };
                if let Some(limit) = opts.limit {
                    let room = limit.saturating_sub(stats.content_bytes);
                    if entry.header().size().unwrap_or(0) > room {
                        return Err(LayerError::TooLarge(limit));
                    }
                }
                stats.content_bytes +=
                    io::copy(&mut entry, &mut f).map_err(|e| sys("write", &comps, e))?;
                meta.apply_fd(&f, &comps)?;
                set_times_fd(&f, meta.mtime, &comps)?;
            }
            T::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| {
                        LayerError::Archive(format!("symlink {} without target", show_path(&comps)))
                    })?
                    .into_owned();
                remove_existing(&parent, name.as_os_str(), &comps)?;
                symlinkat(
                    OsStr::from_bytes(&target),
                    Some(parent.as_raw_fd()),
                    name.as_os_str(),
                )
                .map_err(|e| sys("symlink", &comps, e))?;
                meta.apply_at(&parent, name.as_os_str(), &comps, false)?;
            }
            T::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| {
                        LayerError::Archive(format!(
                            "hard link {} without target",
                            show_path(&comps)
                        ))
                    })?
                    .into_owned();
                let tcomps = clean_components(&target)?;
                let Some((tname, tparent)) = tcomps.split_last() else {
                    return Err(LayerError::Archive(format!(
                        "hard link {} to the root",
                        show_path(&comps)
                    )));
                };
                let tdir = resolve_dir(&root_fd, tparent, false)?;
                remove_existing(&parent, name.as_os_str(), &comps)?;
                linkat(
                    Some(tdir.as_raw_fd()),
                    tname.as_os_str(),
                    Some(parent.as_raw_fd()),
                    name.as_os_str(),
                    AtFlags::empty(),
                )
                .map_err(|e| sys("link", &comps, e))?;
            }
            T::Char | T::Block | T::Fifo if !opts.devices => {
                tracing::debug!(path = %show_path(&comps), ?kind, "skipping a device or fifo");
            }
            T::Char | T::Block | T::Fifo => {
                let ty = match kind {
                    T::Char => SFlag::S_IFCHR,
                    T::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                let major = hdr.device_major().ok().flatten().unwrap_or(0);
                let minor = hdr.device_minor().ok().flatten().unwrap_or(0);
                remove_existing(&parent, name.as_os_str(), &comps)?;
                mknodat(
                    Some(parent.as_raw_fd()),
                    name.as_os_str(),
                    ty,
                    Mode::from_bits_truncate(0o600),
                    nix::sys::stat::makedev(major.into(), minor.into()),
                )
                .map_err(|e| sys("mknod", &comps, e))?;
                meta.apply_at(&parent, name.as_os_str(), &comps, true)?;
            }
            // PAX/GNU extension headers are consumed by the tar reader; anything else
            // (sockets, unknown types) is skipped as docker skips it.
            _ => tracing::debug!(path = %show_path(&comps), ?kind, "skipping tar entry"),
        }
    }
    // Creating children changed directory mtimes: set them last, deepest first.
    for (comps, mtime) in dir_times.into_iter().rev() {
        if let Ok(fd) = reopen_dir(&root_fd, &comps) {
            set_times_fd(&fd, mtime, &comps)?;
        }
    }
    Ok(stats)
}

/// Ownership, permissions, mtime and xattrs of an entry.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    xattrs: Vec<(String, Vec<u8>)>,
    chown: bool,
}

impl Meta {
    /// For directories and regular files: through an open descriptor.
    fn apply_fd(&self, f: &File, comps: &[OsString]) -> Result<(), LayerError> {
        if self.chown {
            nix::unistd::fchown(
                f.as_raw_fd(),
                Some(Uid::from_raw(self.uid)),
                Some(Gid::from_raw(self.gid)),
            )
            .map_err(|e| sys("chown", comps, e))?;
        }
        // After chown, which clears setuid/setgid bits.
        fchmod(f.as_raw_fd(), Mode::from_bits_truncate(self.mode))
            .map_err(|e| sys("chmod", comps, e))?;
        for (k, v) in &self.xattrs {
            if let Err(e) = xattr::FileExt::set_xattr(f, k, v) {
                tracing::warn!(path = %show_path(comps), xattr = %k, error = %e, "cannot set xattr");
            }
        }
        Ok(())
    }

    /// For symlinks and device nodes: by name in the resolved parent, never
    /// following or opening the object.
    fn apply_at(
        &self,
        parent: &OwnedFd,
        name: &OsStr,
        comps: &[OsString],
        chmod: bool,
    ) -> Result<(), LayerError> {
        if self.chown {
            fchownat(
                Some(parent.as_raw_fd()),
                name,
                Some(Uid::from_raw(self.uid)),
                Some(Gid::from_raw(self.gid)),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(|e| sys("chown", comps, e))?;
        }
        if chmod {
            // The object was created a moment ago in our private directory and is not
            // a symlink, so following is moot.
            fchmodat(
                Some(parent.as_raw_fd()),
                name,
                Mode::from_bits_truncate(self.mode),
                FchmodatFlags::FollowSymlink,
            )
            .map_err(|e| sys("chmod", comps, e))?;
        }
        let proc_path = PathBuf::from(format!("/proc/self/fd/{}", parent.as_raw_fd())).join(name);
        for (k, v) in &self.xattrs {
            // lsetxattr: does not follow the last component.
            if let Err(e) = xattr::set(&proc_path, k, v) {
                tracing::warn!(path = %show_path(comps), xattr = %k, error = %e, "cannot set xattr");
            }
        }
        let t = TimeSpec::new(self.mtime, 0);
        utimensat(
            Some(parent.as_raw_fd()),
            name,
            &t,
            &t,
            UtimensatFlags::NoFollowSymlink,
        )
        .map_err(|e| sys("utimes", comps, e))?;
        Ok(())
    }
}

fn set_times_fd(f: &impl AsRawFd, mtime: i64, comps: &[OsString]) -> Result<(), LayerError> {
    let t = TimeSpec::new(mtime, 0);
    nix::sys::stat::futimens(f.as_raw_fd(), &t, &t).map_err(|e| sys("utimes", comps, e))
}

/// `SCHILY.xattr.*` PAX records of an entry.
fn pax_xattrs<R: Read>(
    entry: &mut tar::Entry<'_, R>,
) -> Result<Vec<(String, Vec<u8>)>, LayerError> {
    let mut out = Vec::new();
    if let Some(exts) = entry
        .pax_extensions()
        .map_err(|e| LayerError::Archive(e.to_string()))?
    {
        for ext in exts {
            let ext = ext.map_err(|e| LayerError::Archive(e.to_string()))?;
            if let Ok(key) = ext.key() {
                if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                    out.push((name.to_string(), ext.value_bytes().to_vec()));
                }
            }
        }
    }
    Ok(out)
}

fn open_dir(p: &Path) -> Result<OwnedFd, LayerError> {
    let fd = nix::fcntl::open(
        p,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| LayerError::Sys {
        op: "open",
        path: p.display().to_string(),
        source: e.into(),
    })?;
    // SAFETY: open just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Open a directory below `root_fd`, resolving as if `root_fd` were `/`.
fn open_in_root(root_fd: &OwnedFd, comps: &[OsString]) -> nix::Result<OwnedFd> {
    let rel = if comps.is_empty() {
        OsString::from(".")
    } else {
        let v: Vec<&[u8]> = comps.iter().map(|c| c.as_bytes()).collect();
        OsString::from(OsStr::from_bytes(&v.join(&b'/')))
    };
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(
            ResolveFlag::RESOLVE_IN_ROOT
                | ResolveFlag::RESOLVE_NO_MAGICLINKS
                | ResolveFlag::RESOLVE_NO_XDEV,
        );
    let fd: RawFd = openat2(root_fd.as_raw_fd(), rel.as_os_str(), how)?;
    // SAFETY: openat2 just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The directory at `comps` inside the root, creating missing ones (0755, root)
/// when `create` is set.
fn resolve_dir(root_fd: &OwnedFd, comps: &[OsString], create: bool) -> Result<OwnedFd, LayerError> {
    match open_in_root(root_fd, comps) {
        Ok(fd) => return Ok(fd),
        Err(Errno::ENOENT) if create => {}
        Err(e) => return Err(sys("resolve", comps, e)),
    }
    let mut cur = open_in_root(root_fd, &[]).map_err(|e| sys("resolve", &[], e))?;
    for i in 0..comps.len() {
        match open_in_root(root_fd, &comps[..=i]) {
            Ok(fd) => cur = fd,
            Err(Errno::ENOENT) => {
                mkdirat(
                    Some(cur.as_raw_fd()),
                    comps[i].as_os_str(),
                    Mode::from_bits_truncate(0o755),
                )
                .map_err(|e| sys("mkdir", &comps[..=i], e))?;
                cur = open_in_root(root_fd, &comps[..=i])
                    .map_err(|e| sys("resolve", &comps[..=i], e))?;
            }
            Err(e) => return Err(sys("resolve", &comps[..=i], e)),
        }
    }
    Ok(cur)
}

/// Re-open an existing directory for reading, resolved in the root.
fn reopen_dir(root_fd: &OwnedFd, comps: &[OsString]) -> Result<File, LayerError> {
    let dir = open_in_root(root_fd, comps).map_err(|e| sys("resolve", comps, e))?;
    openat_dir(&dir, ".", comps)
}

/// Open `name` in `dir` as a directory, refusing symlinks.
fn openat_dir(
    dir: &OwnedFd,
    name: impl AsRef<OsStr>,
    comps: &[OsString],
) -> Result<File, LayerError> {
    let fd = nix::fcntl::openat(
        Some(dir.as_raw_fd()),
        name.as_ref(),
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| sys("open dir", comps, e))?;
    // SAFETY: openat just returned this descriptor and nothing else owns it.
    Ok(unsafe { File::from_raw_fd(fd) })
}

fn is_dir_at(dir: &OwnedFd, name: &OsStr) -> bool {
    nix::sys::stat::fstatat(Some(dir.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW)
        .map(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR)
        .unwrap_or(false)
}

/// Remove whatever is at `name` so a later entry replaces it (tar semantics).
fn remove_existing(dir: &OwnedFd, name: &OsStr, comps: &[OsString]) -> Result<(), LayerError> {
    match unlinkat(Some(dir.as_raw_fd()), name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(Errno::EISDIR) => {
            // A directory replaced by a non-directory: remove the tree. The path goes
            // through our resolved descriptor, and remove_dir_all does not follow
            // symlinks inside the tree.
            let p = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name);
            std::fs::remove_dir_all(&p).map_err(|e| sys("remove dir", comps, e))
        }
        Err(e) => Err(sys("unlink", comps, e)),
    }
}

#[cfg(test)]
mod tests;
