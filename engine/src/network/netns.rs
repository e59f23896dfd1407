//! Running a piece of code inside another network namespace.
//!
//! `setns(CLONE_NEWNET)` changes the namespace of the calling *thread* only, and a
//! thread that did it must never go back to a pool: a tokio worker (or a
//! `spawn_blocking` thread) would keep serving other tasks inside the container's
//! network. So every trip runs on a fresh `std::thread` that exits afterwards.
//! Sockets made there stay in that namespace for their whole life, whichever thread
//! uses them later: that is how the embedded DNS server and the in-container netlink
//! socket work.

use std::fs::File;
use std::io;
use std::path::PathBuf;

/// The path of the network namespace of `pid`.
pub fn netns_path(pid: u32) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/ns/net"))
}

/// Run `f` on a new thread inside the network namespace of `pid`, blocking the
/// caller until it is done. Use [`run_async`] from async code.
pub fn run<T, F>(pid: u32, f: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> io::Result<T> + Send + 'static,
{
    let ns = File::open(netns_path(pid))?;
    std::thread::Builder::new()
        .name(format!("netns-{pid}"))
        .spawn(move || {
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(io::Error::from)?;
            f()
        })?
        .join()
        .map_err(|_| io::Error::other("netns thread panicked"))?
}

/// Like [`run`], but awaits the thread instead of blocking a runtime worker.
pub async fn run_async<T, F>(pid: u32, f: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> io::Result<T> + Send + 'static,
{
    let ns = File::open(netns_path(pid))?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(format!("netns-{pid}"))
        .spawn(move || {
            let r = nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(io::Error::from)
                .and_then(|_| f());
            let _ = tx.send(r);
        })?;
    rx.await
        .map_err(|_| io::Error::other("netns thread panicked"))?
}

/// Bring `lo` up in the current thread's namespace (an ioctl, no netlink needed).
pub fn loopback_up() -> io::Result<()> {
    // SAFETY: plain socket/ioctl calls on a zeroed ifreq whose name is a NUL-terminated
    // "lo"; the fd is closed before returning.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        req.ifr_name[0] = b'l' as libc::c_char;
        req.ifr_name[1] = b'o' as libc::c_char;
        let mut r = libc::ioctl(fd, libc::SIOCGIFFLAGS as _, &mut req);
        if r == 0 {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            r = libc::ioctl(fd, libc::SIOCSIFFLAGS as _, &req);
        }
        let err = io::Error::last_os_error();
        libc::close(fd);
        if r != 0 {
            return Err(err);
        }
    }
    Ok(())
}
