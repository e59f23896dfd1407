//! The per-container monitor: `dockhand __monitor CONTAINER_DIR ATTACHERS`.
//!
//! One small single-threaded process per running container, like containerd's shim
//! or conmon. It forks the container's PID 1 into a new pid namespace, holds its
//! stdio (pipes, or the master of a PTY opened on the container's own devpts),
//! appends its output to the json-file log, serves attach, exec and resize
//! requests on a unix socket, and records the exit status. It runs in a session of
//! its own, so the container outlives a daemon restart or a daemon killed with
//! SIGKILL. Exec'd processes are forked by the monitor too: its children land in
//! the container's pid namespace, so they die with the container's PID 1.
//!
//! Protocol on its socket: the client sends one JSON line (`AttachRequest`), then
//! (if it asked for stdin) raw stdin bytes. The monitor sends Docker-multiplexed
//! frames (stream 1 stdout, 2 stderr) and, last, a frame on stream `EXIT_STREAM`
//! whose payload is the `ExitStatus` JSON. A `resize` request changes a TTY's size
//! and closes. To the daemon it reports on its stdout, one `MonitorReport` JSON
//! line each: `ready` (attach now), then `started` or `failed`.

use crate::fsutil::write_json_atomic;
use crate::runtime::child;
use crate::runtime::spec::{ExecSpec, ExitStatus, MonitorReport, RuntimeSpec};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::Duration;

/// The stream id of the final frame carrying the exit status.
pub const EXIT_STREAM: u8 = 3;

/// First line a client sends on the monitor socket.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AttachRequest {
    #[serde(default)]
    pub stdin: bool,
    #[serde(default)]
    pub stdout: bool,
    #[serde(default)]
    pub stderr: bool,
    /// Start an exec'd process bound to this connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecSpec>,
    /// Resize the TTY (`[rows, cols]`) of the container or of `exec_id`, then close.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize: Option<[u16; 2]>,
    /// Send this signal to the process of exec `exec_id`, then close (a
    /// health probe past its timeout is killed, as moby kills it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec_id: Option<String>,
}

/// Entry point of `dockhand __monitor DIR ATTACHERS`. Never returns.
pub fn main(args: Vec<String>) -> ! {
    let code = match run(&args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("monitor: {e}");
            1
        }
    };
    std::process::exit(code)
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(std::io::Error::from)
}

/// Write a report line for the daemon; false when it could not be written
/// (the daemon no longer reads: EPIPE).
fn report(r: &MonitorReport) -> bool {
    let Ok(line) = serde_json::to_string(r) else {
        return false;
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").and_then(|()| out.flush()).is_ok()
}

/// Whether the daemon that launched us still reads our reports: a pipe whose
/// reader has gone polls as an error.
fn daemon_reads() -> bool {
    let out = std::io::stdout();
    let mut fds = [PollFd::new(out.as_fd(), PollFlags::POLLOUT)];
    match poll(&mut fds, PollTimeout::ZERO) {
        Ok(_) => !fds[0]
            .revents()
            .is_some_and(|r| r.intersects(PollFlags::POLLERR | PollFlags::POLLHUP)),
        Err(_) => true,
    }
}

/// Pass a file descriptor over a unix socket (SCM_RIGHTS).
fn send_fd(sock: RawFd, fd: RawFd) -> std::io::Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let fds = [fd];
    sendmsg::<()>(
        sock,
        &[IoSlice::new(b"t")],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )?;
    Ok(())
}

fn recv_fd(sock: RawFd) -> std::io::Result<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut byte = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel installed this fd for us; we own it now.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err(std::io::Error::other(
        "no terminal received from the container",
    ))
}

fn pidfd_open(pid: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just gave us this fd and nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn read_failure(text: &[u8]) -> (i64, String) {
    let Some(rest) = text.strip_prefix(b"E") else {
        return (125, "container init exited before it was ready".into());
    };
    let text = String::from_utf8_lossy(rest);
    match text.split_once('\n') {
        Some((code, msg)) => (code.trim().parse().unwrap_or(125), msg.to_string()),
        None => (125, text.into_owned()),
    }
}

/// What the forked child does before its `execve`.
enum ChildKind<'a> {
    Init(&'a RuntimeSpec, Option<&'a crate::runtime::sandbox::NsFds>),
    Exec {
        init_pid: i32,
        exec: &'a ExecSpec,
        sandbox: bool,
    },
}

/// A process the monitor started: its stdio ends, and a handshake in three steps
/// over `status`: `R` (ready, waiting for the go), then EOF (exec worked) or
/// `E<code>\n<message>`.
struct Spawned {
    pid: nix::unistd::Pid,
    out: OwnedFd,
    err: Option<OwnedFd>,
    stdin: Option<OwnedFd>,
    tty: bool,
    status: File,
    go: File,
}

/// Fork a process for `kind` with pipes or a PTY; returns once it is ready or failed.
fn spawn(
    kind: ChildKind,
    tty: bool,
    want_stdin: bool,
    size: Option<[u16; 2]>,
    cgroup_procs: &[std::path::PathBuf],
) -> Result<Spawned, (i64, String)> {
    let io = |e: std::io::Error| (125i64, e.to_string());
    let (status_r, status_w) = pipe().map_err(io)?;
    let (go_r, go_w) = pipe().map_err(io)?;
    let (out_r, out_w) = if tty {
        (None, None)
    } else {
        pipe().map(|(r, w)| (Some(r), Some(w))).map_err(io)?
    };
    let (err_r, err_w) = if tty {
        (None, None)
    } else {
        pipe().map(|(r, w)| (Some(r), Some(w))).map_err(io)?
    };
    let (in_r, in_w) = if want_stdin && !tty {
        pipe().map(|(r, w)| (Some(r), Some(w))).map_err(io)?
    } else {
        (None, None)
    };
    let (tty_parent, tty_child) = if tty {
        UnixStream::pair()
            .map(|(a, b)| (Some(a), Some(b)))
            .map_err(io)?
    } else {
        (None, None)
    };
    // SAFETY: the monitor is single-threaded, so the child may allocate and run
    // ordinary code before execve.
    let pid = match unsafe { nix::unistd::fork() }.map_err(|e| (125, e.to_string()))? {
        nix::unistd::ForkResult::Child => {
            drop((status_r, go_w, out_r, err_r, in_w, tty_parent));
            child_main(kind, status_w, go_r, out_w, err_w, in_r, tty_child, size)
        }
        nix::unistd::ForkResult::Parent { child } => child,
    };
    drop((status_w, go_r, out_w, err_w, in_r, tty_child));
    // Join the container's cgroups before the process runs anything of its own.
    // A cgroup that cannot be joined fails the start (as runc's does): the
    // process would run without its limits, and where a restarted daemon
    // removed the cgroup of a start it did not know of, outside its reach.
    for procs in cgroup_procs {
        if let Err(e) = std::fs::write(procs, pid.as_raw().to_string()) {
            kill_and_reap(pid);
            let what = shared::go::io_text(&e);
            return Err((125, format!("join cgroup {}: {what}", procs.display())));
        }
    }
    let mut status = File::from(status_r);
    let mut first = [0u8; 1];
    let n = status.read(&mut first).unwrap_or(0);
    if n == 0 || first[0] != b'R' {
        let mut rest = vec![first[0]];
        let _ = status.read_to_end(&mut rest);
        let _ = nix::sys::wait::waitpid(pid, None);
        return Err(read_failure(if n == 0 { b"" } else { &rest }));
    }
    let (out, err, stdin) = if let Some(sock) = tty_parent {
        let master = recv_fd(sock.as_raw_fd()).map_err(io)?;
        let input = master.try_clone().map_err(io)?;
        (master, None, Some(input))
    } else {
        (out_r.expect("pipe"), err_r, in_w)
    };
    Ok(Spawned {
        pid,
        out,
        err,
        stdin,
        tty,
        status,
        go: File::from(go_w),
    })
}

/// SIGKILL a child of ours that has not been let go, and reap it.
fn kill_and_reap(pid: nix::unistd::Pid) {
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(pid, None);
}

impl Spawned {
    /// Let it `execve`; `Err` with Docker's code and message if that failed.
    fn go(&mut self) -> Result<(), (i64, String)> {
        let _ = self.go.write_all(b"G");
        let mut rest = Vec::new();
        let _ = self.status.read_to_end(&mut rest);
        if rest.is_empty() {
            return Ok(());
        }
        let _ = nix::sys::wait::waitpid(self.pid, None);
        Err(read_failure(&rest))
    }
}

#[allow(clippy::too_many_arguments)]
fn child_main(
    kind: ChildKind,
    status: OwnedFd,
    go: OwnedFd,
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
    stdin: Option<OwnedFd>,
    tty_sock: Option<UnixStream>,
    size: Option<[u16; 2]>,
) -> ! {
    let mut status = File::from(status);
    let die = |status: &mut File, code: i64, msg: &str| -> ! {
        let _ = write!(status, "E{code}\n{msg}");
        // SAFETY: _exit ends the forked child without running the parent's hooks.
        unsafe { libc::_exit(code as i32) }
    };
    if let (Some(out), Some(err)) = (&out, &err) {
        let stdin = match stdin {
            Some(fd) => Ok(fd),
            None => File::open("/dev/null").map(OwnedFd::from),
        };
        let Ok(stdin) = stdin else {
            die(&mut status, 125, "open /dev/null")
        };
        for (fd, target) in [
            (stdin.as_raw_fd(), 0),
            (out.as_raw_fd(), 1),
            (err.as_raw_fd(), 2),
        ] {
            if nix::unistd::dup2(fd, target).is_err() {
                die(&mut status, 125, "dup2 stdio");
            }
        }
    }
    drop((out, err));
    let process = match &kind {
        ChildKind::Init(spec, ns) => {
            if let Err(e) = child::prepare_container(spec, *ns) {
                die(&mut status, e.code, &e.message);
            }
            let mut p = spec.process.clone();
            if spec.init {
                p.args
                    .splice(0..0, ["/sbin/docker-init".to_string(), "--".to_string()]);
            }
            p
        }
        ChildKind::Exec {
            init_pid,
            exec,
            sandbox,
        } => {
            if let Err(e) = child::join_container(*init_pid, *sandbox) {
                die(&mut status, e.code, &e.message);
            }
            exec.process.clone()
        }
    };
    if let Some(sock) = tty_sock {
        match child::open_tty(size) {
            Ok(master) => {
                if send_fd(sock.as_raw_fd(), master.as_raw_fd()).is_err() {
                    die(&mut status, 125, "pass the terminal to the monitor");
                }
            }
            Err(e) => die(&mut status, e.code, &e.message),
        }
    }
    let (prog, argv, envp) = match child::prepare_process(&process) {
        Ok(x) => x,
        Err(e) => die(&mut status, e.code, &e.message),
    };
    if matches!(kind, ChildKind::Init(..)) {
        // A container without its monitor is unmanaged: die with it. Set after the
        // credential change in prepare_process(), which would clear it.
        // SAFETY: prctl with integer arguments.
        unsafe {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            )
        };
    }
    let _ = status.write_all(b"R");
    let mut go = File::from(go);
    let mut b = [0u8; 1];
    if !matches!(go.read(&mut b), Ok(1)) {
        // SAFETY: see above.
        unsafe { libc::_exit(125) }
    }
    drop(go);
    let e = nix::unistd::execve(&prog, &argv, &envp).unwrap_err();
    let arg0 = process.args.first().cloned().unwrap_or_default();
    let (code, what) = match e {
        nix::errno::Errno::ENOENT => (127, "no such file or directory"),
        nix::errno::Errno::EACCES | nix::errno::Errno::ENOEXEC => (126, "permission denied"),
        _ => (126, e.desc()),
    };
    die(&mut status, code, &format!("exec: \"{arg0}\": {what}"))
}

fn run(args: &[String]) -> std::io::Result<()> {
    let dir = Path::new(
        args.first()
            .ok_or_else(|| std::io::Error::other("missing dir"))?,
    );
    let attachers: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(0);
    let spec: RuntimeSpec = crate::fsutil::read_json(&dir.join("spec.json"))
        .map_err(std::io::Error::other)?
        .ok_or_else(|| std::io::Error::other("spec.json missing"))?;
    // A session of our own: signals aimed at the daemon's group do not reach us.
    let _ = nix::unistd::setsid();
    let _ = std::fs::remove_file(&spec.socket);
    let listener = crate::unix_socket::bind(&spec.socket)?;
    let own = OwnSocket::new(&spec.socket);
    // Our children (the container's PID 1, later exec'd processes) are born into
    // the container's new pid namespace (or the host's, with `--pid host`).
    let vhost_init = spec.sandbox.as_ref().and_then(|s| s.init_pid);
    if let Some(p) = vhost_init {
        if let Err(e) = crate::runtime::sandbox::enter_vhost_pid_ns(p) {
            report(&MonitorReport::Failed {
                code: 125,
                message: format!("virtual host pid namespace: {e}"),
            });
            own.remove();
            return Ok(());
        }
    }
    // The namespace helper is forked before the pid namespace is unshared: the
    // first child born into a new one is its init.
    let ns = if spec.sandbox.is_some() {
        match crate::runtime::sandbox::prepare(&spec) {
            Ok(ns) => Some(ns),
            Err(e) => {
                report(&MonitorReport::Failed {
                    code: 125,
                    message: format!("virtual host namespaces: {e}"),
                });
                own.remove();
                return Ok(());
            }
        }
    } else {
        None
    };
    if !spec.pid_host {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWPID)?;
    }
    let tty = spec.process.tty;
    let mut init = match spawn(
        ChildKind::Init(&spec, ns.as_ref()),
        tty,
        spec.open_stdin,
        spec.console_size,
        &spec.cgroup_procs,
    ) {
        Ok(s) => s,
        Err((code, message)) => {
            report(&MonitorReport::Failed { code, message });
            own.remove();
            return Ok(());
        }
    };
    drop(ns);
    // Inside a virtual host our pids are its own; the daemon wants the machine's.
    let (pid, vhost_pid, monitor) = match vhost_init {
        Some(_) => (
            crate::runtime::sandbox::machine_pid(init.pid.as_raw()).unwrap_or(0),
            Some(init.pid.as_raw()),
            crate::runtime::sandbox::machine_pid(std::process::id() as i32),
        ),
        None => (init.pid.as_raw(), None, None),
    };
    report(&MonitorReport::Ready {
        pid,
        vhost_pid,
        monitor,
    });
    let mut clients: Vec<Client> = Vec::new();
    for _ in 0..attachers {
        let ready = {
            let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
            poll(&mut fds, PollTimeout::from(5000u16))? > 0
        };
        if !ready {
            break;
        }
        if let Ok((s, _)) = listener.accept() {
            if let Some(c) = Client::handshake(s) {
                clients.push(c);
            }
        }
    }
    // A daemon that ended before the start was done never records the
    // container as running, and the one started after it does not know of
    // this start: the container is given up rather than left running unseen.
    // Checked before the go, so that its command does not run at all, and
    // by the report after it, for a daemon that ends in between.
    if !daemon_reads() {
        kill_and_reap(init.pid);
        own.remove();
        return Ok(());
    }
    if let Err((code, message)) = init.go() {
        report(&MonitorReport::Failed { code, message });
        own.remove();
        return Ok(());
    }
    if !report(&MonitorReport::Started) {
        kill_and_reap(init.pid);
        own.remove();
        return Ok(());
    }
    // The daemon reads reports until EOF: hand our stdout to /dev/null.
    if let Ok(null) = File::open("/dev/null") {
        let _ = nix::unistd::dup2(null.as_raw_fd(), 1);
    }
    let main = Session::new(None, init, spec.stdin_once)?;
    let mut m = Monitor {
        spec: &spec,
        log: Log::open(&spec)?,
        sessions: vec![main],
        clients: Vec::new(),
    };
    for c in clients {
        m.add_client(c);
    }
    let exit = m.event_loop(&listener)?;
    write_json_atomic(&spec.exit_path, &exit).map_err(std::io::Error::other)?;
    let payload = serde_json::to_vec(&exit).unwrap_or_default();
    for c in &mut m.clients {
        let _ = c
            .stream
            .write_all(&shared::mux::frame(EXIT_STREAM, &payload));
        let _ = c.stream.shutdown(std::net::Shutdown::Both);
    }
    own.remove();
    Ok(())
}

/// The monitor's socket, removed at its end only while the path is still
/// the one it bound: after a restart of the container, a new monitor has bound
/// a socket of its own at the same path, which the old one, finishing its
/// exit, must not take away (the daemon could no longer reach the new one:
/// `exec` and `attach` failed on a running container).
struct OwnSocket {
    path: std::path::PathBuf,
    id: Option<(u64, u64)>,
}

impl OwnSocket {
    fn new(path: &Path) -> OwnSocket {
        use std::os::unix::fs::MetadataExt;
        let id = std::fs::symlink_metadata(path)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        OwnSocket {
            path: path.to_path_buf(),
            id,
        }
    }

    fn remove(&self) {
        use std::os::unix::fs::MetadataExt;
        let now = std::fs::symlink_metadata(&self.path)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        if now.is_some() && now == self.id {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

mod serve;

use serve::*;

#[cfg(test)]
mod own_socket_tests {
    use super::*;

    #[test]
    fn an_old_monitor_leaves_a_new_monitors_socket_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sock");
        let _old_listener = UnixListener::bind(&path).unwrap();
        let old = OwnSocket::new(&path);
        // The container restarts: a new monitor replaces the path with its own.
        std::fs::remove_file(&path).unwrap();
        let _new_listener = UnixListener::bind(&path).unwrap();
        let new = OwnSocket::new(&path);
        old.remove();
        assert!(path.exists(), "the new monitor's socket stays");
        new.remove();
        assert!(!path.exists(), "a monitor removes its own");
        new.remove();
    }
}
