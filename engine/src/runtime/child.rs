//! The container's PID 1 before `execve`: runs in the monitor's forked child, which
//! is already the first process of a new pid namespace. It unshares the remaining
//! namespaces, builds the root filesystem, switches into it and drops privileges.
//! Errors carry Docker's exit code: 127 for a missing command, 126 for one that
//! cannot be executed, 125 for everything else.

use super::spec::{ProcessSpec, SpecMount};
use super::{caps, user, RuntimeSpec};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use std::ffi::CString;
use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

/// A setup failure with the exit code Docker reports for it.
#[derive(Debug)]
pub struct SetupError {
    pub code: i64,
    pub message: String,
}

fn fail(what: impl std::fmt::Display, e: impl std::fmt::Display) -> SetupError {
    SetupError {
        code: 125,
        message: format!("{what}: {e}"),
    }
}

type R<T> = Result<T, SetupError>;

/// Paths Docker masks in `/proc` and `/sys` (moby `oci/defaults.go`).
const MASKED: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
/// Paths Docker makes read-only.
const READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Device nodes in the container's `/dev`: (name, major, minor, mode).
const DEVICES: &[(&str, u64, u64, u32)] = &[
    ("null", 1, 3, 0o666),
    ("zero", 1, 5, 0o666),
    ("full", 1, 7, 0o666),
    ("random", 1, 8, 0o666),
    ("urandom", 1, 9, 0o666),
    ("tty", 5, 0, 0o666),
];

/// The overlay mount options; lower layers are listed topmost first, as overlayfs
/// wants. Paths are made relative to `base` when that shortens them, because the
/// whole option string must fit in one page.
pub fn overlay_options(spec: &RuntimeSpec, base: Option<&Path>) -> String {
    let rel = |p: &Path| -> String {
        match base.and_then(|b| p.strip_prefix(b).ok()) {
            Some(r) => r.display().to_string(),
            None => p.display().to_string(),
        }
    };
    let lower: Vec<String> = spec.lower.iter().rev().map(|p| rel(p)).collect();
    format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        spec.upper.display(),
        spec.work.display()
    )
}

fn bind(src: &Path, dst: &Path, flags: MsFlags) -> R<()> {
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

fn remount_ro(dst: &Path, extra: MsFlags) -> R<()> {
    mount(
        None::<&str>,
        dst,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | extra,
        None::<&str>,
    )
    .map_err(|e| fail(format_args!("remount {} read-only", dst.display()), e))
}

fn mount_fs(fstype: &str, dst: &Path, flags: MsFlags, data: Option<&str>) -> R<()> {
    fs::create_dir_all(dst).map_err(|e| fail(format_args!("mkdir {}", dst.display()), e))?;
    mount(Some(fstype), dst, Some(fstype), flags, data)
        .map_err(|e| fail(format_args!("mount {fstype} on {}", dst.display()), e))
}

/// Inside the new namespaces: the root filesystem at `spec.rootfs`. With `userns`
/// (a virtual host's container), the image layers are seen through idmapped
/// mounts and the fresh filesystems belong to the virtual host's root.
fn build_root(spec: &RuntimeSpec, userns: Option<&OwnedFd>, pre: &[Option<OwnedFd>]) -> R<()> {
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
            super::sandbox::idmap_in_place(l, u).map_err(|e| {
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
    if spec.net == super::spec::NetNamespace::New || userns.is_some() {
        mount_fs("sysfs", &root.join("sys"), nse | MsFlags::MS_RDONLY, None)?;
    } else {
        // A new sysfs needs a network namespace of our own; share the host's, read-only.
        let sys = root.join("sys");
        fs::create_dir_all(&sys).map_err(|e| fail("mkdir /sys", e))?;
        bind(Path::new("/sys"), &sys, MsFlags::MS_REC)?;
        remount_ro(&sys, nse)?;
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
fn mount_volumes(root: &Path, mounts: &[SpecMount], pre: &[Option<OwnedFd>]) -> R<()> {
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
            super::sandbox::attach(fd, &dst)
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
fn copy_up(image_dir: &Path, volume: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{lchown, MetadataExt};
    if fs::read_dir(volume)?.next().is_some() {
        return Ok(());
    }
    let meta = fs::metadata(image_dir)?;
    copy_tree(image_dir, volume)?;
    lchown(volume, Some(meta.uid()), Some(meta.gid()))?;
    fs::set_permissions(volume, fs::Permissions::from_mode(meta.mode() & 0o7777))
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
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
fn pivot(rootfs: &Path) -> R<()> {
    std::env::set_current_dir(rootfs).map_err(|e| fail("chdir rootfs", e))?;
    nix::unistd::pivot_root(".", ".").map_err(|e| fail("pivot_root", e))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| fail("detach old root", e))?;
    std::env::set_current_dir("/").map_err(|e| fail("chdir /", e))?;
    Ok(())
}

/// Bring `lo` up in the new network namespace.
fn loopback_up() -> R<()> {
    // SAFETY: a plain datagram socket used only for the interface ioctls below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(fail("socket", std::io::Error::last_os_error()));
    }
    // SAFETY: ifreq is plain data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in b"lo\0".iter().enumerate() {
        req.ifr_name[i] = *b as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write the ifreq we own.
    let r = unsafe {
        if libc::ioctl(fd, libc::SIOCGIFFLAGS as _, &mut req) < 0 {
            -1
        } else {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            libc::ioctl(fd, libc::SIOCSIFFLAGS as _, &req)
        }
    };
    let err = std::io::Error::last_os_error();
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
    if r < 0 {
        return Err(fail("bring up lo", err));
    }
    Ok(())
}

/// The program to run: `args[0]` as a path (a relative one from the working
/// directory `cwd`, as runc runs it), or looked up in the container's PATH.
/// Error texts are runc's, which Docker shows and maps to 127/126.
pub fn find_program(
    arg0: &str,
    path_var: &str,
    root: &Path,
    cwd: &str,
) -> Result<PathBuf, SetupError> {
    let check = |p: &Path| -> Option<Result<PathBuf, SetupError>> {
        let at = if p.is_absolute() {
            p.to_path_buf()
        } else {
            Path::new(if cwd.is_empty() { "/" } else { cwd }).join(p)
        };
        let full = root.join(at.strip_prefix("/").unwrap_or(&at));
        let meta = fs::metadata(&full).ok()?;
        if meta.is_dir() || meta.permissions().mode() & 0o111 == 0 {
            return Some(Err(SetupError {
                code: 126,
                message: format!("exec: \"{arg0}\": permission denied"),
            }));
        }
        Some(Ok(p.to_path_buf()))
    };
    if arg0.contains('/') {
        return check(Path::new(arg0)).unwrap_or_else(|| {
            Err(SetupError {
                code: 127,
                message: format!("exec: \"{arg0}\": stat {arg0}: no such file or directory"),
            })
        });
    }
    let mut denied = None;
    for dir in path_var.split(':').filter(|d| !d.is_empty()) {
        match check(&Path::new(dir).join(arg0)) {
            Some(Ok(p)) => return Ok(p),
            Some(Err(e)) => denied = denied.or(Some(e)),
            None => {}
        }
    }
    Err(denied.unwrap_or(SetupError {
        code: 127,
        message: format!("exec: \"{arg0}\": executable file not found in $PATH"),
    }))
}

fn env_get<'a>(env: &'a [String], key: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find_map(|e| e.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// The container's namespaces and root: unshare, hostname, loopback, the overlay
/// root with /proc, /dev and friends, pivot_root. Runs in the container's PID 1
/// before anything else.
pub fn prepare_container(spec: &RuntimeSpec, ns: Option<&super::sandbox::NsFds>) -> R<()> {
    use super::spec::NetNamespace;
    use nix::sched::{setns, unshare, CloneFlags};
    let mut flags = CloneFlags::CLONE_NEWNS;
    match ns {
        None => {
            if !spec.uts_host {
                flags |= CloneFlags::CLONE_NEWUTS;
            }
            if !spec.ipc_host {
                flags |= CloneFlags::CLONE_NEWIPC;
            }
            if spec.net == NetNamespace::New {
                flags |= CloneFlags::CLONE_NEWNET;
            }
        }
        Some(ns) => {
            for (fd, flag) in [
                (&ns.net, CloneFlags::CLONE_NEWNET),
                (&ns.uts, CloneFlags::CLONE_NEWUTS),
                (&ns.ipc, CloneFlags::CLONE_NEWIPC),
            ] {
                if let Some(fd) = fd {
                    setns(fd, flag).map_err(|e| fail(format_args!("setns {flag:?}"), e))?;
                }
            }
        }
    }
    if let NetNamespace::Join(pid) = spec.net {
        let p = format!("/proc/{pid}/ns/net");
        let f = fs::File::open(&p).map_err(|e| fail(format_args!("open {p}"), e))?;
        setns(&f, CloneFlags::CLONE_NEWNET).map_err(|e| fail("join network namespace", e))?;
    }
    let pre = match ns.and_then(|n| n.host_mnt.as_ref()) {
        Some(mnt) => open_sandbox_binds(spec, mnt)?,
        None => Vec::new(),
    };
    unshare(flags).map_err(|e| fail("unshare", e))?;
    if !spec.uts_host {
        nix::unistd::sethostname(&spec.process.hostname).map_err(|e| fail("sethostname", e))?;
    }
    if spec.net == NetNamespace::New {
        loopback_up()?;
    }
    build_root(spec, ns.and_then(|n| n.user.as_ref()), &pre)?;
    pivot(&spec.rootfs)?;
    if spec.readonly_rootfs {
        remount_ro(Path::new("/"), MsFlags::empty())?;
    }
    if let Some(user) = ns.and_then(|n| n.user.as_ref()) {
        // Last: from here on we are the virtual host's root, not the machine's.
        setns(user, CloneFlags::CLONE_NEWUSER).map_err(|e| fail("join the user namespace", e))?;
        if spec.process.privileged {
            // A mount namespace of the virtual host's own, so that `--privileged`
            // can mount; what we mounted above stays locked in place.
            unshare(CloneFlags::CLONE_NEWNS).map_err(|e| fail("unshare mount namespace", e))?;
        }
    }
    Ok(())
}

/// Bind sources that are paths of the virtual host: cloned from its mount
/// namespace (missing directories are made, owned by its root, as `-v` does;
/// a bind volume's missing device is an error).
fn open_sandbox_binds(spec: &RuntimeSpec, mnt: &OwnedFd) -> R<Vec<Option<OwnedFd>>> {
    use nix::sched::{setns, CloneFlags};
    let own = fs::File::open("/proc/self/ns/mnt").map_err(|e| fail("open mount namespace", e))?;
    setns(mnt, CloneFlags::CLONE_NEWNS).map_err(|e| fail("enter the host's mounts", e))?;
    let base = spec.sandbox.as_ref().map(|s| s.uid_base).unwrap_or(0);
    let result = spec
        .mounts
        .iter()
        .map(|m| {
            if m.kind != "bind" || !m.in_sandbox {
                return Ok(None);
            }
            if fs::symlink_metadata(&m.source).is_err() && !m.must_exist {
                fs::create_dir_all(&m.source).map_err(|e| {
                    fail(format_args!("bind source path {}", m.source.display()), e)
                })?;
                let _ = nix::unistd::chown(
                    &m.source,
                    Some(nix::unistd::Uid::from_raw(base)),
                    Some(nix::unistd::Gid::from_raw(base)),
                );
            }
            let fd = super::sandbox::clone_tree(&m.source, true)
                .map_err(|e| fail(format_args!("bind source path {}", m.source.display()), e))?;
            if m.readonly {
                super::sandbox::make_readonly(&fd)
                    .map_err(|e| fail(format_args!("read-only bind of {}", m.destination), e))?;
            }
            Ok(Some(fd))
        })
        .collect::<R<Vec<_>>>();
    setns(&own, CloneFlags::CLONE_NEWNS).map_err(|e| fail("leave the host's mounts", e))?;
    result
}

/// Join the namespaces of a running container's PID 1 (for exec). The pid
/// namespace needs no join: the monitor forks exec'd processes straight into it.
/// Joining the mount namespace also moves root and cwd to the container's root.
pub fn join_container(init_pid: i32, sandbox: bool) -> R<()> {
    use nix::sched::{setns, CloneFlags};
    let open = |ns: &str| {
        let p = format!("/proc/{init_pid}/ns/{ns}");
        fs::File::open(&p).map_err(|e| fail(format_args!("open {p}"), e))
    };
    let files = [
        (open("ipc")?, CloneFlags::CLONE_NEWIPC),
        (open("uts")?, CloneFlags::CLONE_NEWUTS),
        (open("net")?, CloneFlags::CLONE_NEWNET),
        (open("mnt")?, CloneFlags::CLONE_NEWNS),
    ];
    let user = if sandbox { Some(open("user")?) } else { None };
    for (f, flag) in &files {
        setns(f, *flag).map_err(|e| fail(format_args!("setns {flag:?}"), e))?;
    }
    if let Some(u) = user {
        setns(&u, CloneFlags::CLONE_NEWUSER).map_err(|e| fail("join the user namespace", e))?;
    }
    std::env::set_current_dir("/").map_err(|e| fail("chdir /", e))?;
    Ok(())
}

/// Open a pseudo-terminal on the container's own devpts (so `tty` names a device
/// that exists inside), make its slave the controlling terminal and stdio of this
/// process, and return the master for the monitor.
pub fn open_tty(size: Option<[u16; 2]>) -> R<std::os::fd::OwnedFd> {
    use nix::fcntl::OFlag;
    use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(|e| fail("open /dev/ptmx", e))?;
    grantpt(&master).map_err(|e| fail("grantpt", e))?;
    unlockpt(&master).map_err(|e| fail("unlockpt", e))?;
    let name = ptsname_r(&master).map_err(|e| fail("ptsname", e))?;
    if let Some([rows, cols]) = size {
        set_winsize(master.as_raw_fd(), rows, cols);
    }
    let slave = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&name)
        .map_err(|e| fail(format_args!("open {name}"), e))?;
    nix::unistd::setsid().map_err(|e| fail("setsid", e))?;
    // SAFETY: TIOCSCTTY on the slave fd we just opened; argument 0 = do not steal.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY as _, 0) } < 0 {
        return Err(fail(
            "set controlling terminal",
            std::io::Error::last_os_error(),
        ));
    }
    for target in 0..3 {
        nix::unistd::dup2(slave.as_raw_fd(), target).map_err(|e| fail("dup2 tty", e))?;
    }
    // SAFETY: into_raw_fd hands over ownership of the master's fd.
    Ok(unsafe { OwnedFd::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(master)) })
}

/// TIOCSWINSZ on a terminal fd (the kernel signals the foreground group).
pub fn set_winsize(fd: i32, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize struct we own.
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ as _, &ws) };
}

/// Everything about the process itself up to `execve`, inside the container's
/// root: environment, user, program lookup, working directory, capabilities.
/// Returns the program, argv and envp.
pub fn prepare_process(p: &ProcessSpec) -> R<(CString, Vec<CString>, Vec<CString>)> {
    let root = PathBuf::from("/");
    let mut env = p.env.clone();
    let path_var = env_get(&env, "PATH")
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .to_string();
    if env_get(&env, "PATH").is_none() {
        env.insert(0, format!("PATH={path_var}"));
    }
    let passwd = fs::read_to_string(root.join("etc/passwd")).unwrap_or_default();
    let group = fs::read_to_string(root.join("etc/group")).unwrap_or_default();
    let who = user::resolve(&p.user, &passwd, &group)
        .and_then(|who| user::add_groups(who, &p.group_add, &group))
        .map_err(|m| SetupError {
            code: 125,
            message: m,
        })?;
    if env_get(&env, "HOSTNAME").is_none() && !p.hostname.is_empty() {
        env.insert(1.min(env.len()), format!("HOSTNAME={}", p.hostname));
    }
    if env_get(&env, "HOME").is_none() {
        env.push(format!("HOME={}", who.home));
    }
    if p.tty && env_get(&env, "TERM").is_none() {
        env.push("TERM=xterm".into());
    }
    let arg0 = p.args.first().cloned().unwrap_or_default();
    let program = find_program(&arg0, &path_var, &root, &p.cwd)?;
    let cwd = if p.cwd.is_empty() {
        "/"
    } else {
        p.cwd.as_str()
    };
    if fs::metadata(cwd).is_err() {
        fs::create_dir_all(cwd).map_err(|e| fail(format_args!("mkdir {cwd}"), e))?;
        let _ = nix::unistd::chown(
            cwd,
            Some(nix::unistd::Uid::from_raw(who.uid)),
            Some(nix::unistd::Gid::from_raw(who.gid)),
        );
    }

    let set =
        caps::effective_set(p.privileged, &p.cap_add, &p.cap_drop, caps::held()).map_err(|m| {
            SetupError {
                code: 125,
                message: m,
            }
        })?;
    caps::drop_bounding(set).map_err(|e| fail("drop bounding capabilities", e))?;
    // Keep capabilities across the uid change; capset below sets the final sets.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) };
    let groups: Vec<nix::unistd::Gid> = who
        .groups
        .iter()
        .map(|g| nix::unistd::Gid::from_raw(*g))
        .collect();
    nix::unistd::setgroups(&groups).map_err(|e| fail("setgroups", e))?;
    let gid = nix::unistd::Gid::from_raw(who.gid);
    nix::unistd::setresgid(gid, gid, gid).map_err(|e| fail("setgid", e))?;
    let uid = nix::unistd::Uid::from_raw(who.uid);
    nix::unistd::setresuid(uid, uid, uid).map_err(|e| fail("setuid", e))?;
    caps::set_caps(set).map_err(|e| fail("set capabilities", e))?;
    if p.no_new_privileges {
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    }
    // The working directory is entered as the container's user, as runc does.
    std::env::set_current_dir(cwd)
        .map_err(|e| fail(format_args!("chdir to cwd (\"{cwd}\")"), e))?;

    let cstr = |s: &str| CString::new(s).map_err(|e| fail("argument", e));
    let prog = cstr(&program.display().to_string())?;
    let argv = p.args.iter().map(|a| cstr(a)).collect::<R<Vec<_>>>()?;
    let envp = env.iter().map(|a| cstr(a)).collect::<R<Vec<_>>>()?;
    Ok((prog, argv, envp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_lists_lower_layers_topmost_first_and_shortens_paths() {
        let spec = RuntimeSpec {
            lower: vec![
                "/d/layers/aaa".into(),
                "/d/layers/bbb".into(),
                "/c/init".into(),
            ],
            upper: "/c/upper".into(),
            work: "/c/work".into(),
            ..Default::default()
        };
        assert_eq!(
            overlay_options(&spec, Some(Path::new("/d/layers"))),
            "lowerdir=/c/init:bbb:aaa,upperdir=/c/upper,workdir=/c/work"
        );
    }

    #[test]
    fn paths_resolve_inside_the_root_through_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("usr/sbin")).unwrap();
        symlink("usr/sbin", root.join("sbin")).unwrap();
        symlink("/usr", root.join("abs")).unwrap();
        symlink("../../../../etc", root.join("escape")).unwrap();
        assert_eq!(
            resolve_in_root(root, "sbin/docker-init"),
            root.join("usr/sbin/docker-init")
        );
        assert_eq!(resolve_in_root(root, "abs/sbin/x"), root.join("usr/sbin/x"));
        assert_eq!(
            resolve_in_root(root, "escape/passwd"),
            root.join("etc/passwd")
        );
        assert_eq!(resolve_in_root(root, "new/dir/f"), root.join("new/dir/f"));
    }

    #[test]
    fn tmpfs_options_split_into_flags_and_data() {
        let (f, d) = tmpfs_options("");
        assert!(f.contains(MsFlags::MS_NOEXEC | MsFlags::MS_NOSUID | MsFlags::MS_NODEV));
        assert_eq!(d, None);
        let (f, d) = tmpfs_options("rw,exec,size=64m,mode=1777");
        assert!(!f.contains(MsFlags::MS_NOEXEC));
        assert!(f.contains(MsFlags::MS_NOSUID));
        assert_eq!(d.as_deref(), Some("size=64m,mode=1777"));
        assert!(tmpfs_options("ro").0.contains(MsFlags::MS_RDONLY));
    }

    #[test]
    fn copy_up_fills_only_an_empty_volume() {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("img");
        fs::create_dir_all(img.join("sub")).unwrap();
        fs::write(img.join("sub/f"), "x").unwrap();
        symlink("sub/f", img.join("l")).unwrap();
        let vol = dir.path().join("vol");
        fs::create_dir(&vol).unwrap();
        copy_up(&img, &vol).unwrap();
        assert_eq!(fs::read_to_string(vol.join("sub/f")).unwrap(), "x");
        assert_eq!(fs::read_link(vol.join("l")).unwrap(), Path::new("sub/f"));
        fs::write(img.join("new"), "y").unwrap();
        copy_up(&img, &vol).unwrap();
        assert!(
            !vol.join("new").exists(),
            "a volume with data is left alone"
        );
    }

    #[test]
    fn program_lookup_reports_dockers_codes() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        fs::create_dir(&bin).unwrap();
        fs::write(bin.join("tool"), "x").unwrap();
        fs::set_permissions(bin.join("tool"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(bin.join("plain"), "x").unwrap();
        fs::set_permissions(bin.join("plain"), fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            find_program("tool", "/sbin:/bin", dir.path(), "/").unwrap(),
            Path::new("/bin/tool")
        );
        let nf = find_program("nope", "/bin", dir.path(), "/").unwrap_err();
        assert_eq!(nf.code, 127);
        assert!(
            nf.message.contains("executable file not found in $PATH"),
            "{}",
            nf.message
        );
        assert_eq!(
            find_program("plain", "/bin", dir.path(), "/")
                .unwrap_err()
                .code,
            126
        );
        assert_eq!(
            find_program("/bin", "", dir.path(), "/").unwrap_err().code,
            126
        );
        assert_eq!(
            find_program("/no/such", "", dir.path(), "/")
                .unwrap_err()
                .code,
            127
        );
        // A relative path starts at the working directory, as runc's.
        assert_eq!(
            find_program("./tool", "", dir.path(), "/bin").unwrap(),
            Path::new("./tool")
        );
        assert_eq!(
            find_program("./tool", "", dir.path(), "/")
                .unwrap_err()
                .code,
            127
        );
    }
}
