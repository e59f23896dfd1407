//! Running a piece of code inside another network namespace.
//!
//! `setns(CLONE_NEWNET)` changes the namespace of the calling *thread* only, and a
//! thread that did it must never go back to a pool: a tokio worker (or a
//! `spawn_blocking` thread) would keep serving other tasks inside the container's
//! network. So every trip runs on a fresh `std::thread` that exits afterwards.
//! Sockets made there stay in that namespace for their whole life, whichever thread
//! uses them later: that is how the embedded DNS server and the in-container netlink
//! socket work.
//!
//! [`NsHandle`] is the same idea for a namespace that a whole manager lives in (a
//! virtual host's): one dedicated thread enters it once and then runs short jobs
//! for the manager (make a socket, open a netlink connection, write a sysctl);
//! commands (`iptables`) enter it in the forked child before `exec`.

use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};

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

type Job = Box<dyn FnOnce() + Send>;

/// The network namespace a manager's host-side work happens in: the daemon's own
/// (`NsHandle::own()`, the default), or the one an nsfs path names
/// (`/proc/<pid>/ns/net`, a bind-mounted `/run/netns/x`).
///
/// For another namespace a worker thread enters it once and serves jobs until the
/// last clone of the handle is dropped; it is never a tokio thread. Sockets made by
/// a job stay in that namespace whichever thread uses them afterwards.
#[derive(Clone, Default)]
pub struct NsHandle {
    inner: Option<Arc<Worker>>,
}

struct Worker {
    path: PathBuf,
    /// Kept open for `setns` in the children of [`NsHandle::command`].
    file: File,
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for NsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            None => write!(f, "NsHandle(own)"),
            Some(w) => write!(f, "NsHandle({})", w.path.display()),
        }
    }
}

impl NsHandle {
    /// The daemon's own network namespace: jobs run in place.
    pub fn own() -> NsHandle {
        NsHandle { inner: None }
    }

    /// `None`: the daemon's own; `Some(path)`: [`NsHandle::open`].
    pub fn from_config(path: Option<&Path>) -> io::Result<NsHandle> {
        match path {
            None => Ok(NsHandle::own()),
            Some(p) => NsHandle::open(p),
        }
    }

    /// Enter the namespace at `path` with a new worker thread. Fails (with the
    /// path) when it is not a network namespace.
    pub fn open(path: &Path) -> io::Result<NsHandle> {
        let with_path = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
        let file = File::open(path).map_err(with_path)?;
        let for_thread = file.try_clone().map_err(with_path)?;
        let (jobs, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::sync_channel::<io::Result<()>>(1);
        std::thread::Builder::new()
            .name("netns-worker".into())
            .spawn(move || {
                let entered = nix::sched::setns(&for_thread, nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(io::Error::from);
                drop(for_thread);
                let ok = entered.is_ok();
                let _ = ready_tx.send(entered);
                if !ok {
                    return;
                }
                while let Ok(job) = rx.recv() {
                    // A panicking job loses its answer (the caller sees an error),
                    // not the worker.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            })?;
        ready_rx
            .recv()
            .map_err(|_| io::Error::other("netns worker did not start"))?
            .map_err(with_path)?;
        Ok(NsHandle {
            inner: Some(Arc::new(Worker {
                path: path.to_path_buf(),
                file,
                jobs,
            })),
        })
    }

    /// Whether this is the daemon's own namespace.
    pub fn is_own(&self) -> bool {
        self.inner.is_none()
    }

    /// The path it was opened from (None for the daemon's own).
    pub fn path(&self) -> Option<&Path> {
        self.inner.as_ref().map(|w| w.path.as_path())
    }

    /// Run a short, non-blocking job inside the namespace and return its result.
    pub async fn run<T, F>(&self, f: F) -> io::Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> io::Result<T> + Send + 'static,
    {
        let Some(w) = &self.inner else {
            return f();
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        w.jobs
            .send(Box::new(move || {
                let _ = tx.send(f());
            }))
            .map_err(|_| io::Error::other("netns worker stopped"))?;
        rx.await
            .map_err(|_| io::Error::other("netns job panicked"))?
    }

    /// Run a long async job (a download, a registry session) inside the
    /// namespace on a thread of its own, named `name`, with a runtime of its
    /// own, so the worker stays free for short jobs. `work` makes the future on
    /// that thread: what it opens (a client's sockets) belongs to the namespace.
    pub async fn run_task<T, F, Fut>(&self, name: &str, work: F) -> io::Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = T> + 'static,
    {
        let ns = match &self.inner {
            Some(w) => Some(w.file.try_clone()?),
            None => None,
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let res = (|| {
                    if let Some(f) = &ns {
                        nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET)?;
                    }
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    Ok(rt.block_on(work()))
                })();
                let _ = tx.send(res);
            })?;
        rx.await
            .map_err(|_| io::Error::other(format!("the {name} thread ended early")))?
    }

    /// [`NsHandle::run`] for synchronous callers (never from a runtime worker that
    /// other tasks are waiting on for long).
    pub fn run_blocking<T, F>(&self, f: F) -> io::Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> io::Result<T> + Send + 'static,
    {
        let Some(w) = &self.inner else {
            return f();
        };
        let (tx, rx) = mpsc::sync_channel(1);
        w.jobs
            .send(Box::new(move || {
                let _ = tx.send(f());
            }))
            .map_err(|_| io::Error::other("netns worker stopped"))?;
        rx.recv()
            .map_err(|_| io::Error::other("netns job panicked"))?
    }

    /// A command whose process runs inside the namespace: the forked child calls
    /// `setns` before `exec`, so the daemon's own threads never move.
    pub fn command(&self, program: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(program);
        if let Some(w) = &self.inner {
            // The closure owns a clone of the worker, so the fd stays open as long
            // as the command exists.
            let w = w.clone();
            // SAFETY: the closure runs in the child between fork and exec, where only
            // async-signal-safe calls are allowed: it reads an integer and calls
            // setns(2), and allocates nothing.
            unsafe {
                cmd.pre_exec(move || {
                    nix::sched::setns(&w.file, nix::sched::CloneFlags::CLONE_NEWNET)
                        .map_err(io::Error::from)
                });
            }
        }
        cmd
    }

    /// Run `program args` inside the namespace with `input` on its stdin; its
    /// stdout is dropped, its stderr kept. `Err` is a failure to run it.
    pub async fn run_with_input(
        &self,
        program: &str,
        args: &[&str],
        input: &[u8],
    ) -> io::Result<std::process::Output> {
        use tokio::io::AsyncWriteExt;
        let mut child = self
            .command(program)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input).await?;
        }
        child.wait_with_output().await
    }

    /// Write a sysctl under /proc/sys/net (per namespace: resolved by the opening
    /// thread's namespace) unless it already has `value`. Returns whether it changed.
    pub async fn set_sysctl(&self, key: &str, value: &str) -> io::Result<bool> {
        let path = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
        let value = value.to_string();
        self.run(move || {
            if std::fs::read_to_string(&path).is_ok_and(|v| v.trim() == value) {
                return Ok(false);
            }
            std::fs::write(&path, &value)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            Ok(true)
        })
        .await
    }

    /// A TCP listener on `addr` inside the namespace. An IPv6 address takes
    /// IPv6 only (as Docker binds `[::]` beside `0.0.0.0`).
    pub async fn tcp_listen(&self, addr: SocketAddr) -> io::Result<tokio::net::TcpListener> {
        let l = if self.is_own() {
            bind_socket(addr, true)?
        } else {
            self.run(move || bind_socket(addr, true)).await?
        };
        tokio::net::TcpListener::from_std(std::net::TcpListener::from(l))
    }

    /// A UDP socket bound to `addr` inside the namespace (IPv6 only for an
    /// IPv6 address).
    pub async fn udp_bind(&self, addr: SocketAddr) -> io::Result<tokio::net::UdpSocket> {
        let s = if self.is_own() {
            bind_socket(addr, false)?
        } else {
            self.run(move || bind_socket(addr, false)).await?
        };
        tokio::net::UdpSocket::from_std(std::net::UdpSocket::from(s))
    }

    /// A TCP connection to `addr` from inside the namespace: the socket is made
    /// there, the (non-blocking) connect runs on the runtime.
    pub async fn tcp_connect(&self, addr: SocketAddr) -> io::Result<tokio::net::TcpStream> {
        if self.is_own() {
            return tokio::net::TcpStream::connect(addr).await;
        }
        let v4 = addr.is_ipv4();
        let fd = self
            .run(move || {
                use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
                let family = if v4 {
                    AddressFamily::Inet
                } else {
                    AddressFamily::Inet6
                };
                socket(
                    family,
                    SockType::Stream,
                    SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
                    None,
                )
                .map_err(io::Error::from)
            })
            .await?;
        tokio::net::TcpSocket::from_std_stream(std::net::TcpStream::from(fd))
            .connect(addr)
            .await
    }
}

/// A non-blocking socket bound to `addr`: a listening TCP socket (with
/// `SO_REUSEADDR`, as std's listeners) or a UDP one; IPv6 addresses with
/// `IPV6_V6ONLY`, so `[::]:P` and `0.0.0.0:P` are separate bindings.
fn bind_socket(addr: SocketAddr, stream: bool) -> io::Result<std::os::fd::OwnedFd> {
    use socket2::{Domain, Socket, Type};
    let kind = if stream { Type::STREAM } else { Type::DGRAM };
    let sock = Socket::new(Domain::for_address(addr), kind, None)?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    if stream {
        sock.set_reuse_address(true)?;
    }
    sock.bind(&addr.into())?;
    if stream {
        sock.listen(1024)?;
    }
    sock.set_nonblocking(true)?;
    Ok(sock.into())
}
