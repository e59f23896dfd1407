//! The per-container monitor: `dockhand __monitor CONTAINER_DIR ATTACHERS`.
//!
//! One small single-threaded process per running container, like containerd's shim
//! or conmon. It forks the container's PID 1 into a new pid namespace, holds its
//! stdio, appends its output to the json-file log, serves attach connections on a
//! unix socket, and records the exit status. It runs in a session of its own, so the
//! container outlives a daemon restart or a daemon killed with SIGKILL.
//!
//! Protocol on its socket: the client sends one JSON line (`AttachRequest`), then
//! (if it asked for stdin) raw stdin bytes. The monitor sends Docker-multiplexed
//! frames (stream 1 stdout, 2 stderr) and, last, a frame on stream `EXIT_STREAM`
//! whose payload is the `ExitStatus` JSON. To the daemon it reports on its stdout,
//! one `MonitorReport` JSON line each: `ready` (attach now), then `started` or
//! `failed`.

use crate::fsutil::write_json_atomic;
use crate::runtime::child;
use crate::runtime::spec::{ExitStatus, MonitorReport, RuntimeSpec};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
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

fn report(r: &MonitorReport) {
    if let Ok(line) = serde_json::to_string(r) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
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

    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (status_r, status_w) = pipe()?;
    let (go_r, go_w) = pipe()?;
    let (stdin_r, stdin_w) = if spec.open_stdin {
        let (r, w) = pipe()?;
        (Some(r), Some(w))
    } else {
        (None, None)
    };
    let _ = std::fs::remove_file(&spec.socket);
    let listener = UnixListener::bind(&spec.socket)?;

    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWPID)?;
    // SAFETY: this process is single-threaded (the monitor never starts threads), so
    // the child may allocate and run ordinary code before execve.
    let pid = match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Child => {
            container_init(&spec, out_w, err_w, stdin_r, status_w, go_r);
        }
        nix::unistd::ForkResult::Parent { child } => child,
    };
    drop((out_w, err_w, status_w, go_r, stdin_r));
    let pidfd = pidfd_open(pid.as_raw())?;

    let mut status = File::from(status_r);
    let mut first = [0u8; 1];
    let n = status.read(&mut first)?;
    if n == 0 || first[0] != b'R' {
        let code_msg = read_failure(&mut status, n, first[0]);
        let _ = nix::sys::wait::waitpid(pid, None);
        report(&MonitorReport::Failed {
            code: code_msg.0,
            message: code_msg.1,
        });
        let _ = std::fs::remove_file(&spec.socket);
        return Ok(());
    }
    report(&MonitorReport::Ready { pid: pid.as_raw() });

    let mut clients: Vec<Client> = Vec::new();
    listener.set_nonblocking(false)?;
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
    File::from(go_w).write_all(b"G")?;
    let mut rest = Vec::new();
    status.read_to_end(&mut rest)?;
    if !rest.is_empty() {
        let (code, message) = read_failure(&mut &rest[1..], 1, rest[0]);
        let _ = nix::sys::wait::waitpid(pid, None);
        report(&MonitorReport::Failed { code, message });
        let _ = std::fs::remove_file(&spec.socket);
        return Ok(());
    }
    report(&MonitorReport::Started);
    // The daemon reads reports until EOF: hand our stdout to /dev/null.
    if let Ok(null) = File::open("/dev/null") {
        let _ = nix::unistd::dup2(null.as_raw_fd(), 1);
    }

    let mut m = Monitor {
        spec: &spec,
        log: OpenOptions::new()
            .create(true)
            .append(true)
            .open(&spec.log_path)?,
        partial: [Vec::new(), Vec::new()],
        clients,
        stdin: stdin_w.map(File::from),
    };
    let exit = m.event_loop(&listener, File::from(out_r), File::from(err_r), &pidfd, pid)?;
    write_json_atomic(&spec.exit_path, &exit).map_err(std::io::Error::other)?;
    let payload = serde_json::to_vec(&exit).unwrap_or_default();
    for c in &mut m.clients {
        let _ = c
            .stream
            .write_all(&shared::mux::frame(EXIT_STREAM, &payload));
        let _ = c.stream.shutdown(std::net::Shutdown::Both);
    }
    // Late clients that connected after the end still learn the status.
    let _ = std::fs::remove_file(&spec.socket);
    Ok(())
}

fn read_failure(r: &mut dyn Read, n: usize, first: u8) -> (i64, String) {
    if n == 0 || first != b'E' {
        return (125, "container init exited before it was ready".into());
    }
    let mut text = String::new();
    let _ = r.read_to_string(&mut text);
    match text.split_once('\n') {
        Some((code, msg)) => (code.trim().parse().unwrap_or(125), msg.to_string()),
        None => (125, text),
    }
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

/// The forked child: becomes the container's PID 1. Never returns.
fn container_init(
    spec: &RuntimeSpec,
    out: OwnedFd,
    err: OwnedFd,
    stdin: Option<OwnedFd>,
    status: OwnedFd,
    go: OwnedFd,
) -> ! {
    let mut status = File::from(status);
    let die = |status: &mut File, code: i64, msg: &str| -> ! {
        let _ = write!(status, "E{code}\n{msg}");
        // SAFETY: _exit ends the process without running the parent's atexit hooks.
        unsafe { libc::_exit(code as i32) }
    };
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
    drop((stdin, out, err));
    let (prog, argv, envp) = match child::prepare(spec) {
        Ok(x) => x,
        Err(e) => die(&mut status, e.code, &e.message),
    };
    // A container without its monitor is unmanaged: die with it. Set after the
    // credential change in prepare(), which would clear it.
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
    let _ = status.write_all(b"R");
    let mut go = File::from(go);
    let mut b = [0u8; 1];
    if !matches!(go.read(&mut b), Ok(1)) {
        // SAFETY: see above.
        unsafe { libc::_exit(125) }
    }
    drop(go);
    let e = nix::unistd::execve(&prog, &argv, &envp).unwrap_err();
    let arg0 = spec.args.first().cloned().unwrap_or_default();
    let (code, what) = match e {
        nix::errno::Errno::ENOENT => (127, "no such file or directory"),
        nix::errno::Errno::EACCES | nix::errno::Errno::ENOEXEC => (126, "permission denied"),
        _ => (126, e.desc()),
    };
    die(&mut status, code, &format!("exec: \"{arg0}\": {what}"))
}

struct Client {
    stream: UnixStream,
    req: AttachRequest,
    /// Still reading stdin from this client.
    reading: bool,
}

impl Client {
    fn handshake(stream: UnixStream) -> Option<Client> {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
        // Read the request line byte by byte: anything after it is stdin.
        let mut line = Vec::new();
        let mut r = BufReader::with_capacity(1, &stream);
        r.read_until(b'\n', &mut line).ok()?;
        let req: AttachRequest = serde_json::from_slice(&line).ok()?;
        let _ = stream.set_read_timeout(None);
        Some(Client {
            reading: req.stdin,
            stream,
            req,
        })
    }
}

struct Monitor<'a> {
    spec: &'a RuntimeSpec,
    log: File,
    partial: [Vec<u8>; 2],
    clients: Vec<Client>,
    stdin: Option<File>,
}

impl Monitor<'_> {
    fn event_loop(
        &mut self,
        listener: &UnixListener,
        mut out: File,
        mut err: File,
        pidfd: &OwnedFd,
        pid: nix::unistd::Pid,
    ) -> std::io::Result<ExitStatus> {
        let mut open = [true, true];
        let mut exited: Option<i64> = None;
        let mut buf = vec![0u8; 32 * 1024];
        let mut pending_stdin: VecDeque<u8> = VecDeque::new();
        loop {
            if exited.is_some() && !open[0] && !open[1] {
                break;
            }
            // Poll set: [out, err, listener, pidfd, clients reading stdin...]
            let (ready, client_ready) = {
                let mut fds = vec![
                    PollFd::new(
                        out.as_fd(),
                        if open[0] {
                            PollFlags::POLLIN
                        } else {
                            PollFlags::empty()
                        },
                    ),
                    PollFd::new(
                        err.as_fd(),
                        if open[1] {
                            PollFlags::POLLIN
                        } else {
                            PollFlags::empty()
                        },
                    ),
                    PollFd::new(listener.as_fd(), PollFlags::POLLIN),
                    PollFd::new(
                        pidfd.as_fd(),
                        if exited.is_none() {
                            PollFlags::POLLIN
                        } else {
                            PollFlags::empty()
                        },
                    ),
                ];
                let idx: Vec<usize> = (0..self.clients.len())
                    .filter(|i| self.clients[*i].reading)
                    .collect();
                for i in &idx {
                    fds.push(PollFd::new(
                        self.clients[*i].stream.as_fd(),
                        PollFlags::POLLIN,
                    ));
                }
                // After the exit, the pipes close when the last process of the pid
                // namespace is gone; give stragglers a bounded time.
                let timeout = if exited.is_some() {
                    PollTimeout::from(2000u16)
                } else {
                    PollTimeout::NONE
                };
                let n = poll(&mut fds, timeout).or_else(|e| {
                    if e == nix::errno::Errno::EINTR {
                        Ok(0)
                    } else {
                        Err(e)
                    }
                })?;
                if n == 0 && exited.is_some() {
                    open = [false, false];
                    continue;
                }
                let r: Vec<bool> = fds
                    .iter()
                    .map(|f| f.revents().is_some_and(|e| !e.is_empty()))
                    .collect();
                let cr: Vec<usize> = idx
                    .iter()
                    .enumerate()
                    .filter(|(k, _)| r[4 + k])
                    .map(|(_, i)| *i)
                    .collect();
                (r, cr)
            };
            for (k, file) in [(0usize, &mut out), (1usize, &mut err)] {
                if open[k] && ready[k] {
                    match file.read(&mut buf) {
                        Ok(0) | Err(_) => {
                            open[k] = false;
                            self.flush_partial(k);
                        }
                        Ok(n) => self.output(k, &buf[..n]),
                    }
                }
            }
            if ready[2] {
                if let Ok((s, _)) = listener.accept() {
                    if let Some(c) = Client::handshake(s) {
                        self.clients.push(c);
                    }
                }
            }
            if ready[3] && exited.is_none() {
                let code = match nix::sys::wait::waitpid(pid, None) {
                    Ok(nix::sys::wait::WaitStatus::Exited(_, c)) => c as i64,
                    Ok(nix::sys::wait::WaitStatus::Signaled(_, s, _)) => 128 + s as i64,
                    _ => 255,
                };
                exited = Some(code);
                self.stdin = None;
            }
            for i in client_ready {
                let c = &mut self.clients[i];
                match c.stream.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        c.reading = false;
                        // Stdin EOF reaches the process (StdinOnce semantics).
                        self.stdin = None;
                    }
                    Ok(n) => pending_stdin.extend(&buf[..n]),
                }
            }
            if !pending_stdin.is_empty() {
                if let Some(w) = &mut self.stdin {
                    let data: Vec<u8> = pending_stdin.drain(..).collect();
                    if w.write_all(&data).is_err() {
                        self.stdin = None;
                    }
                } else {
                    pending_stdin.clear();
                }
            }
        }
        Ok(ExitStatus {
            code: exited.unwrap_or(255),
            oom_killed: false,
            finished_at: crate::time::now_rfc3339(),
        })
    }

    /// Output from the container: to attached clients at once, to the log by line.
    fn output(&mut self, k: usize, data: &[u8]) {
        let stream = if k == 0 {
            shared::mux::STDOUT
        } else {
            shared::mux::STDERR
        };
        let frame = shared::mux::frame(stream, data);
        self.clients.retain_mut(|c| {
            let wants = if k == 0 { c.req.stdout } else { c.req.stderr };
            !wants || c.stream.write_all(&frame).is_ok()
        });
        self.partial[k].extend_from_slice(data);
        while let Some(pos) = self.partial[k].iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial[k].drain(..=pos).collect();
            self.log_line(k, &line);
        }
        if self.partial[k].len() >= 16 * 1024 {
            self.flush_partial(k);
        }
    }

    fn flush_partial(&mut self, k: usize) {
        if !self.partial[k].is_empty() {
            let line = std::mem::take(&mut self.partial[k]);
            self.log_line(k, &line);
        }
    }

    fn log_line(&mut self, k: usize, line: &[u8]) {
        let entry = crate::logs::LogEntry {
            log: String::from_utf8_lossy(line).into_owned(),
            stream: if k == 0 {
                "stdout".into()
            } else {
                "stderr".into()
            },
            time: crate::time::now_rfc3339(),
        };
        if let Ok(mut s) = serde_json::to_vec(&entry) {
            s.push(b'\n');
            let _ = self.log.write_all(&s);
        }
        let _ = self.spec;
    }
}
