//! Namespaces of virtual hosts. A virtual host's init gets a new user namespace
//! (root inside is an unprivileged uid range outside) with new pid, net, uts and
//! ipc namespaces owned by it. A container of a virtual host joins that user
//! namespace, and its own new namespaces are owned by it too, so that `--privileged`
//! means every capability *of the virtual host*, and `--net host` / `--pid host`
//! mean the virtual host's namespaces.
//!
//! The monitor (real root, single-threaded) forks a short-lived helper that joins
//! or creates the user namespace and unshares the others; the monitor keeps their
//! file descriptors, sets its own `pid_for_children`, and the helper exits. The
//! container's PID 1 then joins them, builds its root as real root (the overlay
//! sees the shared image layers through idmapped mounts, so ownership inside is
//! what the image says), switches into it, and joins the user namespace last.

use super::spec::{NetNamespace, RuntimeSpec};
use nix::sched::{setns, unshare, CloneFlags};
use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The namespaces a sandboxed container's PID 1 joins (opened by the monitor).
#[derive(Default)]
pub struct NsFds {
    pub user: Option<OwnedFd>,
    pub net: Option<OwnedFd>,
    pub uts: Option<OwnedFd>,
    pub ipc: Option<OwnedFd>,
    /// The virtual host's mount namespace: where `-v /path:...` sources are found.
    pub host_mnt: Option<OwnedFd>,
}

fn open_ns(pid: i32, ns: &str) -> std::io::Result<OwnedFd> {
    let p = format!("/proc/{pid}/ns/{ns}");
    File::open(&p)
        .map(OwnedFd::from)
        .map_err(|e| std::io::Error::new(e.kind(), format!("open {p}: {e}")))
}

fn err(what: &str, e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("{what}: {e}"))
}

/// Monitor side: the user, net, uts and ipc namespaces of a container of a
/// virtual host (or of its init). The caller must be single-threaded. (A pid
/// namespace cannot be opened before its init exists, so the monitor itself
/// unshares that one: see `enter_vhost_pid_ns`.)
pub fn prepare(spec: &RuntimeSpec) -> std::io::Result<NsFds> {
    let sb = spec
        .sandbox
        .as_ref()
        .ok_or_else(|| std::io::Error::other("not a sandboxed container"))?;
    let mut flags = CloneFlags::empty();
    if spec.net == NetNamespace::New {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    if !spec.uts_host {
        flags |= CloneFlags::CLONE_NEWUTS;
    }
    if !spec.ipc_host {
        flags |= CloneFlags::CLONE_NEWIPC;
    }
    let user_fd = match sb.init_pid {
        Some(p) => Some(open_ns(p, "user").map_err(|e| err("open the user namespace", e))?),
        None => None,
    };
    let (to_parent_r, to_parent_w) = nix::unistd::pipe().map_err(|e| err("pipe", e))?;
    let (to_child_r, to_child_w) = nix::unistd::pipe().map_err(|e| err("pipe", e))?;
    // SAFETY: the monitor is single-threaded.
    match unsafe { nix::unistd::fork() }.map_err(|e| err("fork", e))? {
        nix::unistd::ForkResult::Child => {
            drop((to_parent_r, to_child_w));
            let mut out = File::from(to_parent_w);
            let mut inp = File::from(to_child_r);
            let fail = |out: &mut File, what: &str, e: nix::Error| -> ! {
                let _ = write!(out, "E{what}: {e}");
                // SAFETY: _exit in a forked child.
                unsafe { libc::_exit(1) }
            };
            match &user_fd {
                Some(u) => {
                    if let Err(e) = setns(u, CloneFlags::CLONE_NEWUSER) {
                        fail(&mut out, "join the user namespace", e)
                    }
                }
                None => {
                    if let Err(e) = unshare(CloneFlags::CLONE_NEWUSER) {
                        fail(&mut out, "create a user namespace", e)
                    }
                    let _ = out.write_all(b"U");
                    let mut b = [0u8; 1];
                    if !matches!(inp.read(&mut b), Ok(1)) {
                        // SAFETY: as above.
                        unsafe { libc::_exit(1) }
                    }
                }
            }
            if let Err(e) = unshare(flags) {
                fail(&mut out, "create namespaces", e)
            }
            let _ = out.write_all(b"N");
            let mut rest = Vec::new();
            let _ = inp.read_to_end(&mut rest);
            // SAFETY: as above.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop((to_parent_w, to_child_r));
            let mut inp = File::from(to_parent_r);
            let mut out = File::from(to_child_w);
            // Our /proc is the machine's: name the helper by its machine pid (we
            // may live in a virtual host's pid namespace, where `child` differs).
            let real = machine_pid(child.as_raw()).unwrap_or(0);
            let result = (|| {
                if real <= 0 {
                    return Err(std::io::Error::other("cannot find the namespace helper"));
                }
                let mut b = [0u8; 1];
                let mut read_one = |inp: &mut File| -> std::io::Result<u8> {
                    match inp.read(&mut b) {
                        Ok(1) => Ok(b[0]),
                        _ => Err(std::io::Error::other("namespace helper ended")),
                    }
                };
                let mut c = read_one(&mut inp)?;
                if c == b'U' {
                    let map = format!("0 {} {}\n", sb.uid_base, sb.size);
                    std::fs::write(format!("/proc/{real}/uid_map"), &map)
                        .map_err(|e| err("write uid_map", e))?;
                    std::fs::write(format!("/proc/{real}/gid_map"), &map)
                        .map_err(|e| err("write gid_map", e))?;
                    out.write_all(b"M")?;
                    c = read_one(&mut inp)?;
                }
                if c != b'N' {
                    let mut msg = vec![c];
                    let _ = inp.read_to_end(&mut msg);
                    let msg = String::from_utf8_lossy(&msg[1..]).to_string();
                    return Err(std::io::Error::other(msg));
                }
                let pid = real;
                let mut fds = NsFds {
                    user: Some(open_ns(pid, "user")?),
                    ..Default::default()
                };
                let host = |ns: &str| -> std::io::Result<Option<OwnedFd>> {
                    match sb.init_pid {
                        Some(p) => open_ns(p, ns).map(Some),
                        None => Ok(None),
                    }
                };
                fds.net = match spec.net {
                    NetNamespace::New => Some(open_ns(pid, "net")?),
                    NetNamespace::Host => host("net")?,
                    NetNamespace::Join(_) => None,
                };
                fds.uts = if spec.uts_host {
                    host("uts")?
                } else {
                    Some(open_ns(pid, "uts")?)
                };
                fds.ipc = if spec.ipc_host {
                    host("ipc")?
                } else {
                    Some(open_ns(pid, "ipc")?)
                };
                fds.host_mnt = host("mnt")?;
                Ok(fds)
            })();
            drop(out);
            let _ = nix::sys::wait::waitpid(child, None);
            result
        }
    }
}

/// Move the calling monitor into the virtual host's pid namespace: a pid
/// namespace it then unshares is a child of the virtual host's, so the virtual
/// host sees (and `--pid host` containers can signal) its containers' processes.
/// Joining only affects children, so this forks: the parent exits at once and
/// the child carries on. Single-threaded callers only.
pub fn enter_vhost_pid_ns(init_pid: i32) -> std::io::Result<()> {
    let f = open_ns(init_pid, "pid")?;
    setns(&f, CloneFlags::CLONE_NEWPID)
        .map_err(|e| err("join the virtual host's pid namespace", e))?;
    // SAFETY: single-threaded caller.
    match unsafe { nix::unistd::fork() }.map_err(|e| err("fork", e))? {
        nix::unistd::ForkResult::Child => Ok(()),
        nix::unistd::ForkResult::Parent { child } => {
            // Stay as the child's parent, outside the virtual host's pid namespace, and
            // reap it the moment it ends: an orphan would go to the machine's
            // init, and until that reaps it the zombie keeps the virtual host's
            // pid namespace (and the removal of its init) waiting. Hold none of
            // the child's descriptors: the daemon reads its reports until EOF.
            if let Ok(null) = File::open("/dev/null") {
                for fd in 0..=2 {
                    let _ = nix::unistd::dup2(null.as_raw_fd(), fd);
                }
            }
            // SAFETY: close_range on descriptors this process no longer uses.
            unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
            let code = match nix::sys::wait::waitpid(child, None) {
                Ok(nix::sys::wait::WaitStatus::Exited(_, c)) => c,
                _ => 0,
            };
            // SAFETY: _exit in the parent we kept only to reap.
            unsafe { libc::_exit(code) }
        }
    }
}

/// The machine's pid of a process we can name in our own pid namespace, from
/// the fdinfo of a pidfd (the machine's /proc translates it).
pub fn machine_pid(pid: i32) -> Option<i32> {
    // SAFETY: pidfd_open with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: a new descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|v| v.trim().parse().ok())
}

const OPEN_TREE_CLONE: libc::c_uint = 1;
const AT_RECURSIVE: libc::c_uint = 0x8000;
const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

fn cpath(p: &Path) -> std::io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other)
}

/// A detached copy of the mount at `path` (with its submounts when `recursive`).
pub fn clone_tree(path: &Path, recursive: bool) -> std::io::Result<OwnedFd> {
    let c = cpath(path)?;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    if recursive {
        flags |= AT_RECURSIVE;
    }
    // SAFETY: open_tree with a valid C string; returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn set_attr(fd: &OwnedFd, attr: &MountAttr, recursive: bool) -> std::io::Result<()> {
    let empty = c"";
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= AT_RECURSIVE;
    }
    // SAFETY: mount_setattr on our fd with a properly sized struct.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            empty.as_ptr(),
            flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Attach a detached mount at `dst`.
pub fn attach(fd: &OwnedFd, dst: &Path) -> std::io::Result<()> {
    let empty = c"";
    let d = cpath(dst)?;
    // SAFETY: move_mount with valid fds and C strings.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            fd.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            d.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Make a detached tree read-only (a `:ro` bind).
pub fn make_readonly(fd: &OwnedFd) -> std::io::Result<()> {
    set_attr(
        fd,
        &MountAttr {
            attr_set: MOUNT_ATTR_RDONLY,
            attr_clr: 0,
            propagation: 0,
            userns_fd: 0,
        },
        true,
    )
}

/// Cover `path` with an idmapped view of itself: files owned by uid N on disk
/// appear owned by N inside `userns` (and by base+N to the machine).
pub fn idmap_in_place(path: &Path, userns: &OwnedFd) -> std::io::Result<()> {
    let fd = clone_tree(path, false)?;
    set_idmap(&fd, userns)?;
    attach(&fd, path)
}

/// Make a detached tree idmapped with the mapping of `userns`.
pub fn set_idmap(fd: &OwnedFd, userns: &OwnedFd) -> std::io::Result<()> {
    set_attr(
        fd,
        &MountAttr {
            attr_set: MOUNT_ATTR_IDMAP,
            attr_clr: 0,
            propagation: 0,
            userns_fd: userns.as_raw_fd() as u64,
        },
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_pid_of_a_process_in_the_machines_namespace_is_its_pid() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("sleep");
        let pid = child.id() as i32;
        assert_eq!(machine_pid(pid), Some(pid));
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(machine_pid(i32::MAX), None);
    }
}
