//! Extracting an archive into the root as moby's `Untar` does for a copy.

use super::*;

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

pub(super) fn set_times_path(p: &str, mtime: i64, nofollow: bool) -> Result<(), Errno> {
    let t = nix::sys::time::TimeSpec::new(mtime, 0);
    let flag = if nofollow {
        nix::sys::stat::UtimensatFlags::NoFollowSymlink
    } else {
        nix::sys::stat::UtimensatFlags::FollowSymlink
    };
    nix::sys::stat::utimensat(None, p, &t, &t, flag)
}

/// Remove `name` of `dir` and, for a directory, its tree (moby's `RemoveAll`).
pub(super) fn remove_all_at(dir: RawFd, name: &OsStr) -> Result<(), Errno> {
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

pub(super) fn pax_xattrs<R: Read>(entry: &mut tar::Entry<'_, R>) -> Vec<(String, Vec<u8>)> {
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
