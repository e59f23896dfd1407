//! Drag-and-drop upload into the working directory of a tab's shell.
//!
//! The directory is opened through `/proc/<shell>/cwd`, a handle on the very
//! directory the shell sits in, inside the instance's own mount namespace; every
//! object is then made relative to that handle, never by joining strings. The
//! instance's root user owns what lands there (the instance is user-namespaced:
//! its root is `uid_base` on the machine).
//!
//! The writes are made with the filesystem identity of the instance's root
//! (`setfsuid`/`setfsgid` on a thread of their own, which also drops the
//! capabilities that bypass permission checks): the server's own root could
//! otherwise write through what the instance may only read, such as the
//! machine's `dockhand` binary bind-mounted at `/usr/local/bin/docker`.
//!
//! A dropped folder arrives as a tar archive and is treated as hostile: names
//! with `..` or a leading `/` refuse the whole upload, parent directories are
//! resolved with `openat2(RESOLVE_IN_ROOT)` rooted at the working directory (a
//! symlink, from the archive or already there, is followed as a chroot would
//! follow it and never leads out), the last component is opened with
//! `O_NOFOLLOW`, and hard links, devices and fifos are skipped.

use nix::errno::Errno;
use nix::fcntl::{openat2, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{mkdirat, Mode};
use nix::unistd::{fchownat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

/// Why an upload failed; the text is shown to the trainee.
#[derive(Debug, PartialEq, Eq)]
pub enum UploadError {
    /// The name or an archive entry is not acceptable (400).
    Bad(String),
    /// The file system refused (500, or 507-like conditions such as a full disk).
    Io(String),
}

impl std::fmt::Display for UploadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UploadError::Bad(m) | UploadError::Io(m) => f.write_str(m),
        }
    }
}

fn io(what: &str, name: &OsStr, e: impl Into<std::io::Error>) -> UploadError {
    let e: std::io::Error = e.into();
    let why = if e.raw_os_error() == Some(libc::ENOSPC) || e.raw_os_error() == Some(libc::EDQUOT) {
        "the instance's disk is full".to_string()
    } else {
        e.to_string()
    };
    UploadError::Io(format!("{what} {}: {why}", name.to_string_lossy()))
}

/// A plain file name: no `/`, not `.` or `..`, not empty, no NUL.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.contains('\0')
        && name.len() <= 255
}

/// Who owns uploaded objects: the instance's root.
#[derive(Debug, Clone, Copy)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

fn own(dir: RawFd, name: &OsStr, owner: Option<Owner>) -> Result<(), UploadError> {
    if let Some(o) = owner {
        fchownat(
            Some(dir),
            name,
            Some(Uid::from_raw(o.uid)),
            Some(Gid::from_raw(o.gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| io("chown", name, e))?;
    }
    Ok(())
}

/// Open a directory (for `*at` calls) below `root`, resolved as if `root` were `/`.
fn open_in_root(root: &OwnedFd, rel: &[OsString]) -> nix::Result<OwnedFd> {
    let path = if rel.is_empty() {
        OsString::from(".")
    } else {
        let v: Vec<&[u8]> = rel.iter().map(|c| c.as_bytes()).collect();
        OsString::from(OsStr::from_bytes(&v.join(&b'/')))
    };
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = openat2(root.as_raw_fd(), path.as_os_str(), how)?;
    // SAFETY: openat2 just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The directory `rel` below `root`, making missing ones.
fn ensure_dir(
    root: &OwnedFd,
    rel: &[OsString],
    owner: Option<Owner>,
) -> Result<OwnedFd, UploadError> {
    let mut cur = open_in_root(root, &[]).map_err(|e| io("open", OsStr::new("."), e))?;
    for i in 0..rel.len() {
        match open_in_root(root, &rel[..=i]) {
            Ok(fd) => cur = fd,
            Err(Errno::ENOENT) => {
                mkdirat(
                    Some(cur.as_raw_fd()),
                    rel[i].as_os_str(),
                    Mode::from_bits_truncate(0o755),
                )
                .map_err(|e| io("mkdir", &rel[i], e))?;
                own(cur.as_raw_fd(), &rel[i], owner)?;
                cur = open_in_root(root, &rel[..=i]).map_err(|e| io("open", &rel[i], e))?;
            }
            Err(e) => return Err(io("open", &rel[i], e)),
        }
    }
    Ok(cur)
}

/// Create or replace the regular file `name` in `dir`; never follows a symlink.
fn create_file(dir: RawFd, name: &OsStr, mode: u32) -> Result<File, UploadError> {
    for _ in 0..2 {
        let r = nix::fcntl::openat(
            Some(dir),
            name,
            OFlag::O_WRONLY
                | OFlag::O_CREAT
                | OFlag::O_TRUNC
                | OFlag::O_NOFOLLOW
                | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(mode),
        );
        match r {
            // SAFETY: openat just returned this descriptor and nothing else owns it.
            Ok(fd) => return Ok(unsafe { File::from_raw_fd(fd) }),
            // A symlink (or a special file) of that name: replace it.
            Err(Errno::ELOOP) | Err(Errno::ENXIO) | Err(Errno::ETXTBSY) => {
                let _ = unlinkat(Some(dir), name, UnlinkatFlags::NoRemoveDir);
            }
            Err(Errno::EISDIR) => {
                return Err(UploadError::Bad(format!(
                    "a folder named {} is already there",
                    name.to_string_lossy()
                )))
            }
            Err(e) => return Err(io("create", name, e)),
        }
    }
    Err(io("create", name, Errno::ELOOP))
}

fn write_file(
    dir: RawFd,
    name: &OsStr,
    mode: u32,
    mut data: impl Read,
    owner: Option<Owner>,
) -> Result<(), UploadError> {
    let mut f = create_file(dir, name, mode)?;
    std::io::copy(&mut data, &mut f).map_err(|e| io("write", name, e))?;
    f.flush().map_err(|e| io("write", name, e))?;
    // The mode given at creation is masked by the umask and ignored for an
    // existing file: set it.
    nix::sys::stat::fchmod(f.as_raw_fd(), Mode::from_bits_truncate(mode))
        .map_err(|e| io("chmod", name, e))?;
    own(dir, name, owner)
}

/// Write `data` as the file `name` in `dir`.
pub fn put_file(
    dir: &OwnedFd,
    name: &str,
    data: &[u8],
    owner: Option<Owner>,
) -> Result<(), UploadError> {
    if !valid_name(name) {
        return Err(UploadError::Bad(format!("{name:?} is not a file name")));
    }
    write_file(dir.as_raw_fd(), OsStr::new(name), 0o644, data, owner)
}

/// The clean components of an archive path, or why it is refused.
fn components(p: &Path) -> Result<Vec<OsString>, UploadError> {
    let mut out = vec![];
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n.to_os_string()),
            Component::CurDir => {}
            _ => {
                return Err(UploadError::Bad(format!(
                    "the archive has a path that leaves its folder: {}",
                    p.display()
                )))
            }
        }
    }
    Ok(out)
}

/// Unpack the tar `data` into `dir`. Returns the number of entries made.
pub fn put_tar(dir: &OwnedFd, data: &[u8], owner: Option<Owner>) -> Result<usize, UploadError> {
    let mut ar = tar::Archive::new(data);
    let mut made = 0;
    let entries = ar
        .entries()
        .map_err(|e| UploadError::Bad(format!("not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| UploadError::Bad(format!("broken tar archive: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| UploadError::Bad(format!("broken tar archive: {e}")))?
            .into_owned();
        let comps = components(&path)?;
        let Some((last, parents)) = comps.split_last() else {
            continue;
        };
        let parent = ensure_dir(dir, parents, owner)?;
        let pfd = parent.as_raw_fd();
        let mode = entry.header().mode().unwrap_or(0o644) & 0o777;
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                match mkdirat(
                    Some(pfd),
                    last.as_os_str(),
                    Mode::from_bits_truncate(mode | 0o700),
                ) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(io("mkdir", last, e)),
                }
                own(pfd, last, owner)?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                write_file(pfd, last, mode, &mut entry, owner)?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(|e| UploadError::Bad(format!("broken tar archive: {e}")))?
                    .ok_or_else(|| UploadError::Bad("a symlink without a target".into()))?
                    .into_owned();
                let _ = unlinkat(Some(pfd), last.as_os_str(), UnlinkatFlags::NoRemoveDir);
                symlinkat(target.as_os_str(), Some(pfd), last.as_os_str())
                    .map_err(|e| io("symlink", last, e))?;
                own(pfd, last, owner)?;
            }
            // Hard links could name any file of the instance; devices and fifos
            // have no business in an upload.
            _ => continue,
        }
        made += 1;
    }
    Ok(made)
}

/// Take `owner`'s filesystem identity on this thread for good (call it on a
/// thread that ends after the upload). Changing the fsuid from 0 clears the
/// thread's CAP_DAC_OVERRIDE, CAP_FOWNER and friends, so the kernel checks every
/// write as it would for the instance's root.
pub fn become_owner(owner: Option<Owner>) -> Result<(), UploadError> {
    let Some(o) = owner else { return Ok(()) };
    // They change only this thread's credentials; called with -1 they report
    // the current value without changing it.
    nix::unistd::setfsgid(Gid::from_raw(o.gid));
    nix::unistd::setfsuid(Uid::from_raw(o.uid));
    let gid = nix::unistd::setfsgid(Gid::from_raw(u32::MAX)).as_raw();
    let uid = nix::unistd::setfsuid(Uid::from_raw(u32::MAX)).as_raw();
    if (uid, gid) != (o.uid, o.gid) {
        return Err(UploadError::Io(format!(
            "could not take the identity {}:{} for the upload",
            o.uid, o.gid
        )));
    }
    Ok(())
}

/// The working directory of process `pid`: a handle on it, and its path as the
/// process sees it.
pub fn open_cwd(pid: i32) -> Result<(OwnedFd, String), UploadError> {
    let link = format!("/proc/{pid}/cwd");
    let fd = nix::fcntl::open(
        link.as_str(),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        io(
            "open the working directory of",
            OsStr::new(&pid.to_string()),
            e,
        )
    })?;
    // SAFETY: open just returned this descriptor and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let path = std::fs::read_link(&link)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| ".".into());
    Ok((fd, path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn dir_fd(p: &Path) -> OwnedFd {
        let fd = nix::fcntl::open(p, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        // SAFETY: open just returned this descriptor and nothing else owns it.
        unsafe { OwnedFd::from_raw_fd(fd) }
    }

    fn tar_of(entries: &[(&str, tar::EntryType, &[u8], &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, kind, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o640);
            h.set_size(data.len() as u64);
            // set_path refuses `..`; write the raw name as a hostile archive would.
            let name = h.as_old_mut().name.as_mut();
            name[..path.len()].copy_from_slice(path.as_bytes());
            if !link.is_empty() {
                h.set_link_name(link).unwrap();
            }
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn names_must_be_plain() {
        assert!(valid_name("notes.txt"));
        for bad in ["", ".", "..", "a/b", "/etc", "a\0b"] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_file_replaces_a_symlink_instead_of_writing_through_it() {
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, d.path().join("f")).unwrap();
        put_file(&dir_fd(d.path()), "f", b"new", None).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(std::fs::read_to_string(d.path().join("f")).unwrap(), "new");
        assert!(!d.path().join("f").is_symlink());
        assert!(put_file(&dir_fd(d.path()), "../x", b"", None).is_err());
    }

    #[test]
    fn a_folder_unpacks_with_modes_and_symlinks() {
        let d = tempfile::tempdir().unwrap();
        let t = tar_of(&[
            ("app/", tar::EntryType::Directory, b"", ""),
            ("app/src/main.sh", tar::EntryType::Regular, b"echo hi", ""),
            ("app/link", tar::EntryType::Symlink, b"", "src/main.sh"),
        ]);
        assert_eq!(put_tar(&dir_fd(d.path()), &t, None).unwrap(), 3);
        let f = d.path().join("app/src/main.sh");
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "echo hi");
        assert_eq!(f.metadata().unwrap().permissions().mode() & 0o777, 0o640);
        assert_eq!(
            std::fs::read_link(d.path().join("app/link")).unwrap(),
            Path::new("src/main.sh")
        );
    }

    #[test]
    fn hostile_archives_never_write_outside_the_folder() {
        let d = tempfile::tempdir().unwrap();
        let base = d.path().join("cwd");
        std::fs::create_dir(&base).unwrap();
        // `..` and absolute names refuse the upload.
        for bad in ["../escape", "/abs", "a/../../escape"] {
            let t = tar_of(&[(bad, tar::EntryType::Regular, b"x", "")]);
            assert!(
                matches!(put_tar(&dir_fd(&base), &t, None), Err(UploadError::Bad(_))),
                "{bad}"
            );
        }
        // A symlink to an absolute path outside, then a file through it: the
        // link is read as if the folder were `/`, where nothing is, so it fails.
        let t = tar_of(&[
            (
                "evil",
                tar::EntryType::Symlink,
                b"",
                d.path().to_str().unwrap(),
            ),
            ("evil/escaped", tar::EntryType::Regular, b"x", ""),
        ]);
        assert!(put_tar(&dir_fd(&base), &t, None).is_err());
        assert!(!d.path().join("escaped").exists());
        // A symlink up, then a file through it: it lands in the folder itself.
        let t = tar_of(&[
            ("up", tar::EntryType::Symlink, b"", ".."),
            ("up/escaped2", tar::EntryType::Regular, b"x", ""),
            ("hard", tar::EntryType::Link, b"", "/etc/passwd"),
        ]);
        put_tar(&dir_fd(&base), &t, None).unwrap();
        assert!(!d.path().join("escaped2").exists());
        assert!(base.join("escaped2").exists());
        assert!(!base.join("hard").exists());
    }

    #[test]
    fn uploads_are_written_as_the_instances_root_not_the_machines() {
        crate::testing::require_root!();
        use std::os::unix::fs::MetadataExt;
        let d = tempfile::tempdir().unwrap();
        let theirs = d.path().join("theirs");
        let mine = d.path().join("mine");
        std::fs::create_dir(&theirs).unwrap();
        std::fs::create_dir(&mine).unwrap();
        let owner = Owner {
            uid: 0x1234_5678,
            gid: 0x1234_5678,
        };
        std::os::unix::fs::chown(&mine, Some(owner.uid), Some(owner.gid)).unwrap();
        // A file the instance may only read (like a bind-mounted binary).
        std::fs::write(theirs.join("docker"), "machine").unwrap();
        std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o755)).unwrap();
        let (t, m) = (dir_fd(&theirs), dir_fd(&mine));
        let r = std::thread::spawn(move || {
            become_owner(Some(owner)).unwrap();
            (
                put_file(&t, "docker", b"evil", Some(owner)),
                put_file(&m, "ok.txt", b"fine", Some(owner)),
            )
        })
        .join()
        .unwrap();
        assert!(matches!(r.0, Err(UploadError::Io(_))), "{:?}", r.0);
        assert_eq!(
            std::fs::read_to_string(theirs.join("docker")).unwrap(),
            "machine"
        );
        assert_eq!(r.1, Ok(()));
        assert_eq!(mine.join("ok.txt").metadata().unwrap().uid(), owner.uid);
    }

    #[test]
    fn the_working_directory_of_a_process_is_found() {
        let d = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .current_dir(d.path())
            .spawn()
            .unwrap();
        let got = open_cwd(child.id() as i32);
        let _ = child.kill();
        let _ = child.wait();
        let (fd, path) = got.unwrap();
        assert_eq!(Path::new(&path), d.path());
        put_file(&fd, "x", b"1", None).unwrap();
        assert!(d.path().join("x").exists());
    }
}
