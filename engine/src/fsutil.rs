//! File helpers for state that must survive a crash: write to a temporary file in
//! the same directory, fsync it, rename it over the target, fsync the directory.
//! A reader sees the old content or the new one, never half of either.
//!
//! And removal that stays on our side: `remove_tree_on_one_mount` deletes a tree
//! of ours without ever crossing into a filesystem mounted inside it (somebody
//! else's data), and `mounts_at_or_under` lists such mounts beforehand.

use crate::error::{IoContext, IoError};
use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{fstat, fstatat, Mode, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// Replace `path` with `data` atomically and durably.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), IoError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).ctx("create dir", dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    {
        let mut f = File::create(&tmp).ctx("create", &tmp)?;
        f.write_all(data).ctx("write", &tmp)?;
        f.sync_all().ctx("fsync", &tmp)?;
    }
    fs::rename(&tmp, path).ctx("rename", path)?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .ctx("fsync dir", dir)?;
    Ok(())
}

/// Serialize `value` as JSON and write it atomically.
pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), IoError> {
    let data = serde_json::to_vec_pretty(value)
        .map_err(|e| IoError::new("encode", path, std::io::Error::other(e)))?;
    write_atomic(path, &data)
}

/// Read JSON written by `write_json_atomic`; `Ok(None)` when the file is absent.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, IoError> {
    match fs::read(path) {
        Ok(data) => serde_json::from_slice(&data)
            .map(Some)
            .map_err(|e| IoError::new("decode", path, std::io::Error::other(e))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(IoError::new("read", path, e)),
    }
}

/// Mount points at `dir` or below it in this process's mount namespace
/// (`/proc/self/mountinfo`), shallowest first. `dir` is resolved first, as the
/// kernel lists mount points by their real path.
pub fn mounts_at_or_under(dir: &Path) -> Vec<PathBuf> {
    let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut out: Vec<PathBuf> = fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(OsString::from_vec(unescape_mountinfo(m))))
        .filter(|m| m.starts_with(&dir))
        .collect();
    out.sort_by_key(|m| m.components().count());
    out.dedup();
    out
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|o| o.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], oct) {
            (b'\\', Some(o)) => {
                out.push((o[0] - b'0') * 64 + (o[1] - b'0') * 8 + (o[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// The mount a descriptor is on (`mnt_id` in `/proc/self/fdinfo`), where known.
fn mount_id(fd: RawFd) -> Option<u64> {
    fs::read_to_string(format!("/proc/self/fdinfo/{fd}"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("mnt_id:"))
        .and_then(|v| v.trim().parse().ok())
}

fn open_dir_at(dir: Option<RawFd>, name: &OsStr) -> nix::Result<OwnedFd> {
    let fd = openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: openat just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Which filesystem and mount a directory is on.
#[derive(Clone, Copy, PartialEq)]
struct MountOf {
    dev: u64,
    mnt: Option<u64>,
}

fn mount_of(fd: &OwnedFd) -> nix::Result<MountOf> {
    Ok(MountOf {
        dev: fstat(fd.as_raw_fd())?.st_dev,
        mnt: mount_id(fd.as_raw_fd()),
    })
}

fn crossing(path: &Path) -> IoError {
    IoError::new(
        "remove",
        path,
        std::io::Error::other(
            "another filesystem is mounted there; not deleting across a mount point",
        ),
    )
}

/// Remove `path` and everything below it, like `std::fs::remove_dir_all`, but
/// never across a mount point: a directory on another filesystem or another
/// mount (a bind mount of the same filesystem included) is not entered and the
/// removal fails there with an error naming it, leaving what it holds alone.
/// Symlinks are removed, never followed. A missing `path` is no error.
pub fn remove_tree_on_one_mount(path: &Path) -> Result<(), IoError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let Some(name) = path.file_name() else {
        return Err(IoError::new(
            "remove",
            path,
            std::io::Error::from(std::io::ErrorKind::InvalidInput),
        ));
    };
    let pfd: OwnedFd = File::open(parent).ctx("open dir", parent)?.into();
    let here = mount_of(&pfd).map_err(|e| IoError::new("stat", parent, e.into()))?;
    match fstatat(
        Some(pfd.as_raw_fd()),
        name,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    ) {
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(IoError::new("stat", path, e.into())),
        Ok(st) if !is_dir(st.st_mode) => {
            return unlinkat(Some(pfd.as_raw_fd()), name, UnlinkatFlags::NoRemoveDir)
                .map_err(|e| IoError::new("remove", path, e.into()));
        }
        Ok(_) => {}
    }
    remove_dir_at(&pfd, name, here, path)
}

fn is_dir(mode: libc::mode_t) -> bool {
    SFlag::from_bits_truncate(mode) & SFlag::S_IFMT == SFlag::S_IFDIR
}

/// Remove directory `name` of `parent` (at `path`), which must be on `here`.
fn remove_dir_at(
    parent: &OwnedFd,
    name: &OsStr,
    here: MountOf,
    path: &Path,
) -> Result<(), IoError> {
    let fd = open_dir_at(Some(parent.as_raw_fd()), name)
        .map_err(|e| IoError::new("open dir", path, e.into()))?;
    if mount_of(&fd).map_err(|e| IoError::new("stat", path, e.into()))? != here {
        return Err(crossing(path));
    }
    let names: Vec<OsString> = {
        let dup =
            nix::unistd::dup(fd.as_raw_fd()).map_err(|e| IoError::new("dup", path, e.into()))?;
        let mut d = Dir::from_fd(dup).map_err(|e| IoError::new("read dir", path, e.into()))?;
        d.iter()
            .filter_map(|e| e.ok())
            .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_os_string())
            .filter(|n| n != "." && n != "..")
            .collect()
    };
    for n in names {
        let child = path.join(&n);
        match fstatat(
            Some(fd.as_raw_fd()),
            n.as_os_str(),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(IoError::new("stat", child, e.into())),
            Ok(st) if is_dir(st.st_mode) => remove_dir_at(&fd, &n, here, &child)?,
            Ok(_) => match unlinkat(
                Some(fd.as_raw_fd()),
                n.as_os_str(),
                UnlinkatFlags::NoRemoveDir,
            ) {
                Ok(()) | Err(Errno::ENOENT) => {}
                // A file with something mounted on it.
                Err(Errno::EBUSY) => return Err(crossing(&child)),
                Err(e) => return Err(IoError::new("remove", child, e.into())),
            },
        }
    }
    drop(fd);
    match unlinkat(Some(parent.as_raw_fd()), name, UnlinkatFlags::RemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(Errno::EBUSY) => Err(crossing(path)),
        Err(e) => Err(IoError::new("remove", path, e.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_paths_are_unescaped() {
        assert_eq!(unescape_mountinfo(r"/a\040b\011c\134d"), b"/a b\tc\\d");
        assert_eq!(unescape_mountinfo(r"/plain\x"), b"/plain\\x");
        let mounts = mounts_at_or_under(Path::new("/"));
        assert_eq!(mounts.first().map(PathBuf::as_path), Some(Path::new("/")));
    }

    #[test]
    fn tree_removal_takes_files_dirs_and_symlinks_but_follows_no_link() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("keep"), "k").unwrap();
        let t = dir.path().join("tree");
        fs::create_dir_all(t.join("a/b")).unwrap();
        fs::write(t.join("a/b/f"), "x").unwrap();
        fs::write(t.join("g"), "y").unwrap();
        std::os::unix::fs::symlink(&outside, t.join("a/link")).unwrap();
        remove_tree_on_one_mount(&t).unwrap();
        assert!(!t.exists());
        assert_eq!(fs::read_to_string(outside.join("keep")).unwrap(), "k");
        // Missing: nothing to do. A file: removed.
        remove_tree_on_one_mount(&t).unwrap();
        fs::write(&t, "f").unwrap();
        remove_tree_on_one_mount(&t).unwrap();
        assert!(!t.exists());
        // A symlink at the top is removed, its target kept.
        std::os::unix::fs::symlink(&outside, &t).unwrap();
        remove_tree_on_one_mount(&t).unwrap();
        assert!(fs::symlink_metadata(&t).is_err());
        assert!(outside.join("keep").exists());
    }

    /// Unmounts on drop, so a failing assertion leaves no mount behind.
    struct Mounted(PathBuf);
    impl Drop for Mounted {
        fn drop(&mut self) {
            let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
        }
    }

    /// Needs root (mount(2)); skipped visibly without it.
    #[test]
    fn tree_removal_never_crosses_a_mount_point() {
        use nix::mount::{mount, MsFlags};
        let dir = tempfile::tempdir().unwrap();
        let foreign = dir.path().join("foreign");
        fs::create_dir_all(foreign.join("sub")).unwrap();
        fs::write(foreign.join("sub/precious"), "p").unwrap();
        let t = dir.path().join("vol");
        fs::create_dir_all(t.join("_data")).unwrap();
        fs::write(t.join("own"), "o").unwrap();
        // A bind mount of the same filesystem: same st_dev, another mount.
        let bound = mount(
            Some(&foreign),
            &t.join("_data"),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        );
        if let Err(e) = bound {
            eprintln!("SKIPPED: cannot bind mount ({e}); run as root");
            return;
        }
        let guard = Mounted(t.join("_data"));
        let canon = fs::canonicalize(t.join("_data")).unwrap();
        assert_eq!(mounts_at_or_under(&t), vec![canon]);
        let e = remove_tree_on_one_mount(&t).unwrap_err().to_string();
        assert!(e.contains("not deleting across a mount point"), "{e}");
        assert!(e.contains("_data"), "{e}");
        assert_eq!(
            fs::read_to_string(foreign.join("sub/precious")).unwrap(),
            "p"
        );
        drop(guard);
        assert!(mounts_at_or_under(&t).is_empty());
        remove_tree_on_one_mount(&t).unwrap();
        assert!(!t.exists());
        assert!(foreign.join("sub/precious").exists());
        // A tmpfs (another filesystem) deeper down is refused as well.
        fs::create_dir_all(t.join("x/y")).unwrap();
        mount(
            Some("tmpfs"),
            &t.join("x/y"),
            Some("tmpfs"),
            MsFlags::empty(),
            None::<&str>,
        )
        .unwrap();
        let guard = Mounted(t.join("x/y"));
        fs::write(t.join("x/y/on-tmpfs"), "t").unwrap();
        assert!(remove_tree_on_one_mount(&t).is_err());
        assert!(t.join("x/y/on-tmpfs").exists());
        drop(guard);
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rec.json");
        write_json_atomic(&p, &vec![1, 2]).unwrap();
        write_json_atomic(&p, &vec![3]).unwrap();
        assert_eq!(read_json::<Vec<i32>>(&p).unwrap(), Some(vec![3]));
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert_eq!(
            read_json::<Vec<i32>>(&dir.path().join("absent")).unwrap(),
            None
        );
    }
}
