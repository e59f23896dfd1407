//! The container's root: the overlay, the standard mounts, masked and
//! read-only paths, devices, volumes (copied up when new), and `pivot_root`.

use super::*;

pub(super) fn bind(src: &Path, dst: &Path, flags: MsFlags) -> R<()> {
    mount(
        Some(src),
        dst,
        None::<&str>,
        MsFlags::MS_BIND | flags,
        None::<&str>,
    )
    .map_err(|e| {
        fail(
            format_args!("bind mount {} on {}", src.display(), dst.display()),
            e,
        )
    })
}

pub(super) fn remount_ro(dst: &Path, extra: MsFlags) -> R<()> {
    mount(
        None::<&str>,
        dst,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | extra,
        None::<&str>,
    )
    .map_err(|e| fail(format_args!("remount {} read-only", dst.display()), e))
}

pub(super) fn mount_fs(fstype: &str, dst: &Path, flags: MsFlags, data: Option<&str>) -> R<()> {
    fs::create_dir_all(dst).map_err(|e| fail(format_args!("mkdir {}", dst.display()), e))?;
    mount(Some(fstype), dst, Some(fstype), flags, data)
        .map_err(|e| fail(format_args!("mount {fstype} on {}", dst.display()), e))
}

/// Inside the new namespaces: the root filesystem at `spec.rootfs`. With `userns`
/// (a virtual host's container), the image layers are seen through idmapped
/// mounts and the fresh filesystems belong to the virtual host's root.
pub(super) fn build_root(
    spec: &RuntimeSpec,
    userns: Option<&OwnedFd>,
    pre: &[Option<OwnedFd>],
) -> R<()> {
    let root = &spec.rootfs;
    // Our mounts must not leak back to the host's namespace.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| fail("make / private", e))?;
    let base = spec
        .lower
        .first()
        .and_then(|p| p.parent())
        .map(Path::to_path_buf);
    if let Some(b) = &base {
        std::env::set_current_dir(b).map_err(|e| fail(format_args!("chdir {}", b.display()), e))?;
    }
    if let Some(u) = userns {
        for l in &spec.lower {
            crate::runtime::sandbox::idmap_in_place(l, u).map_err(|e| {
                let which = fs::read_link(format!(
                    "/proc/self/fd/{}",
                    std::os::fd::AsRawFd::as_raw_fd(u)
                ))
                .map(|p| p.display().to_string())
                .unwrap_or_default();
                fail(
                    format_args!("idmapped mount of {} ({which})", l.display()),
                    e,
                )
            })?;
        }
    }
    let base_id = spec.sandbox.as_ref().map(|s| s.uid_base).unwrap_or(0);
    let owner = if userns.is_some() {
        format!(",uid={base_id},gid={base_id}")
    } else {
        String::new()
    };
    let opts = overlay_options(spec, base.as_deref());
    mount(
        Some("overlay"),
        root,
        Some("overlay"),
        MsFlags::empty(),
        Some(opts.as_str()),
    )
    .map_err(|e| fail("mount overlay root", e))?;

    let nse = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV;
    mount_fs("proc", &root.join("proc"), nse, None)?;
    if spec.net == crate::runtime::spec::NetNamespace::New || userns.is_some() {
        mount_fs("sysfs", &root.join("sys"), nse | MsFlags::MS_RDONLY, None)?;
    } else {
        // A new sysfs needs a network namespace of our own; share the host's,
        // read-only with everything mounted below it (its cgroup trees too).
        use crate::runtime::sandbox::{attach, clone_tree, make_readonly};
        let sys = root.join("sys");
        fs::create_dir_all(&sys).map_err(|e| fail("mkdir /sys", e))?;
        let tree = clone_tree(Path::new("/sys"), true).map_err(|e| fail("clone /sys", e))?;
        make_readonly(&tree).map_err(|e| fail("make /sys read-only", e))?;
        attach(&tree, &sys).map_err(|e| fail("mount /sys", e))?;
        if spec.cgroup2_mount {
            // The clone's cgroup2 mount is the same superblock as the namespace's
            // view below; the kernel refuses stacking it on its own root (EBUSY).
            let cg = root.join("sys/fs/cgroup");
            match umount2(&cg, MntFlags::MNT_DETACH) {
                Ok(()) | Err(nix::errno::Errno::EINVAL) => {}
                Err(e) => return Err(fail("detach /sys/fs/cgroup", e)),
            }
        }
    }
    if spec.cgroup2_mount {
        // Our cgroup namespace's view: the container's cgroup as the root,
        // read-only unless --privileged, as runc mounts it.
        let ro = if spec.process.privileged {
            MsFlags::empty()
        } else {
            MsFlags::MS_RDONLY
        };
        mount_fs("cgroup2", &root.join("sys/fs/cgroup"), nse | ro, None)?;
    }
    let dev = root.join("dev");
    mount_fs(
        "tmpfs",
        &dev,
        MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
        Some(format!("mode=755,size=65536k{owner}").as_str()),
    )?;
    for (name, major, minor, mode) in DEVICES {
        let p = dev.join(name);
        mknod(
            &p,
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(*mode),
            makedev(*major, *minor),
        )
        .map_err(|e| fail(format_args!("mknod {}", p.display()), e))?;
        // mknod honours the umask; set the mode Docker gives.
        let _ = fs::set_permissions(&p, fs::Permissions::from_mode(*mode));
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
        ("core", "/proc/kcore"),
    ] {
        symlink(target, dev.join(link))
            .map_err(|e| fail(format_args!("symlink /dev/{link}"), e))?;
    }
    mount_fs(
        "devpts",
        &dev.join("pts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some(format!("newinstance,ptmxmode=0666,mode=0620,gid={}", base_id + 5).as_str()),
    )?;
    mount_fs(
        "tmpfs",
        &dev.join("shm"),
        nse,
        Some(format!("mode=1777,size=65536k{owner}").as_str()),
    )?;
    mount_fs("mqueue", &dev.join("mqueue"), nse, None)?;

    for (src, name) in [
        (&spec.hosts_path, "etc/hosts"),
        (&spec.hostname_path, "etc/hostname"),
        (&spec.resolv_conf_path, "etc/resolv.conf"),
    ] {
        let dst = root.join(name);
        if !dst.exists() {
            // The init layer normally provides the mount point; a layer above may
            // have replaced /etc with something odd, so make one.
            if let Some(parent) = dst.parent() {
                let _ = fs::create_dir_all(parent);
            }
            let _ = fs::File::create(&dst);
        }
        bind(src, &dst, MsFlags::empty())?;
    }

    if spec.init {
        // /sbin may be a symlink (usr-merged images): resolve inside the root.
        let dst = resolve_in_root(root, "sbin/docker-init");
        if let Some(parent) = dst.parent() {
            fs::create_dir_all(parent).map_err(|e| fail("mkdir for docker-init", e))?;
        }
        if !dst.exists() {
            fs::File::create(&dst).map_err(|e| fail("create docker-init mount point", e))?;
        }
        let exe = std::env::current_exe().map_err(|e| fail("locate our binary", e))?;
        bind(&exe, &dst, MsFlags::empty())?;
        remount_ro(&dst, MsFlags::MS_NOSUID | MsFlags::MS_NODEV)?;
    }

    for path in &spec.self_binds {
        let dst = resolve_in_root(root, path.trim_start_matches('/'));
        if let Some(parent) = dst.parent() {
            fs::create_dir_all(parent).map_err(|e| fail(format_args!("mkdir for {path}"), e))?;
        }
        if !dst.exists() {
            fs::File::create(&dst).map_err(|e| fail(format_args!("create {path}"), e))?;
        }
        let exe = std::env::current_exe().map_err(|e| fail("locate our binary", e))?;
        bind(&exe, &dst, MsFlags::empty())?;
        remount_ro(&dst, MsFlags::MS_NOSUID | MsFlags::MS_NODEV)?;
    }

    mount_volumes(root, &spec.mounts, pre)?;

    if !spec.process.privileged {
        for p in MASKED {
            let dst = root.join(p.trim_start_matches('/'));
            match fs::metadata(&dst) {
                Ok(m) if m.is_dir() => mount(
                    Some("tmpfs"),
                    &dst,
                    Some("tmpfs"),
                    MsFlags::MS_RDONLY,
                    None::<&str>,
                )
                .map_err(|e| fail(format_args!("mask {p}"), e))?,
                Ok(_) => bind(Path::new("/dev/null"), &dst, MsFlags::empty())?,
                Err(_) => {}
            }
        }
        for p in READONLY {
            let dst = root.join(p.trim_start_matches('/'));
            if dst.exists() {
                bind(&dst, &dst, MsFlags::MS_REC)?;
                remount_ro(
                    &dst,
                    MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                )?;
            }
        }
    }
    Ok(())
}

/// Volumes, binds and tmpfs mounts. Mount points are made inside the root, never
/// through a symlink that leads out of it: a directory for a directory, an empty
/// file for anything else (a file, a unix socket such as docker.sock).
pub(super) fn mount_volumes(root: &Path, mounts: &[SpecMount], pre: &[Option<OwnedFd>]) -> R<()> {
    for (i, m) in mounts.iter().enumerate() {
        let dst = resolve_in_root(root, &m.destination);
        if let Some(Some(fd)) = pre.get(i) {
            // A path of the virtual host, cloned from its mount namespace.
            let meta = nix::sys::stat::fstat(std::os::fd::AsRawFd::as_raw_fd(fd))
                .map_err(|e| fail(format_args!("bind source path {}", m.source.display()), e))?;
            if meta.st_mode & libc::S_IFMT == libc::S_IFDIR {
                fs::create_dir_all(&dst)
                    .map_err(|e| fail(format_args!("mkdir {}", m.destination), e))?;
            } else {
                if let Some(parent) = dst.parent() {
                    fs::create_dir_all(parent)
                        .map_err(|e| fail(format_args!("mkdir for {}", m.destination), e))?;
                }
                if fs::symlink_metadata(&dst).is_err() {
                    fs::File::create(&dst).map_err(|e| {
                        fail(format_args!("create mount point {}", m.destination), e)
                    })?;
                }
            }
            crate::runtime::sandbox::attach(fd, &dst)
                .map_err(|e| fail(format_args!("bind mount on {}", m.destination), e))?;
            continue;
        }
        if m.kind == "tmpfs" {
            let (flags, data) = tmpfs_options(&m.options);
            fs::create_dir_all(&dst)
                .map_err(|e| fail(format_args!("mkdir {}", m.destination), e))?;
            mount(Some("tmpfs"), &dst, Some("tmpfs"), flags, data.as_deref())
                .map_err(|e| fail(format_args!("mount tmpfs on {}", m.destination), e))?;
            continue;
        }
        let meta = fs::metadata(&m.source)
            .map_err(|e| fail(format_args!("bind source path {}", m.source.display()), e))?;
        if meta.is_dir() {
            // Only what the image has at the path is copied up, with its owner:
            // a mount point made here (by the machine's root, even for a virtual
            // host's container) must not hand its owner to the volume.
            let in_image = fs::symlink_metadata(&dst).is_ok_and(|d| d.is_dir());
            fs::create_dir_all(&dst)
                .map_err(|e| fail(format_args!("mkdir {}", m.destination), e))?;
            if m.copy_up && in_image {
                copy_up(&dst, &m.source).map_err(|e| {
                    fail(
                        format_args!("copy image content to volume at {}", m.destination),
                        e,
                    )
                })?;
            }
        } else {
            if let Some(parent) = dst.parent() {
                fs::create_dir_all(parent)
                    .map_err(|e| fail(format_args!("mkdir for {}", m.destination), e))?;
            }
            if fs::symlink_metadata(&dst).is_err() {
                fs::File::create(&dst)
                    .map_err(|e| fail(format_args!("create mount point {}", m.destination), e))?;
            }
        }
        bind(&m.source, &dst, MsFlags::MS_REC)?;
        if m.readonly {
            remount_ro(&dst, MsFlags::empty())?;
        }
    }
    Ok(())
}

/// `--tmpfs` options: flags for mount(2) and the rest as data. Docker's defaults
/// are noexec, nosuid and nodev; `exec`, `suid`, `dev` lift them.
pub fn tmpfs_options(opts: &str) -> (MsFlags, Option<String>) {
    let mut flags = MsFlags::MS_NOEXEC | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    let mut data = vec![];
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => flags |= MsFlags::MS_RDONLY,
            "rw" => flags &= !MsFlags::MS_RDONLY,
            "exec" => flags &= !MsFlags::MS_NOEXEC,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "suid" => flags &= !MsFlags::MS_NOSUID,
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "dev" => flags &= !MsFlags::MS_NODEV,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noatime" => flags |= MsFlags::MS_NOATIME,
            "nodiratime" => flags |= MsFlags::MS_NODIRATIME,
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" => {}
            other => data.push(other),
        }
    }
    (flags, (!data.is_empty()).then(|| data.join(",")))
}

/// Docker's copy-up: an empty volume mounted over a directory of the image gets
/// that directory's content and its owner and mode.
pub(super) fn copy_up(image_dir: &Path, volume: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{lchown, MetadataExt};
    if fs::read_dir(volume)?.next().is_some() {
        return Ok(());
    }
    let meta = fs::metadata(image_dir)?;
    copy_tree(image_dir, volume)?;
    lchown(volume, Some(meta.uid()), Some(meta.gid()))?;
    fs::set_permissions(volume, fs::Permissions::from_mode(meta.mode() & 0o7777))
}

pub(super) fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{lchown, MetadataExt};
    for ent in fs::read_dir(from)? {
        let ent = ent?;
        let src = ent.path();
        let dst = to.join(ent.file_name());
        let meta = fs::symlink_metadata(&src)?;
        let ft = meta.file_type();
        if ft.is_dir() {
            fs::create_dir(&dst)?;
            copy_tree(&src, &dst)?;
        } else if ft.is_symlink() {
            symlink(fs::read_link(&src)?, &dst)?;
        } else if ft.is_file() {
            fs::copy(&src, &dst)?;
        } else {
            continue; // devices, fifos and sockets are not copied
        }
        lchown(&dst, Some(meta.uid()), Some(meta.gid()))?;
        if !ft.is_symlink() {
            fs::set_permissions(&dst, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        }
    }
    Ok(())
}

/// `rel` inside `root`, following symlinks as the container would see them: an
/// absolute target restarts at `root`, `..` never climbs above it. Components
/// that do not exist yet are appended as they are.
pub fn resolve_in_root(root: &Path, rel: &str) -> PathBuf {
    let mut todo: Vec<String> = rel
        .split('/')
        .filter(|c| !c.is_empty())
        .rev()
        .map(String::from)
        .collect();
    let mut cur: Vec<String> = vec![];
    let mut links = 0;
    while let Some(c) = todo.pop() {
        match c.as_str() {
            "." => continue,
            ".." => {
                cur.pop();
                continue;
            }
            _ => {}
        }
        let candidate = cur
            .iter()
            .fold(root.to_path_buf(), |p, x| p.join(x))
            .join(&c);
        match fs::read_link(&candidate) {
            Ok(target) if links < 40 => {
                links += 1;
                let t = target.to_string_lossy().into_owned();
                if t.starts_with('/') {
                    cur.clear();
                }
                todo.extend(
                    t.split('/')
                        .filter(|x| !x.is_empty())
                        .rev()
                        .map(String::from),
                );
            }
            _ => cur.push(c),
        }
    }
    cur.iter().fold(root.to_path_buf(), |p, x| p.join(x))
}

/// Switch the root to `rootfs` with `pivot_root(".", ".")` and lazily detach the old one.
pub(super) fn pivot(rootfs: &Path) -> R<()> {
    std::env::set_current_dir(rootfs).map_err(|e| fail("chdir rootfs", e))?;
    nix::unistd::pivot_root(".", ".").map_err(|e| fail("pivot_root", e))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| fail("detach old root", e))?;
    std::env::set_current_dir("/").map_err(|e| fail("chdir /", e))?;
    Ok(())
}
