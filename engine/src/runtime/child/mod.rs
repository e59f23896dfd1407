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

mod root;

use root::*;
pub use root::{resolve_in_root, tmpfs_options};

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
    if spec.cgroupns {
        // The namespace is rooted at the cgroup of the process that makes it:
        // join the container's cgroups first (the monitor writes our pid too,
        // but perhaps not yet).
        let me = std::process::id().to_string();
        for procs in &spec.cgroup_procs {
            fs::write(procs, &me).map_err(|e| fail(format_args!("join {}", procs.display()), e))?;
        }
        flags |= CloneFlags::CLONE_NEWCGROUP;
    }
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
    let mut files = vec![
        (open("ipc")?, CloneFlags::CLONE_NEWIPC),
        (open("uts")?, CloneFlags::CLONE_NEWUTS),
        (open("net")?, CloneFlags::CLONE_NEWNET),
    ];
    // A kernel without cgroup namespaces has no such file: nothing to join.
    if let Ok(f) = fs::File::open(format!("/proc/{init_pid}/ns/cgroup")) {
        files.push((f, CloneFlags::CLONE_NEWCGROUP));
    }
    files.push((open("mnt")?, CloneFlags::CLONE_NEWNS));
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
    // Without no_new_privs a filter needs CAP_SYS_ADMIN, so it goes on while
    // we still hold it (as runc does); our remaining set-up calls are all in
    // the default profile. With no_new_privs, as late as possible.
    let install_seccomp = || match &p.seccomp {
        Some(programs) => {
            super::seccomp::install(programs).map_err(|e| fail("install seccomp filter", e))
        }
        None => Ok(()),
    };
    if !p.no_new_privileges {
        install_seccomp()?;
    }
    caps::drop_bounding(set).map_err(|e| fail("drop bounding capabilities", e))?;
    // Keep capabilities across the uid change; capset below sets the final sets.
    nix::sys::prctl::set_keepcaps(true).map_err(|e| fail("keep capabilities", e))?;
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
        nix::sys::prctl::set_no_new_privs().map_err(|e| fail("no_new_privs", e))?;
        install_seccomp()?;
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
